"""Discrete Bayesian-network machinery: BIC structure search and exact posterior sampling.

Everything works on a matrix of state codes `data` (n, V) with `n_states[v]` states per
variable. Counts come from one `np.bincount` over combined codes per family (a child and its
parents), so a BIC score costs one pass over the rows and is cached by family.

- `chow_liu`: the maximum spanning forest of BIC edge gains (n * mutual information minus the
  BIC penalty of the edge); only edges with a positive gain are kept.
- `hill_climb`: greedy add / remove / reverse of single edges on the BIC score, with at most
  `max_parents` parents per node, until no move improves the score.
- `posterior_sample`: exact draws from the product of discrete factors (the CPTs restricted
  to evidence) by bucket elimination: eliminate variables one by one (keeping each bucket's
  product), then sample them in the reverse order, each from its bucket given the values
  already drawn. This is the forward-filtering backward-sampling scheme of a junction tree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BicScorer",
    "Factor",
    "ancestors",
    "chow_liu",
    "draw_dag",
    "family_counts",
    "hill_climb",
    "posterior_sample",
    "sample_rows",
    "topological_order",
]

Factor = tuple[tuple[int, ...], np.ndarray]  # (scope, table with one axis per scope variable)


def family_counts(
    data: np.ndarray, n_states: Sequence[int], child: int, parents: Sequence[int]
) -> np.ndarray:
    """Counts N[parent states..., child state] as an array of shape (*K_parents, K_child)."""
    code = np.zeros(data.shape[1], dtype=np.int64)
    for v in (*parents, child):
        code = code * n_states[v] + data[v]
    shape = tuple(n_states[v] for v in (*parents, child))
    return np.bincount(code, minlength=int(np.prod(shape))).reshape(shape)


class BicScorer:
    """Cached BIC of a family: log-likelihood of the child's counts minus (log n / 2) x the
    number of free parameters, (K_child - 1) x prod K_parents."""

    def __init__(self, data: np.ndarray, n_states: Sequence[int]) -> None:
        self.data = np.ascontiguousarray(data.T)  # (V, n): one row per variable is faster
        self.n_states = list(n_states)
        self.n = data.shape[0]
        self._cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def counts(self, child: int, parents: tuple[int, ...]) -> np.ndarray:
        """N[parent states..., child state] (the streamed scorer reads them from totals)."""
        return family_counts(self.data, self.n_states, child, parents)

    def __call__(self, child: int, parents: Sequence[int]) -> float:
        key = (child, tuple(sorted(parents)))
        if key not in self._cache:
            counts = self.counts(child, key[1])
            counts = counts.reshape(-1, counts.shape[-1]).astype(np.float64)
            totals = np.broadcast_to(counts.sum(axis=1, keepdims=True), counts.shape)
            seen = counts > 0
            loglik = float(np.sum(counts[seen] * np.log(counts[seen] / totals[seen])))
            k_parents = int(np.prod([self.n_states[p] for p in key[1]]))
            n_params = (self.n_states[child] - 1) * k_parents
            self._cache[key] = loglik - 0.5 * np.log(max(self.n, 2)) * n_params
        return self._cache[key]


def chow_liu(scorer: BicScorer) -> list[list[int]]:
    """Parents of each variable in the Chow-Liu forest on BIC edge gains.

    The gain of joining u and v, score(v | u) - score(v), is symmetric (n times their mutual
    information minus (log n / 2)(K_u - 1)(K_v - 1)); Kruskal keeps the positive gains of a
    maximum spanning forest, and each tree is oriented away from its lowest-numbered variable.
    """
    n_vars = len(scorer.n_states)
    gains = [
        (scorer(v, (u,)) - scorer(v, ()), u, v)
        for u in range(n_vars)
        for v in range(u + 1, n_vars)
    ]
    root = list(range(n_vars))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    neighbours: list[list[int]] = [[] for _ in range(n_vars)]
    for gain, u, v in sorted(gains, reverse=True):
        if gain <= 0:
            break
        ru, rv = find(u), find(v)
        if ru != rv:
            root[ru] = rv
            neighbours[u].append(v)
            neighbours[v].append(u)
    parents: list[list[int]] = [[] for _ in range(n_vars)]
    seen = [False] * n_vars
    for start in range(n_vars):
        if seen[start]:
            continue
        seen[start], stack = True, [start]
        while stack:
            a = stack.pop()
            for b in neighbours[a]:
                if not seen[b]:
                    seen[b] = True
                    parents[b].append(a)
                    stack.append(b)
    return parents


def _reachability(parents: list[list[int]]) -> np.ndarray:
    """reach[a, b]: there is a directed path of length >= 1 from a to b."""
    n_vars = len(parents)
    reach = np.zeros((n_vars, n_vars), dtype=bool)
    for child, pa in enumerate(parents):
        reach[pa, child] = True
    for k in range(n_vars):  # Warshall's transitive closure
        reach |= reach[:, k : k + 1] & reach[k : k + 1, :]
    return reach


def hill_climb(
    scorer: BicScorer, start: list[list[int]], max_parents: int, max_moves: int = 10_000
) -> list[list[int]]:
    """Greedy BIC hill-climbing over DAGs from `start` with single-edge moves."""
    n_vars = len(start)
    parents = [sorted(p)[:max_parents] for p in start]
    local = [scorer(v, parents[v]) for v in range(n_vars)]
    for _ in range(max_moves):
        reach = _reachability(parents)
        best, move = 1e-9, None
        for v in range(n_vars):
            for u in range(n_vars):
                if u == v:
                    continue
                if u in parents[v]:
                    without = [p for p in parents[v] if p != u]
                    drop = scorer(v, without) - local[v]
                    if drop > best:
                        best, move = drop, ("remove", u, v)
                    # reversing u -> v makes a cycle iff another path leads from u to v
                    if len(parents[u]) < max_parents and not any(
                        reach[w, v] for w in range(n_vars) if w != v and u in parents[w]
                    ):
                        gain = drop + scorer(u, [*parents[u], v]) - local[u]
                        if gain > best:
                            best, move = gain, ("reverse", u, v)
                elif len(parents[v]) < max_parents and not reach[v, u]:
                    gain = scorer(v, [*parents[v], u]) - local[v]
                    if gain > best:
                        best, move = gain, ("add", u, v)
        if move is None:
            break
        kind, u, v = move
        if kind == "add":
            parents[v] = sorted([*parents[v], u])
        else:
            parents[v] = [p for p in parents[v] if p != u]
            if kind == "reverse":
                parents[u] = sorted([*parents[u], v])
        local[u], local[v] = scorer(u, parents[u]), scorer(v, parents[v])
    return parents


def topological_order(parents: Sequence[Sequence[int]]) -> list[int]:
    """Variables with every parent before its children; ValueError if there is a cycle."""
    n_vars = len(parents)
    remaining = [len(set(p)) for p in parents]
    children: list[list[int]] = [[] for _ in range(n_vars)]
    for child, pa in enumerate(parents):
        for p in set(pa):
            children[p].append(child)
    order = [v for v in range(n_vars) if remaining[v] == 0]
    for v in order:  # grows while iterating: Kahn's algorithm
        for c in children[v]:
            remaining[c] -= 1
            if remaining[c] == 0:
                order.append(c)
    if len(order) != n_vars:
        raise ValueError("the graph has a cycle")
    return order


def ancestors(parents: Sequence[Sequence[int]], nodes: Sequence[int]) -> set[int]:
    """`nodes` and all their ancestors."""
    out, stack = set(nodes), list(nodes)
    while stack:
        for p in parents[stack.pop()]:
            if p not in out:
                out.add(p)
                stack.append(p)
    return out


def sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of `probs` (n, K), rows summing to 1 (up to rounding)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _bucket_size(v: int, pool: list[Factor], n_states: Sequence[int]) -> int:
    """Entries of the table that eliminating v would build."""
    scope = {u for s, _ in pool if v in s for u in s}
    return int(np.prod([n_states[u] for u in scope]))


def _product(factors: list[Factor]) -> Factor:
    """Product of factors over the union of their scopes (einsum on local labels)."""
    scope = tuple(sorted({v for s, _ in factors for v in s}))
    label = {v: i for i, v in enumerate(scope)}
    operands: list[object] = []
    for s, t in factors:
        operands += [t, [label[v] for v in s]]
    if not scope:
        return (), np.asarray(np.prod([float(t) for _, t in factors]))
    return scope, np.einsum(*operands, list(range(len(scope))), optimize=True)


def posterior_sample(
    factors: list[Factor],
    n_states: Sequence[int],
    n: int,
    rng: np.random.Generator,
    max_table: int = 50_000_000,
) -> dict[int, np.ndarray] | None:
    """n exact draws from the distribution proportional to the product of `factors`.

    Returns None when some bucket would exceed `max_table` entries (the caller falls back
    to rejection sampling); raises ValueError when the product is zero everywhere.
    """
    pool = [f for f in factors if f[0]]
    constant = float(np.prod([float(t) for s, t in factors if not s]))
    free = sorted({v for s, _ in pool for v in s})
    buckets: list[tuple[int, Factor]] = []
    while free:
        # greedy min-weight elimination: the variable whose bucket table is smallest
        sizes = {v: _bucket_size(v, pool, n_states) for v in free}
        v = min(free, key=sizes.__getitem__)
        if sizes[v] > max_table:
            return None
        inside = [f for f in pool if v in f[0]]
        pool = [f for f in pool if v not in f[0]]
        scope, table = _product(inside)
        table = table / max(float(table.max()), 1e-300)  # rescale: only ratios matter
        buckets.append((v, (scope, table)))
        axis = scope.index(v)
        pool.append((scope[:axis] + scope[axis + 1 :], table.sum(axis=axis)))
        free.remove(v)
    if constant <= 0 or not all(float(np.max(t)) > 0 for _, t in pool):
        raise ValueError("the evidence has probability zero under the model")
    drawn: dict[int, np.ndarray] = {}
    for v, (scope, table) in reversed(buckets):
        table = np.moveaxis(table, scope.index(v), -1)
        index = tuple(drawn[u] for u in scope if u != v)
        probs = table[index] if index else np.broadcast_to(table, (n, table.shape[-1]))
        drawn[v] = sample_rows(probs, rng)
    return drawn


def _layers(parents: Sequence[Sequence[int]]) -> list[list[int]]:
    """Nodes by depth (longest path from a root), each layer ordered by the mean position
    of its parents in the layer above, which removes most edge crossings."""
    depth = [0] * len(parents)
    for v in topological_order(parents):
        depth[v] = 1 + max((depth[p] for p in parents[v]), default=-1)
    layers: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    position: dict[int, float] = {}
    for level in range(len(layers)):
        nodes = [v for v in range(len(parents)) if depth[v] == level]
        key = {v: np.mean([position[p] for p in parents[v]]) if parents[v] else v for v in nodes}
        layers[level] = sorted(nodes, key=lambda v: (key[v], v))
        width = len(layers[level])
        position.update({v: (i + 0.5) / width * len(parents) for i, v in enumerate(layers[level])})
    return layers


def draw_dag(names: Sequence[str], parents: Sequence[Sequence[int]], n_numeric: int) -> str:
    """PNG data URI of the DAG: layers top to bottom, numeric nodes blue, others orange."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from genlab.report.plots import DPI, figure_to_data_uri

    layers = _layers(parents)
    widest = max((len(layer) for layer in layers), default=1)
    fig = Figure(figsize=(max(4.0, 1.9 * widest), 0.5 + 1.1 * max(len(layers), 1)), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    ax.set_xlim(0, widest)
    ax.set_ylim(-0.5, len(layers) - 0.5)
    ax.axis("off")
    where: dict[int, tuple[float, float]] = {}
    texts = {}
    for level, layer in enumerate(layers):
        for i, v in enumerate(layer):
            where[v] = ((i + 0.5) * widest / len(layer), len(layers) - 1 - level)
            label = names[v] if len(names[v]) <= 18 else names[v][:17] + "…"
            colour = "#cfe3f5" if v < n_numeric else "#fde0c5"
            texts[v] = ax.text(*where[v], label, ha="center", va="center", fontsize=8, zorder=3,
                               bbox={"boxstyle": "round,pad=0.3", "fc": colour, "ec": "#555"})
    canvas.draw()
    to_data = ax.transData.inverted()
    half = {}
    for v, t in texts.items():
        (x0, y0), (x1, y1) = to_data.transform(t.get_bbox_patch().get_window_extent())
        half[v] = (abs(x1 - x0) / 2 + 0.02, abs(y1 - y0) / 2 + 0.02)

    def border(v: int, towards: tuple[float, float]) -> tuple[float, float]:
        # where the segment from v's centre towards a point leaves v's box
        (cx, cy), (hw, hh) = where[v], half[v]
        dx, dy = towards[0] - cx, towards[1] - cy
        s = min(hw / abs(dx) if dx else np.inf, hh / abs(dy) if dy else np.inf, 1.0)
        return cx + s * dx, cy + s * dy

    for child, pa in enumerate(parents):
        for p in pa:
            # an edge skipping layers bends, so it does not run hidden behind nodes between
            skip = where[p][1] - where[child][1] > 1
            ax.annotate("", xy=border(child, where[p]), xytext=border(p, where[child]), zorder=2,
                        arrowprops={"arrowstyle": "-|>", "color": "#444", "shrinkA": 0,
                                    "shrinkB": 0, "lw": 1.0,
                                    "connectionstyle": f"arc3,rad={0.3 if skip else 0}"})
    return figure_to_data_uri(fig)
