"""Semports and transfusions as jobs, the way the app and `cockpit jobs` drive them: started from the
library, listed with progress and spend, cancelled from another connection, resumed."""

import json

import pytest
from click.testing import CliRunner

from cockpit.core.pyramid import build
from cockpit.faces.cli import main
from cockpit.jobs import semport, transfuse
from cockpit.jobs.runner import Jobs, runner
from tests.test_semport import ORDER, PACKAGE, port_requests, store_of
from tests.test_transfuse import DONOR, RECIPIENT, make_repo


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo", PACKAGE)


def start_semport(repo, out, **options):
    """What a worker thread of the app does: a store of its own, the pyramid, a job, then job.run."""
    store = store_of(repo)
    build(str(repo), store)
    return store, semport.create_job(store, str(repo), str(repo / "shapes"), "go", str(out), model="claude-haiku-4-5",
                                     **options)


def test_a_semport_job_is_listed_with_its_progress_and_spend(repo, llm, tmp_path):
    store, job = start_semport(repo, tmp_path / "out")
    record = job.run(semport.run_job)
    assert record["state"] == "done" and record["outputs"]["ported"] == 4
    listed = CliRunner().invoke(main, ["jobs", "--repo", str(repo), "--format", "json"])
    row = next(j for j in json.loads(listed.output) if j["id"] == job.id)
    assert (row["kind"], row["state"], row["done"], row["total"]) == ("semport", "done", 4, 4)
    assert row["spend"]["calls"] == 4 and row["spend"]["cost_usd"] > 0
    assert row["title"] == "semport shapes -> go"
    assert row["inputs"]["src"] == str(repo / "shapes") and "api_key" not in json.dumps(row["inputs"]).lower()
    events = [e["message"] for e in Jobs(store).events(job.id)]
    assert "shapes/units.py -> units.go: ported" in events


def test_a_cancelled_semport_stops_at_its_next_file_and_resumes_from_there(repo, llm, tmp_path):
    store, job = start_semport(repo, tmp_path / "out")
    other = store_of(repo)  # another process's connection, as `cockpit jobs cancel` would be

    def report(f, result):
        if f.source == ORDER[1]:
            Jobs(other).cancel(job.id)

    record = job.run(lambda j: semport.run_job(j, report))
    assert record["state"] == "cancelled"
    assert [len(port_requests(llm, s)) for s in ORDER] == [1, 1, 0, 0]
    resumed = Jobs(store).resume(job.id).run(runner("semport"))
    assert resumed["state"] == "done" and resumed["outputs"]["ported"] == 4
    assert [len(port_requests(llm, s)) for s in ORDER] == [1, 1, 1, 1]


def test_a_transfusion_started_from_the_library(tmp_path, llm):
    donor, recipient = make_repo(tmp_path / "donor", DONOR), make_repo(tmp_path / "recipient", RECIPIENT)
    store = store_of(recipient)
    job = transfuse.create_job(store, str(donor), "netkit/retry.py", str(recipient), model="claude-haiku-4-5")
    record = job.run(transfuse.run_job)
    assert record["state"] == "done", record["error"]
    assert (record["done"], record["total"]) == (4, 4)
    assert record["outputs"]["files"] == ["app/retry.py", "tests/test_retry.py"]
    assert record["spend"]["calls"] == 2
