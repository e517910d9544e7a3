"""The pyramid: repo → directories → files → symbols, each with its ladder of views.

A node's ladder: summaries of at most 2, 4, 8, 16, 32 and 64 words, then its
outline (its parts with their short summaries, or a file's signatures), then
its source. Every view carries its token count, computed once when the node is
built and read from the cache after that.

Building is incremental: a file is re-outlined only when its content hash
changes, and a directory is re-summarized only when the hash of its children
(a Merkle hash) changes, so one edit costs one file and its ancestors. A file
whose stat is the one recorded when it was last hashed is not even read (see
`cockpit.core.scan`): a re-run of an unchanged tree hashes nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from cache.store import EncodedFile, Store, encode_file
from cockpit.core.scan import DEFAULT_MAX_FILE_BYTES, FileEntry, ScanResult, read_one, scan
from cockpit.core.scan import content_hash as content_hash_of
from summarizers import extractive, plaintext, tokens
from summarizers import outline as outline_module
from summarizers.languages import QUERY_DIR
from summarizers.outline import IDENTIFIER, OUTLINE_VERSION, Outline, outline, supported

LEVELS = ("2", "4", "8", "16", "32", "64", "outline", "source")


def _code_fingerprint() -> str:
    """A hash of the code that shapes a node: when it changes, cached nodes are rebuilt."""
    h = xxhash.xxh3_64()
    sources = [Path(extractive.__file__), Path(plaintext.__file__), Path(outline_module.__file__), Path(__file__)]
    sources += sorted(QUERY_DIR.glob("*.scm"))
    for path in sources:
        h.update(path.read_bytes())
    return h.hexdigest()[:8]


SUMMARIZER = f"{extractive.SUMMARIZER_ID}+outline/{OUTLINE_VERSION}+{_code_fingerprint()}"
# Below this many files to (re)build, a process pool costs more than it saves.
PARALLEL_THRESHOLD = 48
WRITE_BATCH = 200  # files per transaction
README_NAMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")
# Files whose own doc speaks for their directory, best first.
PACKAGE_DOC_NAMES = ("__init__.py", "doc.go", "lib.rs", "mod.rs", "main.rs", "package-info.java", "index.ts", "index.js")


@dataclass
class BuildStats:
    files_total: int = 0
    files_parsed: int = 0
    files_removed: int = 0
    dirs_summarized: int = 0
    nodes_written: int = 0
    skipped: int = 0
    seconds: float = 0.0
    parsed_paths: list[str] = field(default_factory=list)


def symbol_id(path: str, qualname: str) -> str:
    return f"{path}::{qualname}"


def parent_dir(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


# --- one file: outline, summaries, outline text, token counts (runs in workers) ---------


def build_file(path: str, data: bytes, lang: str | None) -> tuple[dict, list[dict]]:
    """The `files` row and the pyramid nodes (the file's, then its symbols') of one file."""
    content_hash = content_hash_of(data)
    text = data.decode("utf-8", errors="replace")
    try:
        result = outline(data, lang) if supported(lang) else Outline(lang=lang or "")
    except Exception:  # one file our outliner chokes on must not sink the build: keep it, unstructured
        result = Outline(lang=lang or "", has_errors=True)
    if lang == "markdown":
        result.doc = plaintext.prose_lead(text)
    elif not supported(lang):
        result.doc = plaintext.describe(path, text)
    symbol_nodes = _symbol_nodes(path, data, content_hash, lang, result)
    top = [n for n in symbol_nodes if n["parent"] == path]
    parts = _ranked_parts(top)
    # After the top level, the public members of its classes: a file is also what they do.
    classes = {n["id"] for n in top if n["kind"] not in CALLERS and n["kind"] not in BODY_KINDS[:2]}
    parts += [p for p in _ranked_parts([n for n in symbol_nodes if n["parent"] in classes])
              if not p[1].startswith("_") and p[0] in CALLERS]
    name = path.rsplit("/", 1)[-1]
    file_node = {
        "id": path,
        "parent": parent_dir(path),
        "kind": "file",
        "name": name,
        "path": path,
        "lang": lang,
        "start_line": 1,
        "end_line": text.count("\n") + (0 if text.endswith("\n") else 1),
        "signature": "",
        "doc": result.doc,
        "hash": content_hash,
        "summarizer": SUMMARIZER,
        "summaries": extractive.file_ladder(path, lang, result.doc, parts, result.imports, "" if parts else text),
        "outline": _file_outline(symbol_nodes, path) if symbol_nodes else _preview(text),
        "position": 0,
    }
    file_node["tokens"] = _count_views(file_node["summaries"], file_node["outline"], text)
    file_row = {
        "path": path,
        "hash": content_hash,
        "size": len(data),
        "lang": lang,
        "has_errors": int(result.has_errors),
        "imports": result.imports,
        "refs": " ".join(result.references),
        "summarizer": SUMMARIZER,
        "terms": search_terms(path, symbol_nodes),
        "body": " ".join([file_node["summaries"][5]] + [n["summaries"][3] for n in symbol_nodes]),
    }
    return file_row, [file_node] + symbol_nodes


def search_terms(path: str, symbol_nodes: list[dict]) -> str:
    """The words a search for this file would use: its path's and its symbols' names, split."""
    words = []
    for part in path.replace("/", " ").replace(".", " ").replace("-", " ").split():
        words += [part, extractive.identifier_words(part)]
    for node in symbol_nodes:
        words += [node["name"], extractive.identifier_words(node["name"])]
    return " ".join(dict.fromkeys(words))


BODY_TERMS_MAX = 4000  # words of one body: enough to say what it uses, bounded for huge generated tables


def body_terms(path: str, qualname: str, body: bytes) -> str:
    """What a search for a symbol's body would say: its enclosing names and file, then every identifier
    of its body (parameters, attributes, calls) and the words of its strings and comments, camelCase split."""
    words = [qualname.rpartition(".")[0].replace(".", " "), path.replace("/", " ").replace(".", " ")]
    for match in _BODY_WORD.finditer(body, 0, len(body)):
        word = match.group().decode()
        words.append(word)
        if word[1:].lower() != word[1:] and not word.isupper():
            words.append(extractive.identifier_words(word))
        if "_" in word.strip("_"):  # the whole name as one word too: `sort_keys` finds itself before `sort_key`
            words.append(word.replace("_", ""))
        if len(words) > BODY_TERMS_MAX:
            break
    return " ".join(words)


_BODY_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]+")


def source_lines(lines: list[str], start: int, end: int) -> str:
    """A symbol's source: whole lines, so that methods keep their indentation."""
    return "\n".join(lines[start - 1 : end])


def _symbol_nodes(path: str, data: bytes, content_hash: str, lang: str | None, result: Outline) -> list[dict]:
    nodes = []
    for position, s in enumerate(result.symbols):
        nodes.append({
            "id": symbol_id(path, s.qualname),
            "parent": symbol_id(path, s.parent) if s.parent else path,
            "kind": s.kind,
            "name": s.name,
            "path": path,
            "lang": lang,
            "start_line": s.start_line,
            "end_line": s.end_line,
            "signature": s.signature,
            "doc": s.doc,
            "hash": content_hash,
            "summarizer": SUMMARIZER,
            "position": position,
        })
    children: dict[str, list[dict]] = {}
    for node in nodes:
        children.setdefault(node["parent"], []).append(node)
    heads = {}  # a symbol with parts is indexed by its own lines only: its parts have their entries
    for node, symbol in zip(nodes, result.symbols):
        if node["parent"] != path:
            heads.setdefault(node["parent"], symbol.start_byte)
    for node, symbol in zip(nodes, result.symbols):
        node["terms"] = body_terms(path, symbol.qualname, data[symbol.start_byte:heads.get(node["id"], symbol.end_byte)])
    local_names = {s.name for s in result.symbols if len(s.name) > 2 and s.kind not in ("variable", "constant")}
    for node, symbol in zip(reversed(nodes), reversed(result.symbols)):  # children first: parents quote them
        kids = children.get(node["id"], [])
        uses = _local_uses(data, symbol, local_names) if not node["doc"] and node["kind"] in CALLERS else []
        body = data[symbol.start_byte:symbol.end_byte].decode("utf-8", "replace") \
            if node["kind"] in CALLERS or not node["doc"] and node["kind"] in BODY_KINDS else ""
        node["summaries"] = extractive.symbol_ladder(
            node["kind"], node["name"], node["signature"], node["doc"], _ranked_parts(kids), uses, body
        )
        node["outline"] = _symbol_outline(node, kids)
        # A symbol's counts wait for their first use (see source_tokens): most symbols are never
        # shown, and counting every rung and nested body at build time costs as much as parsing.
        node["tokens"] = [None] * len(LEVELS)
    return nodes


SUPPORTING_DIRS = {"test", "tests", "testing", "docs", "doc", "examples", "benchmarks", "scripts", "tools", "vendor"}
CALLERS = ("function", "method", "macro")
# Undocumented symbols told by their source: a value by its expression, a type by its shape.
BODY_KINDS = ("variable", "constant", *extractive.SHAPE_KINDS)


def _local_uses(data: bytes, symbol, local_names: set[str]) -> list[str]:
    """Other symbols of the same file that an undocumented function uses, in order of first use:
    what it does, told by what it calls."""
    seen: dict[str, None] = {}
    for match in IDENTIFIER.finditer(data, symbol.start_byte, symbol.end_byte):
        name = match.group().decode()
        if name in local_names and name != symbol.name:
            seen.setdefault(name)
    return list(seen)


def _ranked_parts(nodes: list[dict]) -> list[tuple[str, str, str]]:
    """Children as (kind, name, 8-word summary), public and larger ones first."""
    def weight(n):
        private = n["name"].startswith("_") and not n["name"].startswith("__init__")
        return (private, n["kind"] in ("variable", "constant"), -(n["end_line"] - n["start_line"]), n["position"])

    return [(n["kind"], n["name"], n["summaries"][2]) for n in sorted(nodes, key=weight)]


def _symbol_outline(node: dict, kids: list[dict]) -> str:
    lines = [_outline_line(node)]
    lines += ["  " + _outline_line(k) for k in kids]
    return "\n".join(lines)


def _outline_line(node: dict) -> str:
    gist = node["summaries"][3] if node.get("summaries") else ""
    head = node["signature"] or f"{node['kind']} {node['name']}"
    return f"L{node['start_line']}-{node['end_line']} {head}" + (f"  # {gist}" if gist else "")


def _file_outline(symbol_nodes: list[dict], path: str) -> str:
    depth = {path: -1}
    lines = []
    for node in symbol_nodes:
        depth[node["id"]] = depth.get(node["parent"], -1) + 1
        if depth[node["id"]] <= 1:  # top level and one level in: methods of classes
            lines.append("  " * depth[node["id"]] + _outline_line(node))
    return "\n".join(lines)


def _preview(text: str, max_lines: int = 20) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:max_lines])


def _count_views(summaries: list[str], outline_text: str, source: str) -> list[int]:
    return tokens.count_many(list(summaries) + [outline_text, source])


def source_tokens(root: str, store: Store, nodes: list[dict]) -> None:
    """Fill in the token counts a build left for later (symbols'), and keep them in the cache."""
    missing = [n for n in nodes if n["tokens"] and None in n["tokens"]]
    by_path: dict[str, list[str]] = {}
    for node in missing:
        counts = node["tokens"]
        if None in counts[:7]:
            views = tokens.count_many(list(node["summaries"]) + [node["outline"]])
            counts[:7] = [c if c is not None else v for c, v in zip(counts[:7], views)]
        if counts[7] is None:
            if node["path"] not in by_path:
                try:
                    with open(os.path.join(root, node["path"]), "rb") as fh:
                        by_path[node["path"]] = fh.read().decode("utf-8", errors="replace").split("\n")
                except OSError:
                    by_path[node["path"]] = []
            counts[7] = tokens.count(source_lines(by_path[node["path"]], node["start_line"], node["end_line"]))
    store.set_tokens([(n["id"], n["hash"], n["tokens"]) for n in missing])


# --- directories and the repo ----------------------------------------------------------


def _dir_doc(children: list[dict]) -> str:
    by_name = {c["name"]: c for c in children if c["kind"] == "file"}
    for name in README_NAMES + PACKAGE_DOC_NAMES:
        if name in by_name and by_name[name]["doc"]:
            return by_name[name]["doc"]
    return ""


def build_dir(dir_id: str, children: list[dict], repo_name: str) -> dict:
    """A directory's node, from its children's summaries and its README or package doc."""
    is_repo = dir_id == ""
    name = repo_name if is_repo else dir_id.rsplit("/", 1)[-1]
    children = sorted(children, key=lambda c: (c["kind"] != "dir", c["name"]))
    doc = _dir_doc(children)
    # What a directory is about: its public, non-test parts first, larger ones before smaller.
    ranked = sorted(children, key=lambda c: (c["name"].startswith(("_", ".")) and c["name"] != "__init__.py",
                                             c["name"].lower() in SUPPORTING_DIRS or c["name"].startswith("test_"),
                                             -c["tokens"][7] if c["tokens"] else 0))
    parts = [(c["kind"], c["name"] + ("/" if c["kind"] == "dir" else ""), c["summaries"][2]) for c in ranked]
    summaries = extractive.directory_ladder(name if not is_repo else repo_name, doc, parts, is_repo=is_repo)
    outline_text = "\n".join(
        f"{c['name']}{'/' if c['kind'] == 'dir' else ''}  # {c['summaries'][2]}" for c in children
    )
    source_tokens = sum(c["tokens"][7] for c in children if c["tokens"])
    node = {
        "id": dir_id,
        "parent": None if is_repo else parent_dir(dir_id),
        "kind": "repo" if is_repo else "dir",
        "name": name,
        "path": dir_id,
        "lang": None,
        "start_line": None,
        "end_line": None,
        "signature": "",
        "doc": doc,
        "hash": merkle_hash(children),
        "summarizer": SUMMARIZER,
        "summaries": summaries,
        "outline": outline_text,
        "position": 0,
    }
    # A directory's source is its files: its count is theirs added up.
    node["tokens"] = tokens.count_many(summaries + [outline_text]) + [source_tokens]
    return node


def merkle_hash(children: list[dict]) -> str:
    h = xxhash.xxh3_128()
    h.update(SUMMARIZER.encode())
    for c in sorted(children, key=lambda c: c["name"]):
        h.update(f"{c['kind']}\0{c['name']}\0{c['hash']}\n".encode())
    return h.hexdigest()


# --- the build ------------------------------------------------------------------------


Progress = Callable[..., None]  # (files done, files, bytes done, bytes)


def _build_one(job: tuple[str, str, str | None, int, int | None, int | None]) -> tuple[EncodedFile | None, int]:
    """A file built, and its size (what progress counts)."""
    root, path, lang, size, mtime_ns, inode = job
    try:
        with open(os.path.join(root, path), "rb") as fh:
            data = fh.read()
    except OSError:
        return None, size  # gone since the scan: the next build removes it
    file_row, nodes = build_file(path, data, lang)
    file_row.update(mtime_ns=mtime_ns, inode=inode)  # the stat the scan took before reading: a later edit moves it
    return encode_file(file_row, nodes), size


# A file written less than this long before the walk may be written again within the same clock tick,
# leaving its stat as it was: its stat is not trusted (not kept), so the next refresh hashes it again.
RACY_NS = 2_000_000_000


def _trusted_stat(entry: FileEntry, walked_ns: int) -> tuple[int | None, int | None]:
    if entry.mtime_ns is None or entry.mtime_ns >= walked_ns - RACY_NS:
        return None, None
    return entry.mtime_ns, entry.inode


def _settle_stats(store: Store, files: list[FileEntry], known: dict[str, tuple], walked_ns: int) -> None:
    """Keep the stat of files that were hashed again (their stat moved) and found unchanged."""
    moved = []
    for f in files:
        seen = known.get(f.path)
        if f.hashed and seen and seen[:2] == (f.hash, SUMMARIZER):
            mtime_ns, inode = _trusted_stat(f, walked_ns)
            if (f.size, mtime_ns, inode) != seen[2:5]:
                moved.append((f.path, f.hash, f.size, mtime_ns, inode))
    store.set_stats(moved)


def _build_files(root: str, entries: list[FileEntry], workers: int, progress: Progress | None,
                 walked_ns: int | None = None):
    """Outline and summarize files, on every core when there are enough of them. Progress is reported
    as (files done, files, bytes done, bytes): time goes with bytes, so an estimate of what is left
    should too (the largest files come first)."""
    # Largest first: no big file is left running alone on one core at the end.
    walked_ns = time.time_ns() if walked_ns is None else walked_ns
    jobs = [(root, e.path, e.lang, e.size, *_trusted_stat(e, walked_ns))
            for e in sorted(entries, key=lambda e: (-e.size, e.path))]
    total, total_bytes = len(jobs), sum(job[3] for job in jobs)
    done_bytes = 0
    if progress:
        progress(0, total, 0, total_bytes)
    if workers <= 1 or total < PARALLEL_THRESHOLD:
        results = map(_build_one, jobs)
    else:
        tokens.encoding()  # load the vocabulary once, before forking, so workers share it
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        pool = multiprocessing.get_context(start_method).Pool(workers, initializer=_die_with_parent)
        results = pool.imap_unordered(_build_one, jobs, chunksize=4)
    try:
        for done, (result, size) in enumerate(results, 1):
            yield result
            done_bytes += size
            if progress:
                progress(done, total, done_bytes, total_bytes)
    finally:
        if workers > 1 and total >= PARALLEL_THRESHOLD:
            pool.terminate()


def _die_with_parent() -> None:
    """A pool worker ends when the build that started it is killed, instead of living on to write to
    a closed pipe (Linux; elsewhere it ends at its next write)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def build(root: str, store: Store, subpath: str = "", workers: int | None = None,
          max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, progress: Progress | None = None,
          exclude: tuple[str, ...] = (), include_compiled: bool = False) -> BuildStats:
    """Bring the cached pyramid of `root` (or of `subpath` in it) up to date with the tree."""
    started = time.perf_counter()
    subpath = subpath.strip("/")
    walked_ns = time.time_ns()
    known = store.file_states()
    by_stat = {path: (size, mtime_ns, inode, h, lang) for path, (h, _, size, mtime_ns, inode, lang) in known.items()
               if mtime_ns is not None}
    scanned = scan(root, max_file_bytes, subpath, exclude, include_compiled, known=by_stat)
    under = (lambda p: p == subpath or p.startswith(subpath + "/")) if subpath else (lambda p: True)
    present = {f.path for f in scanned.files}
    removed = [p for p in known if under(p) and p not in present]
    changed = [f for f in scanned.files if known.get(f.path, ())[:2] != (f.hash, SUMMARIZER)]
    _settle_stats(store, scanned.files, known, walked_ns)
    stats = _apply(root, store, scanned, changed, removed, workers or default_workers(), progress, subpath,
                   walked_ns)
    stats.files_total = len(scanned.files)
    stats.seconds = time.perf_counter() - started
    return stats


def update_paths(root: str, store: Store, paths: list[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 exclude: tuple[str, ...] = (), include_compiled: bool = False) -> BuildStats:
    """Refresh named files (changed, created or deleted) without walking the whole tree."""
    started = time.perf_counter()
    walked_ns = time.time_ns()
    known = store.file_states()
    scanned = ScanResult(root=os.path.realpath(root))
    removed = []
    for path in paths:
        one = read_one(root, path, max_file_bytes, exclude, include_compiled)
        if one.files:
            scanned.files.extend(one.files)
        elif path in known:
            removed.append(path)
    changed = [f for f in scanned.files if known.get(f.path, ())[:2] != (f.hash, SUMMARIZER)]
    _settle_stats(store, scanned.files, known, walked_ns)
    stats = _apply(root, store, None, changed, removed, 1, None, "", walked_ns)
    stats.seconds = time.perf_counter() - started
    return stats


def _apply(root, store, scanned, changed, removed, workers, progress, subpath, walked_ns=None) -> BuildStats:
    stats = BuildStats(files_parsed=len(changed), files_removed=len(removed),
                       skipped=len(scanned.skipped) if scanned else 0, parsed_paths=[f.path for f in changed])
    batch: list[EncodedFile] = []
    for built in _build_files(root, changed, workers, progress, walked_ns):
        if built is not None:
            batch.append(built)
        if len(batch) >= WRITE_BATCH:
            stats.nodes_written += store.write_files(batch)
            batch = []
    stats.nodes_written += store.write_files(batch)  # each batch commits: a killed build resumes from here
    if removed:
        store.remove_files(removed)
    # Every batch marked the directories above its files dirty in its own transaction; the directories are
    # rebuilt from those marks (this run's and any a killed run left), read and cleared in one transaction.
    # Nothing marked and a root in place (an unchanged tree): no write transaction at all. A mark made after
    # this look is one made after this refresh, which its own refresh settles.
    if changed or removed or store.dirty_dirs() or not store.has_node(""):
        _settle_dirs(store, root, stats)
    if scanned is not None:
        store.write_skipped(scanned.skipped, subpath)
    return stats


def _settle_dirs(store: Store, root: str, stats: BuildStats) -> None:
    with store.exclusive():
        dirty = store.dirty_dirs()
        if dirty or store.node("") is None:
            dir_nodes, emptied = _refresh_dirs(store, root, dirty)
            store.write_dirs(dir_nodes, emptied, dirty)
            stats.dirs_summarized = len(dir_nodes)
            stats.nodes_written += len(dir_nodes)


def _refresh_dirs(store: Store, root: str, marked: set[str]):
    """Re-summarize the `marked` directories (and those above them) whose children changed, deepest first.

    Only directories above a changed file can change, so only they are read: a one-file
    update reads a handful of rows, not the whole tree.
    """
    dirty = {""}
    for d in marked:
        while d not in dirty:
            dirty.add(d)
            d = parent_dir(d)
    order = sorted(dirty, key=lambda d: (-d.count("/") if d else 1, d))
    stored = store.children_of(order)
    existing = {n["id"]: n for n in store.nodes_by_id(order)}
    fresh: dict[str, dict | None] = {}  # dir id -> its new node, or None when it emptied
    written, emptied = [], []
    repo_name = os.path.basename(os.path.realpath(root)) or "repository"
    for dir_id in order:
        listed = stored.get(dir_id, [])
        known = {c["id"] for c in listed}
        kids = [fresh.get(c["id"], c) if c["kind"] == "dir" else c for c in listed]
        kids = [c for c in kids if c is not None]  # subdirectories that emptied
        kids += [n for i, n in fresh.items() if n is not None and n["parent"] == dir_id and i not in known]
        old = existing.get(dir_id)
        if not kids and dir_id:
            fresh[dir_id] = None
            if old is not None:
                emptied.append(dir_id)
            continue
        if old is not None and old["hash"] == merkle_hash(kids) and old["summarizer"] == SUMMARIZER:
            fresh[dir_id] = old
            continue
        fresh[dir_id] = build_dir(dir_id, kids, repo_name)
        written.append(fresh[dir_id])
    return written, emptied
