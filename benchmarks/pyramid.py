"""Build figures of the pyramid: cold build, warm re-run, one-file update, memory, against the raw floor.

    python benchmarks/pyramid.py [--repeat N] [--no-django] [--workers N]

Targets: this repository, the installed CPython standard library (site-packages left
out), and Django unpacked from its source distribution. For each it prints files,
tokens (the files' source), the cold build (a fresh cache, in a fresh process),
the warm re-run (nothing changed), a one-file update (the watcher's path: one named
file and its ancestors) and a full re-run after one edit, the peak RSS of the
building process and of its largest worker, and the raw floor: reading and
tree-sitter-parsing the same files in one process, measured in the same run.
Times are medians over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cache.store import Store  # noqa: E402
from cockpit.core.pyramid import build, update_paths  # noqa: E402
from cockpit.core.scan import scan  # noqa: E402
from summarizers.languages import LANGUAGES  # noqa: E402
from summarizers.outline import _parser_and_query  # noqa: E402

DJANGO = "django==5.1.4"


def cold_build_in_child(root: str, exclude: list[str], workers: int | None) -> dict:
    """One cold build in a fresh process, so that its memory and import costs are its own."""
    cache = tempfile.mktemp(suffix=".sqlite")
    args = [sys.executable, __file__, "--child", root, cache, json.dumps(exclude), str(workers or 0)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["cache"] = cache
    return result


def child(root: str, cache: str, exclude: list[str], workers: int) -> None:
    store = Store(cache, root)
    started = time.perf_counter()
    stats = build(root, store, workers=workers or None, exclude=tuple(exclude))
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "files": stats.files_total, "rss_kb": own, "worker_rss_kb": workers_rss}))


def floor(root: str, exclude: list[str]) -> float:
    """Read every file of the pyramid and parse those with a grammar, in one process."""
    files = scan(root, exclude=tuple(exclude)).files
    parsers = {}
    started = time.perf_counter()
    for f in files:
        with open(os.path.join(root, f.path), "rb") as fh:
            data = fh.read()
        if f.lang not in LANGUAGES:
            continue
        if f.lang not in parsers:
            parsers[f.lang] = _parser_and_query(f.lang)[0]
        parsers[f.lang].parse(data)
    return time.perf_counter() - started


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pick_edit_target(root: str, store: Store) -> str:
    """A mid-sized Python file, the kind a person edits."""
    files = sorted((f for f in store.files() if f["lang"] == "python"), key=lambda f: f["size"])
    return files[len(files) // 2]["path"] if files else store.files()[0]["path"]


def measure(name: str, root: str, exclude: list[str], repeat: int, workers: int | None) -> dict:
    floors = [floor(root, exclude) for _ in range(repeat)]
    colds = [cold_build_in_child(root, exclude, workers) for _ in range(repeat)]
    cache = colds[-1]["cache"]
    store = Store(cache, root)
    warm = median_time(lambda: build(root, store, workers=workers, exclude=tuple(exclude)), repeat + 2)
    target = pick_edit_target(root, store)
    original = Path(root, target).read_bytes()
    counter = iter(range(10**6))

    def edit() -> None:
        Path(root, target).write_bytes(original + f"\n# edit {next(counter)}\n".encode())

    def timed_update() -> float:
        edit()
        started = time.perf_counter()
        stats = update_paths(root, store, [target])
        assert stats.files_parsed == 1, stats
        return time.perf_counter() - started

    def timed_rerun() -> float:
        edit()
        started = time.perf_counter()
        stats = build(root, store, workers=workers, exclude=tuple(exclude))
        assert stats.files_parsed == 1, stats
        return time.perf_counter() - started

    try:
        update = statistics.median(timed_update() for _ in range(max(5, repeat * 3)))
        rerun = statistics.median(timed_rerun() for _ in range(max(3, repeat)))
    finally:
        Path(root, target).write_bytes(original)
        build(root, store, workers=workers, exclude=tuple(exclude))
    repo_node = store.node("")
    result = {
        "target": name,
        "files": colds[-1]["files"],
        "tokens": repo_node["tokens"][7],
        "cold": statistics.median(c["seconds"] for c in colds),
        "floor": statistics.median(floors),
        "warm": warm,
        "update": update,
        "rerun": rerun,
        "rss_mb": max(c["rss_kb"] for c in colds) / 1024,
        "worker_rss_mb": max(c["worker_rss_kb"] for c in colds) / 1024,
    }
    store.close()
    for c in colds:
        for suffix in ("", "-wal", "-shm"):
            Path(c["cache"] + suffix).unlink(missing_ok=True)
    return result


def django_tree() -> str | None:
    """Django's source distribution, downloaded once and unpacked into a cache dir."""
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cockpit-bench"
    unpacked = home / "django"
    if unpacked.exists():
        return str(next(unpacked.iterdir()))
    home.mkdir(parents=True, exist_ok=True)
    download = home / "sdist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q", "-d", str(download), DJANGO],
        capture_output=True, text=True,
    )
    archives = list(download.glob("*.tar.gz"))
    if done.returncode != 0 or not archives:
        print(f"django: skipped, could not download {DJANGO}: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    tmp = home / "django.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archives[0]) as tar:
        tar.extractall(tmp, filter="data")
    tmp.rename(unpacked)
    return str(next(unpacked.iterdir()))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        root, cache, exclude, workers = sys.argv[2:6]
        child(root, cache, json.loads(exclude), int(workers))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--no-django", action="store_true", help="leave out the Django source tree")
    parser.add_argument("--only", choices=["repo", "stdlib", "django"], action="append")
    parser.add_argument("--workers", type=int, default=None, help="build processes (default: every core)")
    args = parser.parse_args()
    targets = []
    if not args.only or "repo" in args.only:
        targets.append(("this repo", str(REPO), [".venv/"]))
    if not args.only or "stdlib" in args.only:
        targets.append(("CPython stdlib", sysconfig.get_paths()["stdlib"], ["site-packages/"]))
    if (not args.only and not args.no_django) or (args.only and "django" in args.only):
        tree = django_tree()
        if tree:
            targets.append((DJANGO, tree, []))
    print(f"cores: {len(os.sched_getaffinity(0))}; workers: {args.workers or 'every core'}; "
          f"medians of {args.repeat} runs\n")
    header = ("target", "files", "tokens", "cold s", "floor s", "cold/floor", "warm s", "1-file update ms",
              "re-run after edit s", "peak RSS MB (worker)")
    rows = []
    for name, root, exclude in targets:
        r = measure(name, root, exclude, args.repeat, args.workers)
        rows.append((r["target"], f"{r['files']:,}", f"{r['tokens']:,}", f"{r['cold']:.2f}", f"{r['floor']:.2f}",
                     f"{r['cold'] / r['floor']:.2f}x", f"{r['warm']:.3f}", f"{r['update'] * 1000:.1f}",
                     f"{r['rerun']:.3f}", f"{r['rss_mb']:.0f} ({r['worker_rss_mb']:.0f})"))
        print("  done:", name, file=sys.stderr)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
