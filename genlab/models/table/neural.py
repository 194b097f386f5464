"""The base of the neural table families: the table contract with one torch network."""

from genlab.models.neural import TorchModule
from genlab.models.table.base import TableModel

__all__ = ["NeuralModel"]


class NeuralModel(TorchModule, TableModel):
    """Base of the neural table families (`genlab.models.neural` for what they share)."""
