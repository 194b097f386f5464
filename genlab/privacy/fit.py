"""Differentially private fitting of table families: the part every DP family shares.

A family that can fit privately mixes in `PrivateFit` and defines `_fit_private(enc,
conditions, budget)`. `fit(data, epsilon=1.0, delta=None, bounds=None, categories=None)`
then releases the codec's metadata privately (`genlab.privacy.codec`), gives the family
the rest of the budget, and records what was spent in `privacy_`: in the model file (the
fitted meta's `_dp`) and in every sample's provenance.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np

from genlab.data.readers import read_table
from genlab.errors import ParameterError, UnsupportedOperation
from genlab.models import registry
from genlab.privacy.budget import Budget, check_budget

__all__ = ["CODEC_SHARE", "PrivateFit", "check_record", "dp_families", "refuse_dp"]

_SGD_KEYS = ("max_grad_norm", "noise_multiplier", "steps", "sample_rate")
CODEC_SHARE = 0.2  # of rho, for ranges, category sets and missing rates
_RECORD_KEYS = {"epsilon": float, "epsilon_spent": float, "delta": float, "rho": float,
                "accountant": str, "mechanism": str, "budget_split": dict, "declared": list,
                "estimated": list, "bounds": dict, "categories": dict,
                "max_grad_norm": float, "noise_multiplier": float, "steps": int,
                "sample_rate": float}


def dp_families(modality: str = "table") -> list[str]:
    """Names of the families of `modality` that can fit with differential privacy."""
    return sorted(n for n, c in registry.families(modality).items()
                  if issubclass(c, PrivateFit))


def refuse_dp(model: Any) -> None:
    """One-line error: this family cannot fit with differential privacy."""
    can = dp_families(model.modality)
    raise UnsupportedOperation(
        f"{type(model).__name__} ({model.family}) cannot fit with differential privacy "
        f"(epsilon=); {model.modality} families that can: {', '.join(can) or 'none'}"
        + ("" if model.modality == "table" else f"; table families: {', '.join(dp_families())}"))


def check_record(record: Any) -> dict[str, Any]:
    """A DP record read from a model file, checked key by key (ValueError if not)."""
    if not isinstance(record, dict) or set(record) - set(_RECORD_KEYS):
        raise ValueError("the differential-privacy record (_dp) is malformed")
    for key, kind in _RECORD_KEYS.items():
        if key in record and not isinstance(record[key], kind):
            raise ValueError(f"the differential-privacy record's {key} is not a {kind.__name__}")
    for key in ("epsilon", "epsilon_spent", "delta"):
        value = record.get(key)
        if not isinstance(value, float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"the differential-privacy record's {key} is not a number >= 0")
    if not 0 < record["delta"] < 1 or record["epsilon"] <= 0:
        raise ValueError("the differential-privacy record's epsilon or delta is out of range")
    return record


class PrivateFit:
    """Mixin of table families with a differentially private fit (see the module doc)."""

    dp_mechanism: ClassVar[str] = ""
    privacy_: dict[str, Any] | None = None

    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             kinds: dict[str, str] | None = None, constraints: Any = None,
             epsilon: float | None = None, delta: float | None = None,
             bounds: dict[str, Any] | None = None,
             categories: dict[str, list[Any]] | None = None) -> tuple[int, str]:
        self.privacy_ = None
        if epsilon is None:
            if bounds is not None or categories is not None or delta is not None:
                raise ParameterError("bounds=, categories= and delta= apply to a "
                                     "differentially private fit; give epsilon= too")
            return super()._fit(data, conditions, rng, kinds=kinds,  # type: ignore[misc]
                                constraints=constraints)
        if constraints:
            raise ParameterError("constraints cannot be combined with epsilon= yet; fit "
                                 "without one of them")
        from genlab.privacy.codec import private_codec

        df = read_table(data)
        eps, dlt = check_budget(epsilon, delta, len(df))
        budget = Budget(eps, dlt, rng)
        codec, enc, declared, estimated = private_codec(
            df, kinds, bounds, categories, budget, budget.share(CODEC_SHARE))
        self.schema_ = codec
        self.constraints_ = None
        self.text_ = None
        self.missing_rate_ = np.array([s.missing_rate for s in codec.numeric])
        cond_idx = [codec.categorical_index(name) for name in conditions]
        extra = self._fit_private(enc, cond_idx, budget, budget.share(1 - CODEC_SHARE))
        record = budget.record(self.dp_mechanism, declared, estimated)
        record.update(extra or {})  # DP-SGD: its accountant's figures (genlab.privacy.dpsgd)
        record["bounds"] = {k: [_json_bound(b) for b in v] for k, v in (bounds or {}).items()}
        record["categories"] = {k: [str(v) for v in vs] for k, vs in (categories or {}).items()}
        self.privacy_ = record
        return len(df), _private_fingerprint(rng)

    def _fit_private(self, enc: Any, conditions: list[int], budget: Budget, rho: float
                     ) -> dict[str, Any] | None:
        raise NotImplementedError

    @property
    def privacy_summary_(self) -> str | None:
        """One line for `genlab fit` and cards: epsilon, delta, and what was declared."""
        r = self.privacy_
        if not r:
            return None
        dec = ", ".join(r["declared"]) or "none"
        est = ", ".join(r["estimated"]) or "none"
        return (f"differential privacy: epsilon {r['epsilon_spent']:g} spent of {r['epsilon']:g}, "
                f"delta {r['delta']:.3g} ({r['mechanism']}); metadata declared: {dec}; "
                f"estimated privately: {est}" + (
                    f"; DP-SGD: clip {r['max_grad_norm']:g}, noise multiplier "
                    f"{r['noise_multiplier']:.3g}, {r['steps']} steps at sample rate "
                    f"{r['sample_rate']:.3g}" if "noise_multiplier" in r else ""))

    # -- provenance and the model file ----------------------------------------------------
    def provenance(self, **extra: Any) -> dict[str, Any]:
        """`Model.provenance`, plus epsilon / delta of a private fit."""
        r = self.privacy_
        dp = {"privacy": {k: r[k] for k in ("epsilon", "epsilon_spent", "delta", "mechanism",
                                            *_SGD_KEYS) if k in r}} if r else {}
        return super().provenance(**extra, **dp)  # type: ignore[misc]

    def _file_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = super()._file_state()  # type: ignore[misc]
        return ({**meta, "_dp": self.privacy_} if self.privacy_ else meta), tensors

    def _file_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return super()._file_shapes({k: v for k, v in meta.items() if k != "_dp"}  # type: ignore[misc]
                                    )

    def _file_restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.privacy_ = check_record(meta["_dp"]) if "_dp" in meta else None
        super()._file_restore({k: v for k, v in meta.items() if k != "_dp"},  # type: ignore[misc]
                              tensors)


def _json_bound(value: Any) -> float | str:
    """A declared bound as JSON: a number, or the text of a date."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return str(value)


def _private_fingerprint(rng: np.random.Generator) -> str:
    """A private fit does not release the sha256 of its training table: with all rows but
    one known, that hash would reveal the last one. A tag drawn from the fit's seed takes
    its place."""
    return "dp-" + hashlib.sha256(rng.bytes(32)).hexdigest()[:56]
