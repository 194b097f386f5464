"""The sequence families (text, molecules, music); importing this registers them."""

from genlab.models.sequence.base import SequenceModel
from genlab.models.sequence.lstm import LSTM
from genlab.models.sequence.transformer import Transformer
from genlab.models.sequence.vae import SequenceVAE

__all__ = ["LSTM", "SequenceModel", "SequenceVAE", "Transformer"]
