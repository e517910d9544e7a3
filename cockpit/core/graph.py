"""The reference graph between files, and PageRank over it.

File A points to file B when A uses a name that B defines at its top level (a
class, a function, a constant), or B's module name. A name defined in many files
says little about which one is meant, so each edge weighs 1 / (files defining it),
and names defined in more than MAX_DEFINERS files are left out.

The graph is built from the cache on first use and kept, keyed by the cache's
generation: a change recorded by any process makes the next request rebuild it.

PageRank is a few lines of power iteration over the edges as three numpy arrays (target, source,
weight): `np.bincount` is the sparse product. scipy.sparse did the same and cost a short command
about 150 ms more to import than numpy alone.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cache.store import Store

if TYPE_CHECKING:
    import numpy as np

MAX_DEFINERS = 12
DAMPING = 0.85


@dataclass
class FileGraph:
    paths: list[str]
    # The column-stochastic matrix as its entries: weight[k] is the share of sources[k]'s rank that flows
    # to targets[k] (the shares of one source add up to 1).
    targets: np.ndarray
    sources: np.ndarray
    weights: np.ndarray
    dangling: np.ndarray  # the indices of files that point nowhere
    prior: dict[str, float] | None = None  # PageRank without a task (the same for every request): kept with the graph


_memo: dict[str, tuple[int, FileGraph]] = {}
BLOB = "file_graph/edges"  # the name of the derived blob; a new shape of FileGraph takes a new name


def file_graph(store: Store) -> FileGraph:
    generation = store.generation()
    key = str(store.path)
    if key in _memo and _memo[key][0] == generation:
        return _memo[key][1]
    graph = store.load_blob(BLOB, generation)
    if graph is None:
        graph = build_graph(store)
        graph.prior = pagerank(graph, None)
        store.save_blob(BLOB, generation, pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        graph = pickle.loads(graph)
    _memo[key] = (generation, graph)
    return graph


def build_graph(store: Store) -> FileGraph:
    import numpy as np

    conn = store.db.conn
    paths = [r[0] for r in conn.execute("SELECT path FROM files ORDER BY path")]
    index = {p: i for i, p in enumerate(paths)}
    definers: dict[str, set[int]] = {}
    for path, name in conn.execute(
        "SELECT path, name FROM nodes WHERE kind NOT IN ('dir', 'repo', 'file') AND parent = path"
    ):
        if path in index and len(name) > 2:
            definers.setdefault(name, set()).add(index[path])
    for path in paths:  # a module is referenced by its name too (imports)
        stem = path.rsplit("/", 1)[-1].split(".")[0]
        if stem == "__init__":
            stem = path.rsplit("/", 2)[-2] if "/" in path else stem
        if len(stem) > 2:
            definers.setdefault(stem, set()).add(index[path])
    weights = {name: 1.0 / len(files) for name, files in definers.items() if len(files) <= MAX_DEFINERS}
    rows, cols, values = [], [], []
    for path, refs in conn.execute("SELECT path, refs FROM files ORDER BY path"):
        source = index[path]
        targets: dict[int, float] = {}
        for name in (refs or "").split():
            weight = weights.get(name)
            if weight is None:
                continue
            for target in definers[name]:
                if target != source:
                    targets[target] = targets.get(target, 0.0) + weight
        total = sum(targets.values())
        for target, weight in targets.items():
            rows.append(target)
            cols.append(source)
            values.append(weight / total)
    n = len(paths)
    targets, sources = np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)  # intp: no conversion per use
    weights = np.array(values, dtype=np.float64)
    out_degree = np.bincount(sources, weights=weights, minlength=n)
    return FileGraph(paths, targets, sources, weights, np.flatnonzero(out_degree == 0))


def pagerank(graph: FileGraph, personalization: dict[str, float] | None, iterations: int = 40) -> dict[str, float]:
    """PageRank, optionally personalised: random jumps land on files in proportion to their seed."""
    if not personalization and graph.prior is not None:
        return graph.prior
    import numpy as np

    n = len(graph.paths)
    if n == 0:
        return {}
    if personalization:
        jump = np.array([max(0.0, personalization.get(p, 0.0)) for p in graph.paths])
        if jump.sum() <= 0:
            jump = np.ones(n)
    else:
        jump = np.ones(n)
    jump = jump / jump.sum()
    rank = jump.copy()
    for _ in range(iterations):
        lost = rank[graph.dangling].sum()
        flow = np.bincount(graph.targets, weights=graph.weights * rank[graph.sources], minlength=n)
        new = DAMPING * flow + (DAMPING * lost + (1 - DAMPING)) * jump
        if np.abs(new - rank).sum() < 1e-9:
            rank = new
            break
        rank = new
    return dict(zip(graph.paths, rank.tolist()))
