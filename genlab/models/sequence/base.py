"""`SequenceModel`: what the sequence families share on the one model contract (fitting,
sampling, scoring, the model file); families fill only the network hooks (`_build`, and
`_fit_net` where training is not autoregressive).

Data kinds (chosen from the input, or by `codec=`):
- text (`char`): the corpus is one stream; training draws windows of `context` characters,
  each read after a BOS token. Samples are the prompt plus `length` characters.
- molecules (`smiles`): one item per SMILES, `[BOS] tokens [EOS]`.
- music (`music`): pieces cut into items of `segment_bars` bars; samples hold exactly the
  requested number of bars (EOS is masked before, a further bar line ends the piece, and
  the last bar holds at least one note, since MIDI cannot store trailing silence).

Property-conditioned molecules: `fit(data, conditions=["qed"])` takes the column of that
name from the table, or computes `qed`, `logp`, `mw` or `tpsa` with RDKit. The standardised
values are added to every token embedding. At sampling, `conditions={"qed": (0.8, 0.9)}`
(command line: `--where qed=0.8..0.9`) conditions on the values of training molecules in
that range (so several conditions stay jointly plausible); `conditions={"qed": 0.85}` on
that value, other conditions drawn from training molecules. Without conditions they are
drawn from the training molecules: the model's marginal distribution.

Sample options (`sample(n, **options)`, or `--where name=value`): `prompt` (text and
molecules start with it), `length` (text characters), `bars` (music), `temperature`,
`top_k`, `top_p`, `grammar` (molecules: mask tokens that break the SMILES syntax,
`genlab.models.sequence.grammar`), `use_cache` (False recomputes every step, for timing
the cache) and `batch_size` (rows decoded together). Unset options take the model's
defaults (`sample_length`, `sample_bars`, `temperature`, ...).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from genlab.data.sequences.codecs import (
    EOS,
    PAD,
    UNKNOWN,
    CharCodec,
    Codec,
    MusicCodec,
    Piece,
    SmilesCodec,
    codec_from_dict,
)
from genlab.data.sequences.readers import items_fingerprint, read_sequences
from genlab.errors import DataError, ParameterError
from genlab.models.base import Conditions, Model
from genlab.models.neural import TorchModule, one_thread
from genlab.models.sequence.data import condition_matrix, is_file, make_codec
from genlab.models.sequence.grammar import SmilesGrammar
from genlab.models.sequence.sampling import (
    MAX_TOKENS_PER_BAR,
    SAMPLE_OPTIONS,
    cond_for_sampling,
    condition_from_text,
    text_watermark,
)
from genlab.models.sequence.training import fit_autoregressive
from genlab.nets.sequence import Stepper, generate, score_tokens
from genlab.params import ParamSpec
from genlab.provenance import attach
from genlab.seeding import torch_generator

__all__ = ["COMMON_CONSTRAINTS", "SequenceModel"]

_BANK = 20_000  # training condition rows kept in the model file to draw conditions from

COMMON_CONSTRAINTS: dict[str, ParamSpec] = {
    **Model._parameter_constraints,
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


class SequenceModel(TorchModule, Model):
    """Base of the sequence families (see the module docstring); one torch net in `net_`."""

    modality: ClassVar[str] = "sequence"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = COMMON_CONSTRAINTS
    sample_options: ClassVar[dict[str, ParamSpec]] = SAMPLE_OPTIONS
    # what every sequence family takes besides its network's sizes (docstrings of the
    # families); checked by COMMON_CONSTRAINTS
    modality_params: ClassVar[dict[str, Any]] = {
        "context": 256, "codec": "auto", "max_items": None, "segment_bars": 8,
        "epoch_size": None, "sample_length": 500, "sample_bars": 8, "temperature": 1.0,
        "top_k": None, "top_p": None, "grammar": True, "molecule_tokens": "smiles",
    }
    train_defaults: ClassVar[dict[str, Any]] = {
        "epochs": 30, "batch_size": 64, "weight_decay": 0.0, "val_fraction": 0.05,
        "patience": 5, "grad_clip": 1.0, "warmup_steps": 100,
    }
    codec_: Codec
    meta_: dict[str, Any]
    net_: nn.Module

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, data: Any, conditions: list[str], rng: np.random.Generator,
             **options: Any) -> tuple[int, str]:
        if options:
            raise ParameterError(f"{type(self).__name__}.fit takes no option(s) "
                                 f"{sorted(options)} for sequence data")
        items, kind, table = read_sequences(data, self.codec)  # type: ignore[attr-defined]
        if conditions and kind != "smiles":
            raise ParameterError(f"conditions apply to molecules (SMILES), not to {kind} data")
        limit = self.max_items  # type: ignore[attr-defined]
        if limit is not None and len(items) > limit and kind != "char":
            keep = np.sort(rng.choice(len(items), limit, replace=False))
            items = [items[i] for i in keep]
            table = table.iloc[keep].reset_index(drop=True) if table is not None else None
        fingerprint = items_fingerprint(items)
        n_items = len(items)
        codec, items = make_codec(kind, items,
                                  molecule_tokens=self.molecule_tokens,  # type: ignore[attr-defined]
                                  segment_bars=self.segment_bars)  # type: ignore[attr-defined]
        cond = None
        if conditions:
            cond = condition_matrix(items, table, conditions)
            ok = np.isfinite(cond).all(axis=1)
            if not ok.any():
                raise DataError("no molecule has finite values of the conditions; check them")
            items = [s for s, good in zip(items, ok, strict=True) if good]
            cond = cond[ok]
        self.codec_ = codec
        self._fit_net(items, cond, rng)
        return n_items, fingerprint

    def _fit_net(self, items: list[Any], cond: np.ndarray | None,
                 rng: np.random.Generator) -> None:
        """Build the network and train it (autoregressive next-token loss by default)."""
        self.meta_ = {**self._base_meta(cond, rng), "context": self.context}  # type: ignore[attr-defined]
        self.net_ = self._new_net(rng)
        fit_autoregressive(self, items, cond, rng)

    def _base_meta(self, cond: np.ndarray | None, rng: np.random.Generator) -> dict[str, Any]:
        meta: dict[str, Any] = {"vocab": self.codec_.vocab_size, "n_cond": 0, "bank": 0}
        if cond is not None:
            mean, std = cond.mean(axis=0), cond.std(axis=0) + 1e-8
            bank = cond[rng.choice(len(cond), min(_BANK, len(cond)), replace=False)]
            meta.update(n_cond=cond.shape[1], bank=len(bank), cond_names=self.conditions_,
                        cond_mean=mean.tolist(), cond_std=std.tolist())
            self._bank = bank
        return meta

    # -- sampling ---------------------------------------------------------------------------
    def _condition_from_text(self, name: str, text: str) -> Any:
        return condition_from_text(name, text)

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The sample options with the model's defaults for those not given."""
        # `sample_length` is the text default; items (molecules) default to a cap from the
        # training items, so `length` reaches `_max_new` only when the caller gives it
        text = isinstance(getattr(self, "codec_", None), CharCodec)
        opts = {"prompt": None,
                "length": self.sample_length if text else None,  # type: ignore[attr-defined]
                "bars": self.sample_bars, "temperature": self.temperature,  # type: ignore[attr-defined]
                "top_k": self.top_k, "top_p": self.top_p,  # type: ignore[attr-defined]
                "grammar": self.grammar, "use_cache": True, "batch_size": 1000}  # type: ignore[attr-defined]
        opts.update({k: v for k, v in options.items() if v is not None})
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

    def _sample(self, n: int, conditions: Conditions, rng: np.random.Generator,
                **options: Any) -> list[Any]:
        """Strings for text and molecules (each starting with the prompt), `Piece`s for
        music; the condition rows used go to `attrs["targets"]` (for the writer)."""
        opts = self._options(options)
        prefix = self._prefix_ids(opts["prompt"])
        cond = cond_for_sampling(self.conditions_, getattr(self, "_bank", None), n,
                                 conditions, rng)
        generator = torch_generator(rng, self.device_)
        out: list[Any] = []
        step = int(opts["batch_size"])
        with one_thread(self.device_), torch.inference_mode():
            for begin in range(0, n, step):
                b = min(step, n - begin)
                c = self._standardise(cond[begin:begin + b] if cond is not None else None)
                rows = self._generate_batch(b, prefix, c, opts, generator, opts["use_cache"])
                out += [self.codec_.decode(r) for r in rows.cpu().numpy()]
        return attach(out, {}, kind=self.codec_.kind,
                      targets=None if cond is None else cond.tolist(),
                      condition_names=list(self.conditions_))

    def _standardise(self, cond: np.ndarray | None) -> torch.Tensor | None:
        if cond is None:
            return None
        c = (cond - np.array(self.meta_["cond_mean"])) / np.array(self.meta_["cond_std"])
        return torch.as_tensor(c, dtype=torch.float32, device=self.device_)

    def _max_new(self, prefix_len: int, opts: dict[str, Any]) -> int:
        codec = self.codec_
        if isinstance(codec, CharCodec):
            return int(opts["length"])
        if isinstance(codec, MusicCodec):
            return int(opts["bars"]) * (MAX_TOKENS_PER_BAR + 1) + 1
        ctx = getattr(self.net_, "context", None) or self.meta_.get("max_len", 256)
        room = max(1, int(ctx) - prefix_len)
        if opts.get("length") is not None:  # an explicit cap on the tokens generated
            return min(room, int(opts["length"]))
        # without one, half as long again as the longest training item (max_len counts its
        # EOS): a sample that never draws EOS cannot keep a whole batch decoding to the
        # context's end
        longest = int(self.meta_.get("max_len", ctx)) - 1
        return min(room, max(1, math.ceil(1.5 * longest)))

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
            if type(codec) is SmilesCodec and opts["grammar"] else text_watermark(self, b, opts),
            min_new=1 if isinstance(codec, SmilesCodec) and not prefix else 0)

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """`Model.provenance`, with the text watermark of the samples just drawn."""
        info = self.__dict__.pop("_watermark_info", None)
        return super().provenance(**extra, **({"watermark": info} if info else {}))

    # -- scoring ----------------------------------------------------------------------------
    def _read_for_scoring(self, data: Any) -> tuple[list[Any], pd.DataFrame | None]:
        self._check_fitted()
        if isinstance(data, Piece) or (isinstance(data, str) and not is_file(data)):
            data = [data]  # one item given as such, not a path
        items, _, table = read_sequences(data, self.codec_.kind)
        return items, table

    def _score_items(self, items: list[Any], table: pd.DataFrame | None,
                     batch_size: int = 256) -> list[np.ndarray]:
        """Per-token log-probabilities (EOS included for items) of each item."""
        self._check_fitted()
        names = list(self.conditions_)
        cond_all = condition_matrix(items, table, names) if names else None
        seqs = [self.codec_.encode(x, unknown="mark") + ([] if self.codec_.stream else [EOS])
                for x in items]
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
                lp[~torch.isfinite(c).all(dim=1)] = math.nan
            lp = lp.cpu().numpy()
            for r, i in enumerate(idx):
                results[int(i)] = lp[r, :len(seqs[i])].astype(np.float64)
        return [results[i] for i in range(len(seqs))]

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

    def _log_prob(self, data: Any, conditions: Conditions | None, **options: Any) -> np.ndarray:
        """The sum of each item's token log-probabilities (exact; a text file is one item).
        A conditioned molecule model scores each molecule under its own properties."""
        self._check_score_args(conditions, options)
        items, table = self._read_for_scoring(data)
        return np.array([lp.sum() for lp in self._score_items(items, table)])

    def _check_score_args(self, conditions: Conditions | None, options: dict[str, Any]) -> None:
        if conditions:
            raise ParameterError(
                "sequence log_prob scores each molecule under its own properties; give them "
                "as columns of a SMILES table instead of conditions=")
        if options:
            raise ParameterError(f"{type(self).__name__}.log_prob takes no option(s) "
                                 f"{sorted(options)}")

    def nats_per_token(self, data: Any) -> float:
        """Mean negative log-likelihood per token over `data` (nats per character for text)."""
        items, table = self._read_for_scoring(data)
        lps = self._score_items(items, table)
        return float(-np.concatenate(lps).mean())

    # -- the model file -------------------------------------------------------------------------
    def _codec_dict(self) -> dict[str, Any]:
        return {**self.codec_.to_dict(), "conditions": list(self.conditions_)}

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
