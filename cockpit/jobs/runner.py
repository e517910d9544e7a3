"""Jobs: long pieces of work (summary builds, watch refreshes, semports, gene transfusions)
that every face can see, stop and take up again.

A job lives in the repo's cache database: its kind, inputs, state, progress, an event log,
its outputs, and the results of its finished steps. Its spend is the ledger rows whose `job`
column holds the job's id. A runner does its work in named steps:

    def run_semport(job: Job) -> dict:
        for path in files:
            ported = job.step(f"port {path}", lambda: port(path))  # done before? returned, not redone
        return {"manifest": ...}  # the job's outputs

so a job whose process died resumes (`cockpit jobs resume ID`) from its last finished step
without paying again for what those steps bought. Cancelling is cooperative: another process
(or the app) sets a flag that the runner sees at its next step or progress report.

States: queued, running, done, failed, cancelled. A job left "running" by a process that is
gone is reported as failed ("interrupted") and can be resumed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from cache.process import process_alive
from cache.store import Store

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
# kind -> "module:function" taking a Job and returning its outputs; imported only when a job runs.
RUNNERS = {
    "summarize": "cockpit.jobs.build:run_summarize_job",
    "semport": "cockpit.jobs.semport:run_job",
    "transfuse": "cockpit.jobs.transfuse:run_job",
    "scenarios": "cockpit.scenarios.run:run_job",
}
# Jobs that run often and carry little (a watch refresh per save): only the newest are kept.
ROUTINE_KINDS = ("refresh",)
ROUTINE_KEPT = 100


class JobError(Exception):
    """A job that cannot be found, or cannot do what was asked of it now."""


class JobCancelled(Exception):
    """Raised inside a runner at its next step or progress report once the job is cancelled."""


class Jobs:
    """The jobs of one cache database."""

    def __init__(self, store: Store):
        self.store = store
        self.conn = store.db.conn

    def create(self, kind: str, title: str, inputs: dict | None = None) -> Job:
        now = time.time()
        with self.conn:
            cursor = self.conn.execute(
                "INSERT INTO jobs (kind, title, inputs, state, done, total, created_at, updated_at, cancel) "
                "VALUES (?, ?, ?, 'queued', 0, NULL, ?, ?, 0)", [kind, title, json.dumps(inputs or {}), now, now])
            if kind in ROUTINE_KINDS:
                self.conn.execute("DELETE FROM job_events WHERE job IN (SELECT id FROM jobs WHERE kind = ? AND "
                                  "id <= ?)", [kind, cursor.lastrowid - ROUTINE_KEPT])
                self.conn.execute("DELETE FROM jobs WHERE kind = ? AND id <= ?",
                                  [kind, cursor.lastrowid - ROUTINE_KEPT])
        return Job(self, cursor.lastrowid, kind, inputs or {})

    def record(self, kind: str, title: str, seconds: float, outputs: dict | None = None) -> int:
        """Write down a short job that has already finished (a watch refresh); its id."""
        job = self.create(kind, title)
        now = time.time()
        with self.conn:
            self.conn.execute("UPDATE jobs SET state = 'done', done = 1, total = 1, pid = ?, started_at = ?, "
                              "ended_at = ?, updated_at = ?, outputs = ? WHERE id = ?",
                              [os.getpid(), now - seconds, now, now, json.dumps(outputs or {}), job.id])
        return job.id

    def get(self, job_id: int) -> dict:
        found = self._described("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not found:
            raise JobError(f"no job {job_id} in this cache (see: cockpit jobs)")
        return found[0]

    def job(self, job_id: int) -> Job:
        """A created job, to run (`job.run(runner(job.kind))`)."""
        record = self.get(job_id)
        return Job(self, job_id, record["kind"], record["inputs"])

    def list(self, limit: int = 50, include_routine: bool = True) -> list[dict]:
        where = "" if include_routine else f"WHERE kind NOT IN ({', '.join('?' * len(ROUTINE_KINDS))})"
        args = [] if include_routine else list(ROUTINE_KINDS)
        return self._described(f"SELECT * FROM jobs {where} ORDER BY id DESC LIMIT ?", [*args, limit])

    def events(self, job_id: int, after: int = 0) -> list[dict]:
        rows = self.conn.execute("SELECT id, at, level, message FROM job_events WHERE job = ? AND id > ? ORDER BY id",
                                 [job_id, after])
        return [{"id": i, "at": at, "level": level, "message": message} for i, at, level, message in rows]

    def steps(self, job_id: int) -> dict[str, Any]:
        rows = self.conn.execute("SELECT name, result FROM job_steps WHERE job = ? ORDER BY finished_at", [job_id])
        return {name: json.loads(result) for name, result in rows}

    def cancel(self, job_id: int) -> dict:
        """Ask a running job to stop at its next step; a queued or interrupted one stops at once."""
        job = self.get(job_id)
        if job["state"] in ("done", "cancelled"):
            raise JobError(f"job {job_id} is already {job['state']}")
        with self.conn:
            self.conn.execute("UPDATE jobs SET cancel = 1, updated_at = ? WHERE id = ?", [time.time(), job_id])
            if job["state"] != "running":
                self.conn.execute("UPDATE jobs SET state = 'cancelled', ended_at = ? WHERE id = ?",
                                  [time.time(), job_id])
        self._event(job_id, "warning", "cancel requested" if job["state"] == "running" else "cancelled")
        return self.get(job_id)

    def resume(self, job_id: int, **changes) -> Job:
        """The job again, ready to run from its last finished step; `changes` replace some of its inputs
        (a higher spend cap, say), never add new ones."""
        job = self.get(job_id)
        unknown = sorted(set(changes) - set(job["inputs"]))
        if unknown:
            raise JobError(f"job {job_id} ({job['kind']}) has no input {', '.join(unknown)} to change")
        if job["state"] == "running":
            raise JobError(f"job {job_id} is running (pid {job['pid']}); cancel it first")
        if job["state"] == "done":
            raise JobError(f"job {job_id} is done; nothing to resume")
        if job["kind"] not in RUNNERS:
            raise JobError(f"job {job_id} ({job['kind']}) cannot be resumed; run its command again")
        inputs = {**job["inputs"], **changes}
        with self.conn:
            self.conn.execute("UPDATE jobs SET state = 'queued', cancel = 0, error = NULL, ended_at = NULL, "
                              "updated_at = ?, inputs = ? WHERE id = ?", [time.time(), json.dumps(inputs), job_id])
        changed = "".join(f", {key} now {value}" for key, value in changes.items())
        self._event(job_id, "info", f"resumed with {len(self.steps(job_id))} finished steps kept{changed}")
        return Job(self, job_id, job["kind"], inputs)

    def spend(self, job_id: int) -> dict:
        return self._spends([job_id])[str(job_id)]

    def _spends(self, job_ids: list[int]) -> dict[str, dict]:
        """Ledger totals per job (the ledger's `job` holds the id as text), in one pass over the ledger."""
        keys = [str(i) for i in job_ids]
        totals = {key: {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0} for key in keys}
        if keys:
            rows = self.conn.execute(
                "SELECT job, COUNT(*), COALESCE(SUM(input_tokens + cache_write_tokens + cache_read_tokens), 0), "
                f"COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM ledger WHERE job IN "
                f"({', '.join('?' * len(keys))}) GROUP BY job", keys)
            for job, calls, tokens_in, tokens_out, cost in rows:
                totals[job] = {"calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out,
                               "cost_usd": cost}
        return totals

    def _described(self, query: str, args: list) -> list[dict]:
        """Job rows as records: inputs and outputs decoded, a dead process's job marked, spend added."""
        cursor = self.conn.execute(query, args)
        names = [d[0] for d in cursor.description]
        jobs = [dict(zip(names, row)) for row in cursor.fetchall()]
        spends = self._spends([job["id"] for job in jobs])
        for job in jobs:
            job["inputs"] = json.loads(job["inputs"] or "{}")
            job["outputs"] = json.loads(job["outputs"]) if job["outputs"] else None
            if job["state"] == "running" and not process_alive(job["pid"]):
                job["state"], job["error"] = "failed", job["error"] or "interrupted: its process exited"
            job["spend"] = spends[str(job["id"])]
        return jobs

    def _event(self, job_id: int, level: str, message: str) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO job_events (job, at, level, message) VALUES (?, ?, ?, ?)",
                              [job_id, time.time(), level, message])


class Job:
    """One job, as its runner sees it."""

    def __init__(self, jobs: Jobs, job_id: int, kind: str, inputs: dict):
        self.jobs, self.id, self.kind, self.inputs = jobs, job_id, kind, inputs
        self._finished = jobs.steps(job_id)
        self._last_check = self._last_write = 0.0
        self._pending: tuple[int, int | None] | None = None
        self.outputs: dict | None = None  # what the job hands back, saved when it ends

    @property
    def ledger_job(self) -> str:
        """What the ledger's `job` column holds for this job's calls."""
        return str(self.id)

    def log(self, message: str, level: str = "info") -> None:
        self.jobs._event(self.id, level, message)

    def progress(self, done: int, total: int | None = None) -> None:
        """Record how far the job is; written at most a few times a second, the last figures always."""
        self._pending = (done, total)
        now = time.monotonic()
        if now - self._last_write >= 0.25 or (total is not None and done >= total):
            self._progress_flush()
        self.check_cancelled()

    def _progress_flush(self) -> None:
        if self._pending is None:
            return
        done, total = self._pending
        self._pending, self._last_write = None, time.monotonic()
        with self.jobs.conn:
            self.jobs.conn.execute("UPDATE jobs SET done = ?, total = COALESCE(?, total), updated_at = ? WHERE id = ?",
                                   [done, total, time.time(), self.id])

    def check_cancelled(self) -> None:
        now = time.monotonic()
        if now - self._last_check < 0.2:  # a flag read per progress tick would cost more than the tick
            return
        self._last_check = now
        if self.jobs.conn.execute("SELECT cancel FROM jobs WHERE id = ?", [self.id]).fetchone()[0]:
            raise JobCancelled(f"job {self.id} cancelled")

    def done_step(self, name: str) -> bool:
        return name in self._finished

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        """The result of step `name`: remembered from an earlier run, or computed now and remembered.

        The result must be JSON-serializable; a step that raises is not remembered.
        """
        if name in self._finished:
            return self._finished[name]
        self._last_check = 0.0
        self.check_cancelled()
        result = work()
        with self.jobs.conn:
            self.jobs.conn.execute("INSERT OR REPLACE INTO job_steps VALUES (?, ?, ?, ?)",
                                   [self.id, name, json.dumps(result), time.time()])
        self._finished[name] = result
        return result

    def run(self, work: Callable[[Job], dict | None]) -> dict:
        """Run `work(self)` as this job and return the job's record, whether it finished, failed or was cancelled."""
        try:
            with self.running():
                self.outputs = work(self)
        except (JobCancelled, Exception):  # noqa: BLE001 - recorded in the job; the record says how it ended
            pass
        return self.jobs.get(self.id)

    @contextlib.contextmanager
    def running(self) -> Iterator[Job]:
        """The job is running inside this block: how it leaves the block is how the job ends."""
        now = time.time()
        with self.jobs.conn:
            self.jobs.conn.execute("UPDATE jobs SET state = 'running', pid = ?, started_at = COALESCE(started_at, ?), "
                                   "updated_at = ? WHERE id = ?", [os.getpid(), now, now, self.id])
        try:
            yield self
        except JobCancelled:
            self._end("cancelled", None, None)
            self.log("cancelled", "warning")
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500] if str(exc) else type(exc).__name__
            self._end("cancelled" if isinstance(exc, KeyboardInterrupt) else "failed", None, reason)
            self.log(reason, "error")
            if not isinstance(exc, KeyboardInterrupt):
                self.log("".join(traceback.format_exception(exc))[-4000:], "debug")
            raise
        self._end("done", self.outputs, None)

    def _end(self, state: str, outputs: dict | None, error: str | None) -> None:
        try:
            self._write_end(state, outputs, error)
        except sqlite3.OperationalError:
            pass  # a full disk or a locked cache: the job reads as interrupted, and its error is the caller's to show

    def _write_end(self, state: str, outputs: dict | None, error: str | None) -> None:
        self._progress_flush()
        with self.jobs.conn:
            self.jobs.conn.execute(
                "UPDATE jobs SET state = ?, outputs = COALESCE(?, outputs), error = ?, ended_at = ?, updated_at = ? "
                "WHERE id = ?", [state, json.dumps(outputs) if outputs is not None else None, error, time.time(),
                                 time.time(), self.id])


def runner(kind: str) -> Callable[[Job], dict | None]:
    module, _, name = RUNNERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
