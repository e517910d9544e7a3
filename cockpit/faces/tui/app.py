"""The full-screen cockpit: the pyramid, the selected node, a context preview, jobs and token burn.

Nothing heavy runs on the event loop. The build runs as a `cockpit summarize` child process (its
progress is its job row in the cache), and so does the first read of the coding agents' logs; the
watcher, the context preview, find, job runs and the pollers of jobs and spend run in worker
threads, each with its own cache connection, and hand results back to the loop. The loop's own
connection serves the small reads of the tree and detail panes.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tree
from textual.worker import Worker, WorkerState, get_current_worker

import themes
from cache.store import Store
from cockpit import paths, service
from cockpit.core import integrity
from cockpit.core.config import Config
from cockpit.core.pyramid import LEVELS
from cockpit.faces.tui.detail import DetailPane
from cockpit.faces.tui.job_forms import SemportForm, TransfuseForm
from cockpit.faces.tui.panels import (
    AgentsView,
    BurnPanel,
    BurnSnapshot,
    BurnStrip,
    ContextPreview,
    JobLogScreen,
    JobsPanel,
)
from cockpit.faces.tui.pyramid_pane import PyramidTree
from cockpit.faces.tui.scenarios_pane import ScenariosPanel, TrajectoryScreen
from cockpit.jobs.runner import JobError, Jobs, runner
from cockpit.jobs.watch import Watcher
from cockpit.spend.ledger import minute_series, parse_since, rate, totals

POLL_SECONDS = 1.0  # jobs and spend; a spend recorded by another process shows within this (target: 2 s)
DEFAULT_DAILY_BUDGET = 5.0  # USD shown against when the repo's config sets none
DEFAULT_VIEW = {"repo": "64", "dir": "32", "file": "32"}  # symbols open at 16 words
BUILD_NICENESS = 10  # the priority the app's child processes give up, so the screen stays quick
SMALL, NARROW, MEDIUM = 90, 110, 150  # terminal widths below which the layout drops what it can
LLM_SETTLE_SECONDS = 30.0  # with a key: quiet time after edits before Claude re-summarizes them
DETAIL_DELAY = 0.06  # seconds the tree cursor rests before the detail pane follows


def while_on_screen(method):
    """For callbacks from timers and workers: once the app is closing its widgets are gone, and then
    there is nothing to update."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        with contextlib.suppress(NoMatches):
            return method(self, *args, **kwargs)
    return guarded


def remembered() -> dict:
    try:
        return json.loads(paths.app_state_file().read_text())
    except (OSError, ValueError):
        return {}


def remember(**values) -> None:
    path = paths.app_state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**remembered(), **values}))
    except OSError:
        pass  # a read-only home: the choice lasts this session


class CockpitApp(App):
    CSS_PATH = "cockpit.tcss"
    TITLE = "Cockpit"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "toggle_keys", "Keys"),
        Binding("slash", "find", "Find"),
        Binding("plus,equals_sign,right_square_bracket", "zoom(1)", "Zoom in", key_display="+"),
        Binding("minus,left_square_bracket", "zoom(-1)", "Zoom out", key_display="-"),
        Binding("t", "next_theme", "Theme"),
        Binding("1", "tab('detail')", "Detail", show=False),
        Binding("2", "tab('context')", "Context", show=False),
        Binding("3", "tab('jobs')", "Jobs", show=False),
        Binding("4", "tab('burn')", "Burn", show=False),
        Binding("5", "tab('scenarios')", "Scenarios", show=False),
        Binding("b", "rebuild", "Rebuild", show=False),
        Binding("escape", "focus_tree", "Back to the tree", show=False),
    ]

    def __init__(self, root: str, cache_path: str | Path, theme: str | None = None, llm: bool = False,
                 build: bool = True, watch: bool = True):
        super().__init__()
        self.root = os.path.realpath(root)
        self.cache_path = Path(cache_path)
        self.config = Config.load(self.root)
        self.store = Store(self.cache_path, self.root)  # the event loop's own connection
        self.llm, self.start_build, self.start_watch = llm, build, watch
        self.themes = themes.load_themes()
        for theme_obj in self.themes.values():
            self.register_theme(theme_obj)
        wanted = theme or self.config.theme or remembered().get("theme") or themes.DEFAULT
        self.theme = self.themes.get(wanted, self.themes[themes.DEFAULT]).name
        self.views: dict[str, str] = {}  # node id -> rung shown, once zoomed
        self.generation, self.files = -1, -1
        self.skipped_note = ""  # why an empty pyramid is empty
        self.cache_notice = service.cache_notice(root, Path(cache_path))  # shown once, in the status line
        self.build_progress = ""  # "45% (1,020/2,257 files)" while a build runs
        self.build_process: subprocess.Popen | None = None
        self.watch_state = "starting" if build or watch else "not watching"
        self.last_change = ""
        self.first_paint: float | None = None
        self.names = None  # find's NameIndex, built in a worker per generation of the cache
        self.parsed_css: dict[tuple, list] = {}  # the stylesheet's rules as parsed under each theme
        self.detail_timer = None
        self.polled: tuple[list[dict], BurnSnapshot] | None = None  # the last jobs and burn read
        self.scenarios: tuple[dict, str] | None = None  # the last scenario summary read, and why it is empty
        self.scenario_process: subprocess.Popen | None = None
        self.watch_stop = threading.Event()
        self.watching = False  # a watcher thread is running
        self.agents_read = threading.Event()  # the first read of the agents' logs is done

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield PyramidTree(self.root, self.store, id="pyramid")
            with TabbedContent(id="tabs", initial="detail"):
                with TabPane("Detail", id="detail"):
                    yield DetailPane(self.root, self.store, id="detail-pane")
                with TabPane("Context", id="context"):
                    yield ContextPreview(id="context-pane")
                with TabPane("Jobs", id="jobs"):
                    yield JobsPanel(id="jobs-pane")
                with TabPane("Burn", id="burn"):
                    yield BurnPanel(id="burn-pane")
                with TabPane("Scenarios", id="scenarios"):
                    yield ScenariosPanel(id="scenarios-pane")
        yield BurnStrip(id="burn-strip")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.root
        self.query_one(PyramidTree).focus()
        self.call_after_refresh(self._painted)
        self.check_cache()
        if self.start_build:
            self.build()
        elif self.start_watch:
            self.watch()
        self.poll()
        self.set_interval(0.5, self.check_cache)
        self.update_status()

    def _painted(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.perf_counter()
            # What exists now (Textual, the widgets, the modules) lives as long as the app: keeping it out
            # of the collector's full passes cuts their pauses, which otherwise show as stutters.
            gc.freeze()

    def on_resize(self) -> None:
        self.set_class(self.size.width < SMALL, "small")
        self.set_class(self.size.width < NARROW, "narrow")
        self.set_class(self.size.width < MEDIUM, "medium")

    # --- the pyramid and the detail pane --------------------------------------------------

    @on(Tree.NodeHighlighted)
    def highlighted(self, event: Tree.NodeHighlighted) -> None:
        # Held arrow keys move the cursor faster than a detail is worth drawing: draw where it rests.
        if self.detail_timer is not None:
            self.detail_timer.stop()
        self.detail_timer = self.set_timer(DETAIL_DELAY, lambda: self.show_detail(event.node.data))

    @on(Tree.NodeSelected)
    def selected(self, event: Tree.NodeSelected) -> None:
        self.query_one(TabbedContent).active = "detail"
        self.show_detail(event.node.data)

    @while_on_screen
    def show_detail(self, node_id: str | None) -> None:
        if node_id is None:
            return
        node = self.store.node(node_id)
        view = self.views.get(node_id) or DEFAULT_VIEW.get(node["kind"] if node else "file", "16")
        self.query_one(DetailPane).show(node, view)

    def selected_id(self) -> str | None:
        cursor = self.query_one(PyramidTree).cursor_node
        return cursor.data if cursor is not None else None

    def action_zoom(self, step: int) -> None:
        node_id = self.selected_id()
        node = self.store.node(node_id) if node_id is not None else None
        if node is None:
            self.notify("Not summarized yet: wait for the build to reach it.", severity="warning")
            return
        current = self.views.get(node_id) or DEFAULT_VIEW.get(node["kind"], "16")
        index = max(0, min(len(LEVELS) - 1, LEVELS.index(current) + step))
        self.views[node_id] = LEVELS[index]
        self.query_one(TabbedContent).active = "detail"
        self.show_detail(node_id)

    def action_find(self) -> None:
        from cockpit.faces.tui.find import FindScreen

        def go(node_id: str | None) -> None:
            if node_id is not None:
                self.query_one(PyramidTree).reveal(node_id)
                self.query_one(PyramidTree).focus()
                self.show_detail(node_id)

        self.push_screen(FindScreen(self.cache_path, self.root, self.fresh_names), go)

    def fresh_names(self):
        """The find index, when the one built is of the cache's current generation."""
        names = self.names
        return names if names is not None and names.generation == self.generation else None

    @work(thread=True, exclusive=True, exit_on_error=False, group="names")
    def build_names(self) -> None:
        """Find's index of every name, built ahead of `/` (and again when the cache changes)."""
        from cockpit.core.names import NameIndex

        store = Store(self.cache_path, self.root)
        try:
            self.names = NameIndex.load(store)
        finally:
            store.close()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name
        focus = {"context": "#context-task", "jobs": "#jobs-table", "detail": "#pyramid", "burn": "#burn-pane",
                 "scenarios": "#scenarios-table"}[name]
        self.query_one(focus).focus()

    def action_focus_tree(self) -> None:
        self.query_one(PyramidTree).focus()

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    @while_on_screen
    def check_cache(self) -> None:
        """Another writer (the build, the watcher, a headless run) changed the cache: show it.

        A build bumps the generation when it ends, but writes files in batches as it goes: a new
        file count shows those batches."""
        state = (self.store.generation(), self.store.db.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
        if state != (self.generation, self.files):
            self.generation, self.files = state
            self.skipped_note = service.skipped_summary(self.store.skipped()) if self.files == 0 else ""
            self.query_one(PyramidTree).refresh_from_cache()
            self.show_detail(self.selected_id())
            self.update_status()
            if self.watch_state != "building":  # the build's batches would rebuild it every half second
                self.build_names()

    # --- themes ---------------------------------------------------------------------------

    def action_next_theme(self) -> None:
        names = list(self.themes)
        current = next((n for n, t in self.themes.items() if t.name == self.theme), names[0])
        self.set_theme(names[(names.index(current) + 1) % len(names)])

    def set_theme(self, name: str) -> None:
        self.theme = self.themes[name].name
        remember(theme=name)
        self.show_detail(self.selected_id())
        self.notify(f"Theme: {name}", timeout=1.5)

    def refresh_css(self, animate: bool = True) -> None:
        """Textual parses every stylesheet again whenever the theme changes (a third of a second on this
        app); the rules parsed under each theme's variables are kept, so a theme seen before is applied
        without parsing. (Textual 8's `Stylesheet` internals: `_rules`, `_rules_map`, `_require_parse`.)"""
        stylesheet = self.stylesheet
        variables = self.get_css_variables()
        key = (tuple(sorted(variables.items())), tuple((k, v.content) for k, v in stylesheet.source.items()))
        rules = self.parsed_css.get(key)
        if rules is None or not hasattr(stylesheet, "_rules"):
            super().refresh_css(animate)
            self.parsed_css[key] = stylesheet.rules
            return
        stylesheet.set_variables(variables)
        stylesheet._rules, stylesheet._rules_map, stylesheet._require_parse = rules, None, False
        stylesheet.update(self, animate=animate)
        with contextlib.suppress(Exception):
            if self.screen.is_mounted:
                self.screen._refresh_layout(self.size)
                self.screen._css_update_count = self._css_update_count
        for screen in self.screen_stack:
            if screen != self.screen:
                stylesheet.update(screen, animate=animate)
                screen._css_update_count = self._css_update_count

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Change theme", "Screenshot"):  # ours are below
                yield command
        yield SystemCommand("Screenshot", f"Save an SVG of the screen in {self.screenshot_dir()}",
                            lambda: self.set_timer(0.1, self.save_screen))
        for name in self.themes:
            yield SystemCommand(f"Theme: {name}", f"Switch to the {name} theme (remembered)",
                                lambda name=name: self.set_theme(name))
        yield SystemCommand("Find a file or symbol", "Fuzzy search by name (/)", self.action_find)
        yield SystemCommand("Zoom in", "Longer view of the selected node (+)", lambda: self.action_zoom(1))
        yield SystemCommand("Zoom out", "Shorter view of the selected node (-)", lambda: self.action_zoom(-1))
        yield SystemCommand("Context preview", "What an agent gets for a task (2)", lambda: self.action_tab("context"))
        yield SystemCommand("Jobs", "Builds, refreshes, semports, transfusions (3)", lambda: self.action_tab("jobs"))
        yield SystemCommand("Burn", "Token spend: Cockpit's and the agents' (4)", lambda: self.action_tab("burn"))
        yield SystemCommand("Scenarios", "Satisfaction of the holdout scenarios, by commit (5)",
                            lambda: self.action_tab("scenarios"))
        yield SystemCommand("Run the scenarios", "Take every holdout scenario against the tree as it is now (a job)",
                            self.run_scenarios)
        yield SystemCommand("Start a semport…", "Port code of this repository into another language",
                            lambda: self.open_job_form(SemportForm))
        yield SystemCommand("Start a gene transfusion…", "Grow a pattern from another repository in this one",
                            lambda: self.open_job_form(TransfuseForm))
        yield SystemCommand("Rebuild the pyramid", "Run an incremental build now (b)", self.action_rebuild)
        yield SystemCommand("Show keys", "Every key binding (?)", self.action_toggle_keys)

    def screenshot_dir(self) -> Path:
        """Where screenshots go: the user's downloads folder when there is one (Textual's choice, which
        fails when it does not exist), else `screenshots/` beside the cache."""
        import platformdirs

        downloads = Path(platformdirs.user_downloads_dir())
        return downloads if downloads.is_dir() else self.cache_path.parent / "screenshots"

    def save_screen(self) -> None:
        folder = self.screenshot_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self.save_screenshot(path=str(folder))
        except OSError as exc:
            self.notify(f"Could not save the screenshot in {folder}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Screenshot saved: {path}", title="Screenshot", timeout=6)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a background failure reaches the user: no worker closes the app, each failure
        is a notification (and the worker's own group says which part failed)."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            reason = f"{type(error).__name__}: {error}".splitlines()[0][:200] if error else "unknown error"
            self.notify(f"{event.worker.group or event.worker.name} failed: {reason}", severity="error", timeout=10)

    # --- build and watch ------------------------------------------------------------------

    def action_rebuild(self) -> None:
        if self.build_process is not None and self.build_process.poll() is None:
            self.notify("A build is already running.")
            return
        self.build()

    @work(thread=True, exclusive=True, exit_on_error=False, group="build")
    def build(self, resume_job: int | None = None) -> None:
        """Build in a child process: it owns its cores and its GIL, so the app never stutters.
        First the cache's cheap invariants are checked: what an interrupted run broke, the build repairs."""
        self.from_worker(self.set_watch_state, "building")
        self.repair_cache()
        if resume_job is None:
            self.summarize_child(self.llm)
        else:
            self.summarize_child(self.llm, ["jobs", "resume", str(resume_job), "--repo", self.root])
        self.from_worker(self.check_cache)
        if self.watching:
            self.from_worker(self.set_watch_state, "watching")
        elif self.start_watch:
            self.from_worker(self.watch)
        else:
            self.from_worker(self.set_watch_state, "not watching")

    def repair_cache(self) -> None:
        store = Store(self.cache_path, self.root)
        try:
            repaired = integrity.check(store, self.root).repair(store)
        finally:
            store.close()
        if repaired:
            self.from_worker(self.notify, repaired, severity="warning", timeout=8)

    def summarize_child(self, llm: bool, command: list[str] | None = None) -> None:
        """`cockpit summarize` on the repo as a child process (a job of its own), or another `cockpit`
        command; its error, if any, is shown."""
        command = [sys.executable, "-m", "cockpit", *(command or [
            "summarize", self.root, "-q", "--depth", "0", "--llm" if llm else "--no-llm"]), "--cache",
            str(self.cache_path)]
        # A lower priority for the build's processes: on a busy machine the screen still answers at once.
        self.build_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                              preexec_fn=lambda: os.nice(BUILD_NICENESS))
        _, err = self.build_process.communicate()
        if self.build_process.returncode not in (0, None) and err.strip():
            self.from_worker(self.notify, err.strip().splitlines()[-1], severity="error", timeout=8)

    @work(thread=True, exclusive=True, exit_on_error=False, group="watch")
    def watch(self) -> None:
        store = Store(self.cache_path, self.root)
        app = self

        class AppWatcher(Watcher):
            def handle(self, changed_paths):
                changed_paths = list(changed_paths)
                rels = sorted({r for r in map(self.relative, changed_paths) if r})
                if rels:
                    app.from_worker(app.mark_stale, rels)
                try:
                    return super().handle(changed_paths)
                finally:
                    app.from_worker(app.mark_fresh, rels)

        def llm_refresh() -> None:  # with a key: Claude re-summarizes what changed once edits settle
            self.summarize_child(llm=True)
            self.from_worker(self.check_cache)

        self.watching = True
        self.from_worker(self.set_watch_state, "watching")
        try:
            AppWatcher(self.root, store, **service.scan_options(self.config, self.root),
                       llm_refresh=llm_refresh if self.llm else None,
                       settle_seconds=LLM_SETTLE_SECONDS).run(self.watch_stop)
        finally:
            self.watching = False
            store.close()

    @while_on_screen
    def mark_stale(self, paths: list[str]) -> None:
        tree = self.query_one(PyramidTree)
        tree.stale.update(paths)
        self.last_change = f"{time.strftime('%H:%M:%S')} {paths[0]}" + (f" +{len(paths) - 1}" if len(paths) > 1 else "")
        tree.relabel()
        self.update_status()

    @while_on_screen
    def mark_fresh(self, paths: list[str]) -> None:
        tree = self.query_one(PyramidTree)
        tree.stale.difference_update(paths)
        self.check_cache()
        tree.relabel()
        self.update_status()

    @while_on_screen
    def set_watch_state(self, state: str) -> None:
        self.watch_state = state
        self.update_status()

    @while_on_screen
    def update_status(self) -> None:
        pending = len(self.query_one(PyramidTree).stale)
        status = Text()
        status.append(f" {os.path.basename(self.root)} ", style="bold reverse")
        status.append(f"  cache: {max(self.files, 0):,} files, generation {max(self.generation, 0)}")
        status.append(f"  ·  {self.watch_state}")
        if self.watch_state == "building" and self.build_progress:
            status.append(f" {self.build_progress}")
        if self.last_change:
            status.append(f", last change {self.last_change}")
        status.append(f", {pending} pending" if pending else "")
        if self.files == 0 and self.skipped_note:  # an empty pyramid says why
            status.append(f"  ·  {self.skipped_note}: see `cockpit summarize --show-skipped`", style="bold")
        if self.cache_notice:
            status.append(f"  ·  read-only repository: cache in {self.cache_path}")
        self.query_one("#status", Static).update(status)

    def on_unmount(self) -> None:
        self.watch_stop.set()
        for process in (self.build_process, self.scenario_process):
            if process is not None and process.poll() is None:
                process.terminate()

    # --- jobs and burn --------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def poll(self) -> None:
        """Jobs and spend, read every second on this thread's own connection."""
        store = Store(self.cache_path, self.root)
        agents = open_agents()
        if agents is not None:
            self.first_agents_read()
        worker = get_current_worker()
        trials_seen = None
        try:
            while not worker.is_cancelled:
                version = store.trials_version()
                if version != trials_seen:  # the summary is read again only when a trial was recorded
                    trials_seen = version
                    self.from_worker(self.show_scenarios, *scenario_summary(store, self.root, self.config))
                jobs = Jobs(store).list(60, include_routine=True)
                snap = burn_snapshot(store, self.config)
                snap.agents = agents_view(agents) if self.agents_read.is_set() else \
                    AgentsView(message="reading the coding agents' logs…")
                self.from_worker(self.show_polled, jobs, snap)
                time.sleep(POLL_SECONDS)
        finally:
            store.close()
            if agents is not None:
                agents.close()

    @work(thread=True, exit_on_error=False, group="agents")
    def first_agents_read(self) -> None:
        """The first read of the agents' logs can be hundreds of megabytes of JSON: it runs in a child
        process, off this process's interpreter lock. What they append later is read by the poll, in ms."""
        subprocess.run([sys.executable, "-m", "cockpit", "burn", "--format", "json"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(BUILD_NICENESS))
        self.agents_read.set()

    def from_worker(self, callback, *args, **kwargs) -> None:
        """Hand a worker's result to the event loop. Once the app is closing its widgets may be gone and the
        loop stopped: the result is dropped then, not raised."""
        def deliver() -> None:
            with contextlib.suppress(NoMatches):
                callback(*args, **kwargs)

        with contextlib.suppress(RuntimeError):
            self.call_from_thread(deliver)

    @while_on_screen
    def show_polled(self, jobs: list[dict], snap: BurnSnapshot) -> None:
        building = next((j for j in jobs if j["kind"] == "summarize" and j["state"] == "running"), None)
        progress = (f"{100 * building['done'] // building['total']}% ({building['done']:,}/{building['total']:,} "
                    "files)") if building and building["total"] else ""
        if progress != self.build_progress:
            self.build_progress = progress
            self.update_status()
        self.polled = (jobs, snap)
        self.query_one(BurnStrip).show(snap)
        self.show_tab_data()

    def show_tab_data(self) -> None:
        """Fill the jobs or burn panel only while it is on screen: a hidden table rebuilt every second
        would cost the screen a layout pass for nothing."""
        if self.polled is None:
            return
        jobs, snap = self.polled
        active = self.query_one(TabbedContent).active
        if active == "jobs":
            self.query_one(JobsPanel).show(jobs)
        elif active == "burn":
            self.query_one(BurnPanel).show(snap)
        elif active == "scenarios" and self.scenarios is not None:
            self.query_one(ScenariosPanel).show(*self.scenarios)

    @while_on_screen
    def show_scenarios(self, report: dict, note: str) -> None:
        self.scenarios = (report, note)
        if self.query_one(TabbedContent).active == "scenarios":
            self.query_one(ScenariosPanel).show(report, note)

    @on(TabbedContent.TabActivated)
    def tab_activated(self) -> None:
        # Jobs and burn are tables that want the whole width; the tree serves the detail and the context.
        self.query_one("#main").set_class(self.query_one(TabbedContent).active in ("jobs", "burn", "scenarios"),
                                          "tables")
        self.show_tab_data()

    @on(JobsPanel.Act)
    def job_action(self, event: JobsPanel.Act) -> None:
        job = event.job
        if event.action == "open":  # the panel's copy may be a second old: read the job afresh
            self.push_screen(JobLogScreen(Jobs(self.store).get(job["id"]), Jobs(self.store).events(job["id"])))
        elif event.action == "cancel":
            try:
                Jobs(self.store).cancel(job["id"])
                self.notify(f"Job {job['id']}: cancel requested")
            except JobError as exc:
                self.notify(str(exc), severity="warning")
        elif job["kind"] == "summarize":  # a child process resumes it, as a build always runs
            if self.build_process is not None and self.build_process.poll() is None:
                self.notify("A build is already running.")
            elif job["state"] == "done":
                self.build()
            else:
                self.build(resume_job=job["id"])
        else:
            self.run_job(job["id"], resume=True)

    # --- scenarios ------------------------------------------------------------------------

    @on(ScenariosPanel.Open)
    def open_trials(self, event: ScenariosPanel.Open) -> None:
        trials = self.store.trials(job=event.row["job"], scenario=event.row["scenario"], with_trajectory=True)
        if trials:
            self.push_screen(TrajectoryScreen(trials))

    @on(ScenariosPanel.Run)
    def run_scenarios(self) -> None:
        if self.scenario_process is not None and self.scenario_process.poll() is None:
            self.notify("A scenario run is already going: see Jobs.")
            return
        self.scenario_run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="scenarios")
    def scenario_run(self) -> None:
        """`cockpit scenarios run` as a child process (a job: progress, cancel and spend in the Jobs tab)."""
        command = [sys.executable, "-m", "cockpit", "scenarios", "run", "--repo", self.root, "--cache",
                   str(self.cache_path), "-q"]
        self.from_worker(self.notify, "Scenario run started: its job is in Jobs (3), its results in Scenarios (5)")
        self.scenario_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 preexec_fn=lambda: os.nice(BUILD_NICENESS))
        out, err = self.scenario_process.communicate()
        if self.scenario_process.returncode == 0:
            said = out.strip().splitlines()
            self.from_worker(self.notify, f"Scenarios: {said[-1] if said else 'done'}", timeout=8)
        else:
            said = [line for line in err.strip().splitlines() if "warning" not in line]
            self.from_worker(self.notify, said[-1] if said else "the scenario run failed", severity="error", timeout=10)

    def open_job_form(self, form) -> None:
        def started(job_id: int | None) -> None:
            if job_id is not None:
                self.action_tab("jobs")
                self.run_job(job_id)

        self.push_screen(form(self.root, self.cache_path, self.config), started)

    @work(thread=True, exit_on_error=False, group="jobs")
    def run_job(self, job_id: int, resume: bool = False) -> None:
        """Run a created job, or resume a stopped one from its last finished step, on this thread."""
        store = Store(self.cache_path, self.root)
        try:
            jobs = Jobs(store)
            job = jobs.resume(job_id) if resume else jobs.job(job_id)
            self.from_worker(self.notify, f"Job {job_id} ({job.kind}) {'resumed' if resume else 'started'}")
            record = job.run(runner(job.kind))
            self.from_worker(self.notify, f"Job {job_id}: {record['state']}"
                                  + (f" ({record['error']})" if record["error"] else ""),
                                  severity="information" if record["state"] == "done" else "warning")
        except JobError as exc:
            self.from_worker(self.notify, str(exc), severity="warning")
        finally:
            store.close()

    # --- context preview ------------------------------------------------------------------

    @on(ContextPreview.Requested)
    def context_requested(self, event: ContextPreview.Requested) -> None:
        self.run_context(event.task, event.budget)

    @work(thread=True, exclusive=True, exit_on_error=False, group="context")
    def run_context(self, task: str, budget: int) -> None:
        from cockpit.core.context import ContextError, build_context

        store = Store(self.cache_path, self.root)
        started = time.perf_counter()
        try:
            result = build_context(store, self.root, task, budget, [], "md", explain=True)
        except ContextError as exc:
            result = exc
        finally:
            store.close()
        seconds = time.perf_counter() - started
        self.from_worker(lambda: self.query_one(ContextPreview).show(result, seconds))


def burn_snapshot(store: Store, config: Config, now: float | None = None) -> BurnSnapshot:
    now = time.time() if now is None else now
    today = parse_since("today", now)
    rows = store.ledger_rows(min(today, now - 3600))  # read once a poll: the last hour and today
    todays = [row for row in rows if row["started_at"] >= today]
    hour = rate(rows, 3600, now)
    spent = totals(todays, "model")
    return BurnSnapshot(
        keyed=bool(os.environ.get("ANTHROPIC_API_KEY")), series=minute_series(rows, 60, now),
        tokens_per_minute=hour["tokens_per_minute"], usd_per_hour=hour["usd_per_hour"],
        today_usd=spent["total"]["cost_usd"], budget_usd=config.daily_budget or DEFAULT_DAILY_BUDGET,
        budget_is_default=config.daily_budget is None, by_model=spent["rows"], by_job=totals(todays, "job")["rows"])


def scenario_summary(store: Store, root: str, config: Config) -> tuple[dict, str]:
    """The scenarios' summary (the set's scenarios included, run or not), and why it is empty if it is."""
    from cockpit.scenarios.model import ScenarioError, load_set
    from cockpit.scenarios.run import summary

    names, note = None, ""
    try:
        names = [s.name for s in load_set(service.scenario_set(root, config))]
    except (service.SetError, ScenarioError) as exc:
        note = str(exc)
    return summary(store, names), note


def open_agents():
    """The coding agents' usage index (cockpit.spend.agents), or None when it cannot be opened."""
    from cockpit.spend.agents import AgentBurn, AgentsError

    try:
        return AgentBurn()
    except (AgentsError, OSError, sqlite3.Error):
        return None


def agents_view(agents) -> AgentsView | None:
    """Read what the agents appended since the last look, and what they burn now."""
    from cockpit.spend.agents import RATE_WINDOW, AgentsError

    if agents is None:
        return None
    try:
        agents.refresh()
        now = time.time()
        return AgentsView(snapshot=agents.snapshot("today", "session", now=now),
                          recent=agents.report(now - RATE_WINDOW, "session", now), window=RATE_WINDOW,
                          series=agents.per_minute(60, now), looked_in=[str(p) for p in agents.projects_dirs])
    except (AgentsError, OSError, sqlite3.Error) as exc:
        return AgentsView(message=str(exc).splitlines()[0])
