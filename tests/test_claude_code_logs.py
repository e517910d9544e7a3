"""Spend on session logs as Claude Code 2.1 writes them (tests/data/claude-code-2.1), worked out by hand.

The fixture: project weather, session 3f2a9c1e on 2026-11-30 (claude-opus-4-8, one response logged as a
partial thinking block and then its tool use, a synthetic API-error record, a `claude-opus-4-8[1m]`
answer, a subagent on claude-haiku-4-5 under `3f2a9c1e.../subagents/`); session 7b91d0e4 resumed it on
2026-12-01, copying its first exchange (timestamps kept) before two claude-sonnet-5 turns. Project api:
session c0d4e5f6 on 2026-12-01 (claude-sonnet-4-5 past 200k tokens in a field, a claude-3-5-haiku title),
and session 0e1f2a3b from Claude Code 1.0, whose one record logged `costUSD`. Days are UTC.
"""

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cockpit.faces.cli import main
from cockpit.spend.agents import AgentBurn

FIXTURE = Path(__file__).parent / "data" / "claude-code-2.1"
S1, S2 = "3f2a9c1e-8d4b-4c6a-9e21-5b7d0c4a1f10", "7b91d0e4-2c3f-4e8a-b1d6-9a0e3f5c7d21"
S3, S4 = "c0d4e5f6-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b"

# USD per message: tokens x LiteLLM's rates per million (input, output, 5-minute / 1-hour cache write, read).
OPUS_01A = (3 * 5 + 410 * 25 + 2_000 * 6.25 + 9_000 * 10 + 12_000 * 0.5) / 1e6  # the complete record, not the partial
OPUS_01B = (1 * 5 + 220 * 25 + 1_500 * 6.25 + 23_000 * 0.5) / 1e6
OPUS_1M_01C = (2 * 5 + 800 * 25 + 240_000 * 0.5) / 1e6  # [1m] is claude-opus-4-8, which has no long-context tier
HAIKU_S1 = (6 * 1 + 900 * 5 + 4_800 * 1.25) / 1e6
HAIKU_S2 = (4 * 1 + 350 * 5 + 600 * 1.25 + 4_800 * 0.1) / 1e6
SONNET5_02A = (10 * 2 + 1_200 * 10 + 3_000 * 4 + 30_000 * 0.2) / 1e6
SONNET5_02B = (3 * 2 + 640 * 10 + 800 * 2.5 + 33_000 * 0.2) / 1e6
# claude-sonnet-4-5: a field's tokens beyond 200,000 in one request cost the long-context rate.
SONNET45_03A = (5 * 3 + 1_800 * 15 + 2_000 * 3.75 + 200_000 * 0.3 + 50_000 * 0.6) / 1e6
SONNET45_03B = (200_000 * 3 + 30_000 * 6 + 500 * 15) / 1e6
HAIKU35_03C = (120 * 0.8 + 12 * 4) / 1e6
OLD_LOGGED = 0.0421  # costUSD in the record
OLD_CALCULATED = (100 * 3 + 200 * 15 + 1_000 * 3.75 + 5_000 * 0.3) / 1e6  # claude-sonnet-4

SESSIONS = {
    S1: (OPUS_01A + OPUS_01B + OPUS_1M_01C + HAIKU_S1 + HAIKU_S2, 5),
    S2: (SONNET5_02A + SONNET5_02B, 2),  # its copies of msg_01A and msg_01B count in S1
    S3: (SONNET45_03A + SONNET45_03B + HAIKU35_03C, 3),
    S4: (OLD_LOGGED, 1),
}
# (input, output, cache write, cache read, cost) per day
DAYS = {
    "2026-11-30": (3 + 1 + 2 + 6 + 4 + 100, 410 + 220 + 800 + 900 + 350 + 200,
                   11_000 + 1_500 + 4_800 + 600 + 1_000, 12_000 + 23_000 + 240_000 + 4_800 + 5_000,
                   SESSIONS[S1][0] + OLD_LOGGED),
    "2026-12-01": (10 + 3 + 5 + 230_000 + 120, 1_200 + 640 + 1_800 + 500 + 12, 3_000 + 800 + 2_000,
                   30_000 + 33_000 + 250_000, SESSIONS[S2][0] + SESSIONS[S3][0]),
}


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def logs(tmp_path) -> Path:
    copy = tmp_path / "claude"
    shutil.copytree(FIXTURE, copy)
    return copy


def burn_json(*args) -> dict:
    result = CliRunner().invoke(main, ["burn", "--since", "all", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_days_and_sessions_as_worked_out_by_hand(logs, tmp_path):
    with AgentBurn(tmp_path / "index.sqlite", [logs]) as burn:
        stats = burn.refresh()
        # 15 usage records of 11 messages: msg_01A twice in S1 and twice more in S2, msg_01B once more in S2
        assert (stats.files_seen, stats.records, stats.duplicates, stats.synthetic) == (5, 11, 4, 1)
        days = {row.key: row for row in burn.report(None, "day").rows}
        sessions = {row.key: row for row in burn.report(None, "session").rows}
    assert sorted(days) == sorted(DAYS)
    for day, (inp, out, write, read, cost) in DAYS.items():
        row = days[day]
        assert (row.input_tokens, row.output_tokens, row.cache_write_tokens, row.cache_read_tokens) == \
            (inp, out, write, read)
        assert row.cost_usd == pytest.approx(cost, abs=1e-9) and row.unpriced == 0
    assert {key: (pytest.approx(row.cost_usd, abs=1e-9), row.messages) for key, row in sessions.items()} == SESSIONS
    assert sessions[S1].project == "/home/dev/src/weather" and sessions[S3].project == "/home/dev/src/api"


def test_by_model_one_row_per_model_whatever_its_spelling(logs):
    data = burn_json("--by", "model", "--claude-dir", str(logs))
    models = {row["key"]: row for row in data["rows"]}
    assert set(models) == {"claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5", "claude-sonnet-4-5",
                           "claude-3-5-haiku", "claude-sonnet-4"}
    assert models["claude-opus-4-8"]["messages"] == 3  # claude-opus-4-8 and claude-opus-4-8[1m]
    assert models["claude-opus-4-8"]["cost_usd"] == pytest.approx(OPUS_01A + OPUS_01B + OPUS_1M_01C)
    assert models["claude-sonnet-4-5"]["cost_usd"] == pytest.approx(SONNET45_03A + SONNET45_03B)
    assert models["claude-3-5-haiku"]["cost_usd"] == pytest.approx(HAIKU35_03C)
    assert data["total"]["unpriced"] == 0 and data["files"] == 5


def test_cost_modes_for_a_record_that_logged_its_cost(logs):
    old = {mode: burn_json("--by", "session", "--mode", mode, "--claude-dir", str(logs)) for mode in
           ("auto", "calculate", "display")}
    cost = {mode: {row["key"]: row for row in data["rows"]}[S4]["cost_usd"] for mode, data in old.items()}
    assert cost == {"auto": pytest.approx(OLD_LOGGED), "calculate": pytest.approx(OLD_CALCULATED),
                    "display": pytest.approx(OLD_LOGGED)}
    # display shows only logged costs, as ccusage does: the 2.1 records logged none
    assert old["display"]["total"]["cost_usd"] == pytest.approx(OLD_LOGGED) and old["display"]["total"]["unpriced"] == 0
    assert old["calculate"]["total"]["cost_usd"] == pytest.approx(sum(d[4] for d in DAYS.values())
                                                                  - OLD_LOGGED + OLD_CALCULATED)


def test_the_report_covers_only_the_dirs_it_was_given(logs, tmp_path):
    other = tmp_path / "other"
    session = other / "projects" / "-w-p" / "s9.jsonl"
    session.parent.mkdir(parents=True)
    record = json.loads((logs / "projects" / "-home-dev-src-api" / f"{S3}.jsonl").read_text().splitlines()[1])
    record["message"]["id"], record["requestId"] = "msg_99", "req_99"
    session.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    assert burn_json("--claude-dir", str(other))["total"]["messages"] == 1  # indexes both, reports one
    mine = burn_json("--claude-dir", str(logs))
    assert mine["total"]["messages"] == 11 and mine["files"] == 5
    table = CliRunner().invoke(main, ["burn", "--since", "all", "--claude-dir", str(other)]).output
    assert table.startswith("agent usage, all time, by session (1 session files)")
    assert S1[:8] not in table
    with AgentBurn(roots=[logs]) as burn:  # reading the other dir forgot none of these files
        stats = burn.refresh()
    assert (stats.files_read, stats.files_unchanged, stats.files_forgotten) == (0, 5, 0)


def test_a_copied_message_stays_in_the_earlier_session_whichever_file_is_read_first(logs, tmp_path):
    weather = logs / "projects" / "-home-dev-src-weather"
    resumed = weather / f"{S2}.jsonl"
    original = weather / f"{S1}.jsonl"
    held = original.read_bytes()
    original.unlink()
    with AgentBurn(tmp_path / "index.sqlite", [logs]) as burn:
        burn.refresh()  # only the resumed file has msg_01A and msg_01B: they are its, for now
        assert {r.key: r.messages for r in burn.report(None, "session").rows}[S2] == 4
        original.write_bytes(held)
        burn.refresh()
        sessions = {r.key: r for r in burn.report(None, "session").rows}
    assert sessions[S2].messages == 2 and sessions[S2].cost_usd == pytest.approx(SESSIONS[S2][0])
    assert sessions[S1].messages == 5 and sessions[S1].cost_usd == pytest.approx(SESSIONS[S1][0])
    assert resumed.is_file()
