"""Bayesian network over binned numeric and categorical columns, with a learned DAG."""

from __future__ import annotations

import html
from typing import Any, ClassVar, Literal

import numpy as np

from genlab.data.tabular import ColumnSpec, Encoded
from genlab.errors import DataError
from genlab.models.table._bn_graph import (
    BicScorer,
    Factor,
    ancestors,
    chow_liu,
    draw_dag,
    family_counts,
    hill_climb,
    posterior_sample,
    sample_rows,
    topological_order,
)
from genlab.models.table._marginal import PiecewiseMarginal, drop_flat_knots, quantile_edges
from genlab.models.table.base import TableModel
from genlab.params import ParamSpec
from genlab.privacy.fit import PrivateFit

__all__ = ["BayesianNetwork", "binned_from_counts", "binned_marginal", "quantile_edges"]

_REJECTION_ROUNDS = 200


def binned_marginal(
    values: np.ndarray, edges: np.ndarray, *, integer: bool, decimals: int | None
) -> PiecewiseMarginal:
    """The within-bin density of a numeric column, as one piecewise-linear CDF.

    In bin k (n_k rows), a share 1 - eps_k is the dequantised empirical distribution: each
    observed value v is an atom spread uniformly over [v - h, v + h], h = half the column's
    resolution (1 for integers) or half the gap to its neighbours, so sampled values round
    back to observed ones and a spike bin reproduces its value exactly. The rest, eps_k =
    the Good-Turing share of values seen once in the bin (at least 1/n_k, at most 1/2), is
    spread uniformly over the bin, so unseen values inside the range score finite. The
    first and last bins also hold short tails, as wide as the observed range, with eps_k /
    (n_k + 1) of the bin each. Every bin's total mass is exactly n_k / n.
    """
    v, counts = np.unique(values, return_counts=True)
    return binned_from_counts(v, counts, edges, integer=integer, decimals=decimals)


def binned_from_counts(v: np.ndarray, counts: np.ndarray, edges: np.ndarray, *,
                       integer: bool, decimals: int | None) -> PiecewiseMarginal:
    """`binned_marginal` of the values with these sorted distinct values and counts (what
    a streamed fit adds up over batches)."""
    size = int(counts.sum())
    gaps = np.diff(v)
    res = 1.0 if integer else 10.0**-decimals if decimals is not None else (
        float(np.median(gaps)) if gaps.size else 1.0)
    h = np.minimum(res / 2, np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]) / 2)
    h = np.maximum(h, 1e-9 * max(1.0, float(np.abs(v).max())))  # one distinct value: no gap
    b = np.searchsorted(edges, v, side="right")
    n_k = np.bincount(b, weights=counts, minlength=edges.size + 1)
    singles = np.bincount(b, weights=counts == 1, minlength=edges.size + 1)
    eps = np.clip(np.maximum(singles, 1) / n_k, 0.0, 0.5)
    lo, hi = np.r_[v[0] - h[0], edges], np.r_[edges, v[-1] + h[-1]]
    width = max(float(v[-1] - v[0]), res)
    tail = n_k[[0, -1]] * eps[[0, -1]] / (n_k[[0, -1]] + 1)
    smooth = n_k * eps
    smooth[[0, -1]] -= tail  # (one bin: both tails come out of it)
    atoms = (v - h, v + h, counts * (1 - eps[b]) / size)
    # the bins and the two tails tile [lo[0] - width, hi[-1] + width] without overlap
    cover = (np.r_[lo[0] - width, lo, hi[-1]], np.r_[lo[0], hi, hi[-1] + width],
             np.r_[tail[0], smooth, tail[1]] / size)
    xs = np.unique(np.r_[atoms[0], atoms[1], cover[0], cover[1]])
    # The density of each segment, read at its midpoint from the two disjoint families of
    # uniform pieces: exact, where a running sum of slopes that start and stop at atoms
    # 1e-9 wide cancels to round-off and left flat (zero-density) segments
    mid = (xs[:-1] + xs[1:]) / 2
    dens = _piece_density(mid, *atoms) + _piece_density(mid, *cover)
    cdf = np.r_[0.0, np.cumsum(dens * np.diff(xs))]
    xs, cdf = drop_flat_knots(xs, cdf / cdf[-1])
    return PiecewiseMarginal(xs=xs, cdf_knots=cdf, lo=float(xs[0]), hi=float(xs[-1]))


def _piece_density(x: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   mass: np.ndarray) -> np.ndarray:
    """Density at x of uniform pieces [starts, ends) holding `mass`, the pieces sorted and
    not overlapping."""
    i = np.searchsorted(starts, x, side="right") - 1
    safe = np.clip(i, 0, starts.size - 1)
    inside = (i >= 0) & (x < ends[safe])
    return np.where(inside, mass[safe] / (ends[safe] - starts[safe]), 0.0)


class BayesianNetwork(PrivateFit, TableModel):
    """Discrete Bayesian network: numeric columns in quantile bins, a DAG learned by BIC.

    Every column is a node with a finite set of states: a categorical column's codes
    (missing is a code), a numeric column's quantile bins (plus a "missing" state when it
    had missing values, so missingness is modelled jointly: `models_missing`). Each node v
    has a conditional probability table given its parents pa(v). For a row with states s
    and numeric values x_j in bins b_j,

        p(row) = prod_v P(s_v | s_pa(v)) * prod_{j observed} f_j(x_j) / F_j(bin b_j)

    where f_j is the column's density (`binned_marginal`) and F_j(bin) = n_bin / n its mass
    in the bin. Within a bin, values are mostly the bin's observed values, each spread over
    the column's resolution (width 1 for integers; a bin that is one repeated value is such
    an atom, so spikes like capital-gain == 0 are reproduced exactly), plus a Good-Turing
    share spread uniformly over the bin; the first and last bins have short tails (as wide
    as the observed range, ~1/n of the mass), so values slightly outside the training range
    score finite. Sampling draws from this same density (the codec then clips and rounds).

    Structure: a Chow-Liu forest on BIC edge gains, refined (`structure="hillclimb"`) by
    greedy add / remove / reverse edge moves on BIC with at most `max_parents` parents.
    CPTs are Dirichlet-smoothed towards the child's marginal: P(k | u) = (N_uk + alpha p_k)
    / (N_u + alpha), so unseen parent combinations get the marginal. Sampling is ancestral;
    `conditions` are exact: the evidence's ancestors are drawn from their posterior by
    bucket elimination, the other nodes forward given their parents. Declared `conditions`
    at fit need no special treatment.

    Args:
        structure: "hillclimb" (default) or "chowliu" (a tree; faster, at most 1 parent).
        n_bins: most quantile bins per numeric column (spikes add their own); tables with
            fewer than n_bins**3 rows get about the cube root of their rows.
        max_parents: most parents per node (keeps CPTs small); 0 gives independent columns.
        alpha: Dirichlet pseudo-count spread by the child's marginal.
        seed: default seed (recorded; the fit itself is deterministic).

    Example:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> a = rng.choice(["x", "y"], 500)
        >>> df = pd.DataFrame({"n": rng.normal(size=500), "a": a,
        ...                    "b": np.where(rng.random(500) < 0.9, a, "z")})
        >>> m = BayesianNetwork(seed=0).fit(df)
        >>> m.graph_
        [('a', 'b')]
        >>> m.sample(4, conditions={"b": "z"}, seed=1)["b"].tolist()
        ['z', 'z', 'z', 'z']
    """

    family: ClassVar[str] = "bayesnet"
    log_prob_is_exact: ClassVar[bool] = True
    models_missing: ClassVar[bool] = True
    summary: ClassVar[str] = "Discrete Bayesian network on binned columns, structure by BIC"
    when_to_use: ClassVar[str] = "Readable dependency graph, exact scores, fast on large tables"
    adult_fit_time: ClassVar[str] = "< 1 s"
    conditioning: ClassVar[str] = "exact (bucket elimination on the evidence's ancestors)"
    _parameter_constraints: ClassVar[dict[str, ParamSpec]] = {
        **TableModel._parameter_constraints,
        "structure": ("choice", ("hillclimb", "chowliu")),
        "n_bins": ("int", 2, 1000),
        "max_parents": ("int", 0, 8),
        "alpha": ("float", 0.0, 1e9),
    }

    def __init__(
        self,
        *,
        structure: Literal["hillclimb", "chowliu"] = "hillclimb",
        n_bins: int = 20,
        max_parents: int = 2,
        alpha: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self._init_params(locals())

    # -- fit ------------------------------------------------------------------------------
    def _fit_arrays(self, enc: Encoded, conditions: list[int], rng: np.random.Generator) -> None:
        self.marginals_: list[PiecewiseMarginal] = []
        self.edges_: list[np.ndarray] = []
        # BIC charges (K - 1) K_parent parameters per edge, so on small tables fine bins
        # would forbid every edge: at most the cube root of the rows (20 from 8,000 rows)
        n_bins = min(self.n_bins, max(2, int(np.ceil(enc.n ** (1 / 3)))))
        for j, spec in enumerate(self.schema_.numeric):
            v = enc.x[~np.isnan(enc.x[:, j]), j]
            integer = spec.kind == "integer" or spec.datetime_resolution == "D"
            self.edges_.append(quantile_edges(v, n_bins))
            self.marginals_.append(binned_marginal(v, self.edges_[-1], integer=integer,
                                                   decimals=spec.decimals))
        self._derive()
        states, _ = self._states(enc)
        scorer = BicScorer(states, self.n_states_)
        parents: list[list[int]] = [[] for _ in self.n_states_]
        if self.max_parents > 0:
            parents = chow_liu(scorer)
            if self.structure == "hillclimb":
                parents = hill_climb(scorer, parents, self.max_parents)
        self.parents_ = parents
        self._order = topological_order(parents)
        self.bic_ = float(sum(scorer(v, p) for v, p in enumerate(parents)))
        self.cpts_ = [self._cpt(states, v) for v in range(len(parents))]
        self.history_ = []

    def _cpt(self, states: np.ndarray, v: int) -> np.ndarray:
        k = self.n_states_
        counts = family_counts(states.T, k, v, self.parents_[v]).astype(np.float64)
        marginal = np.bincount(states[:, v], minlength=k[v]) / states.shape[0]
        total = counts.sum(axis=-1, keepdims=True) + self.alpha
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (counts + self.alpha * marginal) / total, marginal)

    def _derive(self) -> None:
        """State counts and bin masses, from the fitted (or loaded) bins and marginals."""
        self.n_states_ = [e.size + 1 + _has_missing(s)
                          for e, s in zip(self.edges_, self.schema_.numeric, strict=True)]
        self.n_states_ += self.schema_.n_codes()
        self._bin_cdf = [np.r_[0.0, m.cdf(e), 1.0]
                         for m, e in zip(self.marginals_, self.edges_, strict=True)]

    def _states(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """State of every node per row, and rows holding a missing value the model never saw
        (a numeric NaN in a column without missing values in training)."""
        d = len(self.edges_)
        states = np.empty((enc.n, d + enc.c.shape[1]), dtype=np.int64)
        impossible = np.zeros(enc.n, dtype=bool)
        for j, edges in enumerate(self.edges_):
            isna = np.isnan(enc.x[:, j])
            states[:, j] = np.searchsorted(edges, np.where(isna, 0.0, enc.x[:, j]), side="right")
            if _has_missing(self.schema_.numeric[j]):
                states[isna, j] = edges.size + 1
            else:
                impossible |= isna
        states[:, d:] = enc.c
        return states, impossible

    dp_mechanism: ClassVar[str] = (
        "PrivBayes: exponential mechanism on the R score for the structure, "
        "Gaussian-noised family counts for the CPTs")

    def _fit_private(self, enc: Encoded, conditions: list[int], budget: Any, rho: float
                     ) -> None:
        """`fit(data, epsilon=...)`: PrivBayes (see `genlab.privacy.bayesnet`)."""
        from genlab.privacy.bayesnet import fit_private_bayesnet

        fit_private_bayesnet(self, enc, budget, rho)

    # -- sample ---------------------------------------------------------------------------
    def _forward(self, states: np.ndarray, done: set[int], rng: np.random.Generator) -> None:
        """Draw every node not in `done` given its parents, in topological order."""
        for v in self._order:
            if v not in done:
                index = tuple(states[:, p] for p in self.parents_[v])
                probs = self.cpts_[v][index] if index else np.broadcast_to(
                    self.cpts_[v], (states.shape[0], self.n_states_[v]))
                states[:, v] = sample_rows(probs, rng)

    def _sample_arrays(
        self, n: int, conditions: dict[int, int], rng: np.random.Generator
    ) -> Encoded:
        d = len(self.edges_)
        evidence = {d + j: code for j, code in conditions.items()}
        states = np.zeros((n, len(self.n_states_)), dtype=np.int64)
        for v, code in evidence.items():
            states[:, v] = code
        done = set(evidence)
        if evidence:
            # P(all | e) = P(ancestral set A | e) x prod_{v not in A} P(v | pa(v)): draw A
            # exactly, then the rest forward
            factors = [self._factor(v, evidence) for v in ancestors(self.parents_, evidence)]
            try:
                drawn = posterior_sample(factors, self.n_states_, n, rng)
            except ValueError as err:
                raise DataError(f"cannot sample: {err} (try alpha > 0)") from err
            if drawn is None:  # bucket tables too large: exact rejection instead
                return self._decode(self._rejection(n, evidence, rng), rng)
            for v, values in drawn.items():
                states[:, v] = values
            done |= set(drawn)
        self._forward(states, done, rng)
        return self._decode(states, rng)

    def _factor(self, v: int, evidence: dict[int, int]) -> Factor:
        """CPT of v as a factor, restricted to the evidence values."""
        scope = (*self.parents_[v], v)
        index = tuple(evidence.get(u, slice(None)) for u in scope)
        return tuple(u for u in scope if u not in evidence), self.cpts_[v][index]

    def _rejection(self, n: int, evidence: dict[int, int], rng: np.random.Generator
                   ) -> np.ndarray:
        keep: list[np.ndarray] = []
        for _ in range(_REJECTION_ROUNDS):
            batch = np.zeros((max(n, 10_000), len(self.n_states_)), dtype=np.int64)
            self._forward(batch, set(), rng)
            ok = np.all([batch[:, v] == c for v, c in evidence.items()], axis=0)
            keep.append(batch[ok])
            if sum(len(k) for k in keep) >= n:
                return np.concatenate(keep)[:n]
        raise DataError("the conditions are too rare to sample from this network; "
                        "lower max_parents or n_bins")

    def _decode(self, states: np.ndarray, rng: np.random.Generator) -> Encoded:
        d = len(self.edges_)
        x = np.empty((states.shape[0], d))
        for j, (m, cdf) in enumerate(zip(self.marginals_, self._bin_cdf, strict=True)):
            b = np.minimum(states[:, j], cdf.size - 2)
            u = cdf[b] + rng.random(b.size) * (cdf[b + 1] - cdf[b])
            x[:, j] = np.interp(u, m.cdf_knots, m.xs)
            x[states[:, j] == self.edges_[j].size + 1, j] = np.nan
        return Encoded(x=x, c=states[:, d:].copy())

    # -- log_prob -------------------------------------------------------------------------
    def _log_prob_arrays(self, enc: Encoded) -> np.ndarray:
        states, impossible = self._states(enc)
        states[impossible] = 0
        lp = np.zeros(enc.n)
        with np.errstate(divide="ignore"):
            for v, cpt in enumerate(self.cpts_):
                lp += np.log(cpt[tuple(states[:, p] for p in (*self.parents_[v], v))])
            for j, (m, cdf) in enumerate(zip(self.marginals_, self._bin_cdf, strict=True)):
                ok = ~np.isnan(enc.x[:, j])
                b = states[ok, j]
                lp[ok] += m.logpdf(enc.x[ok, j]) - np.log(cdf[b + 1] - cdf[b])
        lp[impossible] = -np.inf
        return lp

    # -- graph ----------------------------------------------------------------------------
    @property
    def nodes_(self) -> list[str]:
        """Node names: numeric columns, then categorical columns (the state order)."""
        return [s.name for s in (*self.schema_.numeric, *self.schema_.categorical)]

    @property
    def graph_(self) -> list[tuple[str, str]]:
        """The learned DAG as (parent, child) column-name pairs."""
        names = self.nodes_
        return [(names[p], names[v]) for v, pa in enumerate(self.parents_) for p in pa]

    def graph_html(self) -> str:
        """An HTML fragment drawing the learned DAG (a PNG data URI) with its edge list."""
        uri = draw_dag(self.nodes_, self.parents_, len(self.edges_))
        edges = ", ".join(f"{html.escape(a)} → {html.escape(b)}" for a, b in self.graph_)
        return (
            f'<figure><img src="{uri}" alt="learned Bayesian network"><figcaption>'
            f"Learned dependency graph ({self.structure}, BIC {self.bic_:,.0f}); blue: numeric "
            f"(binned), orange: categorical. Edges: {edges or 'none'}.</figcaption></figure>"
        )

    # -- persistence ----------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"parents": self.parents_, "bins": [e.size + 1 for e in self.edges_],
                "knots": [m.xs.size for m in self.marginals_], "bic": self.bic_}
        tensors = {f"cpt.{v}": t for v, t in enumerate(self.cpts_)}
        for j, (m, e) in enumerate(zip(self.marginals_, self.edges_, strict=True)):
            tensors.update({f"edges.{j}": e, f"knots_x.{j}": m.xs, f"knots_cdf.{j}": m.cdf_knots})
        return meta, tensors

    def _expected_shapes(self, meta: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        numeric = self.schema_.numeric
        bins, knots, parents = list(meta["bins"]), list(meta["knots"]), list(meta["parents"])
        if len(bins) != len(numeric) or len(knots) != len(numeric):
            raise ValueError("bins and knots need one entry per numeric column")
        k = [int(b) + _has_missing(s) for b, s in zip(bins, numeric, strict=True)]
        k += self.schema_.n_codes()
        if len(parents) != len(k) or any(
            not 0 <= int(p) < len(k) or int(p) == v for v, pa in enumerate(parents) for p in pa
        ):
            raise ValueError("parents must list valid node numbers for every node")
        shapes = {f"cpt.{v}": (*(k[int(p)] for p in pa), k[v]) for v, pa in enumerate(parents)}
        for j, (b, m) in enumerate(zip(bins, knots, strict=True)):
            shapes.update({f"edges.{j}": (int(b) - 1,), f"knots_x.{j}": (int(m),),
                           f"knots_cdf.{j}": (int(m),)})
        return shapes

    def _restore(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.parents_ = [[int(p) for p in pa] for pa in meta["parents"]]
        self.bic_ = float(meta.get("bic", 0.0))
        self.edges_, self.marginals_ = [], []
        for j in range(len(self.schema_.numeric)):
            e, xs, cdf = (tensors[f"{key}.{j}"] for key in ("edges", "knots_x", "knots_cdf"))
            if np.any(np.diff(e) <= 0) or np.any(np.diff(xs) <= 0) or np.any(np.diff(cdf) < 0):
                raise ValueError(f"bins or marginal of numeric column {j} are not increasing")
            self.edges_.append(e)
            self.marginals_.append(PiecewiseMarginal(xs, cdf, float(xs[0]), float(xs[-1])))
        self.cpts_ = [tensors[f"cpt.{v}"] for v in range(len(self.parents_))]
        for v, t in enumerate(self.cpts_):
            if np.any(t < 0) or not np.allclose(t.sum(axis=-1), 1.0):
                raise ValueError(f"cpt.{v} is not a conditional probability table")
        self._derive()
        self._order = topological_order(self.parents_)  # raises ValueError on a cycle


def _has_missing(spec: ColumnSpec) -> int:
    return int(spec.missing_rate > 0)
