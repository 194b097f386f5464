"""The LSTM language-model family (CharRNN), the classic baseline."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from genlab.models.sequence.base import COMMON_CONSTRAINTS, SequenceModel
from genlab.nets.sequence import LSTMNet
from genlab.params import ParamSpec

__all__ = ["LSTM"]


class LSTM(SequenceModel):
    """Stacked LSTM language model (CharRNN; Graves 2013, Segler et al. 2018 for SMILES):
    the classic baseline, with the same sampling, prompts, conditions and exact `log_prob`.

    Args:
        hidden, layers, dropout: network size.
        context: training window / longest item in tokens (BOS included); no limit when
            scoring or sampling (the state carries over).
        Other arguments as for `Transformer`.
    """

    family: ClassVar[str] = "lstm"
    summary: ClassVar[str] = "Stacked LSTM language model (CharRNN)"
    when_to_use: ClassVar[str] = "A classic baseline; unlimited context at constant cost"
    conditioning: ClassVar[str] = "molecule properties (ranges or values)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **COMMON_CONSTRAINTS,
        "layers": ("int", 1, 16),
        "hidden": ("int", 4, 8192),
        "dropout": ("float", 0.0, 0.9),
        "epoch_size": ("int?", 1, 10**9),
    }

    def __init__(
        self,
        *,
        layers: int = 2,
        hidden: int = 256,
        dropout: float = 0.0,
        seed: int | None = None,
        **shared: Any,
    ) -> None:
        self._init_params(locals())

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return LSTMNet(int(meta["vocab"]), self.hidden, self.layers, int(meta.get("n_cond", 0)),
                       self.dropout)
