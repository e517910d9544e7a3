"""Agent burn on a large synthetic Claude Code history: first import, and a refresh after new records.

    python benchmarks/agent_burn.py [--records 100000] [--files 200] [--repeat 5] [--keep DIR]

Writes a history of --records JSON lines over --files session files (a realistic mix: about 60%
assistant records with usage, each API response logged once per content block; user prompts and
tool results of a few KB; some summary and file-history-snapshot records) under a temporary
Claude config dir, then measures, --repeat times each:

- first import: a fresh index reads the whole history (target 10 s);
- refresh after 100 new records appended over 5 files (target 100 ms);
- an idle refresh (nothing changed), and one `snapshot()` (report, rate, block, budget, served): what
  a panel pays every 1-2 s.

Prints medians, the history's size in MB, and the targets.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cockpit.spend.agents import AgentBurn

TARGETS = {"first import": 10.0, "refresh after 100 new records": 0.100}
MODELS = ["claude-opus-4-8"] * 5 + ["claude-sonnet-5"] * 2 + ["claude-opus-4-8[1m]", "claude-sonnet-4-5-20250929",
          "claude-haiku-4-5-20251001"]
WORDS = ["the", "parser", "cache", "test", "fails", "when", "a", "token", "spans", "two", "chunks", "so", "we",
         "read", "the", "buffer", "again", "and", "check", "offsets", "def", "class", "return", "import", "self",
         "value", "error", "file", "line"]


class History:
    """Session files written the way Claude Code writes them, one record at a time."""

    def __init__(self, base: Path, files: int, seed: int = 7):
        self.rng = random.Random(seed)
        self.clock = datetime(2026, 11, 25, 8, tzinfo=UTC).timestamp()
        self.sessions = []
        for i in range(files):
            cwd = f"/home/dev/src/project-{i % 12}"
            path = base / "projects" / cwd.replace("/", "-") / f"{self.rng.getrandbits(64):016x}-{i:04d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.sessions.append({"path": path, "id": path.stem, "cwd": cwd, "n": 0})
        self.serial = 0

    def text(self, size: int) -> str:
        out, length = [], 0
        while length < size:
            word = self.rng.choice(WORDS)
            out.append(word)
            length += len(word) + 1
        return " ".join(out)

    def _base(self, session: dict, kind: str) -> dict:
        self.clock += self.rng.uniform(0.2, 4.0)
        self.serial += 1
        return {"parentUuid": f"uuid-{self.serial - 1}", "isSidechain": False, "userType": "external",
                "cwd": session["cwd"], "sessionId": session["id"], "version": "2.0.31", "gitBranch": "main",
                "type": kind, "uuid": f"uuid-{self.serial}",
                "timestamp": datetime.fromtimestamp(self.clock, UTC).isoformat()[:23] + "Z"}

    def turn(self, session: dict) -> list[dict]:
        """One exchange: a user record (prompt or tool result) and an API response in 1-3 content blocks."""
        rng = self.rng
        records = []
        if rng.random() < 0.03:
            records.append({"type": "summary", "summary": self.text(40), "leafUuid": f"uuid-{self.serial}"})
        elif rng.random() < 0.03:
            records.append({"type": "file-history-snapshot", "messageId": f"uuid-{self.serial}",
                            "snapshot": {"trackedFileBackups": {}, "timestamp": "2026-11-25T08:00:00Z"}})
        user = self._base(session, "user")
        if rng.random() < 0.3:
            user["message"] = {"role": "user", "content": self.text(rng.randint(40, 400))}
        else:
            user["message"] = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{self.serial}",
                                                            "content": self.text(rng.randint(800, 6000))}]}
        records.append(user)
        message_id, request_id = f"msg_{rng.getrandbits(80):020x}", f"req_{rng.getrandbits(80):020x}"
        usage = {"input_tokens": rng.randint(1, 40), "output_tokens": rng.randint(20, 2500),
                 "cache_creation_input_tokens": rng.choice((0, 0, rng.randint(500, 30000))),
                 "cache_read_input_tokens": rng.randint(5000, 180000),
                 "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                 "service_tier": "standard"}
        usage["cache_creation"]["ephemeral_5m_input_tokens"] = usage["cache_creation_input_tokens"]
        model = rng.choice(MODELS)
        for block in range(rng.choice((1, 2, 2, 3))):
            content = ({"type": "text", "text": self.text(rng.randint(60, 600))} if block == 0 else
                       {"type": "tool_use", "id": f"toolu_{self.serial}", "name": "Edit",
                        "input": {"file_path": f"{session['cwd']}/src/parser.py", "old_string": self.text(200),
                                  "new_string": self.text(220)}})
            record = self._base(session, "assistant")
            record["message"] = {"id": message_id, "type": "message", "role": "assistant", "model": model,
                                 "content": [content], "stop_reason": None, "stop_sequence": None, "usage": usage}
            record["requestId"] = request_id
            records.append(record)
        return records

    def append(self, records: int, sessions: list[dict]) -> int:
        """Append about `records` records spread over `sessions`; returns how many were written."""
        written = 0
        buffers: dict[int, list[str]] = {id(s): [] for s in sessions}
        while written < records:
            session = sessions[written % len(sessions)] if len(sessions) <= 5 else self.rng.choice(sessions)
            for record in self.turn(session):
                buffers[id(session)].append(json.dumps(record, separators=(",", ":")))
                written += 1
        for session in sessions:
            if buffers[id(session)]:
                with open(session["path"], "a", encoding="utf-8") as fh:
                    fh.write("\n".join(buffers[id(session)]) + "\n")
        return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", help="write the history here and keep it (default: a temporary dir, removed)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cockpit-agent-burn-"))
    try:
        claude = work / "claude"
        history = History(claude, args.files)
        started = time.perf_counter()
        written = history.append(args.records, history.sessions)
        size = sum(p.stat().st_size for p in claude.rglob("*.jsonl"))
        print(f"history: {written:,} records in {args.files} files, {size / 1e6:.1f} MB "
              f"(written in {time.perf_counter() - started:.1f} s) under {claude}")

        first, stats = [], None
        for i in range(args.repeat):
            db = work / f"first-{i}.sqlite"
            with AgentBurn(db, [claude]) as burn:
                started = time.perf_counter()
                stats = burn.refresh()
                first.append(time.perf_counter() - started)
            for leftover in work.glob(f"first-{i}.sqlite*"):
                leftover.unlink()
        print(f"first import: {stats.records:,} usage rows, {stats.duplicates:,} duplicate blocks, "
              f"{stats.parsed:,} of {stats.lines:,} lines parsed")

        appended, idle, snapshot = [], [], []
        with AgentBurn(work / "index.sqlite", [claude]) as burn:
            burn.refresh()
            for i in range(args.repeat):
                history.append(100, history.sessions[i * 5:(i + 1) * 5])
                started = time.perf_counter()
                step = burn.refresh()
                appended.append(time.perf_counter() - started)
                assert step.files_read == 5 and step.lines >= 100, step
                started = time.perf_counter()
                burn.refresh()
                idle.append(time.perf_counter() - started)
                started = time.perf_counter()
                burn.snapshot("today", "session", now=history.clock)
                snapshot.append(time.perf_counter() - started)

        figures = [("first import", first), ("refresh after 100 new records", appended),
                   ("idle refresh (nothing new)", idle), ("snapshot (report+rate+block+budget)", snapshot)]
        print(f"\nmedians of {args.repeat} runs")
        print("figure                               | median     | target   | ratio")
        print("-------------------------------------|------------|----------|------")
        for name, values in figures:
            median = statistics.median(values)
            target = TARGETS.get(name)
            shown = f"{median:7.2f} s " if median >= 1 else f"{median * 1000:7.1f} ms"
            goal = "" if target is None else (f"{target:g} s" if target >= 1 else f"{target * 1000:g} ms")
            ratio = "" if target is None else f"{median / target:.2f}"
            print(f"{name:<37}| {shown:<11}| {goal:<9}| {ratio}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
