"""genlab: fit generative models to your own data and put them to work."""

from genlab._version import __version__
from genlab.anomaly import AnomalyDetector, SeriesAnomalyDetector
from genlab.api import fit, report
from genlab.errors import (
    DataError,
    GenlabError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    UnsupportedOperation,
)
from genlab.evaluate import evaluate
from genlab.models import (
    GAN,
    VAE,
    Autoregressive,
    BayesianNetwork,
    Flow,
    Gaussian,
    GaussianCopula,
    GaussianMixture,
    Model,
    families,
    load,
)
from genlab.models.series.autoregressive import SeriesModel

__all__ = [
    "AnomalyDetector",
    "Autoregressive",
    "BayesianNetwork",
    "DataError",
    "Flow",
    "GAN",
    "Gaussian",
    "GaussianCopula",
    "GaussianMixture",
    "GenlabError",
    "Model",
    "ModelFileError",
    "SeriesAnomalyDetector",
    "SeriesModel",
    "NotFittedError",
    "ParameterError",
    "UnsupportedOperation",
    "VAE",
    "__version__",
    "evaluate",
    "families",
    "fit",
    "load",
    "report",
]
