"""Semport, through the real SDK against the Anthropic twin: the plan without an LLM, dependency order,
the manifest, parsing and symbol checks, --check fed back, --force, retries, spend cap, kill and resume."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cache.store import Store
from cockpit.faces.cli import main
from cockpit.jobs.factory import param_names, syntax_errors
from cockpit.jobs.runner import Jobs
from cockpit.jobs.semport import dependency_order, match_symbols, target_path
from cockpit.paths import default_cache_path
from cockpit.twin.server import Fault
from tests.conftest import write_tree

PACKAGE = {
    "README.md": "# Shapes\n\nShapes and units for a drawing tool.\n",
    "shapes/.env": "API_TOKEN=sk-live-abcdefghijklmnopqrstuvwxyz0123456789\n",
    "shapes/NOTES.md": "# Notes\n\nUnits are metres unless said otherwise.\n",
    "shapes/__init__.py": '"""Shapes and units for the drawing tool."""\n',
    "shapes/units.py": '''
        """Length units and conversions."""

        DEFAULT_SCALE = 2
        _cache = {}


        def to_metres(feet: float) -> float:
            """Convert feet to metres."""
            return feet * 0.3048


        class Unit:
            """A unit of length with its size in metres."""

            def __init__(self, name: str, metres: float):
                self.name = name
                self.metres = metres

            def convert(self, value: float, other: "Unit") -> float:
                """Convert a value in this unit into another unit."""
                return value * self.metres / other.metres

            def _scale(self):
                return DEFAULT_SCALE
        ''',
    "shapes/geometry.py": '''
        """Squares and circles measured in units."""
        import math

        from shapes.units import Unit, to_metres


        class Square:
            """A square with a side length."""

            def __init__(self, side: float, unit: Unit):
                self.side = side
                self.unit = unit

            def area(self) -> float:
                """The area of the square."""
                return self.side ** 2

            def get_perimeter(self) -> float:
                return 4 * self.side


        def circle_area(radius: float) -> float:
            """The area of a circle."""
            return math.pi * radius ** 2


        def square_in_metres(square: Square) -> float:
            return to_metres(square.side)
        ''',
    "shapes/render.py": '''
        """Text rendering of shapes."""
        from .geometry import Square


        def render(square: Square) -> str:
            """Describe a square in one line."""
            return f"square of side {square.side}"
        ''',
}
ORDER = ["shapes/__init__.py", "shapes/units.py", "shapes/geometry.py", "shapes/render.py"]
PUBLIC = {
    "shapes/__init__.py": set(),
    "shapes/units.py": {"DEFAULT_SCALE", "to_metres", "Unit", "Unit.convert"},
    "shapes/geometry.py": {"Square", "Square.area", "Square.get_perimeter", "circle_area", "square_in_metres"},
    "shapes/render.py": {"render"},
}
GO_TARGETS = {"shapes/__init__.py": "doc.go", "shapes/units.py": "units.go", "shapes/geometry.py": "geometry.go",
              "shapes/render.py": "render.go"}


@pytest.fixture
def repo(tmp_path):
    root = write_tree(tmp_path / "repo", PACKAGE)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def semport(repo, out, *args):
    return CliRunner().invoke(main, ["semport", str(repo / "shapes"), "--out", str(out), *args],
                              catch_exceptions=False)


def port_requests(twin, source=None):
    """The twin's port requests in order (their user text), optionally only those for one source file."""
    texts = [e["body"]["messages"][-1]["content"] for e in twin.requests("/v1/messages")]
    return [t for t in texts if t.startswith("<semport ")
            and (source is None or f'source="{source}"' in t.split("\n", 1)[0])]


def sources_in_order(twin):
    return [t.split('source="', 1)[1].split('"', 1)[0] for t in port_requests(twin)]


def manifest(out):
    return json.loads((out / "semport.json").read_text())


def store_of(repo) -> Store:
    return Store(default_cache_path(str(repo)), str(repo))


# --- without an LLM ----------------------------------------------------------------------------


def test_without_an_llm_the_plan_is_printed_with_its_estimate_then_one_line_says_what_to_configure(repo, tmp_path):
    result = semport(repo, tmp_path / "out", "--to", "go")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("semport plan: shapes (python, 4 files) -> go in ")
    assert [line.split(". ", 1)[1].split(" (")[0] for line in lines[1:5]] == [
        f"{s} -> {GO_TARGETS[s]}" for s in ORDER]
    assert "after __init__.py, units.py" in lines[3]
    assert "(left out as empty or not code: 1 file)" in result.stdout  # NOTES.md; .env is never in the pyramid
    estimate = lines[-1]
    assert estimate.startswith("estimate: 4 calls to claude-haiku-4-5, ~") and "input + ~" in estimate
    assert "~$0.0" in estimate and "at most $" in estimate
    assert result.stderr.count("\n") == 1
    assert "semport needs an LLM" in result.stderr and "ANTHROPIC_API_KEY" in result.stderr
    assert "cockpit twin" in result.stderr and "ANTHROPIC_BASE_URL" in result.stderr
    assert not (tmp_path / "out").exists()


def test_plan_flag_is_a_dry_run_even_with_an_llm(repo, tmp_path, llm):
    result = semport(repo, tmp_path / "out", "--to", "typescript", "--plan")
    assert result.exit_code == 0 and result.stderr == ""
    assert "1. shapes/__init__.py -> index.ts" in result.stdout and "shapes/units.py -> units.ts" in result.stdout
    assert llm.log == [] and not (tmp_path / "out").exists()
    assert not [j for j in Jobs(store_of(repo)).list() if j["kind"] == "semport"]


# --- ports ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("to, lang, targets", [
    ("go", "go", GO_TARGETS),
    ("typescript", "typescript", {"shapes/__init__.py": "index.ts", "shapes/units.py": "units.ts",
                                  "shapes/geometry.py": "geometry.ts", "shapes/render.py": "render.ts"}),
    ("python", "python", {"shapes/__init__.py": "__init__.py", "shapes/units.py": "units.py",
                          "shapes/geometry.py": "geometry.py", "shapes/render.py": "render.py"}),
])
def test_a_package_is_ported_in_dependency_order_with_every_public_symbol_mapped(repo, tmp_path, llm, to, lang,
                                                                                  targets):
    out = tmp_path / "out"
    result = semport(repo, out, "--to", to)
    assert result.exit_code == 0, result.output
    assert sources_in_order(llm) == ORDER
    assert f"ported shapes/units.py -> {targets['shapes/units.py']} (4 symbols mapped)" in result.stdout
    data = manifest(out)
    assert (data["to"], data["ported"], data["failed"], data["pending"]) == (to, 4, 0, 0)
    for entry in data["files"]:
        assert entry["target"] == targets[entry["source"]] and entry["status"] == "ported"
        assert set(entry["symbols"]) == PUBLIC[entry["source"]]  # private names (_cache, _scale) not asked for
        assert syntax_errors((out / entry["target"]).read_text(), lang) == []
        assert entry["spend"]["calls"] == 1 and entry["spend"]["cost_usd"] > 0
    units = next(e for e in data["files"] if e["source"] == "shapes/units.py")["symbols"]
    if to == "go":
        assert units == {"DEFAULT_SCALE": "DefaultScale", "to_metres": "ToMetres", "Unit": "Unit",
                         "Unit.convert": "Unit.Convert"}
        assert "package shapes" in (out / "units.go").read_text()
    elif to == "typescript":
        assert units["to_metres"] == "toMetres" and units["Unit.convert"] == "Unit.convert"
    ledger = Jobs(store_of(repo)).spend(data["job"])
    assert ledger["calls"] == len(llm.log) == 4 and data["spend"] == {**ledger, "cost_usd": pytest.approx(
        ledger["cost_usd"], abs=1e-6)}


def test_each_prompt_carries_the_context_its_file_needs_and_no_secrets(repo, tmp_path, llm):
    assert semport(repo, tmp_path / "out", "--to", "go").exit_code == 0
    geometry = port_requests(llm, "shapes/geometry.py")[0]
    assert '<ported source="shapes/units.py" target="units.go">' in geometry
    assert "func (u *Unit) Convert(value any, other any) any" in geometry  # the interface already ported
    assert '<imported path="shapes/units.py">' in geometry and '<package path="shapes">' in geometry
    assert '<symbol kind="method" name="Square.area"' in geometry and "def circle_area" in geometry
    assert "_scale" not in port_requests(llm, "shapes/units.py")[0].split("<symbols>")[1].split("</symbols>")[0]
    system = llm.log[0]["body"]["system"][0]
    # The answer's shape is a forced tool; the instructions are too short for Haiku 4.5 to cache (4,096).
    assert "idiomatic Go" in system["text"] and "cache_control" not in system
    assert llm.log[0]["body"]["tool_choice"] == {"type": "tool", "name": "write_port"}
    assert [b["type"] for b in llm.log[0]["response"]["content"]] == ["tool_use"]
    everything = json.dumps([e["body"] for e in llm.log])
    assert "sk-live" not in everything and "API_TOKEN" not in everything
    assert all(e["usage"]["cache_read_input_tokens"] == 0 for e in llm.log)


def test_a_semport_of_a_subdirectory_is_a_job_of_the_enclosing_repository(repo, tmp_path, llm, monkeypatch):
    """Started inside the repository on a subdirectory (which has a cache of its own from an earlier run):
    the job uses the repository's cache and job list, as git finds its root, and names the path given."""
    (repo / "shapes" / ".cockpit").mkdir()
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["semport", "shapes", "--to", "go", "--out", str(tmp_path / "go"), "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not (repo / "shapes" / ".cockpit" / "cache.sqlite").exists()
    listed = CliRunner().invoke(main, ["jobs", "--repo", str(repo), "--format", "json"]).stdout
    (job,) = [j for j in json.loads(listed) if j["kind"] == "semport"]
    assert job["title"] == "semport shapes -> go" and job["state"] == "done"


def test_a_model_that_refuses_forced_tools_is_asked_for_the_file_as_text(repo, tmp_path, llm):
    llm.no_forced_tool = frozenset({"claude-haiku-4-5"})  # the default model, here refusing
    out = tmp_path / "go"
    result = semport(repo, out, "--to", "go", "-q")
    assert result.exit_code == 0, result.output
    statuses = [e["status"] for e in llm.requests("/v1/messages")]
    assert statuses[0] == 400 and set(statuses[1:]) == {200}  # one refusal, then text for every file
    assert all("tools" not in e["body"] for e in llm.requests("/v1/messages")[1:])
    assert sorted(p.name for p in out.glob("*.go")) == sorted(GO_TARGETS.values())


def test_existing_files_are_kept_unless_forced(repo, tmp_path, llm):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "units.go").write_text("package mine\n")
    refused = semport(repo, out, "--to", "go")
    assert refused.exit_code == 1 and "already exist (use --force to overwrite): units.go" in refused.stdout
    assert refused.stderr.strip() == f"cockpit: error: 1 files to write already exist in {out}; use --force"
    assert (out / "units.go").read_text() == "package mine\n" and llm.log == []
    forced = semport(repo, out, "--to", "go", "--force", "-q")
    assert forced.exit_code == 0 and forced.stdout == f"manifest: {out / 'semport.json'}\n"
    assert "ToMetres" in (out / "units.go").read_text()


def test_an_unparsable_then_incomplete_answer_is_asked_again_with_its_errors(repo, tmp_path, llm):
    llm.reply("```go\npackage shapes\n\nfunc Broken( {\n```", contains='source="shapes/units.py"')
    llm.reply("```go\npackage shapes\n\ntype Unit struct{}\n```", contains='source="shapes/units.py"')
    out = tmp_path / "out"
    result = semport(repo, out, "--to", "go")
    assert result.exit_code == 0, result.output
    assert "ported shapes/units.py -> units.go (4 symbols mapped, 3 answers)" in result.stdout
    first, second, third = port_requests(llm, "shapes/units.py")
    assert "<errors" not in first
    assert '<errors attempt="1">' in second
    assert "units.go does not parse: line 3, column 1: syntax error at `func Broken( {`" in second
    assert "<previous-answer>" in second and "func Broken(" in second
    assert "no counterpart in units.go for function to_metres" in third
    assert "no counterpart in units.go for class Unit" not in third
    entry = next(e for e in manifest(out)["files"] if e["source"] == "shapes/units.py")
    assert entry["attempts"] == 3 and entry["spend"]["calls"] == 3
    assert sources_in_order(llm) == [ORDER[0]] + [ORDER[1]] * 3 + ORDER[2:]


def test_check_failures_are_fed_back_into_the_next_answer(repo, tmp_path, llm):
    out = tmp_path / "out"
    check = "test -f .seen || { touch .seen; echo 'units.go:7: undefined: Metres'; exit 3; }"
    result = semport(repo, out, "--to", "go", "--check", check)
    assert result.exit_code == 0, result.output
    _, second = port_requests(llm, "shapes/__init__.py")  # the check ran after the first file
    assert "`test -f .seen" in second and "failed (exit 3)" in second and "undefined: Metres" in second
    assert next(e for e in manifest(out)["files"] if e["source"] == ORDER[0])["attempts"] == 2
    assert len(port_requests(llm)) == 5


def test_a_file_that_keeps_failing_is_marked_failed_and_the_port_goes_on(repo, tmp_path, llm):
    out = tmp_path / "out"
    check = "if [ -f geometry.go ]; then echo 'geometry.go: does not build' >&2; exit 1; fi"
    result = semport(repo, out, "--to", "go", "--check", check, "--retries", "1")
    assert result.exit_code == 1
    assert "FAILED shapes/geometry.py -> geometry.go after 2 answers: `if [ -f geometry.go ]" in result.stdout
    assert "ported shapes/render.py -> render.go" in result.stdout  # the rest went on
    assert result.stderr.splitlines()[-1] == (f"cockpit: error: 1 of 4 files failed to port (see {out}/semport.json)")
    data = manifest(out)
    entry = next(e for e in data["files"] if e["source"] == "shapes/geometry.py")
    assert entry["status"] == "failed" and "geometry.go: does not build" in entry["errors"][0]
    assert entry["last_answer"] == ".semport/failed/geometry.go.txt"
    assert not (out / "geometry.go").exists() and "CircleArea" in (out / entry["last_answer"]).read_text()
    assert (data["ported"], data["failed"]) == (3, 1)


def test_the_spend_cap_stops_before_a_call_could_pass_it(repo, tmp_path, llm):
    result = semport(repo, tmp_path / "out", "--to", "go", "--max-cost", "0.0001", "-q")
    assert result.exit_code == 1 and llm.log == []
    assert "--max-cost $0.0001: spent $0.0000, the next call could cost $0.0" in result.stderr
    assert "resume: cockpit jobs resume 1 --repo" in result.stderr


# --- kill and resume -------------------------------------------------------------------------------------


def wait_for_step(db: Path, prefix: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with sqlite3.connect(db) as conn:
                try:
                    rows = conn.execute("SELECT name FROM job_steps WHERE name LIKE ? AND name NOT LIKE '%answer%'",
                                        [prefix + "%"]).fetchall()
                except sqlite3.OperationalError:
                    rows = []
            if rows:
                return
        time.sleep(0.02)
    raise AssertionError(f"no step {prefix!r} recorded in time")


def kill_after_step(args: list[str], twin, db: Path, step: str, cwd: Path, written: Path | None = None) -> None:
    """Run `cockpit ARGS` in a process of its own against the twin, and SIGKILL it once `step` is recorded
    (and `written`, a file the job writes just after that step, exists)."""
    env = {**os.environ, "ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "test-key"}
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_step(db, step)
        deadline = time.monotonic() + 30
        while written is not None and not written.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_port_resumes_without_paying_again_for_finished_files(repo, tmp_path, twin):
    out = tmp_path / "out"
    twin.script(Fault.slow(0), Fault.slow(4000))  # the second file's answer is slow: the kill lands during it
    kill_after_step(["semport", str(repo / "shapes"), "--to", "go", "--out", str(out), "-q"], twin,
                    default_cache_path(str(repo)), "port shapes/__init__.py", tmp_path, out / "semport.json")
    store = store_of(repo)
    job = next(j for j in Jobs(store).list() if j["kind"] == "semport")
    assert job["state"] == "failed" and "interrupted" in job["error"]
    assert manifest(out)["ported"] == 1 and (out / "doc.go").exists()
    resumed = CliRunner().invoke(main, ["jobs", "resume", str(job["id"]), "--repo", str(repo)],
                                 env={"ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "test-key"})
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.startswith(f"job {job['id']}: done")
    assert len(port_requests(twin, "shapes/__init__.py")) == 1  # finished before the kill: not asked again
    for source in ORDER[2:]:
        assert len(port_requests(twin, source)) == 1
    rows = store.db.conn.execute("SELECT node_ids, outcome FROM ledger WHERE job = ? ORDER BY id",
                                 [str(job["id"])]).fetchall()
    assert [r for r in rows if r[0] == '["shapes/__init__.py"]'] == [('["shapes/__init__.py"]', "ok")]
    assert [o for ids, o in rows if ids == '["shapes/units.py"]'] in (["started", "ok"], ["ok"])
    data = manifest(out)
    assert (data["ported"], data["pending"]) == (4, 0)
    assert Jobs(store).get(job["id"])["state"] == "done"


# --- the pieces --------------------------------------------------------------------------------------------


def test_symbol_matching_allows_idiomatic_renames_and_declared_ones():
    wanted = [{"kind": k, "name": n} for k, n in [("function", "to_metres"), ("class", "Unit"),
                                                   ("method", "Unit.convert"), ("method", "Square.get_perimeter"),
                                                   ("method", "Square.area"), ("function", "parse_reply"),
                                                   ("variable", "MAX_SIZE")]]
    found = ["ToMetres", "Unit", "Unit.Convert", "Square", "Square.Perimeter", "SquareArea", "decode", "MaxSize"]
    mapping, missing = match_symbols(wanted, found, {"parse_reply": "decode"})
    assert mapping == {"to_metres": "ToMetres", "Unit": "Unit", "Unit.convert": "Unit.Convert",
                       "Square.get_perimeter": "Square.Perimeter", "Square.area": "SquareArea",
                       "parse_reply": "decode", "MAX_SIZE": "MaxSize"}
    assert missing == []
    assert match_symbols([{"kind": "function", "name": "render"}], ["Draw"], {})[1] == ["function render"]


def test_dependency_order_breaks_cycles_deterministically():
    deps = {"a": ["b"], "b": ["a"], "c": ["a"], "d": []}
    assert dependency_order(["a", "b", "c", "d"], deps) == (["d", "a", "b", "c"], ["a"])


@pytest.mark.parametrize("source, to, target", [
    ("pkg/__init__.py", "go", "pkg/doc.go"), ("test_units.py", "go", "units_test.go"),
    ("units_test.py", "typescript", "units.test.ts"), ("lib/index.ts", "python", "lib/__init__.py"),
    ("client.go", "python", "client.py"),
])
def test_target_paths_follow_the_target_language(source, to, target):
    assert target_path(source, to) == target


def test_parameter_names_come_from_signatures_of_any_language():
    assert param_names("def forecast(self, city: str, days: int = 3) -> dict") == ["city", "days"]
    assert param_names("func (c *Client) Get(ctx context.Context, keys ...string) (map[string]int, error)") == [
        "ctx", "keys"]
    assert param_names("function f({a, b}: Opts, ...rest: number[])") == ["rest"]
    assert param_names("class Unit") == []


def test_scripted_replies_wait_for_the_request_they_name(twin):
    import anthropic

    twin.reply("for alpha", contains="alpha").reply("for anyone")
    with anthropic.Anthropic(base_url=twin.url, api_key="test-key") as client:
        def ask(text):
            message = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": text}])
            return message.content[0].text

        assert ask("beta") == "for anyone"  # the first reply waits for a request that says "alpha"
        assert ask("alpha") == "for alpha"
        assert ask("gamma") == "Echo: gamma"
    assert twin.pending_replies == []
