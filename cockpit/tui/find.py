"""`/`: find a file or symbol by fuzzy name."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from cache.store import Store

SHOWN = 50


class FindScreen(ModalScreen[str | None]):
    """Returns the chosen node id, or None on Escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("down", "down", show=False),
                Binding("up", "up", show=False)]

    def __init__(self, store: Store):
        super().__init__()
        # (id, what a match is scored on): a file by its path, a symbol by its qualified name and file
        rows = store.db.conn.execute("SELECT id, kind, name, path FROM nodes WHERE kind NOT IN ('repo')").fetchall()
        self.entries = [(node_id, kind, node_id.replace("::", " ") if kind != "dir" else node_id + "/")
                        for node_id, kind, _, _ in rows]

    def compose(self) -> ComposeResult:
        with Vertical(id="find"):
            yield Input(placeholder="find a file or symbol…", id="find-input")
            yield OptionList(id="find-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def search(self, event: Input.Changed) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        query = event.value.strip()
        if not query:
            return
        matcher = Matcher(query)
        scored = []
        for node_id, kind, text in self.entries:
            score = matcher.match(text)
            if score > 0:
                # Shorter names first among equals: "client.py" before "test_client_helpers.py".
                scored.append((score - len(text) / 1000, node_id, kind, text))
        scored.sort(reverse=True)
        for _, node_id, kind, text in scored[:SHOWN]:
            results.add_option(Option(Content.styled(f"{kind:<9}", "dim") + matcher.highlight(text), id=node_id))
        if scored:
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
