"""Model families on one contract (see `genlab.models.base`)."""

from genlab.models.base import Model, families, load
from genlab.models.table.autoregressive import Autoregressive
from genlab.models.table.bayesnet import BayesianNetwork
from genlab.models.table.copula import GaussianCopula
from genlab.models.table.flow import Flow
from genlab.models.table.gan import GAN
from genlab.models.table.gaussian import Gaussian
from genlab.models.table.mixture import GaussianMixture
from genlab.models.table.vae import VAE

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
