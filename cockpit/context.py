"""Context for a task within a token budget: the whole repo at low zoom, what matters at high zoom.

1. Rank files: BM25 of the task against each file's path, symbol names and
   summaries (SQLite FTS5), exact mentions of symbol names and paths, and the
   focus the caller pins; then a personalised PageRank over the reference graph
   (a file that defines what others use ranks higher), seeded by those matches.
2. Score directories by their best files and symbols by their file and their own
   match with the task.
3. Choose a view per node greedily by value per token: an upgrade (hidden → 2
   words → … → outline → source) is worth its node's score times what the view
   adds, and costs its tokens plus the headers of any hidden ancestors, so the
   tree stays whole. Stop when the next upgrade would not fit.
4. Render, count the real output with tiktoken, and trim until it fits: the
   result is never over the budget.
"""

from __future__ import annotations

import heapq
import json
import re
from dataclasses import dataclass, field

from cache.store import Store
from cockpit import tokens
from cockpit.graph import file_graph, pagerank
from cockpit.pyramid import LEVELS, source_tokens
from cockpit.render import view_text
from summarizers.extractive import FUNCTION_WORDS, identifier_words

# What a view is worth relative to the 2-word label: detail pays, with diminishing returns.
GAIN = {"2": 1.0, "4": 1.3, "8": 1.7, "16": 2.1, "32": 2.5, "64": 2.8, "outline": 5.0, "source": 6.0}
# Value goes with score ** SHARPNESS: above 1, the best nodes win depth before the tail wins breadth.
SHARPNESS = 2.0
LADDERS = {
    "repo": ("8", "32", "64"),
    "dir": ("2", "8", "16", "32"),
    "file": ("2", "8", "16", "32", "64", "outline", "source"),
    "symbol": ("8", "16", "32", "outline", "source"),
}
LEAF_LADDER = ("8", "16", "32", "source")
SKELETON_SHARE = 0.12  # of the budget, for the top of the tree at low zoom whatever the task
TEST_PENALTY = 0.5  # tests explain code but are seldom where a change belongs
_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|testing|spec)/|(?:^|/)(?:test_[^/]*|[^/]*_test\.\w+|conftest\.py)$")
TOP_FILES_FOR_SYMBOLS = 40  # symbols are candidates only in the best files (and where named)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_PATHLIKE = re.compile(r"[\w./-]+\.[A-Za-z]{1,5}\b|[\w-]+/[\w./-]+")
STOPWORDS = FUNCTION_WORDS | {"fix", "bug", "issue", "add", "make", "when", "should", "need", "use", "get", "set",
                              "allow", "support", "handle", "error", "work", "new", "change", "update"}


class ContextError(ValueError):
    """Bad arguments to a context request; the message says which."""


@dataclass
class Item:
    node: dict
    score: float
    reasons: list[str] = field(default_factory=list)
    view: str | None = None  # the chosen rung; None while hidden

    leaf: bool = False  # a symbol without parts: its outline would only repeat its signature
    costs: dict[str, int] | None = None  # estimated tokens per view, header included
    granted: float = float("inf")  # value per token of its last upgrade: trimming takes the cheapest first

    @property
    def ladder(self) -> tuple[str, ...]:
        kind = self.node["kind"]
        if kind == "file" and (self.node["tokens"][7] or 0) <= 2:
            return ("2",)  # an empty file: its name says all there is
        if kind in LADDERS:
            return LADDERS[kind]
        return LEAF_LADDER if self.leaf else LADDERS["symbol"]


@dataclass
class Context:
    task: str
    budget: int
    items: list[Item]
    text: str
    used: int
    fmt: str


def task_terms(task: str) -> list[str]:
    """The task's content words, identifiers split into their parts too, in order of first use."""
    words = []
    for word in _WORD.findall(task):
        parts = [word] + identifier_words(word).split()
        words += [p.lower() for p in parts if len(p) > 1 and p.lower() not in STOPWORDS]
    return list(dict.fromkeys(words))


def _fts_query(terms: list[str]) -> str:
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms)


# --- ranking --------------------------------------------------------------------------


def rank_files(store: Store, task: str, focus: list[str]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """A score in [0, ~2] and the reasons for it, for every file of the pyramid."""
    reasons: dict[str, list[str]] = {}
    lexical: dict[str, float] = {}
    terms = task_terms(task)
    if terms:
        rows = store.db.conn.execute(
            "SELECT f.path, -bm25(file_search, 4.0, 1.0, 0.3) FROM file_search JOIN files f ON f.rowid = file_search.rowid "
            "WHERE file_search MATCH ? ORDER BY 2 DESC, f.path LIMIT 300",
            [_fts_query(terms)],
        ).fetchall()
        top = rows[0][1] if rows else 1.0
        for path, score in rows:
            lexical[path] = score / top
            reasons.setdefault(path, []).append(f"text match {score:.1f}")
    mentioned = _mentions(store, task)
    for path, why in mentioned.items():
        lexical[path] = lexical.get(path, 0.0) + 0.6
        reasons.setdefault(path, []).append(why)
    pinned = set()
    for path in focus:
        pinned.add(path)
        reasons.setdefault(path, []).append("focus")
    graph = file_graph(store)
    seed = {p: lexical.get(p, 0.0) + (1.0 if p in pinned else 0.0) for p in graph.paths}
    personal = pagerank(graph, seed if any(seed.values()) else None)
    prior = pagerank(graph, None)
    top_personal = max(personal.values(), default=1.0) or 1.0
    top_prior = max(prior.values(), default=1.0) or 1.0
    scores = {}
    for path in graph.paths:
        p = personal.get(path, 0.0) / top_personal
        score = 0.6 * lexical.get(path, 0.0) + 0.3 * p + 0.05 * prior.get(path, 0.0) / top_prior
        if _TEST_PATH.search(path):
            score *= TEST_PENALTY
        scores[path] = score + (1.0 if path in pinned else 0.0)
        if p > 0.2:
            reasons.setdefault(path, []).append(f"reference graph {p:.2f}")
    return scores, reasons


def _mentions(store: Store, task: str) -> dict[str, str]:
    """Files named in the task, or defining a symbol the task names (`parse_args`, `Client.send`)."""
    found: dict[str, str] = {}
    for token in _PATHLIKE.findall(task):
        token = token.strip("./")
        rows = store.db.conn.execute(
            "SELECT path FROM files WHERE path = ? OR path LIKE ? ORDER BY length(path), path LIMIT 5",
            [token, f"%/{token}"],
        ).fetchall()
        for (path,) in rows:
            found.setdefault(path, f"path named in task: {token}")
    names = {w for w in _WORD.findall(task) if ("_" in w or any(c.isupper() for c in w[1:])) and len(w) > 2}
    names |= {w.split(".")[-1] for w in re.findall(r"\w+(?:\.\w+)+\(?", task)}
    if names:
        marks = ",".join("?" * len(names))
        rows = store.db.conn.execute(
            f"SELECT path, name FROM nodes WHERE name IN ({marks}) AND kind NOT IN ('file', 'dir', 'repo') "
            "ORDER BY path LIMIT 50", sorted(names),
        ).fetchall()
        for path, name in rows:
            found.setdefault(path, f"defines {name}, named in task")
    return found


def _symbol_words(node: dict) -> tuple[frozenset, frozenset]:
    """The words of a symbol's name and of its 16-word summary, worked out once per node."""
    words = node.get("_words")
    if words is None:
        name = node["name"]
        summary = node["summaries"][3] if node["summaries"] else ""
        words = (frozenset(identifier_words(name).lower().split()) | {name.lower()},
                 frozenset(_WORD.findall(summary.lower())))
        node["_words"] = words
    return words


def _symbol_relevance(node: dict, terms: set[str], named: set[str]) -> float:
    if node["name"] in named:
        return 1.5
    name_words, text_words = _symbol_words(node)
    hits = len(terms & name_words) * 2 + len(terms & text_words) * 0.5
    return min(1.2, hits / max(2, len(terms)))


_symbols_memo: dict[str, dict[str, tuple[str, list[dict]]]] = {}


def _file_symbols(store: Store, paths: list[str], hashes: dict[str, str]) -> list[dict]:
    """The symbols of some files, kept in memory per file content hash between requests."""
    memo = _symbols_memo.setdefault(str(store.path), {})
    missing = [p for p in paths if p not in memo or memo[p][0] != hashes.get(p)]
    if missing:
        loaded: dict[str, list[dict]] = {p: [] for p in missing}
        for node in store.nodes_in_files(missing):
            loaded[node["path"]].append(node)
        for path, nodes in loaded.items():
            memo[path] = (hashes.get(path), nodes)
    return [n for p in paths for n in memo[p][1]]


# --- choosing views -------------------------------------------------------------------------


def build_context(store: Store, root: str, task: str, budget: int, focus: list[str] | None = None,
                  fmt: str = "md", explain: bool = False) -> Context:
    if budget < 50:
        raise ContextError("budget must be at least 50 tokens")
    if fmt not in ("md", "json"):
        raise ContextError("format must be md or json")
    focus_paths, focus_symbols = _resolve_focus(store, focus or [])
    file_scores, reasons = rank_files(store, task, focus_paths)
    items = _candidates(store, root, task, file_scores, reasons, focus_symbols)
    room = budget - tokens.count(_header(task, budget)) - 16
    target, best = room, None
    for _ in range(3):
        # Estimates steer the choice; the exact count of the rendered output corrects them:
        # scale the target by how far the last rendering missed, and keep the fullest fit.
        for item in items:
            item.view, item.granted = None, float("inf")
        estimate = _choose(items, target, _skeleton(items, int(target * SKELETON_SHARE)))
        text, used, rendered = _fit(items, task, budget, fmt, explain, root)
        if best is None or used > best[1]:
            best = (text, used, [i for i in items if i.view])
        if 0.92 * budget <= rendered <= budget or estimate < 0.9 * target:  # full, or the repo is all in
            break
        target = int(target * budget / max(rendered, 1))
    text, used, shown = best
    return Context(task, budget, shown, text, used, fmt)


def _resolve_focus(store: Store, focus: list[str]) -> tuple[list[str], set[str]]:
    """Focus entries as file paths (a directory pins its files) and symbol ids."""
    paths, symbols = [], set()
    for entry in focus:
        entry = entry.strip()
        path, _, symbol = entry.partition(":")
        path = path.strip("/")
        if path.startswith("..") or entry.startswith("/"):
            raise ContextError(f"focus {entry!r} is outside the repository")
        node = store.node(path)
        if node is None:
            matches = store.db.conn.execute(
                "SELECT id, path FROM nodes WHERE name = ? AND kind NOT IN ('file','dir','repo') ORDER BY id LIMIT 5",
                [entry.split(".")[-1]],
            ).fetchall()
            if not matches:
                raise ContextError(f"focus {entry!r} is neither a path nor a symbol of this repository")
            for node_id, node_path in matches:
                symbols.add(node_id)
                paths.append(node_path)
            continue
        if node["kind"] in ("dir", "repo"):
            prefix = f"{path}/" if path else ""
            paths += [r[0] for r in store.db.conn.execute(
                "SELECT path FROM files WHERE path LIKE ? ORDER BY path LIMIT 200", [prefix + "%"])]
        else:
            paths.append(node["path"])
        if symbol:
            symbols.add(f"{path}::{symbol}")
    return paths, symbols


_structure_memo: dict[str, tuple[int, list[dict]]] = {}


def _structure(store: Store) -> list[dict]:
    """The repo, directory and file nodes, read once per generation of the cache."""
    generation = store.generation()
    key = str(store.path)
    if key not in _structure_memo or _structure_memo[key][0] != generation:
        _structure_memo[key] = (generation, store.nodes(("repo", "dir", "file")))
    return _structure_memo[key][1]


def _candidates(store, root, task, file_scores, reasons, focus_symbols) -> list[Item]:
    structure = _structure(store)
    by_id = {n["id"]: n for n in structure}
    dir_scores: dict[str, float] = {}
    for node in structure:
        if node["kind"] == "file":
            score = file_scores.get(node["id"], 0.0)
            parent = node["parent"]
            while parent is not None:
                dir_scores[parent] = max(dir_scores.get(parent, 0.0), score * 0.8)
                parent = by_id[parent]["parent"] if parent in by_id else None
    items = []
    for node in structure:
        if node["kind"] == "file":
            score = file_scores.get(node["id"], 0.0)
        elif node["kind"] == "repo":
            score = 10.0  # the repo's own summary always leads
        else:
            score = dir_scores.get(node["id"], 0.0) + 0.02
        items.append(Item(node, score + 0.01, reasons.get(node["id"], [])))
    best_files = sorted((p for p in file_scores if file_scores[p] > 0), key=lambda p: (-file_scores[p], p))
    best_files = best_files[:TOP_FILES_FOR_SYMBOLS]
    terms = set(task_terms(task))
    named = {w for w in _WORD.findall(task) if len(w) > 2}
    hashes = {n["id"]: n["hash"] for n in structure if n["kind"] == "file"}
    symbols = _file_symbols(store, best_files, hashes) + store.nodes_by_id(sorted(focus_symbols))
    seen = set()
    for node in symbols:
        if node["id"] in seen or node["kind"] in ("file", "dir", "repo"):
            continue
        seen.add(node["id"])
        relevance = _symbol_relevance(node, terms, named)
        pinned = node["id"] in focus_symbols
        if relevance <= 0 and not pinned:
            continue
        why = ["focus"] if pinned else [f"matches task ({relevance:.2f})"]
        score = file_scores.get(node["path"], 0.0) * (0.4 + relevance) + (1.5 if pinned else 0.0)
        items.append(Item(node, score, why))
    _add_enclosing_symbols(store, items)
    parents = {i.node["parent"] for i in items}
    for item in items:
        if item.node["kind"] not in LADDERS:
            item.leaf = item.node["id"] not in parents and "\n" not in item.node["outline"]
    source_tokens(root, store, [i.node for i in items if i.node["kind"] not in ("dir", "repo")])
    items.sort(key=lambda i: (-i.score, i.node["id"]))
    return items


def _add_enclosing_symbols(store: Store, items: list[Item]) -> None:
    """A method shown needs its class shown: add missing enclosing symbols as candidates."""
    have = {i.node["id"] for i in items}
    wanted = {i.node["parent"]: i.score for i in items if "::" in (i.node["parent"] or "")}
    while wanted:
        missing = sorted(set(wanted) - have)
        if not missing:
            break
        parents = store.nodes_by_id(missing)
        next_wanted = {}
        for node in parents:
            items.append(Item(node, wanted[node["id"]] * 0.5, ["encloses a relevant symbol"]))
            have.add(node["id"])
            if "::" in (node["parent"] or ""):
                next_wanted[node["parent"]] = wanted[node["id"]] * 0.5
        wanted = next_wanted


def _view_cost(item: Item, view: str) -> int:
    """Estimated tokens of the node at a view: the view's own count plus its header line.

    Estimates only steer the choice; the rendered output is counted exactly.
    """
    if item.costs is None:
        node = item.node
        depth = node["path"].count("/") + node["id"].count(".") * ("::" in node["id"])
        header = len(_label(node)) // 3 + depth + 3  # code-ish text runs about 3 characters a token
        item.costs = {v: (node["tokens"][LEVELS.index(v)] or 0) + header + (8 if v in ("outline", "source") else 0)
                      for v in item.ladder}
    return item.costs[view]


def _skeleton(items: list[Item], allowance: int) -> int:
    """The repo and its top-level entries at their lowest zoom, best first, within the allowance."""
    used = 0
    for item in items:  # already in score order
        if item.node["kind"] == "repo" or (item.node["parent"] == "" and item.node["kind"] in ("dir", "file")):
            cost = _view_cost(item, item.ladder[0])
            if used + cost <= allowance or item.node["kind"] == "repo":
                item.view = item.ladder[0]
                used += cost
    return used


def _choose(items: list[Item], budget: int, used: int = 0) -> int:
    """Greedy by value per token from the current views; returns the estimated tokens used."""
    by_id = {i.node["id"]: i for i in items}
    heap: list[tuple[float, int, str, str]] = []
    order = {i.node["id"]: n for n, i in enumerate(items)}

    def ancestors_cost(item: Item) -> tuple[int, list[Item]]:
        hidden, cost = [], 0
        parent = item.node["parent"]
        while parent is not None and parent in by_id and by_id[parent].view is None:
            up = by_id[parent]
            hidden.append(up)
            cost += _view_cost(up, up.ladder[0])
            parent = up.node["parent"]
        return cost, hidden

    def push(item: Item) -> None:
        current = item.ladder.index(item.view) if item.view else -1
        now_gain = GAIN[item.view] if item.view else 0.0
        now_cost = _view_cost(item, item.view) if item.view else 0
        extra = ancestors_cost(item)[0] if item.view is None else 0
        best = None
        for view in item.ladder[current + 1:]:
            delta_cost = _view_cost(item, view) - now_cost + extra
            if delta_cost <= 0:
                delta_cost = 1
            ratio = item.score ** SHARPNESS * (GAIN[view] - now_gain) / delta_cost
            if best is None or ratio > best[0]:
                best = (ratio, view)
        if best:
            heapq.heappush(heap, (-best[0], order[item.node["id"]], item.node["id"], best[1]))

    for item in items:
        push(item)
    kids: dict[str, list[Item]] = {}
    for i in items:
        kids.setdefault(i.node["parent"], []).append(i)

    def inside_source(item: Item) -> bool:
        parent = item.node["parent"]
        while parent in by_id:
            if by_id[parent].view == "source":
                return True
            parent = by_id[parent].node["parent"]
        return False

    def fold(item: Item) -> int:
        """A node shown as source already holds its parts: hide them and return their tokens."""
        freed = 0
        for child in kids.get(item.node["id"], []):
            if child.view is not None:
                freed += _view_cost(child, child.view) + fold(child)
                child.view = None
        return freed

    while heap:
        ratio, _, node_id, view = heapq.heappop(heap)
        item = by_id[node_id]
        if item.view is not None and item.ladder.index(view) <= item.ladder.index(item.view):
            continue
        if inside_source(item):
            continue
        extra, hidden = ancestors_cost(item) if item.view is None else (0, [])
        delta = _view_cost(item, view) - (_view_cost(item, item.view) if item.view else 0) + extra
        if used + delta > budget:
            smaller = [v for v in item.ladder if (not item.view or item.ladder.index(v) > item.ladder.index(item.view))
                       and item.ladder.index(v) < item.ladder.index(view)]
            for v in reversed(smaller):  # the biggest step that still fits
                d = _view_cost(item, v) - (_view_cost(item, item.view) if item.view else 0) + extra
                if used + d <= budget:
                    view, delta = v, d
                    break
            else:
                continue
        for up in hidden:
            up.view = up.ladder[0]
            up.granted = max(up.granted if up.granted != float("inf") else 0.0, -ratio)
        item.view = view
        item.granted = -ratio
        used += delta
        if view == "source":
            used -= fold(item)
        push(item)
        for up in hidden:
            push(up)
    return used


# --- output -------------------------------------------------------------------------------


def _header(task: str, budget: int) -> str:
    task = " ".join(task.split())
    limit = max(8, budget // 5)  # a long task must not eat the budget it asks about
    ids = tokens.encoding().encode_ordinary(task)
    if len(ids) > limit:
        task = tokens.encoding().decode(ids[:limit]).rstrip() + " …"
    return f"# Context for: {task}\n"


def _fit(items: list[Item], task: str, budget: int, fmt: str, explain: bool, root: str) -> tuple[str, int, int]:
    """Render; while the exact count is over budget, take back the least valuable views.

    Returns the text, its token count and the count of the first rendering (before trimming).
    """
    first = None
    while True:
        text = _render(items, task, budget, fmt, explain, root)
        used = tokens.count(text)
        first = used if first is None else first
        shown = [i for i in items if i.view and i.node["kind"] != "repo"]
        if not shown:  # last resort: the repo's own summary, rung by rung
            shown = [i for i in items if i.view]
        if used <= budget or not shown:
            return text, used, first
        # Lower the leaves whose last upgrades were worth least per token (children before
        # parents) until their estimated savings cover the excess; then count again.
        parents = {i.node["parent"] for i in shown}
        leaves = sorted((i for i in shown if i.node["id"] not in parents), key=lambda i: (i.granted, i.score, i.node["id"]))
        excess = used - budget
        for victim in leaves or shown[:1]:
            rung = victim.ladder.index(victim.view)
            before = _view_cost(victim, victim.view)
            victim.view = victim.ladder[rung - 1] if rung > 0 else None
            excess -= before - (_view_cost(victim, victim.view) if victim.view else 0)
            if excess <= 0:
                break


def _render(items: list[Item], task: str, budget: int, fmt: str, explain: bool, root: str) -> str:
    shown = {i.node["id"]: i for i in items if i.view}
    for item in shown.values():
        item.node["_text"] = view_text(root, item.node, item.view)
    if fmt == "json":
        data = {"task": task, "budget": budget, "nodes": [
            {"id": i.node["id"], "kind": i.node["kind"], "path": i.node["path"],
             "lines": [i.node["start_line"], i.node["end_line"]] if i.node["start_line"] else None,
             "view": i.view, "score": round(i.score, 4), "reasons": i.reasons, "text": i.node["_text"]}
            for i in sorted(shown.values(), key=lambda i: (-i.score, i.node["id"]))]}
        nodes = ",\n".join(json.dumps(n, ensure_ascii=False) for n in data.pop("nodes"))  # a node a line
        return json.dumps(data, ensure_ascii=False)[:-1] + ', "nodes": [\n' + nodes + "\n]}\n"
    children: dict[str | None, list[Item]] = {}
    for item in shown.values():
        children.setdefault(item.node["parent"], []).append(item)
    for kids in children.values():
        kids.sort(key=lambda i: (i.node["kind"] != "dir", i.node["start_line"] or 0, i.node["name"]))
    out = [_header(task, budget)]
    for top in children.get(None, []):
        node = top.node
        out.append(f"## {node['name']}/ (repository)\n\n{node['_text']}\n")
        out.append("Zoom into any entry with its path and line range.\n")
        for child in children.get(node["id"], []):
            _render_node(child, children, 0, out, explain)
    return "\n".join(out).rstrip() + "\n"


def _label(node: dict) -> str:
    if node["kind"] in ("dir", "repo"):
        return f"{node['name']}/"
    if node["kind"] == "file":
        return f"{node['name']} `{node['path']}:{node['start_line']}-{node['end_line']}`"
    head = node["signature"] or node["name"]
    kind = "" if head.split(" ", 1)[0] == node["kind"] else f"{node['kind']} "  # not "class `class X`"
    return f"{kind}`{head}` `{node['path']}:{node['start_line']}-{node['end_line']}`"


def _render_node(item: Item, children, depth: int, out: list[str], explain: bool) -> None:
    node, indent = item.node, "  " * depth
    label = _label(node)
    why = f" [score {item.score:.2f}: {'; '.join(item.reasons)}]" if explain and item.reasons else ""
    text = node["_text"]
    if item.view in ("outline", "source"):
        fence = "```"
        body = "\n".join(indent + "  " + line for line in text.split("\n"))
        out.append(f"{indent}- {label} ({item.view}){why}\n{indent}  {fence}\n{body}\n{indent}  {fence}")
    else:
        out.append(f"{indent}- {label}: {text}{why}")
    for child in children.get(node["id"], []):
        _render_node(child, children, depth + 1, out, explain)


# --- one node ---------------------------------------------------------------------------------


def resolve_node(store: Store, target: str, symbol: str | None = None) -> dict:
    """The node for `path`, `path:Qual.name` or `path::Qual.name`; never anything outside the repo."""
    path, sep, qual = target.partition("::") if "::" in target else target.partition(":")
    qual = symbol or qual
    path = path.strip()
    if path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
        raise ContextError(f"{target!r} is outside the repository: give a path relative to its root")
    path = path.strip("/").removeprefix("./")
    node = store.node(f"{path}::{qual}" if qual else path)
    if node is None and qual:  # a bare method name: find it in the file
        rows = store.db.conn.execute(
            "SELECT id FROM nodes WHERE path = ? AND name = ? ORDER BY position LIMIT 1", [path, qual.split(".")[-1]]
        ).fetchone()
        node = store.node(rows[0]) if rows else None
    if node is None:
        raise ContextError(f"{target!r} is not in the pyramid (ignored, skipped, or no such path or symbol)")
    return node


def render_zoom(root: str, node: dict, view: str) -> str:
    lines = f":{node['start_line']}-{node['end_line']}" if node["start_line"] else ""
    index = LEVELS.index(view)
    count = node["tokens"][index] if node["tokens"] else 0
    title = node["signature"] or node["name"] or "."
    head = f"# {title}\n`{node['path'] or '.'}{lines}` · {node['kind']} · view {view} · {count} tokens\n"
    return f"{head}\n{view_text(root, node, view)}\n"


def search(store: Store, query: str, limit: int = 20) -> list[dict]:
    """Files and symbols for a query: exact names first, then name prefixes and parts, then text matches."""
    query = query.strip()
    if not query:
        raise ContextError("query must not be empty")
    if not 1 <= limit <= 200:
        raise ContextError("limit must be between 1 and 200")
    name = query.split(".")[-1].split("::")[-1]
    found: dict[str, tuple[float, dict]] = {}
    qualifier = query[: -len(name)].strip(".:/").lower()
    rows = store.db.conn.execute(  # a range on the indexed name: prefix search without a scan
        "SELECT id, kind, path, name, signature, start_line, end_line, summaries FROM nodes "
        "WHERE name >= ? AND name < ? ORDER BY length(name), id LIMIT ?",
        [name, name + "\U0010ffff", limit * 4],
    ).fetchall()
    for row in rows:
        exact = row[3] == name
        score = (3.0 if exact else 2.0) + (0.5 if qualifier and qualifier in row[0].lower() else 0.0)
        found.setdefault(row[0], (score, _hit(row, "exact name" if exact else "name prefix")))
    terms = task_terms(query)
    if terms and (len(found) < limit if not found else len(found) < limit // 2):
        for path, score in store.db.conn.execute(
            "SELECT f.path, -bm25(file_search, 4.0, 1.0, 0.3) FROM file_search JOIN files f ON f.rowid = file_search.rowid "
            "WHERE file_search MATCH ? ORDER BY 2 DESC, f.path LIMIT ?", [_fts_query(terms), limit],
        ):
            row = store.db.conn.execute(
                "SELECT id, kind, path, name, signature, start_line, end_line, summaries FROM nodes WHERE id = ?", [path]
            ).fetchone()
            if row and row[0] not in found and score >= 1.0:  # weaker matches say nothing
                found[row[0]] = (1.0 + min(score, 50) / 100, _hit(row, f"text match {score:.1f}"))
    ranked = sorted(found.values(), key=lambda pair: (-pair[0], pair[1]["id"]))
    return [hit for _, hit in ranked[:limit]]


def _hit(row, why: str) -> dict:
    node_id, kind, path, name, signature, start, end, summaries = row
    return {"id": node_id, "kind": kind, "path": path, "name": name, "signature": signature or None,
            "lines": [start, end] if start else None, "summary": json.loads(summaries or "[]")[3:4] and
            json.loads(summaries)[3], "why": why}
