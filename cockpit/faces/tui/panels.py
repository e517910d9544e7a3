"""The right-hand panels: context preview, jobs, burn. Each renders data it is handed; the app's
workers gather that data off the event loop."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Markdown, ProgressBar, Sparkline, Static

from cockpit.faces.tui.pyramid_pane import short_count

# --- context preview ------------------------------------------------------------------------


class ContextPreview(Vertical):
    """Type a task and a budget; see what `cockpit context` gives an agent, and why.
    Keys typed into the inputs stay there (`q` too); the footer says Escape leaves them."""

    BINDINGS = [Binding("escape", "app.focus_tree", "Leave the input (then q quits)")]

    class Requested(Message):
        def __init__(self, task: str, budget: int):
            super().__init__()
            self.task, self.budget = task, budget

    def compose(self) -> ComposeResult:
        with Horizontal(id="context-form"):
            yield Input(placeholder="task, e.g. add retries to the HTTP client", id="context-task")
            yield Input("4000", placeholder="budget", id="context-budget", type="integer", max_length=7)
        yield Static("Enter runs it: the same ranking and budget fitting as `cockpit context --explain`.",
                     id="context-status")
        with VerticalScroll(id="context-scroll"):
            yield Markdown(id="context-output")

    @on(Input.Submitted)
    def submit(self) -> None:
        task = self.query_one("#context-task", Input).value.strip()
        budget_text = self.query_one("#context-budget", Input).value.strip()
        status = self.query_one("#context-status", Static)
        if not task:
            status.update(Text("Type a task first.", style="bold"))
            return
        budget = int(budget_text) if budget_text.isdigit() else 0
        if budget < 50:
            status.update(Text("The budget must be at least 50 tokens.", style="bold"))
            return
        status.update(Text(f"Ranking the pyramid for a {budget:,}-token answer…", style="italic"))
        self.post_message(self.Requested(task, budget))

    def show(self, result, seconds: float) -> None:
        status = self.query_one("#context-status", Static)
        if isinstance(result, Exception):
            status.update(Text(f"error: {result}", style="bold"))
            return
        views = {}
        for item in result.items:
            views[item.view] = views.get(item.view, 0) + 1
        mix = ", ".join(f"{n} at {view}" for view, n in sorted(views.items(), key=lambda kv: -kv[1]))
        status.update(Text(f"{result.used:,} of {result.budget:,} tokens · {len(result.items)} nodes ({mix}) · "
                           f"{seconds * 1000:.0f} ms"))
        self.query_one("#context-output", Markdown).update(result.text)


# --- jobs -----------------------------------------------------------------------------------


STATE_MARKS = {"queued": "…", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "■"}


class JobsPanel(Vertical):
    """Every job with its state, progress and spend; c cancels, r resumes or reruns, Enter opens the log."""

    BINDINGS = [
        Binding("c", "cancel_job", "Cancel job"),
        Binding("r", "retry_job", "Resume/retry"),
        Binding("enter", "open_job", "Open log", show=False),
    ]

    class Act(Message):
        """Ask the app to cancel, retry or open a job (it owns the workers and the cache)."""

        def __init__(self, action: str, job: dict):
            super().__init__()
            self.action, self.job = action, job

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.jobs: list[dict] = []

    def compose(self) -> ComposeResult:
        table = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("id", "kind", "state", "progress", "$", "title")
        yield table
        yield Static("", id="jobs-hint")

    def show(self, jobs: list[dict]) -> None:
        if jobs == self.jobs:
            return
        self.jobs = jobs
        table = self.query_one("#jobs-table", DataTable)
        row = table.cursor_row
        table.clear()
        for job in jobs:
            table.add_row(str(job["id"]), job["kind"], Text(f"{STATE_MARKS[job['state']]} {job['state']}"),
                          progress_text(job), f"{job['spend']['cost_usd']:.4f}", job["title"], key=str(job["id"]))
        if jobs:
            table.move_cursor(row=min(row, len(jobs) - 1))
        self.query_one("#jobs-hint", Static).update(
            Text("c cancel · r resume/retry · Enter log" if jobs else "No jobs yet: builds, refreshes, semports "
                 "and transfusions show up here.", style="dim"))

    def selected(self) -> dict | None:
        table = self.query_one("#jobs-table", DataTable)
        if not self.jobs or table.cursor_row is None or table.cursor_row >= len(self.jobs):
            return None
        return self.jobs[table.cursor_row]

    def _act(self, action: str) -> None:
        job = self.selected()
        if job is not None:
            self.post_message(self.Act(action, job))

    def action_cancel_job(self) -> None:
        self._act("cancel")

    def action_retry_job(self) -> None:
        self._act("retry")

    def action_open_job(self) -> None:
        self._act("open")

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self._act("open")


def progress_text(job: dict) -> Text:
    done, total = job["done"] or 0, job["total"]
    if not total:
        return Text(str(done) if done else "—", style="" if done else "dim")
    filled = round(10 * min(done, total) / total)
    return Text("█" * filled + "░" * (10 - filled) + f" {done}/{total}")


class JobLogScreen(ModalScreen):
    """One job's inputs, events and outputs; Escape closes."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, job: dict, events: list[dict]):
        super().__init__()
        self.job, self.events = job, events

    def compose(self) -> ComposeResult:
        job = self.job
        lines = [f"## Job {job['id']} · {job['kind']} · {job['state']}", "", f"**{job['title']}**", "",
                 f"- progress: {job['done'] or 0}/{job['total'] or '?'}",
                 f"- spend: {job['spend']['calls']} calls, {job['spend']['input_tokens']:,} tokens in, "
                 f"{job['spend']['output_tokens']:,} out, ${job['spend']['cost_usd']:.4f}"]
        if job["error"]:
            lines.append(f"- error: `{job['error']}`")
        lines += ["", "### Log", ""]
        lines += [f"- `{time.strftime('%H:%M:%S', time.localtime(e['at']))}` {e['level']}: {e['message']}"
                  for e in self.events if e["level"] != "debug"] or ["- (nothing logged)"]
        if job["outputs"]:
            lines += ["", "### Outputs", ""]
            documents = []  # long texts (a pattern card) read best as themselves, after the list
            for key, value in job["outputs"].items():
                if isinstance(value, str) and "\n" in value:
                    documents += ["", f"### {key.replace('_', ' ')}", "", value]
                elif isinstance(value, list):
                    lines.append(f"- **{key}**: " + ", ".join(f"`{v}`" for v in value))
                elif isinstance(value, dict):
                    lines.append(f"- **{key}**: `{json.dumps(value)}`")
                else:
                    lines.append(f"- **{key}**: `{value}`")
            lines += documents
        with VerticalScroll(id="job-log"):
            yield Markdown("\n".join(lines))
            yield Label("Escape closes", classes="hint")


# --- burn -----------------------------------------------------------------------------------


AGENT_ROWS = 12  # sessions listed, costliest first


@dataclass
class AgentsView:
    """The coding agents' side of the burn panel (cockpit.spend.agents)."""

    snapshot: object | None = None  # agents.Snapshot: today by session, rate, block, budget, served
    recent: object | None = None  # agents.Report of the last `window` seconds by session: who burns now
    window: float = 600.0
    series: list[int] = field(default_factory=list)  # tokens per minute, last hour
    looked_in: list[str] = field(default_factory=list)
    message: str | None = None  # instead of figures: why there are none (yet)


@dataclass
class BurnSnapshot:
    """What the burn panel shows, gathered by a worker from the ledger (and the agents' logs)."""

    keyed: bool  # an API key is set: summaries may cost money
    series: list[int]  # tokens per minute over the last hour, oldest first
    tokens_per_minute: float
    usd_per_hour: float
    today_usd: float
    budget_usd: float
    budget_is_default: bool
    by_model: list[dict] = field(default_factory=list)
    by_job: list[dict] = field(default_factory=list)
    agents: AgentsView | None = None  # the coding agents' burn, when their logs are readable


class BurnStrip(Horizontal):
    """One line, always on screen: the sparkline, Cockpit's and the agents' rates, today's gauge."""

    def compose(self) -> ComposeResult:
        yield Label("burn", id="burn-title")
        yield Sparkline([0] * 60, id="burn-sparkline")
        yield Label("", id="burn-rates")
        yield Label("", id="burn-agents-rate")
        yield ProgressBar(total=100, show_eta=False, show_percentage=True, id="burn-gauge")
        yield Label("", id="burn-today")

    def show(self, snap: BurnSnapshot) -> None:
        agents = snap.agents.snapshot if snap.agents and snap.agents.snapshot and \
            snap.agents.snapshot.report.rows else None
        series = snap.series
        if agents:
            series = [a + b for a, b in zip(series, snap.agents.series)]
        self.query_one("#burn-sparkline", Sparkline).data = series
        self.query_one("#burn-rates", Label).update(
            f"cockpit {short_count(int(snap.tokens_per_minute))} tok/m ${snap.usd_per_hour:.2f}/h")
        agents_rate = self.query_one("#burn-agents-rate", Label)
        agents_rate.display = agents is not None
        if agents:
            agents_rate.update(f"agents {short_count(int(agents.rate.tokens_per_minute))} tok/m "
                               f"${agents.rate.usd_per_hour:,.2f}/h")
            spent, budget, who = agents.budget.spent_usd, agents.budget.daily_usd, "agents"
        else:
            spent, budget, who = snap.today_usd, snap.budget_usd, ""
        self.query_one("#burn-gauge", ProgressBar).update(progress=min(100.0, 100 * spent / budget) if budget else 0)
        self.query_one("#burn-today", Label).update(f"{who} ${spent:,.2f}/${budget:,.0f} today".lstrip())


class BurnPanel(VerticalScroll):
    """Cockpit's own spend by model and by job, and the coding agents' burn beside it."""

    def compose(self) -> ComposeResult:
        yield Static(id="burn-headline")
        yield Sparkline([0] * 60, id="burn-panel-sparkline")
        yield Static(id="burn-tables")
        yield Static(id="burn-agents")

    def show(self, snap: BurnSnapshot) -> None:
        colours = self.app.theme_variables
        head = Text()
        head.append("Cockpit's own LLM spend\n", style="bold")
        if not snap.keyed and not snap.today_usd:
            head.append("No ANTHROPIC_API_KEY: summaries are extractive and cost nothing.\n",
                        style=colours.get("success", ""))
        head.append(f"{snap.tokens_per_minute:,.0f} tokens/min · ${snap.usd_per_hour:.2f}/hour (last hour)\n")
        head.append_text(gauge(100 * snap.today_usd / snap.budget_usd if snap.budget_usd else 0, 24, colours))
        head.append(f" today ${snap.today_usd:.4f} of ${snap.budget_usd:.2f}"
                    + (" (default budget; set daily_budget in [tool.cockpit])" if snap.budget_is_default else ""))
        head.append("\ntokens per minute, last 60 minutes:", style="dim")
        self.query_one("#burn-headline", Static).update(head)
        self.query_one("#burn-panel-sparkline", Sparkline).data = snap.series
        tables = Table.grid(padding=(0, 3))
        tables.add_row(_spend_table("model", snap.by_model), _spend_table("job", snap.by_job))
        self.query_one("#burn-tables", Static).update(tables)
        self.query_one("#burn-agents", Static).update(_agents_view(snap.agents, colours))


def _spend_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=f"today by {title}", title_justify="left", box=None, pad_edge=False)
    table.add_column(title)
    table.add_column("calls", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("$", justify="right")
    for row in rows or [{"group": "(none)", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
                         "cache_read_tokens": 0, "cost_usd": 0.0}]:
        used = row["input_tokens"] + row["output_tokens"] + row["cache_write_tokens"] + row["cache_read_tokens"]
        table.add_row(row["group"], str(row["calls"]), short_count(used), f"{row['cost_usd']:.4f}")
    return table


def _agents_view(agents: AgentsView | None, colours: dict) -> Group | Text:
    if agents is None:
        return Text("\nCoding agents: their logs could not be read.", style="dim")
    if agents.message:
        return Text(f"\nCoding agents: {agents.message}", style="dim")
    snap = agents.snapshot
    if not snap.report.rows:
        where = ", ".join(agents.looked_in) or "nowhere"
        return Text(f"\nCoding agents: no Claude Code activity today (looked in {where}; set CLAUDE_CONFIG_DIR "
                    "to look elsewhere).", style="dim")
    head = Text("\nCoding agents (Claude Code), today\n", style="bold")
    head.append(snap.rate.describe() + "\n")
    head.append((snap.block.describe(snap.now) if snap.block else "5-hour block: none active") + "\n")
    budget = snap.budget
    head.append_text(gauge(budget.percent, 24, colours))
    head.append(" " + budget.describe() + "\n")
    report = snap.report
    if report.served_answers:
        share = report.served_share
        head.append(f"context served by Cockpit: {report.total.served_tokens:,} tokens in {report.served_answers} "
                    + (f"answers ({share:.1%} of its agents' new input)\n" if share is not None else "answers\n"))
    else:
        head.append("context served by Cockpit: none today\n", style="dim")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for title, justify in (("session", "left"), ("project", "left"), ("model", "left"), ("in", "right"),
                           ("out", "right"), ("cache r/w", "right"), ("$", "right"), ("tok/min", "right"),
                           ("$/h", "right"), ("last", "left")):
        table.add_column(title, justify=justify, no_wrap=True, overflow="ellipsis",
                         max_width=16 if title == "project" else None)
    now_rates = {row.key: row for row in agents.recent.rows}
    window_minutes = agents.window / 60
    for row in report.rows[:AGENT_ROWS]:
        recent = now_rates.get(row.key)
        per_minute = recent.tokens / window_minutes if recent else 0
        per_hour = recent.cost_usd * 60 / window_minutes if recent else 0
        cost = "unpriced" if row.unpriced and row.unpriced == row.messages else f"{row.cost_usd:,.2f}"
        table.add_row(row.key[:8], os.path.basename(row.project or "") or "?", _short_model(row.model or ""),
                      short_count(row.input_tokens),
                      short_count(row.output_tokens),
                      f"{short_count(row.cache_read_tokens)}/{short_count(row.cache_write_tokens)}", cost,
                      short_count(int(per_minute)), f"{per_hour:,.2f}",
                      time.strftime("%H:%M", time.localtime(row.last_seen)))
    return Group(head, table)


def gauge(percent: float, width: int, colours: dict, level: str | None = None) -> Text:
    """A bar `percent` full, coloured by how close it is to full (spend), or by the theme colour `level` names."""
    filled = max(0, min(width, round(width * percent / 100)))
    level = level or ("error" if percent >= 90 else "warning" if percent >= 60 else "success")
    colour = colours.get(level, "")
    bar = Text("█" * filled, style=colour)
    bar.append("░" * (width - filled), style="dim")
    return bar


def _short_model(model: str) -> str:
    """claude-sonnet-4-5-20250929 -> sonnet-4-5: the family and version are what tell sessions apart."""
    return re.sub(r"-\d{8}$", "", model.removeprefix("claude-"))
