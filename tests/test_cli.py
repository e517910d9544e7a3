import json
import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cockpit.faces.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def cockpit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cockpit", *args], capture_output=True, text=True, cwd=cwd)


def test_markdown_pyramid_to_stdout(sample_repo):
    result = run("summarize", str(sample_repo), "--depth", "2", "--view", "8")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("# repo/\n")
    assert "Fetches forecasts from public weather services" in out
    assert "- **weather/** `weather` Forecast fetching and caching for the command line" in out
    assert "  - **client.py** `weather/client.py:1-" in out
    assert "ForecastClient" not in out  # depth 2 stops at files


def test_json_with_depth_view_and_subtree(sample_repo):
    result = run("summarize", str(sample_repo), "--format", "json", "--path", "weather", "--depth", "3",
                 "--view", "source")
    assert result.exit_code == 0
    tree = json.loads(result.stdout)
    assert tree["id"] == "weather" and tree["kind"] == "dir"
    client = next(c for c in tree["children"] if c["name"] == "client.py")
    cls = client["children"][0]
    assert cls["name"] == "ForecastClient" and cls["lines"] == [6, 16]
    forecast = cls["children"][1]
    assert forecast["text"].startswith("    def forecast(self, city: str, days: int = 3) -> dict:")
    assert forecast["tokens"]["source"] > 0 and set(forecast["tokens"]) == {
        "2", "4", "8", "16", "32", "64", "outline", "source"}
    assert forecast["summaries"]["4"]


def test_out_file_and_outline_view(sample_repo, tmp_path):
    out = tmp_path / "pyramid.md"
    result = run("summarize", str(sample_repo), "--out", str(out), "--view", "outline", "--depth", "1")
    assert result.exit_code == 0 and result.stdout == ""
    text = out.read_text()
    assert "weather/" in text and "```" in text


def test_show_skipped_lists_reasons(sample_repo):
    (sample_repo / "logo.png").write_bytes(b"\x89PNG\0\0")
    (sample_repo / ".gitignore").write_text("*.log\n")
    (sample_repo / "debug.log").write_text("x\n")
    result = run("summarize", str(sample_repo), "--show-skipped", "--depth", "0")
    assert result.exit_code == 0
    assert "skipped logo.png: binary" in result.stderr
    assert "skipped debug.log: ignored" in result.stderr


def test_piped_output_is_only_the_result(sample_repo):
    done = cockpit("summarize", str(sample_repo), "--depth", "0")
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.startswith("# repo/")


def test_bare_cockpit_opens_the_app_and_says_so_without_a_terminal(sample_repo):
    done = cockpit(cwd=sample_repo)
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr and "cockpit summarize" in done.stderr
    assert done.stderr.count("\n") == 1


def test_summarize_creates_the_cache_kept_out_of_git(sample_repo):
    done = cockpit("summarize", cwd=sample_repo)
    assert done.returncode == 0, done.stderr
    assert "weather/" in done.stdout
    assert (sample_repo / ".cockpit" / "cache.sqlite").exists()
    assert (sample_repo / ".cockpit" / ".gitignore").read_text() == "*\n"


@pytest.mark.parametrize("args", [
    ["summarize", "/no/such/dir"],
    ["summarize", ".", "--view", "3"],
    ["summarize", ".", "--depth", "-1"],
    ["summarize", ".", "--format", "xml"],
])
def test_bad_usage_exits_2(args, sample_repo):
    done = cockpit(*args, cwd=sample_repo)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("cockpit: usage:") and done.stderr.count("\n") == 1


def test_path_that_is_not_a_directory_is_bad_usage(sample_repo):
    done = cockpit("summarize", str(sample_repo), "--path", "nope")
    assert done.returncode == 2 and "'nope' is not a directory" in done.stderr


def test_corrupt_cache_gives_one_line_error_naming_rebuild(sample_repo):
    cache = sample_repo / ".cockpit" / "cache.sqlite"
    cache.parent.mkdir()
    cache.write_bytes(b"this is not a database at all" * 100)
    done = cockpit("summarize", str(sample_repo))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cockpit: error:") and "--rebuild" in lines[0]
    fixed = cockpit("summarize", str(sample_repo), "--rebuild", "--depth", "0")
    assert fixed.returncode == 0 and fixed.stdout.startswith("# repo/")


def test_foreign_sqlite_file_is_not_touched(sample_repo, tmp_path):
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER, balance REAL)")
        conn.execute("INSERT INTO accounts VALUES (1, 10.0)")
    done = cockpit("summarize", str(sample_repo), "--cache", str(foreign))
    assert done.returncode == 1 and "not a Cockpit cache" in done.stderr and "--rebuild" in done.stderr
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("SELECT balance FROM accounts").fetchall() == [(10.0,)]


def test_config_in_pyproject_sets_the_size_cap(sample_repo):
    (sample_repo / "pyproject.toml").write_text("[tool.cockpit]\nmax_file_bytes = 100\nexclude = ['scripts/']\n")
    result = run("summarize", str(sample_repo), "--show-skipped", "--depth", "0")
    assert "skipped weather/client.py: too large" in result.stderr
    assert "skipped scripts/: ignored" in result.stderr
    flag = run("summarize", str(sample_repo), "--show-skipped", "--depth", "0", "--max-file-size", "100000")
    assert "weather/client.py" not in flag.stderr


def test_unwritable_output_is_a_one_line_failure(sample_repo, tmp_path):
    done = cockpit("summarize", str(sample_repo), "--out", str(tmp_path / "missing-dir" / "x.md"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "No such file or directory" in done.stderr


@pytest.mark.parametrize("target", [".", "./", "/", ""])
def test_zoom_takes_dot_and_slash_as_the_repository(sample_repo, target):
    result = run("zoom", target, "--repo", str(sample_repo), "-q", "--view", "outline")
    assert result.exit_code == 0 and "· repo ·" in result.output and "weather/" in result.output


def test_node_paths_are_taken_as_written(sample_repo):
    assert "· dir ·" in run("zoom", "./weather/", "--repo", str(sample_repo), "-q").output
    whole = run("summarize", str(sample_repo), "--path", ".", "--depth", "1")
    assert whole.exit_code == 0 and "weather/" in whole.output
    refused = CliRunner().invoke(main, ["zoom", "/etc/passwd", "--repo", str(sample_repo), "-q"])
    assert refused.exit_code != 0 and "outside the repository" in refused.output


def test_an_empty_pyramid_says_how_many_files_were_skipped_and_why(tmp_path):
    repo = tmp_path / "bins"
    repo.mkdir()
    for n in range(3):
        (repo / f"blob{n}.bin").write_bytes(b"\0\1\2" * 100)
    (repo / "huge.txt").write_text("x" * 5000)
    result = CliRunner().invoke(main, ["summarize", str(repo), "--max-file-size", "1000", "--depth", "0"])
    assert result.exit_code == 0
    assert "no file to summarize: 4 files skipped (3 binary, 1 too large); --show-skipped lists them" in result.output


def test_a_read_only_repository_says_where_its_cache_is(sample_repo, monkeypatch, tmp_path):
    import cockpit.paths

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    real_access = cockpit.paths.os.access
    monkeypatch.setattr(cockpit.paths.os, "access", lambda p, mode: False if str(p) == str(sample_repo) and mode == os.W_OK else
                        real_access(p, mode))
    result = CliRunner().invoke(main, ["summarize", str(sample_repo), "--depth", "0"])
    assert result.exit_code == 0
    notes = [line for line in result.output.splitlines() if "read-only" in line]
    assert len(notes) == 1 and str(tmp_path / "user-cache") in notes[0]
    assert not (sample_repo / ".cockpit").exists()


def test_the_progress_estimate_follows_bytes_not_files(sample_repo, tmp_path):
    from cache.store import Store
    from cockpit.core.pyramid import build
    from cockpit.faces.cli import _progress_bar

    calls = []
    build(str(sample_repo), Store(tmp_path / "c.sqlite", str(sample_repo)), workers=1,
          progress=lambda *args: calls.append(args))
    sizes = sum(p.stat().st_size for p in sample_repo.rglob("*") if p.is_file() and ".cockpit" not in p.parts)
    assert calls[0] == (0, 5, 0, sizes) and calls[-1] == (5, 5, sizes, sizes)
    with _progress_bar(True) as update:  # one big file of ten done: 90% of the work, not 10%
        update(1, 10, 900, 1000)
        task = update.__self__.progress.tasks[0]
        assert task.percentage == 90 and task.fields["files"] == "1/10"


def test_summarize_fits_a_budget_and_says_the_size_of_a_large_output(sample_repo, monkeypatch):
    from summarizers import tokens

    for budget in (120, 400, 2000):
        result = run("summarize", str(sample_repo), "--budget", str(budget), "-q")
        assert result.exit_code == 0 and tokens.count(result.output) <= budget and "repo" in result.output
    small, large = (run("summarize", str(sample_repo), "--budget", str(b), "-q").output for b in (120, 2000))
    assert len(large) > len(small)
    monkeypatch.setattr("cockpit.faces.cli.LARGE_OUTPUT_CHARS", 100)
    told = CliRunner().invoke(main, ["summarize", str(sample_repo), "--depth", "3"])
    assert "tokens; --budget TOKENS fits the pyramid to a budget" in told.output
    refused = CliRunner().invoke(main, ["summarize", str(sample_repo), "--budget", "500", "--format", "json"])
    assert refused.exit_code == 2
