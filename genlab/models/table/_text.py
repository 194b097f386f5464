"""Character models of the free-text columns a user asks to model (`kinds={"comment": "text"}`
or `--kind comment=text`): one small LSTM per column over its characters, conditioned on the
row's modelled columns, fitted after and apart from the joint model of the other columns.

- The condition vector of a row is its numeric values standardised (a missing value is 0 and
  a flag) and one-hot codes of its categorical columns (the `MAX_CODES` most frequent codes
  of each; the rest share an all-zero vector). It is projected and added to every character
  embedding (`genlab.nets.sequence.LSTMNet`).
- Sampling draws the other columns first, exactly as without the text column (the text
  models draw from a child generator, so those columns are identical draw for draw), then
  each text given its row. A draw equal to a training text is drawn again (up to
  `COPY_TRIES` times, then the cell is left missing): the model file keeps 64-bit digests of
  the training texts, never the texts, so this holds after `genlab.load` too.
- `log_prob` adds log p(text | row), exact for the character model, plus the log chance of
  the cell being missing or not; a character never seen in training is scored with the
  smoothed chance of a new character (0.5 / (training characters + 0.5)).
- Training runs on a budget of epochs and steps (`genlab.train.fit_loop`), never on the clock.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import torch

from genlab.config import TrainConfig
from genlab.data.columns import Encoded
from genlab.data.sequences.codecs import BOS, EOS, PAD, SPECIALS
from genlab.errors import ModelFileError
from genlab.models.neural import one_thread
from genlab.nets.sequence import LSTMNet, Stepper, generate
from genlab.seeding import torch_generator, torch_seeded
from genlab.train import fit_loop

__all__ = ["TextColumns", "row_features"]

HIDDEN = 128
MAX_CHARS = 300  # longest text modelled; longer training texts are cut there
MAX_CODES = 16  # one-hot codes per categorical column in the condition vector
COPY_TRIES = 20
UNSEEN_ALPHA = 0.5
MIN_STEPS, MAX_STEPS = 300, 4000
TRAIN = {"epochs": 40, "batch_size": 64, "lr": 3e-3, "patience": 5,
         "val_fraction": 0.1, "warmup_steps": 50, "weight_decay": 0.0, "grad_clip": 1.0}


def row_features(enc: Encoded, mean: np.ndarray, std: np.ndarray, flags: list[int],
                 n_codes: list[int]) -> np.ndarray:
    """(n, k) float32 condition vectors of encoded rows (see the module docstring)."""
    x = enc.x
    z = np.where(np.isnan(x), 0.0, (np.nan_to_num(x) - mean) / std) if x.size else x
    parts = [z, np.isnan(x[:, flags]).astype(np.float64)] if x.size else []
    for j, k in enumerate(n_codes):
        one = np.zeros((enc.n, k))
        codes = enc.c[:, j]
        ok = (codes >= 0) & (codes < k)
        one[np.flatnonzero(ok), codes[ok]] = 1.0
        parts.append(one)
    if not parts:
        return np.zeros((enc.n, 0), np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)


def digest(texts: list[str]) -> np.ndarray:
    """64-bit digests (as int64) of texts: what the model file keeps instead of the texts."""
    return np.array([int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(),
                                    "little", signed=True) for t in texts], dtype=np.int64)


class TextColumns:
    """The character models of a table model's text columns (see the module docstring)."""

    def __init__(self, meta: dict[str, Any], nets: dict[str, LSTMNet],
                 digests: dict[str, np.ndarray]) -> None:
        self.meta, self.nets, self.digests = meta, nets, digests

    @property
    def names(self) -> list[str]:
        """The modelled text columns."""
        return list(self.meta["columns"])

    # -- fit ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, df: pd.DataFrame, names: list[str], enc: Encoded, n_codes: list[int],
            rng: np.random.Generator) -> TextColumns:
        """Fit one character model per column of `names`, conditioned on the encoded rows."""
        x = enc.x
        mean = np.nanmean(x, axis=0) if x.size else np.zeros(0)
        std = np.nanstd(x, axis=0) + 1e-9 if x.size else np.zeros(0)
        mean, std = np.nan_to_num(mean), np.nan_to_num(std, nan=1.0)
        flags = [int(j) for j in np.flatnonzero(np.isnan(x).any(axis=0))] if x.size else []
        codes = [min(int(k), MAX_CODES) for k in n_codes]
        feats = row_features(enc, mean, std, flags, codes)
        meta: dict[str, Any] = {"mean": mean.tolist(), "std": std.tolist(), "flags": flags,
                                "codes": codes, "n_cond": int(feats.shape[1]), "columns": {}}
        nets, digests = {}, {}
        for name in names:
            col = df[name]
            present = col.notna().to_numpy()
            texts = [str(v) for v in col[present]]
            tokens = sorted({ch for t in texts for ch in t})
            meta["columns"][name] = {"tokens": tokens, "missing_rate": float(1 - present.mean()),
                                     "chars": int(sum(map(len, texts))), "texts": len(texts),
                                     "max_len": min(MAX_CHARS, max(map(len, texts), default=1))}
            net = cls._net(meta, name, rng)
            if texts:
                cls._train(net, meta, name, texts, feats[present], rng)
            nets[name], digests[name] = net, digest(texts)
        return cls(meta, nets, digests)

    @staticmethod
    def _net(meta: dict[str, Any], name: str, rng: np.random.Generator | None = None
             ) -> LSTMNet:
        vocab = len(SPECIALS) + len(meta["columns"][name]["tokens"])
        with torch_seeded(rng if rng is not None else np.random.default_rng(0)):
            return LSTMNet(vocab, HIDDEN, 1, n_cond=meta["n_cond"])

    @staticmethod
    def _ids(meta: dict[str, Any], name: str, texts: list[str]) -> torch.Tensor:
        """(n, max_len + 1) ids, EOS after each text, PAD after; unseen characters -1."""
        index = {ch: i + len(SPECIALS) for i, ch in enumerate(meta["columns"][name]["tokens"])}
        width = meta["columns"][name]["max_len"] + 1
        ids = np.full((len(texts), width), PAD, dtype=np.int64)
        for i, t in enumerate(texts):
            row = [index.get(ch, -1) for ch in t[:width - 1]] + [EOS]
            ids[i, :len(row)] = row
        return torch.from_numpy(ids)

    @classmethod
    def _train(cls, net: LSTMNet, meta: dict[str, Any], name: str, texts: list[str],
               feats: np.ndarray, rng: np.random.Generator) -> None:
        with torch_seeded(rng):  # dropout-free, but kept for any draw inside the module
            ids = cls._ids(meta, name, texts)
            cond = torch.from_numpy(feats)

            def loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
                tgt, c = batch
                return -_token_log_probs(net, tgt, c).sum(dim=1)

            # the budget follows the data: 40 epochs, but at least MIN_STEPS and at most
            # MAX_STEPS optimiser steps (a small table needs many passes)
            per_epoch = max(1, -(-len(texts) // TRAIN["batch_size"]))
            steps = int(np.clip(TRAIN["epochs"] * per_epoch, MIN_STEPS, MAX_STEPS))
            config = TrainConfig(**{**TRAIN, "epochs": -(-steps // per_epoch)}, max_steps=steps)
            with one_thread(torch.device("cpu")):
                fit_loop(net, loss, [ids, cond], config, seed=int(rng.integers(2**62)),
                         description=f"fitting text column {name!r}")
        net.eval()

    # -- sample ---------------------------------------------------------------------------
    def features(self, enc: Encoded) -> np.ndarray:
        """Condition vectors of encoded rows."""
        m = self.meta
        return row_features(enc, np.asarray(m["mean"]), np.asarray(m["std"]), m["flags"],
                            m["codes"])

    def sample(self, enc: Encoded, rng: np.random.Generator) -> dict[str, pd.Series]:
        """A text (or missing) per encoded row, for every text column."""
        feats = torch.from_numpy(self.features(enc))
        out = {}
        gen = torch_generator(rng, torch.device("cpu"))
        for name in self.names:
            col = self.meta["columns"][name]
            values = np.array([None] * enc.n, dtype=object)
            todo = np.flatnonzero(rng.random(enc.n) >= col["missing_rate"])
            seen = self.digests[name]
            for _ in range(COPY_TRIES):
                if not todo.size:
                    break
                texts = self._draw(name, feats[todo], gen)
                fresh = ~np.isin(digest(texts), seen)
                values[todo[fresh]] = np.array(texts, dtype=object)[fresh]
                todo = todo[~fresh]
            out[name] = pd.Series(values, dtype=object)
        return out

    def _draw(self, name: str, cond: torch.Tensor, gen: torch.Generator) -> list[str]:
        tokens = self.meta["columns"][name]["tokens"]
        net = self.nets[name]
        texts: list[str] = []
        with torch.inference_mode(), one_thread(torch.device("cpu")):
            for begin in range(0, cond.shape[0], 1000):
                c = cond[begin:begin + 1000]
                prefix = torch.empty(c.shape[0], 0, dtype=torch.long)
                rows = generate(Stepper(net, c.shape[0], cond=c), prefix,
                                self.meta["columns"][name]["max_len"], stop_at_eos=True,
                                generator=gen)
                for r in rows.numpy():
                    chars = []
                    for i in r:
                        if i == EOS:
                            break
                        if i >= len(SPECIALS):
                            chars.append(tokens[i - len(SPECIALS)])
                    texts.append("".join(chars))
        return texts

    # -- score ----------------------------------------------------------------------------
    def log_prob(self, df: pd.DataFrame, enc: Encoded, *, strict: bool = False) -> np.ndarray:
        """log p(texts | row) summed over the text columns, per row; with `strict`, a text
        holding a character never seen in training has probability 0."""
        feats = torch.from_numpy(self.features(enc))
        total = np.zeros(len(df))
        for name in self.names:
            col = self.meta["columns"][name]
            present = df[name].notna().to_numpy()
            rate = col["missing_rate"]
            with np.errstate(divide="ignore"):
                total += np.where(present, np.log1p(-rate), np.log(rate))
            rows = np.flatnonzero(present)
            if not rows.size:
                continue
            texts = [str(v) for v in df[name].iloc[rows]]
            ids = self._ids(self.meta, name, texts)
            unseen = (ids < 0).sum(dim=1).numpy()
            with torch.inference_mode(), one_thread(torch.device("cpu")):
                lp = torch.cat([_token_log_probs(self.nets[name], ids[b:b + 512],
                                                 feats[rows[b:b + 512]]).sum(dim=1)
                                for b in range(0, rows.size, 512)]).double().numpy()
            q = -np.inf if strict else np.log(UNSEEN_ALPHA / (col["chars"] + UNSEEN_ALPHA))
            with np.errstate(invalid="ignore"):
                total[rows] += lp + np.where(unseen > 0, unseen * q, 0.0)
        return total

    # -- the model file -------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON meta, tensors) for the model file."""
        tensors: dict[str, np.ndarray] = {}
        for name, net in self.nets.items():
            key = self.names.index(name)
            tensors.update({f"text.{key}.{k}": v.detach().numpy()
                            for k, v in net.state_dict().items()})
            tensors[f"text.{key}.digests"] = self.digests[name]
        return self.meta, tensors

    @classmethod
    def shapes(cls, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The tensor shapes `state` writes for this meta."""
        shapes: dict[str, tuple[int, ...]] = {}
        for key, name in enumerate(meta["columns"]):
            with torch.device("meta"):
                net = cls._net(meta, name)
            shapes.update({f"text.{key}.{k}": tuple(v.shape) for k, v in net.state_dict().items()})
            shapes[f"text.{key}.digests"] = (int(meta["columns"][name]["texts"]),)
        return shapes

    @classmethod
    def restore(cls, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> TextColumns:
        """Rebuild from `state`'s output; pops its tensors from `tensors`."""
        nets, digests = {}, {}
        for key, name in enumerate(meta["columns"]):
            found = tensors.pop(f"text.{key}.digests")
            if found.dtype != np.int64:
                raise ModelFileError(f"the digests of text column {name!r} are not int64")
            digests[name] = found
            net = cls._net(meta, name)
            prefix = f"text.{key}."
            net.load_state_dict({k[len(prefix):]: torch.from_numpy(np.array(tensors.pop(k)))
                                 for k in [k for k in list(tensors) if k.startswith(prefix)]})
            nets[name] = net.eval()
        return cls(meta, nets, digests)


def _token_log_probs(net: LSTMNet, tgt: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """(B, T) log p of each target id given BOS and the ids before it; 0 at PAD and at
    unseen characters (-1, scored by the caller)."""
    inp = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1].clamp(min=PAD)], dim=1)
    lp = torch.log_softmax(net(inp, cond if cond.shape[1] else None).float(), dim=-1)
    out = lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    return out.masked_fill(tgt <= PAD, 0.0)
