"""Writing a pyramid out: Markdown for people and prompts, JSON for programs."""

from __future__ import annotations

import json
import os

from cache.store import Store
from cockpit.core.pyramid import LEVELS, source_lines, source_tokens
from summarizers import tokens

DIR_KINDS = ("repo", "dir")


def load_tree(store: Store, root: str, node_id: str, depth: int) -> dict | None:
    """The node and its descendants down to `depth` levels, children under `children`."""
    top = store.node(node_id)
    if top is None:
        return None
    level = [top]
    loaded = [top]
    for _ in range(depth):
        found = store.children_of([n["id"] for n in level])
        next_level = []
        for node in level:
            node["children"] = found.get(node["id"], [])
            next_level.extend(node["children"])
        if not next_level:
            break
        loaded.extend(next_level)
        level = next_level
    source_tokens(root, store, loaded)
    return top


def view_text(root: str, node: dict, view: str) -> str:
    """The node's text at one rung of its ladder."""
    if view == "outline":
        return node["outline"]
    if view == "source":
        if node["kind"] in DIR_KINDS:
            return node["outline"]  # a directory's source is its files: show what it holds
        return read_source(root, node)
    return node["summaries"][LEVELS.index(view)] if node["summaries"] else ""


def read_source(root: str, node: dict) -> str:
    """A file's text, or a symbol's lines, exactly as they were counted when built."""
    path = os.path.realpath(os.path.join(root, node["path"]))
    real_root = os.path.realpath(root)
    if not path.startswith(real_root + os.sep):  # a symlink swapped in since the build
        return "(source unavailable: it now leads outside the repository)"
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(source unavailable: {exc.strerror})"
    if node["kind"] == "file":
        return text
    return source_lines(text.split("\n"), node["start_line"], node["end_line"])


def _label(node: dict) -> str:
    if node["kind"] in DIR_KINDS:
        return f"{node['name']}/"
    if node["kind"] == "file":
        return node["name"]
    return node["signature"] or f"{node['kind']} {node['name']}"


def _lines(node: dict) -> str:
    if node["start_line"] and node["kind"] not in DIR_KINDS:
        return f"{node['path']}:{node['start_line']}-{node['end_line']}"
    return node["path"] or "."


def to_markdown(root: str, tree: dict, view: str) -> str:
    out: list[str] = []
    index = LEVELS.index(view)
    title = tree["name"] + ("/" if tree["kind"] in DIR_KINDS else "")
    out.append(f"# {title}\n")
    out.append(f"{tree['summaries'][5] if tree['summaries'] else ''}\n")
    out.append(f"`{_lines(tree)}` · {tree['kind']} · source {tree['tokens'][7]:,} tokens\n")
    for child in tree.get("children", []):
        _markdown_node(root, child, view, index, 0, out)
    return "\n".join(out).rstrip() + "\n"


def _markdown_node(root: str, node: dict, view: str, index: int, depth: int, out: list[str]) -> None:
    indent = "  " * depth
    text = view_text(root, node, view)
    count = node["tokens"][index] if node["tokens"] else 0
    head = f"{indent}- **{_label(node)}** `{_lines(node)}`"
    if view in ("outline", "source") or "\n" in text:
        out.append(f"{head} ({count} tokens)")
        fence = "```"
        body = "\n".join(f"{indent}  {line}" for line in text.splitlines())
        out.append(f"{indent}  {fence}\n{body}\n{indent}  {fence}")
    else:
        out.append(f"{head} {text}")
    for child in node.get("children", []):
        _markdown_node(root, child, view, index, depth + 1, out)


def to_json(root: str, tree: dict, view: str) -> str:
    return json.dumps(_json_node(root, tree, view), indent=2, ensure_ascii=False) + "\n"


def _json_node(root: str, node: dict, view: str) -> dict:
    data = {
        "id": node["id"],
        "kind": node["kind"],
        "name": node["name"],
        "path": node["path"],
        "lines": [node["start_line"], node["end_line"]] if node["start_line"] else None,
        "signature": node["signature"] or None,
        "view": view,
        "text": view_text(root, node, view),
        "summaries": dict(zip(LEVELS[:6], node["summaries"])),
        "tokens": dict(zip(LEVELS, node["tokens"])),
        "summarizer": node["summarizer"],
    }
    if "children" in node:
        data["children"] = [_json_node(root, c, view) for c in node["children"]]
    return data


# --- the repository within a budget (MCP `overview`, `summarize --budget`) -----------------

OVERVIEW_DEPTH = 6  # levels below the repo an overview may show
OVERVIEW_VIEWS = ("32", "16", "8")  # below 8 words a summary says little more than the name


class EmptyPyramid(Exception):
    """Nothing has been built yet."""


def _line_cost(node: dict, view: str) -> int:
    # Its text plus the entry's markup: name or signature and path in backticks.
    label = node["signature"] or node["name"] or ""
    return (node["tokens"][LEVELS.index(view)] or 0) + 8 + (len(label) + len(node["path"] or "")) // 3


def fit_overview(store: Store, root: str, budget: int) -> str:
    """The repository from its top, as deep and as detailed as fits in `budget` tokens (never over)."""
    top = store.node("")
    if top is None:
        raise EmptyPyramid("the pyramid is empty: build it with `cockpit summarize` in the repository")
    # Load level by level while even the cheapest wanted view could still fit.
    levels = [[top]]
    while len(levels) <= OVERVIEW_DEPTH:
        found = store.children_of([n["id"] for n in levels[-1]])
        for node in levels[-1]:
            node["_kids"] = found.get(node["id"], [])
        below = [c for n in levels[-1] for c in n["_kids"]]
        if not below:
            break
        levels.append(below)
        if sum(_line_cost(n, OVERVIEW_VIEWS[-1]) for level in levels[1:] for n in level) > budget:
            break

    def render(depth: int, view: str) -> str:
        for d, level in enumerate(levels):
            for node in level:
                if d < depth:
                    node["children"] = node.get("_kids", [])
                else:
                    node.pop("children", None)
        text = to_markdown(root, top, view)
        return text + (f"\n_Depth {depth}, summaries of at most {view} words. Zoom into any entry by its path "
                       "(and symbol); context(task) picks what matters for a task._\n")

    head_cost = _line_cost(top, "64") + 30
    candidates = [(d, v) for d in range(len(levels) - 1, 0, -1) for v in OVERVIEW_VIEWS] + [(1, "4"), (1, "2")]
    for depth, view in candidates:
        estimate = head_cost + sum(_line_cost(n, view) for level in levels[1 : depth + 1] for n in level)
        if estimate > budget:
            continue
        text = render(depth, view)
        if tokens.count(text) <= budget:
            return text
    return _cut_to_budget(render(min(1, len(levels) - 1), "2"), budget)


def _cut_to_budget(text: str, budget: int) -> str:
    """The longest run of whole leading lines that fits, with a note on what was left out."""
    lines = text.rstrip("\n").split("\n")

    def with_note(k: int) -> str:
        left = len(lines) - k
        return "\n".join(lines[:k]) + f"\n… {left} more lines: zoom into a directory, or search(query)\n"

    low, high = 0, len(lines)
    while low < high:  # the largest k that fits
        mid = (low + high + 1) // 2
        if tokens.count(with_note(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return with_note(low)
