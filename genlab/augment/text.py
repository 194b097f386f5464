"""Classic text augmentation, EDA (Wei & Zou, 2019): synonym replacement, random insertion,
random swap, random deletion, and sentence shuffling.

No thesaurus is downloaded: synonyms are neighbours learned from the user's own corpus
(`CorpusSynonyms`): words that appear in the same contexts. Each word is described by its
positive pointwise mutual information with the words around it (a window of two either
side), reduced with scikit-learn's TruncatedSVD; a word's synonyms are its nearest
neighbours by cosine. Common function words (scikit-learn's English stop-word list) are
never replaced. On small corpora these neighbours are related words rather than true
synonyms (a name for a name, a verb for a verb), which is what EDA needs: a plausible
variation that keeps the label.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from genlab.errors import DataError, ParameterError

__all__ = ["EDA", "CorpusSynonyms", "tokenize"]

_TOKEN = re.compile(r"[A-Za-z']+|[0-9]+|[^\sA-Za-z0-9']")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


def tokenize(text: str) -> list[str]:
    """Words, numbers and punctuation marks of `text`, in order."""
    return _TOKEN.findall(text)


def _detokenize(tokens: list[str]) -> str:
    out = ""
    for t in tokens:
        glue = out and not (len(t) == 1 and not t.isalnum() and t not in "(\"'")
        out += (" " if glue else "") + t
    return out


@dataclass
class CorpusSynonyms:
    """Neighbours of each word in the corpus it was fitted on (see the module docstring)."""

    neighbours: int = 5
    min_count: int = 2
    dims: int = 64
    window: int = 2
    table_: dict[str, list[str]] = field(default_factory=dict)

    def fit(self, texts: Iterable[str], seed: int = 0) -> CorpusSynonyms:
        """Learn neighbours from `texts` (the training texts only)."""
        from scipy import sparse
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
        from sklearn.preprocessing import normalize

        docs = [[w.lower() for w in tokenize(t) if w[0].isalpha()] for t in texts]
        counts = Counter(w for d in docs for w in d)
        vocab = sorted(w for w, c in counts.items() if c >= self.min_count)
        if len(vocab) < 3:
            self.table_ = {}
            return self
        index = {w: i for i, w in enumerate(vocab)}
        rows, cols = [], []
        for d in docs:
            ids = [index.get(w, -1) for w in d]
            for i, a in enumerate(ids):
                for j in range(max(0, i - self.window), min(len(ids), i + self.window + 1)):
                    if j != i and a >= 0 and ids[j] >= 0:
                        rows.append(a)
                        cols.append(ids[j])
        v = len(vocab)
        co = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(v, v)).tocsr()
        total = co.sum()
        if total == 0:
            self.table_ = {}
            return self
        row = np.asarray(co.sum(axis=1)).ravel()
        col = np.asarray(co.sum(axis=0)).ravel()
        co = co.tocoo()
        pmi = np.log(co.data * total / (row[co.row] * col[co.col]))
        keep = pmi > 0
        ppmi = sparse.csr_matrix((pmi[keep], (co.row[keep], co.col[keep])), shape=(v, v))
        k = max(1, min(self.dims, v - 1))
        emb = TruncatedSVD(k, random_state=seed).fit_transform(ppmi) if k < v else ppmi.toarray()
        emb = normalize(emb)
        stop = np.array([w in ENGLISH_STOP_WORDS for w in vocab])
        self.table_ = {}
        for start in range(0, v, 1024):  # blocks keep memory at 1024 x v, not v x v
            sims = emb[start:start + 1024] @ emb.T
            sims[:, stop] = -np.inf
            for r in range(sims.shape[0]):
                i = start + r
                w = vocab[i]
                if stop[i] or len(w) < 3:
                    continue
                sims[r, i] = -np.inf
                top = np.argsort(-sims[r])[: self.neighbours]
                near = [vocab[j] for j in top if sims[r, j] > 0]
                if near:
                    self.table_[w] = near
        return self

    def synonyms(self, word: str) -> list[str]:
        """Neighbours of `word` (lower case; empty when unknown or a stop word)."""
        return self.table_.get(word.lower(), [])


def _match_case(new: str, old: str) -> str:
    return new.capitalize() if old[:1].isupper() else new


@dataclass
class EDA:
    """Easy Data Augmentation: each new text applies one operation picked at random.

    `alpha` is the share of words changed (replaced, inserted, swapped); `p_delete` each
    word's chance of deletion; sentence shuffling applies to texts of two or more sentences.
    `synonyms` is fitted on the corpus by `fit`."""

    alpha: float = 0.1
    p_delete: float = 0.1
    operations: tuple[str, ...] = ("synonym", "insert", "swap", "delete", "shuffle")
    synonyms: CorpusSynonyms = field(default_factory=CorpusSynonyms)

    def __post_init__(self) -> None:
        known = {"synonym", "insert", "swap", "delete", "shuffle"}
        if not self.operations or set(self.operations) - known:
            raise ParameterError(f"operations must be some of {sorted(known)}, got "
                                 f"{list(self.operations)}")
        for name in ("alpha", "p_delete"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ParameterError(f"{name} must be a number in [0, 1], got {value!r}")

    def fit(self, texts: Iterable[str], seed: int = 0) -> EDA:
        """Learn the synonym neighbours from `texts`."""
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise DataError("EDA needs texts (strings); found a non-text value")
        self.synonyms.fit(texts, seed)
        return self

    def augment(self, text: str, rng: np.random.Generator) -> str:
        """One variation of `text`, drawn with `rng`."""
        tokens = tokenize(text)
        words = [i for i, t in enumerate(tokens) if t[0].isalpha()]
        ops = list(self.operations)
        if len(_SENTENCE.split(text.strip())) < 2 and "shuffle" in ops and len(ops) > 1:
            ops.remove("shuffle")
        op = ops[int(rng.integers(len(ops)))]
        n = max(1, int(round(self.alpha * len(words))))
        if op == "shuffle":
            parts = _SENTENCE.split(text.strip())
            return " ".join(parts[i] for i in rng.permutation(len(parts)))
        if op == "synonym":
            cand = [i for i in words if self.synonyms.synonyms(tokens[i])]
            for i in rng.permutation(cand)[:n] if cand else []:
                near = self.synonyms.synonyms(tokens[i])
                tokens[i] = _match_case(near[int(rng.integers(len(near)))], tokens[i])
        elif op == "insert":
            pool = [s for i in words for s in self.synonyms.synonyms(tokens[i])]
            for _ in range(n if pool else 0):
                word = pool[int(rng.integers(len(pool)))]
                tokens.insert(int(rng.integers(len(tokens) + 1)), word)
        elif op == "swap" and len(words) >= 2:
            for _ in range(n):
                a, b = rng.choice(words, 2, replace=False)
                tokens[a], tokens[b] = tokens[b], tokens[a]
        elif op == "delete" and len(words) >= 2:
            drop = set(i for i in words if rng.random() < self.p_delete)
            if len(drop) == len(words):  # keep one word, as EDA does
                drop.discard(words[int(rng.integers(len(words)))])
            tokens = [t for i, t in enumerate(tokens) if i not in drop]
        return _detokenize(tokens)

    def augment_many(self, texts: list[str], n_per_text: int | list[int],
                     rng: np.random.Generator) -> list[list[str]]:
        """`n_per_text` variations of each text (one count for all, or one per text)."""
        counts = [n_per_text] * len(texts) if isinstance(n_per_text, int) else n_per_text
        return [[self.augment(t, rng) for _ in range(int(c))]
                for t, c in zip(texts, counts, strict=True)]
