"""Agent burn: what coding agents (Claude Code first) spend, read from their own session logs.

Claude Code writes each session as JSON lines under `<config dir>/projects/<project slug>/<session>.jsonl`,
its subagents' under `<session>/subagents/` (the config dir is `$CLAUDE_CONFIG_DIR`, else `~/.claude`;
`~/.config/claude` is looked at too). Its assistant records carry the API's `usage`; the same response is
often logged once per content block, with the same message id and request id, and is counted once; a
resumed session copies earlier messages into its own file, and each counts in the earlier file's session.
This module keeps an incremental index of those records in a per-user SQLite file
(`$COCKPIT_DATA_DIR/agents.sqlite`, else the platform's user data dir), prices them with
`cockpit.spend.pricing` under the model's canonical name (a model without a price keeps its tokens and a NULL
cost, never a guess), and answers spend questions over the files under its projects dirs only. Like
ccusage, a message's cost in mode `auto` is the `costUSD` older Claude Code logged, else computed from
its tokens; `calculate` always computes it, `display` shows only the logged one ($0 without one). The
same file holds a `served` table: one row per answer Cockpit gave (`context`, `zoom`, ...), with the
tokens served, so that a project's served context can be shown beside what its agents took in.

Public API, cheap enough to call every 1-2 s from one worker thread (the connection is opened with
`check_same_thread=False` and guarded by a lock, so the thread may change between calls)::

    burn = AgentBurn(db_path=None, roots=None, mode='auto')  # roots: Claude config dirs or projects dirs
    burn.refresh() -> RefreshStats              # read what the session files gained since the last call
    burn.report(since="today", by="session")    # -> Report: rows + total (tokens, cost, unpriced, first/last)
    burn.rate(window=600)                       # -> Rate: tokens/min and $/hour over the last 10 minutes
    burn.blocks(since=None) / burn.active_block()  # -> [Block] / Block | None: 5-hour usage windows
    burn.budget(daily=None)                     # -> Budget: today's spend against the daily budget
    burn.served(since=None)                     # -> [ServedRow]: answers Cockpit gave, per root/client/tool
    burn.snapshot(since, by, daily)             # -> Snapshot: all of the above at one `now`, for a panel
    burn.close()

`since` is a unix time, or text `parse_since` understands ('today', '5h', '7d', 'all'). Every query
takes `now` (unix time) so tests and replays are deterministic. `record_served()` is the one function
the faces call when they answer; it never raises.

Refresh rules, per file: unchanged size -> skipped without opening; grown -> read from the offset
consumed so far, complete lines only (a half-written last line waits for its newline); shrunk, replaced
(another inode) or its first bytes changed -> read again from 0 (the unique key keeps counts right); gone
-> its offset is forgotten, its usage rows kept. Lines that are not JSON, records of an unknown type and
assistant records without the fields we need are skipped and counted, never raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from cockpit import paths
from cockpit.spend.ledger import parse_since
from cockpit.spend.pricing import Pricing, canonical
from summarizers.usage import usage_fields

DEFAULT_DAILY_BUDGET = 1000.0  # USD a day per engineer
RATE_WINDOW = 600.0  # seconds the "rate now" looks back
BLOCK_SECONDS = 5 * 3600
HEAD_BYTES = 1024  # how much of a file's start is hashed to notice that it was replaced
READ_CHUNK = 8 << 20
BY = ("session", "model", "project", "day")
SKIP_KINDS = ("not_json", "unknown_type", "missing_fields")
# Record types Claude Code writes that carry no usage: skipped without a word.
KNOWN_TYPES = frozenset({"user", "assistant", "system", "summary", "file-history-snapshot", "queue-operation",
                         "progress", "attachment"})
_KNOWN_MARKERS = tuple(f'"type":"{t}"'.encode() for t in sorted(KNOWN_TYPES - {"assistant"}))
MODES = ("auto", "calculate", "display")
# Version 2: rows know their file (`path`) and that file's first message time (`origin`), the logged
# `costUSD`, and the canonical model name. Older indexes are rebuilt from the logs; `served` is kept.
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    message_id TEXT NOT NULL, request_id TEXT NOT NULL, ts REAL NOT NULL, session TEXT NOT NULL,
    project TEXT NOT NULL, model TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, cache_write_1h_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cost_usd REAL, logged_cost REAL, path TEXT NOT NULL, origin REAL NOT NULL, UNIQUE (message_id, request_id));
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, offset INTEGER, head_len INTEGER, head_hash TEXT,
    origin REAL, not_json INTEGER DEFAULT 0, unknown_type INTEGER DEFAULT 0, missing_fields INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS served (
    ts REAL NOT NULL, client TEXT NOT NULL, root TEXT NOT NULL, tool TEXT NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS served_ts ON served (ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_USAGE_COLUMNS = ("message_id", "request_id", "ts", "session", "project", "model", "input_tokens", "output_tokens",
                  "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens", "cost_usd", "logged_cost", "path",
                  "origin")
# A message logged twice keeps its most complete usage (a response's first content blocks may carry
# partial counts), and belongs to the file whose first message is earlier (a resumed session copies its
# history, timestamps and all; the path breaks a tie). Both as ccusage decides them.
_MORE = ("excluded.input_tokens + excluded.output_tokens + excluded.cache_write_tokens + excluded.cache_read_tokens"
         " > usage.input_tokens + usage.output_tokens + usage.cache_write_tokens + usage.cache_read_tokens")
_EARLIER = "(excluded.origin, excluded.path) < (usage.origin, usage.path)"
_INSERT = (f"INSERT INTO usage ({', '.join(_USAGE_COLUMNS)}) VALUES ({', '.join('?' * len(_USAGE_COLUMNS))}) "
           "ON CONFLICT (message_id, request_id) DO UPDATE SET "
           + ", ".join(f"{c} = CASE WHEN {_MORE} THEN excluded.{c} ELSE usage.{c} END"
                       for c in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                                 "cache_read_tokens", "cost_usd", "logged_cost")) + ", "
           + ", ".join(f"{c} = CASE WHEN {_EARLIER} THEN excluded.{c} ELSE usage.{c} END"
                       for c in ("session", "project", "path", "origin"))
           + f" WHERE {_MORE} OR {_EARLIER}")
# What a message costs in each mode: `costUSD` as logged (older Claude Code wrote it), or from the tokens.
_COST = {"auto": "coalesce(logged_cost, cost_usd)", "calculate": "cost_usd", "display": "coalesce(logged_cost, 0.0)"}
_TOKEN_INTS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class AgentsError(Exception):
    """A problem the user can fix (a bad user config, an unreadable index): one line."""


# --- where things are -------------------------------------------------------------------


def default_db_path() -> Path:
    return paths.data_dir() / "agents.sqlite"


def user_config_path() -> Path:
    return paths.user_config_file()


def user_settings() -> dict:
    """The user's `cockpit.toml` (agent_daily_budget, claude_dirs); {} when there is none."""
    try:
        return paths.user_settings()
    except paths.SettingsError as exc:
        raise AgentsError(str(exc)) from None


def daily_budget(override: float | None = None) -> float:
    """USD a day: `override` (--budget), else `agent_daily_budget` in the user's cockpit.toml, else $1,000."""
    if override is not None:
        return float(override)
    value = user_settings().get("agent_daily_budget", DEFAULT_DAILY_BUDGET)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise AgentsError(f"{user_config_path()}: agent_daily_budget must be a positive number of USD, not {value!r}")
    return float(value)


def default_projects_dirs() -> list[Path]:
    """Where Claude Code keeps its sessions: `projects/` under $CLAUDE_CONFIG_DIR (several dirs may be joined
    by ',' or the path separator), else the dirs named by `claude_dirs` in the user's cockpit.toml, else
    under ~/.claude and ~/.config/claude."""
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if env:
        return [Path(p.strip()).expanduser() / "projects" for p in env.replace(",", os.pathsep).split(os.pathsep)
                if p.strip()]
    configured = user_settings().get("claude_dirs")
    if configured:
        return projects_dirs([configured] if isinstance(configured, str) else [str(p) for p in configured])
    home = Path.home()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".claude" / "projects", xdg / "claude" / "projects"]


def projects_dirs(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """Dirs named by the user, each a Claude config dir (its `projects/` is read) or a projects dir itself."""
    out = []
    for given in dirs:
        given = Path(given).expanduser()
        out.append(given / "projects" if (given / "projects").is_dir() else given)
    return list(dict.fromkeys(out))


def decode_slug(slug: str) -> str:
    """Claude Code's project dir name back to a path, as well as it can be ('-home-u-proj' -> '/home/u/proj';
    the encoding also turns '.' and '_' into '-', which cannot be undone)."""
    return slug.replace("-", "/") if slug.startswith("-") else slug


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh did. `skipped` counts lines left out in this refresh, by reason (SKIP_KINDS)."""

    files_seen: int = 0
    files_read: int = 0  # opened because they grew, are new, or were replaced
    files_unchanged: int = 0  # same size: not opened
    files_reset: int = 0  # truncated or replaced: read again from the start
    files_forgotten: int = 0  # gone from disk: offsets dropped, usage rows kept
    files_unreadable: int = 0  # could not be opened this time: tried again on the next refresh
    bytes_read: int = 0
    lines: int = 0  # complete lines consumed
    parsed: int = 0  # lines that went through json.loads
    records: int = 0  # new usage rows
    duplicates: int = 0  # usage records already known (same message id and request id)
    synthetic: int = 0  # "<synthetic>" model records (no usage)
    other: int = 0  # records of known types without usage (user, summary, system, ...)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_KINDS, 0))
    seconds: float = 0.0


@dataclass(frozen=True)
class UsageRow:
    """One group of a report (or its total). `session`, `project` and `model` name the group's only
    session, its busiest project and its busiest model; `models` lists all of them, costliest first."""

    key: str
    session: str | None
    project: str | None
    model: str | None
    models: tuple[str, ...]
    day: str | None
    sessions: int
    messages: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: float  # priced messages only
    unpriced: int  # messages of models without a price: their tokens are counted, their cost is not
    first_seen: float
    last_seen: float
    served_tokens: int | None = None  # by project (and the total): tokens Cockpit served under that path

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def input_side(self) -> int:
        """Every token the model read: fresh input, cache writes and cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True)
class Report:
    since: float | None
    by: str
    rows: list[UsageRow]
    total: UsageRow
    served_answers: int  # answers Cockpit gave in the window for repos the report's agents worked in
    served_input_tokens: int  # the new input (input and cache writes) of the agents in those repos
    skipped: dict[str, int]  # lines skipped in the files read so far, by reason
    files: int = 0  # session files the report's messages come from
    mode: str = "auto"

    @property
    def served_share(self) -> float | None:
        """Cockpit's served tokens as a share of its agents' new input in the same repos and window, at most 1
        (more served than they took in means some answers went elsewhere: a person, another tool)."""
        if not self.served_answers or not self.served_input_tokens:
            return None
        return min(1.0, (self.total.served_tokens or 0) / self.served_input_tokens)


@dataclass(frozen=True)
class Rate:
    window: float  # seconds looked back
    messages: int
    tokens: int  # all kinds
    tokens_per_minute: float
    output_tokens_per_minute: float
    usd_per_hour: float
    unpriced: int

    def describe(self) -> str:
        extra = f" (+{self.unpriced} unpriced)" if self.unpriced else ""
        return (f"rate now (last {self.window / 60:g} min): {self.tokens_per_minute:,.0f} tokens/min · "
                f"${self.usd_per_hour:,.2f}/h{extra}")


@dataclass(frozen=True)
class Block:
    """A 5-hour usage window: it starts at its first message's hour and lasts 5 hours; the first message
    after its end starts the next one. For the active block, the burn rate is its spend over the time
    since its first message (at least RATE_WINDOW, so that one message is not extrapolated from a few
    seconds), and the projection adds that rate until the block's end."""

    start: float
    end: float
    first_seen: float
    last_seen: float
    messages: int
    tokens: int
    cost_usd: float
    unpriced: int
    active: bool = False
    usd_per_hour: float | None = None
    tokens_per_minute: float | None = None
    projected_cost_usd: float | None = None
    projected_tokens: int | None = None

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        span = f"{_hhmm(self.start)}–{_hhmm(self.end)}"
        if not self.active:
            return f"5-hour block {span}: ${self.cost_usd:,.2f}, {self.tokens:,} tokens"
        left = max(0, int(self.end - now)) // 60
        return (f"5-hour block {span} ({left // 60}h{left % 60:02d}m left): ${self.cost_usd:,.2f} so far · "
                f"${self.usd_per_hour:,.2f}/h · projected ${self.projected_cost_usd:,.2f} at {_hhmm(self.end)}")


@dataclass(frozen=True)
class Budget:
    daily_usd: float
    spent_usd: float  # since local midnight
    percent: float
    remaining_usd: float
    usd_per_hour: float  # the current rate (Rate over its window)
    window: float
    runs_out_at: float | None  # when the rest is spent at this rate, if that is before midnight
    exceeded: bool
    day_ends_at: float

    def describe(self) -> str:
        head = f"budget today: ${self.spent_usd:,.2f} / ${self.daily_usd:,.2f} ({self.percent:.1f}%) · " \
               f"${self.usd_per_hour:,.2f}/h · "
        if self.exceeded:
            return head + "spent"
        return head + (f"runs out at {_hhmm(self.runs_out_at)}" if self.runs_out_at else "not at this rate")


@dataclass(frozen=True)
class ServedRow:
    root: str
    client: str
    tool: str
    answers: int
    tokens: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class Snapshot:
    """Everything a burn panel shows, taken at one `now`."""

    now: float
    report: Report
    rate: Rate
    block: Block | None
    budget: Budget
    served: list[ServedRow]


def _hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


# --- the index ------------------------------------------------------------------------


@dataclass
class _FileState:
    dev: int
    ino: int
    size: int
    offset: int
    head_len: int
    head_hash: str
    origin: float | None  # the time of its first message (None: none yet)
    counts: dict[str, int]


def _head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """The per-user index, created if needed: WAL, a busy timeout, usable from any one thread at a time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        if version > SCHEMA_VERSION:
            conn.close()
            raise AgentsError(f"{path} was written by a newer cockpit (schema {version})")
        if version:  # an older index: what it read is read again from the logs
            conn.executescript("DROP TABLE IF EXISTS usage; DROP TABLE IF EXISTS files;")
        conn.executescript(SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
    return conn


class AgentBurn:
    """The index of agent usage and the questions asked of it. See the module docstring."""

    def __init__(self, db_path: str | os.PathLike | None = None, roots: Iterable[str | os.PathLike] | None = None,
                 pricing: Pricing | None = None, mode: str = "auto"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.db_path = Path(db_path) if db_path else default_db_path()
        self._given = [Path(r).expanduser().absolute() for r in roots] if roots else None
        self._default_dirs = None if roots else [d.absolute() for d in default_projects_dirs()]
        self.pricing = pricing or Pricing.load()
        self.mode = mode
        self._cost = _COST[mode]
        self._lock = threading.Lock()
        self._blocks_memo: tuple[int, list[list]] = (0, [])  # (the highest rowid counted, the blocks)
        try:
            self.conn = connect(self.db_path)
            self._files = {row[0]: _FileState(*row[1:8], dict(zip(SKIP_KINDS, row[8:])))
                           for row in self.conn.execute(f"SELECT path, dev, ino, size, offset, head_len, head_hash, "
                                                        f"origin, {', '.join(SKIP_KINDS)} FROM files")}
            self._reprice()
        except sqlite3.DatabaseError as exc:
            raise AgentsError(f"agent index {self.db_path}: {exc} (delete it to rebuild from the session logs)") \
                from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def projects_dirs(self) -> list[Path]:
        """Where session files are looked for (a given dir's `projects/` once it exists)."""
        return projects_dirs(self._given) if self._given is not None else self._default_dirs

    def _prefixes(self) -> tuple[str, ...]:
        """What the paths of this instance's session files start with (other dirs share the index)."""
        return tuple(str(d).rstrip(os.sep) + os.sep for d in self.projects_dirs)

    def _scope(self) -> tuple[str, list]:
        """SQL (and its parameters) true for rows read from files under the projects dirs: a report covers
        those, whatever else the per-user index holds."""
        prefixes = self._prefixes()
        if not prefixes:
            return "0", []
        bound = chr(ord(os.sep) + 1)
        return "(" + " OR ".join("(path >= ? AND path < ?)" for _ in prefixes) + ")", \
            [v for p in prefixes for v in (p, p[:-1] + bound)]

    # --- refresh ------------------------------------------------------------------------

    def session_files(self) -> dict[str, tuple[os.stat_result, str, str]]:
        """Every *.jsonl under the projects dirs: path -> (stat, the project dir's name, the session).

        The file is the session: `<session>.jsonl`, and its subagents' `<session>/subagents/*.jsonl`."""
        found = {}
        for base in self.projects_dirs:
            for dirpath, _dirs, names in os.walk(base):
                parts = os.path.relpath(dirpath, base).split(os.sep)
                slug = parts[0] if parts[0] != "." else ""
                owner = parts[-2] if len(parts) >= 3 and parts[-1] == "subagents" else None
                for name in names:
                    if name.endswith(".jsonl"):
                        path = os.path.join(dirpath, name)
                        try:
                            found[path] = (os.stat(path), slug, owner or name[:-len(".jsonl")])
                        except OSError:  # gone between the listing and the stat
                            pass
        return found

    def refresh(self) -> RefreshStats:
        """Read what the session files gained since the last refresh (see the module docstring)."""
        started = time.perf_counter()
        files = self.session_files()
        with self._lock:
            stats = _Counter()
            stats.files_seen = len(files)
            updates: dict[str, _FileState] = {}
            rows: list[tuple] = []
            for path, (st, slug, session) in files.items():
                prev = self._files.get(path)
                if prev is not None and (prev.dev, prev.ino, prev.size) == (st.st_dev, st.st_ino, st.st_size):
                    stats.files_unchanged += 1
                    continue
                try:
                    state = self._read_file(path, st, prev, slug, session, rows, stats)
                except OSError:  # unreadable now (gone, no permission): try again next time
                    stats.files_unreadable += 1
                    continue
                updates[path] = state
            mine = self._prefixes()
            gone = [path for path in self._files if path not in files and path.startswith(mine)]
            stats.files_forgotten = len(gone)
            if not (rows or updates or gone):  # the common case when polled: no write transaction
                stats.seconds = time.perf_counter() - started
                return stats.frozen()
            with self.conn:  # one transaction: committed, or rolled back on any error
                self.conn.execute("BEGIN IMMEDIATE")
                (top,), = self.conn.execute("SELECT coalesce(max(rowid), 0) FROM usage").fetchall()
                for i in range(0, len(rows), 50_000):
                    self.conn.executemany(_INSERT, rows[i:i + 50_000])
                (stats.records,), = self.conn.execute("SELECT count(*) FROM usage WHERE rowid > ?", [top]).fetchall()
                self.conn.executemany(
                    f"INSERT OR REPLACE INTO files (path, dev, ino, size, offset, head_len, head_hash, origin, "
                    f"{', '.join(SKIP_KINDS)}) VALUES ({', '.join('?' * (8 + len(SKIP_KINDS)))})",
                    [(path, s.dev, s.ino, s.size, s.offset, s.head_len, s.head_hash, s.origin,
                      *(s.counts[k] for k in SKIP_KINDS)) for path, s in updates.items()])
                self.conn.executemany("DELETE FROM files WHERE path = ?", [(path,) for path in gone])
            self._files.update(updates)
            for path in gone:
                del self._files[path]
            stats.duplicates = len(rows) - stats.records
        stats.seconds = time.perf_counter() - started
        return stats.frozen()

    def _read_file(self, path: str, st: os.stat_result, prev: _FileState | None, slug: str, session: str,
                   rows: list, stats: _Counter) -> _FileState:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())  # the file opened, even if it was replaced since the listing
            head = fh.read(HEAD_BYTES)
            stats.bytes_read += len(head)
            same = (prev is not None and (prev.dev, prev.ino) == (st.st_dev, st.st_ino)
                    and st.st_size >= prev.offset and len(head) >= prev.head_len
                    and _head_hash(head[:prev.head_len]) == prev.head_hash)
            if prev is not None and not same:
                stats.files_reset += 1
            offset = prev.offset if same else 0
            counts = dict(prev.counts) if same else dict.fromkeys(SKIP_KINDS, 0)
            stats.files_read += 1
            fallback_project = decode_slug(slug)
            mine: list[list] = []
            fh.seek(offset)
            pending = b""
            while True:
                chunk = fh.read(READ_CHUNK)
                if not chunk:
                    break
                stats.bytes_read += len(chunk)
                data = pending + chunk
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                if cut:
                    self._parse(data[:cut], mine, stats, counts, session, fallback_project)
                    offset += cut
            size = max(st.st_size, fh.tell())  # it may have grown while it was read
        origin = prev.origin if same and prev.origin is not None else min((r[2] for r in mine), default=None)
        for row in mine:
            row[-2:] = path, origin
            rows.append(tuple(row))
        return _FileState(st.st_dev, st.st_ino, size, offset, len(head), _head_hash(head), origin, counts)

    def _parse(self, data: bytes, rows: list, stats: _Counter, counts: dict[str, int], session: str,
               fallback_project: str) -> None:
        loads = json.loads
        markers = _KNOWN_MARKERS
        for line in data.split(b"\n"):
            if not line or line.isspace():
                continue
            stats.lines += 1
            candidate = b'"assistant"' in line and (b'"usage"' in line or b'"type":"assistant"' in line)
            if not candidate and line[:1] == b"{" and any(marker in line for marker in markers):
                stats.other += 1  # the common records without usage are recognised without parsing them
                continue
            stats.parsed += 1
            try:
                record = loads(line)
            except ValueError:  # also bad UTF-8
                counts["not_json"] += 1
                stats.skipped["not_json"] += 1
                continue
            kind = record.get("type") if isinstance(record, dict) else None
            if kind != "assistant":
                reason = "not_json" if not isinstance(record, dict) else None if kind in KNOWN_TYPES else "unknown_type"
                if reason:
                    counts[reason] += 1
                    stats.skipped[reason] += 1
                else:
                    stats.other += 1
                continue
            row = self._usage_row(record, session, fallback_project)
            if row is None:
                counts["missing_fields"] += 1
                stats.skipped["missing_fields"] += 1
            elif row == "synthetic":
                stats.synthetic += 1
            else:
                rows.append(row)

    def _usage_row(self, record: dict, session: str, fallback_project: str):
        message = record.get("message")
        if not isinstance(message, dict):
            return None
        model = message.get("model")
        if model == "<synthetic>":
            return "synthetic"
        usage = message.get("usage")
        message_id = message.get("id")
        if not (isinstance(usage, dict) and isinstance(model, str) and model and isinstance(message_id, str)):
            return None
        if not all(isinstance(usage.get(k) or 0, int) for k in _TOKEN_INTS):
            return None
        ts = _timestamp(record.get("timestamp"))
        if ts is None:
            return None
        fields = usage_fields(usage)
        if not isinstance(fields["cache_write_1h_tokens"], int):
            return None
        model = canonical(model)
        cost = self.pricing.cost(model, fields)
        logged = record.get("costUSD")
        logged = float(logged) if isinstance(logged, (int, float)) and not isinstance(logged, bool) else None
        return [message_id, str(record.get("requestId") or ""), ts, session, str(record.get("cwd") or fallback_project),
                model, fields["input_tokens"], fields["output_tokens"], fields["cache_write_tokens"],
                fields["cache_write_1h_tokens"], fields["cache_read_tokens"], cost, logged, None, None]

    def _reprice(self) -> None:
        """Price every row again when the prices changed since they were computed (an update, a user file)."""
        fingerprint = hashlib.blake2b(self.pricing.fingerprint().encode(), digest_size=16).hexdigest()
        stored = self.conn.execute("SELECT value FROM meta WHERE key = 'pricing'").fetchall()
        if stored and stored[0][0] == fingerprint:
            return
        rows = self.conn.execute(
            "SELECT rowid, model, input_tokens, output_tokens, cache_write_tokens, cache_write_1h_tokens, "
            "cache_read_tokens FROM usage").fetchall()
        names = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cache_read_tokens")
        with self.conn:  # one transaction
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("UPDATE usage SET cost_usd = ? WHERE rowid = ?",
                                  [(self.pricing.cost(model, dict(zip(names, tokens))), rowid)
                                   for rowid, model, *tokens in rows])
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('pricing', ?)", [fingerprint])

    # --- queries ------------------------------------------------------------------------

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def report(self, since: float | str | None = "today", by: str = "session", now: float | None = None) -> Report:
        """Usage since a moment, one row per `by` group (session, model, project or day), and the total.

        Rows come costliest first (days in order). By project, each row has `served_tokens`: what Cockpit
        served for a repo at that path or above it.
        """
        if by not in BY:
            raise ValueError(f"by must be one of {', '.join(BY)}")
        now = time.time() if now is None else now
        start = _since(since, now)
        day = "date(ts, 'unixepoch', 'localtime')" if by == "day" else "NULL"
        scope, params = self._scope()
        window = [start if start is not None else float("-inf")]
        grouped_by_file = self._query(
            f"SELECT session, project, model, {day}, count(*), sum(input_tokens), sum(output_tokens), "
            f"sum(cache_write_tokens), sum(cache_read_tokens), total({self._cost}), sum({self._cost} IS NULL), "
            f"min(ts), max(ts), path FROM usage WHERE ts >= ? AND {scope} GROUP BY 1, 2, 3, 4, 14", window + params)
        files = len({part[-1] for part in grouped_by_file})
        parts = [part[:-1] for part in grouped_by_file]
        index = {"session": 0, "model": 2, "project": 1, "day": 3}[by]
        grouped: dict[str, list[tuple]] = {}
        for part in parts:
            grouped.setdefault(part[index], []).append(part)
        # Like with like: answers for repos the report's agents worked in, against those agents' new input.
        projects = {p[1] for p in parts}
        served = [s for s in self.served(start, now) if any(_under(project, s.root) for project in projects)]
        rows = [_fold(key, group) for key, group in grouped.items()]
        if by == "project":
            rows = [replace(row, served_tokens=sum(s.tokens for s in served if _under(row.key, s.root)))
                    for row in rows]
        rows.sort(key=(lambda r: r.key) if by == "day" else (lambda r: (-r.cost_usd, -r.tokens, r.key)))
        total = replace(_fold("total", parts), served_tokens=sum(s.tokens for s in served))
        roots = {s.root for s in served}
        served_input = sum(p[5] + p[7] for p in parts if any(_under(p[1], root) for root in roots))
        return Report(start, by, rows, total, sum(s.answers for s in served), served_input, self.skipped(), files,
                      self.mode)

    def rate(self, window: float = RATE_WINDOW, now: float | None = None) -> Rate:
        """Tokens a minute and dollars an hour over the last `window` seconds (default 10 minutes)."""
        now = time.time() if now is None else now
        scope, params = self._scope()
        (messages, tokens, output, cost, unpriced), = self._query(
            "SELECT count(*), total(input_tokens + output_tokens + cache_write_tokens + cache_read_tokens), "
            f"total(output_tokens), total({self._cost}), total({self._cost} IS NULL) FROM usage "
            f"WHERE ts >= ? AND ts <= ? AND {scope}", [now - window, now] + params)
        return Rate(window, messages, int(tokens), tokens * 60 / window, output * 60 / window, cost * 3600 / window,
                    int(unpriced))

    def per_minute(self, minutes: int = 60, now: float | None = None) -> list[int]:
        """Tokens (all kinds) in each of the last `minutes` minutes, oldest first: a sparkline's data."""
        now = time.time() if now is None else now
        start = now - minutes * 60
        series = [0] * minutes
        scope, params = self._scope()
        for slot, tokens in self._query(
                "SELECT CAST((ts - ?) / 60 AS INTEGER), total(input_tokens + output_tokens + cache_write_tokens + "
                f"cache_read_tokens) FROM usage WHERE ts >= ? AND ts <= ? AND {scope} GROUP BY 1",
                [start, start, now] + params):
            series[min(minutes - 1, slot)] += int(tokens)
        return series

    def blocks(self, since: float | str | None = None, now: float | None = None) -> list[Block]:
        """The 5-hour blocks that end after `since` (all of them without it), oldest first; the last one is
        `active` when `now` is inside it."""
        now = time.time() if now is None else now
        start = _since(since, now)
        blocks = [Block(*b) for b in self._all_blocks() if start is None or b[1] > start]
        if blocks and blocks[-1].start <= now < blocks[-1].end:
            last = blocks[-1]
            hours = max(now - last.first_seen, RATE_WINDOW) / 3600
            per_hour = last.cost_usd / hours
            per_minute = last.tokens / (hours * 60)
            left = (last.end - now) / 3600
            blocks[-1] = replace(last, active=True, usd_per_hour=per_hour, tokens_per_minute=per_minute,
                                 projected_cost_usd=last.cost_usd + per_hour * left,
                                 projected_tokens=int(last.tokens + per_minute * left * 60))
        return blocks

    def active_block(self, now: float | None = None) -> Block | None:
        now = time.time() if now is None else now
        blocks = self.blocks(since=now, now=now)
        return blocks[-1] if blocks and blocks[-1].active else None

    def _all_blocks(self) -> list[list]:
        """Every block of the history as [start, end, first, last, messages, tokens, cost, unpriced].

        A block depends on every message before it, so the list is kept between calls and extended with
        the rows added since (rowids only grow); rows older than the last one seen mean a full recount.
        """
        scope, params = self._scope()
        sql = ("SELECT ts, input_tokens + output_tokens + cache_write_tokens + cache_read_tokens, "
               f"{self._cost} FROM usage WHERE rowid > ? AND {scope} ORDER BY ts")
        with self._lock:
            (top,), = self.conn.execute("SELECT coalesce(max(rowid), 0) FROM usage").fetchall()
            seen, found = self._blocks_memo
            if top == seen:
                return found
            added = self.conn.execute(sql, [seen] + params).fetchall()
            if found and added and added[0][0] < found[-1][3]:
                found, added = [], self.conn.execute(sql, [0] + params).fetchall()
            found = [list(b) for b in found[-1:]] if found else []  # the only block new rows can change
            kept = self._blocks_memo[1][:-1] if found else []
            for ts, tokens, cost in added:
                if not found or ts >= found[-1][1]:
                    begin = ts - ts % 3600
                    found.append([begin, begin + BLOCK_SECONDS, ts, ts, 0, 0, 0.0, 0])
                block = found[-1]
                block[3] = ts
                block[4] += 1
                block[5] += tokens
                block[6] += cost or 0.0
                block[7] += cost is None
            self._blocks_memo = (top, kept + found)
            return self._blocks_memo[1]

    def budget(self, daily: float | None = None, now: float | None = None, window: float = RATE_WINDOW) -> Budget:
        """Today's spend (since local midnight) against the daily budget (see `daily_budget`), the current
        rate, and when the rest runs out at that rate (None when not before midnight)."""
        now = time.time() if now is None else now
        daily = daily_budget(daily)
        midnight = parse_since("today", now)
        day_end = (datetime.fromtimestamp(midnight) + timedelta(days=1)).timestamp()
        scope, params = self._scope()
        (spent,), = self._query(f"SELECT total({self._cost}) FROM usage WHERE ts >= ? AND {scope}", [midnight] + params)
        rate = self.rate(window, now)
        remaining = daily - spent
        runs_out = None
        if remaining > 0 and rate.usd_per_hour > 0:
            at = now + remaining / rate.usd_per_hour * 3600
            runs_out = at if at < day_end else None
        return Budget(daily, spent, spent / daily * 100, max(remaining, 0.0), rate.usd_per_hour, window, runs_out,
                      remaining <= 0, day_end)

    def served(self, since: float | str | None = None, now: float | None = None) -> list[ServedRow]:
        """Answers Cockpit gave since a moment, per repo root, client and tool, most tokens first."""
        start = _since(since, time.time() if now is None else now)
        rows = self._query(
            "SELECT root, client, tool, count(*), sum(tokens), min(ts), max(ts) FROM served WHERE ts >= ? "
            "GROUP BY 1, 2, 3 ORDER BY 5 DESC", [start if start is not None else float("-inf")])
        return [ServedRow(*row) for row in rows]

    def skipped(self) -> dict[str, int]:
        """Lines skipped, by reason, in the session files as read so far."""
        with self._lock:
            mine = self._prefixes()
            return {kind: sum(s.counts[kind] for path, s in self._files.items() if path.startswith(mine))
                    for kind in SKIP_KINDS}

    def snapshot(self, since: float | str | None = "today", by: str = "session", daily: float | None = None,
                 now: float | None = None) -> Snapshot:
        """The report, the rate now, the active block, the budget and what was served, at one `now`."""
        now = time.time() if now is None else now
        report = self.report(since, by, now)
        return Snapshot(now, report, self.rate(now=now), self.active_block(now), self.budget(daily, now),
                        self.served(report.since, now))


class _Counter:
    """RefreshStats while they are counted."""

    def __init__(self):
        self.__dict__.update({f: 0 for f in RefreshStats.__dataclass_fields__})
        self.skipped = dict.fromkeys(SKIP_KINDS, 0)

    def frozen(self) -> RefreshStats:
        return RefreshStats(**self.__dict__)


def _since(since: float | str | None, now: float) -> float | None:
    if since is None or isinstance(since, (int, float)):
        return since
    return parse_since(since, now)


def _timestamp(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / (1000 if value > 1e11 else 1)  # epoch milliseconds or seconds
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _under(path: str, root: str) -> bool:
    """Is `path` the repo `root` or inside it?"""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root.endswith("/") else root + "/")


def _fold(key, parts: list[tuple]) -> UsageRow:
    """One report row from (session, project, model, day, count, in, out, write, read, cost, unpriced, first, last)."""
    sessions: set[str] = set()
    projects: dict[str, int] = {}
    models: dict[str, list[float]] = {}
    sums = [0] * 6
    first, last = float("inf"), float("-inf")
    for session, project, model, _day, count, inp, out, write, read, cost, unpriced, lo, hi in parts:
        sessions.add(session)
        projects[project] = projects.get(project, 0) + count
        tally = models.setdefault(model, [0.0, 0])
        tally[0] += cost
        tally[1] += count
        for i, value in enumerate((count, inp, out, write, read, unpriced)):
            sums[i] += value
        first, last = min(first, lo), max(last, hi)
    ranked = sorted(models, key=lambda m: (-models[m][0], -models[m][1], m))
    busiest = max(projects, key=lambda p: (projects[p], p)) if projects else None
    return UsageRow(
        key=str(key), session=next(iter(sessions)) if len(sessions) == 1 else None, project=busiest,
        model=max(models, key=lambda m: (models[m][1], m)) if models else None, models=tuple(ranked),
        day=parts[0][3] if parts and len({p[3] for p in parts}) == 1 else None, sessions=len(sessions),
        messages=sums[0], input_tokens=sums[1], output_tokens=sums[2], cache_write_tokens=sums[3],
        cache_read_tokens=sums[4], cost_usd=sum(t[0] for t in models.values()), unpriced=sums[5],
        first_seen=first if parts else 0.0, last_seen=last if parts else 0.0)


# --- served context -------------------------------------------------------------------

_warned = False


def record_served(client: str, root: str, tool: str, text: str | None = None, tokens: int | None = None,
                  db_path: str | os.PathLike | None = None, now: float | None = None) -> None:
    """Note one answer Cockpit gave (its tokens counted with summarizers.tokens unless given). Never raises:
    a failure is at most one warning line on stderr per process."""
    global _warned
    try:
        if tokens is None:
            from summarizers import tokens as counter

            tokens = counter.count(text or "")
        conn = connect(db_path or default_db_path())
        try:
            with conn:
                conn.execute("INSERT INTO served (ts, client, root, tool, tokens) VALUES (?, ?, ?, ?, ?)",
                             (time.time() if now is None else now, client or "mcp", str(root), tool, int(tokens)))
        finally:
            conn.close()
    except (sqlite3.Error, OSError, ValueError, AgentsError) as exc:  # a side show: the answer matters more
        if not _warned:
            _warned = True
            with contextlib.suppress(OSError, ValueError):  # even stderr may be gone
                print(f"cockpit: warning: could not record served context ({exc})", file=sys.stderr)
