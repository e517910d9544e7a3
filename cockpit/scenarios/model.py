"""A scenario file: one story of what a user does and what a satisfied user sees.

    title = "A saved note is listed"
    story = \"\"\"Ana saves two notes and lists them: she expects both, in the order she wrote them.\"\"\"
    timeout = 10                      # seconds each step may take (default 30)
    env = { NOTES_DB = "{tmp}/notes.json" }
    pass_env = []                     # names of the user's variables the steps may see (none by default)

    [[setup]]                         # commands run first, in the copy; one that fails makes the trial broken
    run = "python3 -c 'import json'"

    [[service]]                       # started before the steps, stopped after; must become ready
    name = "app"
    run = "python3 notes.py --port {port}"
    ready = { port = "{port}" }       # or { url = "http://127.0.0.1:{port}/health" }, or { run = "CMD" }
    ready_timeout = 10

    [[step]]
    name = "save a note"
    http = { method = "POST", url = "http://127.0.0.1:{port}/notes", body = "milk" }
    expect = { status = 201, body = "\\"id\\"" }

    [[step]]
    name = "list them"
    run = "curl -s http://127.0.0.1:{port}/notes"
    expect = { exit = 0, output = "milk" }

    [[step]]
    name = "the file on disk"
    file = "{tmp}/notes.json"
    expect = { content = "milk" }

    judge = "Ana sees every note she saved, in order, and nothing else."   # optional: for the LLM judge

Placeholders in commands, URLs, bodies, headers, env values and file paths: `{root}` (the trial's copy
of the repository, also the steps' working directory), `{tmp}` (the trial's temp dir), `{trial}`
(1, 2, ...: seed randomness with it), `{port}` and `{port:NAME}` (free ports chosen per trial).
Expectations: `exit`, `output` (a regex searched in stdout and stderr), `status`, `body` (a regex),
`exists` and `content` (a regex) for files, and `not_output` / `not_body` / `not_content` (regexes that
must not match).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT = 30.0
DEFAULT_READY_TIMEOUT = 15.0
EXPECT_KEYS = {
    "run": {"exit", "output", "not_output"},
    "http": {"status", "body", "not_body"},
    "file": {"exists", "content", "not_content"},
}
PLACEHOLDER = re.compile(r"\{(root|tmp|trial|port(?::[A-Za-z0-9_-]+)?)\}")
TOP_KEYS = {"title", "story", "timeout", "env", "pass_env", "setup", "service", "step", "judge"}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Step:
    """A step of the story (or of its setup): a shell command, an HTTP request, or a file to look at."""

    name: str
    kind: str  # run | http | file
    run: str = ""
    method: str = "GET"
    url: str = ""
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    file: str = ""
    expect: tuple[tuple[str, object], ...] = ()
    timeout: float = DEFAULT_TIMEOUT

    def expectations(self) -> dict:
        return dict(self.expect)


@dataclass(frozen=True)
class Service:
    """A process started before the steps (the app, `cockpit twin`), ready when its check passes."""

    name: str
    run: str
    ready_port: str = ""
    ready_url: str = ""
    ready_run: str = ""
    ready_timeout: float = DEFAULT_READY_TIMEOUT


@dataclass(frozen=True)
class Scenario:
    name: str  # the file's name without .toml
    path: str
    title: str
    story: str
    setup: tuple[Step, ...] = ()
    services: tuple[Service, ...] = ()
    steps: tuple[Step, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    pass_env: tuple[str, ...] = ()
    judge: str = ""
    ports: tuple[str, ...] = field(default=())  # the port names its placeholders use ("" for {port})


def load_set(directory: str | Path, only: tuple[str, ...] = ()) -> list[Scenario]:
    """Every `*.toml` scenario of a set, by name; `only` keeps those named (an unknown name is an error)."""
    root = Path(directory)
    if not root.is_dir():
        raise ScenarioError(f"scenario set {root}: not a directory")
    scenarios = [load(path) for path in sorted(root.glob("*.toml"))]
    if not scenarios:
        raise ScenarioError(f"scenario set {root}: no *.toml scenario in it")
    if only:
        names = {s.name for s in scenarios}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ScenarioError(f"no scenario {unknown[0]!r} in {root} (there are: {', '.join(sorted(names))})")
        scenarios = [s for s in scenarios if s.name in only]
    return scenarios


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
    return parse(data, path.stem, str(path))


def parse(data: dict, name: str, where: str = "<scenario>") -> Scenario:
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(TOP_KEYS))})")
    title, story = data.get("title"), data.get("story")
    if not isinstance(title, str) or not title.strip():
        raise ScenarioError(f"{where}: needs a title")
    if not isinstance(story, str) or not story.strip():
        raise ScenarioError(f"{where}: needs a story (what the user does and expects, in prose)")
    timeout = _number(data.get("timeout", DEFAULT_TIMEOUT), f"{where}: timeout")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, (str, int, float)) for v in env.values()):
        raise ScenarioError(f"{where}: env must be a table of NAME = \"value\"")
    pass_env = data.get("pass_env", [])
    if not isinstance(pass_env, list) or not all(isinstance(v, str) for v in pass_env):
        raise ScenarioError(f"{where}: pass_env must be a list of variable names")
    judge = data.get("judge", "")
    if not isinstance(judge, str):
        raise ScenarioError(f"{where}: judge must be a sentence")
    setup = tuple(_step(s, f"{where}: setup[{i}]", timeout, setup=True)
                  for i, s in enumerate(_tables(data, "setup", where)))
    services = tuple(_service(s, f"{where}: service[{i}]") for i, s in enumerate(_tables(data, "service", where)))
    steps = tuple(_step(s, f"{where}: step[{i}]", timeout) for i, s in enumerate(_tables(data, "step", where)))
    if not steps:
        raise ScenarioError(f"{where}: needs at least one [[step]]")
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{where}: two services share a name")
    scenario = Scenario(name, where, title.strip(), story.strip(), setup, services, steps,
                        tuple((k, str(v)) for k, v in env.items()), tuple(pass_env), judge.strip())
    texts = [v for _, v in scenario.env] + [t for s in (*setup, *steps) for t in (s.run, s.url, s.body, s.file)]
    texts += [v for s in (*setup, *steps) for _, v in s.headers]
    texts += [t for s in services for t in (s.run, s.ready_port, s.ready_url, s.ready_run)]
    ports = sorted({m.group(1).partition(":")[2] for t in texts for m in PLACEHOLDER.finditer(t)
                    if m.group(1).startswith("port")})
    return Scenario(**{**scenario.__dict__, "ports": tuple(ports)})


def _tables(data: dict, key: str, where: str) -> list[dict]:
    value = data.get(key, [])
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioError(f"{where}: {key} must be tables ([[{key}]])")
    return value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ScenarioError(f"{where} must be a positive number of seconds")
    return float(value)


def _step(data: dict, where: str, timeout: float, setup: bool = False) -> Step:
    kinds = [k for k in ("run", "http", "file") if k in data]
    if len(kinds) != 1:
        raise ScenarioError(f"{where}: needs exactly one of run, http, file")
    kind = kinds[0]
    allowed = {"name", kind, "expect", "timeout"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r}")
    expect = data.get("expect", {"exit": 0} if setup and kind == "run" else {})
    if not isinstance(expect, dict):
        raise ScenarioError(f"{where}: expect must be a table")
    wrong = sorted(set(expect) - EXPECT_KEYS[kind])
    if wrong:
        raise ScenarioError(f"{where}: a {kind} step cannot expect {wrong[0]!r} (it can: "
                            f"{', '.join(sorted(EXPECT_KEYS[kind]))})")
    for key, value in expect.items():
        if key in ("exit", "status") and (isinstance(value, bool) or not isinstance(value, int)):
            raise ScenarioError(f"{where}: expect.{key} must be a whole number")
        if key == "exists" and not isinstance(value, bool):
            raise ScenarioError(f"{where}: expect.exists must be true or false")
        if key in ("output", "body", "content", "not_output", "not_body", "not_content"):
            if not isinstance(value, str):
                raise ScenarioError(f"{where}: expect.{key} must be a regular expression")
            try:
                re.compile(value)
            except re.error as exc:
                raise ScenarioError(f"{where}: expect.{key} is not a regular expression ({exc})") from None
    step_timeout = _number(data.get("timeout", timeout), f"{where}: timeout")
    order = sorted(expect.items(), key=lambda kv: (kv[0] not in ("exit", "status", "exists"), kv[0]))  # status first
    fields: dict = {"kind": kind, "expect": tuple(order), "timeout": step_timeout}
    if kind == "run":
        if not isinstance(data["run"], str) or not data["run"].strip():
            raise ScenarioError(f"{where}: run must be a shell command")
        fields["run"] = data["run"]
    elif kind == "http":
        request = data["http"]
        if isinstance(request, str):
            request = {"url": request}
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            raise ScenarioError(f"{where}: http needs a url")
        wrong = sorted(set(request) - {"method", "url", "body", "headers"})
        if wrong:
            raise ScenarioError(f"{where}: http has no {wrong[0]!r} (method, url, body, headers)")
        headers = request.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ScenarioError(f"{where}: http.headers must be a table of strings")
        fields.update(method=str(request.get("method", "GET")).upper(), url=request["url"],
                      body=str(request.get("body", "")), headers=tuple(sorted(headers.items())))
    else:
        if not isinstance(data["file"], str) or not data["file"]:
            raise ScenarioError(f"{where}: file must be a path")
        fields["file"] = data["file"]
    name = data.get("name") or fields.get("run") or fields.get("url") or fields.get("file")
    return Step(name=str(name), **fields)


def _service(data: dict, where: str) -> Service:
    unknown = sorted(set(data) - {"name", "run", "ready", "ready_timeout"})
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r}")
    if not isinstance(data.get("run"), str) or not data["run"].strip():
        raise ScenarioError(f"{where}: run must be the command that starts the service")
    ready = data.get("ready", {})
    if not isinstance(ready, dict) or len(ready) != 1 or next(iter(ready)) not in ("port", "url", "run"):
        raise ScenarioError(f"{where}: ready must be one of {{ port = ... }}, {{ url = \"...\" }}, "
                            "{ run = \"CMD\" }: how to tell the service is up")
    kind, value = next(iter(ready.items()))
    return Service(name=str(data.get("name") or f"service {where.rsplit('[', 1)[-1].rstrip(']')}"),
                   run=data["run"], **{f"ready_{kind}": str(value)},
                   ready_timeout=_number(data.get("ready_timeout", DEFAULT_READY_TIMEOUT), f"{where}: ready_timeout"))
