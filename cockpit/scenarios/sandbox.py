"""Where a trial runs: a throwaway copy of the repository, a temp dir, a clean environment.

The copy is a detached git worktree of HEAD with the working tree's changes applied (`git diff HEAD
--binary`) and its untracked, non-ignored files copied in, so a trial sees exactly what the user
sees, uncommitted edits too, and never runs in the user's own tree. Outside git, the tree is copied.
A scenario set inside the repository is removed from the copy. The worktree is removed (and pruned)
when the trial ends, whatever happened.

This is not a sandbox: the steps run as the user. What is isolated is the working directory (the
copy), HOME, TMPDIR and the environment (a minimal PATH, no variable of the user's unless the
scenario names it in `pass_env`); a step can still write anywhere the user can, and reach the network.
Every command runs in its own process group, killed with everything it started on timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cache.process import process_alive
from cockpit.scenarios.model import PLACEHOLDER, Scenario, Service, Step

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
OUTPUT_BYTES = 64_000  # of a step's output kept in the trajectory (its head and its tail)
POLL_SECONDS = 0.05
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL for a service
IGNORED_IN_COPY = (".git", ".cockpit")
TRIAL_DIR = re.compile(r"^cockpit-trial-(\d+)-")  # cockpit-trial-<pid of the run>-<scenario>-<trial>-<random>


class CopyError(Exception):
    """The repository could not be copied for a trial."""


@dataclass
class Sandbox:
    """One trial's copy, temp dir, environment and ports."""

    root: Path  # the copy of the repository: the steps' working directory
    tmp: Path  # the trial's temp dir (HOME and TMPDIR are inside)
    env: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)  # placeholder -> value

    def expand(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(1), m.group(0)), text)


# --- the repository's state and its copy ---------------------------------------------------------


def git(root: str | Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, check=False,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})


def is_git(root: str | Path) -> bool:
    done = git(root, "rev-parse", "--show-toplevel")
    return done.returncode == 0 and os.path.realpath(done.stdout.decode().strip()) == os.path.realpath(root)


def state(root: str | Path, leave_out: str | None = None) -> tuple[str, bool]:
    """(HEAD's commit, whether the working tree differs from it), leaving out the set's own directory."""
    if not is_git(root):
        return "", True
    head = git(root, "rev-parse", "HEAD")
    commit = head.stdout.decode().strip() if head.returncode == 0 else ""
    status = git(root, "status", "--porcelain", "--untracked-files=normal", "-z").stdout.decode()
    changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    if leave_out:
        changed = [p for p in changed if p != leave_out and not p.startswith(leave_out.rstrip("/") + "/")]
    return commit, bool(changed) or not commit


@contextlib.contextmanager
def copy_of(root: str | Path, into: Path, leave_out: str | None = None) -> Iterator[Path]:
    """A copy of the repository as it is now (HEAD plus uncommitted changes) at `into`, removed afterwards."""
    root = Path(os.path.realpath(root))
    worktree = False
    try:
        if is_git(root) and git(root, "rev-parse", "--verify", "-q", "HEAD").returncode == 0:
            worktree = True
            _worktree(root, into)
        else:
            shutil.copytree(root, into, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED_IN_COPY))
        if leave_out:
            shutil.rmtree(into / leave_out, ignore_errors=True)
        yield into
    finally:
        if worktree:
            git(root, "worktree", "remove", "--force", str(into))
            git(root, "worktree", "prune")
        shutil.rmtree(into, ignore_errors=True)


def sweep(root: str | Path) -> list[str]:
    """Remove the trial copies that runs killed outright (SIGKILL, a crash) left registered; their paths."""
    if not is_git(root):
        return []
    listing = git(root, "worktree", "list", "--porcelain").stdout.decode()
    swept = []
    for line in listing.splitlines():
        path = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        match = TRIAL_DIR.match(path.parent.name) if path is not None else None
        if match and not process_alive(int(match.group(1))):
            git(root, "worktree", "remove", "--force", str(path))
            shutil.rmtree(path.parent, ignore_errors=True)
            swept.append(str(path))
    if swept:
        git(root, "worktree", "prune")
    return swept


def _worktree(root: Path, into: Path) -> None:
    added = git(root, "worktree", "add", "--detach", "-q", str(into), "HEAD")
    if added.returncode != 0:
        raise CopyError(f"git worktree add: {_last_line(added.stderr)}")
    diff = git(root, "diff", "HEAD", "--binary")
    if diff.stdout.strip():
        applied = git(into, "apply", "--binary", "--whitespace=nowarn", "-", input=diff.stdout)
        if applied.returncode != 0:
            raise CopyError(f"applying the working tree's changes to the copy: {_last_line(applied.stderr)}")
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z").stdout.decode()
    for rel in filter(None, untracked.split("\0")):
        source, target = root / rel, into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "failed"


# --- the trial's world -----------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox(root: str | Path, scenario: Scenario, trial: int, leave_out: str | None = None,
            environ: dict[str, str] | None = None) -> Iterator[Sandbox]:
    """The copy, temp dir, ports and environment one trial of `scenario` runs in; all removed afterwards."""
    environ = os.environ if environ is None else environ
    tmp = Path(tempfile.mkdtemp(prefix=f"cockpit-trial-{os.getpid()}-{scenario.name}-{trial}-"))
    try:
        (tmp / "home").mkdir()
        (tmp / "tmp").mkdir()
        with copy_of(root, tmp / "repo", leave_out) as copy:
            values = {"root": str(copy), "tmp": str(tmp), "trial": str(trial)}
            for name in scenario.ports:
                values[f"port:{name}" if name else "port"] = str(free_port())
            env = {"PATH": MINIMAL_PATH, "HOME": str(tmp / "home"), "TMPDIR": str(tmp / "tmp"), "LANG": "C.UTF-8",
                   "LC_ALL": "C.UTF-8", "SCENARIO_TRIAL": str(trial), "SCENARIO_ROOT": str(copy),
                   "SCENARIO_TMP": str(tmp)}
            if "port" in values:
                env["SCENARIO_PORT"] = values["port"]
            env.update({name: environ[name] for name in scenario.pass_env if name in environ})
            box = Sandbox(copy, tmp, env, values)
            env.update({name: box.expand(value) for name, value in scenario.env})
            yield box
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- steps -------------------------------------------------------------------------------------------

Check = Callable[[], None]  # raises to stop (a cancelled job)


def run_command(box: Sandbox, command: str, timeout: float, check: Check | None = None) -> dict:
    """Run a shell command in the copy; what it did: exit status (None on timeout), output, seconds."""
    started = time.perf_counter()
    out_path = box.tmp / f".out-{time.monotonic_ns()}"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=box.root, env=box.env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    timed_out = False
    try:
        while proc.poll() is None:
            if time.perf_counter() - started > timeout:
                timed_out = True
                break
            if check:
                check()
            time.sleep(POLL_SECONDS)
    finally:
        if proc.poll() is None:
            kill_group(proc, grace=0)
    # The shell is gone, but what it started in the background may still hold the group: end it too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    output = read_capped(out_path)
    out_path.unlink(missing_ok=True)
    return {"exit": None if timed_out else proc.returncode, "timed_out": timed_out, "output": output,
            "seconds": round(time.perf_counter() - started, 3)}


def http_request(box: Sandbox, step: Step) -> dict:
    url = box.expand(step.url)
    data = box.expand(step.body).encode() if step.body else None
    request = urllib.request.Request(url, data=data, method=step.method,
                                     headers={k: box.expand(v) for k, v in step.headers})
    started = time.perf_counter()
    result: dict = {"method": step.method, "url": url}
    try:
        with urllib.request.urlopen(request, timeout=step.timeout) as response:
            result.update(status=response.status, body=_capped(response.read(OUTPUT_BYTES + 1)))
    except urllib.error.HTTPError as exc:
        result.update(status=exc.code, body=_capped(exc.read(OUTPUT_BYTES + 1)))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        result.update(status=None, body="", error=f"{type(exc).__name__}: {reason}")
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def look_at_file(box: Sandbox, step: Step) -> dict:
    started = time.perf_counter()
    path = Path(box.expand(step.file))
    path = path if path.is_absolute() else box.root / path
    result: dict = {"file": str(path), "exists": path.is_file()}
    if result["exists"]:
        result["content"] = read_capped(path)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


# --- services ------------------------------------------------------------------------------------------


@dataclass
class Running:
    service: Service
    proc: subprocess.Popen
    log: Path


def start_service(box: Sandbox, service: Service, check: Check | None = None) -> tuple[Running, dict]:
    """Start a service and wait until it is ready; (its handle, a record: ready or why not)."""
    log = box.tmp / f".service-{re.sub(r'[^A-Za-z0-9_-]', '_', service.name)}.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["/bin/sh", "-c", box.expand(service.run)], cwd=box.root, env=box.env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    running = Running(service, proc, log)
    record = {"name": service.name, "command": box.expand(service.run), "ready": False}
    try:
        while True:
            if proc.poll() is not None:
                record["error"] = f"exited with status {proc.returncode} before it was ready"
                break
            if _ready(box, service):
                record["ready"] = True
                break
            if time.perf_counter() - started > service.ready_timeout:
                record["error"] = f"not ready after {service.ready_timeout:g}s ({_readiness(box, service)})"
                break
            if check:
                check()
            time.sleep(POLL_SECONDS)
    except BaseException:
        stop_service(running)  # cancelled while waiting: nothing is left running
        raise
    record["seconds"] = round(time.perf_counter() - started, 3)
    return running, record


def _readiness(box: Sandbox, service: Service) -> str:
    if service.ready_port:
        return f"nothing listens on port {box.expand(service.ready_port)}"
    if service.ready_url:
        return f"{box.expand(service.ready_url)} does not answer 2xx"
    return f"`{box.expand(service.ready_run)}` does not pass"


def _ready(box: Sandbox, service: Service) -> bool:
    if service.ready_port:
        try:
            socket.create_connection(("127.0.0.1", int(box.expand(service.ready_port))), timeout=0.5).close()
            return True
        except (OSError, ValueError):
            return False
    if service.ready_url:
        try:
            with urllib.request.urlopen(box.expand(service.ready_url), timeout=1) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False
    return subprocess.run(["/bin/sh", "-c", box.expand(service.ready_run)], cwd=box.root, env=box.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5,
                          start_new_session=True).returncode == 0


def stop_service(running: Running) -> str:
    """Stop the service and all it started; its output (capped)."""
    kill_group(running.proc, KILL_GRACE)
    output = read_capped(running.log)
    running.log.unlink(missing_ok=True)
    return output


def kill_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group (then SIGKILL after `grace` seconds), and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL) if grace else (signal.SIGKILL,):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace or 5)
            if grace:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # what the leader left behind
            return
        except subprocess.TimeoutExpired:
            continue


def read_capped(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(OUTPUT_BYTES + 1)
            if len(data) > OUTPUT_BYTES:
                fh.seek(-OUTPUT_BYTES // 2, os.SEEK_END)
                data = data[: OUTPUT_BYTES // 2] + b"\n... (cut) ...\n" + fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _capped(data: bytes) -> str:
    if len(data) > OUTPUT_BYTES:
        data = data[:OUTPUT_BYTES] + b"\n... (cut)"
    return data.decode("utf-8", errors="replace")
