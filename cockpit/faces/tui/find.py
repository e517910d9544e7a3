"""`/`: find a file or symbol by fuzzy name.

The names are a `NameIndex` (cockpit.core.names) the app builds once per generation of the cache, in a
worker, before anyone presses `/`. Each keystroke searches it in a worker thread: one regex pass keeps
the names whose letters appear in order (a longer query looks only at what the shorter one kept), the
first of them are ranked and shown at once, and the ranking of all of them follows (results streamed);
Textual's fuzzy matcher ranks.
"""

from __future__ import annotations

from collections.abc import Callable
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
from cockpit.core.names import NameIndex

SHOWN = 50
SCORED = 5000  # names ranked by the fuzzy matcher at most, the shortest that match
FIRST = 300  # names ranked for the first answer to a keystroke; the rest follow


class FindScreen(ModalScreen[str | None]):
    """Returns the chosen node id, or None on Escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("down", "down", show=False),
                Binding("up", "up", show=False)]

    def __init__(self, cache_path: str | Path, root: str, index: Callable[[], NameIndex | None] = lambda: None):
        super().__init__()
        self.cache_path, self.root = cache_path, root
        self.index: NameIndex | None = index()  # the app's, when it has built one for this generation
        self.narrowed: tuple[str, list[int] | None] = ("", None)  # the last query and all it kept (None: cut)
        self.shown_for: str | None = None  # the query whose results are on screen

    @property
    def entries(self) -> list[tuple[str, str, str]] | None:
        return self.index.entries if self.index is not None else None

    def compose(self) -> ComposeResult:
        with Vertical(id="find"):
            yield Input(placeholder="find a file or symbol…", id="find-input")
            yield OptionList(id="find-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.index is None:
            self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="find-load")
    def load(self) -> None:
        store = Store(self.cache_path, self.root)
        try:
            self.index = NameIndex.load(store)
        finally:
            store.close()
        self.app.from_worker(lambda: self.search(self.query_one(Input).value))

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self.search(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="find")
    def search(self, typed: str) -> None:
        query = typed.strip()
        index = self.index
        if index is None:
            return  # the load calls again when the names are in
        if not query:
            self.app.from_worker(self.show, [], typed)
            return
        last, kept = self.narrowed
        within = kept if last and query.startswith(last) and kept is not None else None
        worker = get_current_worker()
        matcher = Matcher(query)
        hits: list[int] = []
        complete = True
        for i in index.matches(query, within):
            hits.append(i)
            if len(hits) == FIRST:  # the first answer, from the shortest names that match
                if worker.is_cancelled:
                    return  # the user typed on: a newer search is on its way
                self.app.from_worker(self.show, self.ranked(index, matcher, hits), typed, False)
            if len(hits) == SCORED:
                complete = False
                break
        if worker.is_cancelled:
            return
        self.narrowed = (query, hits if complete else None)
        self.app.from_worker(self.show, self.ranked(index, matcher, hits), typed)

    @staticmethod
    def ranked(index: NameIndex, matcher: Matcher, hits: list[int]) -> list[Option]:
        scored = []
        for i in hits:
            node_id, kind, text = index.entries[i]
            score = matcher.match(text)
            if score > 0:
                # Shorter names first among equals: "client.py" before "test_client_helpers.py".
                scored.append((score - len(text) / 1000, node_id, kind, text))
        scored.sort(reverse=True)
        return [Option(Content.styled(f"{kind:<9}", "dim") + matcher.highlight(text), id=node_id)
                for _, node_id, kind, text in scored[:SHOWN]]

    def show(self, options: list[Option], query: str = "", final: bool = True) -> None:
        if query != self.query_one(Input).value:
            return  # an answer to a query since typed over
        if final:
            self.shown_for = query
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
