"""Kill builds, watch refreshes and LLM runs at random moments; the next ordinary run must leave the
cache exactly as a fresh build would, and the ledger must hold every call once."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import crashkit
import pytest

from cache.store import Store
from cockpit import service
from cockpit.core import pyramid
from cockpit.core.config import Config
from cockpit.core.pyramid import update_paths
from cockpit.spend.ledger import Ledger
from summarizers import llm

SEED = 20261201


def _build(root: Path, cache: Path, batch: int = 4) -> None:
    pyramid.WRITE_BATCH = batch  # small batches: many commits to be killed between (set in the child)
    store = Store(cache, str(root))
    service.refresh(str(root), store, Config.load(str(root)), workers=2)
    store.close()


def _fresh(root: Path, cache: Path) -> dict:
    cache.unlink(missing_ok=True)
    crashkit.fork_run(lambda: _build(root, cache, pyramid.WRITE_BATCH)).join(120)
    return crashkit.snapshot(cache)


@pytest.fixture
def tree(tmp_path):
    return crashkit.make_tree(tmp_path / "orchard", modules=64, seed=1)


def test_killed_builds_and_watch_refreshes_converge(tree, tmp_path):
    rng = random.Random(SEED)
    tally = crashkit.Tally()
    cache, before = tmp_path / "cache.sqlite", tmp_path / "before.sqlite"
    _fresh(tree, before)  # the cache as it was before the edits
    touched = crashkit.edit_tree(tree, seed=7)
    want = _fresh(tree, tmp_path / "fresh.sqlite")

    def cold():
        cache.unlink(missing_ok=True)

    def warm():
        shutil.copy(before, cache)

    def build():
        _build(tree, cache)

    def refresh():  # what the watcher does with the changes it saw
        store = Store(cache, str(tree))
        update_paths(str(tree), store, touched)
        store.close()

    kinds = (("cold build", cold, build, 15), ("incremental build", warm, build, 10), ("watch refresh", warm, refresh, 12))
    for kind, prepare, writer, wanted in kinds:
        duration = crashkit.duration_of(prepare, writer)
        for n in range(3 * wanted):  # until `wanted` kills have landed mid-work
            crashkit.trial(tally, kind, rng, prepare, writer, writer, cache, want, duration, kills=1 + n % 2)
            if tally.landed_in(kind) >= wanted:
                break
    assert not tally.failures, tally.failures[:3]
    assert [tally.landed_in(kind) >= wanted for kind, *_, wanted in kinds] == [True] * 3, tally.landed


def test_killed_llm_runs_converge_and_the_ledger_counts_each_call_once(tmp_path, twin):
    import anthropic  # noqa: F401 - loaded before the forks, so that every run takes the same time

    from summarizers import tokens

    tokens.encoding()
    tree = crashkit.make_tree(tmp_path / "orchard", modules=20, seed=2)
    rng = random.Random(SEED + 1)
    tally = crashkit.Tally()
    built, cache = tmp_path / "built.sqlite", tmp_path / "cache.sqlite"
    _fresh(tree, built)

    def run():
        store = Store(cache, str(tree))
        llm.summarize(str(tree), store, Ledger(store), concurrency=3, api_key="test-key", base_url=twin.url)
        store.close()

    shutil.copy(built, cache)
    started = len(twin.requests("/v1/messages"))
    duration = crashkit.timed(run)
    fresh_calls = len(twin.requests("/v1/messages")) - started
    want = crashkit.snapshot(cache)

    for n in range(45):  # until 15 kills have landed mid-run
        if tally.landed_in("llm run") >= 15:
            break
        before = len(twin.requests("/v1/messages"))
        crashkit.trial(tally, "llm run", rng, lambda: shutil.copy(built, cache), run, run, cache, want, duration,
                       kills=1 + n % 2)
        served = twin.requests("/v1/messages")[before:]
        conn = sqlite3.connect(cache)
        rows = conn.execute("SELECT outcome, request_id FROM ledger").fetchall()
        conn.close()
        outcomes = Counter(outcome for outcome, _ in rows)
        answered = {e["request_id"] for e in served if e["status"] == 200}
        ids = [request_id for outcome, request_id in rows if outcome == "ok"]
        assert len(ids) == len(set(ids)), "a call counted twice"
        assert set(ids) <= answered, "a ledger row for a call the API never answered"
        # Every answered call has its row: finished, or (killed before it could finish) interrupted.
        assert len(ids) + outcomes["interrupted"] >= len(answered), (outcomes, len(answered))
        assert outcomes["started"] == 0 or outcomes["started"] <= 3  # only the recovery's own, never left behind
        assert outcomes["ok"] >= fresh_calls
    assert not tally.failures, tally.failures[:3]
    assert tally.landed_in("llm run") >= 15, (tally.landed, tally.missed)


def test_check_repairs_a_cache_damaged_by_hand(tree, tmp_path):
    from cockpit.core import integrity

    cache = tmp_path / "cache.sqlite"
    want = _fresh(tree, cache)
    conn = sqlite3.connect(cache)
    with conn:
        conn.execute("DELETE FROM nodes WHERE id = 'pkg1'")  # a directory gone
        conn.execute("DELETE FROM nodes WHERE id = 'pkg0/sub2/mod8.py'")  # a file node gone, its row kept
        conn.execute("UPDATE nodes SET hash = 'x' WHERE id = 'pkg0'")  # a directory out of step
        conn.execute("UPDATE nodes SET tokens = '[1,1,1,1,1,1,1,1]' WHERE id = 'notes.txt'")  # wrong counts
    conn.close()
    store = Store(cache, str(tree))
    report = integrity.check(store, str(tree), deep=True)
    assert report.found["missing_file_node"] == 1 and report.found["dir_hash"] >= 1 and report.found["tokens"] == 1
    assert report.found["orphan"] >= 1  # pkg1's children
    line = report.repair(store)
    assert line.startswith("cache repaired:") and "\n" not in line
    service.refresh(str(tree), store, Config.load(str(tree)))
    assert integrity.check(store, str(tree), deep=True).ok
    store.close()
    assert crashkit.differences(crashkit.snapshot(cache), want) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB filesystem of its own (needs the right to mount, as root has in CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_a_full_disk_stops_the_build_in_one_line_and_the_next_run_completes(tree, tmp_path, small_disk):
    from click.testing import CliRunner

    from cockpit.faces.cli import main

    want = _fresh(tree, tmp_path / "fresh.sqlite")
    cache = small_disk / "cache.sqlite"
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (16 * 1024 * 1024 - 400 * 1024))  # leave about 400 KiB: less than the cache needs
    result = CliRunner().invoke(main, ["summarize", str(tree), "--cache", str(cache), "-q", "--workers", "1"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "disk full" in result.output and str(small_disk) in result.output
    filler.unlink()
    result = CliRunner().invoke(main, ["summarize", str(tree), "--cache", str(cache), "-q", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert crashkit.differences(crashkit.snapshot(cache), want) == []


def test_a_second_builder_follows_the_first_instead_of_building_again(tree, tmp_path):
    import threading

    from cockpit.jobs.runner import Jobs

    cache = tmp_path / "cache.sqlite"
    stats = {}
    building = threading.Event()  # the first holds the lock and is under way

    def build(name: str, wait_for_first: bool) -> None:
        if wait_for_first:
            building.wait(60)
        store = Store(cache, str(tree))
        job = Jobs(store).create("summarize", name, {"root": str(tree)})
        with job.running():
            stats[name] = service.refresh(str(tree), store, Config.load(str(tree)), workers=1, job=job,
                                          progress=lambda *_: building.set())
        store.close()

    Store(cache, str(tree)).close()
    first = threading.Thread(target=build, args=("first", False))
    second = threading.Thread(target=build, args=("second", True))
    first.start(), second.start()
    first.join(), second.join()
    files = stats["first"].files_total
    assert stats["first"].files_parsed == files and stats["second"].files_parsed == 0
    store = Store(cache, str(tree))
    events = [e["message"] for job in Jobs(store).list() if job["title"] == "second" for e in Jobs(store).events(job["id"])]
    store.close()
    assert any("following it" in message for message in events)


def test_an_interrupted_build_resumes_as_its_job(tree, tmp_path):
    from click.testing import CliRunner

    from cockpit.faces.cli import main

    cache = tmp_path / "cache.sqlite"
    want = _fresh(tree, tmp_path / "fresh.sqlite")

    def summarize():
        pyramid.WRITE_BATCH = 4
        CliRunner().invoke(main, ["summarize", str(tree), "--cache", str(cache), "-q", "--workers", "1"])

    for delay in (0.8, 0.6, 0.4, 0.2):  # until a kill lands after the first batch and before the end
        cache.unlink(missing_ok=True)
        if crashkit.kill_after(crashkit.fork_run(summarize), delay, signal.SIGKILL) and cache.exists():
            conn = sqlite3.connect(cache)
            files = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
            running = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
            conn.close()
            if files and running:  # killed after its first batch and before its job ended
                break
    else:
        pytest.skip("no kill landed mid-build on this machine")
    listed = CliRunner().invoke(main, ["jobs", "--format", "json", "--repo", str(tree), "--cache", str(cache)])
    job = json.loads(listed.output)[0]
    assert job["kind"] == "summarize" and job["state"] == "failed" and "interrupted" in job["error"]
    resumed = CliRunner().invoke(main, ["jobs", "resume", str(job["id"]), "--repo", str(tree), "--cache", str(cache)])
    assert resumed.exit_code == 0 and "done" in resumed.output, resumed.output
    assert crashkit.differences(crashkit.snapshot(cache), want) == []
