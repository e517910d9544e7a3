"""Holdout scenarios on a sample app (tests/fixtures/scenario_app): a tiny notes service with a known bug.

Satisfied, never satisfied, flaky; broken setups apart; the LLM judge through the twin with scripted
verdicts and its spend under the job; a fixing commit raising the trend; isolation of each trial;
resume; and the holdout kept out of everything the CLI and the MCP server serve."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client

from cache.store import Store
from cockpit.faces.cli import main
from cockpit.faces.mcp import create_server
from cockpit.jobs.runner import Jobs, runner
from cockpit.paths import default_cache_path
from cockpit.scenarios import run as scenario_run
from cockpit.scenarios.model import ScenarioError, load, parse
from cockpit.twin.script import Scenario as TwinScript

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "scenario_app"
MARKER = "QUOKKA-LANTERN-5821"  # in a scenario's story only: must never be served
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def commit(repo: Path, message: str) -> str:
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def fix_the_bug(repo: Path) -> None:
    app = repo / "notes.py"
    app.write_text(app.read_text().replace("notes[: len(notes) - 1]", "notes"))


@pytest.fixture
def app_repo(tmp_path):
    repo = tmp_path / "notes"
    shutil.copytree(FIXTURE / "app", repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, "notes service")
    return repo


@pytest.fixture
def holdout(tmp_path):
    """The sample set, outside the repository, plus one scenario whose setup fails."""
    target = shutil.copytree(FIXTURE / "scenarios", tmp_path / "holdout")
    (target / "broken-setup.toml").write_text(
        'title = "Setup that fails"\nstory = "The database migration fails before Ana can start."\n'
        '[[setup]]\nrun = "echo migrating; exit 3"\n[[step]]\nrun = "true"\n')
    return target


def cli(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def latest(store: Store) -> dict:
    return {r["scenario"]: r for r in scenario_run.summary(store)["scenarios"]}


def test_satisfied_never_flaky_and_broken_then_a_fix_raises_the_trend(app_repo, holdout):
    result = cli("scenarios", "run", "--repo", str(app_repo), "--set", str(holdout), "--trials", "4")
    assert result.exit_code == 0, result.output
    assert "health: satisfaction 1.00 over 4 trials" in result.output
    assert "list-notes: satisfaction 0.00 over 4 trials" in result.output
    assert "broken-setup: satisfaction broken over 4 trials, 4 broken" in result.output
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    rows = latest(store)
    assert rows["health"]["satisfaction"] == 1.0 and rows["health"]["status"] == "satisfied"
    assert rows["list-notes"]["satisfaction"] == 0.0
    assert 0 < rows["flaky-save"]["satisfaction"] < 1 and rows["flaky-save"]["status"] == "partly"
    assert rows["broken-setup"]["status"] == "broken" and rows["broken-setup"]["satisfaction"] is None
    assert "exit status 0" in rows["broken-setup"]["worst"]["reason"]
    # Without a key the judged scenario is decided by its checks, and says so.
    assert rows["welcome"]["satisfaction"] == 1.0 and "judge skipped" in rows["welcome"]["worst"]["note"]
    worst = store.trial(rows["list-notes"]["worst"]["id"])
    steps = worst["trajectory"]["steps"]
    assert [s["name"] for s in steps] == ["save milk", "save bread", "the notes file", "list the notes"]
    assert steps[-1]["command"].startswith("curl -s http://127.0.0.1:") and steps[-1]["exit"] == 0
    assert '"milk"' in steps[-1]["output"] and "bread" not in steps[-1]["output"]
    assert all(s["seconds"] >= 0 for s in steps) and worst["trajectory"]["services"][0]["ready"]

    fix_the_bug(app_repo)  # uncommitted: the trial's copy carries it, and the run is marked dirty
    result = cli("scenarios", "run", "--repo", str(app_repo), "--set", str(holdout), "--trials", "2",
                 "--only", "list-notes")
    assert "list-notes: satisfaction 1.00 over 2 trials" in result.output and "+ (job" in result.output
    fixed = commit(app_repo, "List every note")
    cli("scenarios", "run", "--repo", str(app_repo), "--set", str(holdout), "--trials", "2", "--only", "list-notes")
    trend = latest(store)["list-notes"]["trend"]
    assert [(p["satisfaction"], p["dirty"]) for p in trend] == [(0.0, False), (1.0, True), (1.0, False)]
    assert trend[-1]["commit"] == fixed and scenario_run.trend_arrow(trend[:2]) == "▲"
    table = cli("scenarios", "--repo", str(app_repo), "--set", str(holdout)).output
    line = next(row for row in table.splitlines() if row.startswith("list-notes"))
    assert "1.00 satisfied" in line and "▁██" in line and f"{fixed[:7]}" in line
    data = json.loads(cli("scenarios", "--repo", str(app_repo), "--set", str(holdout), "--format", "json").output)
    assert {r["scenario"] for r in data["scenarios"]} == {"health", "list-notes", "flaky-save", "welcome",
                                                          "broken-setup"}
    shown = cli("scenarios", "show", str(rows["list-notes"]["worst"]["id"]), "--repo", str(app_repo)).output
    assert "list the notes: exit 0" in shown and "✗ output matches /milk.*bread/" in shown
    store.close()


def test_trials_run_in_a_throwaway_copy_with_a_clean_environment(app_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-never-leaked")
    monkeypatch.setenv("TEAM_TOKEN", "passed-on-purpose")
    (app_repo / "draft.txt").write_text("not committed yet\n")  # untracked: the copy has it too
    (app_repo / "README.md").write_text("# Notes, edited\n")
    set_dir = tmp_path / "set"
    set_dir.mkdir()
    (set_dir / "env.toml").write_text('''
title = "What a step sees"
story = "A step looks around."
pass_env = ["TEAM_TOKEN"]
timeout = 2
[[step]]
name = "look"
run = "pwd; echo HOME=$HOME; echo TMP=$TMPDIR; echo KEY=${ANTHROPIC_API_KEY:-none}; echo TEAM=$TEAM_TOKEN; cat draft.txt README.md; touch made-here"
expect = { exit = 0, output = "KEY=none" }
[[step]]
name = "hang"
run = "sleep 30 & sleep 30"
timeout = 0.5
''')
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    job = scenario_run.create_job(store, str(app_repo), str(set_dir), trials=1)
    record = job.run(scenario_run.run_job)
    assert record["state"] == "done", record["error"]
    trial = store.trials(job=job.id, with_trajectory=True)[0]
    look, hang = trial["trajectory"]["steps"]
    out = look["output"].splitlines()
    assert out[0] != str(app_repo) and out[0].endswith("/repo") and f"cockpit-trial-{os.getpid()}-env-1-" in out[0]
    assert out[1].startswith("HOME=") and out[1].endswith("/home") and out[2].endswith("/tmp")
    assert "KEY=none" in out and "TEAM=passed-on-purpose" in out
    assert "not committed yet" in look["output"] and "# Notes, edited" in look["output"]
    assert hang["timed_out"] and hang["exit"] is None and hang["seconds"] < 5
    assert trial["status"] == "unsatisfied" or trial["status"] == "satisfied"  # no check on the hang: recorded only
    assert not (app_repo / "made-here").exists() and not Path(out[0]).exists()  # the copy is gone
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=app_repo, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1
    assert trial["dirty"] == 1
    store.close()


def test_the_llm_judge_decides_through_the_twin_and_its_spend_is_under_the_job(app_repo, holdout, llm):
    llm.scenario = TwinScript.parse({"turns": [
        {"contains": 'trial="1"', "text": '{"satisfied": true, "probability": 0.9, "reason": "Ben sees his id."}'},
        {"contains": 'trial="2"', "text": 'Here: {"satisfied": false, "probability": 0.3, "reason": "Only JSON."}'},
    ]})
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    job = scenario_run.create_job(store, str(app_repo), str(holdout), trials=2, only=("welcome", "list-notes"))
    record = job.run(scenario_run.run_job)
    assert record["state"] == "done", record["error"]
    trials = {(t["scenario"], t["trial"]): t for t in store.trials(job=job.id)}
    assert trials[("welcome", 1)]["satisfaction"] == 0.9 and trials[("welcome", 1)]["judged"] == 1
    assert trials[("welcome", 2)]["status"] == "unsatisfied" and trials[("welcome", 2)]["reason"] == "Only JSON."
    assert latest(store)["welcome"]["satisfaction"] == pytest.approx(0.6)
    # A failed check is never sent to the judge: only the two welcome trials were asked.
    requests = llm.requests("/v1/messages")
    assert all(e["body"]["tool_choice"]["name"] == "give_verdict" for e in requests)  # a forced tool, as jobs ask
    asked = [e["body"]["messages"][-1]["content"] for e in requests]
    assert len(asked) == 2 and all("Ben gets a clear sign" in a and "POST http://127.0.0.1:" in a for a in asked)
    assert trials[("list-notes", 1)]["judged"] == 0
    spend = Jobs(store).spend(job.id)
    assert spend["calls"] == 2 and spend["input_tokens"] > 0
    ledger = store.ledger_rows()
    assert {r["job"] for r in ledger} == {str(job.id)} and {r["node_ids"] for r in ledger} == {'["scenario:welcome"]'}
    store.close()


def test_a_resumed_run_skips_the_trials_it_recorded(app_repo, holdout):
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    job = scenario_run.create_job(store, str(app_repo), str(holdout), trials=3, only=("health",))
    seen = []

    def cancel_after_two(row):
        seen.append(row["trial"])
        if len(seen) == 2:
            Jobs(store).cancel(job.id)

    record = job.run(lambda j: scenario_run.run_job(j, cancel_after_two))
    assert record["state"] == "cancelled" and len(store.trials(job=job.id)) == 2
    resumed = Jobs(store).resume(job.id)
    record = resumed.run(runner("scenarios"))
    assert record["state"] == "done" and record["outputs"]["scenarios"]["health"]["trials"] == 3
    assert sorted(t["trial"] for t in store.trials(job=job.id)) == [1, 2, 3]
    assert len(store.trials(job=job.id)) == 3  # the first two were not taken again
    store.close()
    rebuilt = Store(default_cache_path(str(app_repo)), str(app_repo), rebuild=True)  # what was observed is kept
    assert len(rebuilt.trials(job=job.id, with_trajectory=True)) == 3
    rebuilt.close()


def test_a_copy_left_by_a_killed_run_is_removed_by_the_next(app_repo, holdout, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"cockpit-trial-{dead.pid}-health-1-x" / "repo"
    left.parent.mkdir()
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(left), "HEAD"], cwd=app_repo, check=True)
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    job = scenario_run.create_job(store, str(app_repo), str(holdout), trials=1, only=("health",))
    assert job.run(scenario_run.run_job)["state"] == "done"
    assert not left.parent.exists()
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=app_repo, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1
    assert any("killed run left behind" in e["message"] for e in Jobs(store).events(job.id))
    store.close()


def test_a_set_inside_the_repository_is_never_served(app_repo, tmp_path):
    inside = app_repo / "acceptance"
    shutil.copytree(FIXTURE / "scenarios", inside)
    story = (inside / "health.toml").read_text().replace("Ana has just", f"Ana ({MARKER}) has just")
    (inside / "health.toml").write_text(story)
    (inside / "helpers.py").write_text(f'"""Scenario helpers {MARKER}."""\n\ndef quokka_lantern():\n    return 1\n')
    commit(app_repo, "acceptance tests, where the agents can see them")
    result = cli("scenarios", "run", "--repo", str(app_repo), "--set", str(inside), "--trials", "1",
                 "--only", "health")
    assert result.exit_code == 0 and "acceptance/ is inside the repository" in result.output
    assert "health: satisfaction 1.00" in result.output  # the copy leaves the set out; the app still runs

    outputs = []
    for args in (["context", "quokka lantern " + MARKER + " acceptance health scenario", "--budget", "3000"],
                 ["context", "acceptance/health.toml", "--format", "json"],
                 ["summarize", str(app_repo), "--depth", "9", "--view", "64"],
                 ["zoom", "."], ["zoom", ".", "--view", "64"]):
        done = CliRunner().invoke(main, [*args, *(["--repo", str(app_repo)] if args[0] != "summarize"
                                                                  else []), "-q"])
        assert done.exit_code == 0, done.output
        outputs.append(done.stdout)
    for args in (["zoom", "acceptance/health.toml"], ["zoom", "acceptance/helpers.py:quokka_lantern"]):
        done = CliRunner().invoke(main, [*args, "--repo", str(app_repo), "-q"])
        assert done.exit_code != 0
        outputs.append(done.stdout)
    task = f"quokka lantern {MARKER} acceptance health scenario"
    outputs = [text.replace(task, "").replace("acceptance/health.toml", "") for text in outputs]  # what was asked
    assert all(MARKER not in text and "acceptance" not in text and "quokka" not in text for text in outputs), outputs
    assert "notes.py" in outputs[2]

    import anyio

    async def served() -> list[str]:
        texts = []
        async with Client(create_server(str(app_repo))) as client:
            for name, args in (("overview", {"budget": 4000}), ("search", {"query": "quokka_lantern"}),
                               ("search", {"query": MARKER}), ("search", {"query": "acceptance"}),
                               ("context", {"task": f"the {MARKER} scenario in acceptance", "budget": 3000}),
                               ("zoom", {"path": ".", "view": "outline"}),
                               ("read", {"path": "acceptance/health.toml"}),
                               ("zoom", {"path": "acceptance/helpers.py", "view": "source"})):
                result = await client.call_tool(name, args)
                texts.append("".join(block.text for block in result.content))
            listing = await client.list_resources()
            texts.append(" ".join(str(r.uri) for r in listing.resources))
            for uri in ("pyramid://.", "pyramid://acceptance", "pyramid://acceptance/helpers.py"):
                try:
                    resource = await client.read_resource(uri)
                    texts.append(" ".join(c.text for c in resource.contents))
                except Exception as exc:  # noqa: BLE001 - a missing node is an MCP error: nothing is served
                    texts.append(str(exc).replace("acceptance", "<asked>"))
        return texts

    texts = anyio.run(served)
    assert "notes.py" in texts[0]
    asked = ["acceptance/health.toml", "acceptance/helpers.py", "<asked>", f"the {MARKER} scenario in acceptance",
             MARKER, "quokka_lantern", "'acceptance'"]
    for text in texts:
        for said in asked:  # a refusal may repeat what was asked; nothing else of the set may show
            text = text.replace(said, "")
        assert MARKER not in text and "quokka" not in text.lower() and "acceptance" not in text, text


def test_the_set_comes_from_the_user_config_per_repository_or_the_repo_config(app_repo, holdout, tmp_path):
    config = tmp_path / "config" / "cockpit"  # XDG_CONFIG_HOME is tmp_path/config in the tests
    config.mkdir(parents=True)
    (config / "cockpit.toml").write_text(f'[scenarios]\n"{app_repo}" = "{holdout}"\n')
    result = cli("scenarios", "run", "--repo", str(app_repo), "--trials", "1", "--only", "health")
    assert result.exit_code == 0 and "health: satisfaction 1.00 over 1 trials" in result.output
    (config / "cockpit.toml").unlink()
    (app_repo / "cockpit.toml").write_text(f'scenarios = "{os.path.relpath(holdout, app_repo)}"\n')
    assert "welcome" in cli("scenarios", "--repo", str(app_repo)).output  # listed, though never run
    (app_repo / "cockpit.toml").unlink()
    result = CliRunner().invoke(main, ["scenarios", "run", "--repo", str(app_repo)])
    assert result.exit_code == 2 and "no scenario set" in result.output


def test_scenario_files_are_checked_as_they_are_read(tmp_path):
    health = load(FIXTURE / "scenarios" / "health.toml")
    assert health.name == "health" and health.ports == ("",) and health.services[0].ready_url
    for data, said in (
            ({"story": "s", "step": [{"run": "x"}]}, "needs a title"),
            ({"title": "t", "story": "s"}, "at least one [[step]]"),
            ({"title": "t", "story": "s", "step": [{"run": "x", "http": "u"}]}, "exactly one of run, http, file"),
            ({"title": "t", "story": "s", "step": [{"run": "x", "expect": {"status": 200}}]}, "cannot expect 'status'"),
            ({"title": "t", "story": "s", "step": [{"file": "f", "expect": {"content": "("}}]}, "not a regular expr"),
            ({"title": "t", "story": "s", "steps": []}, "unknown key 'steps'"),
            ({"title": "t", "story": "s", "step": [{"run": "x"}], "service": [{"run": "y"}]}, "ready must be")):
        with pytest.raises(ScenarioError, match=said.replace("[", r"\[").replace("(", r"\(")):
            parse(data, "bad", "bad.toml")


def test_the_judge_sees_outputs_cut_and_redacted(app_repo, tmp_path, llm):
    set_dir = tmp_path / "set"
    set_dir.mkdir()
    (set_dir / "noisy.toml").write_text('''
title = "A noisy log"
story = "Ana reads the service's log."
judge = "The log tells Ana what happened."
[[step]]
run = "echo API_TOKEN=sk-live-abcdefghijklmnopqrstuvwxyz0123456789; python3 -c 'print(\\"x\\" * 9000)'; echo END-OF-LOG"
expect = { exit = 0 }
''')
    llm.scenario = TwinScript.parse({"turns": [{"text": '{"satisfied": true, "probability": 1, "reason": "Clear."}'}]})
    store = Store(default_cache_path(str(app_repo)), str(app_repo))
    job = scenario_run.create_job(store, str(app_repo), str(set_dir), trials=1)
    assert job.run(scenario_run.run_job)["state"] == "done"
    sent = llm.requests("/v1/messages")[0]["body"]["messages"][-1]["content"]
    assert "sk-live-abcdefghijklmnopqrstuvwxyz0123456789" not in sent and "[REDACTED]" in sent
    assert "characters not shown" in sent and "END-OF-LOG" in sent and len(sent) < 5000
    assert store.trials(job=job.id)[0]["satisfaction"] == 1.0
    store.close()


def test_a_configured_set_inside_the_repository_is_left_out_of_every_scan(app_repo):
    from cockpit import service
    from cockpit.core.config import Config

    (app_repo / "cockpit.toml").write_text('scenarios = "holdout"\n')
    options = service.scan_options(Config.load(str(app_repo)), str(app_repo))
    assert "/holdout/" in options["exclude"]
    assert service.scan_options(Config.load(str(app_repo)))["exclude"] == ()


def test_a_cache_of_the_schema_before_gains_the_trials_table_in_place(app_repo):
    from cache.store import SCHEMA_VERSION
    from cockpit.core.pyramid import build

    path = default_cache_path(str(app_repo))
    store = Store(path, str(app_repo))
    build(str(app_repo), store, workers=1)
    nodes = len(store.nodes())
    with store.db.conn:  # what a cache written before scenarios (schema 8) looks like
        store.db.conn.execute("DROP TABLE scenario_trials")
        store.db.conn.execute("ALTER TABLE files DROP COLUMN mtime_ns")
        store.db.conn.execute("ALTER TABLE files DROP COLUMN inode")
        store.db.conn.execute("UPDATE meta SET value = '8' WHERE key = 'schema'")
    store.close()
    store = Store(path, str(app_repo))
    assert len(store.nodes()) == nodes > 0 and store.trials() == []  # the pyramid kept, the table added
    assert store.db.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(SCHEMA_VERSION)
    store.close()
