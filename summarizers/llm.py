"""The LLM summarizer: Claude writes the summary rungs of a pyramid the structural build made.

It runs after `cockpit.core.pyramid.build`, bottom-up: one request per file (its symbols
as `<node>` blocks holding their code, nested definitions left to their own blocks,
and the file's block: its doc, imports and top-level names, or its text when nothing
was outlined; big files in chunks), then one per directory (its parts' summaries,
never code), then the repository. Outlines, their token counts, source counts and
the tree stay as the structural build made them; only the six summaries and their
counts change, and the node's `summarizer` becomes "llm/<model>/<prompt version>".

Every answer is kept under (node id, input hash, model, prompt version), so the same
input is never paid for twice. The input hash covers what was sent for the node: a
symbol's own lines; a file's block and content hash; a directory's parts and their
summaries (a Merkle hash over summaries). A re-run with nothing changed makes no
call; after one edit, that file (with only those symbols whose lines changed) is
asked again, then the directories above it if its summaries changed.

Answers come as the input of a tool call the request forces (`prompts.TOOL`), so the API
hands back the JSON itself; a model or endpoint that refuses forced tools is asked for
text, which is parsed. Answers are validated (every id, each rung within its budget);
what is invalid is asked once more, then left extractive, and that failure is kept under
the same key as an answer: the node is not asked again until its input changes, the
failure is older than `retry_failed_after`, or the caller says `retry_failed`. Calls go
through `AsyncAnthropic` with bounded concurrency, the SDK's retries and our own waits
when rate limits outlast them; the shared prefix (tool, instructions, and examples where
they pay) is marked for caching where it reaches the model's minimum (`prefix_plan`).
Secrets are redacted from all that is sent. Every call is written to the ledger before and after it is made, and a spend
cap stops the run before a call could pass it. With `batch`, the files go in one
Message Batch at half price; a batch a run did not see end is picked up by the next.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import secrets
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cache.process import process_alive
from cache.store import Store
from summarizers import models, prompts, tokens
from summarizers.prompts import DEFAULT_CONCURRENCY, DEFAULT_MODEL  # noqa: F401 (re-exported)
from summarizers.usage import usage_fields

if TYPE_CHECKING:
    import anthropic  # loaded on first use: importing the SDK takes most of a second


class CallLedger(Protocol):
    """Where every call is written, before and after it is made: handed in by the caller (Cockpit's
    ledger), so that this package knows nothing of spend and no call goes unrecorded."""

    pricing: Any  # .price(model) and .estimate(model, system, input, max_tokens, batched)

    def start(self, job: str, node_ids: list[str], model: str, batched: bool = False,
              batch_id: str | None = None) -> int: ...

    def finish(self, row_id: int, model: str, outcome: str, usage=None, latency_ms: int | None = None,
               retries: int = 0, error: str | None = None, request_id: str | None = None,
               batched: bool = False) -> float | None: ...

    def settle_interrupted(self) -> int: ...

CHUNK_TOKENS = 4000  # code per file request: keeps a request to a few thousand tokens
BLOCK_TOKENS = 2000  # one block at most: the head of a huge function says what it is
MAX_NODES = 32  # nodes per request, which bounds the answer's length (about 7k tokens)
OUTPUT_PER_NODE = 320  # max_tokens per node: six rungs (126 words at most) and their JSON
RATE_LIMIT_WAITS = (2.0, 8.0, 30.0)  # our own waits once the SDK's retries are spent
INPUT_MARGIN = 1.1  # tiktoken only approximates Claude's tokenizer: estimate high
MESSAGE_OVERHEAD = 8  # tokens for role and turn markers
RETRY_FAILED_AFTER = 7 * 86400.0  # seconds before a node whose answer failed is asked again anyway
CACHE_READ_SHARE = 0.1  # a cached prefix is read at a tenth of the input price


@dataclass
class LLMStats:
    calls: int = 0  # API calls made (the SDK's retries inside a call are `sdk_retries`)
    batch_requests: int = 0  # requests sent in Message Batches
    sdk_retries: int = 0
    failed_calls: int = 0
    asked: int = 0  # nodes whose ladder an answer gave in this run
    reused: int = 0  # nodes given a ladder from an earlier answer to the same input
    fallback: list[str] = field(default_factory=list)  # nodes left extractive after failures
    waiting: list[str] = field(default_factory=list)  # not asked: their answer to the same input failed before
    text_answers: bool = False  # the model refused the forced tool: answers were asked for as text
    left: list[str] = field(default_factory=list)  # nodes not reached: the spend cap stopped the run
    capped: bool = False
    refused_estimate: float = 0.0  # the worst case of the call the cap refused
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = 0.0  # None when the model has no known price
    seconds: float = 0.0

    def describe(self) -> str:
        cost = "unpriced" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        batched = f" and {self.batch_requests} batched requests" if self.batch_requests else ""
        text = (f"llm: {self.calls} calls{batched}, {self.asked} nodes summarized, {self.reused} reused; "
                f"{self.input_tokens + self.cache_write_tokens + self.cache_read_tokens} input tokens "
                f"({self.cache_read_tokens} cached), {self.output_tokens} output, {cost} in {self.seconds:.1f}s")
        if self.fallback:
            text += f"; {len(self.fallback)} nodes left extractive after errors"
        if self.waiting:
            text += (f"; {len(self.waiting)} nodes waiting on a failed answer (asked again when they change, or "
                     "with --retry-failed)")
        if self.capped:
            text += f"; spend cap reached, {len(self.left)} nodes not summarized"
        return text


def label(model: str, kind: str) -> str:
    """The `summarizer` of a node an LLM summarized."""
    return f"llm/{model}/{prompts.version(kind)}"


def prefix_plan(model: str, tools: bool = True) -> tuple[list[dict], bool]:
    """The system blocks of every request to `model`, and whether they end a cached prefix.

    The API caches a prefix only from the model's minimum length on (`models.cache_minimum`). The
    instructions alone (with the tool) are too short for every model; the worked examples make
    them long enough for some. Examples are sent where the prefix with them reaches the minimum
    and reading it from the cache costs less than sending the lean prefix in full; elsewhere the
    lean prefix goes unmarked, since padding it up to the minimum would cost more than it saves.
    """
    lean = tokens.count(prompts.SYSTEM) + (tokens.count(json.dumps(prompts.TOOL)) if tools else 0)
    full = lean + tokens.count(prompts.EXAMPLES)
    mark = {"cache_control": {"type": "ephemeral"}}
    if models.caches(model, lean):
        return [{"type": "text", "text": prompts.SYSTEM, **mark}], True
    if models.caches(model, full) and CACHE_READ_SHARE * full < lean:
        return [{"type": "text", "text": prompts.SYSTEM}, {"type": "text", "text": prompts.EXAMPLES, **mark}], True
    return [{"type": "text", "text": prompts.SYSTEM}], False


# --- secrets ----------------------------------------------------------------------------

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\Z)",
                          re.DOTALL)
# Each pattern's `keep` group (where there is one) stays; the rest of the match is replaced.
_SECRETS = [
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"(?i)(?P<keep>aws_secret_access_key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{16,}"),
    re.compile(r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9\-._~+/]{12,}=*"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # Anthropic, OpenAI and Stripe style keys
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z\-_]{35}"),  # Google
]
# name = value, name: value, "name": "value" where the name says key, token, secret or password
_ASSIGNMENT = re.compile(
    r"(?i)([\w.-]*(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|credential|auth[_-]?key|private[_-]?key|"
    r"access[_-]?key)[\w.-]*[\"']?\s*(?::=|=>|[:=])\s*(?:[rbuf]{1,2}(?=[\"']))?[\"']?)([A-Za-z0-9_\-+/=.~]{16,})")


def _entropy(text: str) -> float:
    return -sum(n / len(text) * math.log2(n / len(text)) for n in Counter(text).values())


def _looks_random(value: str) -> bool:
    """Long, with letters and digits, and high entropy: a key, not an identifier or a sentence."""
    return (len(value) >= 16 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and _entropy(value) >= 3.0)


def redact(text: str) -> str:
    """`text` with whatever looks like a secret replaced by [REDACTED]."""
    text = _PRIVATE_KEY.sub("[REDACTED PRIVATE KEY]", text)
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: (m.groupdict().get("keep") or "") + "[REDACTED]", text)
    return _ASSIGNMENT.sub(lambda m: m.group(1) + ("[REDACTED]" if _looks_random(m.group(2)) else m.group(2)), text)


# --- what is sent -----------------------------------------------------------------------


@dataclass
class _Item:
    """One node in a request: its block's body and the hash that keys its answer."""

    node: dict
    body: str
    salt: str = ""  # more of the input than the body shows

    def __post_init__(self):
        self.body = redact(self.body)
        self.input_hash = hashlib.blake2b((self.salt + "\0" + self.body).encode(), digest_size=16).hexdigest()
        self.tokens = tokens.count(self.body)


def _cap(text: str, limit: int = BLOCK_TOKENS) -> str:
    enc = tokens.encoding()
    ids = enc.encode_ordinary(text)
    if len(ids) <= limit:
        return text
    head = enc.decode(ids[:limit])
    head = head[: head.rfind("\n")] if "\n" in head else head
    return f"{head}\n... ({len(ids) - limit} more tokens not shown)"


def _symbol_body(lines: list[str], node: dict, kids: list[dict]) -> str:
    """A symbol's source without its nested definitions: they come in blocks of their own, and
    sending them twice would double what a class costs."""
    out, at = [], node["start_line"]
    for kid in sorted(kids, key=lambda k: k["start_line"]):
        if kid["start_line"] >= at:
            out += lines[at - 1 : kid["start_line"] - 1]
            at = kid["end_line"] + 1
    out += lines[at - 1 : node["end_line"]]
    text = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", "\n".join(out).strip("\n"))  # where kids were: one blank line
    return _cap(textwrap.dedent(text))


def _file_body(node: dict, text: str, imports: list[str], top: list[dict]) -> str:
    """What a file's block says besides its symbols' blocks: doc, imports, top-level definitions."""
    if not top:  # nothing outlined (a script, a config, prose): the text itself
        return _cap(text)
    parts = []
    if node["doc"]:
        parts.append("doc: " + _cap(node["doc"], 200))
    if imports:
        parts.append("imports: " + ", ".join(imports[:30]))
    parts.append("defines: " + _cap(", ".join(f"{n['kind']} {n['name']}" for n in top), 400))
    return "\n".join(parts)


def _dir_body(node: dict, kids: list[dict]) -> str:
    rung = 4 if len(kids) <= 24 else 3 if len(kids) <= 80 else 2  # 32, 16 or 8 words a part
    what = "repository" if node["kind"] == "repo" else "directory"
    lines = [f"{what} {node['name']}/ with {len(kids)} parts:"]
    for kid in kids:
        name = kid["name"] + ("/" if kid["kind"] == "dir" else "")
        lines.append(f"- {name} ({kid['kind']}): {kid['summaries'][rung] if kid['summaries'] else ''}")
    return _cap("\n".join(lines), 2 * BLOCK_TOKENS)


def _chunks(items: list[_Item]) -> list[list[_Item]]:
    """Requests of at most CHUNK_TOKENS of blocks and MAX_NODES nodes, in order."""
    chunks: list[list[_Item]] = [[]]
    size = 0
    for item in items:
        if chunks[-1] and (size + item.tokens > CHUNK_TOKENS or len(chunks[-1]) >= MAX_NODES):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item.tokens
    return [c for c in chunks if c]


def parse_answer(answer: str | dict, ids: list[str], path: str | None = None
                 ) -> tuple[dict[str, list[str]], str | None]:
    """The valid ladders of an answer (a tool call's input, or text holding JSON), by node id, and
    what was wrong with the rest (None: nothing).

    `path`: the file of a file request, whose symbols the prompt named "::Name"."""
    if isinstance(answer, dict):
        data = answer
    else:
        body = answer.strip()
        start, end = body.find("{"), body.rfind("}")  # tolerate a code fence or a stray word around the JSON
        try:
            data = json.loads(body[start : end + 1]) if start >= 0 else None
        except ValueError:
            data = None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return {}, "not a JSON object with 'nodes'"
    answers = {prompts.full_id(k, path): v for k, v in data["nodes"].items()}
    valid, problems = {}, []
    for node_id in ids:
        ladder = answers.get(node_id)
        if not isinstance(ladder, dict):
            problems.append(f"{prompts.short_id(node_id, path)}: missing")
            continue
        rungs = [" ".join(str(ladder.get(str(b)) or "").split()) for b in prompts.BUDGETS]
        bad = [b for b, rung in zip(prompts.BUDGETS, rungs) if not rung or len(rung.split()) > b]
        if bad:
            problems.append(f"{prompts.short_id(node_id, path)}: rungs {bad} empty or too long")
        else:
            valid[node_id] = rungs
    return valid, "; ".join(problems) or None


def answer_of(message) -> str | dict:
    """What an answer says: the input of its forced tool call, else its text."""
    found = models.tool_input(message, prompts.TOOL_NAME)
    return found if found is not None else models.answer_text(message)


# --- the run ------------------------------------------------------------------------------


class _Capped(Exception):
    pass


_TOOLS_REFUSED = "tools refused"  # what `_request` returns when the model will not be forced to a tool


class NoApiKey(Exception):
    """No key to call the API with."""


class _Run:
    def __init__(self, root: str, store: Store, client: anthropic.AsyncAnthropic, model: str, ledger: CallLedger,
                 concurrency: int, max_cost: float | None, job: str, subpath: str, batch: bool, poll_seconds: float,
                 retry_failed: bool, retry_failed_after: float):
        self.root, self.store, self.client, self.model, self.ledger = root, store, client, model, ledger
        self.max_cost, self.job, self.subpath = max_cost, job, subpath.strip("/")
        self.batch, self.poll_seconds = batch, poll_seconds
        self.retry_failed, self.retry_failed_after = retry_failed, retry_failed_after
        self.prefetched: set[tuple[str, str]] = set()  # (id, input hash) answered by a batch in this run
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.stats = LLMStats()
        self.committed = 0.0  # spent, plus the worst case of calls in flight
        self.versions = {kind: prompts.version(kind) for kind in ("file", "dir")}
        self.labels = {kind: label(model, kind) for kind in ("file", "dir")}
        self._use_tools(models.takes_forced_tool(model))

    def _use_tools(self, tools: bool) -> None:
        """Ask for answers as a forced tool call (or, when the model refuses that, as text)."""
        self.tools = tools
        self.stats.text_answers = not tools
        self.system, _ = prefix_plan(self.model, tools)
        self.system_tokens = sum(tokens.count(b["text"]) for b in self.system) + (
            tokens.count(json.dumps(prompts.TOOL)) if tools else 0)

    def _under(self, path: str) -> bool:
        return not self.subpath or path == self.subpath or path.startswith(self.subpath + "/")

    async def run(self) -> LLMStats:
        started = time.perf_counter()
        nodes = self.store.nodes()
        self.children: dict[str, list[dict]] = {}
        symbols: dict[str, list[dict]] = {}
        for node in nodes:
            if node["kind"] in ("file", "dir"):
                self.children.setdefault(node["parent"], []).append(node)
            elif node["kind"] != "repo":
                symbols.setdefault(node["path"], []).append(node)
        imports = {f["path"]: f["imports"] for f in self.store.files()}
        files = [(n, symbols.get(n["path"], []), imports.get(n["path"], [])) for n in nodes
                 if n["kind"] == "file" and self._under(n["path"])]
        files.sort(key=lambda f: f[0]["path"])  # by path, not by the order the build happened to store them
        await self._adopt_orphans()
        for batch_id, entries in self.store.pending_batches(self.model):  # paid for already: pick them up
            await self._collect(batch_id, entries, reserved=False)
        if self.batch:
            await self._batch(files)  # answers land in the cache of answers, where the files find them
        tasks: dict[str, asyncio.Task] = {}
        for node, node_symbols, node_imports in files:
            tasks[node["id"]] = asyncio.ensure_future(self._file(node, node_symbols, node_imports))
        dirs = [n for n in nodes if n["kind"] in ("dir", "repo") and self._under(n["id"])]
        for node in sorted(dirs, key=lambda n: -(n["id"].count("/") + 1 if n["id"] else 0)):
            kids = [tasks[k["id"]] for k in self.children.get(node["id"], []) if k["id"] in tasks]
            tasks[node["id"]] = asyncio.ensure_future(self._dir(node, kids))
        try:
            await asyncio.gather(*tasks.values())
        finally:
            for task in tasks.values():
                task.cancel()  # after a failure, or when the run itself is cancelled
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self.stats.left = list(dict.fromkeys(self.stats.left))  # a batch and then its file may both refuse one
            self.stats.seconds = time.perf_counter() - started
        return self.stats

    # -- files and directories

    async def _file(self, node: dict, symbols: list[dict], imports: list[str]) -> None:
        ask = self._reuse("file", self._file_items(node, symbols, imports))
        await asyncio.gather(*(self._ask("file", chunk) for chunk in _chunks(ask)))

    def _file_items(self, node: dict, symbols: list[dict], imports: list[str]) -> list[_Item]:
        """The file's nodes an LLM has not summarized yet, with their blocks."""
        todo = [n for n in [node] + symbols if n["summarizer"] != self.labels["file"]]
        if not todo:
            return []
        try:
            with open(os.path.join(self.root, node["path"]), "rb") as fh:
                lines = fh.read().decode("utf-8", errors="replace").split("\n")
        except OSError:
            return []  # gone since the build: the next build removes it
        kids: dict[str, list[dict]] = {}
        for s in symbols:
            kids.setdefault(s["parent"], []).append(s)
        items = [_Item(n, _symbol_body(lines, n, kids.get(n["id"], []))) for n in todo if n is not node]
        if node in todo:  # the file last: its block closes the last request
            # Keyed by the file's content hash: any edit re-asks the file, and so its directories.
            top = [s for s in symbols if s["parent"] == node["id"]]
            items.append(_Item(node, _file_body(node, "\n".join(lines), imports, top), node["hash"]))
        return items

    async def _dir(self, node: dict, kid_tasks: list[asyncio.Task]) -> None:
        await asyncio.gather(*kid_tasks)
        if self.stats.capped:
            self.stats.left.append(node["id"])
            return
        item = _Item(node, _dir_body(node, self.children.get(node["id"], [])))
        if self._reuse("dir", [item]):
            await self._ask("dir", [item])

    def _reuse(self, kind: str, items: list[_Item]) -> list[_Item]:
        """Give `items` the ladders of earlier answers to the same input; returns those left to ask."""
        version = self.versions[kind]
        known = self.store.llm_summaries(self.model, version, [(i.node["id"], i.input_hash) for i in items])
        reused = {i.node["id"]: known[(i.node["id"], i.input_hash)] for i in items
                  if (i.node["id"], i.input_hash) in known}
        stale = [i for i in items if i.node["id"] in reused
                 and (i.node["summaries"] != reused[i.node["id"]] or i.node["summarizer"] != self.labels[kind])]
        self._apply(kind, stale, reused, new=False)
        self.stats.reused += sum((i.node["id"], i.input_hash) not in self.prefetched for i in stale)
        left = [i for i in items if i.node["id"] not in reused]
        if left and not self.retry_failed:
            failed = self.store.failed_answers(self.model, version, [(i.node["id"], i.input_hash) for i in left],
                                               since=time.time() - self.retry_failed_after)
            self.stats.waiting += [i.node["id"] for i in left if (i.node["id"], i.input_hash) in failed]
            left = [i for i in left if (i.node["id"], i.input_hash) not in failed]
        return left

    async def _ask(self, kind: str, items: list[_Item]) -> None:
        """One request; what its answer lacks is asked once more, then left extractive."""
        ladders: dict[str, list[str]] = {}
        capped, problems = False, []
        try:
            answer = await self._call(kind, items, problems=problems)
            ladders.update(answer or {})
            missing = [i for i in items if i.node["id"] not in ladders]
            if answer is not None and missing:  # a call that failed outright was retried by the SDK already
                ladders.update(await self._call(kind, missing, retry=True, problems=problems) or {})
        except _Capped:
            capped = True
        self._apply(kind, [i for i in items if i.node["id"] in ladders], ladders, new=True)
        unanswered = [i for i in items if i.node["id"] not in ladders]
        if capped:
            self.stats.left += [i.node["id"] for i in unanswered]
            return
        self.stats.fallback += [i.node["id"] for i in unanswered]
        if problems and unanswered:  # answered, but not validly: not worth paying for again as it is
            self.store.write_failures(self.model, self.versions[kind],
                                      [(i.node["id"], i.input_hash, problems[-1]) for i in unanswered])

    def _apply(self, kind: str, items: list[_Item], ladders: dict[str, list[str]], new: bool) -> None:
        if not items:
            return
        rows, updates = [], []
        for item in items:
            node, rungs = item.node, ladders[item.node["id"]]
            counts = tokens.count_many(rungs) + (list(node["tokens"][6:8]) + [None, None])[:2]
            node.update(summaries=rungs, tokens=counts, summarizer=self.labels[kind])
            rows.append((node["id"], item.input_hash, rungs))
            updates.append((node["id"], node["hash"], rungs, counts, self.labels[kind]))
        self.store.write_llm_summaries(self.model, self.versions[kind], rows if new else [], updates)
        if new:
            self.stats.asked += len(items)

    # -- one call

    async def _call(self, kind: str, items: list[_Item], retry: bool = False,
                    problems: list[str] | None = None) -> dict[str, list[str]] | None:
        """The valid ladders of one answer, or None when the call failed; what was wrong with an answer
        is appended to `problems`. Raises _Capped."""
        if self.stats.capped:
            raise _Capped
        ids = [i.node["id"] for i in items]
        params, path, estimate = self._params(kind, items, retry)
        reserved = 0.0
        try:
            for wait in (*RATE_LIMIT_WAITS, None):
                async with self.semaphore:
                    if ("tools" in params) != self.tools:  # another call learnt the model refuses them
                        params, path, estimate = self._params(kind, items, retry)
                    if not reserved:
                        reserved = self._reserve(estimate)  # when the call goes out, not while it queues
                    result = await self._request(ids, params)
                if result == _TOOLS_REFUSED:  # not billed: ask again, for text
                    self._use_tools(False)
                    continue
                if not isinstance(result, float):
                    break
                if wait is None:
                    return None
                await asyncio.sleep(result or wait)  # the API's retry-after when it gave one
            if result is None:
                return None
            message, retries, request_id, latency_ms, row = result
            ladders, problem = parse_answer(answer_of(message), ids, path)
            if problem and problems is not None:
                problems.append(problem)
            outcome = "failed" if problem else "retried" if retries else "ok"
            error = f"invalid answer ({message.stop_reason}): {problem}"[:500] if problem else None
            cost = self.ledger.finish(row, self.model, outcome, message.usage, latency_ms, retries, error, request_id)
            self._count(message.usage, cost, failed=bool(problem))
            self.committed += cost or 0.0
            return ladders
        finally:
            self.committed -= reserved

    def _params(self, kind: str, items: list[_Item], retry: bool = False, batched: bool = False):
        """(request params, the file of a file request, the call's worst-case cost)."""
        what = "Repository" if items[0].node["kind"] == "repo" else "Directory"
        path = items[0].node["path"] if kind == "file" else None  # a file request holds one file's nodes
        text = prompts.request(kind, [prompts.block(i.node["id"], i.body, path) for i in items],
                               path or items[0].node["id"], what)
        max_tokens = 64 + OUTPUT_PER_NODE * len(items) * (2 if retry else 1)  # a retry may follow a cut answer
        estimate = self.ledger.pricing.estimate(
            self.model, self.system_tokens, int(tokens.count(text) * INPUT_MARGIN) + MESSAGE_OVERHEAD, max_tokens,
            batched)
        params = {"model": self.model, "max_tokens": max_tokens, "system": self.system,
                  "messages": [{"role": "user", "content": text}]}
        if self.tools:
            params.update(tools=[prompts.TOOL], tool_choice=models.forced(prompts.TOOL_NAME))
        return params, path, estimate

    # -- Message Batches

    async def _batch(self, files: list[tuple[dict, list[dict], list[str]]]) -> None:
        """Ask for every file in one Message Batch (half price), and wait for its results."""
        requests, entries = [], {}
        token = secrets.token_hex(4)
        for node, symbols, imports in files:
            for chunk in _chunks(self._reuse("file", self._file_items(node, symbols, imports))):
                params, path, estimate = self._params("file", chunk, batched=True)
                ids = [i.node["id"] for i in chunk]
                try:
                    self._reserve(estimate)
                except _Capped:
                    self.stats.left += ids
                    continue
                custom_id = f"{token}-r{len(requests)}"  # the token ties an orphaned batch to its entries
                requests.append({"custom_id": custom_id, "params": params})
                entries[custom_id] = {"ids": ids, "hashes": [i.input_hash for i in chunk], "path": path,
                                      "version": self.versions["file"], "estimate": estimate,
                                      "row": self.ledger.start(self.job, ids, self.model, batched=True)}
        if not requests:
            return
        import anthropic

        # Saved before it is created: a process killed before it hears the batch's id leaves this row,
        # which the next run matches to the batch the API lists (`_adopt_orphans`) instead of paying again.
        provisional = f"creating-{token}"
        self.store.save_batch(provisional, self.job, self.model, entries, state=f"creating:{os.getpid()}")
        try:
            batch = await self.client.messages.batches.create(requests=requests)
        except (anthropic.APIError, OSError, ValueError, _transport_error()) as exc:
            if isinstance(exc, anthropic.APIStatusError):  # refused: no batch exists (else one may: keep the row)
                self.store.forget_batch(provisional, "refused")
            for entry in entries.values():  # the files are asked one by one instead
                self.ledger.finish(entry["row"], self.model, "failed", error=_describe(exc)[:500], batched=True)
                self.committed -= entry["estimate"] if self.max_cost is not None else 0.0
            return
        self.store.batch_created(provisional, batch.id)
        self.stats.batch_requests += len(requests)
        for entry in entries.values():
            self.store.ledger_update(entry["row"], {"batch_id": batch.id})
        await self._collect(batch.id, entries, reserved=self.max_cost is not None)

    async def _adopt_orphans(self) -> None:
        """Find the batches of runs that died between creating a batch and saving its id, among those the
        API lists: the one created near the saved time, with as many requests, that we do not know."""
        orphans = [o for o in self.store.creating_batches(self.model) if not _alive_elsewhere(o[1])]
        if not orphans:
            return
        known = self.store.batch_ids()
        listed = (await self.client.messages.batches.list(limit=100)).data
        for provisional, _, created_at, entries in orphans:
            fits = [b for b in listed if b.id not in known and abs(b.created_at.timestamp() - created_at) < 600
                    and sum(b.request_counts.model_dump().values()) == len(entries)]
            if fits:
                batch = min(fits, key=lambda b: abs(b.created_at.timestamp() - created_at))
                self.store.batch_created(provisional, batch.id)  # its results carry the entries' custom ids
                for entry in entries.values():
                    self.store.ledger_update(entry["row"], {"batch_id": batch.id})
                known.add(batch.id)
            elif time.time() - created_at > 86400:  # no batch was made, or the API no longer lists it
                self.store.forget_batch(provisional)

    async def _collect(self, batch_id: str, entries: dict, reserved: bool) -> None:
        """Wait for a batch to end and keep its answers; an interrupted wait is resumed by the next run."""
        wait = self.poll_seconds
        while (batch := await self.client.messages.batches.retrieve(batch_id)).processing_status != "ended":
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, 300.0)
        latency_ms = int((batch.ended_at - batch.created_at).total_seconds() * 1000) if batch.ended_at else None
        async for line in await self.client.messages.batches.results(batch_id):
            entry = entries.get(line.custom_id)
            if entry is None:
                continue
            if reserved:
                self.committed -= entry["estimate"]
            result = line.result
            if result.type != "succeeded":
                error = getattr(getattr(result, "error", None), "error", None)
                self.ledger.finish(entry["row"], self.model, "cancelled" if result.type in ("canceled", "expired")
                                   else "failed", latency_ms=latency_ms, batched=True,
                                   error=f"{result.type}: {getattr(error, 'type', '')} {getattr(error, 'message', '')}"[:500])
                continue
            message = result.message
            ladders, problem = parse_answer(answer_of(message), entry["ids"], entry["path"])
            cost = self.ledger.finish(entry["row"], self.model, "failed" if problem else "ok", message.usage,
                                      latency_ms, error=f"invalid answer: {problem}"[:500] if problem else None,
                                      request_id=message.id, batched=True)
            self._count(message.usage, cost, failed=bool(problem))
            self.committed += (cost or 0.0) if reserved else 0.0
            answered = [(i, h, ladders[i]) for i, h in zip(entry["ids"], entry["hashes"]) if i in ladders]
            self.store.write_llm_summaries(self.model, entry["version"], answered, [])
            self.prefetched.update((i, h) for i, h, _ in answered)
            self.stats.asked += len(answered)
        self.store.batch_done(batch_id)

    def _reserve(self, estimate: float | None) -> float:
        """Hold a call's worst case against the cap; raises _Capped if it could pass it."""
        if self.stats.capped:
            raise _Capped
        if self.max_cost is None:
            return 0.0
        if self.committed + estimate > self.max_cost:
            self.stats.capped, self.stats.refused_estimate = True, estimate
            raise _Capped
        self.committed += estimate
        return estimate

    async def _request(self, ids: list[str], params: dict):
        """(message, SDK retries, request id, latency, ledger row); None when it failed; when rate limited,
        the seconds the API asked to wait (0.0 if it did not say)."""
        import anthropic

        row = self.ledger.start(self.job, ids, self.model)
        started = time.perf_counter()
        self.stats.calls += 1
        try:
            raw = await self.client.messages.with_raw_response.create(**params)
            message = await raw.parse()
        except asyncio.CancelledError:
            self.ledger.finish(row, self.model, "cancelled", latency_ms=_ms(started))
            raise
        except (anthropic.APIError, OSError, ValueError, _transport_error()) as exc:
            # ValueError: a malformed body (json.JSONDecodeError); the transport's own errors pass unwrapped.
            self.ledger.finish(row, self.model, "failed", latency_ms=_ms(started), error=_describe(exc)[:500],
                               request_id=getattr(exc, "request_id", None))
            if isinstance(exc, anthropic.BadRequestError) and "tools" in params \
                    and models.refuses_forced_tool(str(exc)):
                return _TOOLS_REFUSED
            self.stats.failed_calls += 1
            return _retry_after(exc.response.headers) if isinstance(exc, anthropic.RateLimitError) else None
        except Exception as exc:  # a bug, not a failure of the API: recorded, then raised
            self.ledger.finish(row, self.model, "failed", latency_ms=_ms(started), error=_describe(exc)[:500])
            raise
        self.stats.sdk_retries += raw.retries_taken
        return message, raw.retries_taken, raw.headers.get("request-id"), _ms(started), row

    def _count(self, usage, cost: float | None, failed: bool) -> None:
        fields = usage_fields(usage)
        for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
            setattr(self.stats, name, getattr(self.stats, name) + fields[name])
        self.stats.cost_usd = None if cost is None or self.stats.cost_usd is None else self.stats.cost_usd + cost
        self.stats.failed_calls += failed


def _alive_elsewhere(state: str) -> bool:
    """Whether the process creating a batch (state "creating:<pid>") is another one, still alive."""
    pid = int(state.partition(":")[2] or 0)
    return pid != os.getpid() and process_alive(pid)


def _retry_after(headers) -> float:
    for name, scale in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return max(0.0, float(headers.get(name)) / scale)
        except (TypeError, ValueError):
            pass
    return 0.0


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {exc}"


def _transport_error() -> type[BaseException]:
    """The HTTP library's base error: the SDK lets some (a cut stream) through unwrapped."""
    import anthropic
    from anthropic import _base_client

    return getattr(getattr(_base_client, "httpx2", None) or getattr(_base_client, "httpx", None), "HTTPError",
                   anthropic.APIError)


# --- entry points -----------------------------------------------------------------------


def default_job() -> str:
    return time.strftime("summarize-%Y%m%d-%H%M%S")


async def llm_summarize(root: str, store: Store, client: anthropic.AsyncAnthropic, model: str = DEFAULT_MODEL, *,
                        ledger: CallLedger, concurrency: int = DEFAULT_CONCURRENCY,
                        max_cost: float | None = None, job: str | None = None, subpath: str = "",
                        batch: bool = False, poll_seconds: float = 30.0, retry_failed: bool = False,
                        retry_failed_after: float = RETRY_FAILED_AFTER) -> LLMStats:
    """Replace the summary rungs of the cached pyramid of `root` with Claude's, where they are stale.

    `batch`: ask for the files through one Message Batch (half price, answers within hours), polled
    every `poll_seconds` or more; a batch a run did not see end is picked up by the next run.
    `retry_failed`: ask again for nodes whose answer to the same input failed validation, which are
    otherwise left alone for `retry_failed_after` seconds.
    """
    ledger.settle_interrupted()
    if max_cost is not None and ledger.pricing.price(model) is None:
        raise ValueError(f"no price known for model {model!r}: cannot keep to a spend cap (add it to pricing.json)")
    return await _Run(root, store, client, model, ledger, concurrency, max_cost, job or default_job(), subpath,
                      batch, poll_seconds, retry_failed, retry_failed_after).run()


def summarize(root: str, store: Store, ledger: CallLedger, model: str = DEFAULT_MODEL,
              concurrency: int = DEFAULT_CONCURRENCY, max_cost: float | None = None, job: str | None = None,
              subpath: str = "", api_key: str | None = None, base_url: str | None = None,
              batch: bool = False, poll_seconds: float = 30.0, retry_failed: bool = False,
              retry_failed_after: float = RETRY_FAILED_AFTER) -> LLMStats:
    """`llm_summarize` with its own client (key and base URL from the arguments, else the environment)."""
    import anthropic

    if not (api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        raise NoApiKey("no API key: set ANTHROPIC_API_KEY")

    async def main() -> LLMStats:
        async with anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=2) as client:
            return await llm_summarize(root, store, client, model, ledger=ledger, concurrency=concurrency,
                                       max_cost=max_cost, job=job, subpath=subpath, batch=batch,
                                       poll_seconds=poll_seconds, retry_failed=retry_failed,
                                       retry_failed_after=retry_failed_after)

    return asyncio.run(main())
