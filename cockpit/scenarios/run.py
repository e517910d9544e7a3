"""A scenario run as a job, the verdict on each trial, and what `cockpit scenarios` reports.

A run takes every scenario of the set N times against the repository as it is now (HEAD plus the
working tree's changes, each trial in its own throwaway copy) and records each trial in the cache
(`scenario_trials`) as soon as it is judged, keyed by job, scenario and trial: a resumed run
(`cockpit jobs resume ID`) skips the trials it already recorded. Its progress is trials done of all
trials, cancelling stops it between (or inside) steps, and its spend is the judge's calls in the
ledger under the job.

The verdict on a trial: broken when its setup or a service failed (apart from unsatisfied: it says
nothing of the user), 0 when a deterministic check failed (the judge is not asked), else the judge's
probability when the scenario has a judge sentence and an LLM is configured, else 1. A scenario's
satisfaction is the mean over its trials that are not broken.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from cache.store import Store
from cockpit import service
from cockpit.jobs.factory import Caller, LLMError, llm_configured
from cockpit.jobs.runner import Job, Jobs
from cockpit.scenarios import judge as judging
from cockpit.scenarios.model import Scenario, load_set
from cockpit.scenarios.sandbox import state, sweep
from cockpit.scenarios.trial import run_trial
from summarizers.llm import DEFAULT_MODEL

KIND = "scenarios"
DEFAULT_TRIALS = 3
TREND_COMMITS = 8
NO_JUDGE = "judge skipped: no LLM configured (set ANTHROPIC_API_KEY); the checks alone decide"

Report = Callable[[dict], None]  # called with each recorded trial


def create_job(store: Store, root: str, set_dir: str, trials: int = DEFAULT_TRIALS, only: tuple[str, ...] = (),
               model: str = DEFAULT_MODEL, max_cost: float | None = None) -> Job:
    """A queued run in the repository's cache; `job.run(run_job)` does it."""
    scenarios = load_set(set_dir, only)
    inputs = {"root": os.path.realpath(root), "set": os.path.realpath(set_dir), "trials": trials,
              "only": list(only), "model": model, "max_cost": max_cost}
    which = ", ".join(s.name for s in scenarios) if len(scenarios) <= 3 else f"{len(scenarios)} scenarios"
    return Jobs(store).create(KIND, f"scenarios: {which} × {trials}", inputs)


def run_job(job: Job, report: Report | None = None) -> dict:
    i = job.inputs
    store = job.jobs.store
    scenarios = load_set(i["set"], tuple(i["only"]))
    leave_out = service.inside(i["root"], i["set"])
    if leave_out:
        job.log(service.holdout_notice(i["root"], i["set"]), "warning")
    for path in sweep(i["root"]):
        job.log(f"removed the copy a killed run left behind: {path}", "warning")
    commit, dirty = state(i["root"], leave_out)
    needs_judge = any(s.judge for s in scenarios)
    caller = None
    if needs_judge and llm_configured():
        caller = Caller(job, i["model"], judging.SYSTEM, i.get("max_cost"), shape=judging.VERDICT)
    elif needs_judge:
        job.log(NO_JUDGE, "warning")
    recorded = {(t["scenario"], t["trial"]) for t in store.trials(job=job.id)}
    total = len(scenarios) * i["trials"]
    done = len(recorded)
    job.progress(done, total)
    for scenario in scenarios:
        for n in range(1, i["trials"] + 1):
            step = f"trial {scenario.name} #{n}"
            if job.done_step(step) and (scenario.name, n) in recorded:
                continue
            # A step of the job: the cancel flag is read before it, and a resumed job skips it once recorded.
            row = store.trial(job.step(step, lambda s=scenario, n=n: _trial(job, s, n, leave_out, caller, commit,
                                                                             dirty)))
            done += 1
            job.progress(done, total)
            shown = "broken" if row["satisfaction"] is None else f"{row['satisfaction']:.2f}"
            job.log(f"{scenario.name} #{n}: {row['status']} ({shown})",
                    "info" if row["status"] == "satisfied" else "warning")
            if report:
                report(row)
    outcome = {name: _mean(trials) for name, trials in _by_scenario(store.trials(job=job.id)).items()}
    pooled = [t for t in store.trials(job=job.id) if t["satisfaction"] is not None]
    return {"commit": commit, "dirty": dirty, "trials": total,
            "satisfaction": round(sum(t["satisfaction"] for t in pooled) / len(pooled), 4) if pooled else None,
            "scenarios": outcome}


def _trial(job: Job, scenario: Scenario, n: int, leave_out: str | None, caller: Caller | None, commit: str,
           dirty: bool) -> int:
    """Take trial `n` of the scenario, judge it and record it; the row's id."""
    trajectory = run_trial(job.inputs["root"], scenario, n, leave_out, job.check_cancelled)
    verdict = decide(caller, scenario, trajectory)
    return job.jobs.store.write_trial({
        "job": job.id, "scenario": scenario.name, "title": scenario.title, "trial": n, "commit_sha": commit,
        "dirty": int(dirty), **verdict, "started_at": trajectory["started_at"], "ended_at": trajectory["ended_at"],
        "trajectory": {**trajectory, "verdict": verdict}})


def decide(caller: Caller | None, scenario: Scenario, trajectory: dict) -> dict:
    """The verdict on one trajectory: status, satisfaction, whether judged, the reason, and how it was decided."""
    if trajectory["broken"]:
        return _verdict("broken", None, trajectory["broken"], "the setup failed: this trial says nothing of the user")
    if trajectory["failed"]:
        return _verdict("unsatisfied", 0.0, trajectory["failed"], "a check failed: the judge was not asked")
    if not scenario.judge:
        return _verdict("satisfied", 1.0, "every check passed", "decided by the checks (no judge sentence)")
    if caller is None:
        return _verdict("satisfied", 1.0, "every check passed", NO_JUDGE)
    try:
        verdict = judging.judge(caller, scenario, trajectory)
    except LLMError as exc:
        return _verdict("satisfied", 1.0, "every check passed", f"the judge failed ({exc}); the checks alone decide")
    if verdict is None:
        return _verdict("satisfied", 1.0, "every check passed", "the judge gave no valid verdict; the checks alone decide")
    return {"status": "satisfied" if verdict["satisfied"] else "unsatisfied",
            "satisfaction": verdict["probability"], "judged": 1, "reason": verdict["reason"],
            "note": f"judged by {caller.model} after every check passed"}


def _verdict(status: str, satisfaction: float | None, reason: str, note: str) -> dict:
    return {"status": status, "satisfaction": satisfaction, "judged": 0, "reason": reason, "note": note}


# --- what the runs say ---------------------------------------------------------------------------------


def _by_scenario(trials: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for t in trials:
        found.setdefault(t["scenario"], []).append(t)
    return found


def _mean(trials: list[dict]) -> dict:
    scored = [t["satisfaction"] for t in trials if t["satisfaction"] is not None]
    return {"satisfaction": round(sum(scored) / len(scored), 4) if scored else None, "trials": len(trials),
            "broken": len(trials) - len(scored)}


def summary(store: Store, names: list[str] | None = None, commits: int = TREND_COMMITS) -> dict:
    """Per scenario: the latest run's satisfaction, its trend over the last `commits` states of the tree it
    ran on (commit and dirty flag; the latest run at each), what judging it cost, and its worst trajectory.
    `names` (the set's scenarios) adds those never run."""
    by_scenario = _by_scenario(store.trials())
    costs = _costs(store)
    rows = []
    for name in dict.fromkeys([*(names or []), *sorted(by_scenario)]):
        trials = by_scenario.get(name, [])
        if not trials:
            rows.append({"scenario": name, "title": "", "satisfaction": None, "status": "never run", "trials": 0,
                         "broken": 0, "trend": [], "cost_usd": 0.0, "worst": None, "job": None})
            continue
        states: dict[tuple[str, int], list[dict]] = {}
        for t in trials:  # oldest first: the last job seen at a state is its latest run there
            states.setdefault((t["commit_sha"], t["dirty"]), []).append(t)
        points = []
        for (commit, dirty), at_state in states.items():
            job = max(t["job"] for t in at_state)
            latest = [t for t in at_state if t["job"] == job]
            points.append({"commit": commit, "dirty": bool(dirty), "job": job, "at": max(t["ended_at"] for t in latest),
                           **_mean(latest)})
        points.sort(key=lambda p: p["at"])
        points = points[-commits:]
        last = points[-1]
        latest = [t for t in trials if t["job"] == last["job"] and t["commit_sha"] == last["commit"]]
        rows.append({"scenario": name, "title": latest[-1]["title"], "satisfaction": last["satisfaction"],
                     "status": status_of(last["satisfaction"]), "trials": last["trials"], "broken": last["broken"], "trend": points,
                     "cost_usd": round(costs.get(name, 0.0), 6), "worst": _worst(latest), "job": last["job"],
                     "commit": last["commit"], "dirty": last["dirty"]})
    pooled = [(r["satisfaction"], r["trials"] - r["broken"]) for r in rows if r["satisfaction"] is not None]
    weight = sum(n for _, n in pooled)
    overall = round(sum(s * n for s, n in pooled) / weight, 4) if weight else None
    return {"satisfaction": overall, "scenarios": rows}


def status_of(satisfaction: float | None) -> str:
    """broken, satisfied (1), unsatisfied (0), or partly: satisfied in some trials (flaky), or judged so."""
    if satisfaction is None:
        return "broken"
    if satisfaction >= 0.999:
        return "satisfied"
    return "unsatisfied" if satisfaction <= 0.001 else "partly"


def _worst(trials: list[dict]) -> dict:
    scored = [t for t in trials if t["satisfaction"] is not None]
    worst = min(scored, key=lambda t: (t["satisfaction"], t["trial"])) if scored else trials[0]
    return {key: worst[key] for key in ("id", "trial", "status", "satisfaction", "reason", "note")}


def _costs(store: Store) -> dict[str, float]:
    """USD the judge spent per scenario, over every run (ledger rows tagged with the scenario)."""
    rows = store.db.conn.execute("SELECT node_ids, COALESCE(SUM(cost_usd), 0) FROM ledger WHERE node_ids LIKE "
                                 "'[\"scenario:%' GROUP BY node_ids").fetchall()
    found: dict[str, float] = {}
    for ids, cost in rows:
        for node in json.loads(ids):
            found[node.removeprefix("scenario:")] = found.get(node.removeprefix("scenario:"), 0.0) + cost
    return found


def sparkline(values: list[float | None]) -> str:
    """▁▂▃▄▅▆▇█ for 0..1, `×` for a broken run."""
    bars = "▁▂▃▄▅▆▇█"
    return "".join("×" if v is None else bars[min(len(bars) - 1, int(v * (len(bars) - 1) + 0.5))] for v in values)


def trend_arrow(points: list[dict]) -> str:
    values = [p["satisfaction"] for p in points if p["satisfaction"] is not None]
    if len(values) < 2:
        return ""
    delta = values[-1] - values[-2]
    return "▲" if delta > 0.001 else "▼" if delta < -0.001 else "="


def state_label(commit: str, dirty: bool) -> str:
    return (commit[:7] or "no git") + ("+" if dirty else "")


def trajectory_text(trial: dict, output_lines: int = 30) -> str:
    """A trial as Markdown (readable as plain text too): its verdict, then every setup command, service and step
    with what it did, its checks, and its output (the last `output_lines` lines)."""
    t = trial["trajectory"]
    shown = "broken" if trial["satisfaction"] is None else f"{trial['satisfaction']:.2f}"
    lines = [f"## {trial['scenario']} #{trial['trial']}: {trial['status']} ({shown})", "",
             f"**{trial['title']}** · `cockpit scenarios show {trial['id']}` · job {trial['job']} at "
             f"{state_label(trial['commit_sha'], bool(trial['dirty']))}", "",
             f"- reason: {trial['reason']}", f"- decided: {trial['note']}", ""]
    for title, records in (("Setup", t["setup"]), ("Services", t["services"]), ("Steps", t["steps"])):
        if not records:
            continue
        lines += [f"### {title}", ""]
        for record in records:
            lines += _record_lines(record, output_lines)
    return "\n".join(lines).rstrip() + "\n"


def _record_lines(record: dict, output_lines: int) -> list[str]:
    if "ready" in record:  # a service
        state = "ready" if record["ready"] else f"NOT READY: {record.get('error', '')}"
        head, what, text = f"{record['name']}: {state}", f"$ {record['command']}", record.get("output", "")
    elif record["kind"] == "run":
        status = "timed out" if record["timed_out"] else f"exit {record['exit']}"
        head, what, text = f"{record['name']}: {status}", f"$ {record['command']}", record["output"]
    elif record["kind"] == "http":
        head = f"{record['name']}: HTTP {record.get('status') or record.get('error')}"
        what, text = f"{record['method']} {record['url']}", record.get("body", "")
    else:
        head = f"{record['name']}: {'exists' if record['exists'] else 'no such file'}"
        what, text = f"file {record['file']}", record.get("content", "")
    lines = [f"- **{head}** ({record['seconds']}s)", f"  `{what}`"]
    for check in record.get("checks", []):
        seen = f" (saw {check['seen']})" if not check["ok"] and check["seen"] not in (None, "") else ""
        lines.append(f"  - {'✓' if check['ok'] else '✗'} {check['expect']}{seen}")
    body = (text or "").rstrip("\n").split("\n")
    if text and text.strip():
        if len(body) > output_lines:
            lines.append(f"  ({len(body) - output_lines} earlier lines of output not shown)")
        lines += ["", "  ```", *(f"  {line}" for line in body[-output_lines:]), "  ```"]
    return lines + [""]
