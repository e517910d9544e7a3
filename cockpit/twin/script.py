"""Scripted trajectories for the Anthropic twin: what the model answers, turn by turn.

A scenario is a JSON file (`cockpit twin --script FILE`, or `Twin(scenario=Scenario.load(FILE))`):

    {"turns": [
      {"turn": 1, "tool": "mcp__cockpit__context",
       "thinking": "Cockpit can say what matters for this task.",
       "tool_calls": [{"name": "mcp__cockpit__context", "input": {"task": "fix the cache", "budget": 400}}]},
      {"turn": 2, "contains": "weather/client.py",
       "tool_calls": [{"name": "mcp__cockpit__zoom", "input": {"path": "weather/client.py", "view": "outline"}}]},
      {"turn": 3, "text": "The cache lookup is in ForecastClient.forecast. {echo}",
       "usage": {"output_tokens": 120}}
    ]}

Each request is answered by the first entry whose conditions all hold (an entry without any
holds for every request); when none does, the twin answers as it always does.
    turn      the request's turn in its conversation: 1 + the assistant messages it carries
    contains  text the last user message holds (its text and tool results, system reminders too)
    mentions  text anywhere in the messages (system messages, e.g. a list of tools that arrived late)
    tool      the name of a tool the request offers (side requests such as titles offer none)
    model     the requested model id
An entry's answer:
    text        the text block ("{echo}" becomes the twin's echo of the last user message)
    thinking    a thinking block's text, true for the twin's own, false for none (default: the
                twin's own when the request asks for thinking)
    tool_calls  tool_use blocks: [{"name": ..., "input": {...}}, ...]
    stop_reason default "tool_use" with tool calls, else "end_turn" (or the twin's cut)
    usage       fields that replace what the twin would bill (input_tokens, output_tokens, ...)
Matching is stateless, so a retried request gets the same answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

CONDITIONS = ("turn", "contains", "mentions", "tool", "model")
ANSWERS = ("text", "thinking", "tool_calls", "stop_reason", "usage")
STOP_REASONS = ("end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal")
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class ScenarioError(ValueError):
    """A scenario file the twin cannot play; the message names the file and the entry."""


@dataclass(frozen=True)
class Turn:
    """One scripted answer and the conditions under which it is given."""

    turn: int | None = None
    contains: str | None = None
    mentions: str | None = None
    tool: str | None = None
    model: str | None = None
    text: str | None = None
    thinking: str | bool | None = None
    tool_calls: tuple[dict, ...] = ()
    stop_reason: str | None = None
    usage: dict = field(default_factory=dict)

    def matches(self, params: dict, turn: int, user_text: str) -> bool:
        offered = {t.get("name") for t in params.get("tools") or [] if isinstance(t, dict)}
        return ((self.turn is None or self.turn == turn)
                and (self.contains is None or self.contains in user_text)
                and (self.mentions is None or self.mentions in json.dumps(params.get("messages"), ensure_ascii=False))
                and (self.tool is None or self.tool in offered)
                and (self.model is None or self.model == params.get("model")))


@dataclass(frozen=True)
class Scenario:
    turns: tuple[Turn, ...]
    source: str = "<scenario>"

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ScenarioError(f"script {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ScenarioError(f"script {path}: not JSON ({exc})") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data, source: str = "<scenario>") -> Scenario:
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
            raise ScenarioError(f"script {source}: expected an object with a list of \"turns\"")
        unknown = set(data) - {"turns"}
        if unknown:
            raise ScenarioError(f"script {source}: unknown key {sorted(unknown)[0]!r}")
        return cls(tuple(_turn(entry, f"script {source}: turns[{i}]") for i, entry in enumerate(data["turns"])),
                   source)

    def turn_for(self, params: dict, turn: int, user_text: str) -> Turn | None:
        return next((t for t in self.turns if t.matches(params, turn, user_text)), None)


def _turn(entry, where: str) -> Turn:
    if not isinstance(entry, dict):
        raise ScenarioError(f"{where}: expected an object")
    unknown = set(entry) - set(CONDITIONS) - set(ANSWERS)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {sorted(unknown)[0]!r} (conditions: {', '.join(CONDITIONS)}; "
                            f"answers: {', '.join(ANSWERS)})")
    if "turn" in entry and (isinstance(entry["turn"], bool) or not isinstance(entry["turn"], int)
                            or entry["turn"] < 1):
        raise ScenarioError(f"{where}: turn must be a whole number from 1")
    for key in ("contains", "mentions", "tool", "model", "text"):
        if key in entry and not isinstance(entry[key], str):
            raise ScenarioError(f"{where}: {key} must be a string")
    if "thinking" in entry and not isinstance(entry["thinking"], (str, bool)):
        raise ScenarioError(f"{where}: thinking must be a string, true or false")
    calls = entry.get("tool_calls", [])
    if not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("input", {}), dict)
            and set(c) <= {"name", "input"} for c in calls):
        raise ScenarioError(f"{where}: tool_calls must be a list of {{\"name\": str, \"input\": {{...}}}}")
    stop = entry.get("stop_reason")
    if stop is not None and stop not in STOP_REASONS:
        raise ScenarioError(f"{where}: stop_reason must be one of {', '.join(STOP_REASONS)}")
    usage = entry.get("usage", {})
    if not isinstance(usage, dict) or any(k not in USAGE_FIELDS or isinstance(v, bool) or not isinstance(v, int)
                                          or v < 0 for k, v in usage.items()):
        raise ScenarioError(f"{where}: usage takes whole numbers for {', '.join(USAGE_FIELDS)}")
    return Turn(turn=entry.get("turn"), contains=entry.get("contains"), mentions=entry.get("mentions"),
                tool=entry.get("tool"),
                model=entry.get("model"), text=entry.get("text"), thinking=entry.get("thinking"),
                tool_calls=tuple({"name": c["name"], "input": c.get("input", {})} for c in calls),
                stop_reason=stop, usage=dict(usage))
