"""Networks of the sequence families and the decoding they share.

- `TransformerNet`: decoder-only, pre-norm blocks, rotary positions (Su et al. 2021),
  causal attention through `scaled_dot_product_attention`, tied input/output embeddings
  and a key-value cache (`KVCache`) so a new token costs one row of attention, O(n).
- `LSTMNet`: embedding, stacked LSTM, linear head (the classic CharRNN baseline).
- `VAENet`: bidirectional-GRU encoder to a Gaussian latent, GRU decoder fed the latent at
  every step (Bowman et al. 2016; Gomez-Bombarelli et al. 2018 for molecules).

A condition vector (property values, standardised) is projected and added to every token
embedding, so conditioning costs nothing at decoding time.

Windows: a transformer sees at most `context` positions (BOS included). Longer texts are
scored and generated with one rule (`window_start`): token t is predicted from BOS plus
the tokens since the window start s_k (at most context - 1 of them); windows advance by
context - context // 2, so a new window starts with the last half of the old one.
Scoring and sampling follow the same rule, so `log_prob` is exactly the probability of
what sampling draws.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.sequences.codecs import BOS, EOS, PAD

__all__ = ["LSTMNet", "Stepper", "TransformerNet", "VAENet", "generate", "sample_logits",
           "score_tokens", "window_start"]


def _rotary_tables(length: int, head_dim: int, base: float = 10_000.0) -> tuple[torch.Tensor, ...]:
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv)  # (T, hd/2)
    return torch.cos(angles), torch.sin(angles)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, H, T, hd); rotate pairs (x1, x2) = halves, cos/sin: (T, hd/2)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class KVCache:
    """Per-layer key/value buffers of `context` positions, filled left to right."""

    def __init__(self, layers: int, batch: int, heads: int, context: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        shape = (batch, heads, context, head_dim)
        self.k = [torch.empty(shape, device=device, dtype=dtype) for _ in range(layers)]
        self.v = [torch.empty(shape, device=device, dtype=dtype) for _ in range(layers)]
        self.length = 0


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4)
        q, k = _rotate(qkv[:2], cos, sin)  # q and k rotated in one go: fewer small ops
        v = qkv[2]
        causal = True
        if cache is not None:
            start = cache.length
            cache.k[layer][:, :, start:start + t] = k
            cache.v[layer][:, :, start:start + t] = v
            k = cache.k[layer][:, :, :start + t]
            v = cache.v[layer][:, :, :start + t]
            # a prefill from an empty cache is plain causal; one new token sees everything
            if start > 0 and t > 1:
                raise ValueError("the cache is filled either from empty or one token at a time")
            causal = start == 0 and t > 1
        att = F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, dropout_p=self.dropout if self.training else 0.0)
        x = x + self._drop(self.proj(att.transpose(1, 2).reshape(b, t, d)))
        return x + self._drop(self.mlp(self.ln2(x)))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        # no module call when there is nothing to drop: decoding is bound by per-op overhead
        return self.drop(x) if self.training and self.dropout > 0 else x


class TransformerNet(nn.Module):
    """Decoder-only transformer over token ids (see the module docstring)."""

    def __init__(self, vocab: int, d_model: int, layers: int, heads: int, context: int,
                 n_cond: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads or (d_model // heads) % 2:
            raise ValueError("d_model must be a multiple of heads with an even head size")
        self.context, self.heads, self.head_dim = context, heads, d_model // heads
        self.embed = nn.Embedding(vocab, d_model)
        self.cond = nn.Linear(n_cond, d_model) if n_cond else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied: fewer parameters, better small models
        cos, sin = _rotary_tables(context, self.head_dim)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for block in self.blocks:  # GPT-2: scale residual projections by depth
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def _embed(self, ids: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = self.embed(ids)
        if self.cond is not None and cond is not None:
            x = x + self.cond(cond)[:, None, :]
        return self.drop(x) if self.training and self.drop.p > 0 else x

    def forward(self, ids: torch.Tensor, cond: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, V) for ids (B, T); with a cache, ids continue what it holds."""
        start = cache.length if cache is not None else 0
        t = ids.shape[1]
        if start + t > self.context:
            raise ValueError(f"{start + t} positions exceed the context of {self.context}")
        cos, sin = self.cos[start:start + t], self.sin[start:start + t]
        x = self._embed(ids, cond)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i)
        if cache is not None:
            cache.length += t
        return self.head(self.ln(x))

    def new_cache(self, batch: int) -> KVCache:
        """An empty cache for `batch` sequences."""
        w = self.embed.weight
        return KVCache(len(self.blocks), batch, self.heads, self.context, self.head_dim,
                       w.device, w.dtype)


class LSTMNet(nn.Module):
    """Embedding, stacked LSTM, linear head; no context limit."""

    context = None

    def __init__(self, vocab: int, hidden: int, layers: int, n_cond: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.cond = nn.Linear(n_cond, hidden) if n_cond else None
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, cond: torch.Tensor | None = None,
                state: Any = None) -> torch.Tensor:
        """Logits (B, T, V); `state` (a one-item list) carries the LSTM state across calls."""
        x = self.embed(ids)
        if self.cond is not None and cond is not None:
            x = x + self.cond(cond)[:, None, :]
        h = state[0] if state is not None else None
        out, h = self.lstm(x, h)
        if state is not None:
            state[0] = h
        return self.head(out)


class VAENet(nn.Module):
    """GRU encoder to (mu, log variance) of a latent z; GRU decoder conditioned on z."""

    context = None

    def __init__(self, vocab: int, hidden: int, latent: int, layers: int = 1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, padding_idx=PAD)
        self.encoder = nn.GRU(hidden, hidden, layers, batch_first=True, bidirectional=True)
        self.to_stats = nn.Linear(2 * hidden * layers, 2 * latent)
        self.to_hidden = nn.Linear(latent, hidden * layers)
        self.decoder = nn.GRU(hidden + latent, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)
        self.layers, self.hidden, self.latent = layers, hidden, latent

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(mu, logvar) of q(z | ids); ids (B, T) padded with PAD, `lengths` its real lengths."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # (2*layers, B, H)
        stats = self.to_stats(h.transpose(0, 1).reshape(ids.shape[0], -1))
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar.clamp(-12, 8)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder's initial hidden state from z."""
        h = torch.tanh(self.to_hidden(z))
        return h.view(z.shape[0], self.layers, self.hidden).transpose(0, 1).contiguous()

    def forward(self, ids: torch.Tensor, z: torch.Tensor, state: Any = None) -> torch.Tensor:
        """Decoder logits (B, T, V) for input ids given z; `state` as in `LSTMNet`."""
        x = torch.cat([self.embed(ids), z[:, None, :].expand(-1, ids.shape[1], -1)], dim=-1)
        h = state[0] if state is not None and state[0] is not None else self.initial_state(z)
        out, h = self.decoder(x, h)
        if state is not None:
            state[0] = h
        return self.head(out)


# -- windows, scoring and decoding ---------------------------------------------------------------
def window_start(t: int, context: int | None) -> int:
    """Start s_k of the window that predicts content token t (see the module docstring)."""
    if context is None or t <= context - 1:
        return 0
    stride = context - context // 2
    # smallest k with t <= s_k + context - 1 (BOS + content[s_k:t] fits), s_k = k * stride
    return -(-(t - (context - 1)) // stride) * stride


class Stepper:
    """Feeds tokens to a network and returns the next-token logits, one rule for every
    family: the transformer with a KV cache (or, `use_cache=False`, a full forward pass of
    the window each step), recurrent nets with their carried state."""

    def __init__(self, net: nn.Module, batch: int, *, cond: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, use_cache: bool = True) -> None:
        self.net, self.batch, self.cond, self.z = net, batch, cond, z
        self.use_cache = use_cache
        self.context = getattr(net, "context", None) if isinstance(net, TransformerNet) else None
        device = next(net.parameters()).device
        self.content = torch.empty(batch, 0, dtype=torch.long, device=device)
        self.bos = torch.full((batch, 1), BOS, dtype=torch.long, device=device)
        self.cache: KVCache | None = None
        self.window = -1
        self.state: list[Any] = [None]
        self.started = False

    def _call(self, ids: torch.Tensor, **kw: Any) -> torch.Tensor:
        if isinstance(self.net, VAENet):
            return self.net(ids, self.z, **kw)
        return self.net(ids, self.cond, **kw)

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append content tokens (B, L) (L may be 0 for the first call); return the logits
        (B, V) of the next token."""
        self.content = torch.cat([self.content, tokens], dim=1)
        if not isinstance(self.net, TransformerNet):
            ids = tokens if self.started else torch.cat([self.bos, tokens], dim=1)
            self.started = True
            return self._call(ids, state=self.state)[:, -1]
        t = self.content.shape[1]
        s = window_start(t, self.context)
        if not self.use_cache:
            return self._call(torch.cat([self.bos, self.content[:, s:]], dim=1))[:, -1]
        if s != self.window or self.cache is None or tokens.shape[1] > 1 and self.cache.length:
            self.cache = self.net.new_cache(self.batch)
            self.window = s
            return self._call(torch.cat([self.bos, self.content[:, s:]], dim=1),
                              cache=self.cache)[:, -1]
        return self._call(tokens, cache=self.cache)[:, -1]


def score_tokens(net: nn.Module, content: torch.Tensor, *, cond: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                 rows_per_pass: int = 64) -> torch.Tensor:
    """Log-probability (B, T) of each content token (B, T) given BOS and the tokens before
    it, under the window rule; positions where `mask` is False get 0. Windows of equal
    length are scored together, `rows_per_pass` at a time (a long text is many windows)."""
    b, t = content.shape
    context = net.context if isinstance(net, TransformerNet) else None
    out = torch.zeros(b, t, device=content.device)
    windows: list[tuple[int, int, int]] = []  # (start s_k, first scored, end)
    first, s = 0, 0
    while first < t:
        end = t if context is None else min(t, s + context)
        windows.append((s, first, end))
        first = end
        s = window_start(first, context)
    by_length: dict[int, list[tuple[int, int, int]]] = {}
    for w in windows:
        by_length.setdefault(w[2] - w[0], []).append(w)
    for length, group in by_length.items():
        ids = torch.cat([content[:, s:end] for s, _, end in group], dim=0)  # (len(group)*B, L)
        extra = cond.repeat(len(group), 1) if cond is not None else None
        lat = z.repeat(len(group), 1) if z is not None else None
        scores = []
        for r in range(0, ids.shape[0], rows_per_pass):
            tgt = ids[r:r + rows_per_pass]
            inp = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
            logits = (net(inp, lat[r:r + rows_per_pass]) if isinstance(net, VAENet)  # type: ignore[index]
                      else net(inp, extra[r:r + rows_per_pass] if extra is not None else None))
            lp = torch.log_softmax(logits.float(), dim=-1)
            scores.append(lp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0])
        tok = torch.cat(scores, dim=0).view(len(group), b, length)
        for k, (s, first, end) in enumerate(group):
            out[:, first:end] = tok[k, :, first - s:]
    if mask is not None:
        out = out.masked_fill(~mask, 0.0)
    return out


def sample_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Draw one id per row from logits (B, V) with temperature, top-k and nucleus (top-p)
    truncation; temperature 0 is greedy."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    if temperature != 1.0:
        logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token once the tokens before it already cover top_p (the first always stays)
        drop = (probs.cumsum(dim=-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, -math.inf)
        logits = torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def generate(stepper: Stepper, prefix: torch.Tensor, max_new: int, *, stop_at_eos: bool,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, bar_id: int | None = None,
             bars: int | None = None, max_per_bar: int = 160,
             note_ids: tuple[int, int] | None = None, grammar: Any = None,
             min_new: int = 0) -> torch.Tensor:
    """Sample up to `max_new` tokens after `prefix` (B, L) in one batch; returns (B, L + n)
    with PAD after a row's EOS. With `bar_id` and `bars`, EOS is forbidden until a row holds
    `bars` BAR tokens, a further BAR ends the row, and a bar longer than `max_per_bar`
    events is closed by forcing BAR (so every piece has exactly `bars` bars). With
    `note_ids` (first, last id of note onsets) the last bar cannot end before a note
    starts in it: MIDI cannot hold trailing silence, so an empty last bar would be lost.
    A `grammar` (`genlab.models.sequence.grammar.SmilesGrammar`) masks tokens that would break
    the syntax, given the prefix and each token drawn. EOS is not drawn before `min_new`
    new tokens (an empty molecule is no molecule)."""
    logits = stepper.feed(prefix)
    if grammar is not None:
        grammar.feed(prefix)
    rows = [prefix]
    b = prefix.shape[0]
    done = torch.zeros(b, dtype=torch.bool, device=prefix.device)
    bar_count = (prefix == bar_id).sum(dim=1) if bar_id is not None else None
    since_bar = torch.zeros(b, dtype=torch.long, device=prefix.device)
    noted = torch.zeros(b, dtype=torch.bool, device=prefix.device)  # a note in this bar yet
    # tokens never drawn, as one additive mask: decoding a small model is bound by the
    # number of tensor operations per step, not by their size
    ban = torch.zeros(logits.shape[-1], device=logits.device)
    ban[[PAD, BOS] + ([] if stop_at_eos else [EOS])] = -math.inf
    for step in range(max_new):
        logits = logits.float() + ban
        if step < min_new:
            logits[:, EOS] = -math.inf
        if bar_count is not None:
            force = since_bar >= max_per_bar
            logits[force] = torch.where(
                torch.arange(logits.shape[1], device=logits.device) == bar_id, 0.0, -math.inf)
            if stop_at_eos and bars is not None:
                logits[bar_count < bars, EOS] = -math.inf
                if note_ids is not None:
                    empty_end = (bar_count >= bars) & ~noted & ~force
                    logits[empty_end, EOS] = -math.inf
                    logits[empty_end, bar_id] = -math.inf
        if grammar is not None:
            logits = grammar.mask(logits)
        tok = sample_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                            generator=generator)
        if grammar is not None:
            grammar.feed(tok[:, None])
        if bar_count is not None and bars is not None:
            over = (tok == bar_id) & (bar_count >= bars)
            tok = torch.where(over, torch.full_like(tok, EOS), tok)
            bar_count = bar_count + (tok == bar_id).long()
            since_bar = torch.where(tok == bar_id, 0, since_bar + 1)
            if note_ids is not None:
                is_note = (tok >= note_ids[0]) & (tok <= note_ids[1])
                noted = torch.where(tok == bar_id, False, noted | is_note)
        tok = torch.where(done, torch.full_like(tok, PAD), tok)
        rows.append(tok[:, None])
        done = done | (tok == EOS)
        if bool(done.all()):
            break
        logits = stepper.feed(tok[:, None])
    return torch.cat(rows, dim=1)
