"""`/`: find a file or symbol by fuzzy name.

A large repository has ~100k names (the standard library: 80k); scoring them all per keystroke
would freeze the screen, so the names load and the matching runs in a worker thread: a regex
keeps the names whose letters appear in order, Textual's fuzzy matcher ranks those, and a
longer query searches only what the shorter one kept.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from cache.store import Store

SHOWN = 50
SCORED = 5000  # names ranked by the fuzzy matcher at most; the regex has kept the likeliest


class FindScreen(ModalScreen[str | None]):
    """Returns the chosen node id, or None on Escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("down", "down", show=False),
                Binding("up", "up", show=False)]

    def __init__(self, cache_path: str | Path, root: str):
        super().__init__()
        self.cache_path, self.root = cache_path, root
        self.entries: list[tuple[str, str, str]] | None = None  # (id, kind, text matched)
        self.narrowed: tuple[str, list[tuple[str, str, str]]] = ("", [])  # the last query and what it kept

    def compose(self) -> ComposeResult:
        with Vertical(id="find"):
            yield Input(placeholder="find a file or symbol…", id="find-input")
            yield OptionList(id="find-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="find-load")
    def load(self) -> None:
        store = Store(self.cache_path, self.root)
        try:
            rows = store.db.conn.execute("SELECT id, kind FROM nodes WHERE kind != 'repo'").fetchall()
        finally:
            store.close()
        # A file by its path, a symbol by its file and qualified name, a directory with its slash.
        self.entries = [(node_id, kind, node_id.replace("::", " ") if kind != "dir" else node_id + "/")
                        for node_id, kind in rows]
        self.app.from_worker(lambda: self.search(self.query_one(Input).value))

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self.search(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="find")
    def search(self, text: str) -> None:
        query = text.strip()
        if self.entries is None:
            return  # the load calls again when the names are in
        if not query:
            self.app.from_worker(self.show, [])
            return
        last, kept = self.narrowed
        pool = kept if last and query.startswith(last) else self.entries
        letters = re.compile(".*?".join(map(re.escape, query)), re.IGNORECASE)
        hits = [entry for entry in pool if letters.search(entry[2])]
        self.narrowed = (query, hits)
        matcher = Matcher(query)
        worker = get_current_worker()
        scored = []
        for node_id, kind, text in sorted(hits, key=lambda e: len(e[2]))[:SCORED]:
            if worker.is_cancelled:
                return  # the user typed on: a newer search is on its way
            score = matcher.match(text)
            if score > 0:
                # Shorter names first among equals: "client.py" before "test_client_helpers.py".
                scored.append((score - len(text) / 1000, node_id, kind, text))
        scored.sort(reverse=True)
        options = [Option(Content.styled(f"{kind:<9}", "dim") + matcher.highlight(text), id=node_id)
                   for _, node_id, kind, text in scored[:SHOWN]]
        self.app.from_worker(self.show, options)

    def show(self, options: list[Option]) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options(options)
        if options:
            results.highlighted = 0

    @on(Input.Submitted)
    def choose_first(self) -> None:
        results = self.query_one(OptionList)
        if results.option_count:
            self.dismiss(results.get_option_at_index(results.highlighted or 0).id)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
