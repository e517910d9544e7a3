"""The LLM judge: would the user of the story be satisfied by what this trajectory shows?

It is asked only when every deterministic check passed and the scenario has a `judge` sentence.
The request carries the story, the sentence and the trajectory (commands, statuses, outputs cut to
their head and tail); it goes through the jobs' `Caller`, so the answer is a remembered step of the
run's job, the call is in the ledger under the job, the spend cap holds, and whatever looks like a
secret is redacted. The answer is asked for as a forced tool call (`VERDICT`), as the other jobs ask for
theirs, and read as the JSON object {"satisfied": bool, "probability": 0..1, "reason": str}; a model that
refuses forced tools answers that object as text. An answer that is not valid is asked again with what was
wrong.
"""

from __future__ import annotations

import hashlib
import json
import re

from cockpit.jobs.factory import AnswerShape, Caller, ask_until_valid, section
from cockpit.scenarios.model import Scenario

OUTPUT_CHARS = 1500  # of each output shown to the judge (head and tail)
MAX_TOKENS = 400
RETRIES = 1

SYSTEM = """\
You judge holdout scenarios: end-to-end stories of what a user of some software does and expects. You get the \
story, a sentence saying what a satisfied user sees, and one trajectory: every step that was taken with its \
command or request, exit or HTTP status, duration and output (long outputs are cut).

Judge from the trajectory alone whether this user would be satisfied by what happened; not whether the code \
looks good. Give your verdict with the give_verdict tool; without the tool, reply with exactly one JSON object \
and nothing else:
{"satisfied": true or false, "probability": the probability from 0 to 1 that the user is satisfied, \
"reason": "one or two sentences that point at what in the trajectory decides it"}
Never repeat secrets; [REDACTED] marks removed values."""
VERDICT = AnswerShape(
    "give_verdict", "Say whether the user of the story would be satisfied by what the trajectory shows.",
    {"satisfied": {"type": "boolean", "description": "whether this user would be satisfied"},
     "probability": {"type": "number", "minimum": 0, "maximum": 1,
                     "description": "the probability from 0 to 1 that the user is satisfied"},
     "reason": {"type": "string", "description": "one or two sentences pointing at what in the trajectory decides"}},
    json.dumps)


def node_id(scenario: str) -> str:
    """What the ledger's `node_ids` holds for a scenario's judge calls: its spend, per scenario."""
    return f"scenario:{scenario}"


def prompt(scenario: Scenario, trajectory: dict, problems: list[str] | None = None,
           previous: str | None = None) -> str:
    steps = []
    for record in trajectory["setup"] + trajectory["steps"]:
        steps.append(section("step", describe_step(record), name=record["name"]))
    for record in trajectory["services"]:
        steps.insert(0, section("service", f"$ {record['command']}\nready after {record['seconds']}s",
                                name=record["name"]))
    parts = [section("story", scenario.story), section("satisfied-user", scenario.judge),
             section("trajectory", "\n".join(steps), trial=trajectory["trial"])]
    if problems:
        parts.append(section("errors", "\n".join(f"- {p}" for p in problems)))
        if previous:
            parts.append(section("previous-answer", cut(previous)))
    return section("scenario", "\n".join(parts), name=scenario.name, title=scenario.title)


def describe_step(record: dict) -> str:
    if record["kind"] == "run":
        status = "timed out" if record["timed_out"] else f"exit {record['exit']}"
        return f"$ {record['command']}\n({status}, {record['seconds']}s)\n{cut(record['output'])}"
    if record["kind"] == "http":
        status = record.get("status") or record.get("error")
        return f"{record['method']} {record['url']}\n(status {status}, {record['seconds']}s)\n{cut(record['body'])}"
    if not record["exists"]:
        return f"file {record['file']}: does not exist"
    return f"file {record['file']}:\n{cut(record['content'])}"


def cut(text: str) -> str:
    text = text or ""
    if len(text) <= OUTPUT_CHARS:
        return text
    half = OUTPUT_CHARS // 2
    return f"{text[:half]}\n... ({len(text) - OUTPUT_CHARS} characters not shown) ...\n{text[-half:]}"


def parse(answer: str) -> tuple[dict | None, list[str]]:
    """The verdict in an answer, or what is wrong with the answer."""
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if not match:
        return None, ["no JSON object in the answer"]
    try:
        verdict = json.loads(match.group(0))
    except ValueError as exc:
        return None, [f"the answer's JSON does not parse ({exc})"]
    if not isinstance(verdict, dict):
        return None, ["the answer must be one JSON object"]
    problems = []
    satisfied, probability = verdict.get("satisfied"), verdict.get("probability")
    if not isinstance(satisfied, bool):
        problems.append("`satisfied` must be true or false")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        problems.append("`probability` must be a number from 0 to 1")
    if not isinstance(verdict.get("reason"), str) or not verdict["reason"].strip():
        problems.append("`reason` must say why, in a sentence or two")
    if problems:
        return None, problems
    return {"satisfied": satisfied, "probability": float(probability), "reason": verdict["reason"].strip()}, []


def judge(caller: Caller, scenario: Scenario, trajectory: dict) -> dict | None:
    """The judge's verdict on one trajectory, or None when it gave no valid answer."""
    first = prompt(scenario, trajectory)
    # A remembered answer belongs to exactly this trajectory: a trial taken again after a crash is judged again.
    key = hashlib.blake2b(first.encode(), digest_size=6).hexdigest()
    outcome = ask_until_valid(
        caller, f"judge {scenario.name} #{trajectory['trial']} {key}", [node_id(scenario.name)], RETRIES,
        lambda previous, problems, attempt: first if attempt == 1 else prompt(scenario, trajectory, problems, previous),
        parse, MAX_TOKENS)
    return outcome.value if outcome.ok else None
