"""The pyramid as a tree: directories, files and symbols, each with a short summary and its tokens.

Rows come from the cache; a directory the build has not reached yet is listed straight from the
disk, so a cold start shows the tree at once and the summaries fill in as the build writes them.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from cache.store import Store
from cockpit.core.scan import ALWAYS_SKIPPED_DIRS

# Directories and files need no mark (the tree's arrows and the trailing "/" tell them apart).
ICONS = {"class": "C", "function": "ƒ", "method": "m", "variable": "v", "constant": "k", "section": "#",
         "interface": "I", "struct": "S", "enum": "E", "type": "T", "module": "M", "namespace": "N", "macro": "!",
         "trait": "T", "impl": "+"}
EXPANDABLE = ("repo", "dir", "file", "class", "section", "struct", "interface", "impl", "trait", "enum", "module",
              "namespace")
ROW_SUMMARY = 2  # the 8-word rung: most often a whole phrase; a narrow pane cuts it at its edge


def short_count(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 999_950:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class PyramidTree(Tree[str]):
    """Node data is the pyramid node id ("" for the repo, "a/b.py", "a/b.py::Class.method")."""

    BINDINGS = [
        Binding("backspace", "go_up", "Up", show=True),
    ]

    def __init__(self, root_dir: str, store: Store, **kwargs):
        self.repo_name = os.path.basename(root_dir) or root_dir
        super().__init__(self.repo_name, data="", **kwargs)
        self.root_dir = root_dir
        self.store = store
        self.stale: set[str] = set()  # paths changed on disk and not refreshed yet
        self.by_id: dict[str, TreeNode[str]] = {"": self.root}
        self.loaded: set[str] = set()  # ids whose children are in the tree
        self.shown: dict[str, tuple] = {}  # id -> (node version, stale) its label was drawn from
        self.guide_depth = 2
        self.show_root = True
        self.tooltip = "Each row: name, the tokens of its source (tiktoken), its 8-word summary"

    def on_mount(self) -> None:
        self.load_children(self.root)
        self.root.expand()
        self.relabel()
        # Labels carry the theme's colours: a new theme (or the first one applied) redraws them all.
        self.app.theme_changed_signal.subscribe(self, lambda _: self.relabel(everything=True))

    # --- filling the tree ---------------------------------------------------------------

    def children_rows(self, node_id: str, built: bool | None = None) -> list[dict]:
        """A node's children from the cache, or a directory's entries from the disk while it is unbuilt
        (a cold build writes files batch by batch, and their directories last)."""
        if built is None:
            built = self.store.node(node_id) is not None
        if built:
            return self.store.children(node_id, brief=True)
        if node_id and not os.path.isdir(os.path.join(self.root_dir, node_id)):
            return []
        return _disk_entries(self.root_dir, node_id)

    def load_children(self, tree_node: TreeNode[str], built: bool | None = None) -> None:
        node_id = tree_node.data
        rows = self.children_rows(node_id, built)
        present = [child.data for child in tree_node.children]
        self.loaded.add(node_id)
        if present == [row["id"] for row in rows]:
            return
        expanded = {n for n in self.loaded if n in self.by_id and self.by_id[n].is_expanded}
        for child in list(tree_node.children):
            self._forget(child)
            child.remove()
        for row in rows:
            expandable = row["kind"] in EXPANDABLE
            child = tree_node.add(self.label_for(row), data=row["id"], allow_expand=expandable)
            self.by_id[row["id"]] = child
            if row["id"] in expanded:
                self.load_children(child)
                child.expand()

    def _forget(self, tree_node: TreeNode[str]) -> None:
        self.by_id.pop(tree_node.data, None)
        self.shown.pop(tree_node.data, None)
        self.loaded.discard(tree_node.data)
        for child in tree_node.children:
            self._forget(child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        self.load_children(event.node)

    def refresh_from_cache(self) -> None:
        """The cache changed (a build batch, a watch refresh): re-read the rows on screen, in one query
        per 500 of them, and redraw only those whose node changed."""
        open_ids = [node_id for node_id in self.loaded if node_id in self.by_id
                    and (self.by_id[node_id].is_expanded or node_id == "")]
        child_ids, built = self.store.children_of(open_ids, ids_only=True), self.store.node_versions(open_ids)
        for node_id in open_ids:
            tree_node = self.by_id.get(node_id)  # a reload above may have dropped it
            if tree_node is None or node_id not in built:
                if tree_node is not None:
                    self.load_children(tree_node, built=False)  # still listed from the disk
                continue
            if [child.data for child in tree_node.children] != child_ids.get(node_id, []):
                self.load_children(tree_node, built=True)
        self.relabel()

    def relabel(self, everything: bool = False) -> None:
        """Redraw the labels of rows whose node, or whose stale mark, changed (all of them when asked:
        a new theme)."""
        if everything:
            self.shown.clear()
        ids = list(self.by_id)
        versions = self.store.node_versions(ids)
        changed = [i for i in ids if (versions.get(i), self._is_stale(i)) != self.shown.get(i)]
        if not changed:
            return
        rows = {row["id"]: row for row in self.store.nodes_by_id([i for i in changed if i in versions], brief=True)}
        for node_id in changed:
            row = rows.get(node_id)
            if row is None and node_id == "":
                row = {"id": "", "kind": "repo", "name": self.repo_name}
            elif row is None:  # listed from the disk, not built yet
                kind = "dir" if os.path.isdir(os.path.join(self.root_dir, node_id)) else "file"
                row = {"id": node_id, "kind": kind, "name": node_id.rsplit("/", 1)[-1]}
            label = self.label_for(row)
            if label != self.by_id[node_id].label:  # an unchanged label costs no redraw
                self.by_id[node_id].set_label(label)
            self.shown[node_id] = (versions.get(node_id), self._is_stale(node_id))

    def label_for(self, row: dict) -> Text:
        kind = row["kind"]
        name = row["name"] + ("/" if kind == "dir" else "")
        colours = self.app.theme_variables
        label = Text()
        if kind in ICONS:
            label.append(f"{ICONS[kind]} ", style=colours.get("secondary", "dim"))
        label.append(name, style="bold" if kind in ("dir", "repo") else "")
        if self._is_stale(row["id"]):
            label.append(" ●", style=f"bold {colours.get('warning', 'yellow')}")
        tokens = (row.get("tokens") or [None] * 8)[7]
        if tokens is not None:  # before the summary: a narrow pane cuts the summary, never the count
            unit = " tokens" if kind == "repo" else ""  # the unit once, on the top row: every count is one
            label.append(f"  {short_count(tokens)}{unit}", style=colours.get("accent", "cyan"))
        summaries = row.get("summaries") or []
        if summaries and summaries[ROW_SUMMARY] and summaries[ROW_SUMMARY].lower() != row["name"].lower():
            label.append(f"  {summaries[ROW_SUMMARY]}", style=f"italic {colours.get('secondary', '')}")
        elif "summaries" not in row:
            label.append("  …", style="dim")
        return label

    def _is_stale(self, node_id: str) -> bool:
        """Its file changed on disk and is not refreshed yet, or (a directory) something under it did."""
        if not self.stale:
            return False
        path = node_id.split("::", 1)[0]
        if path in self.stale:
            return True
        prefix = f"{path}/" if path else ""
        return "::" not in node_id and any(p.startswith(prefix) for p in self.stale)

    # --- moving around ------------------------------------------------------------------

    def action_go_up(self) -> None:
        node = self.cursor_node
        if node is not None and node.parent is not None:
            self.move_cursor(node.parent)
            self.scroll_to_node(node.parent)

    def reveal(self, node_id: str) -> None:
        """Expand the path down to a node and put the cursor on it."""
        chain, current = [], node_id
        while current:
            chain.append(current)
            current = _parent_id(current)
        tree_node = self.root
        for step in reversed(chain):
            self.load_children(tree_node)
            tree_node.expand()
            tree_node = self.by_id.get(step, tree_node)

        def select() -> None:  # after the refresh: the rows just expanded have no line numbers before it
            self.move_cursor(tree_node)
            self.scroll_to_node(tree_node)

        self.call_after_refresh(select)


def _parent_id(node_id: str) -> str:
    if "::" in node_id:
        path, qual = node_id.split("::", 1)
        return f"{path}::{qual.rsplit('.', 1)[0]}" if "." in qual else path
    return node_id.rsplit("/", 1)[0] if "/" in node_id else ""


def _disk_entries(root: str, rel_dir: str) -> list[dict]:
    """A directory's visible entries, directories first, as placeholder rows (no summaries yet)."""
    try:
        entries = list(os.scandir(os.path.join(root, rel_dir)))
    except OSError:
        return []
    rows = []
    for entry in entries:
        if entry.name in ALWAYS_SKIPPED_DIRS or entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        rows.append({"id": f"{rel_dir}/{entry.name}" if rel_dir else entry.name, "kind": "dir" if is_dir else "file",
                     "name": entry.name})
    return sorted(rows, key=lambda r: (r["kind"] != "dir", r["name"]))  # the cache's order: no reshuffle later
