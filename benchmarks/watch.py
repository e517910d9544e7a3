"""How fast the watched pyramid follows edits, on a copy of the CPython standard library.

    python benchmarks/watch.py [--repeat 15] [--tree DIR]

Prints the median (and p90) time from a file's save to its refreshed entry in the
cache (read by another connection, as the context provider would), and the time
for a 500-file "checkout" (500 files rewritten at once) to be fully refreshed.
Targets: one file <= 100 ms median; 500 files <= 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cache.store import Store  # noqa: E402
from cockpit.core.pyramid import build  # noqa: E402
from cockpit.core.scan import content_hash  # noqa: E402
from cockpit.jobs.watch import Watcher  # noqa: E402


def copy_stdlib(target: Path) -> Path:
    source = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True)
    return target


def wait_until(reader: Store, expected: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds until every path has its expected hash in the cache."""
    started = time.perf_counter()
    pending = dict(expected)
    while pending and time.perf_counter() - started < timeout:
        marks = ",".join("?" * len(pending))
        for path, value in reader.db.conn.execute(f"SELECT path, hash FROM files WHERE path IN ({marks})", list(pending)):
            if pending.get(path) == value:
                del pending[path]
        if pending:
            time.sleep(0.002)
    if pending:
        raise TimeoutError(f"{len(pending)} files never refreshed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--tree", help="an existing copy of the standard library to edit (default: a fresh copy)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cockpit-watch-"))
    try:
        tree = Path(args.tree) if args.tree else copy_stdlib(work / "stdlib")
        store = Store(work / "cache.sqlite", str(tree))
        reader = Store(work / "cache.sqlite", str(tree))
        build(str(tree), store)  # cold build first: not measured here
        files = sorted((f for f in reader.files() if f["lang"] == "python"), key=lambda f: f["size"])
        stop = threading.Event()
        thread = threading.Thread(target=Watcher(str(tree), store).run, kwargs={"stop": stop}, daemon=True)
        thread.start()
        time.sleep(1.0)  # the watcher's catch-up rescan
        one_file = []
        target = files[len(files) // 2]["path"]
        for i in range(args.repeat):
            data = (tree / target).read_bytes() + f"\n# edit {i}\n".encode()
            (tree / target).write_bytes(data)
            one_file.append(wait_until(reader, {target: content_hash(data)}))
            time.sleep(0.1)
        checkout = {}
        started = time.perf_counter()
        for f in files[:500]:
            data = (tree / f["path"]).read_bytes() + b"\n# checked out\n"
            (tree / f["path"]).write_bytes(data)
            checkout[f["path"]] = content_hash(data)
        wait_until(reader, checkout)
        burst = time.perf_counter() - started
        stop.set()
        thread.join(timeout=10)
        one_file.sort()
        p90 = one_file[int(0.9 * (len(one_file) - 1))]
        print(f"tree: {tree} ({len(files)} Python files); edited: {target}")
        print("figure                          | median    | p90       | target   | ratio")
        print("--------------------------------|-----------|-----------|----------|------")
        print(f"save -> refreshed (one file)    | {statistics.median(one_file) * 1000:6.1f} ms | {p90 * 1000:6.1f} ms "
              f"| 100 ms   | {statistics.median(one_file) / 0.1:.2f}")
        print(f"500-file checkout -> refreshed  | {burst:6.2f} s  |           | 3 s      | {burst / 3:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
