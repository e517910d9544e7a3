"""The LLM summarizer and the ledger, through the real SDK against the Anthropic twin."""

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import anthropic
import pytest
from click.testing import CliRunner
from conftest import SAMPLE_REPO, write_tree

import cockpit.twin.server
from cache.store import Store
from cockpit.core.pyramid import SUMMARIZER, build
from cockpit.faces.cli import main
from cockpit.spend.ledger import Ledger, Pricing, burn, parse_since, spend
from cockpit.twin.server import Fault
from summarizers import llm, models, prompts, tokens

MODEL = llm.DEFAULT_MODEL
ALL_NODES = 15  # sample_repo: 5 files, 7 symbols, 2 directories, the repo
ALL_CALLS = 8  # one per file, per directory and for the repo


@pytest.fixture
def store(sample_repo):
    s = Store(sample_repo / ".cockpit" / "cache.sqlite", str(sample_repo))
    build(str(sample_repo), s, workers=1)
    yield s
    s.close()


async def summarize(root, store, twin, **kw):
    async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="test-key", max_retries=2) as client:
        return await llm.llm_summarize(str(root), store, client, MODEL, ledger=Ledger(store), **kw)


def requested_ids(entries):
    """The node ids each logged request asked about, one list per request."""
    found = []
    for entry in entries:
        text = entry["body"]["messages"][0]["content"]
        path = re.match(r"File (\S+)\n", text)
        found.append([prompts.full_id(node_id, path and path.group(1))
                      for node_id, _ in cockpit.twin.server.NODE_BLOCK.findall(text)])
    return found


def ledger_usage(store):
    total = spend(store)["total"]
    return {"input_tokens": total["input_tokens"], "output_tokens": total["output_tokens"],
            "cache_creation_input_tokens": total["cache_write_tokens"],
            "cache_read_input_tokens": total["cache_read_tokens"]}


def twin_usage(twin):
    return {k: v for k, v in twin.usage.items() if k != "requests"}


# -- the flow


async def test_a_full_llm_pyramid_then_a_rerun_makes_no_calls(sample_repo, store, twin):
    stats = await summarize(sample_repo, store, twin)
    nodes = store.nodes()
    assert len(nodes) == ALL_NODES and stats.asked == ALL_NODES and stats.calls == len(twin.log) == ALL_CALLS
    for node in nodes:
        assert node["summarizer"].startswith(f"llm/{MODEL}/"), node["id"]
        assert [len(s.split()) <= b for s, b in zip(node["summaries"], prompts.BUDGETS)] == [True] * 6
        assert node["tokens"][:6] == tokens.count_many(node["summaries"])
    assert store.node("weather/client.py::parse_reply")["summaries"][0] == "parse reply"  # the twin's words
    # Bottom-up: every directory was asked after its children, and never saw code.
    order = requested_ids(twin.log)
    assert order[-1] == [""]
    assert order.index(["weather"]) > max(i for i, ids in enumerate(order) if any(x.startswith("weather/") for x in ids))
    dir_request = next(e for e in twin.log if '<node id="weather">' in e["body"]["messages"][0]["content"])
    assert "def " not in dir_request["body"]["messages"][0]["content"]

    again = await summarize(sample_repo, store, twin)
    assert again.calls == 0 and len(twin.log) == ALL_CALLS
    build(str(sample_repo), store, workers=1)  # nothing changed: the build keeps the LLM's ladders
    assert (await summarize(sample_repo, store, twin)).calls == 0
    assert all(n["summarizer"].startswith("llm/") for n in store.nodes())


async def test_one_edit_asks_that_file_and_its_ancestors_only(sample_repo, store, twin):
    await summarize(sample_repo, store, twin)
    path = sample_repo / "weather" / "cache.py"
    path.write_text(path.read_text().replace("Read a cached document", "Load a stored JSON document")
                    .replace("A tiny cache", "A persistent store"))
    build(str(sample_repo), store, workers=1)
    stats = await summarize(sample_repo, store, twin)
    asked = requested_ids(twin.log[ALL_CALLS:])
    assert stats.calls == len(asked) <= 1 + 2  # depth 1
    # The class's own lines did not change (its method is cut to a line in its block): its ladder is kept.
    assert asked == [["weather/cache.py::DiskCache.get", "weather/cache.py"], ["weather"], [""]]
    assert "Load a stored JSON" in twin.log[ALL_CALLS]["body"]["messages"][0]["content"]
    assert all(n["summarizer"].startswith("llm/") for n in store.nodes())


async def test_a_new_prompt_version_re_asks_what_it_touches(sample_repo, store, twin, monkeypatch):
    await summarize(sample_repo, store, twin)
    monkeypatch.setitem(prompts.KIND_RULES, "dir", prompts.KIND_RULES["dir"] + " Be concrete.")
    stats = await summarize(sample_repo, store, twin)
    assert sorted(requested_ids(twin.log[ALL_CALLS:])) == [[""], ["scripts"], ["weather"]] and stats.calls == 3


# -- faults


async def test_a_rate_limit_is_retried_transparently_and_the_ledger_shows_it(sample_repo, store, twin):
    twin.script(Fault.rate_limit(retry_after_ms=5))
    stats = await summarize(sample_repo, store, twin)
    assert stats.asked == ALL_NODES and stats.sdk_retries == 1 and not stats.fallback
    rows = store.ledger_rows()
    assert [r["outcome"] for r in rows].count("retried") == 1 and [r["retries"] for r in rows].count(1) == 1
    assert [e["status"] for e in twin.log].count(429) == 1 and ledger_usage(store) == twin_usage(twin)


async def test_rate_limits_that_outlast_the_sdk_are_waited_out(sample_repo, store, twin):
    twin.script(*[Fault.rate_limit(retry_after_ms=5) for _ in range(3)])
    stats = await summarize(sample_repo, store, twin, concurrency=1)
    assert stats.asked == ALL_NODES and not stats.fallback and stats.calls == ALL_CALLS + 1
    failed = [r for r in store.ledger_rows() if r["outcome"] == "failed"]
    assert len(failed) == 1 and "RateLimitError 429" in failed[0]["error"] and failed[0]["input_tokens"] == 0


async def test_three_overloads_leave_one_file_extractive_and_the_rest_completes(sample_repo, store, twin):
    twin.script(*[Fault.overloaded(retry_after_ms=1) for _ in range(3)])
    stats = await summarize(sample_repo, store, twin, concurrency=1)
    first = requested_ids(twin.log[:1])[0]
    assert [e["status"] for e in twin.log[:3]] == [529, 529, 529]
    assert sorted(stats.fallback) == sorted(first) and stats.asked == ALL_NODES - len(first)
    for node in store.nodes():
        assert node["summarizer"] == (SUMMARIZER if node["id"] in first else llm.label(MODEL, "dir" if node["kind"]
                                      in ("dir", "repo") else "file")), node["id"]
    failed = [r for r in store.ledger_rows() if r["outcome"] == "failed"]
    assert len(failed) == 1 and json.loads(failed[0]["node_ids"]) == first and "OverloadedError" in failed[0]["error"]
    # The next run asks only what fell back, and the directories above it.
    again = await summarize(sample_repo, store, twin)
    assert sorted(stats.fallback) == sorted(requested_ids(twin.log[-again.calls:])[0]) and not again.fallback
    assert all(n["summarizer"].startswith("llm/") for n in store.nodes())


async def test_a_malformed_answer_is_asked_once_more(sample_repo, store, twin, monkeypatch):
    real, calls = cockpit.twin.server.answer_text, []

    def first_garbled(params):
        calls.append(1)
        return "Sure! Here are your summaries:" if len(calls) == 1 else real(params)

    monkeypatch.setattr(cockpit.twin.server, "answer_text", first_garbled)
    stats = await summarize(sample_repo, store, twin, concurrency=1)
    assert stats.asked == ALL_NODES and not stats.fallback and stats.calls == ALL_CALLS + 1
    first = requested_ids(twin.log[:1])[0]
    assert requested_ids(twin.log).count(first) == 2
    outcomes = [r["outcome"] for r in store.ledger_rows()]
    assert outcomes[0] == "failed" and set(outcomes[1:]) == {"ok"}
    assert "invalid answer" in store.ledger_rows()[0]["error"] and store.ledger_rows()[0]["output_tokens"] > 0


async def test_an_answer_still_wrong_after_one_retry_falls_back(sample_repo, store, twin, monkeypatch):
    real = cockpit.twin.server.answer_text

    def too_long_for_cache_py(params):
        answer = json.loads(real(params))
        if "::DiskCache.get" in answer["nodes"]:
            answer["nodes"]["::DiskCache.get"]["2"] = "three words here"
        return json.dumps(answer)

    monkeypatch.setattr(cockpit.twin.server, "answer_text", too_long_for_cache_py)
    stats = await summarize(sample_repo, store, twin)
    assert stats.fallback == ["weather/cache.py::DiskCache.get"] and stats.asked == ALL_NODES - 1
    asked = requested_ids(twin.log)
    assert asked.count(["weather/cache.py::DiskCache.get"]) == 1  # the retry asks only for what was wrong
    assert store.node("weather/cache.py::DiskCache.get")["summarizer"] == SUMMARIZER
    assert store.node("weather/cache.py::DiskCache")["summarizer"].startswith("llm/")


async def test_prose_then_json_the_answer_comes_as_the_forced_tool_s_input(sample_repo, store, twin):
    """A scripted prose answer goes out as text (as from an endpoint that ignores tools): it fails, the
    retry's answer is the forced tool call's input, and that one is kept."""
    twin.reply("Sure! Here is what the file does: it fetches forecasts.", contains="File weather/client.py")
    stats = await summarize(sample_repo, store, twin, concurrency=1)
    assert stats.asked == ALL_NODES and not stats.fallback and not stats.waiting
    client = [e for e in twin.log if "File weather/client.py" in e["body"]["messages"][0]["content"]]
    assert [b["type"] for e in client for b in e["response"]["content"]] == ["text", "tool_use"]
    assert all(e["body"]["tool_choice"] == {"type": "tool", "name": prompts.TOOL_NAME} for e in twin.log)
    assert store.node("weather/client.py")["summarizer"].startswith("llm/")


async def test_a_failed_answer_is_not_paid_for_again_until_its_input_changes(sample_repo, store, twin):
    for _ in range(2):  # the answer and its retry: both prose
        twin.reply("I could not summarize this file.", contains="File weather/client.py")
    first = await summarize(sample_repo, store, twin)
    client_nodes = sorted(n["id"] for n in store.nodes() if n["path"] == "weather/client.py")
    assert sorted(first.fallback) == client_nodes and first.asked == ALL_NODES - len(client_nodes)
    assert store.waiting_on_failures() == len(client_nodes)
    second = await summarize(sample_repo, store, twin)
    assert second.calls == 0 and sorted(second.waiting) == client_nodes and not second.fallback
    assert f"{len(client_nodes)} nodes waiting on a failed answer" in second.describe()
    again = await summarize(sample_repo, store, twin, retry_failed=True)  # the user asks: and it validates now
    # The file, then the directory and the repository above it, whose input its new summaries change.
    assert again.calls == 3 and sorted(requested_ids(twin.log[-3:])[0]) == client_nodes
    assert store.waiting_on_failures() == 0


async def test_an_edit_asks_a_failed_node_again(sample_repo, store, twin):
    for _ in range(2):
        twin.reply("Still no summary.", contains="File weather/client.py")
    await summarize(sample_repo, store, twin)
    assert (await summarize(sample_repo, store, twin)).calls == 0
    path = sample_repo / "weather" / "client.py"
    path.write_text(path.read_text() + "\nRETRIES = 3\n")
    build(str(sample_repo), store, workers=1)
    symbols = sorted(n["id"] for n in store.nodes() if n["path"] == "weather/client.py" and "::" in n["id"])
    edited = await summarize(sample_repo, store, twin)
    # The file's input is its content: asked again. The symbols whose lines are as they were still wait.
    assert edited.calls == 3 and not edited.fallback
    assert sorted(edited.waiting) == [s for s in symbols if not s.endswith("::RETRIES")]
    assert store.node("weather/client.py")["summarizer"].startswith("llm/")


async def test_a_failure_older_than_the_retry_time_is_asked_again(sample_repo, store, twin):
    for _ in range(2):
        twin.reply("No.", contains="File weather/client.py")
    await summarize(sample_repo, store, twin)
    assert (await summarize(sample_repo, store, twin, retry_failed_after=3600)).calls == 0
    assert (await summarize(sample_repo, store, twin, retry_failed_after=0)).calls == 3  # the file, its dirs


async def test_a_model_that_refuses_forced_tools_is_asked_for_text(sample_repo, store, twin):
    """A model the summarizer does not know to refuse forced tools answers the first with a 400: the run
    learns it from that one refusal, unbilled, and asks for text from then on."""
    twin.models, twin.no_forced_tool = frozenset({"claude-next"}), frozenset({"claude-next"})
    async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="test-key") as client:
        stats = await llm.llm_summarize(str(sample_repo), store, client, "claude-next", ledger=Ledger(store),
                                        concurrency=1)
    assert stats.asked == ALL_NODES and stats.text_answers and not stats.fallback
    refused = [e for e in twin.log if e["status"] == 400]
    assert len(refused) == 1 and "tool_choice" in refused[0]["body"]
    assert all("tools" not in e["body"] for e in twin.log if e["status"] == 200)
    assert len([r for r in store.ledger_rows() if r["outcome"] == "failed" and not r["cost_usd"]]) == 1


async def test_a_model_known_to_refuse_forced_tools_is_never_sent_one(sample_repo, store, twin):
    async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="test-key") as client:
        stats = await llm.llm_summarize(str(sample_repo), store, client, "claude-opus-5-5", ledger=Ledger(store))
    assert stats.asked == ALL_NODES and {e["status"] for e in twin.log} == {200}
    assert all("tools" not in e["body"] for e in twin.log)


# -- money and secrets


async def test_the_spend_cap_stops_before_a_call_would_pass_it(sample_repo, store, twin, tmp_path):
    other = write_tree(tmp_path / "other", SAMPLE_REPO)
    other_store = Store(other / "cache.sqlite", str(other))
    build(str(other), other_store, workers=1)
    cap = (await summarize(other, other_store, twin, concurrency=1)).cost_usd  # worst-case estimates stop us sooner
    other_store.close()
    before = len(twin.log)
    stats = await summarize(sample_repo, store, twin, concurrency=1, max_cost=cap)
    rows = store.ledger_rows()
    assert stats.capped and 0 < stats.asked < ALL_NODES and stats.left and not stats.fallback
    spent = sum(r["cost_usd"] for r in rows)
    assert spent <= cap < spent + stats.refused_estimate and {r["outcome"] for r in rows} == {"ok"}
    assert len(rows) == stats.calls == len(twin.log) - before
    done = {n["id"] for n in store.nodes() if n["summarizer"].startswith("llm/")}
    assert len(done) == stats.asked and not done & set(stats.left)
    # What was finished is kept: a run without the cap asks only for the rest.
    rest = await summarize(sample_repo, store, twin)
    asked = {i for ids in requested_ids(twin.log[before + stats.calls:]) for i in ids}
    assert not asked & done and rest.asked == ALL_NODES - len(done)
    with pytest.raises(ValueError, match="no price"):
        async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="k") as client:
            await llm.llm_summarize(str(sample_repo), store, client, "claude-unknown", ledger=Ledger(store), max_cost=1.0)


PLANTED = {  # secret -> the line that plants it
    "AKIAQ3EGRZ7NXJ4KD2PL": 'AWS_ACCESS_KEY_ID = "AKIAQ3EGRZ7NXJ4KD2PL"',
    "q8Jf3kLm9Pz2Xv7Rt5Yw1Bn4Hc6Ds0Ga8EeKuOiT":
        'CREDENTIALS = {"aws_secret_access_key": "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"}',
    "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm": 'ANTHROPIC = "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm"',
    "9f8e7d6c5b4a39281706f5e4d3c2b1a0": 'api_key = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"',
    "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8": 'GITHUB = {"token": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"}',
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N":
        "HEADERS = {'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N'}",
    "Xk29fLq8Zr7Wm3Vn5Tb1Yc4Hd6Js0Pa2": "    service_token: Xk29fLq8Zr7Wm3Vn5Tb1Yc4Hd6Js0Pa2",
}
SETTINGS = '''"""Settings for the forecast service."""
{assignments}


def config():
    """The settings as YAML."""
    return """
{yaml}
"""
'''


async def test_planted_secrets_never_leave(sample_repo, twin):
    lines = list(PLANTED.values())
    (sample_repo / "weather" / "settings.py").write_text(
        SETTINGS.format(assignments="\n".join(lines[:-1]), yaml=lines[-1]))
    store = Store(sample_repo / ".cockpit" / "cache.sqlite", str(sample_repo))
    build(str(sample_repo), store, workers=1)
    assert store.node("weather/settings.py::config") is not None  # in the pyramid, and so in a prompt
    await summarize(sample_repo, store, twin)
    sent = json.dumps([e["body"] for e in twin.log])
    assert "File weather/settings.py" in sent and '\\"::config\\"' in sent
    assert sent.count("[REDACTED]") >= len(PLANTED)
    for secret in PLANTED:
        assert secret not in sent, secret
    store.close()


def test_redaction_keeps_code_and_removes_secret_values():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"
    assert llm.redact(f"KEY = '''{key}'''") == "KEY = '''[REDACTED PRIVATE KEY]'''"
    assert llm.redact("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == \
        "aws_secret_access_key = [REDACTED]"
    assert llm.redact('token: "Xk29fLq8Zr7Wm3Vn5Tb1"') == 'token: "[REDACTED]"'
    assert llm.redact("curl -H 'Authorization: Bearer abc123def456ghi789'") == \
        "curl -H 'Authorization: Bearer [REDACTED]'"
    for code in ("token = self.next_token()", "api_key = os.environ['API_KEY']", 'password = "hunter2"',
                 "max_tokens = DEFAULT_MAX_TOKENS_PER_REQUEST", "secret_name: str = field(default='')"):
        assert llm.redact(code) == code


async def test_the_ledger_agrees_with_the_api_to_the_token(sample_repo, store, twin):
    twin.script(Fault.rate_limit(retry_after_ms=1), Fault.overloaded(retry_after_ms=1),
                Fault.server_error(retry_after_ms=1))
    await summarize(sample_repo, store, twin)
    rows = store.ledger_rows()
    assert ledger_usage(store) == twin_usage(twin) and len(rows) == twin.usage["requests"] == ALL_CALLS
    assert all(r["ended_at"] >= r["started_at"] and r["latency_ms"] >= 0 and r["request_id"] for r in rows)
    assert sum(r["retries"] for r in rows) == 3 and {r["model"] for r in rows} == {MODEL}
    expected = Pricing.load().cost(MODEL, {"input_tokens": twin.usage["input_tokens"],
                                           "output_tokens": twin.usage["output_tokens"],
                                           "cache_write_tokens": twin.usage["cache_creation_input_tokens"],
                                           "cache_read_tokens": twin.usage["cache_read_input_tokens"]})
    assert spend(store)["total"]["cost_usd"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("model, cached", [("claude-sonnet-4-5", True), ("claude-opus-5", True), (MODEL, False)])
async def test_the_shared_prefix_is_cached_only_where_the_api_would(sample_repo, store, twin, model, cached):
    """The tool, the instructions and (where they pay) the examples are the shared prefix: cached where it
    reaches the model's minimum, which the twin applies as the API does; Haiku 4.5's 4,096 is out of reach."""
    async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="test-key") as client:
        await llm.llm_summarize(str(sample_repo), store, client, model, ledger=Ledger(store), concurrency=1)
    rows, first = store.ledger_rows(), twin.log[0]["body"]
    shared = len(first["tools"]) + len(first["system"])
    prefix = sum(count for _, count, _ in cockpit.twin.server.segments(first)[:shared])
    texts = [block["text"] for block in first["system"]]
    assert first["tool_choice"] == {"type": "tool", "name": prompts.TOOL_NAME}
    if cached:
        assert prefix >= models.cache_minimum(model) and texts == [prompts.SYSTEM, prompts.EXAMPLES]
        assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert (rows[0]["cache_write_tokens"], rows[0]["cache_read_tokens"]) == (prefix, 0)
        assert all((r["cache_write_tokens"], r["cache_read_tokens"]) == (0, prefix) for r in rows[1:])
    else:  # padding 441 tokens up to 4,096 would cost 410 a request in cache reads: more than sending them
        assert prefix < models.cache_minimum(model) and texts == [prompts.SYSTEM]
        assert not any("cache_control" in block for block in first["system"])
        assert all((r["cache_write_tokens"], r["cache_read_tokens"]) == (0, 0) for r in rows)


# -- pricing, spend, the cache


def test_pricing_matches_dated_ids_and_never_guesses(tmp_path, monkeypatch):
    pricing = Pricing.load()
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "cache_write_tokens": 1_000_000,
             "cache_write_1h_tokens": 400_000, "cache_read_tokens": 1_000_000}
    assert pricing.cost("claude-haiku-4-5-20251001", usage) == pytest.approx(1 + 5 + 0.6 * 1.25 + 0.4 * 2 + 0.1)
    assert pricing.cost("claude-haiku-4-5", usage, batched=True) == pytest.approx((1 + 5 + 0.75 + 0.8 + 0.1) / 2)
    assert pricing.cost("claude-sonnet-4-0", {"input_tokens": 100_000}) == pytest.approx(0.3)
    assert pricing.cost("claude-made-up", usage) is None
    own = tmp_path / "prices.json"
    own.write_text(json.dumps({"models": {"claude-made-up": {"input": 2, "output": 4, "cache_write_5m": 2.5,
                                                             "cache_write_1h": 4, "cache_read": 0.2}}}))
    monkeypatch.setenv("COCKPIT_PRICING", str(own))
    assert Pricing.load().cost("claude-made-up", {"output_tokens": 500_000}) == pytest.approx(2)


def test_since_windows_and_burn(store):
    now = 1_000_000.0
    assert parse_since("1h", now) == now - 3600 and parse_since("7d", now) == now - 7 * 86400
    assert parse_since("all", now) is None and parse_since("today", now) <= now
    with pytest.raises(ValueError):
        parse_since("yesterday", now)
    for started, tokens_in, cost in ((now - 7200, 1000, 1.0), (now - 600, 3000, 0.25), (now - 60, 600, 0.5)):
        store.ledger_insert({"started_at": started, "model": MODEL, "outcome": "ok", "input_tokens": tokens_in,
                             "output_tokens": 0, "cost_usd": cost})
    assert burn(store, 3600, now) == {"tokens_per_minute": 60.0, "usd_per_hour": 0.75, "calls": 2}


def test_what_was_paid_for_survives_a_rebuild(sample_repo, store):
    store.ledger_insert({"job": "j", "started_at": 1.0, "model": MODEL, "outcome": "ok", "input_tokens": 7})
    store.write_llm_summaries(MODEL, "1.x", [("weather", "h", ["a"] * 6)], [])
    store.close()
    conn = sqlite3.connect(store.path)
    with conn:  # as if written by another version
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.close()
    for rebuild in (False, True):
        again = Store(store.path, str(sample_repo), rebuild=rebuild)
        assert [r["input_tokens"] for r in again.ledger_rows()] == [7]
        assert again.llm_summaries(MODEL, "1.x", [("weather", "h")]) == {("weather", "h"): ["a"] * 6}
        assert again.nodes() == []
        again.close()


# -- the command line


def test_cli_summarize_llm_survives_faults_and_spend_agrees(sample_repo, twin, tmp_path):
    twin.script(Fault.rate_limit(retry_after_ms=1), Fault.overloaded(retry_after_ms=1),
                Fault.server_error(retry_after_ms=1))
    runner = CliRunner()
    env = {"ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "x"}
    result = runner.invoke(main, ["summarize", str(sample_repo), "--llm", "--format", "json", "--depth", "3"], env=env)
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)
    assert tree["summarizer"].startswith("llm/") and "llm: 8 calls" in result.stderr

    result = runner.invoke(main, ["spend", "--repo", str(sample_repo), "--format", "json"])
    total = json.loads(result.stdout)["total"]
    assert (total["calls"], total["input_tokens"], total["output_tokens"], total["cache_write_tokens"],
            total["cache_read_tokens"]) == (twin.usage["requests"], twin.usage["input_tokens"],
                                            twin.usage["output_tokens"], twin.usage["cache_creation_input_tokens"],
                                            twin.usage["cache_read_input_tokens"])
    table = runner.invoke(main, ["spend", "--repo", str(sample_repo), "--by", "model", "--since", "1h"]).stdout
    assert table.splitlines()[1].startswith(MODEL) and table.splitlines()[-1].startswith("total")
    assert runner.invoke(main, ["spend", "--repo", str(sample_repo), "--since", "soon"]).exit_code == 2

    # Without a key or --llm: the built-in summarizer, and not one call.
    plain = write_tree(tmp_path / "plain", SAMPLE_REPO)
    calls = len(twin.log)
    result = runner.invoke(main, ["summarize", str(plain), "--format", "json"], env={"ANTHROPIC_BASE_URL": twin.url})
    assert result.exit_code == 0 and json.loads(result.stdout)["summarizer"] == SUMMARIZER and len(twin.log) == calls
    result = runner.invoke(main, ["summarize", str(plain), "--llm"], env={"ANTHROPIC_BASE_URL": twin.url})
    assert result.exit_code == 1 and "ANTHROPIC_API_KEY" in result.stderr


def test_cli_second_run_pays_nothing_for_answers_that_failed(sample_repo, twin):
    for _ in range(2):
        twin.reply("This module fetches forecasts.", contains="File weather/client.py")
    runner = CliRunner()
    env = {"ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "x"}
    first = runner.invoke(main, ["summarize", str(sample_repo), "--llm"], env=env)
    assert first.exit_code == 0 and "5 nodes left extractive after errors" in first.stderr, first.output
    calls = len(twin.log)
    second = runner.invoke(main, ["summarize", str(sample_repo), "--llm"], env=env)
    assert second.exit_code == 0 and len(twin.log) == calls and "llm: 0 calls" in second.stderr
    assert "5 nodes waiting on a failed answer" in second.stderr
    spent = runner.invoke(main, ["spend", "--repo", str(sample_repo)])
    assert "5 nodes waiting on a failed answer" in spent.stdout
    assert json.loads(runner.invoke(main, ["spend", "--repo", str(sample_repo), "--format", "json"]).stdout)[
        "waiting_on_failed_answer"] == 5
    retried = runner.invoke(main, ["summarize", str(sample_repo), "--llm", "--retry-failed"], env=env)
    assert retried.exit_code == 0 and "llm: 3 calls" in retried.stderr and "waiting" not in retried.stderr


# -- Message Batches


async def test_a_batch_asks_for_every_file_at_half_price(sample_repo, store, twin):
    stats = await summarize(sample_repo, store, twin, batch=True, poll_seconds=0.001)
    assert stats.asked == ALL_NODES and all(n["summarizer"].startswith("llm/") for n in store.nodes())
    (batch,) = twin.batches.values()
    assert len(batch["requests"]) == 5 and len(twin.requests("/v1/messages")) == 3  # the directories and the repo
    rows = store.ledger_rows()
    batched = [r for r in rows if r["batched"]]
    assert len(batched) == 5 and {r["batch_id"] for r in batched} == {batch["id"]}
    assert {r["outcome"] for r in rows} == {"ok"} and ledger_usage(store) == twin_usage(twin)
    full_price = Pricing.load().cost(MODEL, batched[0])
    assert batched[0]["cost_usd"] == pytest.approx(full_price / 2)
    assert (await summarize(sample_repo, store, twin, batch=True)).calls == 0 and len(twin.batches) == 1


async def test_a_batch_left_waiting_is_picked_up_not_paid_twice(sample_repo, store, twin):
    twin.batch_polls = None  # the batch does not end while the first run waits
    run = asyncio.ensure_future(summarize(sample_repo, store, twin, batch=True, poll_seconds=0.001))
    while not store.pending_batches(MODEL):
        await asyncio.sleep(0.005)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert {r["outcome"] for r in store.ledger_rows()} == {"started"}
    twin.batch_polls = 1
    stats = await summarize(sample_repo, store, twin)  # even without --batch
    assert len(twin.batches) == 1 and len(twin.requests("/v1/messages")) == 3 and stats.asked == ALL_NODES
    assert {r["outcome"] for r in store.ledger_rows()} == {"ok"} and ledger_usage(store) == twin_usage(twin)
    assert all(n["summarizer"].startswith("llm/") for n in store.nodes())


async def test_a_batch_orphaned_by_a_kill_between_create_and_save_is_adopted(sample_repo, store, twin):
    """The API creates the batch, but the process is killed before it hears the id: the next run finds the
    batch the API lists, matches it to the row saved before the create, and takes its results."""
    store.close()
    twin.script(Fault.late(30_000, path="/v1/messages/batches"))
    env = {**os.environ, "ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "x"}
    child = subprocess.Popen([sys.executable, "-m", "cockpit", "summarize", str(sample_repo), "--batch", "-q"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not twin.batches and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert twin.batches, "the child never created its batch"
    child.kill()
    child.wait()
    store = Store(sample_repo / ".cockpit" / "cache.sqlite", str(sample_repo))
    assert not store.pending_batches(MODEL) and len(store.creating_batches(MODEL)) == 1  # no id was saved
    stats = await summarize(sample_repo, store, twin, poll_seconds=0.001)
    assert len(twin.batches) == 1 and stats.asked == ALL_NODES and stats.batch_requests == 0
    assert len(twin.requests("/v1/messages")) == 3  # the directories and the repo; no file is asked again
    rows = store.ledger_rows()
    assert {r["outcome"] for r in rows} == {"ok"} and ledger_usage(store) == twin_usage(twin)
    assert {r["batch_id"] for r in rows if r["batched"]} == set(twin.batches)
    assert all(n["summarizer"].startswith("llm/") for n in store.nodes())
    store.close()


async def test_an_errored_batch_entry_is_asked_directly(sample_repo, store, twin):
    twin.script(Fault.batch_entry("*-r0", "overloaded_error", "Overloaded"))
    stats = await summarize(sample_repo, store, twin, batch=True, poll_seconds=0.001)
    assert stats.asked == ALL_NODES and not stats.fallback
    failed = [r for r in store.ledger_rows() if r["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["batched"] and "overloaded" in failed[0]["error"]
    assert len(twin.requests("/v1/messages")) == 4 and ledger_usage(store) == twin_usage(twin)


def test_the_daily_budget_in_config_caps_a_run(sample_repo, twin):
    """Once today's spend reaches `daily_budget`, a run makes no more calls and keeps the built-in summaries."""
    runner = CliRunner()
    env = {"ANTHROPIC_BASE_URL": twin.url, "ANTHROPIC_API_KEY": "x"}
    (sample_repo / "cockpit.toml").write_text("daily_budget = 0.0\n")
    result = runner.invoke(main, ["summarize", str(sample_repo), "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert len(twin.log) == 0
    assert json.loads(result.stdout)["summarizer"] == SUMMARIZER


def test_the_watcher_asks_the_llm_once_after_changes_settle(sample_repo, store, twin):
    """Ten saves of one file in a row: extractive refreshes at once, one LLM refresh after they settle."""
    from cockpit.jobs.watch import Watcher

    def refresh():
        return llm.summarize(str(sample_repo), store, Ledger(store), model=MODEL, api_key="k", base_url=twin.url)

    assert refresh().calls == ALL_CALLS  # the whole pyramid once
    watcher = Watcher(str(sample_repo), store, llm_refresh=refresh, settle_seconds=30)
    path = sample_repo / "weather" / "cache.py"
    before = len(twin.log)
    for i in range(10):
        path.write_text(path.read_text() + f"\n# save {i}\n")
        watcher.handle([str(path)])
        assert watcher.settle() is None  # still within the settle time: nothing asked
    assert len(twin.log) == before
    stats = watcher.settle(now=watcher.llm_due + 1)
    assert stats.calls == 3 and len(twin.log) == before + 3  # the file, weather/ and the repo: once
    assert watcher.settle(now=time.monotonic() + 3600) is None  # nothing pending any more
