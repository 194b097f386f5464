"""Which families exist for which kind of data, and loading a model file as its class.

Families register themselves when their module is imported (`Model.__init_subclass__`);
the modules of a modality are imported only when that modality is asked for, so
`import genlab` and detecting the kind of data stay free of torch.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from genlab.errors import ModelFileError, ParameterError
from genlab.store import check_max_memory, read_model_file
from genlab.store_schema import one_line
from genlab.store_sizes import check_sizes

if TYPE_CHECKING:
    from genlab.models.base import Model

__all__ = ["DEFAULT_FAMILY", "MODALITIES", "families", "load", "make_model", "register"]

# modality -> the package whose import registers its families
MODALITIES = {
    "table": "genlab.models.table",
    "image": "genlab.models.image",
    "sequence": "genlab.models.sequence",
    "series": "genlab.models.series",
    "audio": "genlab.models.audio",
}
# modality -> family -> its module: a model file loads by importing its family's module
# alone, so a classical table model (or a refusal) needs no torch
FAMILY_MODULES = {
    "table": {name: f"genlab.models.table.{name}" for name in (
        "gaussian", "mixture", "copula", "bayesnet", "autoregressive", "flow", "vae", "gan")},
    "image": {name: f"genlab.models.image.{name}" for name in (
        "vae", "gan", "pixelcnn", "flow", "superres")},
    "sequence": {"autoregressive": "genlab.models.sequence.transformer",
                 "lstm": "genlab.models.sequence.lstm", "vae": "genlab.models.sequence.vae"},
    "series": {"autoregressive": "genlab.models.series.autoregressive"},
    # audio families, one module each
    "audio": {"wavenet": "genlab.models.audio.wavenet", "tts": "genlab.models.audio.tts"},
}
DEFAULT_FAMILY = {"table": "copula", "image": "vae", "sequence": "autoregressive",
                  "series": "autoregressive", "audio": "wavenet"}
_FAMILIES: dict[str, dict[str, type[Model]]] = {}


def register(cls: type[Model]) -> None:
    """Record a family class under its modality and name (called on class creation)."""
    _FAMILIES.setdefault(cls.modality, {})[cls.family] = cls


def check_modality(modality: str) -> str:
    """`modality` if known, else a one-line error listing the known ones."""
    if modality not in MODALITIES:
        raise ParameterError(
            f"unknown kind of data {modality!r}; choose one of {', '.join(MODALITIES)}")
    return modality


def families(modality: str = "table") -> dict[str, type[Model]]:
    """Registered families of a modality, by name."""
    importlib.import_module(MODALITIES[check_modality(modality)])
    for module in FAMILY_MODULES[modality].values():
        importlib.import_module(module)
    return dict(_FAMILIES.get(modality, {}))


def latent_families() -> list[str]:
    """`modality:family` of every family with a latent space (one that fills `_encode`)."""
    return sorted(f"{m}:{n}" for m in MODALITIES for n, c in families(m).items()
                  if not c._encode.__qualname__.startswith("Model.")
                  or not c.encode.__qualname__.startswith("Model."))


def family_class(modality: str, family: str) -> type[Model] | None:
    """The class of one family, importing its module only (None if there is none)."""
    module = FAMILY_MODULES[check_modality(modality)].get(family)
    if module is None:
        return None
    importlib.import_module(module)
    return _FAMILIES.get(modality, {}).get(family)


def make_model(family: str | None = None, modality: str = "table", **params: Any) -> Model:
    """An unfitted model of `family` (default: the modality's default) with `params`."""
    name = family or DEFAULT_FAMILY[check_modality(modality)]
    cls = family_class(modality, name) if isinstance(name, str) else None
    if cls is None:
        what = "" if modality == "table" else f" for {modality} data"
        raise ParameterError(f"unknown model {name!r}{what}; choose one of "
                             f"{', '.join(sorted(FAMILY_MODULES[modality]))}")
    return cls.build(**params)


def load(path: str | os.PathLike[str], *, max_memory: int | str | None = None) -> Any:
    """Load a `.genlab` file of any modality as the class that wrote it; the file is parsed
    as JSON and raw tensors, never executed. `max_memory` (bytes, or text like "4GiB";
    default 1 GiB) bounds the unpacked weights and what the codec may ask for."""
    budget = check_max_memory(max_memory)
    config, tensors = read_model_file(path, max_memory=budget)
    where = repr(str(path))
    modality, family = config.get("modality", "table"), config["family"]
    if modality not in MODALITIES:
        raise ModelFileError(f"{where} holds a model of unknown kind {one_line(modality, 40)!r};"
                             f" known: {', '.join(MODALITIES)}; upgrade genlab or check the file")
    check_sizes(modality, config, tensors, where, budget)
    cls = family_class(modality, family) if isinstance(family, str) else None
    if cls is None:
        raise ModelFileError(
            f"{where} names unknown family {one_line(family, 40)!r} ({modality} data); known: "
            f"{sorted(FAMILY_MODULES[modality])}; upgrade genlab or check the file")
    return cls._from_file(config, tensors, where)
