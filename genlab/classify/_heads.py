"""The encoders that fine-tuning reuses, one adapter per pre-trained family.

An adapter turns labelled data into the tensors the encoder reads (with the pre-trained
model's own codec, so the classifier sees what the generative model saw) and hands out a
copy of the encoder as a trunk that maps those tensors to a feature vector per item:

- image VAE (`ImageVAE`): the conv encoder up to its fully connected layer (`hidden` wide);
- character transformer (`Transformer`): embeddings, blocks and final layer norm, the
  hidden states averaged over each item's positions (`d_model` wide);
- table VAE (`VAE`): the encoder MLP up to its last hidden layer (`hidden[-1]` wide), fed
  the mode-normalised row as `VAE.encode` builds it.

`trunk(scratch=True)` is the same architecture freshly initialised by the family's own
`_build`, for the from-scratch comparison.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from genlab.data.sequences.codecs import BOS, PAD, UNKNOWN
from genlab.errors import DataError, UnsupportedOperation
from genlab.seeding import torch_seeded

__all__ = ["ENCODER_FAMILIES", "Adapter", "adapter_for"]

ENCODER_FAMILIES = ("image vae (ImageVAE)", "sequence autoregressive (Transformer, text)",
                    "table vae (VAE)")


class Adapter:
    """Inputs and trunk of one pre-trained model (see the module docstring)."""

    width: int

    def __init__(self, model: Any) -> None:
        self.model = model

    def inputs(self, X: Any) -> list[torch.Tensor]:  # pragma: no cover - abstract
        """Row-aligned tensors the trunk reads."""
        raise NotImplementedError

    def _body(self, net: nn.Module) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def trunk(self, *, scratch: bool, rng: np.random.Generator) -> nn.Module:
        """A copy of the pre-trained encoder, or (scratch) the same one freshly built."""
        net = self.model.net_
        if scratch:
            with torch_seeded(rng):
                net = self.model._build(self.model.meta_)
        return self._body(copy.deepcopy(net)).to("cpu").float()

    def describe(self) -> str:
        """Which part of which model the trunk is."""
        return f"{type(self.model).__name__} encoder ({self.width} features)"


def _pad_image(x: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    from genlab.models.image.vae import pad_image
    from genlab.nets.logistic_mixture import to_unit

    return pad_image(to_unit(x), hp, wp, -1.0)


class _ImageTrunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*list(net.encoder)[:-1])  # up to the hidden layer
        self.hp, self.wp = int(net.hp), int(net.wp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(_pad_image(x, self.hp, self.wp))


class _ImageAdapter(Adapter):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        if model.codec_.conditional:
            raise UnsupportedOperation(
                "this ImageVAE was pre-trained class-conditionally, so its encoder needs the "
                "label it is asked to predict; pre-train it without conditions")
        self.width = int(model.net_.encoder[-1].in_features)

    def inputs(self, X: Any) -> list[torch.Tensor]:
        c = self.model.codec_
        if isinstance(X, (pd.DataFrame, list, str)):
            raise DataError(f"the pre-trained model is an image model ({c.height}x{c.width}x"
                            f"{c.channels}); give uint8 images (n, h, w[, c]), not "
                            f"{type(X).__name__}")
        array = np.asarray(X)
        if array.ndim == 3:
            array = array[..., None]
        if array.dtype != np.uint8 or array.ndim != 4:
            raise DataError(f"images must be uint8 (n, height, width[, channels]), got "
                            f"{array.dtype} of shape {array.shape}")
        if array.shape[1:] != (c.height, c.width, c.channels):
            raise DataError(f"images are {'x'.join(map(str, array.shape[1:]))} but the "
                            f"pre-trained model saw {c.height}x{c.width}x{c.channels}; give "
                            "images of that size")
        return [torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))]

    def _body(self, net: nn.Module) -> nn.Module:
        return _ImageTrunk(net)


class _TextTrunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        net, t = self.net, ids.shape[1]
        x = net._embed(ids, None)
        for i, block in enumerate(net.blocks):
            x = block(x, net.cos[:t], net.sin[:t], None, i)
        mask = (torch.arange(t, device=ids.device)[None, :] < lengths[:, None]).float()
        return (net.ln(x) * mask[..., None]).sum(1) / lengths[:, None].float()


class _TextAdapter(Adapter):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        if model.codec_.kind != "char":
            raise UnsupportedOperation(
                f"fine-tuning reads text; this Transformer models {model.codec_.kind} tokens")
        self.width = int(model.d_model)

    def inputs(self, X: Any) -> list[torch.Tensor]:
        items = list(X) if isinstance(X, (list, tuple, np.ndarray, pd.Series)) else None
        if items is None or not all(isinstance(x, str) for x in items):
            raise DataError("the pre-trained model is a character Transformer; give a list of "
                            f"strings (one per example), not {type(X).__name__}")
        width = int(self.model.net_.context)
        # cut to the context as `Transformer.encode` does; unknown characters read as padding
        seqs = [[BOS, *self.model.codec_.encode(x, unknown="mark")][:width] for x in items]
        t = max(len(q) for q in seqs)
        ids = torch.full((len(seqs), t), PAD, dtype=torch.long)
        for r, q in enumerate(seqs):
            ids[r, :len(q)] = torch.tensor(q, dtype=torch.long)
        ids = ids.masked_fill(ids == UNKNOWN, PAD)
        return [ids, torch.tensor([len(q) for q in seqs], dtype=torch.long)]

    def _body(self, net: nn.Module) -> nn.Module:
        return _TextTrunk(net)


class _TableTrunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.body = net.encoder[0]  # the MLP before the (mu, log var) layer

    def forward(self, rows: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([rows, cond], 1))


class _TableAdapter(Adapter):
    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.width = int(model.net_.encoder[-1].in_features)

    def inputs(self, X: Any) -> list[torch.Tensor]:
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"the pre-trained model is a table model; give a DataFrame with "
                            f"its columns, not {type(X).__name__}")
        names = list(self.model.table_schema_.names)
        frame = X.set_axis([str(c) for c in X.columns], axis=1)
        missing = [n for n in names if n not in frame.columns]
        extra = [n for n in frame.columns if n not in names]
        if len(missing) == len(names) or extra:
            raise DataError(f"the labelled table does not match the pre-trained model: "
                            f"missing columns {missing}, unexpected columns {extra}; give "
                            f"the columns it was pre-trained on ({names})")
        # a pre-training column absent here (e.g. the label) is missing in every row: the
        # encoder sees a zero block, as for any missing cell
        frame = frame.assign(**{n: np.nan for n in missing}).reset_index(drop=True)
        rows, cond = _table_rows(self.model, frame)
        return [torch.as_tensor(rows, dtype=torch.float32), cond.float().cpu()]

    def _body(self, net: nn.Module) -> nn.Module:
        return _TableTrunk(net)


def _table_rows(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, torch.Tensor]:
    """The encoder input of `VAE.encode`: the mode-normalised row, each number in its
    most probable mode, missing cells as zero blocks; and the condition one-hots."""
    d_in, combos = model.encoder_rows(frame)
    return d_in, model._cond_vec(combos)


def adapter_for(model: Any) -> Adapter:
    """The adapter of a fitted pre-trained model; one-line error for a family without an
    encoder to fine-tune."""
    from genlab.models.image.vae import ImageVAE
    from genlab.models.sequence.transformer import Transformer
    from genlab.models.table.vae import VAE

    kinds = ((ImageVAE, _ImageAdapter), (Transformer, _TextAdapter), (VAE, _TableAdapter))
    for cls, adapter in kinds:
        if isinstance(model, cls):
            model._check_fitted()
            return adapter(model)
    name = getattr(model, "family", None)
    what = (f"{type(model).__name__} ({getattr(model, 'modality', '?')} {name})"
            if name else type(model).__name__)
    raise UnsupportedOperation(f"{what} has no encoder to fine-tune; pre-train one of: "
                               f"{', '.join(ENCODER_FAMILIES)}")
