"""Sequence families: what fitting, sampling, scoring and writing share (`SequenceModel`),
and the autoregressive transformer and LSTM (`Transformer`, `LSTM`).

Data kinds (chosen from the input, or by `codec=`):
- text (`char`): the corpus is one stream; training draws windows of `context` characters,
  each read after a BOS token. Samples are the prompt plus `sample_length` characters.
- molecules (`smiles`): one item per SMILES, `[BOS] tokens [EOS]`.
- music (`music`): pieces cut into items of `segment_bars` bars; samples hold exactly the
  requested number of bars (EOS is masked before, a further bar line ends the piece, and
  the last bar holds at least one note, since MIDI cannot store trailing silence).

Property-conditioned molecules: `fit(data, conditions=["qed"])` takes the column of that
name from the table, or computes `qed`, `logp`, `mw` or `tpsa` with RDKit. The standardised
values are added to every token embedding. At sampling, `where={"qed": (0.8, 0.9)}`
(command line: `--where qed=0.8..0.9`) conditions on the values of training molecules in
that range (so several conditions stay jointly plausible); `where={"qed": 0.85}` on that
value, other conditions drawn from training molecules. Without `where`, conditions are
drawn from the training molecules: the model's marginal distribution.

Sampling options may also come through `where` (what `genlab sample --where` passes):
`length` (text characters), `bars` (music), `temperature`, `top_k`, `top_p`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genlab._atomic import atomic_path
from genlab.data.sequences.codecs import (
    BOS,
    EOS,
    PAD,
    UNKNOWN,
    CharCodec,
    Codec,
    MusicCodec,
    Piece,
    SelfiesCodec,
    SmilesCodec,
    codec_from_dict,
)
from genlab.data.sequences.readers import items_fingerprint, read_sequences
from genlab.errors import DataError, ParameterError
from genlab.models.base import ParamSpec
from genlab.models.neural import TRAIN_CONSTRAINTS, TorchModule, torch_generator
from genlab.models.registry import DataModel
from genlab.models.sequence.grammar import SmilesGrammar
from genlab.nets.sequence import (
    LSTMNet,
    Stepper,
    TransformerNet,
    generate,
    score_tokens,
)
from genlab.provenance import write_provenance

__all__ = ["LSTM", "SequenceModel", "Transformer", "parse_where"]

SAMPLING_KEYS = ("length", "bars", "temperature", "top_k", "top_p", "grammar")
MAX_TOKENS_PER_BAR = 160  # a bar is closed after this many events; a chorale bar has ~60
_BANK = 20_000  # training condition rows kept in the model file to draw conditions from

COMMON_CONSTRAINTS: dict[str, ParamSpec] = {
    **DataModel._parameter_constraints,
    **TRAIN_CONSTRAINTS,
    "codec": ("choice", ("auto", "char", "smiles", "music")),
    "molecule_tokens": ("choice", ("smiles", "selfies")),
    "context": ("int", 8, 65_536),
    "max_items": ("int?", 1, 10**10),
    "segment_bars": ("int", 1, 1024),
    "sample_length": ("int", 1, 10**7),
    "sample_bars": ("int", 1, 4096),
    "temperature": ("float", 0.0, 100.0),
    "top_k": ("int?", 1, 10**7),
    "top_p": ("float?", 1e-9, 1.0),
    "grammar": ("bool",),
}


def parse_where(where: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `where` into (sampling options, conditions). Condition values: a number, a
    (low, high) pair, or text "x" / "low..high" (from the command line)."""
    options, conds = {}, {}
    for key, value in (where or {}).items():
        if key in SAMPLING_KEYS:
            if key == "grammar" and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ParameterError(f"--where grammar= takes true or false, got {value!r}")
                value = value.lower() in ("true", "1", "yes")
            elif isinstance(value, str):
                try:
                    value = int(value) if key in ("length", "bars", "top_k") else float(value)
                except ValueError as err:
                    raise ParameterError(f"--where {key}= needs a number, got {value!r}") from err
            options[key] = value
            continue
        if isinstance(value, str):
            lo, sep, hi = value.partition("..")
            try:
                value = (float(lo), float(hi)) if sep else float(value)
            except ValueError as err:
                raise ParameterError(
                    f"--where {key}= needs a number or a range low..high, got {value!r}"
                ) from err
        conds[key] = value
    return options, conds


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """Decode on one CPU thread, then restore the setting. One token at a time makes tiny
    matrix products whose thread hand-offs cost more than they save: on a busy 2-core
    machine a 6-layer model decoded 4.2 ms per token with 1 thread against 82 ms with 2."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_file(text: str) -> bool:
    """True when a string names an existing file (a long text is never a path)."""
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).is_file() or Path(text).is_dir()
    except OSError:
        return False


def _cosine_lr(step: int, frac: float, lr: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to lr/10 as training progresses (frac 0 -> 1)."""
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return lr * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


def split_piece(piece: Piece, bars: int) -> list[Piece]:
    """Cut a piece into consecutive pieces of `bars` bars (the last may be shorter)."""
    from genlab.data.sequences.codecs import Note

    spb = piece.steps_per_bar
    out = []
    for b0 in range(0, piece.bars, bars):
        lo, hi = b0 * spb, min(piece.bars, b0 + bars) * spb
        notes = [Note(n.onset - lo, n.pitch, min(n.duration, hi - n.onset))
                 for n in piece.notes if lo <= n.onset < hi]
        if notes:
            out.append(Piece(notes, (hi - lo) // spb, spb, name=piece.name))
    return out


class SequenceModel(TorchModule, DataModel):
    """Base of the sequence families (see the module docstring); one torch net in `net_`."""

    modality: ClassVar[str] = "sequence"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = COMMON_CONSTRAINTS
    codec_: Codec
    meta_: dict[str, Any]
    net_: nn.Module

    # -- data -----------------------------------------------------------------------------
    def _make_codec(self, kind: str, items: list[Any]) -> tuple[Codec, list[Any]]:
        if kind == "char":
            if not any(items) or not "".join(items).strip():
                raise DataError("the text is empty; give a text file with some text to learn from")
            text = "\n".join(items)  # several documents: one stream, a newline between
            return CharCodec.fit([text]), [text]
        if kind == "smiles":
            if not items:
                raise DataError("the SMILES column is empty; give at least one molecule")
            cls = SelfiesCodec if self.molecule_tokens == "selfies" else SmilesCodec
            return cls.fit(items), items
        if kind == "music":
            if not items:
                raise DataError("no pieces of music found; give MIDI/MusicXML files or chorales")
            meters = pd.Series([p.steps_per_bar for p in items]).value_counts()
            spb = int(meters.index[0])
            kept = [p for p in items if p.steps_per_bar == spb]
            if len(kept) < len(items):
                warnings.warn(f"{len(items) - len(kept)} pieces in another metre than the most "
                              f"common ({spb} sixteenths per bar) were left out", stacklevel=3)
            segments = [s for p in kept for s in split_piece(p, self.segment_bars)]
            return MusicCodec(spb), segments
        raise ParameterError(f"codec must be 'auto', 'char', 'smiles' or 'music', got {kind!r}")

    def _condition_matrix(self, items: list[str], table: pd.DataFrame | None,
                          names: Sequence[str]) -> np.ndarray:
        from genlab.data.sequences.molecules import PROPERTIES, properties

        cols = []
        lower = {str(c).lower(): c for c in (table.columns if table is not None else [])}
        missing = [n for n in names if n.lower() not in lower]
        computed = {}
        if missing:
            unknown = [n for n in missing if n.lower() not in PROPERTIES]
            if unknown:
                raise ParameterError(
                    f"condition(s) {unknown} are neither columns of the SMILES table nor "
                    f"RDKit properties; choose columns or {', '.join(PROPERTIES)}"
                )
            values = properties(items, [n.lower() for n in missing])
            computed = {n: values[:, j] for j, n in enumerate(missing)}
        for n in names:
            if n in computed:
                cols.append(computed[n])
            else:
                col = pd.to_numeric(table[lower[n.lower()]], errors="coerce")  # type: ignore[index]
                cols.append(col.to_numpy(float))
        return np.stack(cols, axis=1)

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: Any, conditions: Sequence[str] | None = None) -> SequenceModel:
        """Fit to a path (text, SMILES table, music) or a list of strings / Pieces;
        `conditions` names molecule properties to condition on (module docstring)."""
        rng = self._begin_fit()
        start = time.perf_counter()
        items, kind, table = read_sequences(data, self.codec)
        conditions = list(conditions or [])
        if conditions and kind != "smiles":
            raise ParameterError(f"conditions apply to molecules (SMILES), not to {kind} data")
        if self.max_items is not None and len(items) > self.max_items and kind != "char":
            keep = np.sort(rng.choice(len(items), self.max_items, replace=False))
            items = [items[i] for i in keep]
            table = table.iloc[keep].reset_index(drop=True) if table is not None else None
        fingerprint = items_fingerprint(items)
        n_items = len(items)
        codec, items = self._make_codec(kind, items)
        cond = None
        if conditions:
            cond = self._condition_matrix(items, table, conditions)
            ok = np.isfinite(cond).all(axis=1)
            if not ok.any():
                raise DataError("no molecule has finite values of the conditions; check them")
            items = [s for s, good in zip(items, ok, strict=True) if good]
            cond = cond[ok]
        self.codec_ = codec
        self.conditions_ = conditions
        self._fit_net(items, cond, rng)
        self._end_fit(start, n_items, fingerprint)
        return self

    def _fit_net(self, items: list[Any], cond: np.ndarray | None,
                 rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _base_meta(self, cond: np.ndarray | None, rng: np.random.Generator) -> dict[str, Any]:
        meta: dict[str, Any] = {"vocab": self.codec_.vocab_size, "n_cond": 0, "bank": 0}
        if cond is not None:
            mean, std = cond.mean(axis=0), cond.std(axis=0) + 1e-8
            bank = cond[rng.choice(len(cond), min(_BANK, len(cond)), replace=False)]
            meta.update(n_cond=cond.shape[1], bank=len(bank), cond_names=self.conditions_,
                        cond_mean=mean.tolist(), cond_std=std.tolist())
            self._bank = bank
        return meta

    def _encode_items(self, items: list[Any], unknown: str = "error") -> list[list[int]]:
        return [self.codec_.encode(x, unknown=unknown) + [EOS] for x in items]

    def _items_tensor(self, items: list[Any], cond: np.ndarray | None,
                      context: int | None) -> tuple[list[torch.Tensor], float]:
        seqs = self._encode_items(items)
        lengths = np.array([len(s) for s in seqs])
        keep = lengths <= context if context is not None else np.ones(len(seqs), bool)
        if not keep.any():
            raise DataError(f"every item is longer than the context of {context} tokens; "
                            "raise context")
        if not keep.all():
            warnings.warn(f"{int((~keep).sum())} items longer than the context of {context} "
                          "tokens were left out; raise context to keep them", stacklevel=3)
        seqs = [s for s, k in zip(seqs, keep, strict=True) if k]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
        tensors = [ids]
        if cond is not None:
            c = (cond[keep] - np.array(self.meta_["cond_mean"])) / np.array(self.meta_["cond_std"])
            tensors.append(torch.as_tensor(c, dtype=torch.float32))
        return tensors, float(lengths[keep].mean())

    # -- training ---------------------------------------------------------------------------
    def _train_with_schedule(self, row_loss: Any, tensors: list[torch.Tensor],
                             rng: np.random.Generator) -> None:
        """The shared loop (`fit_loop`) with this family's step: AdamW, warm-up and cosine
        decay over the epochs or the `max_minutes` budget, whichever ends first."""
        config = self.train_config()
        params = [p for p in self.net_.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = opt_cls(params, lr=config.lr, weight_decay=config.weight_decay,
                            betas=(0.9, 0.99))
        n = int(tensors[0].shape[0])
        n_train = n - (int(round(n * config.val_fraction)) if config.val_fraction and n >= 20
                       else 0)
        total = max(1, config.epochs * math.ceil(n_train / config.batch_size))
        budget = 60.0 * config.max_minutes if config.max_minutes else None
        began = time.perf_counter()
        gen_holder: list[torch.Generator | None] = [None]

        def train_step(batch: tuple[torch.Tensor, ...], step: int) -> float:
            if gen_holder[0] is None:
                gen_holder[0] = torch_generator(rng, batch[0].device)
            frac = step / total
            if budget:
                frac = max(frac, (time.perf_counter() - began) / budget)
            for group in optimizer.param_groups:
                group["lr"] = _cosine_lr(step, frac, config.lr, config.warmup_steps)
            optimizer.zero_grad(set_to_none=True)
            loss = row_loss(batch, gen_holder[0]).mean()
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            return float(loss.detach())

        self._train(lambda batch: row_loss(batch, None), tensors, rng, train_step=train_step)

    # -- conditions at sampling ---------------------------------------------------------------
    def _cond_for_sampling(self, n: int, conds: dict[str, Any],
                           rng: np.random.Generator) -> np.ndarray | None:
        names = list(getattr(self, "conditions_", []) or [])
        if not names:
            if conds:
                raise ParameterError(
                    f"this model was fitted without conditions, so --where {next(iter(conds))} "
                    "cannot apply; refit with --condition"
                )
            return None
        lower = {n.lower(): j for j, n in enumerate(names)}
        unknown = [k for k in conds if k.lower() not in lower]
        if unknown:
            raise ParameterError(f"unknown condition(s) {unknown}; this model conditions on "
                                 f"{names}")
        bank = self._bank
        ok = np.ones(len(bank), bool)
        points = {}
        for key, value in conds.items():
            j = lower[key.lower()]
            if isinstance(value, (tuple, list)):
                lo, hi = float(value[0]), float(value[1])
                ok &= (bank[:, j] >= lo) & (bank[:, j] <= hi)
                if not ok.any():
                    raise ParameterError(
                        f"no training molecule has {key} in [{lo}, {hi}] (with the other "
                        "conditions); widen the range"
                    )
            else:
                points[j] = float(value)
        rows = bank[rng.choice(np.flatnonzero(ok), n, replace=True)].copy()
        for j, v in points.items():
            rows[:, j] = v
        return rows

    def _standardise(self, cond: np.ndarray | None) -> torch.Tensor | None:
        if cond is None:
            return None
        c = (cond - np.array(self.meta_["cond_mean"])) / np.array(self.meta_["cond_std"])
        return torch.as_tensor(c, dtype=torch.float32, device=self.device_)

    # -- sampling ---------------------------------------------------------------------------
    def _options(self, options: dict[str, Any], **given: Any) -> dict[str, Any]:
        opts = {"length": self.sample_length, "bars": self.sample_bars,
                "temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                "grammar": self.grammar}
        opts.update({k: v for k, v in options.items() if v is not None})
        opts.update({k: v for k, v in given.items() if v is not None})
        for key, spec in (("length", ("int", 1, 10**7)), ("bars", ("int", 1, 4096)),
                          ("temperature", ("float", 0.0, 100.0)), ("top_k", ("int?", 1, 10**7)),
                          ("top_p", ("float?", 1e-9, 1.0)), ("grammar", ("bool",))):
            from genlab.models.base import _check_param

            if (msg := _check_param(key, opts[key], spec)) is not None:
                raise ParameterError(msg)
        return opts

    def _prefix_ids(self, prompt: str | None) -> list[int]:
        if prompt is None or prompt == "":
            return []
        if isinstance(self.codec_, MusicCodec):
            raise ParameterError("--prompt applies to text and molecule models, not to music")
        try:
            return self.codec_.encode(prompt)
        except (ParameterError, DataError) as err:
            raise ParameterError(f"the prompt cannot be used: {err}") from None

    def sample(
        self,
        n: int = 1,
        *,
        seed: int | None = None,
        prompt: str | None = None,
        where: dict[str, Any] | None = None,
        length: int | None = None,
        bars: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        grammar: bool | None = None,
        use_cache: bool = True,
        batch_size: int = 1000,
    ) -> list[Any]:
        """Draw `n` samples: strings for text and molecules (each starting with `prompt`),
        `Piece`s for music (`bars` bars each). `where` holds conditions (molecules) and/or
        sampling options; `use_cache=False` recomputes every step (for timing the cache).
        `grammar` (molecules; default: the model's `grammar`) masks tokens that would
        break the SMILES syntax (`genlab.models.sequence.grammar`)."""
        return self._sample(n, seed=seed, prompt=prompt, where=where, length=length, bars=bars,
                            temperature=temperature, top_k=top_k, top_p=top_p,
                            grammar=grammar, use_cache=use_cache, batch_size=batch_size)[0]

    def _sample(self, n: int, *, seed: int | None, prompt: str | None,
                where: dict[str, Any] | None, use_cache: bool = True, batch_size: int = 1000,
                **given: Any) -> tuple[list[Any], np.ndarray | None]:
        self._check_fitted()
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ParameterError(f"n must be a positive integer, got {n!r}")
        options, conds = parse_where(where)
        opts = self._options(options, **given)
        rng = np.random.default_rng(seed)
        prefix = self._prefix_ids(prompt)
        cond = self._cond_for_sampling(n, conds, rng)
        generator = torch_generator(rng, self.device_)
        out: list[Any] = []
        self.net_.eval()
        with one_thread(self.device_):
            for begin in range(0, n, batch_size):
                b = min(batch_size, n - begin)
                c = self._standardise(cond[begin:begin + b] if cond is not None else None)
                with torch.inference_mode():
                    rows = self._generate_batch(b, prefix, c, opts, generator, use_cache)
                out += [self._decode(r, prompt) for r in rows.cpu().numpy()]
        return out, cond

    def _max_new(self, prefix_len: int, opts: dict[str, Any]) -> int:
        codec = self.codec_
        if isinstance(codec, CharCodec):
            return int(opts["length"])
        if isinstance(codec, MusicCodec):
            return int(opts["bars"]) * (MAX_TOKENS_PER_BAR + 1) + 1
        ctx = getattr(self.net_, "context", None) or self.meta_.get("max_len", 256)
        return max(1, int(ctx) - prefix_len)

    def _stepper(self, b: int, cond: torch.Tensor | None, z: torch.Tensor | None,
                 use_cache: bool) -> Stepper:
        return Stepper(self.net_, b, cond=cond, z=z, use_cache=use_cache)

    def _generate_batch(self, b: int, prefix: list[int], cond: torch.Tensor | None,
                        opts: dict[str, Any], generator: torch.Generator, use_cache: bool,
                        z: torch.Tensor | None = None) -> torch.Tensor:
        codec = self.codec_
        music = isinstance(codec, MusicCodec)
        pre = torch.tensor([prefix] * b, dtype=torch.long, device=self.device_).view(b, -1)
        stepper = self._stepper(b, cond, z, use_cache)
        return generate(
            stepper, pre, self._max_new(len(prefix), opts), stop_at_eos=not codec.stream,
            temperature=float(opts["temperature"]), top_k=opts["top_k"], top_p=opts["top_p"],
            generator=generator, bar_id=codec.bar_id if music else None,  # type: ignore[attr-defined]
            bars=int(opts["bars"]) if music else None, max_per_bar=MAX_TOKENS_PER_BAR,
            note_ids=(codec.index["NOTE_0"], codec.index["NOTE_127"]) if music else None,
            grammar=SmilesGrammar(codec, b, self.device_)
            if type(codec) is SmilesCodec and opts["grammar"] else None,
            min_new=1 if isinstance(codec, SmilesCodec) and not prefix else 0)

    def _decode(self, ids: np.ndarray, prompt: str | None) -> Any:
        item = self.codec_.decode(ids)
        return item

    # -- scoring ----------------------------------------------------------------------------
    def _read_for_scoring(self, data: Any) -> tuple[list[Any], pd.DataFrame | None]:
        if isinstance(data, Piece) or (isinstance(data, str) and not _is_file(data)):
            data = [data]  # one item given as such, not a path
        items, _, table = read_sequences(data, self.codec_.kind)
        return items, table

    def _score_items(self, items: list[Any], table: pd.DataFrame | None,
                     batch_size: int = 256) -> list[np.ndarray]:
        """Per-token log-probabilities (EOS included for items) of each item."""
        self._check_fitted()
        names = list(getattr(self, "conditions_", []) or [])
        cond_all = self._condition_matrix(items, table, names) if names else None
        seqs = [self.codec_.encode(x, unknown="mark") + ([] if self.codec_.stream else [EOS])
                for x in items]
        out: list[np.ndarray] = []
        self.net_.eval()
        order = np.argsort([len(s) for s in seqs])  # similar lengths share a batch
        results: dict[int, np.ndarray] = {}
        for begin in range(0, len(seqs), batch_size):
            idx = order[begin:begin + batch_size]
            width = max(1, max(len(seqs[i]) for i in idx))
            ids = torch.full((len(idx), width), PAD, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i], dtype=torch.long)
            ids = ids.to(self.device_)
            unknown = ids == UNKNOWN
            c = self._standardise(cond_all[idx]) if cond_all is not None else None
            with torch.no_grad():
                lp = self._token_scores(ids.masked_fill(unknown, PAD), c)
            lp = lp.masked_fill(unknown, -math.inf)
            if c is not None:  # conditions that are not finite: no probability to give
                bad = ~torch.isfinite(c).all(dim=1)
                lp[bad] = math.nan
            lp = lp.cpu().numpy()
            for r, i in enumerate(idx):
                results[int(i)] = lp[r, :len(seqs[i])].astype(np.float64)
        out = [results[i] for i in range(len(seqs))]
        return out

    def _token_scores(self, ids: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return score_tokens(self.net_, ids, cond=cond)

    def token_log_prob(self, item: Any) -> np.ndarray:
        """Natural-log probability of each token of one item (a string or a Piece) given the
        ones before it; for molecules and music the last entry is the end token. A token
        never seen in training gets -inf (it has probability 0 under the model)."""
        items, table = self._read_for_scoring([item])
        return self._score_items(items, table)[0]

    def tokens(self, item: Any) -> list[str]:
        """The token strings of an item, aligned with `token_log_prob` (plus `<eos>`)."""
        toks = self.codec_.split(item)
        return toks + ([] if self.codec_.stream else ["<eos>"])

    def log_prob(self, data: Any) -> np.ndarray:
        """Natural-log probability of each item (a path, or a list of strings / Pieces; a
        text file is one item): the sum of its token log-probabilities (exact). For a
        conditioned molecule model it is conditional on each molecule's own properties."""
        items, table = self._read_for_scoring(data)
        return np.array([lp.sum() for lp in self._score_items(items, table)])

    def nats_per_token(self, data: Any) -> float:
        """Mean negative log-likelihood per token over `data` (nats per character for text)."""
        items, table = self._read_for_scoring(data)
        lps = self._score_items(items, table)
        return float(-np.concatenate(lps).mean())

    # -- persistence ----------------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return {**self.codec_.to_dict(), "conditions": list(getattr(self, "conditions_", []))}

    def _codec_from_dict(self, data: dict[str, Any]) -> None:
        self.codec_ = codec_from_dict(data)
        self.conditions_ = [str(c) for c in data.get("conditions", [])]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, tensors = TorchModule._state(self)
        if self.meta_.get("bank"):
            tensors["cond_bank"] = np.asarray(self._bank, dtype=np.float64)
        return meta, tensors

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        shapes = TorchModule._expected_shapes(self, meta)
        if meta.get("bank"):
            shapes["cond_bank"] = (int(meta["bank"]), int(meta["n_cond"]))
        return shapes

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        tensors = dict(tensors)
        bank = tensors.pop("cond_bank", None)
        TorchModule._restore(self, meta, tensors)
        if bank is not None:
            self._bank = np.asarray(bank, dtype=np.float64)

    # -- command line outputs --------------------------------------------------------------------
    def write_samples(
        self,
        output: str | os.PathLike[str],
        n: int,
        *,
        seed: int | None = None,
        where: dict[str, str] | None = None,
        prompt: str | None = None,
    ) -> str:
        """Write `n` samples: text to .txt (samples separated by a line of '='), molecules to
        .csv/.parquet (column `smiles`, plus the conditions used) or .smi/.txt (one per line),
        music to .mid/.midi/.musicxml/.xml (n > 1: numbered files) or to a folder."""
        from genlab.data.sequences.music import write_piece

        self._check_fitted()
        out = Path(output)
        items, cond = self._sample(n, seed=seed, prompt=prompt, where=where)
        prov = self.provenance(seed=seed, n=n, prompt=prompt, where=where or None)
        kind = self.codec_.kind
        suffix = out.suffix.lower()
        written: list[Path] = []
        if kind == "music":
            if suffix in (".mid", ".midi", ".musicxml", ".xml", ".mxl"):
                if suffix == ".mxl":
                    raise ParameterError("write music as .mid, .midi, .musicxml or .xml")
                paths = [out] if n == 1 else [out.with_name(f"{out.stem}-{i + 1:03d}{out.suffix}")
                                              for i in range(n)]
            elif suffix == "":
                paths = [out / f"sample-{i + 1:03d}.mid" for i in range(n)]
            else:
                raise ParameterError(f"unsupported output {out.name!r} for music; use a .mid or "
                                     ".musicxml file, or a folder")
            for piece, path in zip(items, paths, strict=True):
                written.append(write_piece(piece, path))
            what = f"{n} pieces of {items[0].bars} bars"
        elif kind == "smiles":
            if suffix in (".csv", ".parquet") or out.name.lower().endswith(".csv.gz"):
                df = pd.DataFrame({"smiles": items})
                if cond is not None:
                    for j, name in enumerate(self.conditions_):
                        df[f"target_{name}"] = cond[:, j]
                from genlab.data.readers import write_table

                written.append(write_table(df, out))
            elif suffix in (".smi", ".txt"):
                with atomic_path(out) as tmp:
                    tmp.write_text("".join(f"{s}\n" for s in items), encoding="utf-8")
                written.append(out)
            else:
                raise ParameterError(f"unsupported output {out.name!r} for molecules; use .csv, "
                                     ".parquet, .smi or .txt")
            what = f"{n} SMILES"
        else:
            if suffix not in (".txt", ".md", ""):
                raise ParameterError(f"unsupported output {out.name!r} for text; use a .txt file")
            sep = "\n" + "=" * 40 + "\n"
            with atomic_path(out) as tmp:
                tmp.write_text(sep.join(items) + "\n", encoding="utf-8")
            written.append(out)
            what = f"{n} text samples"
        side = write_provenance(out, prov)
        target = written[0] if len(written) == 1 else out
        return f"wrote {what} -> {target} (provenance: {side.name})"

    def write_report(
        self, path: str | os.PathLike[str], *, data: str | os.PathLike[str] | None = None
    ) -> Path:
        """Self-contained HTML report: samples (text, molecule grid, piano rolls), metrics
        against `data` when given (molecules: MOSES metrics; music: histograms)."""
        from genlab.report.sequences import write_sequence_report

        self._check_fitted()
        return write_sequence_report(self, path, data=data)


class Transformer(SequenceModel):
    """Decoder-only transformer (GPT-style) over characters, SMILES tokens or music events.

    Pre-norm blocks with rotary positions and causal `scaled_dot_product_attention`;
    sampling with temperature / top-k / top-p, a prompt, a key-value cache (one new row of
    attention per token) and batches. `log_prob` is exact: the sum of the token
    log-probabilities (`token_log_prob`).

    Args:
        layers, d_model, heads, dropout: network size (d_model / heads even).
        context: most positions the model sees (BOS included); longer texts slide
            (see `genlab.nets.sequence`).
        codec: "auto" (from the input), "char", "smiles" or "music".
        max_items: train on a random subset of at most this many items (molecules, music).
        segment_bars: music is cut into items of this many bars.
        epoch_size: training windows (text) or items per epoch; default: the text length
            / context, or every item once. An epoch ends with validation and the
            `max_minutes` check, so large data sets want an epoch_size (items are then
            drawn at random, validation uses a fixed held-out set).
        compile: train through `torch.compile` (needs a C compiler and about 20 s to
            compile; measured no faster on CPU for the small default model, it can help on
            a GPU).
        bf16: train with the matrix products in bfloat16 (`torch.autocast`): ~1.3x the
            tokens per second on a CPU with AVX512-BF16 (1.0x or slower without it), more
            on a GPU. Parameters, optimiser state, scoring and sampling stay float32.
        sample_length, sample_bars, temperature, top_k, top_p: sampling defaults.
        grammar: molecules: mask tokens that would break the SMILES syntax when sampling
            (branches and ring bonds closed, no dangling bond; see
            `genlab.models.sequence.grammar`); False samples the model unconstrained.
        molecule_tokens: "smiles" (SMILES tokens) or "selfies" (SELFIES tokens: every
            sampled string is a valid molecule; needs the `selfies` package). Data and
            samples are SMILES either way.
        epochs, batch_size, lr, ...: see `genlab.train.TrainConfig`; the learning rate
            decays on a cosine over the epochs or `max_minutes`, whichever ends first.
        seed: seeds initialisation and training.

    Example:
        >>> m = Transformer(layers=1, d_model=16, heads=2, context=16, epochs=1, seed=0)
        >>> m = m.fit(["to be or not to be, that is the question"] * 20)
        >>> len(m.sample(2, prompt="to ", length=5, seed=0)[0])
        8
    """

    family: ClassVar[str] = "autoregressive"
    summary: ClassVar[str] = "Decoder-only transformer with rotary positions and a KV cache"
    when_to_use: ClassVar[str] = "Text, molecules, music: the default and strongest family"
    conditioning: ClassVar[str] = "molecule properties (ranges or values)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **COMMON_CONSTRAINTS,
        "layers": ("int", 1, 64),
        "d_model": ("int", 4, 8192),
        "heads": ("int", 1, 128),
        "dropout": ("float", 0.0, 0.9),
        "epoch_size": ("int?", 1, 10**9),
        "compile": ("bool",),
        "bf16": ("bool",),
    }

    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 30,
        "batch_size": 64,
        "weight_decay": 0.01,
        "val_fraction": 0.05,
        "patience": 5,
        "grad_clip": 1.0,
        "warmup_steps": 100,
    }

    def __init__(
        self,
        *,
        layers: int = 4,
        d_model: int = 128,
        heads: int = 4,
        dropout: float = 0.0,
        compile: bool = False,
        bf16: bool = False,
        context: int = 256,
        codec: str = "auto",
        max_items: int | None = None,
        segment_bars: int = 8,
        epoch_size: int | None = None,
        sample_length: int = 500,
        sample_bars: int = 8,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        grammar: bool = True,
        molecule_tokens: str = "smiles",
        seed: int | None = None,
        **train: Any,
    ) -> None:
        self._init_params(locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ParameterError(f"d_model ({self.d_model}) must be a multiple of heads "
                                 f"({self.heads}) with an even size per head")

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return TransformerNet(int(meta["vocab"]), self.d_model, self.layers, self.heads,
                              int(meta["context"]), int(meta.get("n_cond", 0)), self.dropout)

    def _fit_net(self, items: list[Any], cond: np.ndarray | None,
                 rng: np.random.Generator) -> None:
        self.meta_ = {**self._base_meta(cond, rng), "context": self.context}
        self.net_ = self._build(self.meta_)
        _fit_autoregressive(self, items, cond, rng)


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

    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 30,
        "batch_size": 64,
        "weight_decay": 0.0,
        "val_fraction": 0.05,
        "patience": 5,
        "grad_clip": 1.0,
        "warmup_steps": 100,
    }

    def __init__(
        self,
        *,
        layers: int = 2,
        hidden: int = 256,
        dropout: float = 0.0,
        context: int = 256,
        codec: str = "auto",
        max_items: int | None = None,
        segment_bars: int = 8,
        epoch_size: int | None = None,
        sample_length: int = 500,
        sample_bars: int = 8,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        grammar: bool = True,
        molecule_tokens: str = "smiles",
        seed: int | None = None,
        **train: Any,
    ) -> None:
        self._init_params(locals())

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return LSTMNet(int(meta["vocab"]), self.hidden, self.layers, int(meta.get("n_cond", 0)),
                       self.dropout)

    def _fit_net(self, items: list[Any], cond: np.ndarray | None,
                 rng: np.random.Generator) -> None:
        self.meta_ = {**self._base_meta(cond, rng), "context": self.context}
        self.net_ = self._build(self.meta_)
        _fit_autoregressive(self, items, cond, rng)


def _fit_autoregressive(model: Any, items: list[Any], cond: np.ndarray | None,
                        rng: np.random.Generator) -> None:
    """Train an autoregressive net: random windows of a text stream, or padded items."""
    context = int(model.context)
    # the compiled module shares parameters with net_; only training runs through it
    net = torch.compile(model.net_) if getattr(model, "compile", False) else model.net_
    mixed = bool(getattr(model, "bf16", False))

    def autocast(ids: torch.Tensor, training: bool) -> Any:
        # only training steps (gen given); validation and scoring stay float32
        return torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=mixed and training)
    if model.codec_.stream:
        text = "\n".join(items)
        stream = torch.tensor(model.codec_.encode(text), dtype=torch.long)
        if stream.numel() < context + 1:
            raise DataError(f"the text has {stream.numel()} characters, fewer than the context "
                            f"of {context}; give more text or lower context")
        last = stream.numel() - context
        n_rows = model.epoch_size or max(2, last // context)
        # rows are slots. Validation slots (fit_loop holds out round(n_rows * val_fraction)
        # of them) score fixed windows at the end of the text, which training never sees;
        # training slots draw a fresh window start, uniform over the rest, at every step,
        # so an epoch of any size samples the whole text
        n_val = (int(round(n_rows * model.val_fraction))
                 if model.val_fraction and n_rows >= 20 else 0)
        n_tail = min(n_val, max(0, stream.numel() // context - 1))
        tail_begin = stream.numel() - n_tail * context
        train_last = max(0, tail_begin - context)
        val_starts = (tail_begin + torch.arange(n_tail) * context if n_tail
                      else torch.zeros(1, dtype=torch.long))
        offsets = torch.arange(context)
        holder: dict[str, torch.Tensor] = {}

        def row_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator | None) -> torch.Tensor:
            slots = batch[0]
            if "stream" not in holder or holder["stream"].device != slots.device:
                holder["stream"] = stream.to(slots.device)
                holder["offsets"] = offsets.to(slots.device)
                holder["val"] = val_starts.to(slots.device)
            data = holder["stream"]
            if gen is not None:
                s = torch.randint(0, train_last + 1, slots.shape, generator=gen,
                                  device=slots.device)
            else:
                s = holder["val"][slots % holder["val"].numel()]
            win = data[s[:, None] + holder["offsets"]]  # (B, context) targets
            bos = torch.full((s.shape[0], 1), BOS, dtype=torch.long, device=s.device)
            with autocast(win, gen is not None):
                logits = net(torch.cat([bos, win[:, :-1]], dim=1))
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), win.reshape(-1),
                                  reduction="none")
            return nll.view(win.shape).mean(dim=1)

        model.meta_["stream_tokens"] = int(stream.numel())
        model.meta_["validation_tail_tokens"] = int(stream.numel() - tail_begin)
        model._train_with_schedule(row_loss, [torch.arange(n_rows)], rng)
        return
    tensors, mean_len = model._items_tensor(items, cond, context)
    model.meta_["max_len"] = int(tensors[0].shape[1])
    pick = _epoch_slots(model, tensors, rng)

    def item_loss(batch: tuple[torch.Tensor, ...], gen: torch.Generator | None) -> torch.Tensor:
        batch = pick(batch, gen)
        ids = batch[0]
        c = batch[1] if len(batch) > 1 else None
        bos = torch.full((ids.shape[0], 1), BOS, dtype=torch.long, device=ids.device)
        if net is model.net_:  # trim padding shared by the batch (compiled: keep one shape)
            ids = ids[:, :int((ids != PAD).sum(dim=1).max())]
        with autocast(ids, gen is not None):
            logits = net(torch.cat([bos, ids[:, :-1]], dim=1), c)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1),
                              reduction="none", ignore_index=PAD)
        # per-row sum over its tokens, scaled so the mean is in nats per token
        return nll.view(ids.shape).sum(dim=1) / mean_len

    model._train_with_schedule(item_loss, pick.rows, rng)


class _Slots:
    """Rows that `fit_loop` batches: the items themselves, or, with an `epoch_size`, slot
    numbers: training slots draw random training items, validation slots map to a fixed
    held-out set (so an epoch can be shorter than the data and the split stays clean)."""

    def __init__(self, tensors: list[torch.Tensor], epoch_size: int | None,
                 val_fraction: float, rng: np.random.Generator) -> None:
        n = int(tensors[0].shape[0])
        self.tensors = tensors
        if epoch_size is None or epoch_size >= n:
            self.rows, self.train, self.val = tensors, None, None
            return
        n_val = int(round(epoch_size * val_fraction)) if val_fraction and epoch_size >= 20 else 0
        perm = torch.as_tensor(rng.permutation(n))
        self.val, self.train = perm[:n_val], perm[n_val:]
        self.rows = [torch.arange(epoch_size)]

    def __call__(self, batch: tuple[torch.Tensor, ...],
                 gen: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        if self.train is None or self.val is None:
            return batch
        slots = batch[0]
        if gen is not None:
            pos = torch.randint(0, self.train.numel(), slots.shape, generator=gen,
                                device=slots.device)
            idx = self.train.to(slots.device)[pos]
        else:
            idx = self.val.to(slots.device)[slots % max(1, self.val.numel())]
        if self.tensors[0].device != slots.device:  # once: keep the data where training runs
            self.tensors = [t.to(slots.device) for t in self.tensors]
        return tuple(t[idx] for t in self.tensors)


def _epoch_slots(model: Any, tensors: list[torch.Tensor], rng: np.random.Generator) -> _Slots:
    return _Slots(tensors, model.epoch_size, model.val_fraction, rng)
