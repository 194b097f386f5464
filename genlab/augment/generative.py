"""Generative augmentation: a class-conditional model fitted on the training set only,
sampled for extra examples of each class.

- tables: a table family fitted with `conditions=[target]`, sampled with `{target: class}`;
- images: an image family fitted with `conditions=["label"]`, sampled with `{"label": c}`;
- text: a character model (LSTM) fitted on the lines written as `<class>\\t<text>\\n`, so the
  class is a prompt: sampling starts from `\\n<class>\\t` and stops at the end of the line.

`filter_share` > 0 draws `n / (1 - filter_share)` samples and keeps the `n` the model finds
most likely (table and image log-likelihood; text per character), dropping the implausible
tail. Whether that helps is measured in benchmarks/augment.py, not assumed.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genlab._progress import task
from genlab.errors import DataError, ParameterError

__all__ = [
    "DEFAULT_FAMILY",
    "DEFAULT_PARAMS",
    "check_classes",
    "extra_counts",
    "image_samples",
    "resolve_model",
    "table_samples",
    "text_samples",
]

DEFAULT_FAMILY = {"table": "bayesnet", "image": "vae", "sequence": "lstm"}
# CPU-sized training for a few hundred to a few thousand examples
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "table": {},
    "image": {"max_steps": 1500, "batch_size": 64, "val_fraction": 0.0, "epochs": 100_000},
    # what benchmarks/augment.py measured for a few hundred labelled lines
    "sequence": {"hidden": 128, "layers": 1, "context": 64, "dropout": 0.2, "max_steps": 600,
                 "batch_size": 32, "val_fraction": 0.0, "epochs": 100_000},
}


def check_classes(labels: Sequence[Any], what: str = "target") -> Counter[Any]:
    """Counts per class; one-line error for a class with fewer than 2 examples."""
    counts = Counter(labels)
    if not counts:
        raise DataError("no examples to augment; the data is empty")
    few = sorted((str(k) for k, c in counts.items() if c < 2))
    if few:
        raise DataError(f"class(es) {', '.join(repr(x) for x in few[:5])} of {what} have fewer "
                        "than 2 examples; a model cannot learn a class from one example; add "
                        "examples or drop those rows")
    if len(counts) < 2:
        raise DataError(f"{what} has a single class ({next(iter(counts))!r}); augmentation for "
                        "classification needs at least two")
    return counts


def extra_counts(counts: Counter[Any], factor: float | None = None,
                 balance: bool = False) -> dict[Any, int]:
    """Synthetic examples to add per class: `factor` new ones per real one, or (`balance`)
    enough to bring every class up to the largest."""
    if balance and factor is not None:
        raise ParameterError("give --factor or --balance, not both")
    if balance:
        top = max(counts.values())
        return {k: top - c for k, c in counts.items()}
    f = 1.0 if factor is None else factor
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0:
        raise ParameterError(f"factor must be a number > 0 (synthetic examples per real one, "
                             f"e.g. 1 doubles the data), got {factor!r}")
    return {k: int(round(f * c)) for k, c in counts.items()}


def resolve_model(model: Any, modality: str, conditions: list[str], seed: int) -> tuple[Any, bool]:
    """(model, fitted?) from None (the default family), a family name, a `.genlab` path or
    a Model; a fitted one must be conditioned on `conditions`."""
    from genlab.models.base import Model
    from genlab.models.registry import FAMILY_MODULES, load, make_model

    if model is None or (isinstance(model, str) and model in FAMILY_MODULES[modality]):
        family = model or DEFAULT_FAMILY[modality]
        params = DEFAULT_PARAMS[modality] if model is None or family == DEFAULT_FAMILY[
            modality] else {}
        return make_model(family, modality=modality, seed=seed, **params), False
    if isinstance(model, (str, os.PathLike)) and str(model).endswith(".genlab"):
        if not Path(model).exists():
            raise ParameterError(f"model file {str(model)!r} does not exist; check the path")
        model = load(model)
    if not isinstance(model, Model):
        choices = ", ".join(sorted(FAMILY_MODULES[modality]))
        raise ParameterError(f"model must be a {modality} family ({choices}), a .genlab file "
                             f"or a genlab model, got {model!r}")
    if model.modality != modality:
        raise ParameterError(f"the model is a {model.modality} model; {modality} data needs a "
                             f"{modality} model")
    if not hasattr(model, "fit_seconds_"):
        return model, False
    if modality != "sequence" and list(model.conditions_) != conditions:
        raise ParameterError(f"the fitted model is conditioned on {model.conditions_}, but "
                             f"augmentation needs a model conditioned on {conditions}; refit "
                             f"with conditions={conditions}")
    return model, True


def _oversampled(n: int, share: float) -> int:
    return n if share <= 0 else int(math.ceil(n / (1.0 - share)))


def _keep_likely(scores: np.ndarray, n: int) -> np.ndarray:
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    return np.sort(np.argsort(-scores, kind="stable")[:n])


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def table_samples(df: Any, target: str, extra: dict[Any, int], model: Any = None, *,
                  seed: int = 0, filter_share: float = 0.0) -> tuple[Any, Any]:
    """(synthetic rows, the model) per class (`extra`: class -> count) from a table model
    of `df`."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    m, fitted = resolve_model(model, "table", [target], _seed(rng))
    if not fitted:
        m.fit(df, conditions=[target])
    parts = []
    with task("sampling synthetic rows", sum(extra.values())) as advance:
        for cls, n in extra.items():
            if n <= 0:
                continue
            rows = m.sample(_oversampled(n, filter_share), conditions={target: cls},
                            seed=_seed(rng))
            if filter_share > 0:
                rows = rows.iloc[_keep_likely(m.log_prob(rows), n)]
            rows = rows.copy()
            rows[target] = cls  # the condition, in the training dtype
            parts.append(rows)
            advance(n)
    if not parts:
        return df.iloc[:0].copy(), m
    out = pd.concat(parts, ignore_index=True)[list(df.columns)]
    return out.astype(df.dtypes.to_dict(), errors="ignore"), m


def image_samples(ds: Any, extra: dict[int, int], model: Any = None, *, seed: int = 0,
                  filter_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, Any]:
    """(uint8 images, label codes, the model) per class code (`extra`) from an image model
    of `ds`."""
    from genlab.data.images import ImageSet

    rng = np.random.default_rng(seed)
    m, fitted = resolve_model(model, "image", ["label"], _seed(rng))
    if not fitted:
        m.fit(ds, conditions=["label"])
    images, labels = [], []
    with task("sampling synthetic images", sum(extra.values())) as advance:
        for code, n in extra.items():
            if n <= 0:
                continue
            name = ds.classes[code]
            x = np.asarray(m.sample(_oversampled(n, filter_share), conditions={"label": name},
                                    seed=_seed(rng)))
            if filter_share > 0:
                scores = m.log_prob(ImageSet(x, None, None), conditions={"label": name})
                x = x[_keep_likely(scores, n)]
            images.append(x)
            labels.append(np.full(n, code, np.int64))
            advance(n)
    if not images:
        return ds.images[:0].copy(), np.zeros(0, np.int64), m
    return np.concatenate(images), np.concatenate(labels), m


def _line(label: Any, text: str) -> str:
    return f"{label}\t{' '.join(str(text).split())}\n"


def text_samples(texts: Sequence[str], labels: Sequence[Any], extra: dict[Any, int],
                 model: Any = None, *, seed: int = 0,
                 filter_share: float = 0.0) -> tuple[list[tuple[str, Any]], Any]:
    """((text, class) pairs per class (`extra`), the model) from a character model of the
    labelled lines."""
    rng = np.random.default_rng(seed)
    m, fitted = resolve_model(model, "sequence", [], _seed(rng))
    if not fitted:
        order = rng.permutation(len(texts))
        m.fit(["\n" + "".join(_line(labels[i], texts[i]) for i in order)])
    longest = max(len(str(t)) for t in texts)
    out: list[tuple[str, Any]] = []
    with task("sampling synthetic texts", sum(extra.values())) as advance:
        for cls, n in extra.items():
            if n <= 0:
                continue
            prompt = f"\n{cls}\t"
            got: list[str] = []
            for _ in range(10):  # empty lines are redrawn, a few rounds at most
                want = _oversampled(n, filter_share) - len(got)
                if want <= 0:
                    break
                raw = m.sample(want, prompt=prompt, length=int(longest * 1.2) + 2,
                               seed=_seed(rng))
                for s in raw:
                    body = str(s)[len(prompt):].split("\n")[0].replace("\t", " ").strip()
                    if body:
                        got.append(body)
            if filter_share > 0 and len(got) > n:
                lines = [prompt[1:] + g + "\n" for g in got]
                scores = m.log_prob(lines) / np.array([len(x) for x in lines])
                got = [got[i] for i in _keep_likely(scores, n)]
            out.extend((g, cls) for g in got[:n])
            advance(n)
    return out, m
