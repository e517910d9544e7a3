"""The repository's cache: one SQLite file (sqlite-utils' conventions, plain `sqlite3` on the hot paths).

Several processes (the app, the MCP server, a headless run) may open it at
once, so it runs in WAL mode and every write is one transaction.

Tables:
- `meta`: what this file is (application id, schema version, the repo root).
- `files`: every file in the pyramid with its content hash, imports and references.
- `nodes`: every pyramid node (repo, directory, file, symbol) with its ladder.
- `skipped`: files left out of the pyramid, with the reason.
- `dirty_dirs`: directories whose node must be rebuilt from their children: marked in the same
  transaction that changes a child, cleared in the one that rewrites the directory, so that a
  build killed between the two leaves the work written down for the next one.
- `llm_summaries`: ladders written by an LLM, keyed by node id, the hash of what was sent for it,
  model and prompt version, so that unchanged input is never paid for twice.
- `ledger`: one row per LLM API call (tokens, cost, outcome), written before and after the call.
- `llm_batches`: Message Batches submitted and not yet picked up, with what each entry asked.
- `llm_failures`: answers that failed their checks, so the same input is not paid for again until it changes.
- `jobs`, `job_steps`, `job_events`: long work and what its finished steps bought (cockpit.jobs.runner).
- `scenario_trials`: one row per trial of a holdout scenario (cockpit.scenarios): its scenario, the
  commit it ran on and whether the tree was dirty, the job, its verdict and its whole trajectory.

The ledger, the LLM answers and batches, the jobs and the trials hold what was paid for or observed:
a rebuild (a new schema, or --rebuild) carries them over. A schema that only adds tables has a named
migration (`MIGRATIONS`): a cache one version older gains them in place, its pyramid kept.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

SCHEMA_VERSION = 10  # 9: scenario_trials; 10: files' mtime_ns and inode
APPLICATION_ID = 0x436F636B  # "Cock": marks the file as ours
CACHE_DIR_NAME = ".cockpit"  # a cache in a folder of this name keeps itself out of git


class CacheError(Exception):
    """The cache file cannot be used; the message says what to do."""


NODE_COLUMNS = {
    "id": str,
    "parent": str,
    "kind": str,
    "name": str,
    "path": str,
    "lang": str,
    "start_line": int,
    "end_line": int,
    "signature": str,
    "doc": str,
    "hash": str,
    "summarizer": str,
    "summaries": str,  # JSON list, one per word budget
    "outline": str,
    "tokens": str,  # JSON list: one count per summary, then outline, then source
    "position": int,  # order among siblings
    "terms": str,  # a symbol's words: its qualified name and path, then what its body uses (see pyramid.body_terms)
}
FILE_COLUMNS = {
    "path": str,
    "hash": str,
    "size": int,
    "lang": str,
    "has_errors": int,
    "imports": str,  # JSON list
    "refs": str,  # space-separated identifiers
    "summarizer": str,
    "terms": str,  # words of its path and its symbols' names: what a search for it would say
    "body": str,  # its summary and its symbols' short summaries, for full-text search
    "mtime_ns": int,  # with size and inode, the stat the file had when hashed: an equal stat is not read again
    "inode": int,
}
# Named steps from an older schema to the next, in place; a version without one is rebuilt (keeping what
# was paid for).
LEDGER_COLUMNS = {
    "id": int,
    "job": str,
    "started_at": float,  # unix time
    "ended_at": float,
    "node_ids": str,  # JSON list
    "model": str,
    "input_tokens": int,
    "output_tokens": int,
    "cache_write_tokens": int,  # all cache writes (5 min and 1 h)
    "cache_write_1h_tokens": int,  # the part of them written for 1 h
    "cache_read_tokens": int,
    "batched": int,
    "batch_id": str,
    "latency_ms": int,
    "retries": int,  # retries the SDK took inside this call
    "outcome": str,  # started | ok | retried | failed | cancelled | interrupted
    "error": str,
    "request_id": str,
    "cost_usd": float,  # NULL when the model has no known price
    "pid": int,  # the process that made the call: a row it left "started" when it died is "interrupted"
}
# What a listing of nodes shows (a tree row: name, kind, summaries, token counts); the outline, doc and
# signature can be long, and a listing of hundreds of rows should not read them.
BRIEF_COLUMNS = "id, parent, kind, name, path, hash, summarizer, summaries, tokens, position"
# Tables that record what was paid for, and survive a rebuild of the cache.
KEPT_TABLES = ("ledger", "llm_summaries", "llm_failures", "llm_batches", "jobs", "job_steps", "job_events",
               "scenario_trials")
_PAID_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_summaries (
    id TEXT, input_hash TEXT, model TEXT, prompt TEXT, summaries TEXT, created_at REAL,
    PRIMARY KEY (id, input_hash, model, prompt));
CREATE INDEX IF NOT EXISTS idx_ledger_started ON ledger (started_at);
CREATE TABLE IF NOT EXISTS llm_failures (
    id TEXT, input_hash TEXT, model TEXT, prompt TEXT, error TEXT, failed_at REAL,
    PRIMARY KEY (id, input_hash, model, prompt));
CREATE TABLE IF NOT EXISTS llm_batches (
    id TEXT PRIMARY KEY, job TEXT, model TEXT, created_at REAL, state TEXT, entries TEXT);
"""
# Jobs (cockpit/jobs.py): what they were asked, where they are, what their finished steps bought.
_JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, kind TEXT, title TEXT, inputs TEXT, state TEXT, done INTEGER, total INTEGER,
    created_at REAL, started_at REAL, ended_at REAL, updated_at REAL, pid INTEGER, cancel INTEGER,
    error TEXT, outputs TEXT);
CREATE TABLE IF NOT EXISTS job_steps (
    job INTEGER, name TEXT, result TEXT, finished_at REAL, PRIMARY KEY (job, name));
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY, job INTEGER, at REAL, level TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS idx_job_events ON job_events (job, id);
"""
# Trials of holdout scenarios (cockpit/scenarios): one row per (job, scenario, trial), so a resumed run
# that repeats a trial replaces its row instead of counting it twice.
TRIAL_COLUMNS = {
    "id": int,
    "job": int,
    "scenario": str,  # the scenario's name: its file name without .toml
    "title": str,
    "trial": int,  # 1, 2, ... within the job
    "commit_sha": str,  # HEAD of the repository the trial ran on ('' outside git)
    "dirty": int,  # the working tree had changes that the trial's copy carried
    "status": str,  # satisfied | unsatisfied | broken
    "satisfaction": float,  # 0..1 (the judge's probability, or 1/0 from the checks); NULL when broken
    "judged": int,  # the LLM judge gave the verdict
    "reason": str,  # why: the failed check, the judge's reason, what broke
    "note": str,  # how it was decided (e.g. the judge skipped for want of a key)
    "started_at": float,
    "ended_at": float,
    "trajectory": str,  # JSON: setup, services, steps with commands, outputs, exit codes, durations
}
_TRIALS_SCHEMA = """
CREATE UNIQUE INDEX IF NOT EXISTS idx_trials_key ON scenario_trials (job, scenario, trial);
CREATE INDEX IF NOT EXISTS idx_trials_scenario ON scenario_trials (scenario, ended_at);
"""
# version -> (name, SQL that brings a cache of that version to the next): only for changes that add.
# Each step brings a cache of that version to the next in place, its pyramid kept: (what, its SQL, or a
# function that writes it, for tables defined further down).
MIGRATIONS = {
    8: ("scenario trials", lambda: _table_sql("scenario_trials", TRIAL_COLUMNS, "id") + _TRIALS_SCHEMA),
    9: ("stat of every file",
        "ALTER TABLE files ADD COLUMN mtime_ns INTEGER; ALTER TABLE files ADD COLUMN inode INTEGER;"),
}
# Full-text search over files and over symbols (BM25 via SQLite FTS5), kept in step by triggers.
_SEARCH_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS file_search USING fts5(
    terms, body, refs, content='files', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS files_search_insert AFTER INSERT ON files BEGIN
    INSERT INTO file_search(rowid, terms, body, refs) VALUES (new.rowid, new.terms, new.body, new.refs);
END;
CREATE TRIGGER IF NOT EXISTS files_search_delete AFTER DELETE ON files BEGIN
    INSERT INTO file_search(file_search, rowid, terms, body, refs)
    VALUES ('delete', old.rowid, old.terms, old.body, old.refs);
END;
CREATE VIRTUAL TABLE IF NOT EXISTS symbol_search USING fts5(
    name, signature, terms, content='nodes', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS symbols_search_insert AFTER INSERT ON nodes
WHEN new.kind NOT IN ('file', 'dir', 'repo') BEGIN
    INSERT INTO symbol_search(rowid, name, signature, terms) VALUES (new.rowid, new.name, new.signature, new.terms);
END;
CREATE TRIGGER IF NOT EXISTS symbols_search_delete AFTER DELETE ON nodes
WHEN old.kind NOT IN ('file', 'dir', 'repo') BEGIN
    INSERT INTO symbol_search(symbol_search, rowid, name, signature, terms)
    VALUES ('delete', old.rowid, old.name, old.signature, old.terms);
END;
"""


class Database:
    """The cache's connection, with the few helpers it uses of sqlite-utils' `Database`.

    sqlite-utils (and numpy, which it loads) costs a short command more than its whole answer, so it is
    loaded only when a caller asks for a table object (`db["name"]`).
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params=()):
        """Rows as dicts, as sqlite-utils' `query` gives them."""
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def enable_wal(self) -> None:
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            with self.conn:
                self.conn.execute("PRAGMA journal_mode=wal")

    def __getitem__(self, table: str):
        import sqlite_utils

        return sqlite_utils.Database(self.conn)[table]

    def close(self) -> None:
        self.conn.close()


class Store:
    def __init__(self, path: str | Path, root: str, rebuild: bool = False):
        self.path = Path(path)
        self.root = root
        self._kept: dict[str, tuple[list[str], list[tuple]]] = {}
        if rebuild and self.path.exists():
            self._kept = _read_kept(self.path)
            _unlink(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.parent.name == CACHE_DIR_NAME:
                ignore = self.path.parent / ".gitignore"
                if not ignore.exists():
                    ignore.write_text("*\n")  # keep the cache out of the user's git status
            self.db = Database(sqlite3.connect(self.path, check_same_thread=False))
            self._check_and_init()
        except sqlite3.DatabaseError as exc:
            raise CacheError(
                f"cache {self.path} is unreadable ({exc}); run again with --rebuild to start a fresh cache"
            ) from None
        except OSError as exc:
            raise CacheError(f"cannot open cache {self.path}: {exc.strerror}") from None

    def _check_and_init(self) -> None:
        conn = self.db.conn
        conn.execute("PRAGMA busy_timeout = 10000")  # other processes may be writing
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = set(self.db.table_names())
        if tables and app_id != APPLICATION_ID:
            raise CacheError(f"{self.path} is not a Cockpit cache; run again with --rebuild to replace it")
        if tables:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is not None and int(version[0]) != SCHEMA_VERSION:
                version = (self._migrate(int(version[0])),)
            if version is None or int(version[0]) != SCHEMA_VERSION:
                # Our own cache from another version: all of it can be rebuilt, except what was paid for.
                self.db.close()
                self._kept = _read_kept(self.path)
                _unlink(self.path)
                self.db = Database(sqlite3.connect(self.path, check_same_thread=False))
                self._check_and_init()
                return
        self.db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA recursive_triggers = ON")  # INSERT OR REPLACE must fire the delete trigger
        if tables:
            if "llm_failures" not in tables:  # added to schema 8 later: a table more, nothing rebuilt
                conn.executescript(_PAID_SCHEMA)
            return
        # One transaction, and every statement idempotent: two processes opening a new cache at once
        # (the app and an MCP server, say) must not trip over each other.
        conn.executescript(
            f"BEGIN IMMEDIATE; PRAGMA application_id = {APPLICATION_ID};"
            + _table_sql("meta", {"key": str, "value": str}, "key")
            + _table_sql("files", FILE_COLUMNS, "path")
            + _table_sql("nodes", NODE_COLUMNS, "id")
            + _table_sql("skipped", {"path": str, "reason": str}, "path")
            + _table_sql("dirty_dirs", {"id": str}, "id")
            + _table_sql("derived", {"name": str, "generation": int, "data": bytes}, "name")
            + "CREATE INDEX IF NOT EXISTS idx_nodes_parent ON nodes (parent, position);"
            "CREATE INDEX IF NOT EXISTS idx_nodes_path ON nodes (path);"
            "CREATE INDEX IF NOT EXISTS idx_nodes_name ON nodes (name);"
            + _SEARCH_SCHEMA
            + _table_sql("ledger", LEDGER_COLUMNS, "id")
            + _PAID_SCHEMA
            + _JOBS_SCHEMA
            + _table_sql("scenario_trials", TRIAL_COLUMNS, "id")
            + _TRIALS_SCHEMA
            + f"INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}'), ('generation', '0');"
            "COMMIT;"
        )
        with conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('root', ?)", [self.root])
            for table, (columns, rows) in self._kept.items():
                current = set(self.db.columns(table))
                keep = [i for i, c in enumerate(columns) if c in current]
                names = ", ".join(columns[i] for i in keep)
                conn.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(keep))})",
                                 [[row[i] for i in keep] for row in rows])
        self._kept = {}

    def _migrate(self, version: int) -> int:
        """Step an older cache forward through MIGRATIONS, each step one transaction; the version reached."""
        conn = self.db.conn
        while version in MIGRATIONS and version < SCHEMA_VERSION:
            _, sql = MIGRATIONS[version]
            sql = sql() if callable(sql) else sql
            try:
                conn.executescript(f"BEGIN IMMEDIATE; {sql} UPDATE meta SET value = '{version + 1}' "
                                   f"WHERE key = 'schema' AND value = '{version}'; COMMIT;")
            except sqlite3.OperationalError:
                if conn.in_transaction:
                    conn.rollback()
                found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if found is None or int(found[0]) == version:
                    return version  # cannot step (read-only?): rebuilt as an unknown version is
            version += 1  # stepped by us, or by another process at the same moment
        return version

    # --- reads ---------------------------------------------------------------

    def file_states(self) -> dict[str, tuple]:
        """path -> (content hash, summarizer, size, mtime_ns, inode, lang): what a refresh compares a walk with."""
        return {row[0]: row[1:] for row in self.db.conn.execute(
            "SELECT path, hash, summarizer, size, mtime_ns, inode, lang FROM files")}

    def set_stats(self, stats: list[tuple[str, str, int, int | None, int | None]]) -> None:
        """Keep the new stat of files hashed again and found unchanged: (path, hash, size, mtime_ns, inode)."""
        if not stats:
            return
        with self.db.conn:
            self.db.conn.executemany("UPDATE files SET size = ?, mtime_ns = ?, inode = ? WHERE path = ? AND hash = ?",
                                     [(size, mtime, inode, path, h) for path, h, size, mtime, inode in stats])

    def has_node(self, node_id: str) -> bool:
        return self.db.conn.execute("SELECT 1 FROM nodes WHERE id = ?", [node_id]).fetchone() is not None

    def node(self, node_id: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM nodes WHERE id = ?", [node_id]))
        return _decode(rows[0]) if rows else None

    def nodes_by_id(self, node_ids: list[str], brief: bool = False, terms: bool = True) -> list[dict]:
        """The nodes' rows; `brief`: only what a listing shows (BRIEF_COLUMNS), without outlines and docs;
        without `terms`, not their search words."""
        found = []
        columns = BRIEF_COLUMNS if brief else "*" if terms else ", ".join(c for c in NODE_COLUMNS if c != "terms")
        for start in range(0, len(node_ids), 500):
            batch = node_ids[start : start + 500]
            found += [_decode(r) for r in self.db.query(
                f"SELECT {columns} FROM nodes WHERE id IN ({','.join('?' * len(batch))})", batch)]
        return found

    def nodes_in_files(self, paths: list[str], terms: bool = True) -> list[dict]:
        """The symbols of these files, in order; without `terms`, not their search words (long, seldom wanted)."""
        found = []
        columns = "*" if terms else ", ".join(c for c in NODE_COLUMNS if c != "terms")
        for start in range(0, len(paths), 500):
            batch = paths[start : start + 500]
            found += [_decode(r) for r in self.db.query(
                f"SELECT {columns} FROM nodes WHERE path IN ({','.join('?' * len(batch))}) "
                "AND kind NOT IN ('file', 'dir', 'repo') ORDER BY path, position", batch)]
        return found

    def symbol_gists(self, paths: list[str]) -> list[dict]:
        """The symbols of these files, in order, as what ranks them: id, path, kind, name and the 16-word
        summary (`gist`), decoded by SQLite, not as whole rows."""
        found = []
        for start in range(0, len(paths), 500):
            batch = paths[start : start + 500]
            found += self.db.query(
                "SELECT id, path, kind, name, json_extract(summaries, '$[3]') AS gist FROM nodes "
                f"WHERE path IN ({','.join('?' * len(batch))}) AND kind NOT IN ('file', 'dir', 'repo') "
                "ORDER BY path, position", batch)
        return found

    def load_blob(self, name: str, generation: int) -> bytes | None:
        """A derived structure saved for this generation of the cache, if any."""
        row = self.db.conn.execute(
            "SELECT data FROM derived WHERE name = ? AND generation = ?", [name, generation]
        ).fetchone()
        return row[0] if row else None

    def save_blob(self, name: str, generation: int, data: bytes) -> None:
        try:
            with self.db.conn:
                self.db.conn.execute(
                    "INSERT OR REPLACE INTO derived (name, generation, data) VALUES (?, ?, ?)", [name, generation, data]
                )
        except sqlite3.OperationalError:
            pass  # read-only or busy: it will be derived again next time

    def node_versions(self, node_ids: list[str]) -> dict[str, tuple]:
        """id -> (content hash, summarizer, token counts as stored): what changes when any view of a node does."""
        found = {}
        for start in range(0, len(node_ids), 500):
            batch = node_ids[start : start + 500]
            rows = self.db.conn.execute(f"SELECT id, hash, summarizer, tokens FROM nodes WHERE id IN "
                                        f"({','.join('?' * len(batch))})", batch)
            found.update((node_id, version) for node_id, *version in rows)
        return found

    def children(self, node_id: str, brief: bool = False) -> list[dict]:
        return self.children_of([node_id], brief=brief).get(node_id, [])

    def children_of(self, node_ids: list[str], ids_only: bool = False, brief: bool = False) -> dict[str, list]:
        """parent id -> its children (directories first, then files by name, symbols in order): their rows
        (`brief`: as nodes_by_id), or with `ids_only` just their ids (what a caller checking for new or
        gone children needs)."""
        found: dict[str, list] = {}
        for start in range(0, len(node_ids), 500):
            batch = node_ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            columns = "parent, id" if ids_only else BRIEF_COLUMNS if brief else "*"
            query = (f"SELECT {columns} FROM nodes WHERE parent IN ({marks}) "
                     "ORDER BY parent, kind != 'dir', position, name")
            for row in self.db.query(query, batch):
                found.setdefault(row["parent"], []).append(row["id"] if ids_only else _decode(row))
        return found

    def nodes(self, kinds: tuple[str, ...] | None = None) -> list[dict]:
        if kinds:
            marks = ",".join("?" * len(kinds))
            query, args = f"SELECT * FROM nodes WHERE kind IN ({marks})", list(kinds)
        else:
            query, args = "SELECT * FROM nodes", []
        return [_decode(r) for r in self.db.query(query, args)]

    def files(self) -> list[dict]:
        return [
            dict(r, imports=json.loads(r["imports"] or "[]"), refs=(r["refs"] or "").split())
            for r in self.db.query("SELECT * FROM files")
        ]

    def skipped(self) -> list[tuple[str, str]]:
        return [(r["path"], r["reason"]) for r in self.db.query("SELECT path, reason FROM skipped ORDER BY path")]

    # --- writes --------------------------------------------------------------

    def write_files(self, built: list[EncodedFile]) -> int:
        """Store rebuilt files: each file's row and its nodes replace the old ones together."""
        if not built:
            return 0
        with self.db.conn:
            self.db.conn.executemany(
                "DELETE FROM nodes WHERE path = ? AND kind NOT IN ('dir', 'repo')", [[path] for path, _, _ in built]
            )
            self.db.conn.executemany(_INSERT_NODE, (row for _, _, rows in built for row in rows))
            # The files row goes last: it is what marks a file as done.
            self.db.conn.executemany(_INSERT_FILE, (file_row for _, file_row, _ in built))
            self._mark_dirty(path for path, _, _ in built)
            self._bump_generation()
        return sum(len(rows) for _, _, rows in built)

    def _mark_dirty(self, paths) -> None:
        """Every directory above these paths must be summarized again (inside the caller's transaction)."""
        dirs = set()
        for path in paths:
            while path:
                path = path.rsplit("/", 1)[0] if "/" in path else ""
                if path in dirs:
                    break
                dirs.add(path)
        self.db.conn.executemany("INSERT OR IGNORE INTO dirty_dirs (id) VALUES (?)", [[d] for d in dirs])

    def mark_dirty(self, dir_ids: list[str]) -> None:
        """Directories to summarize again at the next refresh (a repair), with every one above them."""
        with self.db.conn:
            self.db.conn.executemany("INSERT OR IGNORE INTO dirty_dirs (id) VALUES (?)", [[d] for d in dir_ids])
            self._mark_dirty(dir_ids)

    def dirty_dirs(self) -> set[str]:
        return {row[0] for row in self.db.conn.execute("SELECT id FROM dirty_dirs")}

    @contextlib.contextmanager
    def exclusive(self):
        """One write transaction taken before anything is read: what is read inside cannot change under us,
        whichever other process writes. Commits on leaving, rolls back on an error."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _bump_generation(self) -> None:
        self.db.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def generation(self) -> int:
        """A counter that moves on every change: readers in other processes use it to see news."""
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def set_tokens(self, updates: list[tuple[str, str, list]]) -> None:
        """Store token counts computed after the build, unless the node changed meanwhile."""
        if not updates:
            return
        with self.db.conn:
            self.db.conn.executemany(
                "UPDATE nodes SET tokens = ? WHERE id = ? AND hash = ?",
                [(json.dumps(counts), node_id, node_hash) for node_id, node_hash, counts in updates],
            )

    def remove_files(self, paths: list[str]) -> None:
        with self.db.conn:
            for path in paths:
                self.db.conn.execute("DELETE FROM files WHERE path = ?", [path])
                self.db.conn.execute("DELETE FROM nodes WHERE path = ? AND kind NOT IN ('dir', 'repo')", [path])
            self._mark_dirty(paths)
            self._bump_generation()

    def write_dirs(self, nodes: list[dict], removed_ids: list[str], settled: set[str]) -> None:
        """Store rebuilt directories, drop emptied ones, and clear the marks of every directory looked at
        (`settled`). Call it inside `exclusive()`, so that the marks read are the marks cleared."""
        conn = self.db.conn
        conn.executemany("DELETE FROM nodes WHERE id = ?", [[i] for i in removed_ids])
        conn.executemany(_INSERT_NODE, (node_row(n) for n in nodes))
        conn.executemany("DELETE FROM dirty_dirs WHERE id = ?", [[d] for d in settled])
        if nodes or removed_ids:
            self._bump_generation()

    def write_skipped(self, skipped: list[tuple[str, str]], under: str = "") -> None:
        """Replace the list of skipped files (under a directory); nothing is written when it is the same."""
        if under:
            stored = self.db.conn.execute("SELECT path, reason FROM skipped WHERE path = ? OR path LIKE ? "
                                          "ORDER BY path", [under, under + "/%"]).fetchall()
        else:
            stored = self.db.conn.execute("SELECT path, reason FROM skipped ORDER BY path").fetchall()
        if stored == sorted(skipped):
            return
        with self.db.conn:
            if under:
                self.db.conn.execute("DELETE FROM skipped WHERE path = ? OR path LIKE ?", [under, under + "/%"])
            else:
                self.db.conn.execute("DELETE FROM skipped")
            self.db.conn.executemany("INSERT OR REPLACE INTO skipped (path, reason) VALUES (?, ?)", skipped)

    # --- LLM summaries and the ledger -----------------------------------------

    def llm_summaries(self, model: str, prompt: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """(node id, input hash) -> the ladder an LLM wrote for exactly that input, where there is one."""
        found = {}
        ids = sorted({node_id for node_id, _ in keys})
        wanted = set(keys)
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            rows = self.db.conn.execute(
                f"SELECT id, input_hash, summaries FROM llm_summaries WHERE model = ? AND prompt = ? "
                f"AND id IN ({','.join('?' * len(batch))})", [model, prompt, *batch])
            for node_id, input_hash, summaries in rows:
                if (node_id, input_hash) in wanted:
                    found[(node_id, input_hash)] = json.loads(summaries)
        return found

    def failed_answers(self, model: str, prompt: str, keys: list[tuple[str, str]], since: float
                       ) -> set[tuple[str, str]]:
        """Those (node id, input hash) whose answer from `model` failed validation at `since` or later."""
        wanted, found = set(keys), set()
        ids = sorted({node_id for node_id, _ in keys})
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            rows = self.db.conn.execute(
                f"SELECT id, input_hash FROM llm_failures WHERE model = ? AND prompt = ? AND failed_at >= ? "
                f"AND id IN ({','.join('?' * len(batch))})", [model, prompt, since, *batch])
            found |= {key for key in map(tuple, rows) if key in wanted}
        return found

    def write_failures(self, model: str, prompt: str, rows: list[tuple[str, str, str]]) -> None:
        """Keep that the answers for these (id, input hash, what was wrong) failed validation."""
        now = time.time()
        with self.db.conn:
            self.db.conn.executemany("INSERT OR REPLACE INTO llm_failures VALUES (?, ?, ?, ?, ?, ?)",
                                     [(i, h, model, prompt, error[:500], now) for i, h, error in rows])

    def waiting_on_failures(self) -> int:
        """Nodes still without an LLM summary because their last answer failed validation."""
        return self.db.conn.execute(
            "SELECT COUNT(DISTINCT f.id) FROM llm_failures f JOIN nodes n ON n.id = f.id "
            "WHERE n.summarizer NOT LIKE 'llm/%'").fetchone()[0]

    def write_llm_summaries(self, model: str, prompt: str, rows: list[tuple[str, str, list[str]]],
                            nodes: list[tuple[str, str, list[str], list, str]]) -> None:
        """Keep new LLM ladders (id, input hash, summaries) and put ladders into node rows
        (id, node hash, summaries, token counts, summarizer) unless the node changed meanwhile."""
        now = time.time()
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO llm_summaries VALUES (?, ?, ?, ?, ?, ?)",
                [(node_id, input_hash, model, prompt, json.dumps(summaries), now) for node_id, input_hash, summaries in rows])
            self.db.conn.executemany("DELETE FROM llm_failures WHERE id = ? AND model = ? AND prompt = ?",
                                     [(node_id, model, prompt) for node_id, _, _ in rows])
            self.db.conn.executemany(
                "UPDATE nodes SET summaries = ?, tokens = ?, summarizer = ? WHERE id = ? AND hash = ?",
                [(json.dumps(s), json.dumps(t), label, node_id, node_hash) for node_id, node_hash, s, t, label in nodes])
            if nodes:
                self._bump_generation()

    def ledger_insert(self, row: dict) -> int:
        with self.db.conn:
            cursor = self.db.conn.execute(
                f"INSERT INTO ledger ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        return cursor.lastrowid

    def ledger_update(self, row_id: int, fields: dict) -> None:
        with self.db.conn:
            self.db.conn.execute(f"UPDATE ledger SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                                 [*fields.values(), row_id])

    def ledger_rows(self, since: float | None = None) -> list[dict]:
        query, args = "SELECT * FROM ledger", []
        if since is not None:
            query, args = query + " WHERE started_at >= ?", [since]
        return [dict(r) for r in self.db.query(query + " ORDER BY id", args)]

    def save_batch(self, batch_id: str, job: str, model: str, entries: dict, state: str = "submitted") -> None:
        with self.db.conn:
            self.db.conn.execute("INSERT OR REPLACE INTO llm_batches VALUES (?, ?, ?, ?, ?, ?)",
                                 [batch_id, job, model, time.time(), state, json.dumps(entries)])

    def batch_created(self, provisional_id: str, batch_id: str) -> None:
        """The batch saved as `provisional_id` before it was created is the API's `batch_id`."""
        with self.db.conn:
            self.db.conn.execute("UPDATE llm_batches SET id = ?, state = 'submitted' WHERE id = ?",
                                 [batch_id, provisional_id])

    def creating_batches(self, model: str) -> list[tuple[str, str, float, dict]]:
        """(provisional id, state, created at, entries) of batches saved before their creation was confirmed."""
        rows = self.db.conn.execute("SELECT id, state, created_at, entries FROM llm_batches WHERE model = ? "
                                    "AND state LIKE 'creating%' ORDER BY created_at", [model])
        return [(i, state, at, json.loads(entries)) for i, state, at, entries in rows]

    def batch_ids(self) -> set[str]:
        return {row[0] for row in self.db.conn.execute("SELECT id FROM llm_batches")}

    def forget_batch(self, batch_id: str, state: str = "lost") -> None:
        with self.db.conn:
            self.db.conn.execute("UPDATE llm_batches SET state = ? WHERE id = ?", [state, batch_id])

    def pending_batches(self, model: str) -> list[tuple[str, dict]]:
        """(batch id, entries) of this model's batches whose results were not picked up yet, oldest first."""
        rows = self.db.conn.execute("SELECT id, entries FROM llm_batches WHERE model = ? AND state = 'submitted' "
                                    "ORDER BY created_at", [model])
        return [(batch_id, json.loads(entries)) for batch_id, entries in rows]

    def batch_done(self, batch_id: str) -> None:
        with self.db.conn:
            self.db.conn.execute("UPDATE llm_batches SET state = 'done' WHERE id = ?", [batch_id])

    # --- scenario trials -------------------------------------------------------

    def write_trial(self, row: dict) -> int:
        """Record a trial (replacing the row of the same job, scenario and trial); its id."""
        row = {k: row.get(k) for k in TRIAL_COLUMNS if k != "id"}
        row["trajectory"] = json.dumps(row["trajectory"])
        with self.db.conn:
            cursor = self.db.conn.execute(
                f"INSERT OR REPLACE INTO scenario_trials ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))
        return cursor.lastrowid

    def trials(self, job: int | None = None, scenario: str | None = None, with_trajectory: bool = False) -> list[dict]:
        """Trials, oldest first; of one job or scenario if asked; the trajectories only `with_trajectory`."""
        columns = ", ".join(c for c in TRIAL_COLUMNS if with_trajectory or c != "trajectory")
        where, args = [], []
        for column, value in (("job", job), ("scenario", scenario)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        query = f"SELECT {columns} FROM scenario_trials{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id"
        return [_trial(r) for r in self.db.query(query, args)]

    def trial(self, trial_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM scenario_trials WHERE id = ?", [trial_id]))
        return _trial(rows[0]) if rows else None

    def trials_version(self) -> tuple[int, float]:
        """(count, last end): changes whenever a trial is recorded, for readers polling for news."""
        count, last = self.db.conn.execute("SELECT COUNT(*), COALESCE(MAX(ended_at), 0) FROM scenario_trials").fetchone()
        return count, last

    def close(self) -> None:
        self.db.close()


def _unlink(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _read_kept(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """The rows of the tables that survive a rebuild: table -> (columns, rows); nothing if unreadable."""
    kept = {}
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error:
        return kept
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            return kept  # not ours: nothing in it was paid for by us
        for table in KEPT_TABLES:
            try:
                cursor = conn.execute(f"SELECT * FROM {table}")
                kept[table] = ([d[0] for d in cursor.description], cursor.fetchall())
            except sqlite3.Error:
                pass  # from before this table: nothing to carry over
    except sqlite3.Error:
        pass  # damaged: nothing can be carried over
    finally:
        conn.close()
    return kept


_SQL_TYPES = {str: "TEXT", int: "INTEGER", bytes: "BLOB", float: "REAL"}


def _table_sql(table: str, columns: dict, pk: str) -> str:
    cols = ", ".join(f"{name} {_SQL_TYPES[kind]}{' PRIMARY KEY' if name == pk else ''}" for name, kind in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols});"


def _insert_sql(table: str, columns: dict) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_NODE = _insert_sql("nodes", NODE_COLUMNS)
_INSERT_FILE = _insert_sql("files", FILE_COLUMNS)
# A built file, ready to store: (path, its `files` row, its `nodes` rows), as plain tuples so
# that the encoding happens in the build's worker processes, not in the one that writes.
EncodedFile = tuple[str, tuple, list[tuple]]


def node_row(node: dict) -> tuple:
    row = dict(node, summaries=json.dumps(node["summaries"]), tokens=json.dumps(node["tokens"]))
    return tuple(row.get(name) for name in NODE_COLUMNS)


def encode_file(file_row: dict, nodes: list[dict]) -> EncodedFile:
    row = dict(file_row, imports=json.dumps(file_row["imports"]))
    return file_row["path"], tuple(row.get(name) for name in FILE_COLUMNS), [node_row(n) for n in nodes]


def _trial(row: dict) -> dict:
    row = dict(row)
    if "trajectory" in row:
        row["trajectory"] = json.loads(row["trajectory"] or "{}")
    return row


def _decode(row: dict) -> dict:
    row = dict(row)
    row["summaries"] = json.loads(row["summaries"] or "[]")
    row["tokens"] = json.loads(row["tokens"] or "[]")
    return row
