"""Data augmentation: classic transforms (images, text) and generative samples from a
class-conditional model (tables, images, text), plus an imbalanced-learn over-sampler.

Names load on first use, so `import genlab.augment` imports neither torch nor kornia.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "augment": "genlab.augment.api", "Augmented": "genlab.augment.api",
    "write_augmented": "genlab.augment.output",
    "GenerativeOversampler": "genlab.augment.oversampler",
    "EDA": "genlab.augment.text", "CorpusSynonyms": "genlab.augment.text",
    "write_augment_report": "genlab.augment.report",
    **{name: "genlab.augment.images" for name in (
        "Compose", "ElasticDistortion", "Flip", "GaussianNoise", "ImageTransform",
        "RandomCrop", "Rotation", "Scaling", "Translation", "default_image_transforms")},
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genlab.augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
