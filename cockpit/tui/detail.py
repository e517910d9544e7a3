"""The selected node at its current rung: summary as Markdown, outline, or highlighted source."""

from __future__ import annotations

import time

from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from cache.store import Store
from cockpit.pyramid import LEVELS, source_tokens
from cockpit.render import view_text

SOURCE_LINES_SHOWN = 3000
PARTS_SHOWN = 40  # outline lines under a summary  # past this a file is cut, with a note: highlighting it all would stall the app
LEXERS = {"python": "python", "javascript": "javascript", "typescript": "typescript", "tsx": "tsx", "go": "go",
          "rust": "rust", "java": "java", "c": "c", "cpp": "cpp", "ruby": "ruby", "bash": "bash",
          "markdown": "markdown", "json": "json", "toml": "toml", "yaml": "yaml"}
LEVEL_NAMES = {level: f"{level} words" for level in LEVELS if level.isdigit()} | {"outline": "outline",
                                                                               "source": "source"}


def origin(store: Store, node: dict) -> str:
    """Where the node's summary came from: the built-in summarizer, or which model and when."""
    label = node.get("summarizer") or ""
    if not label.startswith("llm/"):
        return "extractive (offline, free)"
    model = label.split("/")[1]
    row = store.db.conn.execute("SELECT MAX(created_at) FROM llm_summaries WHERE id = ? AND model = ?",
                                [node["id"], model]).fetchone()
    when = time.strftime(" on %Y-%m-%d %H:%M", time.localtime(row[0])) if row and row[0] else ""
    return f"{model}{when}"


class DetailPane(VerticalScroll):
    """Shows one node; `show(node, view)` replaces what is shown."""

    def __init__(self, root: str, store: Store, **kwargs):
        super().__init__(**kwargs)
        self.root, self.store = root, store
        self.node: dict | None = None
        self.view = "32"

    def compose(self) -> ComposeResult:
        yield Static(id="detail-header")
        yield Static(id="detail-ladder")
        yield Static(id="detail-markdown")  # rich Markdown in one widget: cheap to redraw per cursor move
        yield Static(id="detail-code")

    def show(self, node: dict | None, view: str) -> None:
        self.node, self.view = node, view
        header = self.query_one("#detail-header", Static)
        ladder = self.query_one("#detail-ladder", Static)
        markdown = self.query_one("#detail-markdown", Static)
        code = self.query_one("#detail-code", Static)
        code.set_class(view not in ("source", "outline"), "parts")
        if node is None:
            header.update(Text("Not summarized yet: the build is still on its way here.", style="italic"))
            ladder.update("")
            markdown.update("")
            markdown.display, code.display = True, False
            return
        if node["tokens"] and node["tokens"][7] is None:
            source_tokens(self.root, self.store, [node])  # a symbol's counts are taken when first needed
            node = self.store.node(node["id"]) or node
        colours = self.app.theme_variables
        where = node["path"] or node["name"] + "/"
        if "::" in node["id"]:
            where = f"{node['id'].split('::', 1)[1]} in {where}"
        if node.get("start_line"):
            where += f":{node['start_line']}-{node['end_line']}"
        tokens = node["tokens"][LEVELS.index(view)] if node["tokens"] else None
        title = Text()
        title.append(f"{where}", style="bold")
        title.append(f"  {node['kind']}", style=colours.get("secondary", ""))
        title.append(f"\n{LEVEL_NAMES[view]} · {tokens if tokens is not None else '?'} tokens",
                     style=colours.get("accent", ""))
        title.append(f" · from {origin(self.store, node)}", style="dim")
        header.update(title)
        rungs = Text("zoom ", style="dim")
        for level in LEVELS:
            rungs.append(f" {level} ", style=f"bold reverse {colours.get('primary', '')}" if level == view else "")
        ladder.update(rungs)
        if view == "source":
            markdown.display, code.display = False, True
            code.update(self._source(node))
        elif view == "outline":
            markdown.display, code.display = False, True
            code.update(Text(node["outline"] or "(no parts)"))
        else:
            markdown.display, code.display = True, False
            markdown.update(Markdown(view_text(self.root, node, view) or "_(empty)_"))
            if node["outline"] and node["kind"] != "variable":  # a short summary leaves room: show the parts
                code.display = True
                parts = Text("\n")
                parts.append("parts\n", style=f"bold {colours.get('secondary', '')}")
                parts.append(_head(node["outline"], PARTS_SHOWN))
                code.update(parts)

    def _source(self, node: dict):
        text = view_text(self.root, node, "source")
        lines = text.splitlines()
        note = ""
        if len(lines) > SOURCE_LINES_SHOWN:
            note = f"\n… {len(lines) - SOURCE_LINES_SHOWN:,} more lines (open the file in your editor)"
            text = "\n".join(lines[:SOURCE_LINES_SHOWN])
        if node["kind"] in ("dir", "repo"):
            return Text(text + note)
        return Syntax(text + note, LEXERS.get(node.get("lang") or "", "text"), line_numbers=True,
                      start_line=node.get("start_line") or 1, word_wrap=False,
                      theme="ansi_dark" if self.app.current_theme.dark else "ansi_light")


def _head(text: str, lines: int) -> str:
    kept = text.splitlines()
    if len(kept) <= lines:
        return text
    return "\n".join(kept[:lines]) + f"\n… {len(kept) - lines} more (zoom to the outline)"
