"""The selected node at its current rung: summary as Markdown, outline, or highlighted source."""

from __future__ import annotations

import functools
import re
import time
from importlib import resources

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.document._syntax_aware_document import SyntaxAwareDocument
from textual.widgets import Static, TextArea
from tree_sitter import Query

from cache.store import Store
from cockpit.core.pyramid import LEVELS, source_tokens
from cockpit.core.render import view_text
from summarizers.languages import grammar

PARTS_SHOWN = 40  # outline lines under a summary
HIGHLIGHT_MAX_LINES = 600
# Languages whose highlighting Textual's editor ships (it parses with the same tree-sitter wheels we use).
EDITOR_LANGUAGES = {"python", "javascript", "go", "rust", "java", "bash", "markdown", "json", "toml", "yaml"}
# Languages the editor lacks, highlighted with the queries their grammar wheels ship; a query builds on
# the ones before it (TypeScript on JavaScript's, C++ on C's), as the grammars' own editors use them.
WHEEL_HIGHLIGHTS = {
    "typescript": (("tree_sitter_javascript", "highlights.scm"), ("tree_sitter_typescript", "highlights.scm")),
    "tsx": (("tree_sitter_javascript", "highlights.scm"), ("tree_sitter_javascript", "highlights-jsx.scm"),
            ("tree_sitter_typescript", "highlights.scm")),
    "c": (("tree_sitter_c", "highlights.scm"),),
    "cpp": (("tree_sitter_c", "highlights.scm"), ("tree_sitter_cpp", "highlights.scm")),
    "ruby": (("tree_sitter_ruby", "highlights.scm"),),
}


# tree-sitter 0.26 crashes the process (SIGSEGV) when it frees some compiled queries, JavaScript's
# highlights among them, and Textual's editor compiles one per document it shows and drops the last.
# So every (language, query) is compiled once and kept for the life of the process: a dozen at most.
_COMPILED: dict[tuple[int, str], tuple[object, Query]] = {}


def compiled_query(language, source: str) -> Query:
    key = (id(language), source)
    if key not in _COMPILED:
        _COMPILED[key] = (language, Query(language, source))  # the language too: its id stays its own
    return _COMPILED[key][1]


def _prepare_query(document: SyntaxAwareDocument, query: str) -> Query | None:
    return compiled_query(document.language, query)


SyntaxAwareDocument.prepare_query = _prepare_query


def register_wheel_languages(editor: TextArea) -> set[str]:
    """Teach the editor the languages of WHEEL_HIGHLIGHTS; the names it could learn."""
    learned = set()
    for name, parts in WHEEL_HIGHLIGHTS.items():
        try:
            query = "\n".join(resources.files(module).joinpath("queries", file).read_text() for module, file in parts)
            language = _wheel_grammar(name)
            compiled_query(language, query)  # a query the grammar rejects would fail later, inside the editor
        except Exception:  # noqa: BLE001 - a wheel without its queries, or a query for another version
            continue
        editor.register_language(name, language, query)
        learned.add(name)
    return learned


@functools.cache
def _wheel_grammar(name: str):
    return grammar(name)  # one Language per grammar, so its compiled queries are found again
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


class DetailPane(Vertical):
    """Shows one node; `show(node, view)` replaces what is shown.

    Source goes into a read-only editor, which draws only the lines on screen: a 6,000-line file
    opens as fast as a short one. Summaries and outlines are text in a scrolling body."""

    def __init__(self, root: str, store: Store, **kwargs):
        super().__init__(**kwargs)
        self.root, self.store = root, store
        self.node: dict | None = None
        self.view = "32"
        self.loaded: tuple[str, str] | None = None  # the node (id, content hash) whose source the editor holds
        self.languages = set(EDITOR_LANGUAGES)  # what the editor highlights

    def on_mount(self) -> None:
        self.languages |= register_wheel_languages(self.query_one("#detail-source", TextArea))

    def compose(self) -> ComposeResult:
        yield Static(id="detail-header")
        yield Static(id="detail-ladder")
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-markdown")  # rich Markdown in one widget: cheap to redraw per cursor move
            yield Static(id="detail-code")
        yield TextArea(id="detail-source", read_only=True, show_line_numbers=True, soft_wrap=False)

    def show(self, node: dict | None, view: str) -> None:
        self.node, self.view = node, view
        header = self.query_one("#detail-header", Static)
        ladder = self.query_one("#detail-ladder", Static)
        markdown = self.query_one("#detail-markdown", Static)
        code = self.query_one("#detail-code", Static)
        source = self.query_one("#detail-source", TextArea)
        body = self.query_one("#detail-body")
        code.set_class(view not in ("source", "outline"), "parts")
        source.display, body.display = False, True
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
        if view == "source" and node["kind"] not in ("dir", "repo"):
            source.display, body.display = True, False
            if self.loaded == (node["id"], node["hash"]):
                return  # already in the editor (a redraw after a cache change): keep it, and its scroll
            self.loaded = (node["id"], node["hash"])
            text = view_text(self.root, node, "source")
            lang = node.get("lang")
            # The editor highlights a whole document at once: past a few hundred lines that takes longer
            # than a frame, so a long text is shown plain (it still scrolls at once).
            highlight = lang in self.languages and text.count("\n") <= HIGHLIGHT_MAX_LINES
            source.theme = "css"  # the editor follows the app's theme
            source.line_number_start = node.get("start_line") or 1
            source.language = None  # one document build below, not one per setting
            source.load_text(text)
            if highlight:
                source.language = lang
            if not highlight and lang in self.languages:
                title.append(f" · not highlighted (over {HIGHLIGHT_MAX_LINES:,} lines)", style="dim")
                header.update(title)
        elif view in ("source", "outline"):  # a directory's source is what it holds: its outline
            markdown.display, code.display = False, True
            code.update(Text(node["outline"] or "(no parts)"))
        else:
            markdown.display, code.display = True, False
            markdown.update(Markdown(markdown_escape(view_text(self.root, node, view)) or "_(empty)_"))
            if node["outline"] and node["kind"] != "variable":  # a short summary leaves room: show the parts
                code.display = True
                parts = Text("\n")
                parts.append("parts\n", style=f"bold {colours.get('secondary', '')}")
                parts.append(_head(node["outline"], PARTS_SHOWN))
                code.update(parts)


def markdown_escape(text: str) -> str:
    """A summary is plain text: `__init__.py` must not turn bold, nor `*args` italic."""
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text)


def _head(text: str, lines: int) -> str:
    kept = text.splitlines()
    if len(kept) <= lines:
        return text
    return "\n".join(kept[:lines]) + f"\n… {len(kept) - lines} more (zoom to the outline)"
