"""genlab: fit generative models to your own data and put them to work.

`import genlab` is light: the families, detectors and evaluation load on first use, so
neither torch nor any modality is imported until a model is made.
"""

from __future__ import annotations

import importlib
from typing import Any

from genlab._version import __version__
from genlab.errors import (
    DataError,
    GenlabError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    UnsupportedOperation,
)

# public name -> module that defines it; imported on first access
_LAZY = {
    "fit": "genlab.api", "report": "genlab.api", "load": "genlab.models.registry",
    "families": "genlab.models.registry", "make_model": "genlab.models.registry",
    "Model": "genlab.models.base", "TrainConfig": "genlab.config",
    "Gaussian": "genlab.models.table.gaussian", "GaussianMixture": "genlab.models.table.mixture",
    "GaussianCopula": "genlab.models.table.copula",
    "BayesianNetwork": "genlab.models.table.bayesnet",
    "Autoregressive": "genlab.models.table.autoregressive", "Flow": "genlab.models.table.flow",
    "VAE": "genlab.models.table.vae", "GAN": "genlab.models.table.gan",
    "ImageVAE": "genlab.models.image.vae", "ImageGAN": "genlab.models.image.gan",
    "PixelCNN": "genlab.models.image.pixelcnn", "ImageFlow": "genlab.models.image.flow",
    "SuperResolution": "genlab.models.image.superres",
    "Transformer": "genlab.models.sequence.transformer", "LSTM": "genlab.models.sequence.lstm",
    "SequenceVAE": "genlab.models.sequence.vae",
    "SeriesModel": "genlab.models.series.autoregressive",
    "AnomalyDetector": "genlab.anomaly.detector", "SeriesAnomalyDetector": "genlab.anomaly.series",
    "GenerativeClassifier": "genlab.classify.classifier",
    "GenerativeFeatures": "genlab.classify.features",
    "FineTunedClassifier": "genlab.classify.finetuning", "finetune": "genlab.classify.finetuning",
    "GenerativeOversampler": "genlab.augment.oversampler",
}
_SUBMODULES = ("evaluate", "anomaly", "images", "sequences", "audio", "data", "models", "report",
               "constraints", "augment", "privacy")

__all__ = ["DataError", "GenlabError", "ModelFileError", "NotFittedError", "ParameterError",
           "UnsupportedOperation", "__version__", "evaluate", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"genlab.{name}")
    else:
        raise AttributeError(f"module 'genlab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
