"""Keep the cached pyramid in step with the tree while it changes.

watchfiles batches file-system events (a `git checkout` of hundreds of files
arrives as one batch). Each batch becomes the cheapest correct refresh:

- a few files changed: re-read just those (by the walk's ignore rules) and
  re-summarize their ancestors (`update_paths`);
- an ignore file changed, a directory appeared, vanished or moved, many files
  changed, or the watcher lost events: a full incremental build, which re-hashes
  the tree and re-parses only what differs.

Either way the cache ends equal to what a fresh build of the same tree gives.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cache.store import Store
from cockpit.core.pyramid import BuildStats, build, update_paths
from cockpit.core.scan import ALWAYS_SKIPPED_DIRS, IGNORE_FILES
from cockpit.jobs.runner import Jobs

FULL_BUILD_OVER = 100  # changed paths in one batch past which a full incremental build is cheaper
# Files editors and tools write for a moment beside the one being saved: Emacs locks (`.#x`) and backups
# (`x~`), Vim swap files and its write test (`4913`), `sed -i`'s temporary file. Their rename onto the
# real file is the change; they are not.
EDITOR_TEMP = re.compile(r"(\.#.*|.*~|\..*\.sw[a-px]|4913|sed[A-Za-z0-9]{6}|.*\.tmp)$")


@dataclass
class Refresh:
    paths: list[str]
    full: bool
    stats: BuildStats
    seconds: float

    def describe(self) -> str:
        what = ", ".join(self.paths[:3]) + (f" and {len(self.paths) - 3} more" if len(self.paths) > 3 else "")
        mode = "full rescan" if self.full else "update"
        s = self.stats
        return (f"{what}: {mode}, {s.files_parsed} re-outlined, {s.files_removed} removed, "
                f"{s.dirs_summarized} directories re-summarized in {self.seconds * 1000:.0f} ms, 0 tokens spent")


class Watcher:
    def __init__(self, root: str, store: Store, max_file_bytes: int | None = None, exclude: tuple[str, ...] = (),
                 include_compiled: bool = False, on_refresh: Callable[[Refresh], None] | None = None,
                 llm_refresh: Callable[[], object] | None = None, settle_seconds: float = 30.0):
        """`llm_refresh`, when given, re-asks the LLM for what went stale once changes have settled for
        `settle_seconds`: a file saved ten times in a minute is paid for once."""
        self.root = os.path.realpath(root)
        self.store = store
        self.options = {"exclude": tuple(exclude), "include_compiled": include_compiled}
        if max_file_bytes:
            self.options["max_file_bytes"] = max_file_bytes
        self.on_refresh = on_refresh
        self.llm_refresh = llm_refresh
        self.settle_seconds = settle_seconds
        self.llm_due: float | None = None  # when the pending LLM refresh may run

    def relative(self, path: str) -> str | None:
        real = os.path.abspath(path)
        if real != self.root and not real.startswith(self.root + os.sep):
            return None
        rel = os.path.relpath(real, self.root).replace(os.sep, "/")
        if rel == "." or any(part in ALWAYS_SKIPPED_DIRS for part in rel.split("/")):
            return None  # our own cache, git's internals: never work
        if EDITOR_TEMP.fullmatch(rel.rsplit("/", 1)[-1]):
            return None
        return rel

    def handle(self, changed_paths: Iterable[str]) -> Refresh | None:
        """Apply one batch of changed absolute paths."""
        rels = sorted({r for r in map(self.relative, changed_paths) if r})
        if not rels:
            return None
        if len(rels) > FULL_BUILD_OVER or any(self._structural(rel) for rel in rels):
            return self.rescan(rels)
        started = time.perf_counter()
        stats = update_paths(self.root, self.store, rels, **self.options)
        return self._report(Refresh(rels, False, stats, time.perf_counter() - started))

    def rescan(self, rels: list[str] | None = None) -> Refresh:
        """A full incremental build: re-hash the tree, re-parse only what differs."""
        started = time.perf_counter()
        stats = build(self.root, self.store, workers=None if rels is None or len(rels) >= 400 else 1, **self.options)
        return self._report(Refresh(rels or ["(whole tree)"], True, stats, time.perf_counter() - started))

    def _report(self, refresh: Refresh) -> Refresh:
        stats = refresh.stats
        if stats.files_parsed or stats.files_removed or stats.dirs_summarized:
            Jobs(self.store).record("refresh", refresh.describe(), refresh.seconds,
                                    {"paths": refresh.paths[:50], "full": refresh.full})
            if self.on_refresh:
                self.on_refresh(refresh)
            if self.llm_refresh:
                self.llm_due = time.monotonic() + self.settle_seconds  # every change restarts the wait
        return refresh

    def settle(self, now: float | None = None) -> object | None:
        """Run the pending LLM refresh if changes have been quiet long enough; its result, or None."""
        now = time.monotonic() if now is None else now
        if self.llm_due is None or now < self.llm_due:
            return None
        self.llm_due = None
        return self.llm_refresh()

    def _structural(self, rel: str) -> bool:
        """A change that a per-file update cannot follow: ignore rules, or a directory."""
        if rel.rsplit("/", 1)[-1] in IGNORE_FILES:
            return True
        if os.path.isdir(os.path.join(self.root, rel)):
            return True
        return self.store.node(rel) is not None and self.store.node(rel)["kind"] == "dir"

    def run(self, stop: threading.Event | None = None, debounce_ms: int = 50) -> None:
        """Watch until `stop` is set: catch up once, then refresh on every batch of changes."""
        import watchfiles

        while stop is None or not stop.is_set():
            caught_up = False
            try:
                # yield_on_timeout: the first (possibly empty) batch says the watch is live; only then
                # catch up with a rescan, so that nothing changed in between goes unseen.
                for changes in watchfiles.watch(self.root, debounce=debounce_ms, step=10, stop_event=stop,
                                                 raise_interrupt=False, rust_timeout=200, yield_on_timeout=True):
                    if not caught_up:
                        self.rescan()
                        caught_up = True
                    elif changes:
                        self.handle(path for _, path in changes)
                    self.settle()  # in this thread: the cache connection is never shared
            except (OSError, RuntimeError):
                # Lost events (queue overflow) or a watch that died: a full rescan by hashes, then watch again.
                self.rescan()
                time.sleep(0.2)
            else:
                return


def watch_in_background(root: str, cache_path, log: Callable[[str], None], **options) -> threading.Event:
    """Run a watcher on its own thread and cache connection (the app's and the MCP server's way)."""
    stop = threading.Event()

    def run() -> None:
        store = Store(cache_path, os.path.realpath(root))
        try:
            Watcher(root, store, on_refresh=lambda r: log(r.describe()), **options).run(stop)
        finally:
            store.close()

    threading.Thread(target=run, name="cockpit-watch", daemon=True).start()
    return stop
