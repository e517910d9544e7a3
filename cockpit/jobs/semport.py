"""Semport: a semantic port of a file, package or directory into another language.

Not line by line: each file is rewritten as idiomatic code of the target language by the LLM,
one file per request, in dependency order (what a file imports is ported before it), and each
request carries what the file needs from the pyramid within a token budget: the repository's
and the package's summaries, the outlines of what it imports, and the interfaces of the files
already ported. Every answer is checked: it must parse with the target's tree-sitter grammar,
give every public symbol of the source a counterpart (idiomatic renames allowed: snake_case to
camelCase or PascalCase, methods on types, or a `<mapping>` the answer declares), and pass the
user's `--check` command; a failed check is asked again with its errors, a bounded number of
times, then the file is marked failed and the job goes on.

The job writes DIR/semport.json after every file: each file's source, target, status, symbol
mapping, errors and spend (tokens and USD from the ledger). An existing file is overwritten only
with `force`. Runs as a job (`cockpit.jobs.runner`): a killed port resumes from its last file, and
answers already paid for are never asked again.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cache.store import Store
from cockpit.core.pyramid import parent_dir
from cockpit.jobs.factory import (
    CODE_LANGS,
    AnswerShape,
    Caller,
    Estimate,
    SpendCapReached,
    ask_until_valid,
    capped_output,
    code_block,
    fit,
    max_tokens_for,
    plural,
    public_symbols,
    refresh_pyramid,
    retry_parts,
    section,
    spend_by_node,
    symbol_tags,
    syntax_errors,
)
from cockpit.jobs.runner import Job, Jobs
from cockpit.spend.ledger import Pricing
from summarizers import tokens
from summarizers.llm import _cap
from summarizers.outline import outline

TARGETS = {"go": ".go", "typescript": ".ts", "python": ".py"}
DEFAULT_BUDGET = 6000  # tokens of context per request, besides the file itself
DEFAULT_RETRIES = 2
DEFAULT_CHECK_TIMEOUT = 300
SOURCE_TOKENS = 12000  # of a source file sent in one request
INTERFACE_TOKENS = 800  # of a ported file's interface shown to the files that import it
MANIFEST = "semport.json"
FAILED_DIR = ".semport/failed"  # last answers of files that failed, out of the compiler's way
PACKAGE_FILES = ("__init__", "index", "mod", "lib")
_INDEX_NAMES = {"go": "doc", "typescript": "index", "python": "__init__"}
_WORD = re.compile(r"[A-Za-z_][\w-]*")

SYSTEM = """\
You port code between programming languages: a semantic port into idiomatic {language}, written as someone \
fluent in {language} would write it, not a line-by-line translation. Keep the behaviour, the public interface \
and the docs.

Each request is a <semport> block: the file to port (<source>), its public symbols (<symbol> tags), and context \
from its repository: summaries, outlines of what the file imports, and the <ported> interfaces of files already \
ported, which you use as they are and never redefine. A request may carry the <errors> of your last answer \
(<previous-answer>): fix them.

Reply with the whole target file in one fenced code block (```{fence}) and nothing else, except that when you \
rename a symbol beyond {language}'s naming conventions, a <mapping> block follows the code with one \
`source name -> target name` line per renamed symbol.
- Every listed symbol needs a counterpart named after it in {language}'s conventions (snake_case may become \
camelCase or PascalCase; a method stays a method of its type's counterpart; a constructor may become a factory).
- {rules}
- Never repeat secrets; [REDACTED] marks removed values."""
RULES = {
    "go": "The file belongs to the package named by the request's `package` attribute. Exported names are "
          "capitalized; errors are returned values, not panics; the standard library unless the context shows a "
          "dependency.",
    "typescript": "An ES module: export every public symbol; import from the other ported files by relative paths "
                  "without extension; strict types.",
    "python": "Python 3.11 with type hints and docstrings; the standard library unless the context shows a "
              "dependency.",
}
LANGUAGE_NAMES = {"go": "Go", "typescript": "TypeScript", "python": "Python"}
FENCES = {"go": ("go", "golang"), "typescript": ("typescript", "ts"), "python": ("python", "py")}


def answer_shape(to: str) -> AnswerShape:
    """A port as a tool call: the file, and the renames beyond the language's conventions."""
    def render(answer: dict) -> str:
        renames = [r for r in answer.get("renames") or [] if isinstance(r, dict)]
        mapping = "".join(f"{r.get('source')} -> {r.get('target')}\n" for r in renames)
        return f"```{FENCES[to][0]}\n{answer.get('code') or ''}\n```\n" + (f"<mapping>\n{mapping}</mapping>\n"
                                                                        if mapping else "")

    return AnswerShape(
        "write_port", f"Write the whole ported {LANGUAGE_NAMES[to]} file.",
        {"code": {"type": "string", "description": f"the whole target file, {LANGUAGE_NAMES[to]} source"},
         "renames": {"type": "array", "description": "symbols renamed beyond the naming conventions",
                     "items": {"type": "object", "properties": {"source": {"type": "string"},
                                                                "target": {"type": "string"}},
                               "required": ["source", "target"]}}},
        render, required=("code",))


class SemportError(Exception):
    """A port that cannot start or go on; the message says why in one line."""


@dataclass
class PortFile:
    source: str  # path in the repository
    target: str  # path under the output directory
    lang: str
    package: str  # the target's package (Go) or module directory name
    symbols: list[dict]
    depends: list[str]  # files of the repository it imports
    tokens: int  # of its source


@dataclass
class Plan:
    root: str
    src: str  # the part of the repository to port, relative to root ("" for all of it)
    to: str
    out: str
    model: str
    files: list[PortFile]
    existing: list[str] = field(default_factory=list)  # targets already in `out`
    left_out: int = 0  # files under `src` that are empty or not code
    cycles: list[str] = field(default_factory=list)  # files ported before some of what they import
    estimate: Estimate = field(default_factory=Estimate)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        return cls(**{**data, "files": [PortFile(**f) for f in data["files"]],
                      "estimate": Estimate(**data["estimate"])})

    def describe(self, force: bool = False) -> str:
        langs = sorted({f.lang for f in self.files})
        head = (f"semport plan: {self.src or '.'} ({', '.join(langs) or 'no code'}, "
                f"{plural(len(self.files), 'file')}) -> {self.to} in {self.out}")
        lines = [head]
        ported = {f.source for f in self.files}
        for n, f in enumerate(self.files, 1):
            after = [posixpath.basename(d) for d in f.depends if d in ported]
            lines.append(f"  {n}. {f.source} -> {f.target} ({plural(len(f.symbols), 'symbol')}"
                         + (f"; after {', '.join(after)}" if after else "") + ")")
        if self.left_out:
            lines.append(f"  (left out as empty or not code: {plural(self.left_out, 'file')})")
        if self.cycles:
            lines.append(f"  import cycle: ported before some of what they import: {', '.join(self.cycles)}")
        if self.existing:
            verb = "will overwrite (--force)" if force else "already exist (use --force to overwrite)"
            lines.append(f"  {verb}: {', '.join(self.existing)}")
        lines.append(self.estimate.describe(self.model))
        return "\n".join(lines)


# --- planning ---------------------------------------------------------------------------------


def plan(store: Store, root: str, src: str, to: str, out: str, model: str, retries: int = DEFAULT_RETRIES,
         budget: int = DEFAULT_BUDGET, pricing: Pricing | None = None) -> Plan:
    """What a port of `src` (a path under `root`, whose pyramid is built) into `to` would do, and cost."""
    if to not in TARGETS:
        raise SemportError(f"cannot port into {to!r}: targets are {', '.join(TARGETS)}")
    rel = os.path.relpath(os.path.realpath(src), os.path.realpath(root)).replace(os.sep, "/")
    rel = "" if rel == "." else rel
    if rel.startswith(".."):
        raise SemportError(f"{src} is outside the repository {root}")
    rows = store.files()
    code = {r["path"]: r for r in rows if r["lang"] in CODE_LANGS}
    under = [p for p in sorted(code) if not rel or p == rel or p.startswith(rel + "/")]
    if not under:
        raise SemportError(f"no code to port under {src} (not in the pyramid: ignored, skipped, or not code)")
    left_out = sum(1 for r in rows if (not rel or r["path"] == rel or r["path"].startswith(rel + "/"))
                   and r["path"] not in code)
    deps = dependencies({p: code[p]["imports"] for p in under}, list(code))
    order, cycles = dependency_order(under, deps)
    is_dir = os.path.isdir(src)
    top = posixpath.basename(rel) if is_dir else posixpath.basename(parent_dir(rel))
    top = top or Path(root).name
    files, targets = [], set()
    for path in order:
        inner = posixpath.relpath(path, rel) if is_dir and rel else path if is_dir else posixpath.basename(path)
        target = _unique(target_path(inner, to), targets)
        targets.add(target)
        package = posixpath.basename(parent_dir(target)) or top
        text = _read(root, path)
        if not text.strip():
            left_out += 1  # an empty file (a bare __init__.py) has nothing to port
            continue
        files.append(PortFile(path, target, code[path]["lang"], _package_name(package),
                              public_symbols(store, path, code[path]["lang"]), deps[path], tokens.count(text)))
    existing = [f.target for f in files if (Path(out) / f.target).exists()]
    result = Plan(root, rel, to, out, model, files, existing, left_out, cycles)
    pricing = pricing or Pricing.load()
    system_tokens = tokens.count(system_prompt(to))
    for f in files:
        prompt = port_prompt(store, root, result, f, {}, budget, None, [], 1)
        result.estimate.add(pricing, model, system_tokens, tokens.count(prompt), int(f.tokens * 1.2) + 100,
                            max_tokens_for(f.tokens), retries + 1)
    return result


def dependencies(imports: dict[str, list[str]], candidates: list[str]) -> dict[str, list[str]]:
    """The files among `candidates` each file imports: those whose module name its import statements use.

    A module is named by its file's stem, or by its directory for a package file (`__init__.py`,
    `index.ts`) and for Go, whose packages are directories. When several files share the name,
    those whose directories the import also names win.
    """
    by_key: dict[str, list[str]] = {}
    for path in candidates:
        by_key.setdefault(_module_key(path), []).append(path)
    found: dict[str, list[str]] = {}
    for path, statements in imports.items():
        words = set(_WORD.findall(" ".join(statements)))
        here = parent_dir(path)
        deps: set[str] = set()
        for word in words:
            matches = [p for p in by_key.get(word, [])  # Go files of one package do not import each other
                       if p != path and not (p.endswith(".go") and parent_dir(p) == here)]
            if matches:
                scores = {p: sum(part in words for part in p.split("/")[:-1]) for p in matches}
                best = max(scores.values())
                deps.update(p for p in matches if scores[p] == best)
        found[path] = sorted(deps)
    return found


def dependency_order(paths: list[str], deps: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """`paths` with what each imports first (by path among equals); files that break an import cycle."""
    remaining, order, cycles = set(paths), [], []
    while remaining:
        ready = sorted(p for p in remaining if not set(deps.get(p, ())) & remaining)
        if not ready:  # a cycle: the file that waits on the fewest others goes first
            first = min(remaining, key=lambda p: (len(set(deps.get(p, ())) & remaining), p))
            cycles.append(first)
            ready = [first]
        order += ready
        remaining -= set(ready)
    return order, cycles


def _module_key(path: str) -> str:
    stem = posixpath.basename(path).split(".")[0]
    if stem in PACKAGE_FILES or path.endswith(".go"):
        return posixpath.basename(parent_dir(path)) or stem
    return stem


def target_path(path: str, to: str) -> str:
    """Where the port of `path` goes under the output directory, named as the target's projects name files."""
    directory, name = posixpath.split(path)
    stem = name.split(".")[0]
    test = stem.startswith("test_") or bool(re.search(r"(_test|\.test|\.spec)$", name.rsplit(".", 1)[0]))
    base = stem[5:] if stem.startswith("test_") else re.sub(r"_test$", "", stem)
    if base in PACKAGE_FILES:
        base = _INDEX_NAMES[to]
    if to == "go":
        name = f"{base}_test.go" if test else f"{base}.go"
    elif to == "typescript":
        name = f"{base}.test.ts" if test else f"{base}.ts"
    else:
        name = f"test_{base}.py" if test else f"{base}.py"
    return posixpath.join(directory, name)


def _unique(target: str, taken: set[str]) -> str:
    stem, ext = posixpath.splitext(target)
    n, candidate = 2, target
    while candidate in taken:
        candidate, n = f"{stem}_{n}{ext}", n + 1
    return candidate


def _package_name(name: str) -> str:
    cleaned = re.sub(r"\W", "", name.lower().replace("-", "_"))
    return cleaned if cleaned and not cleaned[0].isdigit() else f"p{cleaned}"


def _read(root: str, path: str) -> str:
    return (Path(root) / path).read_text(encoding="utf-8", errors="replace")


# --- prompts ------------------------------------------------------------------------------------


def system_prompt(to: str) -> str:
    return SYSTEM.format(language=LANGUAGE_NAMES[to], fence=FENCES[to][0], rules=RULES[to])


def port_prompt(store: Store, root: str, the_plan: Plan, f: PortFile, ported: dict[str, str], budget: int,
                previous: str | None, problems: list[str], attempt: int) -> str:
    """The request for one file: its symbols and source, its errors on a retry, and context within `budget`."""
    context = []
    targets = {p.source: p.target for p in the_plan.files}
    for dep in f.depends:  # what it imports, as ported already, then as it is in the source
        if ported.get(dep):
            context.append(section("ported", ported[dep], source=dep, target=targets[dep]))
    for dep in f.depends:
        node = store.node(dep)
        if node is not None:
            context.append(section("imported", node["outline"], path=dep))
    for node_id, tag in ((parent_dir(f.source), "package"), ("", "repository")):
        node = store.node(node_id)
        if node is not None and node["summaries"]:
            context.append(section(tag, node["summaries"][5], path=node_id or "."))
    body = [section("context", "\n".join(fit(context, budget))) if context else "",
            section("symbols", symbol_tags(f.symbols) or "(none: port what the file does)"),
            section("source", _cap(_read(root, f.source), SOURCE_TOKENS), path=f.source, lang=f.lang),
            *retry_parts(previous, problems, attempt)]
    return section("semport", "\n".join(b for b in body if b), **{"from": f.lang}, to=the_plan.to, source=f.source,
                   target=f.target, package=f.package)


# --- checking an answer ---------------------------------------------------------------------------


def declared_mapping(answer: str) -> dict[str, str]:
    """The `source -> target` lines of an answer's <mapping> block."""
    match = re.search(r"<mapping>(.*?)</mapping>", answer, re.DOTALL)
    pairs = re.findall(r"^\s*[-*]?\s*`?([\w.#]+)`?\s*(?:->|→|=>)\s*`?([\w.#]+)`?", match.group(1) if match else "",
                       re.MULTILINE)
    return dict(pairs)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", re.sub(r"#\d+$", "", name).lower())


def match_symbols(wanted: list[dict], found: list[str], declared: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each wanted symbol's counterpart among the target's qualified names, and the symbols without one.

    A counterpart has the same name up to case and underscores (a method on its type's counterpart),
    or is the name the answer's <mapping> declares; a method may also become a function, and
    `get_x` may become `X`.
    """
    by_name = {_norm(q): q for q in found}
    by_last: dict[str, list[str]] = {}
    for q in found:
        by_last.setdefault(_norm(q).rsplit(".", 1)[-1], []).append(q)
    mapping, missing = {}, []
    for symbol in wanted:
        name = symbol["name"]
        owner, _, last = name.rpartition(".")
        variants = [_norm(last)] + [_norm(last)[len(p):] for p in ("get", "is") if _norm(last).startswith(p)]
        candidates = [_norm(declared[name])] if name in declared else []
        candidates += [f"{_norm(owner)}.{v}" if owner else v for v in variants]
        hit = next((by_name[c] for c in candidates if c in by_name), None)
        if hit is None and owner:  # a method that became a function: OwnerMethod, or the method's own name
            hit = next((by_name[c] for c in (_norm(owner + last), *variants) if c in by_name), None)
        if hit is None and not owner:  # a function that became a method, say
            hit = next((by_last[v][0] for v in variants if v in by_last), None)
        if hit is None:
            missing.append(f"{symbol['kind']} {name}")
        else:
            mapping[name] = re.sub(r"#\d+$", "", hit)
    return mapping, missing


def interface(code: str, lang: str) -> tuple[list[str], str]:
    """The qualified names a file defines, and its interface (signatures) for the files that import it."""
    symbols = outline(code.encode(), lang).symbols
    lines = [s.signature or f"{s.kind} {s.qualname}" for s in symbols if s.kind not in ("variable",) or not s.parent]
    return [s.qualname for s in symbols], _cap("\n".join(lines), INTERFACE_TOKENS)


def run_check(command: str, cwd: str, timeout: float) -> str | None:
    """None when `command` passes in `cwd`; else what it said (its output's tail), for the next prompt."""
    with subprocess.Popen(command, shell=True, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the shell and whatever it started
            output, _ = proc.communicate()
            return f"`{command}` timed out after {timeout:g}s:\n{capped_output(output or '')}"
    if proc.returncode == 0:
        return None
    return f"`{command}` failed (exit {proc.returncode}):\n{capped_output(output or '')}"


# --- the job ----------------------------------------------------------------------------------------


def create_job(store: Store, root: str, src: str, to: str, out: str, *, model: str, check: str | None = None,
               check_timeout: float = DEFAULT_CHECK_TIMEOUT, retries: int = DEFAULT_RETRIES, force: bool = False,
               max_cost: float | None = None, budget: int = DEFAULT_BUDGET, given: str | None = None) -> Job:
    """A queued semport job in the repository's cache; `job.run(run_job)` does it. Paths must be absolute;
    `given`: the source as the user wrote it, for the job's title."""
    inputs = {"root": os.path.abspath(root), "src": os.path.abspath(src), "to": to, "out": os.path.abspath(out),
              "model": model, "check": check, "check_timeout": check_timeout, "retries": retries, "force": force,
              "max_cost": max_cost, "budget": budget}
    shown = given or os.path.relpath(inputs["src"], inputs["root"])
    return Jobs(store).create("semport", f"semport {shown} -> {to}", inputs)


Report = Callable[[PortFile, dict], None]


def run_job(job: Job, report: Report | None = None) -> dict:
    """Port what the job's inputs name; the job's outputs point to the manifest. `report(file, result)` per file."""
    i = job.inputs
    store = job.jobs.store
    refresh_pyramid(i["root"], store)  # the tree as it is now (nothing is redone when nothing changed)
    the_plan = Plan.from_dict(job.step("plan", lambda: plan(store, i["root"], i["src"], i["to"], i["out"], i["model"],
                                                            i["retries"], i["budget"]).to_dict()))
    if the_plan.existing and not i["force"]:
        raise SemportError(f"{len(the_plan.existing)} files to write already exist in {i['out']} "
                           f"({', '.join(the_plan.existing[:3])}); use --force to overwrite them")
    caller = Caller(job, i["model"], system_prompt(i["to"]), i.get("max_cost"), shape=answer_shape(i["to"]))
    results: dict[str, dict] = {}
    ported: dict[str, str] = {}
    job.progress(0, len(the_plan.files))
    try:
        for n, f in enumerate(the_plan.files, 1):
            result = job.step(f"port {f.source}", lambda f=f: _port(job, caller, store, the_plan, f, ported))
            results[f.source] = result
            ported[f.source] = result.get("interface", "")
            write_manifest(job, the_plan, results)
            job.progress(n, len(the_plan.files))
            job.log(f"{f.source} -> {f.target}: {result['status']}",
                    "info" if result["status"] == "ported" else "warning")
            if report:
                report(f, result)
    except SpendCapReached:
        write_manifest(job, the_plan, results)
        raise
    counts = {s: sum(1 for r in results.values() if r["status"] == s) for s in ("ported", "failed")}
    return {"manifest": str(Path(i["out"]) / MANIFEST), "files": len(the_plan.files), **counts}


def _port(job: Job, caller: Caller, store: Store, the_plan: Plan, f: PortFile, ported: dict[str, str]) -> dict:
    i = job.inputs
    out = Path(i["out"])
    path = out / f.target
    # What --force overwrites is put back if the port fails (not an answer of this job, written before a kill).
    original = path.read_bytes() if f.target in the_plan.existing and path.exists() else None

    def prompt(previous, problems, attempt):
        return port_prompt(store, the_plan.root, the_plan, f, ported, i["budget"], previous, problems, attempt)

    def check(answer: str):
        code = code_block(answer, FENCES[the_plan.to])
        errors = syntax_errors(code, the_plan.to)
        if errors:
            return None, [f"{f.target} does not parse: {e}" for e in errors]
        names, shown = interface(code, the_plan.to)
        mapping, missing = match_symbols(f.symbols, names, declared_mapping(answer))
        if missing:
            return None, [f"no counterpart in {f.target} for {m}" for m in missing]
        _write(path, code)
        failed = run_check(i["check"], str(out), i["check_timeout"]) if i.get("check") else None
        return {"mapping": mapping, "interface": shown}, [failed] if failed else []

    outcome = ask_until_valid(caller, f"port {f.source}", [f.source], i["retries"], prompt, check,
                              max_tokens_for(f.tokens))
    if outcome.ok:
        return {"status": "ported", "attempts": outcome.attempts, "symbols": outcome.value["mapping"],
                "interface": outcome.value["interface"]}
    if original is not None:
        _write(path, original.decode("utf-8", errors="replace"))
    else:
        path.unlink(missing_ok=True)
    kept = out / FAILED_DIR / f"{f.target}.txt"
    _write(kept, code_block(outcome.answer, FENCES[the_plan.to]))
    return {"status": "failed", "attempts": outcome.attempts, "errors": outcome.problems,
            "last_answer": f"{FAILED_DIR}/{f.target}.txt"}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_manifest(job: Job, the_plan: Plan, results: dict[str, dict]) -> Path:
    """DIR/semport.json: what was ported, what failed and why, what it cost; other ports' entries kept."""
    path = Path(the_plan.out) / MANIFEST
    try:
        earlier = json.loads(path.read_text()).get("files", []) if path.exists() else []
    except (OSError, ValueError):
        earlier = []
    spend, total = spend_by_node(job.jobs.store, job.id), job.jobs.spend(job.id)
    mine = {f.target for f in the_plan.files}
    entries = [e for e in earlier if isinstance(e, dict) and e.get("target") not in mine]
    for f in the_plan.files:
        result = results.get(f.source, {"status": "pending"})
        entry = {"source": f.source, "target": f.target, "status": result["status"], "job": job.id}
        entry.update({k: result[k] for k in ("attempts", "symbols", "errors", "last_answer") if k in result})
        entry["spend"] = spend.get(json.dumps([f.source]), {"calls": 0, "input_tokens": 0, "output_tokens": 0,
                                                             "cost_usd": 0.0})
        entries.append(entry)
    manifest = {"tool": "cockpit semport", "job": job.id, "source": the_plan.src or ".", "to": the_plan.to,
                "model": the_plan.model,
                "ported": sum(1 for e in entries if e["status"] == "ported"),
                "failed": sum(1 for e in entries if e["status"] == "failed"),
                "pending": sum(1 for e in entries if e["status"] == "pending"),
                "spend": {**total, "cost_usd": round(total["cost_usd"], 6)}, "files": entries}
    _write(path, json.dumps(manifest, indent=2) + "\n")
    return path
