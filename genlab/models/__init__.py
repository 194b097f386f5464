"""Model families on one contract (see `genlab.models.base`)."""

from genlab.models.autoregressive import Autoregressive
from genlab.models.base import Model, families, load
from genlab.models.bayesnet import BayesianNetwork
from genlab.models.copula import GaussianCopula
from genlab.models.flow import Flow
from genlab.models.gan import GAN
from genlab.models.gaussian import Gaussian
from genlab.models.mixture import GaussianMixture
from genlab.models.vae import VAE

__all__ = [
    "GAN",
    "VAE",
    "Autoregressive",
    "BayesianNetwork",
    "Flow",
    "Gaussian",
    "GaussianCopula",
    "GaussianMixture",
    "Model",
    "families",
    "load",
]
