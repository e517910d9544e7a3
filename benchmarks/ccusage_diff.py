"""Cockpit's agent burn against ccusage on the same Claude Code logs: every difference, or none.

    python benchmarks/ccusage_diff.py [CLAUDE_DIR] [--ccusage CMD] [--mode auto|calculate|display] [--tz UTC]

CLAUDE_DIR is a Claude config dir (its `projects/` is read) or a projects dir; default: $CLAUDE_CONFIG_DIR,
else ~/.claude. ccusage must be installed (`npm install ccusage@20.0.24`: 20.0.26 has no Linux build);
CMD defaults to `ccusage` on PATH, else `npx --no-install ccusage`. Both run offline (ccusage with the
prices it bundles, Cockpit with its shipped copy of LiteLLM's) on a fresh index, with days in --tz.

Compares, for each day, each model (over all days) and each session: input, output, cache write and
cache read tokens, and the cost (a difference above $0.000001 is reported). ccusage names models as
logged; they are put under Cockpit's canonical names first. Exit code 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cockpit.spend.agents import AgentBurn, default_projects_dirs, projects_dirs
from cockpit.spend.pricing import canonical

FIELDS = ("input", "output", "cache_write", "cache_read")
CENT = 1e-6  # USD: anything above float noise is a difference


def ccusage_command(given: str | None) -> list[str]:
    if given:
        return shlex.split(given)
    if shutil.which("ccusage"):
        return ["ccusage"]
    if shutil.which("npx"):
        return ["npx", "--no-install", "ccusage"]
    sys.exit("error: ccusage not found: npm install ccusage@20.0.24, or pass --ccusage CMD")


def run_ccusage(command: list[str], report: str, config_dir: Path, mode: str, tz: str) -> dict:
    args = [*command, "claude", report, "--json", "--offline", "--mode", mode, "-z", tz]
    if report == "daily":
        args.append("--breakdown")
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config_dir), "TZ": tz, "NO_COLOR": "1"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode:
        sys.exit(f"error: {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return json.loads(done.stdout)


def figures(row: dict) -> dict:
    """ccusage's JSON fields under our names."""
    return {"input": row["inputTokens"], "output": row["outputTokens"], "cache_write": row["cacheCreationTokens"],
            "cache_read": row["cacheReadTokens"], "cost": row.get("totalCost", row.get("cost", 0.0)),
            "unpriced": 0}


def ours(row) -> dict:
    return {"input": row.input_tokens, "output": row.output_tokens, "cache_write": row.cache_write_tokens,
            "cache_read": row.cache_read_tokens, "cost": row.cost_usd, "unpriced": row.unpriced}


def ccusage_side(command: list[str], config_dir: Path, mode: str, tz: str) -> dict[str, dict[str, dict]]:
    daily = run_ccusage(command, "daily", config_dir, mode, tz)
    sessions = run_ccusage(command, "session", config_dir, mode, tz)
    models: dict[str, dict] = {}
    for day in daily["daily"]:
        for part in day.get("modelBreakdowns", []):
            name = canonical(part["modelName"])
            if name == "<synthetic>":
                continue
            total = models.setdefault(name, dict.fromkeys((*FIELDS, "cost", "unpriced"), 0))
            for key, value in figures(part).items():
                total[key] += value
    return {"day": {d["date"]: figures(d) for d in daily["daily"]}, "model": models,
            "session": {s["sessionId"]: figures(s) for s in sessions["sessions"]}}


def cockpit_side(projects: list[Path], mode: str, tz: str) -> tuple[dict[str, dict[str, dict]], int]:
    os.environ["TZ"] = tz
    time.tzset()
    with tempfile.TemporaryDirectory() as tmp, AgentBurn(Path(tmp) / "index.sqlite", projects, mode=mode) as burn:
        stats = burn.refresh()
        side = {by: {row.key: ours(row) for row in burn.report(None, by).rows} for by in ("day", "model", "session")}
    return side, stats.files_seen


def differences(cockpit: dict, ccusage: dict) -> list[str]:
    out = []
    for by in ("day", "model", "session"):
        for key in sorted(set(cockpit[by]) | set(ccusage[by])):
            a, b = cockpit[by].get(key), ccusage[by].get(key)
            if a is None or b is None:
                out.append(f"{by} {key}: only in {'ccusage' if a is None else 'cockpit'}")
                continue
            for name in FIELDS:
                if a[name] != b[name]:
                    out.append(f"{by} {key}: {name} tokens cockpit {a[name]:,} ccusage {b[name]:,}")
            if a["unpriced"]:
                out.append(f"{by} {key}: {a['unpriced']} messages unpriced in cockpit; the rest cost "
                           f"${a['cost']:.6f}, the whole row ${b['cost']:.6f} in ccusage")
            elif abs(a["cost"] - b["cost"]) > CENT:
                out.append(f"{by} {key}: cost cockpit ${a['cost']:.6f} ccusage ${b['cost']:.6f} "
                           f"(off by ${a['cost'] - b['cost']:+.6f})")
    return out


def lines_ccusage_skips(projects: list[Path]) -> int:
    """Lines ccusage leaves out and Cockpit reads: microsecond timestamps, JSON with spaces after colons."""
    odd = re.compile(rb'"timestamp":\s*"[^"]*\.\d{6}|^\{"[^"]+": ')
    count = 0
    for base in projects:
        for path in base.rglob("*.jsonl"):
            with open(path, "rb") as fh:
                count += sum(1 for line in fh if b'"usage"' in line and odd.search(line))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claude_dir", nargs="?", type=Path)
    parser.add_argument("--ccusage", metavar="CMD", help="how to run ccusage (default: ccusage, else npx)")
    parser.add_argument("--mode", choices=("auto", "calculate", "display"), default="auto")
    parser.add_argument("--tz", default="UTC", help="time zone for days (default: UTC)")
    args = parser.parse_args()
    projects = projects_dirs([args.claude_dir]) if args.claude_dir else default_projects_dirs()
    projects = [p.absolute() for p in projects if p.is_dir()]
    if not projects:
        sys.exit("error: no Claude Code projects dir found (pass CLAUDE_DIR)")
    # ccusage takes config dirs: the parent of each projects dir
    config_dirs = ",".join(str(p.parent) for p in projects)
    command = ccusage_command(args.ccusage)
    theirs = ccusage_side(command, Path(config_dirs), args.mode, args.tz)
    mine, files = cockpit_side(projects, args.mode, args.tz)
    found = differences(mine, theirs)
    print(f"{files} session files in {', '.join(map(str, projects))}; mode {args.mode}; days in {args.tz}")
    print(f"compared {len(mine['day'])} days, {len(mine['model'])} models, {len(mine['session'])} sessions")
    print(f"cockpit total ${sum(r['cost'] for r in mine['day'].values()):.6f}, "
          f"ccusage total ${sum(r['cost'] for r in theirs['day'].values()):.6f}")
    skipped = lines_ccusage_skips(projects)
    if skipped:
        print(f"note: {skipped} usage lines have microsecond timestamps or spaced JSON: ccusage skips them")
    for line in found:
        print(line)
    print("no differences" if not found else f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
