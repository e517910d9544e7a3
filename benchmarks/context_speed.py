"""Request latency of `build_context` and `search` on the CPython standard library, cache warm.

    python benchmarks/context_speed.py [--stdlib DIR] [--cache FILE] [--runs 3] [--budget 8000] [--format md|json]

Without --stdlib the interpreter's standard library is copied to /tmp/stdlib-bench
(site-packages and __pycache__ left out). The pyramid is built once, untimed. Then:

- warm: every task through `build_context` --runs times and every query through `search`
  (after one untimed call, so in-process memos are warm too);
- first call: `build_context` and `search`, each in a fresh process whose only warm
  thing is the cache file (imports timed apart); and, apart, the very first such process
  after the build, which also derives and stores the reference graph.

Prints median and p90 per operation against the targets (build_context 150 ms, search
30 ms) and fails if a request moved the cache's generation (a request must not rebuild).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_MS = {"build_context": 150.0, "search": 30.0}
TASKS = [
    "json.dumps with sort_keys fails when dict keys mix str and int",
    "asyncio: cancel pending tasks when the event loop is closed",
    "Add a timeout to subprocess.run that also kills the child process group",
    "http.client should reject header values that contain newlines",
    "pathlib Path.glob returns duplicate results for recursive ** patterns",
    "RotatingFileHandler fails to roll over when the log file was removed",
    "argparse should report an error for ambiguous abbreviations of long options",
    "email header parser mishandles encoded words in quoted-printable",
    "zipfile: read archives that use a data descriptor together with ZIP64 extensions",
    "urllib.parse.urlsplit should strip leading C0 control characters and spaces",
    "frozen dataclass with slots=True raises in __post_init__ when setting a field",
]
QUERIES = [  # exact names, partial names, words
    "urlsplit", "ThreadPoolExecutor", "dumps", "JSONDecoder", "Path.glob", "RotatingFileHandler", "parse_args",
    "HTTPConnection", "namedtuple", "SequenceMatcher",
    "urlspl", "ThreadPool", "Rotating", "getaddr", "_make",
    "temporary directory", "cancel task", "quoted printable", "sqlite connection", "event loop",
]


def copy_stdlib(dest: Path) -> Path:
    if dest.is_dir():
        return dest
    shutil.copytree(sysconfig.get_paths()["stdlib"], dest, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "site-packages"))
    return dest


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def child(op: str, root: str, cache: str, budget: int, fmt: str) -> None:
    """One fresh process: imports, then the first request, each timed."""
    started = time.perf_counter()
    from cache.store import Store
    from cockpit.core.context import build_context, search
    imports = time.perf_counter() - started
    store = Store(cache, root)
    generation = store.generation()
    started = time.perf_counter()
    if op == "build_context":
        build_context(store, root, TASKS[0], budget, fmt=fmt)
    else:
        search(store, QUERIES[0], 20)
    first = time.perf_counter() - started
    print(json.dumps({"imports": imports, "first": first, "rebuilt": store.generation() != generation}))


def first_call(op: str, root: str, cache: str, budget: int, fmt: str) -> dict:
    args = [sys.executable, __file__, "--child", op, "--stdlib", root, "--cache", cache,
            "--budget", str(budget), "--format", fmt]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stdlib", help="tree to use (default: this stdlib, copied to /tmp/stdlib-bench)")
    parser.add_argument("--cache", help="cache file (default: /tmp/stdlib-bench.sqlite)")
    parser.add_argument("--runs", type=int, default=3, help="runs per task (default 3)")
    parser.add_argument("--budget", type=int, default=8000)
    parser.add_argument("--format", default="md", choices=("md", "json"))
    parser.add_argument("--child", choices=tuple(TARGET_MS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.stdlib or str(copy_stdlib(Path("/tmp/stdlib-bench")))
    cache = args.cache or "/tmp/stdlib-bench.sqlite"
    if args.child:
        return child(args.child, root, cache, args.budget, args.format)

    from cache.store import Store
    from cockpit.core.context import build_context, search
    from cockpit.core.pyramid import build

    store = Store(cache, root)
    started = time.perf_counter()
    stats = build(root, store)
    print(f"{root}: {stats.files_total} files; build/refresh {time.perf_counter() - started:.1f} s (untimed)")
    generation = store.generation()

    # The first fresh process after a build also derives what the cache keeps per generation
    # (the reference graph); the second one finds it stored and is cold only in-process.
    fresh = {op: first_call(op, root, cache, args.budget, args.format) for op in TARGET_MS}
    cold = {op: first_call(op, root, cache, args.budget, args.format) for op in TARGET_MS}

    build_context(store, root, TASKS[0], args.budget, fmt=args.format)  # warm the in-process memos
    search(store, QUERIES[0], 20)
    times: dict[str, list[float]] = {op: [] for op in TARGET_MS}
    per_task = []
    for task in TASKS:
        runs = []
        for _ in range(args.runs):
            started = time.perf_counter()
            ctx = build_context(store, root, task, args.budget, fmt=args.format)
            runs.append(1000 * (time.perf_counter() - started))
            assert ctx.used <= args.budget, f"over budget: {ctx.used} > {args.budget} for {task!r}"
        times["build_context"] += runs
        per_task.append((statistics.median(runs), ctx.used, len(ctx.items), task))
    for query in QUERIES:
        for _ in range(args.runs):
            started = time.perf_counter()
            hits = search(store, query, 20)
            times["search"].append(1000 * (time.perf_counter() - started))
        assert hits, f"no hits for {query!r}"
    moved = store.generation() != generation or any(c["rebuilt"] for c in [*cold.values(), *fresh.values()])

    print(f"\nbudget {args.budget}, format {args.format}, {args.runs} runs each; times in ms")
    print(f"{'operation':30} {'n':>4} {'median':>8} {'p90':>8} {'max':>8} {'target':>7} {'median/target':>14}")
    for op, values in times.items():
        med = statistics.median(values)
        print(f"{op + ' (warm)':30} {len(values):>4} {med:>8.1f} {percentile(values, 0.9):>8.1f} {max(values):>8.1f} "
              f"{TARGET_MS[op]:>7.0f} {med / TARGET_MS[op]:>14.2f}")
    for label, calls in (("1st call", cold), ("1st after build", fresh)):
        for op, c in calls.items():
            ms = 1000 * c["first"]
            print(f"{op + f' ({label})':30} {1:>4} {ms:>8.1f} {'':>8} {'':>8} {TARGET_MS[op]:>7.0f} "
                  f"{ms / TARGET_MS[op]:>14.2f}   (imports {1000 * c['imports']:.0f} ms, not counted)")
    print("\nbuild_context per task (median ms, tokens used, items shown):")
    for med, used, items, task in per_task:
        print(f"  {med:7.1f} {used:6d} {items:5d}  {task}")
    print(f"\ncache generation unchanged across requests: {not moved}")
    if moved:
        sys.exit("a request rebuilt the cache")


if __name__ == "__main__":
    main()
