"""The service layer: what every face (CLI, MCP server, app) and every job does to open a repository,
its config and its cache, and to bring its pyramid up to date, safely, one builder at a time.

A build writes files in batches, each batch one transaction that also marks the directories above
its files as dirty; the directories are rebuilt from those marks at the end. So a build killed at
any moment leaves a cache the next build completes, and two processes never build one repository
at once: the second waits on the first's lock (showing its progress) and then finds nothing to do,
or takes over where the first stopped if it died.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cache.store import Store
from cockpit import paths
from cockpit.core.config import Config
from cockpit.paths import default_cache_path

if TYPE_CHECKING:
    from cockpit.core.pyramid import BuildStats

try:
    import fcntl
except ImportError:  # no advisory locks here: builds are still safe, only no longer exclusive
    fcntl = None

Progress = Callable[..., None]  # (files done, files[, bytes done, bytes])
WAIT_POLL_SECONDS = 0.2


class Job(Protocol):
    """What a refresh reports to, when it runs as a job (`cockpit.jobs.runner.Job` is one)."""

    def progress(self, done: int, total: int | None = None) -> None: ...

    def log(self, message: str, level: str = "info") -> None: ...

    def check_cancelled(self) -> None: ...


def cache_path(root: str, config: Config, cache: str | os.PathLike | None = None) -> Path:
    """The cache file of `root`: the one asked for, else the config's, else the default place."""
    return Path(cache or config.cache or default_cache_path(root))


def cache_notice(root: str, path: Path) -> str:
    """One line when the default cache had to leave the repository (it is read-only), else ''; a cache
    the user placed elsewhere (`--cache`, config) is where they said and needs no word."""
    if Path(path) != default_cache_path(root) or Path(path).is_relative_to(Path(root)):
        return ""
    return f"{root} is read-only: its cache is kept in {path}"


def skipped_summary(skipped: list[tuple[str, str]]) -> str:
    """'12 files skipped (8 binary, 4 too large)': the `--show-skipped` reasons, counted."""
    if not skipped:
        return ""
    kinds = Counter(reason.split(" (")[0].split(":")[0] for _, reason in skipped)
    reasons = ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common(4))
    return f"{len(skipped):,} file{'s' if len(skipped) != 1 else ''} skipped ({reasons})"


def open_repo(root: str, cache: str | os.PathLike | None = None, rebuild: bool = False) -> tuple[Config, Store]:
    """The repository's config and its open cache (raises ConfigError or CacheError, each one line)."""
    config = Config.load(root)
    return config, Store(cache_path(root, config, cache), root, rebuild=rebuild)


def refresh(root: str, store: Store, config: Config, progress: Progress | None = None, subpath: str = "",
            workers: int | None = None, max_file_size: int | None = None, exclude: tuple[str, ...] = (),
            job: Job | None = None) -> BuildStats:
    """Bring the pyramid up to date (only what changed is rebuilt); `progress(done, total)` as it goes."""
    from cockpit.core.pyramid import build  # the parsers load only for a refresh

    def report(done: int, total: int, *done_and_total_bytes: int) -> None:
        if progress:
            progress(done, total, *done_and_total_bytes)
        if job:
            job.progress(done, total)

    options = scan_options(config, root)
    options["exclude"] += tuple(exclude)
    options["max_file_bytes"] = max_file_size or options["max_file_bytes"]
    with builder_lock(store, report, job):
        return build(root, store, subpath=subpath, workers=workers or config.workers, progress=report, **options)


def scan_options(config: Config, root: str | None = None) -> dict:
    """What decides which files are in the pyramid: for a build, and for every watcher. With `root`,
    the holdout scenario sets inside the repository are left out (see `holdout_paths`)."""
    holdout = tuple(f"/{rel}/" for rel in holdout_paths(root, config)) if root else ()
    return {"max_file_bytes": config.max_file_bytes, "exclude": tuple(config.exclude) + holdout,
            "include_compiled": config.include_compiled}


# --- holdout scenario sets ------------------------------------------------------------------


class SetError(Exception):
    """No scenario set, or one that cannot be used; the message says how to name one."""


def scenario_set(root: str, config: Config, override: str | os.PathLike | None = None) -> Path:
    """The repository's holdout scenario set: `override` (--set), else the user's cockpit.toml
    (`[scenarios]` maps a repository's path to its set), else `scenarios` in [tool.cockpit]."""
    if override:
        return Path(override).expanduser().resolve()
    try:
        by_repo = paths.user_settings().get("scenarios", {})
    except paths.SettingsError as exc:
        raise SetError(str(exc)) from None
    real = os.path.realpath(root)
    if isinstance(by_repo, dict):
        for repo, where in by_repo.items():
            if isinstance(where, str) and os.path.realpath(os.path.expanduser(repo)) == real:
                return (paths.user_config_file().parent / os.path.expanduser(where)).resolve()
    if config.scenarios:
        return (Path(real) / os.path.expanduser(config.scenarios)).resolve()
    raise SetError(f"no scenario set for {real}: pass --set DIR, or map the repository to its set in "
                   f"{paths.user_config_file()} ([scenarios] \"{real}\" = \"DIR\")")


def inside(root: str, path: str | os.PathLike) -> str | None:
    """`path` relative to the repository when it lies inside it, else None."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    if real != top and not real.startswith(top + os.sep):
        return None
    return os.path.relpath(real, top).replace(os.sep, "/")


def holdout_paths(root: str, config: Config) -> list[str]:
    """Scenario sets inside the repository (relative paths): the configured one, and those a run was
    pointed at with --set (remembered in the per-user data dir). None of them may enter the pyramid."""
    found = set(_remembered_sets().get(os.path.realpath(root), []))
    with contextlib.suppress(SetError):
        rel = inside(root, scenario_set(root, config))
        if rel and rel != ".":
            found.add(rel)
    return sorted(found)


def remember_holdout(root: str, set_dir: str | os.PathLike) -> str | None:
    """Note a set found inside the repository, so that every later build leaves it out; its relative path."""
    rel = inside(root, set_dir)
    if not rel or rel == ".":
        return None
    sets = _remembered_sets()
    known = sets.setdefault(os.path.realpath(root), [])
    if rel not in known:
        known.append(rel)
        path = paths.holdout_file()
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(sets, indent=1))
            os.replace(tmp, path)
    return rel


def holdout_notice(root: str, set_dir: str | os.PathLike) -> str:
    """One line when the set lies inside the repository the agents work in, else ''."""
    rel = inside(root, set_dir)
    if rel is None:
        return ""
    return (f"the scenario set {rel}/ is inside the repository: it is left out of the pyramid and of every trial's "
            "copy, but agents working in the repository can still read it from disk; keep it outside")


def _remembered_sets() -> dict[str, list[str]]:
    try:
        data = json.loads(paths.holdout_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def builder_lock(store: Store, progress: Progress | None = None, job: Job | None = None) -> Iterator[None]:
    """Hold the repository's build lock; while another process holds it, follow that build's progress."""
    if fcntl is None:
        yield
        return
    path = Path(f"{store.path}.build-lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _follow(fh, store, progress, job)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _follow(fh, store: Store, progress: Progress | None, job: Job | None) -> None:
    """Wait for the lock, reporting the holder's progress from its job; returns holding the lock."""
    fh.seek(0)
    holder = fh.read().strip()
    if job:
        job.log(f"another build (pid {holder or '?'}) holds this repository: following it")
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        row = store.db.conn.execute(
            "SELECT done, total FROM jobs WHERE kind = 'summarize' AND state = 'running' AND pid = ? "
            "ORDER BY id DESC LIMIT 1", [int(holder) if holder.isdigit() else -1]).fetchone()
        if row and row[1] and progress:
            progress(row[0] or 0, row[1])
        elif job:
            job.check_cancelled()
        time.sleep(WAIT_POLL_SECONDS)
