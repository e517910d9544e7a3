"""Agent burn: Claude Code session logs read incrementally into the per-user index, and what it reports."""

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cockpit.faces.cli import main
from cockpit.spend.agents import HEAD_BYTES, AgentBurn, daily_budget, default_db_path, record_served
from cockpit.spend.pricing import canonical
from summarizers import tokens

SONNET = "claude-sonnet-4-5-20250929"  # $3 in, $15 out, $3.75 / $6 cache write 5m / 1h, $0.30 cache read
OPUS = "claude-opus-4-6"  # $5, $25, $6.25 / $10, $0.50
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assistant(msg: str, req: str, ts: float, session: str, cwd: str, model: str = SONNET, inp=0, out=0, write=0,
              write_1h=0, read=0, text: str = "Done.") -> dict:
    """An assistant record as Claude Code writes it (one content block)."""
    return {
        "parentUuid": f"u-{msg}-parent", "isSidechain": False, "userType": "external", "cwd": cwd,
        "sessionId": session, "version": "2.0.31", "gitBranch": "main",
        "message": {"id": msg, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": inp, "output_tokens": out, "cache_creation_input_tokens": write,
                              "cache_read_input_tokens": read,
                              "cache_creation": {"ephemeral_5m_input_tokens": write - write_1h,
                                                 "ephemeral_1h_input_tokens": write_1h},
                              "service_tier": "standard"}},
        "requestId": req, "type": "assistant", "uuid": f"u-{msg}-{text[:6]}", "timestamp": iso(ts),
    }


def user(ts: float, session: str, cwd: str, text: str = "Please fix the failing test in the parser.") -> dict:
    return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": session,
            "version": "2.0.31", "gitBranch": "main", "type": "user",
            "message": {"role": "user", "content": [{"type": "text", "text": text}]}, "uuid": f"u-{ts}",
            "timestamp": iso(ts)}


def summary(text: str = "Fixing the parser") -> dict:
    return {"type": "summary", "summary": text, "leafUuid": "u-leaf"}


def lines(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))) + "\n" for r in records)


def session_file(base: Path, cwd: str, session: str) -> Path:
    slug = cwd.replace("/", "-")
    path = base / "projects" / slug / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def claude_dir() -> Path:
    """The Claude config dir the suite points CLAUDE_CONFIG_DIR at (empty until a test writes to it)."""
    return Path(os.environ["CLAUDE_CONFIG_DIR"])


@pytest.fixture
def burn(tmp_path, claude_dir):
    with AgentBurn(tmp_path / "agents.sqlite", [claude_dir]) as b:
        yield b


# Hand-computed costs (USD) of the history below.
MSG1 = (12 * 3 + 2_000 * 15 + 20_000 * 3.75 + 150_000 * 0.3) / 1e6  # sonnet, 5-minute cache write
MSG2 = (8 * 5 + 1_500 * 25 + 4_000 * 10 + 90_000 * 0.5) / 1e6  # opus, 1-hour cache write
MSG3 = (30 * 3 + 500 * 15 + 1_000 * 3.75 + 60_000 * 0.3) / 1e6  # sonnet, other project


def write_history(claude_dir: Path) -> None:
    alpha, beta = "/home/u/alpha", "/home/u/beta"
    session_file(claude_dir, alpha, "sess-a1").write_text(lines(
        user(T0, "sess-a1", alpha),
        assistant("msg_1", "req_1", T0 + 60, "sess-a1", alpha, SONNET, 12, 2_000, 20_000, 0, 150_000, "Let me look."),
        assistant("msg_1", "req_1", T0 + 61, "sess-a1", alpha, SONNET, 12, 2_000, 20_000, 0, 150_000, "Tool call"),
        user(T0 + 90, "sess-a1", alpha, "tool result: 3 passed"),
        assistant("msg_2", "req_2", T0 + 120, "sess-a1", alpha, OPUS, 8, 1_500, 4_000, 4_000, 90_000),
        summary(),
    ))
    session_file(claude_dir, beta, "sess-b1").write_text(lines(
        user(T0 + 3600, "sess-b1", beta),
        assistant("msg_3", "req_3", T0 + 3660, "sess-b1", beta, SONNET, 30, 500, 1_000, 0, 60_000),
        assistant("msg_4", "req_4", T0 + 3720, "sess-b1", beta, "claude-mystery-9", 1_000, 100, 0, 0, 0),
        {**assistant("msg_5", "req_5", T0 + 3730, "sess-b1", beta, "<synthetic>"), "isApiErrorMessage": True},
    ))


def by_key(report) -> dict:
    return {row.key: row for row in report.rows}


def test_totals_and_costs_by_session_model_project_and_day(burn, claude_dir):
    write_history(claude_dir)
    stats = burn.refresh()
    assert (stats.files_seen, stats.records, stats.duplicates, stats.synthetic) == (2, 4, 1, 1)
    assert stats.other == 4 and sum(stats.skipped.values()) == 0  # users and the summary, skipped quietly
    now = T0 + 4000

    sessions = by_key(burn.report(since=None, by="session", now=now))
    a1, b1 = sessions["sess-a1"], sessions["sess-b1"]
    assert (a1.messages, a1.input_tokens, a1.output_tokens, a1.cache_write_tokens, a1.cache_read_tokens) == \
        (2, 20, 3_500, 24_000, 240_000)
    assert a1.cost_usd == pytest.approx(MSG1 + MSG2) and a1.unpriced == 0
    assert a1.project == "/home/u/alpha" and a1.models == (canonical(SONNET), OPUS)  # costliest first
    assert (a1.first_seen, a1.last_seen) == (pytest.approx(T0 + 60), pytest.approx(T0 + 120))
    assert b1.cost_usd == pytest.approx(MSG3) and b1.unpriced == 1 and b1.input_tokens == 1_030

    report = burn.report(since=None, by="model", now=now)
    models = by_key(report)
    assert models[canonical(SONNET)].cost_usd == pytest.approx(MSG1 + MSG3) and models[canonical(SONNET)].sessions == 2
    assert models[OPUS].cost_usd == pytest.approx(MSG2)
    mystery = models["claude-mystery-9"]
    assert (mystery.input_tokens, mystery.output_tokens, mystery.cost_usd, mystery.unpriced) == (1_000, 100, 0.0, 1)
    assert report.total.cost_usd == pytest.approx(MSG1 + MSG2 + MSG3)
    assert (report.total.messages, report.total.sessions, report.total.unpriced) == (4, 2, 1)

    projects = by_key(burn.report(since=None, by="project", now=now))
    assert set(projects) == {"/home/u/alpha", "/home/u/beta"}
    assert projects["/home/u/beta"].cost_usd == pytest.approx(MSG3)

    days = burn.report(since=None, by="day", now=now).rows
    expected_days = sorted({time.strftime("%Y-%m-%d", time.localtime(t)) for t in (T0 + 60, T0 + 3720)})
    assert [d.key for d in days] == expected_days
    assert sum(d.cost_usd for d in days) == pytest.approx(MSG1 + MSG2 + MSG3)

    # A window: only the beta session's messages are in the last 30 minutes.
    recent = burn.report(since="30m", by="session", now=now)
    assert [r.key for r in recent.rows] == ["sess-b1"]


def test_the_same_response_in_two_files_counts_once(burn, claude_dir):
    write_history(claude_dir)
    burn.refresh()
    # A resumed session starts a new file that repeats earlier messages.
    resumed = session_file(claude_dir, "/home/u/alpha", "sess-a2")
    resumed.write_text(lines(
        assistant("msg_1", "req_1", T0 + 60, "sess-a1", "/home/u/alpha", SONNET, 12, 2_000, 20_000, 0, 150_000),
        assistant("msg_9", "req_9", T0 + 200, "sess-a2", "/home/u/alpha", SONNET, 1, 10, 0, 0, 0),
    ))
    stats = burn.refresh()
    assert (stats.records, stats.duplicates) == (1, 1)
    total = burn.report(since=None, now=T0 + 4000).total
    assert total.messages == 5
    assert total.cost_usd == pytest.approx(MSG1 + MSG2 + MSG3 + (3 + 150) / 1e6)


def test_a_half_written_line_waits_for_its_end(burn, claude_dir):
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    first = assistant("msg_1", "req_1", T0, "sess-a1", "/home/u/alpha", SONNET, 10, 20)
    second = lines(assistant("msg_2", "req_2", T0 + 5, "sess-a1", "/home/u/alpha", SONNET, 100, 200))
    path.write_text(lines(first) + second[:70])  # Claude Code is still writing the second record
    stats = burn.refresh()
    assert (stats.records, stats.lines, sum(stats.skipped.values())) == (1, 1, 0)
    assert burn.refresh().bytes_read == 0  # nothing new: not even opened

    with path.open("a") as fh:
        fh.write(second[70:])
    stats = burn.refresh()
    assert (stats.records, stats.lines, stats.duplicates) == (1, 1, 0)
    assert burn.refresh().records == 0
    total = burn.report(since=None, now=T0 + 10).total
    assert (total.messages, total.input_tokens, total.output_tokens) == (2, 110, 220)


def test_a_truncated_file_is_read_again_and_counts_stay_right(burn, claude_dir):
    write_history(claude_dir)
    burn.refresh()
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    ino = path.stat().st_ino
    path.write_text(lines(  # truncated in place: same inode, fewer bytes
        assistant("msg_2", "req_2", T0 + 120, "sess-a1", "/home/u/alpha", OPUS, 8, 1_500, 4_000, 4_000, 90_000)))
    assert path.stat().st_ino == ino
    stats = burn.refresh()
    assert (stats.files_reset, stats.records, stats.duplicates) == (1, 0, 1)
    with path.open("a") as fh:
        fh.write(lines(assistant("msg_6", "req_6", T0 + 300, "sess-a1", "/home/u/alpha", SONNET, 1, 1)))
    stats = burn.refresh()
    assert (stats.files_reset, stats.records, stats.lines) == (0, 1, 1)
    total = burn.report(since=None, now=T0 + 4000).total
    assert total.messages == 5 and total.cost_usd == pytest.approx(MSG1 + MSG2 + MSG3 + 18 / 1e6)


def test_a_rotated_file_is_read_from_its_start(burn, claude_dir):
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    path.write_text(lines(assistant("msg_1", "req_1", T0, "sess-a1", "/home/u/alpha", SONNET, 10, 20)))
    burn.refresh()
    # Replaced by another file with different content (a new inode) ...
    replacement = path.with_suffix(".tmp")
    replacement.write_text(lines(*(assistant(f"msg_r{i}", f"req_r{i}", T0 + i, "sess-a1", "/home/u/alpha", SONNET,
                                             1, 1) for i in range(1, 4))))
    os.replace(replacement, path)
    stats = burn.refresh()
    assert (stats.files_reset, stats.records) == (1, 3)
    # ... and rewritten in place with a longer history that starts differently (same inode, first bytes changed).
    with path.open("r+") as fh:
        fh.write(lines(*(assistant(f"msg_s{i}", f"req_s{i}", T0 + 10 + i, "sess-a1", "/home/u/alpha", SONNET, 2, 2)
                         for i in range(1, 6))))
    stats = burn.refresh()
    assert (stats.files_reset, stats.records) == (1, 5)
    assert burn.report(since=None, now=T0 + 60).total.messages == 1 + 3 + 5


def test_bad_lines_are_skipped_and_counted(burn, claude_dir):
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    no_usage = assistant("msg_x", "req_x", T0, "sess-a1", "/home/u/alpha")
    del no_usage["message"]["usage"]
    no_id = assistant("msg_y", "req_y", T0, "sess-a1", "/home/u/alpha", SONNET, 5, 5)
    del no_id["message"]["id"]
    bad_time = {**assistant("msg_z", "req_z", T0, "sess-a1", "/home/u/alpha", SONNET, 5, 5), "timestamp": "yesterday"}
    path.write_text(lines(
        "this is not JSON at all",
        '{"type":"assistant","message":{"usage":',  # cut off, yet complete as a line
        {"type": "telemetry-beacon", "at": iso(T0)},
        no_usage, no_id, bad_time,
        assistant("msg_1", "req_1", T0, "sess-a1", "/home/u/alpha", SONNET, 10, 20),
        "",
        "[1, 2, 3]",
    ))
    stats = burn.refresh()
    assert stats.records == 1
    assert stats.skipped == {"not_json": 3, "unknown_type": 1, "missing_fields": 3}
    assert burn.report(since=None, now=T0 + 60).skipped == stats.skipped
    result = CliRunner().invoke(main, ["burn", "--since", "all", "--claude-dir", str(claude_dir)])
    assert result.exit_code == 0, result.output
    assert "skipped lines: 3 not json, 1 unknown type, 3 missing fields" in result.output


def test_a_model_without_a_price_shows_tokens_and_no_cost(burn, claude_dir):
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    path.write_text(lines(assistant("msg_1", "req_1", T0, "sess-a1", "/home/u/alpha", "claude-future-7", 1_000, 500)))
    burn.refresh()
    row = burn.report(since=None, by="model", now=T0 + 60).rows[0]
    assert (row.key, row.input_tokens, row.output_tokens, row.cost_usd, row.unpriced) == \
        ("claude-future-7", 1_000, 500, 0.0, 1)
    stored = sqlite3.connect(burn.db_path).execute("SELECT cost_usd FROM usage").fetchone()
    assert stored == (None,)  # unpriced, not a guessed zero
    result = CliRunner().invoke(main, ["burn", "--since", "all", "--by", "model", "--claude-dir", str(claude_dir)])
    assert "claude-future-7" in result.output and "unpriced" in result.output


def test_a_refresh_reads_only_what_was_appended(burn, claude_dir):
    write_history(claude_dir)
    path = session_file(claude_dir, "/home/u/alpha", "sess-a1")
    first = burn.refresh()
    assert first.bytes_read >= sum(p.stat().st_size for p in claude_dir.rglob("*.jsonl"))

    idle = burn.refresh()
    assert (idle.files_unchanged, idle.files_read, idle.bytes_read, idle.lines) == (2, 0, 0, 0)

    extra = lines(assistant("msg_7", "req_7", T0 + 500, "sess-a1", "/home/u/alpha", SONNET, 3, 4))
    with path.open("a") as fh:
        fh.write(extra)
    stats = burn.refresh()
    assert (stats.files_read, stats.files_unchanged, stats.lines, stats.parsed, stats.records) == (1, 1, 1, 1, 1)
    assert stats.bytes_read == len(extra) + HEAD_BYTES  # the appended bytes, and the head that proves the file same


def test_a_vanished_file_keeps_its_usage(burn, claude_dir):
    write_history(claude_dir)
    burn.refresh()
    session_file(claude_dir, "/home/u/beta", "sess-b1").unlink()
    stats = burn.refresh()
    assert stats.files_forgotten == 1 and stats.files_seen == 1
    assert burn.report(since=None, now=T0 + 4000).total.messages == 4


def test_claude_config_dir_is_honoured_and_the_index_lives_in_the_data_dir(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    session_file(one, "/w/p", "s1").write_text(lines(assistant("m1", "r1", T0, "s1", "/w/p", SONNET, 1, 1)))
    session_file(two, "/w/q", "s2").write_text(lines(assistant("m2", "r2", T0, "s2", "/w/q", SONNET, 1, 1)))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(one))
    with AgentBurn() as burn:
        assert burn.db_path == default_db_path() == Path(os.environ["COCKPIT_DATA_DIR"]) / "agents.sqlite"
        assert burn.projects_dirs == [one / "projects"]
        assert burn.refresh().records == 1
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{one},{two}")
    with AgentBurn() as burn:
        assert burn.refresh().records == 1  # s1 is already in the index
        assert {r.key for r in burn.report(since=None, now=T0 + 1).rows} == {"s1", "s2"}


def test_project_falls_back_to_the_project_dir_name(burn, claude_dir):
    record = assistant("m1", "r1", T0, "s1", "/unused", SONNET, 1, 1)
    del record["cwd"]
    session_file(claude_dir, "/home/u/gamma", "s1").write_text(lines(record))
    burn.refresh()
    assert burn.report(since=None, by="project", now=T0 + 1).rows[0].key == "/home/u/gamma"


# --- 5-hour blocks, rate and budget ---------------------------------------------------------------


def hour(h: float) -> float:
    return T0 - 10 * 3600 + h * 3600  # hours of 2026-11-25, UTC


def one_per_message(claude_dir: Path, moments: list[float], out: int = 1_000) -> float:
    """One sonnet message at each moment, `out` output tokens each; returns the cost of one."""
    records = [assistant(f"m{i}", f"r{i}", ts, "s1", "/w/p", SONNET, 0, out) for i, ts in enumerate(moments)]
    session_file(claude_dir, "/w/p", "s1").write_text(lines(*records))
    return out * 15 / 1e6


def test_five_hour_blocks_start_on_the_hour_and_the_next_message_after_the_end_starts_another(burn, claude_dir):
    each = one_per_message(claude_dir, [hour(10.33), hour(11), hour(14.98), hour(15.17), hour(15.5), hour(21.5)])
    burn.refresh()
    blocks = burn.blocks(now=hour(23))
    assert [(b.start, b.end, b.messages) for b in blocks] == [
        (hour(10), hour(15), 3), (hour(15), hour(20), 2), (hour(21), hour(26), 1)]
    assert blocks[-1].active and not blocks[0].active
    assert blocks[1].cost_usd == pytest.approx(2 * each)
    # Asked from a moment inside the second block, the blocks are the same.
    assert [(b.start, b.messages) for b in burn.blocks(since=hour(16), now=hour(23))] == \
        [(hour(15), 2), (hour(21), 1)]


def test_the_active_block_projects_its_rate_to_its_end(burn, claude_dir):
    each = one_per_message(claude_dir, [hour(15.1), hour(15.5), hour(16)])
    burn.refresh()
    now = hour(16.1)  # an hour after the block's first message
    block = burn.active_block(now=now)
    assert (block.start, block.end, block.messages) == (hour(15), hour(20), 3)
    per_hour = 3 * each / 1.0
    assert block.usd_per_hour == pytest.approx(per_hour)
    assert block.projected_cost_usd == pytest.approx(3 * each + per_hour * (20 - 16.1))
    assert burn.active_block(now=hour(20.5)) is None
    rate = burn.rate(window=600, now=now)  # only the 16:00 message is in the last 10 minutes
    assert rate.messages == 1 and rate.usd_per_hour == pytest.approx(each * 6)
    assert rate.tokens_per_minute == pytest.approx(1_000 / 10)


def local(h: float) -> float:
    return datetime(2026, 11, 25).timestamp() + h * 3600  # local time of day, today


def test_the_budget_says_when_it_runs_out_at_the_current_rate(burn, claude_dir):
    # $0.30 at 09:00, then $0.05 five minutes ago: $0.30 an hour now.
    path = session_file(claude_dir, "/w/p", "s1")
    path.write_text(lines(assistant("m1", "r1", local(9), "s1", "/w/p", SONNET, 0, 20_000),
                          assistant("m2", "r2", local(12) - 300, "s1", "/w/p", SONNET, 0, 3_333)))
    burn.refresh()
    spent = (20_000 + 3_333) * 15 / 1e6
    budget = burn.budget(daily=1.0, now=local(12))
    assert budget.spent_usd == pytest.approx(spent) and budget.percent == pytest.approx(spent * 100)
    assert budget.usd_per_hour == pytest.approx(3_333 * 15 / 1e6 * 6)
    assert budget.runs_out_at == pytest.approx(local(12) + (1.0 - spent) / budget.usd_per_hour * 3600)
    assert time.strftime("%H:%M", time.localtime(budget.runs_out_at)) in budget.describe()
    assert burn.budget(daily=5.0, now=local(12)).runs_out_at is None  # not before midnight at this rate
    assert "not at this rate" in burn.budget(daily=5.0, now=local(12)).describe()
    spent_all = burn.budget(daily=0.2, now=local(12))
    assert spent_all.exceeded and spent_all.remaining_usd == 0
    # Yesterday's spend does not count today.
    assert burn.budget(daily=1.0, now=local(24 + 12)).spent_usd == 0


def test_the_daily_budget_comes_from_the_flag_then_the_user_config_then_a_default():
    assert daily_budget() == 1000.0
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cockpit" / "cockpit.toml"
    config.parent.mkdir(parents=True)
    config.write_text("agent_daily_budget = 250\n")
    assert daily_budget() == 250.0
    assert daily_budget(40) == 40.0


# --- the command ---------------------------------------------------------------------------------


def burn_cli(*args):
    return CliRunner().invoke(main, ["burn", *args])


def test_burn_by_session_table(claude_dir):
    write_history(claude_dir)
    result = burn_cli("--since", "all", "--by", "session")
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    header = next(line for line in out if line.startswith("SESSION"))
    assert header.split()[:5] == ["SESSION", "PROJECT", "MODEL", "MSGS", "INPUT"]
    a1 = next(line for line in out if line.startswith("sess-a1"))
    assert "/home/u/alpha" in a1 and f"{MSG1 + MSG2:,.2f}" in a1 and "240,000" in a1
    b1 = next(line for line in out if line.startswith("sess-b1"))
    assert "(+1 unpriced)" in b1
    total = next(line for line in out if line.startswith("total"))
    assert f"{MSG1 + MSG2 + MSG3:,.2f}" in total and "(+1 unpriced)" in total
    assert any(line.startswith("rate now (last 10 min):") for line in out)
    assert any(line.startswith("5-hour block") for line in out)
    assert any(line.startswith("budget today: $") and "/ $1,000.00" in line for line in out)
    assert any(line.startswith("context served by cockpit:") for line in out)


def test_burn_json_has_the_same_figures(claude_dir):
    write_history(claude_dir)
    result = burn_cli("--since", "all", "--by", "model", "--format", "json", "--budget", "50")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["by"] == "model" and data["since"] is None
    assert data["looked_in"] == [str(claude_dir / "projects")]
    models = {row["key"]: row for row in data["rows"]}
    assert models[OPUS]["cost_usd"] == pytest.approx(MSG2)
    assert models["claude-mystery-9"]["unpriced"] == 1
    assert data["total"]["cost_usd"] == pytest.approx(MSG1 + MSG2 + MSG3)
    assert data["budget"]["daily_usd"] == 50.0
    assert set(data["rate"]) >= {"window", "tokens_per_minute", "usd_per_hour"}
    assert data["refresh"]["records"] == 4 and data["skipped"]["not_json"] == 0
    assert data["served"] == {"answers": 0, "tokens": 0, "agent_input_tokens": 0, "share": None, "by_root": []}


def test_burn_without_sessions_says_where_it_looked(claude_dir):
    result = burn_cli()
    assert result.exit_code == 0
    assert "no Claude Code session files" in result.output and str(claude_dir / "projects") in result.output


def test_burn_usage_errors(claude_dir):
    result = burn_cli("--since", "soon")
    assert result.exit_code == 2 and "--since" in result.output
    assert burn_cli("--live", "--format", "json").exit_code == 2


def test_burn_live_redraws_until_ctrl_c(claude_dir, monkeypatch):
    write_history(claude_dir)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    result = burn_cli("--live", "--since", "all")
    assert result.exit_code == 0, result.output
    assert ticks == [1.0, 1.0] and "sess-a1" in result.output


# --- context served ------------------------------------------------------------------------------


def served_rows() -> list[tuple]:
    conn = sqlite3.connect(default_db_path())
    return conn.execute("SELECT client, root, tool, tokens FROM served ORDER BY rowid").fetchall()


def test_context_and_zoom_answers_are_recorded_and_shown_beside_the_agents_input(sample_repo, claude_dir):
    runner = CliRunner()
    context = runner.invoke(main, ["context", "forecast cache", "--repo", str(sample_repo), "-q", "--budget", "300"])
    assert context.exit_code == 0, context.output
    zoom = runner.invoke(main, ["zoom", "weather/client.py", "--repo", str(sample_repo), "-q"])
    assert zoom.exit_code == 0, zoom.output
    root = os.path.realpath(sample_repo)
    assert served_rows() == [("cli", root, "context", tokens.count(context.stdout)),
                             ("cli", root, "zoom", tokens.count(zoom.stdout))]

    served = tokens.count(context.stdout) + tokens.count(zoom.stdout)
    now = time.time()
    session_file(claude_dir, f"{root}/weather", "s1").write_text(lines(
        assistant("m1", "r1", now - 60, "s1", f"{root}/weather", SONNET, 100, 10, 1_000, 0, 5_000)))
    session_file(claude_dir, "/elsewhere", "s2").write_text(lines(
        assistant("m2", "r2", now - 60, "s2", "/elsewhere", SONNET, 7, 7)))
    result = CliRunner().invoke(main, ["burn", "--by", "project", "--format", "json"])
    data = json.loads(result.output)
    projects = {row["key"]: row for row in data["rows"]}
    assert projects[f"{root}/weather"]["served_tokens"] == served  # the repo is a parent of the session's cwd
    assert projects["/elsewhere"]["served_tokens"] == 0
    assert data["served"]["tokens"] == served and data["served"]["answers"] == 2
    assert data["served"]["agent_input_tokens"] == 100 + 1_000  # new input: cache reads re-read earlier turns
    assert data["served"]["share"] == min(1.0, served / 1_100)
    table = CliRunner().invoke(main, ["burn", "--by", "project"]).output
    assert f"context served by cockpit: {served:,} tokens in 2 answers, {min(1.0, served / 1_100):.1%} of the 1,100 " \
        "new input tokens" in table


def test_recording_never_fails_the_answer(sample_repo, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("COCKPIT_DATA_DIR", str(blocker))  # the index cannot be created under a file
    record_served("cli", str(sample_repo), "context", "some text")  # no exception
    result = CliRunner().invoke(main, ["context", "forecast", "--repo", str(sample_repo), "-q"])
    assert result.exit_code == 0 and result.stdout


async def test_mcp_answers_are_recorded_with_the_client_name(sample_repo):
    from mcp import Client
    from mcp.types import Implementation

    from cockpit.faces.mcp import create_server

    server = create_server(str(sample_repo))
    async with Client(server, client_info=Implementation(name="claude-code", version="2.0.31")) as client:
        for tool, args in (("overview", {"budget": 400}), ("context", {"task": "cache"}),
                           ("zoom", {"path": "weather/cache.py"}), ("read", {"path": "weather/cache.py"})):
            result = await client.call_tool(tool, args)
            assert not result.is_error
        await client.call_tool("search", {"query": "cache"})  # not context: not recorded
        refused = await client.call_tool("read", {"path": "../outside.py"})
        assert refused.is_error  # a refusal is not an answer
    rows = served_rows()
    assert [(client, tool) for client, _, tool, _ in rows] == [
        ("claude-code", "overview"), ("claude-code", "context"), ("claude-code", "zoom"), ("claude-code", "read")]
    assert {root for _, root, _, _ in rows} == {os.path.realpath(sample_repo)}
    assert all(n > 0 for *_, n in rows)


def test_blocks_follow_new_messages_in_order_and_out_of_order(burn, claude_dir, tmp_path):
    one_per_message(claude_dir, [hour(10.5), hour(12)])
    burn.refresh()
    assert [(b.start, b.messages) for b in burn.blocks(now=hour(13))] == [(hour(10), 2)]
    later = session_file(claude_dir, "/w/p", "s2")
    later.write_text(lines(*(assistant(f"n{i}", f"q{i}", ts, "s2", "/w/p", SONNET, 0, 10)
                             for i, ts in enumerate([hour(14), hour(15.5)]))))
    burn.refresh()
    assert [(b.start, b.messages) for b in burn.blocks(now=hour(16))] == [(hour(10), 3), (hour(15), 1)]
    # A file read late brings an older message: it moves the blocks after it.
    late = session_file(claude_dir, "/w/p", "s3")
    late.write_text(lines(assistant("o1", "p1", hour(9.5), "s3", "/w/p", SONNET, 0, 10)))
    burn.refresh()
    expected = [(hour(9), 3), (hour(14), 2)]
    assert [(b.start, b.messages) for b in burn.blocks(now=hour(16))] == expected
    with AgentBurn(burn.db_path, [claude_dir]) as fresh:
        assert [(b.start, b.messages) for b in fresh.blocks(now=hour(16))] == expected


def test_rows_of_a_model_priced_later_get_their_cost(tmp_path, claude_dir, monkeypatch):
    session_file(claude_dir, "/w/p", "s1").write_text(lines(
        assistant("m1", "r1", T0, "s1", "/w/p", "claude-future-7", 1_000, 100, 2_000, 1_000, 10_000)))
    with AgentBurn(tmp_path / "a.sqlite", [claude_dir]) as burn:
        burn.refresh()
        assert burn.report(since=None, now=T0 + 1).total.unpriced == 1
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"claude-future-7": {
        "input": 2.0, "output": 10.0, "cache_write_5m": 2.5, "cache_write_1h": 4.0, "cache_read": 0.2}}}))
    monkeypatch.setenv("COCKPIT_PRICING", str(prices))
    with AgentBurn(tmp_path / "a.sqlite", [claude_dir]) as burn:
        total = burn.report(since=None, now=T0 + 1).total
        assert total.unpriced == 0
        assert total.cost_usd == pytest.approx((1_000 * 2 + 100 * 10 + 1_000 * 2.5 + 1_000 * 4 + 10_000 * 0.2) / 1e6)


def test_burn_failures_are_one_line(claude_dir):
    write_history(claude_dir)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "cockpit" / "cockpit.toml"
    config.parent.mkdir(parents=True)
    config.write_text("agent_daily_budget = 'lots'\n")
    result = burn_cli()
    assert result.exit_code == 1 and "agent_daily_budget must be a positive number" in result.output
    config.unlink()
    default_db_path().parent.mkdir(parents=True)
    default_db_path().write_bytes(b"not a database, just bytes" * 100)
    result = burn_cli()
    assert result.exit_code == 1
    assert result.output.startswith("cockpit: error: agent index") and len(result.output.splitlines()) == 1


def test_an_index_from_an_older_cockpit_is_read_again_and_keeps_what_was_served(tmp_path, claude_dir):
    db = tmp_path / "agents.sqlite"
    old = sqlite3.connect(db)
    old.executescript("CREATE TABLE usage (message_id TEXT, request_id TEXT, model TEXT);"
                      "INSERT INTO usage VALUES ('gone', 'gone', 'claude-sonnet-4-5-20250929');"
                      "CREATE TABLE files (path TEXT PRIMARY KEY, dev INTEGER);"
                      "CREATE TABLE served (ts REAL NOT NULL, client TEXT NOT NULL, root TEXT NOT NULL, "
                      "tool TEXT NOT NULL, tokens INTEGER NOT NULL);"
                      "INSERT INTO served VALUES (1.0, 'cli', '/w/p', 'context', 120); PRAGMA user_version = 1;")
    old.close()
    session_file(claude_dir, "/w/p", "s1").write_text(lines(assistant("m1", "r1", T0, "s1", "/w/p", SONNET, 10, 20)))
    with AgentBurn(db, [claude_dir]) as burn:
        assert burn.refresh().records == 1
        report = burn.report(None, "model", now=T0 + 60)
        assert [row.key for row in report.rows] == ["claude-sonnet-4-5"]
        assert [(s.root, s.tokens) for s in burn.served(None, now=T0)] == [("/w/p", 120)]


def test_rows_are_priced_again_when_the_prices_change(tmp_path, claude_dir, monkeypatch):
    session_file(claude_dir, "/w/p", "s1").write_text(lines(
        assistant("m1", "r1", T0, "s1", "/w/p", "claude-mystery-9", 1_000_000, 0),
        assistant("m2", "r2", T0, "s1", "/w/p", SONNET, 1_000, 0)))
    db = tmp_path / "agents.sqlite"
    with AgentBurn(db, [claude_dir]) as burn:
        burn.refresh()
        assert burn.report(None, "session", now=T0).total.unpriced == 1
    own = tmp_path / "prices.json"
    own.write_text(json.dumps({"models": {"claude-mystery-9": {"input": 2, "output": 4},
                                          "claude-sonnet-4-5": {"input": 30, "output": 150}}}))
    monkeypatch.setenv("COCKPIT_PRICING", str(own))
    with AgentBurn(db, [claude_dir]) as burn:
        total = burn.report(None, "session", now=T0).total
    assert total.unpriced == 0 and total.cost_usd == pytest.approx(2 + 1_000 * 30 / 1e6)
