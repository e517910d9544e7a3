"""Crash testing for the cache, in the spirit of SQLite's: kill a writer at random moments, let the
next ordinary run recover, and compare the whole cache with one a fresh build made, row by row.

Used by tests/test_crash.py (a few dozen kill points on a small tree) and benchmarks/crash.py
(as many as asked, on a bigger one, with real `cockpit` processes).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cache.store import FILE_COLUMNS

# What a cache holds that must be the same after any recovery as after a fresh build.
# (`created_at` of an LLM answer and the ledger differ by nature; the ledger is checked apart.)
COMPARED = {
    "nodes": "SELECT * FROM nodes ORDER BY id",
    # A file's stat (mtime, inode) is what one walk saw, not what it holds: a copy of the tree has others.
    "files": f"SELECT {', '.join(c for c in FILE_COLUMNS if c not in ('mtime_ns', 'inode'))} FROM files ORDER BY path",
    "skipped": "SELECT * FROM skipped ORDER BY path",
    "llm_summaries": "SELECT id, input_hash, model, prompt, summaries FROM llm_summaries ORDER BY id, input_hash",
}


def make_tree(root: Path, modules: int = 48, seed: int = 0) -> Path:
    """A small repository of nested packages, documented and not, with a README per package."""
    rng = random.Random(seed)
    words = ("quince", "crate", "ripen", "ledger", "orchard", "harvest", "press", "cider", "barrel", "prune")
    for i in range(modules):
        package = f"pkg{i % 4}/sub{i % 3}" if i % 5 else f"pkg{i % 4}"
        noun, verb = rng.choice(words), rng.choice(words)
        body = [f'"""{verb.title()} the {noun} records of batch {i}."""', "", "import os", ""]
        for j in range(rng.randint(1, 4)):
            body += [f"def {verb}_{noun}_{j}(items, limit={j + 1}):",
                     f'    """Return the first {j + 1} {noun}s that {verb}."""' if j % 2 else "    # undocumented",
                     "    return [x for x in items if x][:limit]", ""]
        body += [f"class {noun.title()}{i}:", f'    """A {noun} that can {verb}."""', "",
                 "    def run(self, path):", "        return os.path.join(path, 'out')", ""]
        target = root / package / f"mod{i}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(body))
    for pkg in {p.parent for p in root.rglob("*.py")}:
        (pkg / "README.md").write_text(f"# {pkg.name}\n\nThe {pkg.name} part of the orchard tools.\n")
    (root / "notes.txt").write_text("Plain notes at the top of the tree.\n")
    return root


def edit_tree(root: Path, seed: int) -> list[str]:
    """Change, add and delete files and a whole directory; the repo-relative paths touched."""
    rng = random.Random(seed)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.py"))
    touched = []
    for rel in rng.sample(files, 4):
        (root / rel).write_text((root / rel).read_text() + f"\n\ndef added_{seed}():\n    return {seed}\n")
        touched.append(rel)
    for rel in rng.sample([f for f in files if f not in touched], 2):
        (root / rel).unlink()
        touched.append(rel)
    for k in range(3):
        rel = f"fresh{seed}/deep/new{k}.py"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f'"""A new module, number {k}."""\n\ndef grown_{k}():\n    return {k}\n')
        touched.append(rel)
    gone = root / "pkg3" / "sub1"
    if gone.exists():
        touched += [str(p.relative_to(root)) for p in gone.rglob("*") if p.is_file()]
        shutil.rmtree(gone)
    return touched


def snapshot(cache: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(cache)
    try:
        found = {}
        for table, query in COMPARED.items():
            try:
                found[table] = conn.execute(query).fetchall()
            except sqlite3.OperationalError:
                found[table] = []
        found["dirty_dirs"] = conn.execute("SELECT id FROM dirty_dirs").fetchall()
        return found
    finally:
        conn.close()


def differences(got: dict, want: dict, limit: int = 5) -> list[str]:
    """What differs between two snapshots, by table and key, at most `limit` lines."""
    out = []
    if got["dirty_dirs"]:
        out.append(f"dirty_dirs left: {got['dirty_dirs'][:limit]}")
    for table in COMPARED:
        mine = {row[0] if table != "llm_summaries" else row[:2]: row for row in got[table]}
        theirs = {row[0] if table != "llm_summaries" else row[:2]: row for row in want[table]}
        for key in sorted(set(mine) | set(theirs), key=str):
            if mine.get(key) != theirs.get(key):
                what = "missing" if key not in mine else "extra" if key not in theirs else "differs"
                out.append(f"{table} {key!r}: {what}")
                if len(out) >= limit:
                    return out
    return out


@dataclass
class Tally:
    """Kill points per kind: how many landed mid-work, by signal, and how many recoveries converged."""
    landed: dict = field(default_factory=dict)  # (kind, signal name) -> kills that stopped a running writer
    missed: int = 0  # kills that came after the writer had finished
    converged: dict = field(default_factory=dict)  # kind -> trials whose recovery matched a fresh build
    trials: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    def landed_in(self, kind: str) -> int:
        return sum(n for (k, _), n in self.landed.items() if k == kind)

    def rows(self) -> list[tuple]:
        kinds = sorted(self.trials)
        return [(kind, self.trials[kind], self.landed.get((kind, "SIGKILL"), 0), self.landed.get((kind, "SIGTERM"), 0),
                 self.converged.get(kind, 0)) for kind in kinds]


def fork_run(work: Callable[[], None]) -> multiprocessing.Process:
    """`work` in a forked child (it opens its own connections); the child exits without cleanup."""
    def child() -> None:
        code = 0
        try:
            work()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)

    process = multiprocessing.get_context("fork").Process(target=child)  # not daemonic: builds start pools
    process.start()
    return process


def kill_after(process, delay: float, sig: int) -> bool:
    """Send `sig` after `delay` seconds; True when it stopped the process mid-work."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and process.is_alive():
        time.sleep(0.002)
    alive = process.is_alive()
    if alive:
        os.kill(process.pid, sig)
    process.join(30)
    return alive and process.exitcode == -sig


def timed(work: Callable[[], None]) -> float:
    started = time.monotonic()
    process = fork_run(work)
    process.join(120)
    return time.monotonic() - started


def duration_of(prepare: Callable[[], None], writer: Callable[[], None]) -> float:
    """How long the writer runs, uninterrupted, from the prepared state: the window kills are drawn from."""
    prepare()
    return timed(writer)


def trial(tally: Tally, kind: str, rng: random.Random, prepare: Callable[[], None], writer: Callable[[], None],
          recover: Callable[[], None], cache: Path, want: dict, duration: float, kills: int = 1) -> None:
    """One trial: prepare the cache, kill the writer `kills` times at random moments within `duration`
    (a later kill meets a writer that finds part of the work done), recover, compare."""
    prepare()
    for _ in range(kills):
        sig = rng.choice((signal.SIGKILL, signal.SIGTERM))
        process = fork_run(writer)
        if kill_after(process, rng.uniform(0.0, duration), sig):
            key = (kind, signal.Signals(sig).name)
            tally.landed[key] = tally.landed.get(key, 0) + 1
        else:
            tally.missed += 1
    recover()
    tally.trials[kind] = tally.trials.get(kind, 0) + 1
    diff = differences(snapshot(cache), want)
    if diff:
        tally.failures.append((kind, diff))
    else:
        tally.converged[kind] = tally.converged.get(kind, 0) + 1
