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
from cockpit.scan import ALWAYS_SKIPPED_DIRS

# Directories and files need no mark (the tree's arrows and the trailing "/" tell them apart).
ICONS = {"class": "C", "function": "ƒ", "method": "m", "variable": "v", "constant": "k", "section": "#",
         "interface": "I", "struct": "S", "enum": "E", "type": "T", "module": "M", "namespace": "N", "macro": "!",
         "trait": "T", "impl": "+"}
EXPANDABLE = ("repo", "dir", "file", "class", "section", "struct", "interface", "impl", "trait", "enum", "module",
              "namespace")
ROW_SUMMARY = 1  # the 4-word rung: enough to tell rows apart, short enough for an 80-column pane


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
        self.guide_depth = 2
        self.show_root = True

    def on_mount(self) -> None:
        self.load_children(self.root)
        self.root.expand()
        self.relabel()

    # --- filling the tree ---------------------------------------------------------------

    def children_rows(self, node_id: str) -> list[dict]:
        """A node's children from the cache, or a directory's entries from the disk while it is unbuilt."""
        node = self.store.node(node_id)
        if node is not None:
            kids = self.store.children(node_id)
            if kids or node["kind"] != "dir" and node["kind"] != "repo":
                return kids
        if node_id and not os.path.isdir(os.path.join(self.root_dir, node_id)):
            return []
        return _disk_entries(self.root_dir, node_id)

    def load_children(self, tree_node: TreeNode[str]) -> None:
        node_id = tree_node.data
        rows = self.children_rows(node_id)
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
        self.loaded.discard(tree_node.data)
        for child in tree_node.children:
            self._forget(child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        self.load_children(event.node)

    def refresh_from_cache(self) -> None:
        """The cache changed (a build batch, a watch refresh): re-read every row on screen."""
        for node_id in list(self.loaded):
            tree_node = self.by_id.get(node_id)
            if tree_node is not None and (tree_node.is_expanded or tree_node is self.root):
                self.load_children(tree_node)
        self.relabel()

    def relabel(self) -> None:
        rows = {row["id"]: row for row in self.store.nodes_by_id(list(self.by_id))}
        for node_id, tree_node in self.by_id.items():
            row = rows.get(node_id)
            if row is None and node_id == "":
                row = {"id": "", "kind": "repo", "name": self.repo_name}
            elif row is None:  # listed from the disk, not built yet
                kind = "dir" if os.path.isdir(os.path.join(self.root_dir, node_id)) else "file"
                row = {"id": node_id, "kind": kind, "name": node_id.rsplit("/", 1)[-1]}
            label = self.label_for(row)
            if label != tree_node.label:  # an unchanged row costs no redraw
                tree_node.set_label(label)

    def label_for(self, row: dict) -> Text:
        kind = row["kind"]
        name = row["name"] + ("/" if kind == "dir" else "")
        colours = self.app.theme_variables if self.is_mounted else {}
        label = Text(f"{ICONS[kind]} " if kind in ICONS else "", style=colours.get("secondary", "dim"))
        label.append(name, style="bold" if kind in ("dir", "repo") else "")
        if self._is_stale(row):
            label.append(" ●", style=f"bold {colours.get('warning', 'yellow')}")
        summaries = row.get("summaries") or []
        if summaries and summaries[ROW_SUMMARY] and summaries[ROW_SUMMARY].lower() != row["name"].lower():
            label.append(f"  {summaries[ROW_SUMMARY]}", style="italic")
        elif "summaries" not in row:
            label.append("  …", style="dim")
        tokens = (row.get("tokens") or [None] * 8)[7]
        if tokens is not None:
            label.append(f"  {short_count(tokens)}", style=colours.get("accent", "cyan"))
        return label

    def _is_stale(self, row: dict) -> bool:
        path = row.get("path") if row.get("path") is not None else row["id"]
        if not self.stale:
            return False
        if path in self.stale:
            return True
        prefix = f"{path}/" if path else ""
        return row["kind"] in ("dir", "repo") and any(p.startswith(prefix) for p in self.stale)

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
