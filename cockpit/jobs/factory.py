"""What the code-writing jobs (semport, transfuse) share: asking the LLM inside a job, checking
its answers and asking again with the errors, plans with estimates, and the prompt's parts.

A job's LLM answer is one of its steps: a resumed job finds the answers it already paid for and
never asks for them again. Every call writes its ledger row before and after (tagged with the
job), keeps under the job's spend cap, and sends nothing that looks like a secret (`redact`).

Prompts mark their parts with XML-ish tags; the Anthropic twin (`cockpit.twin.server`) reads the same
tags to answer deterministically: `<symbol kind="..." name="Owner.name" params="a, b"
signature="..." doc="..."/>` lists a symbol to port or transplant.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cache.store import Store
from cockpit import service
from cockpit.core.config import Config
from cockpit.spend.ledger import Ledger, Pricing
from summarizers import models, tokens
from summarizers.languages import grammar
from summarizers.llm import INPUT_MARGIN, MESSAGE_OVERHEAD, _cap, redact

if TYPE_CHECKING:
    import anthropic

    from cockpit.jobs.runner import Job

NEED_LLM = ("needs an LLM: set ANTHROPIC_API_KEY, or run `cockpit twin` and set ANTHROPIC_BASE_URL to the "
            "address it prints")
CODE_LANGS = ("python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "ruby")
MAX_TOKENS_CAP = 16000  # a non-streaming call the SDK accepts; a file bigger than this is not one answer
PREVIOUS_TOKENS = 3000  # of a failed answer shown again with its errors
ERROR_CHARS = 3000  # of a check's output fed back


class SpendCapReached(Exception):
    """The next call could take the job's spend past its --max-cost."""


class LLMError(Exception):
    """The API failed a call after the SDK's retries."""


def llm_configured() -> bool:
    """Whether an LLM can be called: a key, or a base URL (the twin takes any key)."""
    return any(os.environ.get(name) for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"))


def make_client() -> anthropic.Anthropic:
    import anthropic

    has_key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    return anthropic.Anthropic(api_key=None if has_key else "no-key", max_retries=2)


# --- repositories ----------------------------------------------------------------------------


def repo_root(path: str) -> str:
    """The repository holding `path`, as git finds its root (a job on a subdirectory belongs to the whole
    repository's cache and job list); outside git, the nearest directory up with .cockpit, else its own."""
    start = Path(path).resolve()
    here = start if start.is_dir() else start.parent
    try:
        found = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                               timeout=10)
        if found.returncode == 0 and found.stdout.strip():
            return str(Path(found.stdout.strip()).resolve())
    except (OSError, subprocess.SubprocessError):
        pass  # no git here: the markers decide
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists() or (candidate / ".cockpit").is_dir():
            return str(candidate)
    return str(here)


def open_store(root: str) -> Store:
    """The cache of the repository at `root`, where its config says or in its default place."""
    return service.open_repo(root)[1]


def refresh_pyramid(root: str, store: Store) -> None:
    """Bring the pyramid of `root` up to date as the commands do, with the repository's config."""
    service.refresh(root, store, Config.load(root))


def git(root: str, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"git {args[0]}: {said[-1] if said else f'exit {result.returncode}'}")
    return result


# --- source facts ----------------------------------------------------------------------------


def is_public(name: str, lang: str, kind: str) -> bool:
    if lang == "go":
        return name[:1].isupper()
    if name.startswith(("_", "#")):
        return False
    if lang == "python" and kind == "variable":
        return name.isupper()  # module constants; other module variables are state, not interface
    return True


def public_symbols(store: Store, path: str, lang: str) -> list[dict]:
    """The public interface of one file of the pyramid: top-level definitions, and methods of public types."""
    nodes = store.nodes_in_files([path])
    kinds = {n["id"]: n for n in nodes}
    out = []
    for node in nodes:
        if node["kind"] in ("file", "dir", "repo") or not is_public(node["name"], lang, node["kind"]):
            continue
        parent = kinds.get(node["parent"])
        if parent is not None and (parent["kind"] in ("function", "method") or parent["parent"] != path
                                   or not is_public(parent["name"], lang, parent["kind"])):
            continue  # nested in a function, two levels down, or a member of a private type
        qualname = node["id"].split("::", 1)[1]
        out.append({"kind": node["kind"], "name": qualname, "params": ", ".join(param_names(node["signature"])),
                    "signature": node["signature"] or "", "doc": (node["doc"] or "").split("\n\n")[0][:300]})
    return out


def param_names(signature: str | None) -> list[str]:
    """The parameter names of a signature (the first word of each parameter; Go receivers skipped)."""
    text = signature or ""
    if text.startswith("func ("):
        text = text[text.index(")") + 1:]
    start = text.find("(")
    if start < 0:
        return []
    depth, current, parts = 0, "", []
    for char in text[start + 1:]:
        if char in "([{<":
            depth += 1
        elif char in ")]}>":
            if depth == 0:
                break
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    names = []
    for part in parts:
        match = re.match(r"\s*[*&.]*\s*([A-Za-z_$][\w$]*)", part)
        if match and match.group(1) not in ("self", "cls", "this"):
            names.append(match.group(1))
    return names


def symbol_tags(symbols: list[dict]) -> str:
    """Symbols as `<symbol .../>` lines: what to port or transplant (the twin reads these too)."""
    def tag(s: dict) -> str:
        attrs = " ".join(f'{k}="{html.escape(str(s.get(k, "")), quote=True)}"'
                         for k in ("kind", "name", "params", "signature", "doc") if s.get(k) or k in ("kind", "name"))
        return f"<symbol {attrs}/>"
    return "\n".join(tag(s) for s in symbols)


def syntax_errors(code: str, lang: str, limit: int = 5) -> list[str]:
    """Where tree-sitter finds errors in `code` (ERROR and MISSING nodes), as 'line L, column C: what'."""
    from tree_sitter import Parser

    data = code.encode()
    root = Parser(grammar(lang)).parse(data).root_node
    if not root.has_error:
        return []
    found, stack = [], [root]
    while stack and len(found) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line, column = node.start_point
            snippet = data[node.start_byte:node.end_byte].decode(errors="replace").split("\n")[0][:40]
            what = f"missing {node.type}" if node.is_missing else f"syntax error at `{snippet}`"
            found.append(f"line {line + 1}, column {column + 1}: {what}")
        elif node.has_error:
            stack.extend(reversed(node.children))
    return found or ["syntax error"]


_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)


def code_block(text: str, names: tuple[str, ...] = ()) -> str:
    """The code of an answer: its first fenced block tagged with one of `names`, else its largest, else all of it."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    for tag, code in blocks:
        if tag in names:
            return code
    if blocks:
        return max(blocks, key=lambda b: len(b[1]))[1]
    return text.strip() + "\n"


def section(tag: str, body: str, **attrs: Any) -> str:
    head = " ".join([tag] + [f'{k.replace("_", "-")}="{html.escape(str(v), quote=True)}"' for k, v in attrs.items()])
    return f"<{head}>\n{body.rstrip()}\n</{tag}>"


def fit(parts: list[str], budget: int) -> list[str]:
    """Context parts in order of worth: each whole while it fits, the first that does not cut to what is left."""
    out, left = [], budget
    for part in parts:
        size = tokens.count(part)
        if size <= left:
            out.append(part)
            left -= size
        elif left > 60:
            out.append(_cap(part, left - 20))
            break
        else:
            break
    return out


def retry_parts(previous: str | None, problems: list[str], attempt: int) -> list[str]:
    """What a new attempt is told of the last: its errors, and (cut) what it answered."""
    if not problems:
        return []
    listed = "\n".join(f"- {p}" for p in problems)
    parts = [section("errors", listed[-ERROR_CHARS:], attempt=attempt - 1)]
    if previous:
        parts.append(section("previous-answer", _cap(previous, PREVIOUS_TOKENS)))
    return parts


def capped_output(text: str) -> str:
    """The tail of a check's output, redacted: where compilers and test runners put their verdict."""
    text = text.strip()
    return redact(text if len(text) <= ERROR_CHARS else "..." + text[-ERROR_CHARS:])


# --- plans and estimates -------------------------------------------------------------------


@dataclass
class Estimate:
    """What a plan's calls would use: expected tokens and USD, and the worst case (every retry, max_tokens out)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    worst_usd: float | None = 0.0

    def add(self, pricing: Pricing, model: str, system_tokens: int, prompt_tokens: int, expected_output: int,
            max_tokens: int, attempts: int) -> None:
        prompt = int(prompt_tokens * INPUT_MARGIN) + MESSAGE_OVERHEAD
        self.calls += 1
        self.input_tokens += system_tokens + prompt
        self.output_tokens += expected_output
        expected = pricing.cost(model, {"input_tokens": system_tokens + prompt, "output_tokens": expected_output})
        worst = pricing.estimate(model, system_tokens, prompt, max_tokens)
        self.cost_usd = None if expected is None or self.cost_usd is None else self.cost_usd + expected
        self.worst_usd = None if worst is None or self.worst_usd is None else self.worst_usd + worst * attempts

    def describe(self, model: str) -> str:
        cost = ("(no price known for this model)" if self.cost_usd is None else
                f"~${self.cost_usd:.4f} (at most ${self.worst_usd:.4f} if every retry is needed)")
        return (f"estimate: {plural(self.calls, 'call')} to {model}, ~{self.input_tokens:,} input + "
                f"~{self.output_tokens:,} output tokens, {cost}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def max_tokens_for(source_tokens: int) -> int:
    return min(MAX_TOKENS_CAP, max(1024, 3 * source_tokens + 512))


# --- asking inside a job -------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerShape:
    """An answer asked for as the input of a forced tool call, and that input written out as the text
    the job's checks read (so a text answer, from a model that refuses forced tools, is read the same)."""

    name: str
    description: str
    fields: dict[str, dict]  # the input's properties, JSON Schema
    render: Callable[[dict], str]
    required: tuple[str, ...] = ()

    @property
    def tool(self) -> dict:
        return {"name": self.name, "description": self.description,
                "input_schema": {"type": "object", "properties": self.fields,
                                 "required": list(self.required or self.fields)}}


def _shared_prefix(system: str, model: str, tool: dict | None) -> list[dict]:
    """The system block, marked for caching only where the prefix reaches the model's minimum."""
    size = tokens.count(system) + (tokens.count(json.dumps(tool)) if tool else 0)
    block = {"type": "text", "text": system}
    if models.caches(model, size):
        block["cache_control"] = {"type": "ephemeral"}
    return [block]


class Caller:
    """Asks the LLM for a job: each answer a remembered step, each call in the ledger, under the spend cap."""

    def __init__(self, job: Job, model: str, system: str, max_cost: float | None = None,
                 client: anthropic.Anthropic | None = None, pricing: Pricing | None = None,
                 shape: AnswerShape | None = None):
        self.job, self.model, self.max_cost = job, model, max_cost
        self.ledger = Ledger(job.jobs.store, pricing)
        if max_cost is not None and self.ledger.pricing.price(model) is None:
            raise ValueError(f"no price known for model {model!r}: cannot keep to --max-cost (add it to pricing.json)")
        self.instructions = system
        self._client = client
        self._shape(shape if shape and models.takes_forced_tool(model) else None)

    def _shape(self, shape: AnswerShape | None) -> None:
        """Ask for answers as `shape`'s tool call, or (None) as text."""
        self.shape = shape
        tool = shape.tool if shape else None
        self.system = _shared_prefix(self.instructions, self.model, tool)
        self.system_tokens = tokens.count(self.instructions) + (tokens.count(json.dumps(tool)) if tool else 0)

    @property
    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = make_client()
        return self._client

    def ask(self, step: str, node_ids: list[str], prompt: str, max_tokens: int) -> str:
        """The answer to `prompt`, remembered as step `step` of the job (asked only if not remembered)."""
        return self.job.step(step, lambda: self._call(node_ids, redact(prompt), max_tokens))["text"]

    def _call(self, node_ids: list[str], prompt: str, max_tokens: int) -> dict:
        import anthropic

        if self.max_cost is not None:
            worst = self.ledger.pricing.estimate(self.model, self.system_tokens,
                                                 int(tokens.count(prompt) * INPUT_MARGIN) + MESSAGE_OVERHEAD,
                                                 max_tokens) or 0.0
            spent = self.job.jobs.spend(self.job.id)["cost_usd"]
            if spent + worst > self.max_cost:
                raise SpendCapReached(f"--max-cost ${self.max_cost:.4f}: spent ${spent:.4f}, the next call could "
                                      f"cost ${worst:.4f}")
        row = self.ledger.start(self.job.ledger_job, node_ids, self.model)
        started = time.perf_counter()
        params = {"model": self.model, "max_tokens": max_tokens, "system": self.system,
                  "messages": [{"role": "user", "content": prompt}]}
        if self.shape:
            params.update(tools=[self.shape.tool], tool_choice=models.forced(self.shape.name))
        try:
            raw = self.client.messages.with_raw_response.create(**params)
            message = raw.parse()
        except anthropic.APIError as exc:
            status = getattr(exc, "status_code", None)
            reason = f"{type(exc).__name__}{f' {status}' if status else ''}: {str(exc).splitlines()[0]}"[:500]
            self.ledger.finish(row, self.model, "failed", latency_ms=_ms(started), error=reason,
                               request_id=getattr(exc, "request_id", None))
            if self.shape and isinstance(exc, anthropic.BadRequestError) and models.refuses_forced_tool(str(exc)):
                self.job.log(f"{self.model} refuses a forced tool: answers are asked for as text", "warning")
                self._shape(None)
                return self._call(node_ids, prompt, max_tokens)  # the refusal was not billed
            raise LLMError(reason) from None
        except BaseException as exc:
            self.ledger.finish(row, self.model, "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed",
                               latency_ms=_ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        found = models.tool_input(message, self.shape.name) if self.shape else None
        text = self.shape.render(found) if found is not None else models.answer_text(message)
        self.ledger.finish(row, self.model, "ok", message.usage, _ms(started), retries=raw.retries_taken,
                           request_id=message.id)
        return {"text": text, "stop_reason": message.stop_reason}


@dataclass
class Outcome:
    """How asking (and asking again) ended: the last answer, what was wrong with it, what the check made of it."""

    ok: bool
    attempts: int
    answer: str
    problems: list[str] = field(default_factory=list)
    value: Any = None


def ask_until_valid(caller: Caller, name: str, node_ids: list[str], retries: int,
                    prompt: Callable[[str | None, list[str], int], str],
                    check: Callable[[str], tuple[Any, list[str]]], max_tokens: int) -> Outcome:
    """Ask, check the answer, and ask again with the problems (at most `retries` times more).

    `prompt(previous answer, its problems, attempt)` builds the request; `check(answer)` returns
    (value, problems), no problems meaning the answer is good.
    """
    previous, problems, answer, value = None, [], "", None
    for attempt in range(1, retries + 2):
        answer = caller.ask(f"{name} · answer {attempt}", node_ids, prompt(previous, problems, attempt), max_tokens)
        value, problems = check(answer)
        if not problems:
            return Outcome(True, attempt, answer, [], value)
        caller.job.log(f"{name}: answer {attempt} rejected: {problems[0]}", "warning")
        previous = answer
    return Outcome(False, retries + 1, answer, problems, value)


def spend_by_node(store: Store, job_id: int) -> dict[str, dict]:
    """The job's spend per ledger `node_ids` (a file of a semport, a stage of a transfusion)."""
    rows = store.db.conn.execute(
        "SELECT node_ids, COUNT(*), COALESCE(SUM(input_tokens + cache_write_tokens + cache_read_tokens), 0), "
        "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM ledger WHERE job = ? GROUP BY node_ids",
        [str(job_id)]).fetchall()
    return {ids: {"calls": calls, "input_tokens": i, "output_tokens": o, "cost_usd": round(c, 6)}
            for ids, calls, i, o, c in rows}


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
