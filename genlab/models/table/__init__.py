"""Table families; importing this package registers them all."""

from genlab.models.table.autoregressive import Autoregressive
from genlab.models.table.base import TableModel
from genlab.models.table.bayesnet import BayesianNetwork
from genlab.models.table.copula import GaussianCopula
from genlab.models.table.flow import Flow
from genlab.models.table.gan import GAN
from genlab.models.table.gaussian import Gaussian
from genlab.models.table.mixture import GaussianMixture
from genlab.models.table.vae import VAE

__all__ = ["GAN", "VAE", "Autoregressive", "BayesianNetwork", "Flow", "Gaussian",
           "GaussianCopula", "GaussianMixture", "TableModel"]
