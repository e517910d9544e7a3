"""A behavioural twin of the Anthropic Messages API, served over HTTP on 127.0.0.1.

The real `anthropic` SDK talks to it unchanged (`Anthropic(base_url=twin.url, api_key=...)`), so
every LLM path of the product can run without the real API: in tests, or by hand with
`cockpit twin`. Standard library only: `ThreadingHTTPServer`, one thread per connection.

Use
    with running_twin(latency_ms=0) as twin:         # or twin = Twin().start() ... twin.stop()
        client = anthropic.Anthropic(base_url=twin.url, api_key="any-key")
        twin.script(Fault.rate_limit(retry_after_ms=10), Fault.cut_stream(after_deltas=2))
        ...
        twin.log    # a dict per request: method, path, query, headers (lower-cased, key redacted), response,
                    # body (parsed JSON), status, usage billed, request_id, fault taken
        twin.usage  # totals: requests, input/output/cache-creation/cache-read tokens
    serve(host, port) runs one in the foreground until Ctrl-C (for `cockpit twin`).

Endpoints
    POST   /v1/messages                    plain JSON, or SSE when `"stream": true`
    POST   /v1/messages/count_tokens       {"input_tokens": N}
    POST   /v1/messages/batches            create a batch
    GET    /v1/messages/batches            list (newest first; `limit`, `after_id`, `before_id`)
    GET    /v1/messages/batches/{id}       retrieve; "ended" from the `batch_polls`-th retrieve
                                           (default 2) or after `batch_seconds`
    GET    /v1/messages/batches/{id}/results   JSONL, one line per request
    POST   /v1/messages/batches/{id}/cancel
    DELETE /v1/messages/batches/{id}

Every response carries a `request-id` header; errors have the API's shape
`{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`. A key is required
(`x-api-key: K` or `Authorization: Bearer K`, else 401 `authentication_error`), and so is an
`anthropic-version` header (else 400 `invalid_request_error`).

Billing (deterministic, with the project's tokenizer `summarizers.tokens`)
    Input = tokens of every tool definition (as JSON), system block and message content block
    (text blocks by their text, other blocks as JSON) + MESSAGE_OVERHEAD per message. A block
    carrying `cache_control` ends a cacheable prefix (model + everything up to that block): the
    first time a prefix is seen its tokens are billed as `cache_creation_input_tokens`, later as
    `cache_read_input_tokens`; `input_tokens` is the rest. `count_tokens` returns the whole input
    (input + cache creation + cache read of the same request). Output = tokens of the answer.

Answers are a function of the request
    * Summary requests. The last user message holds one or more node blocks

          <node id="weather/client.py::ForecastClient">
          ...code, or the summaries of the node's children...
          </node>

      (the instructions, e.g. in a cacheable system prompt, are free text). The answer is one JSON
      object, with no code fence and nothing around it:

          {"nodes": {"weather/client.py::ForecastClient": {"2": "...", "4": "...", "8": "...",
                                                           "16": "...", "32": "...", "64": "..."},
                     "<next id>": {...}}}

      with every requested id, and rung "N" of at most N words. The words are the node's name
      split into words, then the words of its block, starting from where its name first appears
      (keywords and short words left out); each rung extends the one below it.
    * Port requests (cockpit semport). The last user message holds a `<semport ...>` block whose
      attributes say `to` (go | typescript | python), `target` (the file to write) and `package`,
      and whose `<symbol kind="..." name="Owner.name" params="a, b" .../>` tags list the public
      symbols to port. The answer is one fenced code block (```go, ```typescript, ```python) holding
      a file that parses, with a counterpart for every symbol in the target's conventions (Go:
      PascalCase, methods on a struct type; TypeScript: exported classes and camelCase functions
      and methods; Python: snake_case), bodies minimal but valid (zero values, a thrown error).
    * Pattern-card requests (cockpit transfuse). A `<transfuse-card gene="..." source="path">`
      block with `<symbol .../>` tags, `<test path="..." name="..."/>` tags and an `<imports>` block.
      The answer is a Markdown card: "# Pattern card: <first symbol>", then sections "What it does"
      (the first symbol's doc), "Interface" (one line per symbol: "- `name(params)` (kind): doc"),
      "Invariants", "Dependencies" (the imports) and "How it is tested" (the tests' names).
    * Patch requests (cockpit transfuse). A `<transfuse-patch lang="..." module="path" test="path"
      package="..." import="...">` block with `<symbol .../>` tags. The answer is a ```diff block:
      a unified diff (git style) adding `module`, a module in `lang` declaring the symbols, and
      `test` too when given, a test importing them.
    * Anything else: "Echo: " + the first ECHO_WORDS words of the last user message (its tool
      results included, `<system-reminder>` blocks left out).
    A scenario (`Twin(scenario=...)`, `cockpit twin --script`, see cockpit.twin.script) answers
    chosen requests with scripted text, thinking and tool calls (`tool_use`, stop_reason "tool_use").
    When the request asks for thinking (`enabled` with a budget, or `adaptive`, as long as
    `output_config.effort` says), the answer starts with a thinking block and its signature.
    Scripted replies come first: `twin.reply(text, contains=...)` queues a literal answer for the
    next request (or batch entry) whose last user message contains `contains` (any, if None).
    Either is cut to `max_tokens` (stop_reason "max_tokens"; a cut JSON answer is invalid JSON,
    as a real one would be) or at the first of `stop_sequences` (stop_reason "stop_sequence").

What the API refuses, the twin refuses: unknown models (404 `not_found_error`, see MODELS),
`system` messages in `messages` when `Twin(system_messages="beta")` and the request lacks their beta,
`tool_use` without its `tool_result` (and the reverse), thinking blocks with a forged signature,
budgets and effort out of range, cache TTLs other than 5m and 1h. `context_management` edits are
checked; `clear_thinking` leaves old thinking out of the bill, `clear_tool_uses` is not modelled.

Faults, scripted per test with `twin.script(Fault.rate_limit(), ...)`, are taken by the next
matching requests in order (a request takes the first queued fault that matches it): 429 with
`retry-after-ms`, 529, 500, any status, a slow first byte, an answer held back after the work is
done (`Fault.late`: a batch created, its id not yet told), a stream cut after N deltas, a
malformed SSE data line, an `error` event mid-stream, and errored batch entries (by custom_id).
The SDK's retries are requests too: a 429 followed by a queued 400 gives the caller the 400.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import hmac
import html
import itertools
import json
import posixpath
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cockpit.twin.script import Scenario
from summarizers import models as model_facts
from summarizers import tokens

BUDGETS = (2, 4, 8, 16, 32, 64)
MESSAGE_OVERHEAD = 3  # tokens per message for role and turn markers
ECHO_WORDS = 40
WORDS_PER_DELTA = 3
STREAM_FAULTS = ("cut", "malformed", "stream_error")
NODE_BLOCK = re.compile(r'<node\s+id="([^"]+)"\s*>(.*?)</node>', re.S)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# The models the twin serves (others are the API's 404): the ids of the project's pricing table and
# those Claude Code 2.1.332 names. A guess at today's list, kept by hand; `Twin(models=...)` adds more.
MODELS = frozenset("""
claude-opus-5-5 claude-opus-5 claude-sonnet-5-5 claude-sonnet-5 claude-haiku-5-5 claude-opus-4-8 claude-opus-4-7
claude-opus-4-6 claude-opus-4-5 claude-opus-4-1 claude-opus-4-0 claude-opus-4 claude-sonnet-4-6 claude-sonnet-4-5
claude-sonnet-4-0 claude-sonnet-4 claude-haiku-4-5
""".split())
MID_CONVERSATION_SYSTEM_BETA = "mid-conversation-system-2026-04-07"
CACHE_TTLS = {"5m": 300.0, "1h": 3600.0}  # seconds a cache entry lives after its last write or read
# Words of thinking per effort, for adaptive thinking: a guess at "more effort, more thought".
EFFORT_WORDS = {"low": 12, "medium": 32, "high": 64, "xhigh": 96, "max": 128}
CONTEXT_EDITS = ("clear_thinking_20251015", "clear_tool_uses_20250919")
_SIGNING_KEY = b"cockpit-twin-thinking"  # fixed, so signatures stay valid across twin restarts
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_IDENT_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Code keywords and function words say nothing about a node.
_SKIP = set("""
a an the and or not of to in on for with by from into at as is are was be been it its this that
these those which who what when where if then else elif than so such via per can may will should
would used using also has have had do does did we you our your their there here but nor all any
def class self cls return returns import from none true false null nil let var const function
func fn pub struct impl enum interface type public private protected static void int str bool
float dict list tuple new try except finally raise raises yield async await lambda pass break
continue while for elif assert global nonlocal del with package use mod mut string object args
kwargs
""".split())


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    """One scripted misbehaviour, taken by the first later request it matches.

    `path` None matches any path; `stream` None matches streaming or not; `custom_id` makes it a
    batch-entry fault ("*" for any entry), taken when a batch is processed instead of by a request.
    """

    kind: str  # "status" | "slow" | "late" | "cut" | "malformed" | "stream_error"
    status: int = 0
    error_type: str = ""
    message: str = ""
    retry_after_ms: int | None = None
    delay_ms: int = 0
    after_deltas: int = 1
    path: str | None = "/v1/messages"
    stream: bool | None = None
    custom_id: str | None = None

    @classmethod
    def rate_limit(cls, retry_after_ms: int = 10, **kw) -> Fault:
        return cls("status", 429, "rate_limit_error", "Number of requests has exceeded your rate limit.",
                   retry_after_ms=retry_after_ms, **kw)

    @classmethod
    def overloaded(cls, **kw) -> Fault:
        return cls("status", 529, "overloaded_error", "Overloaded", **kw)

    @classmethod
    def server_error(cls, **kw) -> Fault:
        return cls("status", 500, "api_error", "Internal server error", **kw)

    @classmethod
    def error(cls, status: int, error_type: str, message: str = "Scripted error", **kw) -> Fault:
        return cls("status", status, error_type, message, **kw)

    @classmethod
    def slow(cls, delay_ms: int, **kw) -> Fault:
        """Wait before the first byte, then answer normally."""
        return cls("slow", delay_ms=delay_ms, **kw)

    @classmethod
    def late(cls, delay_ms: int, **kw) -> Fault:
        """Do what was asked at once (a batch exists from then on), then wait before answering: the moment
        a client can die knowing nothing of what it made."""
        return cls("late", delay_ms=delay_ms, **kw)

    @classmethod
    def cut_stream(cls, after_deltas: int = 1, **kw) -> Fault:
        """Drop the connection after some text deltas, without ending the chunked body."""
        return cls("cut", after_deltas=after_deltas, stream=True, **kw)

    @classmethod
    def malformed_sse(cls, after_deltas: int = 1, **kw) -> Fault:
        """Send a delta whose data line is not valid JSON."""
        return cls("malformed", after_deltas=after_deltas, stream=True, **kw)

    @classmethod
    def stream_error(cls, after_deltas: int = 1, error_type: str = "overloaded_error", **kw) -> Fault:
        """An `event: error` frame mid-stream (the API's way to fail after a 200)."""
        return cls("stream_error", error_type=error_type, message="Overloaded", after_deltas=after_deltas,
                   stream=True, **kw)

    @classmethod
    def batch_entry(cls, custom_id: str = "*", error_type: str = "invalid_request_error",
                    message: str = "Scripted error") -> Fault:
        """The batch entry `custom_id` (a glob: "*" for any) ends as `errored` with this error."""
        return cls("status", 400, error_type, message, path=None, custom_id=custom_id)

    def matches(self, method: str, path: str, streaming: bool) -> bool:
        if self.custom_id is not None:
            return False
        if self.path is not None and (path != self.path or method != "POST"):
            return False
        return self.stream is None or self.stream == streaming


class ApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.error_type, self.message, self.headers = status, error_type, message, headers or {}


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


# ---------------------------------------------------------------------------------------------
# Requests: validation, token accounting, answers


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _digest(value, size: int = 12) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True).encode(), digest_size=size).hexdigest()


def _blocks(content) -> list[dict]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _block_text(block: dict) -> str:
    """What a block weighs as the model reads it: its text, a tool call's name and input, else its JSON."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "thinking":
        return str(block.get("thinking", ""))
    if kind == "tool_use":
        return f"{block.get('name', '')} {json.dumps(block.get('input', {}), sort_keys=True)}"
    if kind == "tool_result":
        return tool_result_text(block)
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


def tool_result_text(block: dict) -> str:
    """A tool result's content as the model receives it: its text (other parts as JSON)."""
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if b.get("type") == "text" else json.dumps(b, sort_keys=True)
                   for b in content if isinstance(b, dict))


def sign_thinking(text: str) -> str:
    """A signature that carries its thinking, so the twin can check one sent back (a real one is opaque)."""
    raw = text.encode()
    mac = hmac.new(_SIGNING_KEY, raw, hashlib.sha256).digest()[:16]
    return base64.b64encode(mac + raw).decode()


def thinking_text(signature) -> str | None:
    """The thinking a signature vouches for, or None for a forged or damaged one."""
    try:
        raw = base64.b64decode(signature or "", validate=True)
    except (ValueError, TypeError):
        return None
    mac, text = raw[:16], raw[16:]
    good = len(raw) >= 16 and hmac.compare_digest(mac, hmac.new(_SIGNING_KEY, text, hashlib.sha256).digest()[:16])
    return text.decode("utf-8", "replace") if good else None


def known_model(model: str, extra: frozenset[str] = frozenset()) -> bool:
    """A model id the twin serves, with or without its date suffix (claude-haiku-4-5-20251001)."""
    return model in extra or re.sub(r"-\d{8}$", "", model) in MODELS


def validate(params, *, need_max_tokens: bool = True, betas: frozenset[str] = frozenset(),
             models: frozenset[str] | None = frozenset(), system_messages: str = "ga",
             no_forced_tool: frozenset[str] = frozenset(model_facts.NO_FORCED_TOOL)) -> None:
    """Raise a 400 (or the 404 of an unknown model) for what the API would refuse, with its wording.

    `models` None accepts any id (batch entries are checked when created); `system_messages` "ga"
    takes mid-conversation system messages as today's API does, "beta" only under their beta.
    """
    if not isinstance(params, dict):
        raise ApiError(400, "invalid_request_error", "body: Input should be an object")
    required = ("model", "max_tokens", "messages") if need_max_tokens else ("model", "messages")
    for name in required:
        if name not in params:
            raise ApiError(400, "invalid_request_error", f"{name}: Field required")
    if not isinstance(params["model"], str) or not params["model"]:
        raise ApiError(400, "invalid_request_error", "model: Input should be a valid string")
    if need_max_tokens:
        mt = params["max_tokens"]
        if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
            raise ApiError(400, "invalid_request_error", "max_tokens: Input should be a positive integer")
    messages = params["messages"]
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_request_error", "messages: at least one message is required")
    system_ok = system_messages == "ga" or MID_CONVERSATION_SYSTEM_BETA in betas
    for i, message in enumerate(messages):
        roles = ("user", "assistant", "system") if system_ok else ("user", "assistant")
        if not isinstance(message, dict) or message.get("role") not in roles:
            wanted = "'user', 'assistant' or 'system'" if system_ok else "'user' or 'assistant'"
            raise ApiError(400, "invalid_request_error", f"messages.{i}.role: Input should be {wanted}")
        content = message.get("content")
        if not isinstance(content, (str, list)) or (
                isinstance(content, list) and not all(isinstance(b, dict) and "type" in b for b in content)):
            raise ApiError(400, "invalid_request_error", f"messages.{i}.content: Input should be a string or a list of blocks")
        if message["role"] == "system" and not all(b.get("type") == "text" for b in _blocks(content)):
            raise ApiError(400, "invalid_request_error", f"messages.{i}.content: a system message holds text blocks only")
    if messages[0]["role"] == "system":  # a guess: the top-level `system` is the place for a leading one
        raise ApiError(400, "invalid_request_error", "messages.0.role: the first message must not be 'system'; use `system`")
    system = params.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise ApiError(400, "invalid_request_error", "system: Input should be a string or a list of text blocks")
    _validate_tool_turns(messages)
    _validate_thinking(params, need_max_tokens)
    _validate_tool_choice(params, no_forced_tool)
    for where, block in _cache_controls(params):
        if block.get("ttl", "5m") not in CACHE_TTLS:
            raise ApiError(400, "invalid_request_error", f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    effort = (params.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORT_WORDS:
        raise ApiError(400, "invalid_request_error",
                       f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORT_WORDS)}")
    edits = (params.get("context_management") or {}).get("edits") or []
    for i, edit in enumerate(edits):
        if not isinstance(edit, dict) or edit.get("type") not in CONTEXT_EDITS:
            raise ApiError(400, "invalid_request_error",
                           f"context_management.edits.{i}.type: Input should be {' or '.join(map(repr, CONTEXT_EDITS))}")
    user_id = (params.get("metadata") or {}).get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 512):
        raise ApiError(400, "invalid_request_error", "metadata.user_id: Input should be a string of at most 512 characters")
    if models is not None and not known_model(params["model"], models):
        raise ApiError(404, "not_found_error", f"model: {params['model']}")


def _validate_tool_choice(params: dict, no_forced_tool: frozenset[str]) -> None:
    """A forced tool must be offered; some models, and any request that thinks, refuse to be forced."""
    choice = params.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise ApiError(400, "invalid_request_error",
                       "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    names = {t.get("name") for t in params.get("tools") or [] if isinstance(t, dict)}
    if kind == "tool" and choice.get("name") not in names:
        raise ApiError(400, "invalid_request_error", f"tool_choice.name: tool {choice.get('name')!r} is not in tools")
    if kind == "any" and not names:
        raise ApiError(400, "invalid_request_error", "tool_choice: 'any' needs at least one tool in tools")
    if kind in ("any", "tool"):
        if re.sub(r"-\d{8}$", "", params["model"]) in no_forced_tool:
            raise ApiError(400, "invalid_request_error", model_facts.FORCED_TOOL_REFUSED)
        if wants_thinking(params):
            raise ApiError(400, "invalid_request_error", model_facts.FORCED_TOOL_WITH_THINKING)


def forced_tool(params: dict) -> dict | None:
    """The tool the request forces the answer to call, if it forces one."""
    choice = params.get("tool_choice") or {}
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict)]
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    if choice.get("type") == "any" and tools:
        return tools[0]
    return None


def as_tool_input(text: str, tool: dict) -> dict | None:
    """What a model forced to call `tool` would put in its input, given the answer it would write.

    A JSON object is the input itself; a tool of one required string field gets the text (the code of
    its one fenced block, if it has one). None: the answer does not fit (then it goes out as text)."""
    body = text.strip()
    if body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    schema = tool.get("input_schema") or {}
    required = schema.get("required") or []
    props = schema.get("properties") or {}
    if len(required) == 1 and (props.get(required[0]) or {}).get("type") == "string":
        fences = re.findall(r"^```[^\n]*\n(.*?)^```[ \t]*$", text, re.S | re.M)
        return {required[0]: fences[0] if len(fences) == 1 else text}
    return None


def _validate_tool_turns(messages: list[dict]) -> None:
    """Every tool_use is answered by a tool_result in the next user message, and only those are.

    A guess where the API's rule is not known: system messages between the two are passed over.
    """
    pending, asked_at = set(), None
    for i, message in enumerate(messages):
        if message["role"] == "system":
            continue
        blocks = _blocks(message["content"])
        if message["role"] == "assistant":
            if pending:
                raise ApiError(400, "invalid_request_error", _missing_results(i, pending))
            pending = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
            asked_at = i
            continue
        answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending:
                raise ApiError(400, "invalid_request_error",
                               f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                               f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                               "`tool_use` block in the previous message.")
        if pending - answered:
            raise ApiError(400, "invalid_request_error", _missing_results(asked_at, pending - answered))
        pending = set()


def _missing_results(i: int, ids: set) -> str:
    return (f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(sorted(map(str, ids)))}. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message.")


def _validate_thinking(params: dict, need_max_tokens: bool) -> None:
    thinking = params.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "adaptive", "disabled"):
        raise ApiError(400, "invalid_request_error", f"thinking: Input tag {kind!r} found using 'type' does not match "
                                                     "any of the expected tags: 'adaptive', 'disabled', 'enabled'")
    if thinking.get("display", "summarized") not in ("summarized", "omitted"):
        raise ApiError(400, "invalid_request_error", "thinking.display: Input should be 'summarized' or 'omitted'")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1024:
            raise ApiError(400, "invalid_request_error",
                           "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if need_max_tokens and budget >= params["max_tokens"]:
            raise ApiError(400, "invalid_request_error", "`max_tokens` must be greater than `thinking.budget_tokens`")
    for i, message in enumerate(params["messages"]):
        if message["role"] != "assistant":
            continue
        for j, block in enumerate(_blocks(message["content"])):
            if block.get("type") == "thinking" and thinking_text(block.get("signature")) is None:
                raise ApiError(400, "invalid_request_error",
                               f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")


def _cache_controls(params: dict):
    for i, tool in enumerate(params.get("tools") or []):
        if isinstance(tool, dict) and isinstance(tool.get("cache_control"), dict):
            yield f"tools.{i}", tool["cache_control"]
    system = params.get("system")
    for i, block in enumerate(_blocks(system) if system else []):
        if isinstance(block, dict) and isinstance(block.get("cache_control"), dict):
            yield f"system.{i}", block["cache_control"]
    for i, message in enumerate(params["messages"]):
        for j, block in enumerate(_blocks(message["content"])):
            if isinstance(block.get("cache_control"), dict):
                yield f"messages.{i}.content.{j}", block["cache_control"]


def segments(params: dict) -> list[tuple[dict, int, dict | None]]:
    """The prompt in API prefix order (tools, system, messages): (key, tokens, cache_control)."""
    out = []
    for tool in params.get("tools") or []:
        out.append((tool, tokens.count(_block_text(tool)), tool.get("cache_control")))
    system = params.get("system")
    for block in _blocks(system) if system else []:
        out.append((block, tokens.count(_block_text(block)), block.get("cache_control")))
    keep = _thinking_turns_kept(params)
    turns_left = sum(m["role"] == "assistant" for m in params["messages"])
    for message in params["messages"]:
        out.append(({"role": message["role"]}, MESSAGE_OVERHEAD, None))
        turns_left -= message["role"] == "assistant"
        for block in _blocks(message["content"]):
            if block.get("type") in ("thinking", "redacted_thinking") and keep is not None and turns_left >= keep:
                continue  # cleared by context management: the model never sees it
            out.append((block, tokens.count(_block_text(block)), block.get("cache_control")))
    return out


def _thinking_turns_kept(params: dict) -> int | None:
    """How many recent assistant turns keep their thinking under `clear_thinking` (None: all)."""
    for edit in (params.get("context_management") or {}).get("edits") or []:
        if edit.get("type") == "clear_thinking_20251015":
            keep = edit.get("keep", {"type": "thinking_turns", "value": 1})
            if isinstance(keep, dict) and isinstance(keep.get("value"), int):
                return keep["value"]
    return None


def last_user_text(params: dict, *, results: bool = False) -> str:
    """The last user message's text; with `results`, its tool results too."""
    for message in reversed(params["messages"]):
        if message["role"] == "user":
            kinds = ("text", "tool_result") if results else ("text",)
            return " ".join(_block_text(b) for b in _blocks(message["content"]) if b.get("type") in kinds)
    return ""


def echo(params: dict) -> str:
    """The twin's answer to anything else: the start of the last user message, system reminders left out."""
    text = _REMINDER.sub(" ", last_user_text(params, results=True))
    return ("Echo: " + " ".join(text.split()[:ECHO_WORDS])).rstrip()


def _identifier_words(name: str) -> list[str]:
    return [p if p.isupper() and len(p) > 1 else p.lower() for p in _IDENT_PART.findall(name)]


def node_words(node_id: str, body: str) -> list[str]:
    """The node's name as words, then the words of its block from where the name first appears."""
    if "::" in node_id:  # a symbol: "path::Class.method"
        *owners, name = node_id.split("::")[-1].split(".")
    else:  # a file or directory: its base name without the extension
        owners, name = [], node_id.rstrip("/").split("/")[-1].split(".")[0]
    seen, words = set(), []
    for word in _identifier_words(name) + [w for o in owners for w in _identifier_words(o)] + _body_words(body, name):
        if word.lower() not in seen and word.lower() not in _SKIP:
            seen.add(word.lower())
            words.append(word)
    return words or ["node"]


def _body_words(body: str, name: str) -> list[str]:
    start = body.find(name) if name else -1
    text = body[start:] + " " + body[:start] if start > 0 else body  # words near the name first
    return [w for token in _WORD.findall(text) for w in _identifier_words(token) if len(w) >= 3]


def summary_answer(user_text: str) -> str | None:
    """The JSON answer to a summary request, or None when the message holds no node blocks."""
    found = NODE_BLOCK.findall(user_text)
    if not found:
        return None
    nodes = {}
    for node_id, body in found:
        words = node_words(node_id, body)
        nodes[node_id] = {str(b): " ".join(words[:b]) for b in BUDGETS}
    return json.dumps({"nodes": nodes})


def answer_text(params: dict) -> str:
    text = last_user_text(params)
    for answerer in (summary_answer, port_answer, card_answer, patch_answer):
        answer = answerer(text)
        if answer is not None:
            return answer
    return echo(params)


# ---------------------------------------------------------------------------------------------
# Answers to semport and transfuse prompts: code that parses, named after the symbols asked for

_TAG_ATTRS = re.compile(r'([\w-]+)="([^"]*)"')
_SYMBOL_TAG = re.compile(r"<symbol\s+([^>]*?)/?>")
_FENCES = {"go": "go", "typescript": "typescript", "tsx": "tsx", "python": "python", "javascript": "javascript"}
_RESERVED = {
    "go": set("break case chan const continue default defer else fallthrough for func go goto if import interface "
              "map package range return select struct switch type var".split()),
    "typescript": set("break case catch class const continue debugger default delete do else enum export extends "
                      "false finally for function if import in instanceof new null return super switch this throw "
                      "true try typeof var void while with yield let static implements interface package private "
                      "protected public await arguments eval".split()),
    "python": set("False None True and as assert async await break class continue def del elif else except "
                  "finally for from global if import in is lambda nonlocal not or pass raise return try while "
                  "with yield".split()),
}
_TYPE_KINDS = {"class", "struct", "interface", "enum", "type", "trait", "object", "module", "impl"}
_VALUE_KINDS = {"variable", "constant", "const", "field"}


def _attrs(text: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in _TAG_ATTRS.findall(text)}


def _block(tag: str, text: str) -> tuple[dict[str, str], str] | None:
    """The attributes and body of the first `<tag ...>...</tag>` in text."""
    match = re.search(rf"<{tag}\b([^>]*)>(.*?)</{tag}>", text, re.DOTALL)
    return (_attrs(match.group(1)), match.group(2)) if match else None


def _symbols(body: str) -> list[dict[str, str]]:
    return [_attrs(m) for m in _SYMBOL_TAG.findall(body)]


def _parts(name: str) -> list[str]:
    return [p.lower() for p in _IDENT_PART.findall(name)] or ["x"]


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in _parts(name))


def _camel(name: str) -> str:
    pascal = _pascal(name)
    return pascal[:1].lower() + pascal[1:]


def _snake(name: str) -> str:
    return "_".join(_parts(name))


def _styled(lang: str, name: str, kind: str) -> str:
    """A name in a language's conventions for its kind."""
    if lang == "go":
        return _pascal(name)
    if kind in _TYPE_KINDS:
        return _pascal(name)
    if kind in _VALUE_KINDS and name.isupper():
        return name
    return _snake(name) if lang == "python" else _camel(name)


def _params(lang: str, params: str) -> list[str]:
    names: list[str] = []
    for raw in params.split(","):
        raw = raw.strip().lstrip("*&.")
        if not raw or raw in ("self", "cls", "this", "/"):
            continue
        name = _snake(raw) if lang == "python" else _camel(raw)
        name = name + "_" if name in _RESERVED.get(lang, ()) else name
        while name in names:
            name += "2"
        names.append(name)
    return names


def stub_module(lang: str, symbols: list[dict[str, str]], package: str = "", doc: str = "") -> str:
    """A module in `lang` that declares a counterpart of every symbol, with minimal valid bodies."""
    types: dict[str, list[dict]] = {}  # type name -> its methods, in order
    functions, values = [], []
    for symbol in symbols:
        name, kind = symbol.get("name", ""), symbol.get("kind", "function")
        owner, _, member = name.rpartition(".")
        if not name:
            continue
        if kind in _TYPE_KINDS and not owner:
            types.setdefault(name, [])
        elif owner:
            types.setdefault(owner.split(".")[-1], []).append({**symbol, "name": member})
        elif kind in _VALUE_KINDS:
            values.append(symbol)
        else:
            functions.append(symbol)
    write = {"go": _go_module, "typescript": _ts_module, "tsx": _ts_module, "javascript": _ts_module,
             "python": _python_module}.get(lang, _python_module)
    return write(lang, types, functions, values, package, doc or "Ported by the Anthropic twin.")


def _go_module(lang, types, functions, values, package, doc) -> str:
    package = re.sub(r"\W", "", package.lower()) or "main"
    out = [f"// Package {package}: {doc}", f"package {package}", ""]
    for value in values:
        out += [f"// {_pascal(value['name'])} is a counterpart of {value['name']}.",
                f"var {_pascal(value['name'])} any", ""]
    for type_name, methods in types.items():
        go_type = _pascal(type_name)
        receiver = go_type[:1].lower()
        out += [f"// {go_type} is a counterpart of {type_name}.", f"type {go_type} struct{{}}", ""]
        for method in methods:
            params = ", ".join(f"{p} any" for p in _params(lang, method.get("params", "")))
            out += [f"// {_pascal(method['name'])} is a counterpart of {type_name}.{method['name']}.",
                    f"func ({receiver} *{go_type}) {_pascal(method['name'])}({params}) any {{", "\treturn nil", "}", ""]
    for function in functions:
        params = ", ".join(f"{p} any" for p in _params(lang, function.get("params", "")))
        out += [f"// {_pascal(function['name'])} is a counterpart of {function['name']}.",
                f"func {_pascal(function['name'])}({params}) any {{", "\treturn nil", "}", ""]
    return "\n".join(out).rstrip() + "\n"


def _ts_module(lang, types, functions, values, package, doc) -> str:
    typed = lang != "javascript"
    annotate = (lambda p: f"{p}: unknown") if typed else (lambda p: p)
    result = ": unknown" if typed else ""
    throw = 'throw new Error("not ported by the twin");'
    out = [f"// {doc}", ""]
    for value in values:
        out += [f"export const {_styled(lang, value['name'], 'variable')}{result} = undefined;", ""]
    for type_name, methods in types.items():
        out.append(f"export class {_pascal(type_name)} {{")
        for method in methods:
            params = ", ".join(annotate(p) for p in _params(lang, method.get("params", "")))
            out += [f"  {_camel(method['name'])}({params}){result} {{", f"    {throw}", "  }"]
        out += ["}", ""]
    for function in functions:
        params = ", ".join(annotate(p) for p in _params(lang, function.get("params", "")))
        out += [f"export function {_camel(function['name'])}({params}){result} {{", f"  {throw}", "}", ""]
    if not (values or types or functions):
        out.append("export {};")
    return "\n".join(out).rstrip() + "\n"


def _python_module(lang, types, functions, values, package, doc) -> str:
    out = [f'"""{doc}"""', ""]
    for value in values:
        out += [f"{_styled('python', value['name'], 'variable')} = None", ""]
    for type_name, methods in types.items():
        out += ["", f"class {_pascal(type_name)}:"]
        for method in methods:
            params = ", ".join(["self"] + _params("python", method.get("params", "")))
            out += [f"    def {_snake(method['name'])}({params}):",
                    "        return None  # the twin declares; it cannot port a body", ""]
        if not methods:
            out += ["    pass", ""]
    for function in functions:
        params = ", ".join(_params("python", function.get("params", "")))
        out += ["", f"def {_snake(function['name'])}({params}):",
                "    return None  # the twin declares; it cannot port a body", ""]
    return "\n".join(out).rstrip() + "\n"


def port_answer(user_text: str) -> str | None:
    """A fenced file in the target language with a counterpart of every listed symbol, or None."""
    found = _block("semport", user_text)
    if found is None:
        return None
    attrs, body = found
    lang = attrs.get("to", "python")
    code = stub_module(lang, _symbols(body), attrs.get("package", ""),
                       f"ported from {attrs.get('source', 'its source')} by the Anthropic twin.")
    return f"```{_FENCES.get(lang, lang)}\n{code}```\n"


def card_answer(user_text: str) -> str | None:
    """A Markdown pattern card built from the located source's names and docs, or None."""
    found = _block("transfuse-card", user_text)
    if found is None:
        return None
    attrs, body = found
    source = attrs.get("source", "the donor")
    symbols = _symbols(body)
    tests = [_attrs(m) for m in re.findall(r"<test\s+([^>]*?)/?>", body)]
    imports = (_block("imports", body) or ({}, ""))[1].splitlines()
    main = symbols[0] if symbols else {"name": attrs.get("gene", "gene"), "kind": "module"}
    what = (main.get("doc") or f"The {main.get('kind', 'code')} {main['name']} of {source}.").splitlines()[0]
    interface = [f"- `{s['name']}({s.get('params', '')})` ({s.get('kind', 'function')})"
                 + (f": {s['doc'].splitlines()[0]}" if s.get("doc") else "") for s in symbols]
    lines = [f"# Pattern card: {main['name']}", "", "## What it does", "", what, "", "## Interface", "",
             *(interface or ["- (no public symbols)"]), "", "## Invariants", "",
             f"- Behaves as `{source}` does; the names above are its contract.", "", "## Dependencies", "",
             *([f"- `{line.strip()}`" for line in imports if line.strip()] or ["- none"]), "",
             "## How it is tested", "",
             *([f"- `{t.get('name')}` in `{t.get('path')}`" for t in tests] or ["- no tests found"])]
    return "\n".join(lines) + "\n"


def patch_answer(user_text: str) -> str | None:
    """A unified diff adding the module (and its test) the placement names, or None."""
    found = _block("transfuse-patch", user_text)
    if found is None:
        return None
    attrs, body = found
    lang, module, test = attrs.get("lang", "python"), attrs.get("module", "gene.py"), attrs.get("test", "")
    symbols = [s for s in _symbols(body) if "." not in s.get("name", "")] or _symbols(body)
    title = re.search(r"^#\s*(.+)$", (_block("card", body) or ({}, ""))[1], re.MULTILINE)
    files = {module: stub_module(lang, _symbols(body), attrs.get("package", ""),
                                 title.group(1).strip() if title else "Transfused by the Anthropic twin.")}
    if test:
        files[test] = _stub_test(lang, module, test, symbols, attrs)
    diff = "".join(_new_file_diff(path, text) for path, text in files.items())
    return f"```diff\n{diff}```\n"


def _stub_test(lang: str, module: str, test: str, symbols: list[dict], attrs: dict) -> str:
    first = symbols[0] if symbols else {"name": "gene", "kind": "function"}
    if lang == "go":
        package = re.sub(r"\W", "", attrs.get("package", "").lower()) or "main"
        name = _pascal(first["name"])
        return (f'package {package}\n\nimport "testing"\n\nfunc Test{name}IsDeclared(t *testing.T) {{\n'
                f"\t_ = {name}\n}}\n")
    name = _styled(lang, first["name"], first.get("kind", "function"))
    if lang in ("typescript", "tsx", "javascript"):
        target = posixpath.relpath(posixpath.splitext(module)[0], posixpath.dirname(test) or ".")
        target = target if target.startswith(".") else "./" + target
        return (f'import {{ strict as assert }} from "node:assert";\nimport {{ {name} }} from "{target}";\n\n'
                f'assert.ok({name} !== undefined);\n')
    where = attrs.get("import") or posixpath.splitext(module)[0].removeprefix("src/").replace("/", ".")
    return f"from {where} import {name}\n\n\ndef test_{_snake(first['name'])}_is_declared():\n    assert {name}\n"


def _new_file_diff(path: str, text: str) -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def finish(text: str, params: dict) -> tuple[str, str, str | None, int]:
    """Cut the answer at a stop sequence or max_tokens: (text, stop_reason, stop_sequence, output tokens)."""
    cuts = [(text.find(s), s) for s in params.get("stop_sequences") or [] if s and s in text]
    reason, sequence = "end_turn", None
    if cuts:
        at, sequence = min(cuts)
        text, reason = text[:at], "stop_sequence"
    enc = tokens.encoding()
    ids = enc.encode_ordinary(text)
    if len(ids) > params["max_tokens"]:
        ids = ids[: params["max_tokens"]]
        text, reason, sequence = enc.decode(ids), "max_tokens", None
    return text, reason, sequence, len(ids)


def wants_thinking(params: dict) -> bool:
    return (params.get("thinking") or {}).get("type") in ("enabled", "adaptive")


def own_thinking(params: dict) -> str:
    """The twin's thinking: what it was asked, in as many words as the effort (or budget) allows.

    A guess at adaptive thinking: the real model may skip thinking on easy turns; the twin always thinks.
    """
    thinking = params["thinking"]
    words = EFFORT_WORDS.get((params.get("output_config") or {}).get("effort") or "high", 64)
    if thinking["type"] == "enabled":
        words = min(words, thinking["budget_tokens"] // 2)
    asked = _REMINDER.sub(" ", last_user_text(params, results=True)).split()
    return " ".join(["The", "request", "asks:", *asked][:words]) if asked else "Nothing to answer."


def compose(params: dict, turn, reply: str | None) -> tuple[list[dict], str, str | None, int]:
    """The answer's content blocks, stop reason and sequence, and output tokens.

    Thinking comes first (billed as output, as the API does), then text cut to what `max_tokens`
    leaves, then the scripted tool calls, each a `tool_use` block.
    """
    blocks, spent = [], 0
    thought = turn.thinking if turn is not None else None
    if thought is not False and (wants_thinking(params) or isinstance(thought, str)):
        text = thought if isinstance(thought, str) else own_thinking(params)
        spent = tokens.count(text)
        shown = "" if (params.get("thinking") or {}).get("display") == "omitted" else text
        blocks.append({"type": "thinking", "thinking": shown, "signature": sign_thinking(text)})
    calls = list(turn.tool_calls) if turn is not None else []
    if reply is not None:
        text = reply
    elif turn is not None and turn.text is not None:
        text = turn.text.replace("{echo}", echo(params))
    elif calls:
        text = None
    else:
        text = answer_text(params)
    reason, sequence = "end_turn", None
    tool = forced_tool(params) if not calls and text is not None else None
    payload = as_tool_input(text, tool) if tool else None
    if payload is not None:
        block = {"type": "tool_use", "id": "toolu_" + _digest([params["messages"], "forced"]), "name": tool["name"],
                 "input": payload}
        used = tokens.count(_block_text(block))
        if spent + used <= params["max_tokens"]:
            blocks.append(block)
            return blocks, "tool_use", None, spent + used
        # Too long for max_tokens: cut, as text, which is what a cut tool call leaves a client able to read.
    if text is not None:
        text, reason, sequence, used = finish(text, {**params, "max_tokens": max(1, params["max_tokens"] - spent)})
        spent += used
        blocks.append({"type": "text", "text": text})
    if calls and reason == "end_turn":
        offered = {t.get("name") for t in params.get("tools") or []}
        for n, call in enumerate(calls):
            if call["name"] not in offered:
                raise ApiError(500, "api_error", f"twin script: tool {call['name']!r} is not among the request's tools")
            block = {"type": "tool_use", "id": "toolu_" + _digest([params["messages"], n]), "name": call["name"],
                     "input": call["input"]}
            spent += tokens.count(_block_text(block))
            blocks.append(block)
        reason = "tool_use"
    if turn is not None and turn.stop_reason:
        reason = turn.stop_reason
    return blocks, reason, sequence, spent


def stream_events(content: list[dict]) -> list[dict]:
    """The content_block_* events that stream `content` as the API streams it."""
    events = []
    for index, block in enumerate(content):
        kind = block["type"]
        if kind == "thinking":
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": c} for c in text_chunks(block["thinking"])
                      if block["thinking"]]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "tool_use":
            empty = {**block, "input": {}}
            raw = json.dumps(block["input"])
            step = max(1, len(raw) // 3 + 1)
            deltas = [{"type": "input_json_delta", "partial_json": raw[i:i + step]} for i in range(0, len(raw), step)]
        else:
            empty = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": c} for c in text_chunks(block["text"])]
        events.append({"type": "content_block_start", "index": index, "content_block": empty})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    return events


def text_chunks(text: str) -> list[str]:
    pieces = re.findall(r"\s*\S+\s*", text) or [text]
    return ["".join(pieces[i:i + WORDS_PER_DELTA]) for i in range(0, len(pieces), WORDS_PER_DELTA)]


# ---------------------------------------------------------------------------------------------
# The twin


class Twin:
    """State and server of one twin: request log, prompt cache, batches, faults, usage totals."""

    def __init__(self, latency_ms: int = 0, batch_polls: int | None = 2, batch_seconds: float | None = None,
                 cache_min_tokens: int | None = None, models: tuple[str, ...] = (), system_messages: str = "ga",
                 scenario: Scenario | None = None, log_path: str | None = None, clock=time.monotonic):
        self.latency_ms = latency_ms
        self.models = frozenset(models)  # ids served beside MODELS
        self.no_forced_tool = frozenset(model_facts.NO_FORCED_TOOL)  # models that refuse a forced tool
        self.system_messages = system_messages  # "ga", or "beta": only with MID_CONVERSATION_SYSTEM_BETA
        self.scenario = scenario
        self.log_path = log_path  # every request and its answer appended as a JSON line
        self.clock = clock  # seconds, for cache lifetimes
        self.batch_polls = batch_polls  # a batch reads "ended" from this retrieve on
        self.batch_seconds = batch_seconds  # ... or once this long has passed since creation
        # Shorter prefixes are not cached: None applies the API's minimum for each model (summarizers.models).
        self.cache_min_tokens = cache_min_tokens
        self.log: list[dict] = []
        self.usage = dict(requests=0, input_tokens=0, output_tokens=0, cache_creation_input_tokens=0,
                          cache_read_input_tokens=0)
        self.batches: dict[str, dict] = {}
        self._faults: list[Fault] = []
        self._replies: list[tuple[str, str | None]] = []  # (answer, what the last user message must contain)
        self._cache: dict[str, tuple[float, float]] = {}  # prefix digest -> (expires at, its TTL)
        self._lock = threading.Lock()
        self._batch_lock = threading.Lock()  # batch state changes; separate, as ending a batch bills messages
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.url = ""

    # -- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Twin:
        server = _Server((host, port), _Handler)
        server.twin = self
        self._server = server
        self.url = f"http://{host}:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="anthropic-twin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        # Kept-alive connections have their own threads: close them so no request is served after stop.
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()
        self._server = None

    def __enter__(self) -> Twin:
        return self if self._server else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting and inspection

    def script(self, *faults: Fault) -> Twin:
        with self._lock:
            self._faults.extend(faults)
        return self

    def reply(self, text: str, contains: str | None = None) -> Twin:
        """Answer `text` to the next request whose last user message contains `contains` (any, if None)."""
        with self._lock:
            self._replies.append((text, contains))
        return self

    @property
    def pending_replies(self) -> list[tuple[str, str | None]]:
        with self._lock:
            return list(self._replies)

    def _take_reply(self, params: dict) -> str | None:
        text = last_user_text(params)
        with self._lock:
            for i, (answer, contains) in enumerate(self._replies):
                if contains is None or contains in text:
                    return self._replies.pop(i)[0]
        return None

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def requests(self, path: str | None = None) -> list[dict]:
        """Log entries, optionally only those for one path."""
        with self._lock:
            return [e for e in self.log if path is None or e["path"] == path]

    def _take_fault(self, method: str, path: str, streaming: bool) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path, streaming):
                    return self._faults.pop(i)
        return None

    def _take_entry_fault(self, custom_id: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fnmatch.fnmatchcase(custom_id, fault.custom_id):
                    return self._faults.pop(i)
        return None

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):024x}"

    # -- messages

    def bill_input(self, params: dict, *, remember: bool) -> dict:
        """Input usage of a request; `remember` records its cacheable prefixes as written."""
        h = hashlib.blake2b(params["model"].encode(), digest_size=16)
        total, breakpoints = 0, []
        minimum = (self.cache_min_tokens if self.cache_min_tokens is not None
                   else model_facts.cache_minimum(params["model"]))
        for key, count, cache_control in segments(params):
            h.update(json.dumps({k: v for k, v in key.items() if k != "cache_control"}, sort_keys=True).encode())
            total += count
            if cache_control and total >= minimum:
                breakpoints.append((h.hexdigest(), total, cache_control.get("ttl", "5m")))
        creation, ttl = 0, "5m"
        now = self.clock()
        with self._lock:
            live = {d for d, _, _ in breakpoints if d in self._cache and self._cache[d][0] > now}
            read = max((t for d, t, _ in breakpoints if d in live), default=0)
            if breakpoints and breakpoints[-1][0] not in live:
                creation, ttl = breakpoints[-1][1] - read, breakpoints[-1][2]
            if remember:  # a write or a read starts the entry's lifetime again
                for d, _, life in breakpoints:
                    self._cache[d] = (now + CACHE_TTLS.get(life, 300.0), CACHE_TTLS.get(life, 300.0))
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": creation if ttl != "1h" else 0,
                               "ephemeral_1h_input_tokens": creation if ttl == "1h" else 0},
        }

    def make_message(self, params: dict) -> dict:
        """The Message the API would return for valid `params`, billed to the twin's totals."""
        usage = self.bill_input(params, remember=True)
        turn = None
        if self.scenario is not None:
            number = 1 + sum(m["role"] == "assistant" for m in params["messages"])
            turn = self.scenario.turn_for(params, number, last_user_text(params, results=True))
        content, reason, sequence, out_tokens = compose(params, turn, self._take_reply(params) or None)
        usage = {**usage, "output_tokens": out_tokens, **(turn.usage if turn else {}), "service_tier": "standard"}
        with self._lock:
            self.usage["requests"] += 1
            for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                self.usage[key] += usage[key]
        key = {k: v for k, v in params.items() if k != "stream"}
        return {
            "id": "msg_" + _digest(key),
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": content,
            "stop_reason": reason,
            "stop_sequence": sequence,
            "usage": usage,
        }

    # -- batches

    def _batch_view(self, batch: dict) -> dict:
        done = batch["ended_at"] is not None
        view = {k: batch[k] for k in ("id", "type", "processing_status", "created_at", "expires_at", "ended_at",
                                      "cancel_initiated_at", "archived_at")}
        view["results_url"] = f"{batch['base']}/v1/messages/batches/{batch['id']}/results" if done else None
        counts = dict(processing=0, succeeded=0, errored=0, canceled=0, expired=0)
        if done:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch["requests"])
        view["request_counts"] = counts
        return view

    def _end_batch(self, batch: dict, canceled: bool = False) -> None:
        results = []
        for entry in batch["requests"]:
            custom_id = entry["custom_id"]
            if canceled:
                results.append({"custom_id": custom_id, "result": {"type": "canceled"}})
                continue
            fault = self._take_entry_fault(custom_id)
            try:
                if fault:
                    raise ApiError(fault.status, fault.error_type, fault.message)
                validate(entry.get("params"), models=self.models, system_messages=self.system_messages,
                         no_forced_tool=self.no_forced_tool)
                result = {"type": "succeeded", "message": self.make_message(entry["params"])}
            except ApiError as exc:
                result = {"type": "errored", "error": error_body(exc.error_type, exc.message)}
            results.append({"custom_id": custom_id, "result": result})
        batch.update(results=results, processing_status="ended", ended_at=_rfc3339(_now()))

    def _maybe_end(self, batch: dict, polled: bool) -> None:
        if batch["ended_at"]:
            return
        if batch["processing_status"] == "canceling":
            self._end_batch(batch, canceled=True)
            return
        batch["polls"] += polled
        by_polls = self.batch_polls is not None and batch["polls"] >= self.batch_polls
        by_time = self.batch_seconds is not None and time.monotonic() - batch["started"] >= self.batch_seconds
        if by_polls or by_time:
            self._end_batch(batch)

    def create_batch(self, body: dict, base: str) -> dict:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "invalid_request_error", "requests: at least one request is required")
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids):
            raise ApiError(400, "invalid_request_error",
                           "requests: every custom_id must be 1 to 64 letters, digits, '_' or '-'")
        if len(set(ids)) != len(ids):
            raise ApiError(400, "invalid_request_error", "requests: custom_id values must be unique")
        for i, r in enumerate(requests):
            if "params" not in r:
                raise ApiError(400, "invalid_request_error", f"requests.{i}.params: Field required")
        created = _now()
        batch = {
            "id": self._next_id("msgbatch_"), "type": "message_batch", "processing_status": "in_progress",
            "created_at": _rfc3339(created), "expires_at": _rfc3339(created + timedelta(hours=24)),
            "ended_at": None, "cancel_initiated_at": None, "archived_at": None,
            "requests": requests, "results": [], "polls": 0, "started": time.monotonic(), "base": base,
        }
        with self._lock:
            self.batches[batch["id"]] = batch
        return self._batch_view(batch)

    def _batch(self, batch_id: str) -> dict:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, "not_found_error", f"No batch found with id '{batch_id}'")
        return batch

    # -- HTTP

    def handle(self, h: _Handler) -> None:
        url = urlsplit(h.path)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        headers = {k.lower(): v for k, v in h.headers.items()}
        request_id = self._next_id("req_")
        entry = {"method": h.command, "path": path, "query": url.query, "headers": _redacted(headers),
                 "body": None, "status": None, "usage": None, "request_id": request_id, "fault": None,
                 "response": None}
        raw = h.rfile.read(int(headers.get("content-length") or 0))
        try:
            try:
                entry["body"] = json.loads(raw) if raw else None
            except ValueError:
                entry["body"] = raw.decode("utf-8", "replace")
                raise ApiError(400, "invalid_request_error", "The request body is not valid JSON.")
            if not _api_key(headers):
                raise ApiError(401, "authentication_error", "x-api-key header is required")
            if not headers.get("anthropic-version"):
                raise ApiError(400, "invalid_request_error", "anthropic-version: header is required")
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            body = entry["body"]
            streaming = isinstance(body, dict) and body.get("stream") is True
            fault = self._take_fault(h.command, path, streaming)
            if fault:
                entry["fault"] = fault.kind if fault.kind != "status" else fault.error_type
                if fault.kind == "slow":
                    time.sleep(fault.delay_ms / 1000)
                elif fault.kind == "late":
                    entry["late_ms"] = fault.delay_ms
                elif fault.kind == "status":
                    extra = {"retry-after-ms": str(fault.retry_after_ms)} if fault.retry_after_ms is not None else {}
                    raise ApiError(fault.status, fault.error_type, fault.message, extra)
            self._route(h, entry, path, query, body, streaming, fault)
        except ApiError as exc:
            self._send_json(h, entry, exc.status, error_body(exc.error_type, exc.message, request_id), exc.headers)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            if entry["status"] is not None or isinstance(exc, OSError):
                raise  # the answer had begun, or the client is gone
            # A shape the twin does not understand: a 500 tells the caller more than a dropped connection.
            self._send_json(h, entry, 500, error_body("api_error", f"twin: {type(exc).__name__}: {exc}", request_id))
        finally:
            if self.log_path:
                self._append_log(entry)

    def _append_log(self, entry: dict) -> None:
        line = json.dumps({"at": _rfc3339(_now()), **entry}, default=str) + "\n"
        with self._lock, open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def _validate(self, h, body, need_max_tokens: bool = True) -> None:
        betas = frozenset(b.strip() for b in (h.headers.get("anthropic-beta") or "").split(",") if b.strip())
        validate(body, need_max_tokens=need_max_tokens, betas=betas, models=self.models,
                 system_messages=self.system_messages, no_forced_tool=self.no_forced_tool)

    def _route(self, h, entry, path, query, body, streaming, fault) -> None:
        method = h.command
        if (method, path) == ("POST", "/v1/messages"):
            self._validate(h, body)
            message = self.make_message(body)
            entry["usage"] = message["usage"]
            if streaming:
                return self._send_stream(h, entry, message, fault)
            return self._send_json(h, entry, 200, message)
        if (method, path) == ("POST", "/v1/messages/count_tokens"):
            self._validate(h, body, need_max_tokens=False)
            usage = self.bill_input(body, remember=False)
            total = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
            return self._send_json(h, entry, 200, {"input_tokens": total})
        if path == "/v1/messages/batches":
            if method == "POST":
                return self._send_json(h, entry, 200, self.create_batch(body, "http://" + h.headers.get("host", "")))
            if method == "GET":
                return self._send_json(h, entry, 200, self._list_batches(query))
        match = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results|/cancel)?", path)
        if match:
            batch_id, action = match.groups()
            with self._batch_lock:
                return self._batch_action(h, entry, method, action, self._batch(batch_id))
        raise ApiError(404, "not_found_error", f"Not found: {method} {path}")

    def _batch_action(self, h, entry, method: str, action: str | None, batch: dict) -> None:
        batch_id = batch["id"]
        if method == "GET" and action is None:
            self._maybe_end(batch, polled=True)
            return self._send_json(h, entry, 200, self._batch_view(batch))
        if method == "GET" and action == "/results":
            if not batch["ended_at"]:
                raise ApiError(400, "invalid_request_error", f"Batch '{batch_id}' is still in progress.")
            lines = "".join(json.dumps(line) + "\n" for line in batch["results"])
            return self._send(h, entry, 200, lines.encode(), "application/binary")
        if method == "POST" and action == "/cancel":
            if batch["processing_status"] == "in_progress":
                batch.update(processing_status="canceling", cancel_initiated_at=_rfc3339(_now()))
            return self._send_json(h, entry, 200, self._batch_view(batch))
        if method == "DELETE" and action is None:
            if not batch["ended_at"]:
                raise ApiError(400, "invalid_request_error", "A batch must end before it can be deleted.")
            with self._lock:
                del self.batches[batch_id]
            return self._send_json(h, entry, 200, {"id": batch_id, "type": "message_batch_deleted"})
        raise ApiError(404, "not_found_error", f"Not found: {method} batch {batch['id']}{action or ''}")

    def _list_batches(self, query: dict) -> dict:
        with self._lock:
            batches = list(self.batches.values())[::-1]  # newest first
        ids = [b["id"] for b in batches]
        if "after_id" in query and query["after_id"][0] in ids:
            batches = batches[ids.index(query["after_id"][0]) + 1:]
        elif "before_id" in query and query["before_id"][0] in ids:
            batches = batches[:ids.index(query["before_id"][0])]
        limit = int(query.get("limit", ["20"])[0])
        page = [self._batch_view(b) for b in batches[:limit]]
        return {"data": page, "has_more": len(batches) > limit,
                "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}

    def _record(self, entry: dict, status: int) -> None:
        # Logged before the body goes out: a caller that has its answer always finds its request here.
        entry["status"] = status
        with self._lock:
            self.log.append(entry)

    def _send(self, h, entry, status: int, payload: bytes, content_type: str, extra: dict | None = None) -> None:
        self._record(entry, status)
        if entry.get("late_ms"):
            time.sleep(entry["late_ms"] / 1000)
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(payload)))
        h.send_header("request-id", entry["request_id"])
        for name, value in (extra or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)

    def _send_json(self, h, entry, status: int, body: dict, extra: dict | None = None) -> None:
        entry["response"] = body
        self._send(h, entry, status, json.dumps(body).encode(), "application/json", extra)

    def _send_stream(self, h, entry, message: dict, fault: Fault | None) -> None:
        """SSE over a chunked body, so that a cut-off stream is an error for the client, not an end."""
        self._record(entry, 200)
        h.send_response(200)
        h.send_header("content-type", "text/event-stream; charset=utf-8")
        h.send_header("transfer-encoding", "chunked")
        h.send_header("cache-control", "no-cache")
        h.send_header("request-id", entry["request_id"])
        h.end_headers()

        def frame(event: str, data) -> None:
            line = data if isinstance(data, str) else json.dumps(data)
            payload = f"event: {event}\ndata: {line}\n\n".encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            h.wfile.flush()

        entry["response"] = message
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {**usage, "output_tokens": 1}}
        frame("message_start", {"type": "message_start", "message": start})
        events = stream_events(message["content"])
        count = sum(e["type"] == "content_block_delta" for e in events)
        # A stream fault strikes after `after_deltas` deltas, or after the last one for short answers.
        strike = min(fault.after_deltas, count) if fault and fault.kind in STREAM_FAULTS else None
        sent, ended = 0, True
        for i, event in enumerate(events):
            frame(event["type"], event)
            if i == 0:
                frame("ping", {"type": "ping"})  # as the API does, once the first block has started
            sent += event["type"] == "content_block_delta"
            if event["type"] != "content_block_delta" or sent != strike:
                continue
            if fault.kind == "cut":
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.kind == "stream_error":
                frame("error", error_body(fault.error_type, fault.message, entry["request_id"]))
                ended = False
                break
            frame("content_block_delta", '{"type": "content_block_delta", "index": 0, "delta": {"type": "te')
        if ended:
            frame("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": message["stop_reason"],
                                              "stop_sequence": message["stop_sequence"]},
                                    "usage": {"output_tokens": usage["output_tokens"]}})
            frame("message_stop", {"type": "message_stop"})
        h.wfile.write(b"0\r\n\r\n")


def _api_key(headers: dict) -> str:
    key = headers.get("x-api-key", "").strip()
    auth = headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key


def _redacted(headers: dict) -> dict:
    out = dict(headers)
    if "x-api-key" in out:
        out["x-api-key"] = "[redacted]"
    if "authorization" in out:
        scheme = out["authorization"].split(" ", 1)[0]
        out["authorization"] = f"{scheme} [redacted]"
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not overflow the listen backlog
    twin: Twin

    def handle_error(self, request, client_address) -> None:
        import sys
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are not errors
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the SDK's pool expects
    server_version = "anthropic-twin"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.twin._lock:
            self.server.twin._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.twin._lock:
            self.server.twin._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self.server.twin.handle(self)

    do_POST = do_DELETE = do_GET

    def log_message(self, format, *args) -> None:  # the twin's log is `Twin.log`
        pass


@contextlib.contextmanager
def running_twin(**kw):
    """A started twin for the duration of a `with` block (or a pytest fixture's `yield`)."""
    twin = Twin(**kw).start()
    try:
        yield twin
    finally:
        twin.stop()


def serve(host: str = "127.0.0.1", port: int = 8765, latency_ms: int = 0, **kw) -> None:
    """Run a twin in the foreground until Ctrl-C or SIGTERM (for `cockpit twin`)."""
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C, log complete
    twin = Twin(latency_ms=latency_ms, **kw).start(host, port)
    print(f"Anthropic twin listening on {twin.url}  (ANTHROPIC_BASE_URL={twin.url})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        twin.stop()
