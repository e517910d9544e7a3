"""Context for a task within a token budget: the code the task needs at source, the repo around it at low zoom.

1. Rank symbols and files. BM25 of the task against each symbol's name and body (every
   identifier it uses, parameter and attribute names, the words of its strings and
   comments; SQLite FTS5) and against each file's path, symbol names and summaries;
   exact mentions of identifiers and paths, a qualified name (`json.dumps`) preferring
   the symbol under its qualifier; the focus the caller pins; then a personalised
   PageRank over the reference graph, seeded by those matches. Tests, vendored or
   legacy copies and compiled or declaration twins rank below the code they mirror.
2. Plan one sequence of upgrades that does not depend on the budget: the best symbols
   at source first (a long one as an excerpt around what matches, with its exact lines),
   the top of the tree in step with its share, then every other upgrade (hidden → 2
   words → … → outline → excerpt → source) by value per token.
3. Take the longest prefix of that sequence whose rendering fits, counted exactly with
   tiktoken; a source step that does not fit whole is shown as its first lines. A bigger
   budget takes a longer prefix, so it never shows a node at a lower view.
"""

from __future__ import annotations

import heapq
import json
import marshal
import re
from dataclasses import dataclass, field

from cache.store import Store
from cockpit.core.graph import file_graph, pagerank
from cockpit.core.pyramid import LEVELS, source_tokens
from cockpit.core.render import read_source, view_text
from summarizers import tokens
from summarizers.extractive import FUNCTION_WORDS, identifier_words

# What a view is worth relative to the 2-word label: detail pays, with diminishing returns.
GAIN = {"2": 1.0, "4": 1.3, "8": 1.7, "16": 2.1, "32": 2.5, "64": 2.8, "outline": 5.0, "excerpt": 5.5, "source": 6.0}
VIEW_ORDER = ("2", "4", "8", "16", "32", "64", "outline", "excerpt", "source")
# Value goes with score ** SHARPNESS: above 1, the best nodes win depth before the tail wins breadth.
SHARPNESS = 2.0
LADDERS = {
    "repo": ("8", "32", "64"),
    "dir": ("2", "8", "16", "32"),
    "file": ("2", "8", "16", "32", "64", "outline", "source"),
    "symbol": ("8", "16", "32", "outline", "source"),
}
LEAF_LADDER = ("8", "16", "32", "source")
SKELETON_SHARE = 0.12  # of what is shown, for the top of the tree at low zoom whatever the task
LEAD_SYMBOLS = 8  # the best symbols go to source before anything else is detailed
EXCERPT_OVER = 320  # tokens: a longer symbol or file is first shown as an excerpt around its matches
EXCERPT_LINES = 36
UNRELATED = 0.0105  # the score of a file that neither the task, the focus nor the graph points to
LEAD_WHOLE_MAX = 1200  # tokens: a leading symbol up to this long is shown whole once every lead is in
EXCERPT_CANDIDATES = 40  # only the best nodes get an excerpt worked out
PARTIAL_MIN_LINES = 4
TEST_PENALTY = 0.5  # tests explain code but are seldom where a change belongs
MIRROR_PENALTY = 0.4  # a vendored, legacy, compiled or declaration copy of code that lives elsewhere
_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|testing|spec|__tests__)/|(?:^|/)(?:test_[^/]*|[^/]*_test\.\w+|conftest\.py"
                        r"|[^/]*\.(?:test|spec)\.[jt]sx?)$")
_MIRROR_PATH = re.compile(r"(?:^|/)(?:v1|_vendor|vendor|vendored|third_party|third-party|legacy|dist)/"
                          r"|\.min\.[cm]?js$|\.d\.[cm]?ts$")
_COMPILED_JS = re.compile(r"\.[cm]?js$")
TOP_FILES_FOR_SYMBOLS = 40  # symbols are candidates only in the best files, where named, or where they match
TOP_SYMBOL_HITS = 300
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_QUALIFIED = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b")
_PATHLIKE = re.compile(r"[\w./-]+\.[A-Za-z]{1,5}\b|[\w-]+/[\w./-]+")
STOPWORDS = FUNCTION_WORDS | {"fix", "bug", "issue", "add", "make", "when", "should", "need", "use", "get", "set",
                              "allow", "support", "handle", "error", "work", "new", "change", "update"}
# Words too common in code to make a symbol named so relevant on their own.
COMMON_NAMES = STOPWORDS | {"path", "name", "value", "data", "type", "list", "item", "key", "keys", "file", "text",
                            "run", "call", "main", "init", "load", "save", "read", "write", "open", "close", "sort",
                            "copy", "parse", "format", "string", "default", "option", "options", "test", "client"}


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
    excerpt: tuple[int, int] | None = None  # the lines an excerpt would show, when it has one
    lines_shown: tuple[int, int] | None = None  # at view "excerpt": exactly which lines are shown
    lead: bool = False  # one of the best symbols: goes to source first

    @property
    def ladder(self) -> tuple[str, ...]:
        kind = self.node["kind"]
        if kind == "file" and (self.node["tokens"][7] or 0) <= 2:
            return ("2",)  # an empty file: its name says all there is
        ladder = LADDERS[kind] if kind in LADDERS else LEAF_LADDER if self.leaf else LADDERS["symbol"]
        if self.excerpt:
            ladder = ladder[:-1] + ("excerpt", "source")
        return ladder


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


def _fts_query(terms: list[str], body_only: frozenset | set = frozenset()) -> str:
    """FTS5 OR-query; words in `body_only` match symbols' bodies, not their names (symbol_search only)."""
    return " OR ".join(("terms : " if t in body_only else "") + '"' + t.replace('"', "") + '"' for t in terms)


# --- ranking --------------------------------------------------------------------------


@dataclass
class SymbolHit:
    path: str
    score: float  # BM25 over name and body, over the best hit's; plus what the task names
    why: str


def symbol_hits(store: Store, task: str, limit: int = TOP_SYMBOL_HITS) -> dict[str, SymbolHit]:
    """Symbols matching the task: BM25 over their names and bodies, and the identifiers the task names.

    A qualified name (`json.dumps`, `Session.send`) counts for the symbol under its qualifier only;
    a plain word names a symbol only when it is not a word every codebase uses (`add`, `path`).
    """
    hits: dict[str, SymbolHit] = {}
    terms = task_terms(task)
    terms += [t.replace("_", "") for t in terms if "_" in t.strip("_")]  # as the index holds whole names
    conn = store.db.conn
    if terms:
        rows = conn.execute(
            "SELECT n.id, n.path, -bm25(symbol_search, 4.0, 2.0, 1.0) AS s FROM symbol_search "
            "JOIN nodes n ON n.rowid = symbol_search.rowid WHERE symbol_search MATCH ? ORDER BY s DESC, n.id LIMIT ?",
            [_fts_query(terms, COMMON_NAMES), limit],
        ).fetchall()
        top = rows[0][2] if rows and rows[0][2] > 0 else 1.0
        for node_id, path, score in rows:
            hits[node_id] = SymbolHit(path, score / top, f"name and body match {score:.1f}")
    boosts: dict[str, float] = {}
    qualified = [(q, n) for q, n in _QUALIFIED.findall(task) if len(n) > 1]
    names = {w for w in _WORD.findall(task) if len(w) > 2 and ("_" in w.strip("_") or any(c.isupper() for c in w[1:]))}
    plain = {w for w in _WORD.findall(task) if len(w) > 3 and w.lower() not in COMMON_NAMES} - names
    wanted = names | plain | {n for _, n in qualified}
    if names:  # a function that takes the named parameter (`sort_keys`) is about it, however long its body
        rows = conn.execute(
            "SELECT n.id, n.path, n.signature FROM symbol_search JOIN nodes n ON n.rowid = symbol_search.rowid "
            "WHERE symbol_search MATCH ? ORDER BY n.id LIMIT 200",
            [" OR ".join(f'signature : "{name}"' for name in sorted(names))],
        ).fetchall()
        for node_id, path, signature in rows:
            params = set(_WORD.findall((signature or "").partition("(")[2]))
            if not params & names:  # the words matched, not the name itself (`sort_key` for `sort_keys`)
                continue
            hit = hits.get(node_id)
            hits[node_id] = SymbolHit(path, (hit.score if hit else 0.0) + 0.8, "takes a parameter named in the task")
    if wanted:
        marks = ",".join("?" * len(wanted))
        rows = conn.execute(
            f"SELECT id, path, name FROM nodes WHERE name IN ({marks}) AND kind NOT IN ('file', 'dir', 'repo') "
            "ORDER BY id LIMIT 400", sorted(wanted),
        ).fetchall()
        under = {}  # (qualifier, name) -> symbols under that qualifier
        for node_id, path, name in rows:
            for q, n in qualified:
                if n == name and _under(q, node_id):
                    under.setdefault((q, n), []).append(node_id)
        claimed = {n for (q, n), ids in under.items() if ids}
        for node_id, path, name in rows:
            boost, why = 0.0, ""
            if any(node_id in ids for ids in under.values()):
                boost, why = 1.5, "qualified name in task"
            elif name in names and name not in claimed:
                boost, why = 1.0, f"defines {name}, named in task"
            elif name in plain and name not in claimed:
                boost, why = 0.4, f"named {name}, a word of the task"
            if boost:
                boosts[node_id] = boost
                hit = hits.get(node_id)
                hits[node_id] = SymbolHit(path, (hit.score if hit else 0.0) + boost, why)
    return hits


def _under(qualifier: str, node_id: str) -> bool:
    """Is the symbol under this qualifier: a directory, module or enclosing class of that name?"""
    path, _, qualname = node_id.partition("::")
    q = qualifier.lower()
    parts = [p.lower() for p in path.split("/")]
    stems = parts[:-1] + [parts[-1].split(".")[0]]
    return q in stems or q in [p.lower() for p in qualname.split(".")[:-1]]


@dataclass
class Layout:
    """What tells a copy from the code it mirrors: the TypeScript sources and the older versions' folders."""
    ts_stems: set[str]  # every trailing part of every .ts/.tsx file's path without its suffix
    old_versions: set[str]  # `dir/v3` when `dir/v4` exists too
    penalties: dict[str, float] = field(default_factory=dict)  # worked out per path on first use


_layout_memo: dict[str, tuple[int, Layout]] = {}
_VERSION_DIR = re.compile(r"(?:^|/)v(\d+)$")


def layout(store: Store) -> Layout:
    generation, key = store.generation(), str(store.path)
    if key not in _layout_memo or _layout_memo[key][0] != generation:
        paths = [r[0] for r in store.db.conn.execute("SELECT path FROM files")]
        stems, versions = set(), {}
        for path in paths:
            if path.endswith((".ts", ".tsx")) and not re.search(r"\.d\.[cm]?ts$", path):
                parts = path.rsplit(".", 1)[0].split("/")
                stems.update("/".join(parts[n:]) for n in range(len(parts)))
            folders = path.split("/")[:-1]
            for n in range(len(folders)):
                match = _VERSION_DIR.search("/".join(folders[:n + 1]))
                if match:
                    versions.setdefault("/".join(folders[:n]), set()).add(int(match.group(1)))
        old = {f"{base}/v{v}".lstrip("/") for base, vs in versions.items() for v in vs if v < max(vs)}
        _layout_memo[key] = (generation, Layout(stems, old))
    return _layout_memo[key][1]


def mirror_penalty(path: str, where: Layout) -> float:
    """How much a file's rank is kept down: tests, vendored or legacy copies, compiled or declaration twins."""
    if path not in where.penalties:
        where.penalties[path] = _penalty(path, where)
    return where.penalties[path]


def _penalty(path: str, where: Layout) -> float:
    factor = 1.0
    if _TEST_PATH.search(path):
        factor *= TEST_PENALTY
    folders = path.split("/")[:-1]
    if _MIRROR_PATH.search(path) or any("/".join(folders[:n + 1]) in where.old_versions for n in range(len(folders))):
        factor *= MIRROR_PENALTY
    elif _COMPILED_JS.search(path):  # `lib/x.js` compiled from `src/x.ts`, or `x.js` beside `x.ts`
        stem = path.rsplit(".", 1)[0]
        if stem in where.ts_stems or ("/" in stem and stem.split("/", 1)[1] in where.ts_stems):
            factor *= MIRROR_PENALTY
    return factor


def rank_files(store: Store, task: str, focus: list[str], hits: dict[str, SymbolHit] | None = None,
               ) -> tuple[dict[str, float], dict[str, list[str]]]:
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
            lexical[path] = 0.5 * score / top
            reasons.setdefault(path, []).append(f"text match {score:.1f}")
    hits = symbol_hits(store, task) if hits is None else hits
    best: dict[str, tuple[float, str]] = {}
    for node_id, hit in hits.items():
        if hit.score > best.get(hit.path, (0.0, ""))[0]:
            best[hit.path] = (hit.score, node_id)
    for path, (score, node_id) in best.items():
        lexical[path] = lexical.get(path, 0.0) + 0.6 * min(score, 2.0)
        reasons.setdefault(path, []).append(f"{node_id.partition('::')[2]}: {hits[node_id].why}")
    mentioned = _mentions(store, task)
    for path, why in mentioned.items():
        lexical[path] = lexical.get(path, 0.0) + 0.6
        reasons.setdefault(path, []).append(why)
    pinned = set()
    for path in focus:
        pinned.add(path)
        reasons.setdefault(path, []).append("focus")
    graph = file_graph(store)
    where = layout(store)
    seed = {p: lexical.get(p, 0.0) + (1.0 if p in pinned else 0.0) for p in graph.paths}
    personal = pagerank(graph, seed if any(seed.values()) else None)
    prior = pagerank(graph, None)
    top_personal = max(personal.values(), default=1.0) or 1.0
    top_prior = max(prior.values(), default=1.0) or 1.0
    scores = {}
    for path in graph.paths:
        p = personal.get(path, 0.0) / top_personal
        score = 0.6 * lexical.get(path, 0.0) + 0.3 * p + 0.05 * prior.get(path, 0.0) / top_prior
        scores[path] = score * mirror_penalty(path, where) + (1.0 if path in pinned else 0.0)
        if p > 0.2:
            reasons.setdefault(path, []).append(f"reference graph {p:.2f}")
    return scores, reasons


def _mentions(store: Store, task: str) -> dict[str, str]:
    """Files named in the task (`cli.py`, `src/app/`), or the module a qualified name starts with (`json.dumps`)."""
    found: dict[str, str] = {}
    tokens_ = [t.strip("./") for t in _PATHLIKE.findall(task)] + [q for q, _ in _QUALIFIED.findall(task) if len(q) > 2]
    for token in tokens_:
        if not token:
            continue
        rows = store.db.conn.execute(
            "SELECT path FROM files WHERE path = ? OR path LIKE ? OR path LIKE ? OR path LIKE ? "
            "ORDER BY length(path), path LIMIT 5",
            [token, f"%/{token}", f"{token}/__init__.py", f"%/{token}/__init__.py"],
        ).fetchall()
        if not rows and "/" not in token and "." not in token:
            rows = store.db.conn.execute(
                "SELECT path FROM files WHERE path = ? OR path LIKE ? ORDER BY length(path), path LIMIT 3",
                [f"{token}.py", f"%/{token}.py"]).fetchall()
        for (path,) in rows:
            found.setdefault(path, f"path named in task: {token}")
    return found


def _symbol_words(node: dict) -> tuple[frozenset, frozenset]:
    """The words of a symbol's name and of its 16-word summary, worked out once per node."""
    words = node.get("_words")
    if words is None:
        name = node["name"]
        summary = _gist(node)
        words = (frozenset(identifier_words(name).lower().split()) | {name.lower()},
                 frozenset(_WORD.findall(summary.lower())))
        node["_words"] = words
    return words


def _gist(node: dict) -> str:
    """A symbol's 16-word summary, from a ranking row (`gist`) or a whole one."""
    if "gist" in node:
        return node["gist"] or ""
    return node["summaries"][3] if len(node["summaries"]) > 3 else ""


def _symbol_relevance(node: dict, terms: set[str]) -> float:
    """For a symbol of a top file that the search did not return: how much its name and summary say."""
    if "_words" not in node and node["name"].isascii():
        # Every word of a name or summary is a piece of it, lowered: when no term is a piece of either,
        # no word can match, and the words need not be worked out (most symbols of the top files).
        name, gist = node["name"].lower(), _gist(node).lower()
        if not any(t in name or t in gist for t in terms):
            return 0.0
    name_words, text_words = _symbol_words(node)
    hits = len(terms & name_words - COMMON_NAMES) * 2 + len(terms & text_words) * 0.5
    return min(0.6, hits / max(4, 2 * len(terms)))


_symbols_memo: dict[str, dict[str, tuple[str, list[dict]]]] = {}


def _file_symbols(store: Store, paths: list[str], hashes: dict[str, str]) -> list[dict]:
    """The symbols of some files as what ranks them (id, path, kind, name, 16-word summary as `gist`), kept
    in memory per file content hash between requests; the rows of those that rank are read after."""
    memo = _symbols_memo.setdefault(str(store.path), {})
    missing = [p for p in paths if p not in memo or memo[p][0] != hashes.get(p)]
    if missing:
        loaded: dict[str, list[dict]] = {p: [] for p in missing}
        for node in store.symbol_gists(missing):
            loaded[node["path"]].append(node)
        for path, nodes in loaded.items():
            memo[path] = (hashes.get(path), nodes)
    return [n for p in paths for n in memo[p][1]]


# --- candidates ----------------------------------------------------------------------------


def build_context(store: Store, root: str, task: str, budget: int, focus: list[str] | None = None,
                  fmt: str = "md", explain: bool = False) -> Context:
    if budget < 50:
        raise ContextError("budget must be at least 50 tokens")
    if fmt not in ("md", "json"):
        raise ContextError("format must be md or json")
    focus_paths, focus_symbols = _resolve_focus(store, focus or [])
    hits = symbol_hits(store, task)
    file_scores, reasons = rank_files(store, task, focus_paths, hits)
    items = _candidates(store, root, task, file_scores, reasons, focus_symbols, hits)
    plan = _Plan(items, root, task, budget, fmt, explain)
    if plan.ceiling() <= budget:
        # More than every candidate at its top view: every step fits whatever it costs, so none is counted
        # (counting each would cost more than the answer); the whole is counted once, and checked.
        plan.estimated = True
        plan.fill()
        text = plan.render()
        plan.sources.clear()  # the files' texts are in the answer now: not twice in memory while it is counted
        plan.lines.clear()
        used = tokens.count(text)
        if used <= budget:
            return Context(task, budget, [i for i in items if i.view], text, used, fmt)
        for item in items:  # the ceiling was wrong (it never was): plan again, counting every step
            item.view = item.lines_shown = None
        plan = _Plan(items, root, task, budget, fmt, explain)
    plan.fill()
    text, used = plan.fit()
    return Context(task, budget, [i for i in items if i.view], text, used, fmt)


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
STRUCTURE_BLOB = "context/structure"


def _structure(store: Store) -> list[dict]:
    """The repo, directory and file nodes, read once per generation of the cache: in memory between the
    requests of one process, and as one `marshal` blob in the cache between processes (reading and decoding
    thousands of rows costs a short command more than the rest of its request)."""
    generation = store.generation()
    key = str(store.path)
    if key not in _structure_memo or _structure_memo[key][0] != generation:
        blob = store.load_blob(STRUCTURE_BLOB, generation)
        if blob is None:
            nodes = store.nodes(("repo", "dir", "file"))
            store.save_blob(STRUCTURE_BLOB, generation, marshal.dumps(nodes))
        else:
            nodes = marshal.loads(blob)
        _structure_memo[key] = (generation, nodes)
    return _structure_memo[key][1]


def _candidates(store, root, task, file_scores, reasons, focus_symbols, hits) -> list[Item]:
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
    hashes = {n["id"]: n["hash"] for n in structure if n["kind"] == "file"}
    in_best = set(best_files)
    elsewhere = sorted(i for i, h in hits.items() if h.path not in in_best and h.path in hashes and h.score >= 0.2)
    extra = store.nodes_by_id(elsewhere[:120]) + store.nodes_by_id(sorted(focus_symbols))
    for node in extra:
        node.pop("terms", None)
    symbols = _file_symbols(store, best_files, hashes) + extra
    where = layout(store)
    seen = set()
    ranked = []
    for node in symbols:
        if node["id"] in seen or node["kind"] in ("file", "dir", "repo"):
            continue
        seen.add(node["id"])
        hit = hits.get(node["id"])
        relevance = hit.score if hit else _symbol_relevance(node, terms)
        pinned = node["id"] in focus_symbols
        if relevance > 0 or pinned:
            ranked.append((node, hit, relevance, pinned))
    rows = {n["id"]: n for n in store.nodes_by_id([n["id"] for n, *_ in ranked if "gist" in n], terms=False)}
    for node, hit, relevance, pinned in ranked:
        node = rows.get(node["id"], node)
        why = ["focus"] if pinned else [hit.why if hit else f"name or summary matches task ({relevance:.2f})"]
        file_score = file_scores.get(node["path"], 0.0)
        if node["kind"] in ("variable", "constant"):  # data: cheap to show, seldom what a task changes
            relevance *= 0.5
        score = (0.5 * file_score + 0.8 * relevance) * mirror_penalty(node["path"], where) + (1.5 if pinned else 0.0)
        items.append(Item(node, score, why))
    _add_enclosing_symbols(store, items)
    parents = {i.node["parent"] for i in items}
    for item in items:
        if item.node["kind"] not in LADDERS:
            item.leaf = item.node["id"] not in parents and "\n" not in item.node["outline"]
    source_tokens(root, store, [i.node for i in items if i.node["kind"] not in ("dir", "repo")])
    items.sort(key=lambda i: (-i.score, i.node["id"]))
    _mark_leads_and_excerpts(root, items, task_terms(task))
    return items


def _mark_leads_and_excerpts(root: str, items: list[Item], terms: list[str]) -> None:
    """The best symbols lead; the best long nodes get an excerpt around the lines that match the task."""
    symbols = [i for i in items if i.node["kind"] not in ("dir", "repo", "file") and i.reasons
               and i.reasons[0] != "encloses a relevant symbol"]
    top = symbols[0].score if symbols else 0.0
    for item in symbols[:LEAD_SYMBOLS]:
        item.lead = item.score >= 0.3 * top
    texts: dict[str, list[str]] = {}
    wanted = set(terms)
    for item in [i for i in items if i.node["kind"] not in ("dir", "repo")][:EXCERPT_CANDIDATES]:
        node = item.node
        if (node["tokens"][7] or 0) <= EXCERPT_OVER or not node["start_line"]:
            continue
        if node["path"] not in texts:
            texts[node["path"]] = read_source(root, {"kind": "file", "path": node["path"]}).split("\n")
        item.excerpt = _excerpt_range(texts[node["path"]], node["start_line"], node["end_line"], wanted)


def _excerpt_range(lines: list[str], start: int, end: int, terms: set[str]) -> tuple[int, int]:
    """The EXCERPT_LINES lines of [start, end] that hold most of the task's words; from the head when
    the best window begins near it, so that a function's signature stays in view."""
    end = min(end, len(lines))
    if end - start + 1 <= EXCERPT_LINES:
        return start, end
    weights = []
    for text in lines[start - 1:end]:
        words = set(_WORD.findall(text.lower()))
        words.update(part for word in list(words) if "_" in word for part in word.split("_"))
        weights.append(len(words & terms))
    best, best_at = -1, 0
    window = sum(weights[:EXCERPT_LINES])
    for at in range(0, len(weights) - EXCERPT_LINES + 1):
        if at:
            window += weights[at + EXCERPT_LINES - 1] - weights[at - 1]
        if window > best:
            best, best_at = window, at
    if best_at <= EXCERPT_LINES // 3:
        best_at = 0
    first = start + best_at
    return first, first + EXCERPT_LINES - 1


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


# --- the plan: one sequence of upgrades, cut where the budget ends ----------------------------


def _rank(view: str | None) -> int:
    return -1 if view is None else VIEW_ORDER.index(view)


class _Plan:
    """Upgrades in an order that does not depend on the budget, applied while the exact cost fits."""

    def __init__(self, items: list[Item], root: str, task: str, budget: int, fmt: str, explain: bool):
        self.items, self.root, self.task, self.budget, self.fmt, self.explain = items, root, task, budget, fmt, explain
        self.by_id = {i.node["id"]: i for i in items}
        self.order = {i.node["id"]: n for n, i in enumerate(items)}
        self.kids: dict[str, list[Item]] = {}
        for i in items:
            self.kids.setdefault(i.node["parent"], []).append(i)
        self.header = _header(task, budget) if fmt == "md" else _json_head(task, budget) + _JSON_TAIL
        self.room = budget - tokens.count(self.header) - 4
        self.used = 0
        self.skeleton_used = 0
        self.log: list[tuple[list[tuple[Item, str | None, tuple | None]], int, str]] = []
        self.costs: dict[tuple, int] = {}
        self.lines: dict[str, list[str]] = {}  # a file's lines, for its symbols and excerpts
        self.sources: dict[str, str] = {}  # a file's text: one string, not a string a line (a tenth of the memory)
        self.partial_of: list = []
        self.skeleton = [i for i in items if i.node["kind"] == "repo"
                         or (i.node["parent"] == "" and i.node["kind"] in ("dir", "file"))]
        # The best symbols at source, a long one first as its excerpt; then the excerpts made whole,
        # those not much longer than an excerpt.
        leads = [i for i in items if i.lead]
        self.leads = [(i, "excerpt" if i.excerpt else "source") for i in leads]
        self.leads += [(i, "source") for i in leads if i.excerpt and _view_cost(i, "source") <= LEAD_WHOLE_MAX]
        self.heap: list[tuple[float, int, str, str]] = []
        self.ways: dict[str, int] = {}
        self.estimated = False  # steps cost their estimates (see ceiling), not their exact counts
        for item in items:
            if item.score > UNRELATED:  # what nothing points to comes only with the skeleton
                self.push(item)

    # --- the sequence ---

    def push(self, item: Item) -> None:
        current = item.ladder.index(item.view) if item.view in item.ladder else -1
        now_gain = GAIN[item.view] if item.view else 0.0
        now_cost = _view_cost(item, item.view) if item.view else 0
        extra = self.way_cost(item) if item.view is None else 0
        best = None
        for view in item.ladder[current + 1:]:
            delta = max(1, _view_cost(item, view) - now_cost + extra)
            ratio = item.score ** SHARPNESS * (GAIN[view] - now_gain) / delta
            if best is None or ratio > best[0]:
                best = (ratio, view)
        if best:
            heapq.heappush(self.heap, (-best[0], self.order[item.node["id"]], item.node["id"], best[1]))

    def way_cost(self, item: Item) -> int:
        """Estimated cost of the hidden ancestors a node needs shown, memoised while nothing is shown yet."""
        if self.log:
            return sum(_view_cost(up, up.ladder[0]) for up in self.hidden_ancestors(item))
        parent = self.by_id.get(item.node["parent"])
        if parent is None:
            return 0
        if parent.node["id"] not in self.ways:
            self.ways[parent.node["id"]] = _view_cost(parent, parent.ladder[0]) + self.way_cost(parent)
        return self.ways[parent.node["id"]]

    def hidden_ancestors(self, item: Item) -> list[Item]:
        hidden, parent = [], item.node["parent"]
        while parent is not None and parent in self.by_id and self.by_id[parent].view is None:
            hidden.append(self.by_id[parent])
            parent = self.by_id[parent].node["parent"]
        return hidden

    def inside_source(self, item: Item) -> bool:
        parent = item.node["parent"]
        while parent in self.by_id:
            if self.by_id[parent].view == "source":
                return True
            parent = self.by_id[parent].node["parent"]
        return False

    def step_to(self, item: Item, view: str) -> list[tuple[Item, str, tuple | None]]:
        lines = item.excerpt if view == "excerpt" else None
        return [(up, up.ladder[0], None) for up in reversed(self.hidden_ancestors(item))] + [(item, view, lines)]

    def next_step(self) -> tuple[list, str] | None:
        while self.skeleton and self.skeleton[0].view is not None:
            self.skeleton.pop(0)
        if self.skeleton and (self.skeleton[0].node["kind"] == "repo"
                              or self.skeleton_used <= SKELETON_SHARE * self.used):
            item = self.skeleton.pop(0)
            return self.step_to(item, item.ladder[0]), "skeleton"
        while self.leads:
            item, view = self.leads.pop(0)
            if _rank(item.view) < _rank(view) and not self.inside_source(item):
                return self.step_to(item, view), "lead"
        while self.heap:
            _, _, node_id, view = heapq.heappop(self.heap)
            item = self.by_id[node_id]
            if _rank(view) <= _rank(item.view) or self.inside_source(item):
                continue
            return self.step_to(item, view), "heap"
        return None

    # --- exact costs, applying and taking back ---

    def ceiling(self) -> int:
        """More tokens than the largest answer these candidates can make: every node at the top of its
        ladder (or, unrelated to the task, at its bottom), each counted apart (a part inside a source shown counts again), with its label, fences,
        indentation and reasons; from the counts kept in the cache. build_context checks the answer's count,
        so a ceiling too low costs a second plan, never a budget overrun."""
        total = tokens.count(self.header) + 4
        for item in self.items:
            # What nothing points to is shown only at its lowest view (with the skeleton, or on the way to a part).
            node, top = item.node, item.ladder[-1] if item.score > UNRELATED else item.ladder[0]
            counted = node["tokens"][LEVELS.index("source" if top == "excerpt" else top)] or 0
            if top in ("source", "excerpt"):
                lines = (node["end_line"] or 1) - (node["start_line"] or 1) + 1
            else:
                lines = node["outline"].count("\n") + 1 if top == "outline" else 1
            why = sum(len(r) + 2 for r in item.reasons) + 24 if self.explain else 0
            escaped = counted // 3 if self.fmt == "json" else 0  # quotes, backslashes, newlines as \\n
            # Indenting a line lengthens the whitespace run it starts with: a token more at most, as a rule.
            total += counted + escaped + len(_label(node)) + 2 * lines + 40 + why
        return total

    def cost(self, item: Item, view: str | None, lines: tuple | None) -> int:
        if view is None:
            return 0
        if self.estimated:
            return _view_cost(item, view)
        key = (item.node["id"], view, lines)
        if key not in self.costs:
            self.costs[key] = tokens.count(self.block(item, view, lines)) + 1
        return self.costs[key]

    def delta(self, changes) -> int:
        total = 0
        for item, view, lines in changes:
            total += self.cost(item, view, lines) - self.cost(item, item.view, item.lines_shown)
            if view == "source":
                total -= sum(self.cost(d, d.view, d.lines_shown) for d in self.shown_descendants(item))
        return total

    def shown_descendants(self, item: Item) -> list[Item]:
        out = []
        for kid in self.kids.get(item.node["id"], []):
            if kid.view is not None:
                out.append(kid)
            out += self.shown_descendants(kid)
        return out

    def apply(self, changes, delta: int, kind: str) -> None:
        undo = []
        for item, view, lines in changes:
            if view == "source":  # a node at source holds its parts: they need no entries of their own
                for d in self.shown_descendants(item):
                    undo.append((d, d.view, d.lines_shown))
                    d.view, d.lines_shown = None, None
            undo.append((item, item.view, item.lines_shown))
            item.view, item.lines_shown = view, lines
        self.used += delta
        if kind == "skeleton":
            self.skeleton_used += delta
        self.log.append((undo, delta, kind))
        if kind != "partial":  # a partial step is the last one
            for item, _, _ in changes:
                self.push(item)

    def undo(self) -> None:
        changes, delta, kind = self.log.pop()
        for item, view, lines in reversed(changes):
            item.view, item.lines_shown = view, lines
        self.used -= delta
        if kind == "skeleton":
            self.skeleton_used -= delta

    def fill(self) -> None:
        """Apply the sequence while it fits; a source step too big to fit whole shows its first lines."""
        while (step := self.next_step()) is not None:
            changes, kind = step
            delta = self.delta(changes)
            if self.used + delta <= self.room:
                self.apply(changes, delta, kind)
                continue
            self.partial(changes, self.room)
            return

    def partial(self, changes, room: int) -> bool:
        """The step that does not fit, made smaller: its source's first lines, or a lower view of its node.

        Only the last step is ever cut, and more room never cuts it more, so the cut keeps the plan monotone."""
        item, view, _ = changes[-1]
        if view not in ("source", "excerpt") or item.node["kind"] in ("dir", "repo") or _rank(item.view) >= _rank("excerpt"):
            return self.lower(changes, room)
        first, last = item.excerpt if view == "excerpt" else (item.node["start_line"], item.node["end_line"])
        before = changes[:-1]
        fixed = self.delta(before)
        low, high = PARTIAL_MIN_LINES, last - first  # strictly fewer lines than the step would show
        fit = None
        while low <= high:
            mid = (low + high) // 2
            d = fixed + self.cost(item, "excerpt", (first, first + mid - 1)) - self.cost(item, item.view, item.lines_shown)
            if self.used + d <= room:
                fit, low = (mid, d), mid + 1
            else:
                high = mid - 1
        if fit is None:
            return self.lower(changes, room)
        self.partial_of = changes
        self.apply(before + [(item, "excerpt", (first, first + fit[0] - 1))], fit[1], "partial")
        return True

    def lower(self, changes, room: int) -> bool:
        item, view, _ = changes[-1]
        for smaller in reversed(item.ladder[:item.ladder.index(view)]):
            if _rank(smaller) <= _rank(item.view):
                break
            cut = changes[:-1] + [(item, smaller, None)]
            delta = self.delta(cut)
            if self.used + delta <= room:
                self.partial_of = changes
                self.apply(cut, delta, "partial")
                return True
        for n in range(len(changes) - 1, 0, -1):  # at least the way to it: its hidden ancestors, from the top
            delta = self.delta(changes[:n])
            if self.used + delta <= room:
                self.partial_of = changes
                self.apply(changes[:n], delta, "partial")
                return True
        return False

    def fit(self) -> tuple[str, int]:
        """Render and count; while over the budget, shorten the last partial step or take back the last step."""
        while True:
            text = self.render()
            used = tokens.count(text)
            if used <= self.budget or (not self.log and not self.task):
                return text, used
            if not self.log:  # nothing left but the task itself, escaped longer than it looked: shorten it
                self.task = self.task[:len(self.task) // 2]
                continue
            _, delta, kind = self.log[-1]
            self.undo()
            if kind == "partial":  # fewer of its lines, by about the excess
                self.partial(self.partial_of, self.used + delta - (used - self.budget))

    # --- text ---

    def source(self, path: str) -> str:
        if path not in self.sources:
            self.sources[path] = read_source(self.root, {"kind": "file", "path": path})
        return self.sources[path]

    def source_lines(self, path: str) -> list[str]:
        if path not in self.lines:
            self.lines[path] = self.source(path).split("\n")
        return self.lines[path]

    def text(self, item: Item, view: str, lines: tuple | None) -> str:
        if view == "excerpt":
            return "\n".join(self.source_lines(item.node["path"])[lines[0] - 1:lines[1]])
        if view == "source" and item.node["kind"] not in ("dir", "repo"):  # one read per file, not per symbol
            if item.node["kind"] == "file":
                return self.source(item.node["path"])
            lines = self.source_lines(item.node["path"])
            return "\n".join(lines[item.node["start_line"] - 1:item.node["end_line"]])
        return view_text(self.root, item.node, view)

    def depth(self, item: Item) -> int:
        depth, parent = -1, item.node["parent"]
        while parent in self.by_id:
            depth += 1
            parent = self.by_id[parent].node["parent"]
        return max(depth, 0)

    def block(self, item: Item, view: str, lines: tuple | None) -> str:
        node, text = item.node, self.text(item, view, lines)
        if self.fmt == "json":
            shown = list(lines) if lines else [node["start_line"], node["end_line"]] if node["start_line"] else None
            entry = {"id": node["id"], "kind": node["kind"], "path": node["path"], "lines": shown, "view": view}
            if lines:
                entry["node_lines"] = [node["start_line"], node["end_line"]]
            entry.update({"score": round(item.score, 4), "reasons": item.reasons, "text": text})
            return json.dumps(entry, ensure_ascii=False)
        if node["kind"] == "repo":
            return f"## {node['name']}/ (repository)\n\n{text}\n\nZoom into any entry with its path and line range.\n"
        indent = "  " * self.depth(item)
        label = _label(node)
        if lines:
            label = label.rsplit("`", 2)[0] + f"`{node['path']}:{lines[0]}-{lines[1]}` (excerpt of " \
                f"{node['start_line']}-{node['end_line']})"
        why = f" [score {item.score:.2f}: {'; '.join(item.reasons)}]" if self.explain and item.reasons else ""
        if view in ("outline", "source", "excerpt"):
            body = "\n".join(indent + "  " + line for line in text.split("\n"))
            tag = "" if lines else f" ({view})"
            return f"{indent}- {label}{tag}{why}\n{indent}  ```\n{body}\n{indent}  ```"
        return f"{indent}- {label}: {text}{why}"

    def render(self) -> str:
        shown = [i for i in self.items if i.view]
        if self.fmt == "json":
            nodes = ",\n".join(self.block(i, i.view, i.lines_shown) for i in shown)  # items are in score order
            return _json_head(self.task, self.budget) + nodes + _JSON_TAIL
        children: dict[str | None, list[Item]] = {}
        for item in shown:
            children.setdefault(item.node["parent"], []).append(item)
        for kids in children.values():
            kids.sort(key=lambda i: (i.node["kind"] != "dir", i.node["start_line"] or 0, i.node["name"]))
        out = [_header(self.task, self.budget)]

        def walk(item: Item) -> None:
            out.append(self.block(item, item.view, item.lines_shown))
            for child in children.get(item.node["id"], []):
                walk(child)

        for top in children.get(None, []):
            walk(top)
        out[-1] = out[-1].rstrip() + "\n"  # the answer ends in one newline (copying the last block, not the whole)
        while len(out) > 1 and out[-1] == "\n":
            out.pop()
            out[-1] = out[-1].rstrip() + "\n"
        return "\n".join(out)


def _json_head(task: str, budget: int) -> str:
    return json.dumps({"task": _short_task(task, budget), "budget": budget}, ensure_ascii=False)[:-1] + ', "nodes": [\n'


_JSON_TAIL = "\n]}\n"


def _view_cost(item: Item, view: str) -> int:
    """Estimated tokens of the node at a view, header included: they order the sequence, which must not
    depend on the budget; what fits is decided by exact counts."""
    if item.costs is None:
        node = item.node
        depth = node["path"].count("/") + node["id"].count(".") * ("::" in node["id"])
        header = len(_label(node)) // 3 + depth + 3  # code-ish text runs about 3 characters a token
        item.costs = {v: (node["tokens"][LEVELS.index(v)] or 0) + header + (8 if v in ("outline", "source") else 0)
                      for v in item.ladder if v != "excerpt"}
        if item.excerpt:
            span = max(1, node["end_line"] - node["start_line"] + 1)
            share = (item.excerpt[1] - item.excerpt[0] + 1) / span
            item.costs["excerpt"] = int((node["tokens"][7] or 0) * share) + header + 12
    return item.costs[view]


# --- output -------------------------------------------------------------------------------


def _short_task(task: str, budget: int) -> str:
    task = " ".join(task.split())
    limit = max(6, budget // 8)  # a long task must not eat the budget it asks about
    ids = tokens.encoding().encode_ordinary(task)
    if len(ids) > limit:
        task = tokens.encoding().decode(ids[:limit]).rstrip() + " …"
    return task


def _header(task: str, budget: int) -> str:
    return f"# Context for: {_short_task(task, budget)}\n"


def _label(node: dict) -> str:
    if node["kind"] in ("dir", "repo"):
        return f"{node['name']}/"
    if node["kind"] == "file":
        return f"{node['name']} `{node['path']}:{node['start_line']}-{node['end_line']}`"
    head = node["signature"] or node["name"]
    kind = "" if head.split(" ", 1)[0] == node["kind"] else f"{node['kind']} "  # not "class `class X`"
    return f"{kind}`{head}` `{node['path']}:{node['start_line']}-{node['end_line']}`"


# --- one node ---------------------------------------------------------------------------------


def repo_relative(path: str) -> str | None:
    """A node path as the pyramid keys it: `.`, `./` and `/` are the repository (""), `./a/` is `a`;
    None for what leads outside (`..`, or an absolute path other than `/`)."""
    path = path.strip().replace("\\", "/")
    if path in (".", "./", "/", ""):
        return ""
    if path.startswith("/") or ".." in path.split("/"):
        return None
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/")


def resolve_node(store: Store, target: str, symbol: str | None = None) -> dict:
    """The node for `path`, `path:Qual.name` or `path::Qual.name`; never anything outside the repo."""
    path, sep, qual = target.partition("::") if "::" in target else target.partition(":")
    qual = symbol or qual
    path = repo_relative(path)
    if path is None:
        raise ContextError(f"{target!r} is outside the repository: give a path relative to its root")
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
    """Files and symbols for a query: exact names first, then name prefixes, then the context's own scorer
    (BM25 over symbols' names and bodies, qualified names), then text matches on files."""
    query = query.strip()
    if not query:
        raise ContextError("query must not be empty")
    if not 1 <= limit <= 200:
        raise ContextError("limit must be between 1 and 200")
    name = query.split(".")[-1].split("::")[-1]
    found: dict[str, tuple[float, dict]] = {}
    qualifier = query[: -len(name)].strip(".:/").lower()
    columns = "id, kind, path, name, signature, start_line, end_line, summaries"
    rows = store.db.conn.execute(  # a range on the indexed name: prefix search without a scan
        f"SELECT {columns} FROM nodes WHERE name >= ? AND name < ? ORDER BY length(name), id LIMIT ?",
        [name, name + "\U0010ffff", limit * 4],
    ).fetchall()
    where = layout(store)
    for row in rows:
        exact = row[3] == name
        score = (3.0 if exact else 2.0) + (0.5 if qualifier and qualifier in row[0].lower() else 0.0)
        score *= 0.5 + 0.5 * mirror_penalty(row[2], where)  # the real definition before its copies and tests
        found.setdefault(row[0], (score, _hit(row, "exact name" if exact else "name prefix")))
    hits = symbol_hits(store, query, limit=max(60, limit * 3))
    ranked = sorted(((h.score * mirror_penalty(h.path, where), node_id, h) for node_id, h in hits.items()
                     if node_id not in found), key=lambda t: (-t[0], t[1]))[:limit]
    if ranked:
        by_id = {r[0]: r for r in store.db.conn.execute(
            f"SELECT {columns} FROM nodes WHERE id IN ({','.join('?' * len(ranked))})", [t[1] for t in ranked])}
        for score, node_id, hit in ranked:
            if node_id in by_id and score >= 0.2:
                found[node_id] = (1.0 + score, _hit(by_id[node_id], hit.why))
    terms = task_terms(query)
    if terms and len(found) < limit:
        for path, score in store.db.conn.execute(
            "SELECT f.path, -bm25(file_search, 4.0, 1.0, 0.3) FROM file_search JOIN files f ON f.rowid = file_search.rowid "
            "WHERE file_search MATCH ? ORDER BY 2 DESC, f.path LIMIT ?", [_fts_query(terms), limit],
        ):
            row = store.db.conn.execute(f"SELECT {columns} FROM nodes WHERE id = ?", [path]).fetchone()
            if row and row[0] not in found and score >= 1.0:  # weaker matches say nothing
                found[row[0]] = (0.5 + min(score, 50) / 100, _hit(row, f"text match {score:.1f}"))
    ranked = sorted(found.values(), key=lambda pair: (-pair[0], pair[1]["id"]))
    return [hit for _, hit in ranked[:limit]]


def _hit(row, why: str) -> dict:
    node_id, kind, path, name, signature, start, end, summaries = row
    return {"id": node_id, "kind": kind, "path": path, "name": name, "signature": signature or None,
            "lines": [start, end] if start else None, "summary": json.loads(summaries or "[]")[3:4] and
            json.loads(summaries)[3], "why": why}
