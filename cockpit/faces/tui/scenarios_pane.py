"""The Scenarios tab: satisfaction per holdout scenario, its trend over commits, and its trials.

It renders the summary the app's poller reads (`cockpit.scenarios.run.summary`); Enter asks the app to
open the selected scenario's latest trials, worst first; `r` asks it to start a run (a child process)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Markdown, Static

from cockpit.faces.tui.panels import gauge
from cockpit.scenarios.run import sparkline, state_label, status_of, trajectory_text, trend_arrow

STATUS_STYLES = {"satisfied": "success", "partly": "warning", "unsatisfied": "error", "broken": "error"}


class ScenariosPanel(Vertical):
    """Every scenario with its latest satisfaction and a sparkline of its trend; below, the selected one's
    satisfaction at each commit, as bars on one 0-1 scale (a sparkline scaled to its own range would draw a
    steady 0.4 as nothing)."""

    BINDINGS = [
        Binding("enter", "open_trials", "Open trials", show=False),
        Binding("r", "run_scenarios", "Run scenarios"),
    ]

    class Open(Message):
        """Ask the app to show a scenario's latest trials."""

        def __init__(self, row: dict):
            super().__init__()
            self.row = row

    class Run(Message):
        """Ask the app to start a scenario run."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.report: dict | None = None
        self.note = ""
        self.rows: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="scenarios-headline")
        table = DataTable(id="scenarios-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("scenario", "satisfaction", "trials", "trend", "over", "$", "worst trial")
        yield table
        yield Static("", id="scenarios-trend")
        yield Static("", id="scenarios-hint")

    def show(self, report: dict | None, note: str = "") -> None:
        """Show a summary (None: nothing read yet); `note` says why there is no set, if there is none."""
        if (report, note) == (self.report, self.note):
            return
        self.report, self.note = report, note
        self.rows = report["scenarios"] if report else []
        colours = self.app.theme_variables
        table = self.query_one("#scenarios-table", DataTable)
        row_index = table.cursor_row
        table.clear()
        for row in self.rows:
            sat = "—" if row["satisfaction"] is None else f"{row['satisfaction']:.2f}"
            status = Text(f"{sat} {row['status']}" if row["trials"] else row["status"],
                          style=colours.get(STATUS_STYLES.get(row["status"], ""), ""))
            points = row["trend"]
            trend = f"{sparkline([p['satisfaction'] for p in points])} {trend_arrow(points)}".strip()
            over = " → ".join(state_label(p["commit"], p["dirty"]) for p in points[-3:])
            worst = row["worst"]
            table.add_row(row["scenario"], status, str(row["trials"]) + (f" ({row['broken']}✗)" if row["broken"] else ""),
                          trend, over, f"{row['cost_usd']:.4f}",
                          "" if worst is None else f"trial {worst['trial']} {worst['status']}: {worst['reason']}",
                          key=row["scenario"])
        if self.rows:
            table.move_cursor(row=min(row_index, len(self.rows) - 1))
        overall = report["satisfaction"] if report else None
        head = Text("Holdout scenarios", style="bold")
        if report is None:
            head.append("  reading…", style="dim")
        elif not self.rows:
            head.append(f"  {note or 'no run yet: start one with r or the palette (Run the scenarios)'}", style="dim")
        else:
            head.append(f"  set satisfaction {'—' if overall is None else f'{overall:.2f}'} "
                        "(latest trials, broken ones apart)")
        self.query_one("#scenarios-headline", Static).update(head)
        self.query_one("#scenarios-hint", Static).update(
            Text("Enter opens the latest trials, worst first · r runs the scenarios (a job: see Jobs)", style="dim"))
        self.show_trend()

    def selected(self) -> dict | None:
        table = self.query_one("#scenarios-table", DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def show_trend(self) -> None:
        row = self.selected()
        points = row["trend"] if row else []
        chart = Text()
        if points:
            colours = self.app.theme_variables
            chart.append(f"{row['scenario']} over its last {len(points)} commits, oldest first\n", style="bold")
            for point in points:
                value = point["satisfaction"]
                chart.append(f"  {state_label(point['commit'], point['dirty']):<9} ")
                if value is None:
                    chart.append("broken (every trial's setup failed)\n", style=colours.get("error", ""))
                    continue
                chart.append_text(gauge(100 * value, 30, colours, STATUS_STYLES[status_of(value)]))
                chart.append(f" {value:.2f}  {point['trials']} trials" + (f", {point['broken']} broken\n"
                                                                          if point["broken"] else "\n"))
        self.query_one("#scenarios-trend", Static).update(chart)

    def action_open_trials(self) -> None:
        row = self.selected()
        if row is not None and row["job"] is not None:
            self.post_message(self.Open(row))

    def action_run_scenarios(self) -> None:
        self.post_message(self.Run())

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open_trials()


class TrajectoryScreen(ModalScreen):
    """One scenario's trials of its latest run, worst first: steps, outputs, checks, the judge's reason.
    n and p go to the next and previous trial; Escape closes."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close"), Binding("n", "move(1)", "Next trial"),
                Binding("p", "move(-1)", "Previous trial")]

    def __init__(self, trials: list[dict]):
        super().__init__()
        self.trials = sorted(trials, key=lambda t: (t["satisfaction"] is not None, t["satisfaction"] or 0, t["trial"]))
        self.index = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="trajectory"):
            yield Markdown(self._text(), id="trajectory-text")
            yield Label("n next trial · p previous · Escape closes", classes="hint")

    def _text(self) -> str:
        trial = self.trials[self.index]
        return f"*trial {self.index + 1} of {len(self.trials)} shown (worst first)*\n\n" + trajectory_text(trial)

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.trials)
        self.query_one("#trajectory-text", Markdown).update(self._text())
        self.query_one("#trajectory", VerticalScroll).scroll_home(animate=False)
