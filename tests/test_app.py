"""The full-screen app, driven headless by Textual's Pilot: what a user sees after each key."""

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import write_tree
from textual.geometry import Region
from textual.widgets import Markdown, TabbedContent

from cache.store import Store
from cockpit.core.pyramid import build
from cockpit.faces.tui.app import CockpitApp
from cockpit.faces.tui.detail import DetailPane
from cockpit.faces.tui.panels import JobLogScreen
from cockpit.faces.tui.pyramid_pane import PyramidTree
from cockpit.jobs.runner import Jobs
from cockpit.paths import default_cache_path


@pytest.fixture
def built_repo(sample_repo):
    store = Store(default_cache_path(str(sample_repo)), str(sample_repo))
    build(str(sample_repo), store, workers=1)
    store.close()
    return sample_repo


def make_app(repo, **options) -> CockpitApp:
    options = {"build": False, "watch": False, **options}
    return CockpitApp(str(repo), default_cache_path(str(repo)), **options)


def tree_lines(app) -> list[str]:
    tree = app.query_one(PyramidTree)
    return [tree.get_node_at_line(i).label.plain for i in range(tree.last_line + 1)]


def shown(widget) -> str:
    """The text a widget puts on screen, line by line."""
    if not widget.display or not widget.outer_size.area:
        return ""
    strips = widget.render_lines(Region(0, 0, *widget.outer_size))
    return "\n".join(strip.text.strip() for strip in strips)


def detail_text(app) -> str:
    pane = app.query_one(DetailPane)
    source = pane.query_one("#detail-source")
    parts = [shown(pane.query_one("#detail-header")), shown(pane.query_one("#detail-ladder")),
             shown(pane.query_one("#detail-markdown")), shown(pane.query_one("#detail-code")),
             source.text if source.display else ""]
    return "\n".join(parts)


async def wait_for(pilot, condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def test_tree_lists_the_pyramid_with_summaries_and_token_counts(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        lines = tree_lines(app)
        assert lines[0].startswith("repo")
        assert any(line.startswith("weather/") for line in lines)
        assert any(line.startswith("README.md") for line in lines)
        weather = next(line for line in lines if line.startswith("weather/"))
        assert "Forecast fetching and caching" in weather  # its short summary
        assert weather.split()[1].isdigit()  # and its token count, which a narrow pane never cuts
        assert lines[0].split()[2] == "tokens" and "tokens" not in weather  # the unit, said once
        assert "tokens" in str(app.query_one(PyramidTree).tooltip)


async def test_navigate_open_and_go_up(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        lines = tree_lines(app)
        await pilot.press(*["down"] * next(i for i, line in enumerate(lines) if line.startswith("weather/")))
        await pilot.press("enter")
        await pilot.pause()
        assert any(line.startswith("client.py") for line in tree_lines(app))
        client = next(i for i, line in enumerate(tree_lines(app)) if line.startswith("client.py"))
        await pilot.press(*["down"] * (client - app.query_one(PyramidTree).cursor_line))
        await pilot.pause()
        assert app.selected_id() == "weather/client.py"
        assert "weather/client.py" in detail_text(app) and "HTTP client" in detail_text(app)
        await pilot.press("backspace")
        assert app.selected_id() == "weather"


async def test_zoom_walks_the_ladder_from_two_words_to_source(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one(PyramidTree).reveal("weather/client.py")
        await pilot.pause()
        await pilot.press(*["minus"] * 8)
        assert app.views["weather/client.py"] == "2"
        assert "2 words" in detail_text(app)
        await pilot.press(*["plus"] * 6)
        assert app.views["weather/client.py"] == "outline"
        assert "ForecastClient" in detail_text(app)
        await pilot.press("plus")
        shown = detail_text(app)
        assert "source" in shown and 'return json.loads(text)' in shown
        await pilot.press("plus")  # the top of the ladder stays put
        assert app.views["weather/client.py"] == "source"


async def test_source_of_many_languages_opens_highlighted_again_and_again(tmp_path):
    # Textual's editor compiles a highlight query per document; freeing some of them (JavaScript's)
    # crashed the whole process under tree-sitter 0.26 until compiled queries were kept.
    repo = write_tree(tmp_path / "polyglot", {
        "strings.js": "// Strings.\nfunction shout(s) { return s.toUpperCase(); }\nfunction hush(s) { return s; }\n",
        "shapes.ts": "// Shapes.\nexport interface Shape { area(): number }\n"
                     "export function unit(): number { return 1; }\n",
        "calc.c": "/* Calculator. */\nint add(int a, int b) { return a + b; }\n",
        "tool.rb": "# Tools.\ndef greet(name)\n  \"hi #{name}\"\nend\n",
    })
    store = Store(default_cache_path(str(repo)), str(repo))
    build(str(repo), store, workers=1)
    store.close()
    app = make_app(repo)
    async with app.run_test(size=(120, 40)) as pilot:
        source = app.query_one("#detail-source")
        for node, language in [("strings.js::shout", "javascript"), ("strings.js::hush", "javascript"),
                               ("strings.js", "javascript"), ("shapes.ts::unit", "typescript"),
                               ("shapes.ts", "typescript"), ("calc.c::add", "c"), ("tool.rb::greet", "ruby"),
                               ("strings.js::shout", "javascript")]:
            app.query_one(PyramidTree).reveal(node)
            pane = app.query_one(DetailPane)
            await wait_for(pilot, lambda node=node: pane.node and pane.node["id"] == node)  # the cursor rests there
            app.views[node] = "source"
            app.show_detail(node)
            await pilot.pause()
            assert (pane.node["id"], pane.view) == (node, "source")
            assert source.display and source.language == language
            expected = node.split("::")[1] if "::" in node else "// "
            assert expected in source.text


async def test_find_jumps_to_a_symbol_by_fuzzy_name(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        await pilot.press(*"frcst")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected_id() in ("weather/client.py::ForecastClient.forecast", "weather/client.py::ForecastClient")
        assert "ForecastClient" in detail_text(app)


async def test_question_mark_shows_and_hides_the_keys(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


async def test_context_preview_shows_what_an_agent_gets(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.press(*"cache forecasts on disk")
        await pilot.press("enter")
        status = app.query_one("#context-status")
        await wait_for(pilot, lambda: "tokens ·" in shown(status))
        assert "of 4,000 tokens" in shown(status)
        output = app.query_one("#context-output").source
        assert "weather/cache.py" in output and "DiskCache" in output
        assert "score" in output  # why each node is there


async def test_theme_switches_by_key_and_palette_and_is_remembered(built_repo, tmp_path):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "cockpit-dark"
        await pilot.press("t")
        assert app.theme != "cockpit-dark"
        await pilot.press("ctrl+p")
        await pilot.press(*"Theme: high")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "cockpit-high-contrast"
    again = make_app(built_repo)
    async with again.run_test(size=(120, 40)) as pilot:
        assert again.theme == "cockpit-high-contrast"


async def test_the_theme_key_says_which_theme_is_on(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        name = next(n for n, t in app.themes.items() if t.name == app.theme)
        assert any(f"Theme: {name}" in str(n.message) for n in app._notifications)


async def test_the_palette_screenshot_is_saved_and_its_path_said(built_repo, monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_downloads_dir", lambda: str(tmp_path / "no-such-downloads"))
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        app.save_screen()
        await pilot.pause()
        saved = list((app.cache_path.parent / "screenshots").glob("*.svg"))
        assert len(saved) == 1 and saved[0].read_text().startswith("<svg")
        assert any(str(saved[0]) in str(n.message) for n in app._notifications)


async def test_config_theme_wins_over_the_remembered_one(built_repo):
    (built_repo / "cockpit.toml").write_text('theme = "light"\n')
    app = make_app(built_repo)
    async with app.run_test(size=(120, 40)):
        assert app.theme == "cockpit-light"


async def test_cancel_a_running_job_from_the_jobs_panel(built_repo):
    store = Store(default_cache_path(str(built_repo)), str(built_repo))
    job = Jobs(store).create("semport", "port weather to go")
    outcome = {}

    def runner():
        def work(job):
            for i in range(200):
                job.step(f"file {i}", lambda: time.sleep(0.05))
                job.progress(i, 200)
        outcome.update(job.run(work))

    thread = threading.Thread(target=runner)
    thread.start()
    app = make_app(built_repo)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3")
            await wait_for(pilot, lambda: app.query_one("#jobs-table").row_count > 0)
            await pilot.press("c")
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
            assert outcome["state"] == "cancelled"
            await wait_for(pilot, lambda: "cancelled" in str(app.query_one("#jobs-table").get_row_at(0)[2]))
    finally:
        Jobs(store).cancel(job.id) if thread.is_alive() else None
        thread.join()
        store.close()


async def test_spend_recorded_by_another_process_moves_the_burn_strip_within_two_seconds(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        today = app.query_one("#burn-today")
        assert shown(today).startswith("$0.00/")
        other = Store(default_cache_path(str(built_repo)), str(built_repo))
        other.ledger_insert({"job": "headless", "started_at": time.time(), "ended_at": time.time(),
                             "model": "claude-haiku-4-5", "input_tokens": 200_000, "output_tokens": 40_000,
                             "cache_write_tokens": 0, "cache_read_tokens": 0, "outcome": "ok", "cost_usd": 0.4})
        other.close()
        started = time.monotonic()
        rates = app.query_one("#burn-rates")
        # Both labels repainted (a wider text shows whole once the label is laid out again): 240k tokens,
        # $0.40 in the hour.
        await wait_for(pilot, lambda: shown(today).startswith("$0.40/")
                       and shown(rates) == "cockpit 4.0k tok/m $0.40/h", seconds=2.0)
        assert time.monotonic() - started <= 2.0


async def test_a_saved_file_is_refreshed_without_a_restart(built_repo):
    app = make_app(built_repo, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.watch_state == "watching")
        await pilot.pause(0.5)  # the watcher's first catch-up pass
        app.query_one(PyramidTree).reveal("weather/cache.py")
        await pilot.pause()
        (built_repo / "weather" / "cache.py").write_text('"""Keeps forecasts in SQLite tables."""\n')
        tree = app.query_one(PyramidTree)
        await wait_for(pilot, lambda: "Keeps forecasts" in tree.by_id["weather/cache.py"].label.plain)
        assert "weather/cache.py" in shown(app.query_one("#status"))
        assert not tree.stale


async def test_a_cold_start_shows_the_tree_before_the_build_ends(sample_repo):
    app = make_app(sample_repo, build=True, watch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any(line.startswith("weather/") for line in tree_lines(app))  # listed from the disk
        await wait_for(pilot, lambda: any("Forecast" in line for line in tree_lines(app)), seconds=30)
        await wait_for(pilot, lambda: app.watch_state == "watching", seconds=10)
        jobs = Jobs(app.store).list()
        assert jobs[0]["kind"] == "summarize" and jobs[0]["state"] == "done"


async def open_from_palette(app, pilot, command: str, field: str) -> None:
    """Pick `command` in the command palette and wait for its form's `field`."""
    await pilot.press("ctrl+p")
    await pilot.press(*command)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.query(f"#{field}"))


async def open_semport_form(app, pilot, out) -> None:
    await open_from_palette(app, pilot, "semport", "field-src")
    app.screen.query_one("#field-src").value = "weather"
    app.screen.query_one("#field-out").value = str(out)


async def test_a_semport_started_from_the_palette_runs_as_a_job_with_its_outputs(built_repo, llm, tmp_path):
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_semport_form(app, pilot, tmp_path / "ported")
        app.screen.query_one("#field-to").value = "typescript"
        await pilot.click("#start")
        await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "jobs", seconds=15)
        await wait_for(pilot, lambda: any(j["kind"] == "semport" and j["state"] == "done"
                                          for j in Jobs(app.store).list()), seconds=30)
        job = next(j for j in Jobs(app.store).list() if j["kind"] == "semport")
        assert job["spend"]["calls"] >= 3 and job["outputs"]["ported"] == job["outputs"]["files"]
        assert (tmp_path / "ported" / "semport.json").exists()
        assert sorted(p.name for p in (tmp_path / "ported").glob("*.ts")) == ["cache.ts", "client.ts", "index.ts"]
        await wait_for(pilot, lambda: app.query_one("#jobs-table").row_count > 0)
        await pilot.press("enter")  # the job's log and outputs
        await wait_for(pilot, lambda: isinstance(app.screen, JobLogScreen))
        log = app.screen.query_one(Markdown).source
        assert "semport.json" in log and "done" in log


async def test_without_an_llm_the_form_shows_the_plan_and_what_to_configure(built_repo, tmp_path):
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_semport_form(app, pilot, tmp_path / "ported")
        await pilot.click("#start")
        output = app.screen.query_one("#form-output")
        await wait_for(pilot, lambda: "LLM" in shown(output), seconds=15)
        text = shown(output)
        assert "client.py" in text and "estimate" in text and "ANTHROPIC_API_KEY" in text
        assert not Jobs(app.store).list()  # nothing started, nothing spent
        assert not (tmp_path / "ported").exists()


async def test_a_job_form_opens_with_its_first_field_focused(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_from_palette(app, pilot, "semport", "field-src")
        await pilot.press(*"weather")  # typed at once, before any Tab
        assert app.screen.query_one("#field-src").value == "weather"


async def test_keys_typed_into_the_context_task_stay_there_and_escape_leaves_it(built_repo):
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        task = app.query_one("#context-task")
        task.focus()
        await pilot.press(*"quit quickly")
        assert task.value == "quit quickly" and app.is_running
        keys = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
        assert "Leave the input" in keys.get("escape", "")
        await pilot.press("escape")
        assert not task.has_focus
        await pilot.press("q")
        await pilot.pause(0.2)
        assert not app.is_running


async def test_an_empty_pyramid_and_a_cache_kept_elsewhere_say_so_in_the_status_line(tmp_path, monkeypatch):
    import cockpit.paths
    from cockpit.core.config import Config
    from cockpit.service import refresh

    repo = tmp_path / "bins"
    repo.mkdir()
    for n in range(2):
        (repo / f"blob{n}.bin").write_bytes(b"\0\1" * 50)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    real_access = cockpit.paths.os.access  # the repository is read-only: its cache goes to the user's cache dir
    monkeypatch.setattr(cockpit.paths.os, "access", lambda p, mode: False if str(p) == str(repo) and
                        mode == os.W_OK else real_access(p, mode))
    cache = default_cache_path(str(repo))
    assert not cache.is_relative_to(repo)
    store = Store(cache, str(repo))
    refresh(str(repo), store, Config.load(str(repo)))
    store.close()
    app = CockpitApp(str(repo), cache, build=False, watch=False)
    async with app.run_test(size=(320, 40)) as pilot:  # wide enough for the whole path
        await wait_for(pilot, lambda: "skipped" in shown(app.query_one("#status")))
        status = shown(app.query_one("#status"))
        assert "2 files skipped (2 binary)" in status and f"read-only repository: cache in {cache}" in status


async def test_at_80_columns_the_burn_strip_keeps_todays_spend_whole(built_repo):
    from test_agents import assistant, lines, session_file

    claude = Path(os.environ["CLAUDE_CONFIG_DIR"])
    session_file(claude, "/home/dev/src/shop", "sess-1").write_text(lines(assistant(
        "m1", "r1", time.time() - 30, "sess-1", "/home/dev/src/shop", inp=100, out=2_000, read=50_000)))
    app = make_app(built_repo)
    async with app.run_test(size=(80, 24)) as pilot:
        today = app.query_one("#burn-today")
        await wait_for(pilot, lambda: "agents $" in shown(today), seconds=10)
        assert today.region.right <= 80 and shown(today).endswith("today")
        assert not app.query_one("#burn-sparkline").display or not app.query_one("#burn-sparkline").region.area


async def test_an_agent_working_in_another_terminal_moves_the_burn_within_two_seconds(built_repo):
    from test_agents import assistant, lines, session_file

    claude = Path(os.environ["CLAUDE_CONFIG_DIR"])
    log = session_file(claude, "/home/dev/src/shop", "sess-1")
    log.write_text(lines(assistant("m1", "r1", time.time() - 30, "sess-1", "/home/dev/src/shop",
                                   inp=100, out=2_000, read=50_000)))
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        rate = app.query_one("#burn-agents-rate")
        await wait_for(pilot, lambda: "agents" in shown(rate), seconds=3)
        before = shown(rate)
        with log.open("a") as fh:  # the agent answers again
            fh.write(lines(assistant("m2", "r2", time.time(), "sess-1", "/home/dev/src/shop",
                                     inp=200, out=4_000, read=90_000)))
        started = time.monotonic()
        await wait_for(pilot, lambda: shown(rate) != before, seconds=2.0)
        assert time.monotonic() - started <= 2.0
        await pilot.press("4")
        await wait_for(pilot, lambda: "sess-1" in shown(app.query_one("#burn-agents")), seconds=2.0)
        panel = shown(app.query_one("#burn-agents"))
        assert "shop" in panel and "sonnet-4-5" in panel and "budget today" in panel
        assert not app.query_one("#left").display  # the tables take the whole width
        await pilot.press("1")
        assert app.query_one("#left").display


async def test_a_transfusion_form_plans_from_a_donor_without_an_llm(built_repo, tmp_path):
    donor = write_tree(tmp_path / "donor", {"net/retry.py": '''
        """Retries with exponential backoff."""


        def retry_with_backoff(call, attempts=3, base=0.1):
            """Call until it succeeds, sleeping longer after each failure."""
            return call()
        '''})
    app = make_app(built_repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_from_palette(app, pilot, "transfusion", "field-donor")
        app.screen.query_one("#field-donor").value = str(donor)
        app.screen.query_one("#field-gene").value = "retry with backoff"
        await pilot.click("#plan")
        output = app.screen.query_one("#form-output")
        await wait_for(pilot, lambda: "estimate" in shown(output), seconds=20)
        assert "net/retry.py" in shown(output) and "retry_with_backoff" in shown(output)
        await pilot.click("#start")
        await wait_for(pilot, lambda: "LLM" in shown(output), seconds=20)
        assert not Jobs(app.store).list()


async def test_with_a_key_the_app_summarizes_with_claude_and_its_spend_shows(sample_repo, llm, monkeypatch):
    import cockpit.faces.tui.app

    monkeypatch.setattr(cockpit.faces.tui.app, "LLM_SETTLE_SECONDS", 0.3)
    app = make_app(sample_repo, build=True, watch=True, llm=True)
    async with app.run_test(size=(160, 48)) as pilot:
        today = app.query_one("#burn-today")
        await wait_for(pilot, lambda: app.watching, seconds=30)
        await wait_for(pilot, lambda: not shown(today).startswith("$0.00/"), seconds=3)
        calls = len(llm.requests("/v1/messages"))
        assert calls >= 3  # files and directories, through the real SDK
        app.query_one(PyramidTree).reveal("weather/cache.py")
        await wait_for(pilot, lambda: app.selected_id() == "weather/cache.py")
        await wait_for(pilot, lambda: "from claude-haiku-4-5" in detail_text(app))
        (sample_repo / "weather" / "cache.py").write_text('"""Keeps forecasts in SQLite tables."""\n')
        await wait_for(pilot, lambda: len(llm.requests("/v1/messages")) > calls, seconds=15)
        await wait_for(pilot, lambda: sum(j["kind"] == "summarize" for j in Jobs(app.store).list()) == 2
                       and Jobs(app.store).list()[0]["state"] == "done", seconds=15)
        node = app.store.node("weather/cache.py")
        assert node["summarizer"].startswith("llm/") and "forecasts" in " ".join(node["summaries"]).lower()


async def test_the_scenarios_tab_shows_satisfaction_its_trend_and_opens_a_trajectory(tmp_path):
    import shutil
    import subprocess

    from cockpit.faces.tui.scenarios_pane import ScenariosPanel, TrajectoryScreen
    from cockpit.scenarios import run as scenario_run

    fixture = Path(__file__).resolve().parent / "fixtures" / "scenario_app"
    repo = shutil.copytree(fixture / "app", tmp_path / "notes")
    holdout = tmp_path / "holdout"
    holdout.mkdir()
    for name in ("health.toml", "list-notes.toml"):
        shutil.copy(fixture / "scenarios" / name, holdout / name)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "notes"], cwd=repo, check=True)
    config = tmp_path / "config" / "cockpit"  # the user's cockpit.toml maps the repository to its set
    config.mkdir(parents=True)
    (config / "cockpit.toml").write_text(f'[scenarios]\n"{repo}" = "{holdout}"\n')
    store = Store(default_cache_path(str(repo)), str(repo))
    build(str(repo), store, workers=1)
    scenario_run.create_job(store, str(repo), str(holdout), trials=2).run(scenario_run.run_job)
    store.close()
    app = make_app(repo)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        assert app.query_one(TabbedContent).active == "scenarios"
        panel = app.query_one(ScenariosPanel)
        await wait_for(pilot, lambda: len(panel.rows) == 2)
        table = shown(panel.query_one("#scenarios-table"))
        assert "health" in table and "1.00 satisfied" in table and "0.00 unsatisfied" in table
        assert "set satisfaction 0.50" in shown(panel.query_one("#scenarios-headline"))
        await pilot.press("down")  # list-notes: its trend over commits below the table
        await wait_for(pilot, lambda: "list-notes over its last 1 commits" in shown(panel.query_one("#scenarios-trend")))
        assert "░" * 30 + " 0.00  2 trials" in shown(panel.query_one("#scenarios-trend"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrajectoryScreen))
        text = app.screen.query_one(Markdown).source
        assert "list-notes #1: unsatisfied (0.00)" in text and "list the notes: exit 0" in text
        assert "✗ output matches /milk.*bread/" in text and "curl -s http://127.0.0.1:" in text
        await pilot.press("n")
        assert "list-notes #2" in app.screen.query_one(Markdown).source
        await pilot.press("escape")
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Run the scenarios")
        command.callback()  # the palette's command: a child process, a job
        await wait_for(pilot, lambda: len([j for j in Jobs(app.store).list() if j["kind"] == "scenarios"]) == 2
                       and Jobs(app.store).list()[0]["state"] == "done", seconds=60)
        await wait_for(pilot, lambda: panel.rows and panel.rows[0]["trials"] == 3, seconds=5)  # default: 3 trials


# --- snapshots: the main screen in every theme, narrow and wide ----------------------------------


def _main_screen(built_repo, theme):
    app = make_app(built_repo, theme=theme)

    async def select_client(pilot):
        await pilot.pause(0.3)
        app.query_one(PyramidTree).reveal("weather/client.py")
        await pilot.pause(0.3)

    return app, select_client


@pytest.mark.parametrize("theme", ["dark", "light", "high-contrast"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen_snapshot(built_repo, snap_compare, theme, size):
    app, before = _main_screen(built_repo, theme)
    assert snap_compare(app, terminal_size=size, run_before=before)


def test_remembered_theme_file_is_plain_json(built_repo, tmp_path):
    from cockpit.faces.tui.app import remember, remembered

    remember(theme="light")
    assert remembered() == {"theme": "light"}
    assert json.loads(next((tmp_path / "config").rglob("app.json")).read_text()) == {"theme": "light"}


def test_summaries_render_as_plain_text_in_the_detail_pane():
    from rich.console import Console
    from rich.markdown import Markdown

    from cockpit.faces.tui.detail import markdown_escape

    console = Console(width=100, record=True, color_system=None)
    console.print(Markdown(markdown_escape("Holds __init__.py and _private_helper; takes *args and **kwargs [x]")))
    assert "Holds __init__.py and _private_helper; takes *args and **kwargs [x]" in console.export_text()
