"""Cockpit beside its peers, whole processes, paired runs: one table.

    python benchmarks/peers.py [REPO] [--runs 3] [--cold-runs 1] [--budget 4096] [--task TEXT]
                               [--cockpit "PYTHON -m cockpit"] [--label NAME]

REPO defaults to /tmp/stdlib (a copy of the CPython standard library). Each row runs Cockpit and, when
one is installed, a peer in turn (A B A B ...), every run a fresh process, and prints the medians, the
median of the pair-by-pair ratios and the peak RSS of the largest process:

- cold build: `cockpit summarize` on a fresh cache against `repomix --compress` (npm `repomix`, found
  on PATH or in /tmp/peers/node_modules/.bin) and against Aider's repo map on a cold tags cache
  (`aider --show-repo-map --map-tokens BUDGET`, from /tmp/aider-venv or PATH; Aider maps what git
  tracks, so it runs on a git copy of REPO made once);
- the floor: reading and tree-sitter-parsing the same files in one process (benchmarks/pyramid.py),
  in the same run, and the cold build as a multiple of it;
- warm `cockpit context TASK --budget BUDGET` against Aider's warm map;
- a re-run of `cockpit summarize` with nothing changed, and a one-file update (a file edited, then
  `cockpit context`, which refreshes first).

A peer that is not installed is skipped and said so. `--cockpit` times another Cockpit (say, an older
checkout: "env PYTHONPATH=/tmp/old python -m cockpit") for a before/after table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TASK = "json.dumps with sort_keys fails when dict keys mix str and int"


def run(argv: list[str], cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of the process (its largest single process: its own, or a child's)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(argv)}")
    return seconds, usage.ru_maxrss / 1024


def paired(a, b, runs: int) -> dict:
    """a() and b() in turn, each a (seconds, MiB); medians and the median of the ratios a/b."""
    got_a, got_b = [], []
    for _ in range(runs):
        got_a.append(a())
        if b is not None:
            got_b.append(b())
    out = {"a": statistics.median(t for t, _ in got_a), "a_mib": max(m for _, m in got_a)}
    if b is not None:
        out.update(b=statistics.median(t for t, _ in got_b), b_mib=max(m for _, m in got_b),
                   ratio=statistics.median(x[0] / y[0] for x, y in zip(got_a, got_b)))
    return out


def find_repomix() -> str | None:
    return shutil.which("repomix") or next((str(p) for p in [Path("/tmp/peers/node_modules/.bin/repomix")]
                                            if p.exists()), None)


def find_aider() -> str | None:
    return next((str(p) for p in [Path("/tmp/aider-venv/bin/aider")] if p.exists()), None) or shutil.which("aider")


def git_copy(repo: Path, work: Path) -> Path:
    """Aider maps the files git tracks: a committed copy of REPO (its .cockpit cache left out)."""
    target = work / "git-copy"
    shutil.copytree(repo, target, ignore=shutil.ignore_patterns(".cockpit", "__pycache__", ".git"), symlinks=True)
    git = ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench"]
    subprocess.run(git + ["init", "-q", "."], cwd=target, check=True)
    (target / ".git" / "info" / "exclude").write_text(".aider*\n")
    subprocess.run(git + ["add", "-A"], cwd=target, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(git + ["commit", "-qm", "snapshot"], cwd=target, check=True, stdout=subprocess.DEVNULL)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", nargs="?", default="/tmp/stdlib")
    parser.add_argument("--runs", type=int, default=3, help="Paired runs of the quick rows.")
    parser.add_argument("--cold-runs", type=int, default=1, help="Paired runs of the cold builds.")
    parser.add_argument("--budget", type=int, default=4096)
    parser.add_argument("--task", default=TASK)
    parser.add_argument("--cockpit", default=f"{sys.executable} -m cockpit")
    parser.add_argument("--label", default="Cockpit")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    cockpit = shlex.split(args.cockpit)
    work = Path(tempfile.mkdtemp(prefix="cockpit-peers-"))
    cache = str(work / "cache.sqlite")
    repomix = None if args.no_peers else find_repomix()
    aider = None if args.no_peers else find_aider()
    rows = []
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        def cold():
            for suffix in ("", "-wal", "-shm", ".build-lock"):
                Path(cache + suffix).unlink(missing_ok=True)
            return run(cockpit + ["summarize", str(repo), "--cache", cache, "-q"])

        def pack():
            return run([repomix, "--compress", "--quiet", "-o", str(work / "repomix.xml"), str(repo)])

        result = paired(cold, pack if repomix else None, args.cold_runs)
        rows.append(("cold build", result, "repomix --compress" if repomix else "repomix: not installed"))
        from benchmarks.pyramid import floor

        floors = [floor(str(repo), []) for _ in range(max(1, args.cold_runs))]
        rows.append(("floor: read + parse, 1 process", {"a": statistics.median(floors), "a_mib": float("nan")},
                     f"cold build / floor = {result['a'] / statistics.median(floors):.2f}x"))
        copy = git_copy(repo, work) if aider else None
        aider_argv = [aider, "--show-repo-map", "--map-tokens", str(args.budget), "--no-check-update",
                      "--no-analytics", "--no-show-model-warnings", "--no-pretty", "--yes-always", "--no-gitignore",
                      "--model", "gpt-4o-mini", "--api-key", "openai=sk-none"] if aider else None

        def aider_cold():
            for stale in copy.glob(".aider.tags.cache*"):
                shutil.rmtree(stale, ignore_errors=True)
            return run(aider_argv, cwd=str(copy))

        if aider:
            rows.append(("cold build (map)", paired(cold, aider_cold, args.cold_runs),
                         f"Aider repo map, {args.budget} tokens, cold"))
        else:
            rows.append(("cold build (map)", {"a": result["a"], "a_mib": result["a_mib"]}, "Aider: not installed"))
        # The warm rows use the cache the last cold build left.

        def context():
            return run(cockpit + ["context", args.task, "--repo", str(repo), "--cache", cache, "--budget",
                                  str(args.budget), "-q"])

        rows.append((f"warm context, budget {args.budget}",
                     paired(context, (lambda: run(aider_argv, cwd=str(copy))) if aider else None, args.runs),
                     "Aider warm map" if aider else "Aider: not installed"))
        rows.append(("re-run, nothing changed",
                     paired(lambda: run(cockpit + ["summarize", str(repo), "--cache", cache, "-q"]), None, args.runs),
                     ""))
        sources = sorted(p for p in repo.rglob("*.py") if ".cockpit" not in p.parts)
        target = sources[len(sources) // 2]
        original = target.read_bytes()

        def one_file():
            target.write_bytes(original + f"\n# edit {time.time()}\n".encode())
            return context()

        try:
            rows.append(("one-file edit, then context", paired(one_file, None, args.runs), str(target.relative_to(repo))))
        finally:
            target.write_bytes(original)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = sum(1 for _ in repo.rglob("*") if _.is_file() and ".cockpit" not in _.parts)
    print(f"{repo} ({files:,} files on disk); {args.label}: {args.cockpit}; load average at start {load}, "
          f"at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'what':<34} {args.label + ' s':>12} {'MiB':>7}  {'peer s':>9} {'MiB':>7} {'ratio':>7}  peer / note")
    for what, r, note in rows:
        peer = f"{r['b']:>9.2f} {r['b_mib']:>7.0f} {r['ratio']:>6.2f}x" if "b" in r else f"{'':>9} {'':>7} {'':>7}"
        print(f"{what:<34} {r['a']:>12.3f} {r['a_mib']:>7.0f}  {peer}  {note}")


if __name__ == "__main__":
    main()
