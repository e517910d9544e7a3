"""One trial of a scenario: set up, start the services, take the steps, check what the user would see.

The result is a trajectory (a plain dict, stored as JSON): every setup command, service and step
with its command or request, output, exit or HTTP status, duration, and its checks. A trial whose
setup fails or whose service never becomes ready is *broken* (it says nothing of the user's
satisfaction); one whose checks fail is unsatisfied, and its later steps are not taken.
"""

from __future__ import annotations

import re
import time

from cockpit.scenarios.model import Scenario, Step
from cockpit.scenarios.sandbox import (
    Check,
    CopyError,
    Sandbox,
    http_request,
    look_at_file,
    run_command,
    sandbox,
    start_service,
    stop_service,
)


def run_trial(root: str, scenario: Scenario, trial: int, leave_out: str | None = None,
              check: Check | None = None) -> dict:
    """Take the scenario once in a fresh copy of the repository; its trajectory (verdict not yet given)."""
    started = time.time()
    trajectory: dict = {"scenario": scenario.name, "title": scenario.title, "trial": trial, "setup": [],
                        "services": [], "steps": [], "broken": None, "failed": None, "started_at": started}
    try:
        with sandbox(root, scenario, trial, leave_out) as box:
            _take(box, scenario, trajectory, check)
    except CopyError as exc:
        trajectory["broken"] = f"the repository could not be copied: {exc}"
    trajectory["ended_at"] = time.time()
    return trajectory


def _take(box: Sandbox, scenario: Scenario, trajectory: dict, check: Check | None) -> None:
    broken = _steps(box, scenario.setup, trajectory["setup"], "setup", check)
    if broken:
        trajectory["broken"] = broken
        return
    running = []
    try:
        for service in scenario.services:
            handle, record = start_service(box, service, check)
            running.append((handle, record))
            trajectory["services"].append(record)
            if not record["ready"]:
                trajectory["broken"] = f"service {service.name}: {record['error']}"
                return
        trajectory["failed"] = _steps(box, scenario.steps, trajectory["steps"], "step", check)
    finally:
        for handle, record in running:
            record["output"] = stop_service(handle)


def _steps(box: Sandbox, steps: tuple[Step, ...], into: list[dict], what: str, check: Check | None) -> str | None:
    """Take the steps in order, recording each, until one's check fails; what failed, or None."""
    for step in steps:
        record = take_step(box, step, check)
        into.append(record)
        failed = _first_failed(record)
        if failed:
            return f"{what} `{step.name}`: {failed}"
    return None


def take_step(box: Sandbox, step: Step, check: Check | None = None) -> dict:
    record: dict = {"name": step.name, "kind": step.kind}
    if step.kind == "run":
        record["command"] = box.expand(step.run)
        record.update(run_command(box, record["command"], step.timeout, check))
    elif step.kind == "http":
        record.update(http_request(box, step))
    else:
        record.update(look_at_file(box, step))
    record["checks"] = checks(step, record)
    return record


def checks(step: Step, record: dict) -> list[dict]:
    """Each expectation of the step against what happened: what was wanted, whether it held, what was seen."""
    out = []
    for key, wanted in step.expectations().items():
        if key == "exit":
            seen = "timed out" if record.get("timed_out") else record.get("exit")
            out.append(_check(f"exit status {wanted}", record.get("exit") == wanted, seen))
        elif key == "status":
            seen = record.get("status") if record.get("status") is not None else record.get("error")
            out.append(_check(f"HTTP status {wanted}", record.get("status") == wanted, seen))
        elif key == "exists":
            out.append(_check("the file exists" if wanted else "no such file", record["exists"] == wanted,
                              "exists" if record["exists"] else "missing"))
        else:
            field = {"output": "output", "body": "body", "content": "content"}[key.removeprefix("not_")]
            text = record.get(field) or ""
            found = re.search(wanted, text, re.MULTILINE) is not None
            negated = key.startswith("not_")
            what = f"{field} {'does not match' if negated else 'matches'} /{wanted}/"
            seen = None if found != negated else (_excerpt(text) if not negated else "it matched")
            out.append(_check(what, found != negated, seen))
    return out


def _check(what: str, ok: bool, seen) -> dict:
    return {"expect": what, "ok": bool(ok), "seen": seen}


def _first_failed(record: dict) -> str | None:
    for item in record["checks"]:
        if not item["ok"]:
            seen = item["seen"]
            return f"expected {item['expect']}" + (f", saw {seen}" if seen not in (None, "") else "")
    return None


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…") if flat else "nothing"
