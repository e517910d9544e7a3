"""The job records every face reads: `cockpit jobs`, summary builds and watch refreshes as jobs,
cancelling from another connection, interrupted jobs, finished steps kept across a resume."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cache.store import Store
from cockpit.faces.cli import main
from cockpit.jobs.runner import ROUTINE_KEPT, JobCancelled, JobError, Jobs
from cockpit.jobs.watch import Watcher
from cockpit.paths import default_cache_path


def store_for(repo) -> Store:
    return Store(default_cache_path(str(repo)), str(repo))


def test_summarize_is_a_job_listed_with_its_progress(sample_repo):
    runner = CliRunner()
    assert runner.invoke(main, ["summarize", str(sample_repo), "-q"]).exit_code == 0
    listed = runner.invoke(main, ["jobs", "--repo", str(sample_repo), "--format", "json"])
    jobs = json.loads(listed.output)
    assert [(j["kind"], j["state"]) for j in jobs] == [("summarize", "done")]
    assert jobs[0]["done"] == jobs[0]["total"] == 5
    assert jobs[0]["outputs"]["files"] == 5
    shown = runner.invoke(main, ["jobs", "show", str(jobs[0]["id"]), "--repo", str(sample_repo)])
    assert "summarize · done" in shown.output and "progress 5/5" in shown.output


def test_unknown_job_is_a_one_line_error(sample_repo):
    result = CliRunner().invoke(main, ["jobs", "show", "42", "--repo", str(sample_repo)])
    assert result.exit_code == 1
    assert "no job 42" in result.output


def test_cancel_from_another_connection_stops_the_runner_at_its_next_step(sample_repo):
    store, other = store_for(sample_repo), store_for(sample_repo)
    job = Jobs(store).create("semport", "port things")
    finished = []

    def work(job):
        for i in range(5):
            job.step(f"file {i}", lambda i=i: finished.append(i) or i)
            if i == 1:
                Jobs(other).cancel(job.id)
        return {"ported": finished}

    record = job.run(work)
    assert record["state"] == "cancelled"
    assert finished == [0, 1]
    assert any("cancel" in e["message"] for e in Jobs(store).events(job.id))


def test_resume_keeps_finished_steps_and_does_not_redo_them(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("semport", "port things", {"files": 3})
    calls, runs = [], []

    def flaky(job):
        runs.append(1)
        for i in range(3):
            job.step(f"file {i}", lambda i=i: calls.append(i) or i * 10)
            if i == 1 and len(runs) == 1:
                raise OSError("disk full")
        return {"done": True}

    first = job.run(flaky)
    assert first["state"] == "failed" and "disk full" in first["error"]
    again = Jobs(store).resume(job.id).run(flaky)
    assert again["state"] == "done" and again["outputs"] == {"done": True}
    assert calls == [0, 1, 2]  # steps 0 and 1 were not done twice


def test_a_job_whose_process_died_reads_as_interrupted_and_resumable(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("semport", "port things")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store.db.conn:
        store.db.conn.execute("UPDATE jobs SET state = 'running', pid = ? WHERE id = ?", [int(dead.stdout), job.id])
    record = Jobs(store).get(job.id)
    assert record["state"] == "failed" and "interrupted" in record["error"]
    assert Jobs(store).resume(job.id).id == job.id


def test_done_and_running_jobs_refuse_resume(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("semport", "x")
    job.run(lambda job: {"ok": 1})
    with pytest.raises(JobError, match="done"):
        Jobs(store).resume(job.id)
    with pytest.raises(JobError, match="already done"):
        Jobs(store).cancel(job.id)


def test_progress_reports_see_a_cancel(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("summarize", "x")
    Jobs(store).cancel(job.id)
    with pytest.raises(JobCancelled):
        job.progress(1, 10)


def test_watch_refreshes_are_recorded_and_only_the_newest_kept(sample_repo):
    store = store_for(sample_repo)
    CliRunner().invoke(main, ["summarize", str(sample_repo), "-q"])
    watcher = Watcher(str(sample_repo), store)
    client = sample_repo / "weather" / "client.py"
    client.write_text(client.read_text() + "\n\ndef added():\n    pass\n")
    watcher.handle([str(client)])
    refreshes = [j for j in Jobs(store).list() if j["kind"] == "refresh"]
    assert len(refreshes) == 1 and "weather/client.py" in refreshes[0]["title"]
    assert refreshes[0]["state"] == "done"
    assert all(j["kind"] != "refresh" for j in Jobs(store).list(include_routine=False))
    for i in range(ROUTINE_KEPT + 5):
        Jobs(store).record("refresh", f"r{i}", 0.001)
    assert len([j for j in Jobs(store).list(limit=1000) if j["kind"] == "refresh"]) == ROUTINE_KEPT


def test_a_killed_but_unreaped_process_counts_as_gone(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("semport", "port things")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with store.db.conn:
            store.db.conn.execute("UPDATE jobs SET state = 'running', pid = ? WHERE id = ?", [child.pid, job.id])
        assert Jobs(store).get(job.id)["state"] == "running"
        child.kill()
        time.sleep(0.2)  # dead, and not waited for: a zombie
        record = Jobs(store).get(job.id)
        assert record["state"] == "failed" and "interrupted" in record["error"]
    finally:
        child.kill()
        child.wait()


def test_resume_can_raise_a_jobs_spend_cap_but_not_invent_inputs(sample_repo):
    store = store_for(sample_repo)
    job = Jobs(store).create("semport", "port things", {"max_cost": 0.01, "src": "weather"})
    job.run(lambda job: (_ for _ in ()).throw(RuntimeError("spend cap reached")))
    with pytest.raises(JobError, match="no input colour"):
        Jobs(store).resume(job.id, colour="red")
    again = Jobs(store).resume(job.id, max_cost=0.5)
    assert again.inputs == {"max_cost": 0.5, "src": "weather"}
    assert Jobs(store).get(job.id)["inputs"]["max_cost"] == 0.5
    assert "max_cost now 0.5" in Jobs(store).events(job.id)[-1]["message"]
