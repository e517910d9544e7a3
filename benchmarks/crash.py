"""Kill real `cockpit` processes at random moments and check that the next ordinary run recovers.

    python benchmarks/crash.py [--tree DIR] [--kills 60] [--seed N] [--no-llm]

The long mode of tests/test_crash.py, with whole processes: `cockpit summarize` (cold and
incremental), `cockpit watch` while files change, and `cockpit summarize --llm` against
`cockpit twin`, each killed with SIGKILL or SIGTERM at a moment drawn (seeded) from its
own uninterrupted run time. After each trial, the ordinary command runs again and the
whole cache (nodes, files, skipped, LLM answers) is compared with a fresh build's, row
by row; no directory may be left marked dirty. Prints kill points per kind and signal,
how many trials converged, and the median recovery time. Default tree: a copy of the
standard library (about 2,400 files).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import crashkit  # noqa: E402

COCKPIT = [sys.executable, "-m", "cockpit"]


def run(args: list[str], env: dict | None = None) -> float:
    started = time.monotonic()
    subprocess.run(COCKPIT + args, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.monotonic() - started


def killed(args: list[str], delay: float, sig: int, env: dict | None = None, during=None) -> bool:
    """Start `cockpit ARGS`, kill it after `delay` s; True when it was still working."""
    process = subprocess.Popen(COCKPIT + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if during:
        during()
    try:
        process.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(sig)
        process.wait(60)
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to copy and build (default: the standard library)")
    parser.add_argument("--kills", type=int, default=60, help="kill points in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-llm", action="store_true", help="leave out the LLM runs")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="cockpit-crash-"))
    source = opts.tree or Path(sysconfig.get_paths()["stdlib"])
    tree = work / "tree"
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("site-packages", "__pycache__", ".cockpit"))
    cache, before = work / "cache.sqlite", work / "before.sqlite"
    base = ["summarize", str(tree), "-q", "--depth", "0", "--no-llm"]
    tally, recoveries = crashkit.Tally(), {}

    def trial(kind, prepare, args, want, duration, env=None, recover_args=None, during=None):
        prepare()
        sig = rng.choice((signal.SIGKILL, signal.SIGTERM))
        if killed(args, rng.uniform(0.3, duration), sig, env, during):
            key = (kind, signal.Signals(sig).name)
            tally.landed[key] = tally.landed.get(key, 0) + 1
        else:
            tally.missed += 1
        recoveries.setdefault(kind, []).append(run(recover_args or args, env))
        tally.trials[kind] = tally.trials.get(kind, 0) + 1
        diff = crashkit.differences(crashkit.snapshot(cache), want)
        if diff:
            tally.failures.append((kind, diff))
        else:
            tally.converged[kind] = tally.converged.get(kind, 0) + 1

    run(base + ["--cache", str(before)])
    touched = crashkit.edit_tree(tree, seed=opts.seed)
    fresh = work / "fresh.sqlite"
    cold_seconds = run(base + ["--cache", str(fresh)])
    want = crashkit.snapshot(fresh)
    args = base + ["--cache", str(cache)]
    per_kind = max(1, opts.kills // (3 if opts.no_llm else 4))

    for _ in range(per_kind):
        trial("cold summarize", lambda: cache.unlink(missing_ok=True), args, want, cold_seconds)
    shutil.copy(before, cache)
    warm_seconds = run(args)
    for _ in range(per_kind):
        trial("incremental summarize", lambda: shutil.copy(before, cache), args, want, warm_seconds)

    def touch_again():  # the watcher sees these files change under it
        time.sleep(1.0)
        for rel in touched:
            path = tree / rel
            if path.exists():
                os.utime(path)
                path.write_bytes(path.read_bytes())

    for _ in range(per_kind):
        trial("watch", lambda: shutil.copy(before, cache), ["watch", str(tree), "--cache", str(cache)], want,
              warm_seconds + 1.5, recover_args=args, during=touch_again)

    if not opts.no_llm:
        port = free_port()
        twin = subprocess.Popen(COCKPIT + ["twin", "--port", str(port)], stdout=subprocess.DEVNULL)
        time.sleep(2)
        env = dict(os.environ, ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}", ANTHROPIC_API_KEY="bench-key")
        llm_args = ["summarize", str(tree), "-q", "--depth", "0", "--llm", "--cache", str(cache)]
        shutil.copy(fresh, cache)
        llm_seconds = run(llm_args, env)
        llm_fresh = work / "llm-fresh.sqlite"
        shutil.copy(cache, llm_fresh)
        want_llm = crashkit.snapshot(llm_fresh)
        for _ in range(per_kind):
            trial("llm summarize", lambda: shutil.copy(fresh, cache), llm_args, want_llm, llm_seconds, env)
        twin.terminate()

    print(f"tree: {source} ({sum(1 for _ in tree.rglob('*') if _.is_file()):,} files), seed {opts.seed}")
    print(f"{'kind':<24}{'trials':>7}{'SIGKILL':>9}{'SIGTERM':>9}{'converged':>11}{'recovery s (median)':>22}")
    for kind, trials, by_kill, by_term, converged in tally.rows():
        print(f"{kind:<24}{trials:>7}{by_kill:>9}{by_term:>9}{converged:>11}"
              f"{statistics.median(recoveries[kind]):>22.2f}")
    print(f"kill points landed mid-work: {sum(tally.landed.values())}; kills after the run had ended: {tally.missed}")
    for kind, diff in tally.failures[:5]:
        print(f"NOT CONVERGED {kind}: {'; '.join(diff)}")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
