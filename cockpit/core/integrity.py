"""The cache's invariants, checked and repaired (`cockpit summarize --check`, and the app at start).

What must hold in a cache a finished build left:
- every node but the repo's has its parent, and every file's chain of directories exists;
- every `files` row has its file node, and every file node its `files` row;
- a directory has children, and its hash is the Merkle hash of theirs;
- no directory is still marked dirty;
- (deep) every stored token count is the count of its view.

A repair never invents content: it drops what is broken and marks what must be rebuilt, and the
normal refresh that follows rebuilds it, exactly as a fresh build would.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from cache.store import Store
from cockpit.core.pyramid import LEVELS, SUMMARIZER, merkle_hash, parent_dir, source_lines
from cockpit.core.scan import content_hash
from summarizers import tokens

PROBLEMS = {  # kind -> (one, many)
    "orphan": ("node whose parent is missing", "nodes whose parent is missing"),
    "missing_file_node": ("file without its node", "files without their node"),
    "missing_file_row": ("file node without its file", "file nodes without their file"),
    "empty_dir": ("directory without children", "directories without children"),
    "dir_hash": ("directory out of step with its children", "directories out of step with their children"),
    "dirty": ("directory left to rebuild", "directories left to rebuild"),
    "tokens": ("token count that does not match its view", "token counts that do not match their view"),
    "no_repo": ("repository node missing", "repository node missing"),
}


@dataclass
class Report:
    nodes: int = 0
    found: Counter = field(default_factory=Counter)
    rebuild_files: set[str] = field(default_factory=set)  # paths whose rows and nodes are dropped and rebuilt
    drop_nodes: set[str] = field(default_factory=set)  # dir or symbol nodes dropped
    dirty_dirs: set[str] = field(default_factory=set)  # directories to summarize again
    recount: set[str] = field(default_factory=set)  # symbol nodes whose counts are recounted on use

    @property
    def ok(self) -> bool:
        return not self.found

    def describe(self) -> str:
        if self.ok:
            return f"cache check: {self.nodes:,} nodes, no problems"
        parts = ", ".join(f"{n:,} {PROBLEMS[kind][n != 1]}" for kind, n in self.found.most_common())
        return f"cache check: {self.nodes:,} nodes; {parts}"

    def repair(self, store: Store) -> str:
        """Drop what is broken and mark what must be rebuilt; the next refresh rebuilds it. One line, or ''."""
        if self.ok:
            return ""
        conn = store.db.conn
        with conn:
            for path in self.rebuild_files:
                conn.execute("DELETE FROM files WHERE path = ?", [path])
                conn.execute("DELETE FROM nodes WHERE path = ? AND kind NOT IN ('dir', 'repo')", [path])
            conn.executemany("DELETE FROM nodes WHERE id = ?", [[i] for i in self.drop_nodes])
            unknown = json.dumps([None] * len(LEVELS))  # counted again on first use, as after a build
            conn.executemany("UPDATE nodes SET tokens = ? WHERE id = ?", [[unknown, i] for i in self.recount])
        store.mark_dirty(sorted(self.dirty_dirs | {parent_dir(p) for p in self.rebuild_files}))
        return self.describe().replace("cache check:", "cache repaired:", 1)


def check(store: Store, root: str, deep: bool = False) -> Report:
    """What is wrong with the cache; `deep` also recounts every stored token count (seconds on a big tree)."""
    report = Report()
    conn = store.db.conn
    # One pass over the rows a check needs; a directory's Merkle hash needs only its children's kind, name, hash.
    rows = conn.execute("SELECT id, parent, kind, path, hash, name, summarizer FROM nodes")
    nodes = {row[0]: row[1:] for row in rows}
    report.nodes = len(nodes)
    file_rows = {row[0] for row in conn.execute("SELECT path FROM files")}
    if not nodes and not file_rows:
        return report
    if "" not in nodes:
        report.found["no_repo"] += 1
        report.dirty_dirs.add("")
    children: dict[str, list[str]] = {}
    for node_id, (parent, kind, path, *_) in nodes.items():
        if parent is None:
            continue
        children.setdefault(parent, []).append(node_id)
        if parent not in nodes:
            report.found["orphan"] += 1
            if kind in ("file", "dir"):
                report.dirty_dirs.add(parent)  # its directory is rebuilt from its children
            else:
                report.rebuild_files.add(path)  # a symbol without its parent: the file is rebuilt
    for path in file_rows:
        if nodes.get(path, (None, None))[1] != "file":
            report.found["missing_file_node"] += 1
            report.rebuild_files.add(path)
    for node_id, (_, kind, path, *_) in nodes.items():
        if kind == "file" and node_id not in file_rows:
            report.found["missing_file_row"] += 1
            report.rebuild_files.add(path)
    _check_dirs(nodes, children, report)
    pending = store.dirty_dirs()
    if pending:
        report.found["dirty"] += len(pending)
    if deep:
        _check_tokens(store, root, report)
    return report


def _check_dirs(nodes: dict, children: dict[str, list[str]], report: Report) -> None:
    for dir_id in (i for i, row in nodes.items() if row[1] in ("dir", "repo")):
        kids = [{"kind": nodes[k][1], "name": nodes[k][4], "hash": nodes[k][3]} for k in children.get(dir_id, [])]
        if not kids:
            report.found["empty_dir"] += 1
            report.drop_nodes.add(dir_id)
            report.dirty_dirs.add(parent_dir(dir_id) if dir_id else "")
        elif nodes[dir_id][5] == SUMMARIZER and merkle_hash(kids) != nodes[dir_id][3]:  # an older one: stale
            report.found["dir_hash"] += 1
            report.dirty_dirs.add(dir_id)


def _check_tokens(store: Store, root: str, report: Report) -> None:
    current: dict[str, tuple[str, list[str]] | None] = {}

    def lines(path: str, node_hash: str) -> list[str] | None:
        """The file's lines as it was built, or None when it changed since (stale, not damaged)."""
        if path not in current:
            try:
                with open(os.path.join(root, path), "rb") as fh:
                    data = fh.read()
                current[path] = (content_hash(data), data.decode("utf-8", errors="replace").split("\n"))
            except OSError:
                current[path] = None
        found = current[path]
        return found[1] if found and found[0] == node_hash else None

    for node in store.nodes():
        counts = node["tokens"]
        if not counts or all(c is None for c in counts):
            continue
        views = tokens.count_many(list(node["summaries"]) + [node["outline"]])
        if node["kind"] not in ("dir", "repo"):
            text = lines(node["path"], node["hash"])
            whole = node["kind"] == "file"
            views.append(None if text is None else tokens.count(
                "\n".join(text) if whole else source_lines(text, node["start_line"], node["end_line"])))
        if any(c is not None and v is not None and c != v for c, v in zip(counts, views)):
            report.found["tokens"] += 1
            if node["kind"] == "file":
                report.rebuild_files.add(node["path"])
            elif node["kind"] in ("dir", "repo"):
                report.drop_nodes.add(node["id"])
                report.dirty_dirs.add(node["id"])
            else:
                report.recount.add(node["id"])
