"""The Anthropic twin, always through the real SDK (or raw HTTP where the SDK cannot misbehave)."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import httpx2
import pytest
from click.testing import CliRunner

from cockpit.faces.cli import main as cli_main
from cockpit.twin.script import Scenario, ScenarioError
from cockpit.twin.server import BUDGETS, MESSAGE_OVERHEAD, Fault, Twin, running_twin
from summarizers import tokens

PROJECT = Path(__file__).resolve().parent.parent
MODEL = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Summarise the weather client module for a coding agent, please."}]
CODE = '''
class ForecastClient:
    """Talks to the forecast service and caches its answers."""

    def forecast(self, city: str, days: int = 3) -> dict:
        """Return the forecast for a city over the next few days."""
        return self.cache.get(f"{city}:{days}") or {}


def parse_reply(text):
    # Decode the service's JSON reply into a dict of days.
    return json.loads(text)
'''


@pytest.fixture
def client(twin):
    with anthropic.Anthropic(base_url=twin.url, api_key="test-key", max_retries=2) as c:
        yield c


def raw(twin, path, body=None, headers=None, method=None):
    """(status, headers, body) of a raw request, for what the SDK would never send."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(twin.url + path, data=data, headers=headers or {}, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def prompt_tokens(text: str) -> int:
    return tokens.count(text) + MESSAGE_OVERHEAD


# -- messages


def test_plain_message_answers_deterministically_with_usage(client, twin):
    message = client.messages.create(model=MODEL, max_tokens=200, messages=HELLO)
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_") and message._request_id.startswith("req_")
    text = message.content[0].text
    assert text == "Echo: " + HELLO[0]["content"]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = message.usage
    assert usage.input_tokens == prompt_tokens(HELLO[0]["content"])
    assert usage.output_tokens == tokens.count(text)
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    again = client.messages.create(model=MODEL, max_tokens=200, messages=HELLO)
    assert (again.id, again.content[0].text) == (message.id, text)
    assert twin.usage["requests"] == 2 and twin.usage["output_tokens"] == 2 * usage.output_tokens


def test_answers_are_cut_at_max_tokens_and_stop_sequences(client):
    cut = client.messages.create(model=MODEL, max_tokens=3, messages=HELLO)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    assert tokens.count(cut.content[0].text) <= 3
    stopped = client.messages.create(model=MODEL, max_tokens=200, messages=HELLO, stop_sequences=["client"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "client"
    assert stopped.content[0].text == "Echo: Summarise the weather "


def test_requests_the_api_would_refuse(client, twin):
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model=MODEL, max_tokens=10, messages=[])
    assert err.value.type == "invalid_request_error" and err.value.request_id.startswith("req_")
    auth = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, _, body = raw(twin, "/v1/messages", {"model": MODEL, "messages": HELLO}, auth)
    assert status == 400 and json.loads(body)["error"]["message"] == "max_tokens: Field required"
    status, _, body = raw(twin, "/v1/nowhere", {}, auth)
    assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"


def test_a_missing_key_is_a_401_and_either_auth_header_works(twin):
    body = {"model": MODEL, "max_tokens": 20, "messages": HELLO}
    status, headers, payload = raw(twin, "/v1/messages", body, {"anthropic-version": "2023-06-01"})
    error = json.loads(payload)
    assert status == 401 and error["type"] == "error" and error["error"]["type"] == "authentication_error"
    assert headers["request-id"].startswith("req_")
    for auth in ({"x-api-key": "k"}, {"authorization": "Bearer k"}):
        assert raw(twin, "/v1/messages", body, {**auth, "anthropic-version": "2023-06-01"})[0] == 200


def test_a_missing_anthropic_version_is_a_400(twin):
    status, headers, payload = raw(twin, "/v1/messages", {"model": MODEL, "max_tokens": 20, "messages": HELLO},
                                   {"x-api-key": "k"})
    assert status == 400 and json.loads(payload)["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in json.loads(payload)["error"]["message"]
    assert headers["request-id"]


def test_the_log_keeps_bodies_and_redacts_keys(client, twin):
    client.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    raw(twin, "/v1/messages/count_tokens", {"model": MODEL, "messages": HELLO},
        {"x-api-key": "secret-key", "anthropic-version": "2023-06-01"})
    sdk, by_hand = twin.log
    assert sdk["method"] == "POST" and sdk["path"] == "/v1/messages" and sdk["status"] == 200
    assert sdk["body"] == {"model": MODEL, "max_tokens": 50, "messages": HELLO}
    assert sdk["headers"]["authorization"] == "Bearer [redacted]"
    assert sdk["headers"]["anthropic-version"] and sdk["usage"]["output_tokens"] > 0
    assert by_hand["headers"]["x-api-key"] == "[redacted]"
    assert "test-key" not in json.dumps(twin.log) and "secret-key" not in json.dumps(twin.log)


# -- streaming


def test_streaming_through_the_sdk_helper(client, twin):
    with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 2 and "".join(pieces) == final.content[0].text == "Echo: " + HELLO[0]["content"]
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == prompt_tokens(HELLO[0]["content"])
    assert final.usage.output_tokens == tokens.count(final.content[0].text)
    assert twin.log[-1]["body"]["stream"] is True


def test_every_sse_frame_has_an_event_and_a_data_line(twin):
    status, headers, payload = raw(twin, "/v1/messages", {"model": MODEL, "max_tokens": 200, "messages": HELLO,
                                                          "stream": True},
                                   {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    frames = [f.split("\n") for f in payload.decode().strip().split("\n\n")]
    assert all(len(f) == 2 and f[0].startswith("event: ") and f[1].startswith("data: ") for f in frames)
    events = [f[0][7:] for f in frames]
    assert all(json.loads(f[1][6:])["type"] == f[0][7:] for f in frames)
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}


# -- token counting and prompt caching


def test_count_tokens_equals_the_billed_input(client):
    system = [{"type": "text", "text": "You summarise code. " * 30, "cache_control": {"type": "ephemeral"}}]
    counted = client.messages.count_tokens(model=MODEL, messages=HELLO, system=system).input_tokens
    usage = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO, system=system).usage
    assert counted == usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    assert client.messages.count_tokens(model=MODEL, messages=HELLO).input_tokens == prompt_tokens(HELLO[0]["content"])


def test_cache_control_writes_a_prefix_then_reads_it(client):
    instructions = "You write pyramid summaries of code, from 2 to 64 words. " * 300  # past Haiku 4.5's 4,096
    system = [{"type": "text", "text": instructions, "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(model=MODEL, max_tokens=20, system=system, messages=HELLO).usage
    second = client.messages.create(model=MODEL, max_tokens=20, system=system,
                                    messages=[{"role": "user", "content": "Another question entirely."}]).usage
    prefix = tokens.count(instructions)
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (prefix, 0)
    assert first.cache_creation.ephemeral_5m_input_tokens == prefix
    assert first.input_tokens == prompt_tokens(HELLO[0]["content"])
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, prefix)
    assert second.input_tokens == prompt_tokens("Another question entirely.")
    # The cache is per model, and per exact prefix.
    other = client.messages.create(model="claude-sonnet-4-5", max_tokens=20, system=system, messages=HELLO).usage
    assert other.cache_creation_input_tokens == prefix
    changed = [{**system[0], "text": instructions + "!"}]
    assert client.messages.create(model=MODEL, max_tokens=20, system=changed,
                                  messages=HELLO).usage.cache_read_input_tokens == 0


def test_prefixes_below_the_minimum_are_not_cached():
    with running_twin(cache_min_tokens=1024) as twin, \
            anthropic.Anthropic(base_url=twin.url, api_key="k") as client:
        system = [{"type": "text", "text": "Short.", "cache_control": {"type": "ephemeral"}}]
        usage = client.messages.create(model=MODEL, max_tokens=20, system=system, messages=HELLO).usage
        assert usage.cache_creation_input_tokens == 0 and usage.input_tokens == 2 + prompt_tokens(HELLO[0]["content"])


def test_each_model_caches_from_the_api_s_own_minimum(client):
    """By default the twin applies each model's minimum: 1,500 tokens cache on Sonnet 4.5 (1,024), not on
    Haiku 4.5 (4,096), and 600 on Opus 5 (512)."""
    def written(model: str, words: int) -> int:
        text = "summary " * words
        system = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
        usage = client.messages.create(model=model, max_tokens=5, system=system, messages=HELLO).usage
        return usage.cache_creation_input_tokens / tokens.count(text)  # 1: all of it, 0: none

    assert written("claude-sonnet-4-5", 1500) == 1 and written("claude-haiku-4-5", 1500) == 0
    assert written("claude-opus-5", 600) == 1 and written("claude-sonnet-4-6", 1500) == 0
    assert written("claude-haiku-4-5-20251001", 4100) == 1


# -- faults


def test_one_rate_limit_is_retried_transparently(client, twin):
    twin.script(Fault.rate_limit(retry_after_ms=10))
    message = client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert message.content[0].text.startswith("Echo:")
    assert [e["status"] for e in twin.log] == [429, 200]
    assert twin.log[1]["headers"]["x-stainless-retry-count"] == "1"


def test_a_rate_limit_without_retries_shows_the_retry_after(twin):
    twin.script(Fault.rate_limit(retry_after_ms=10))
    with anthropic.Anthropic(base_url=twin.url, api_key="k", max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as err:
            client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert err.value.type == "rate_limit_error" and err.value.response.headers["retry-after-ms"] == "10"


def test_three_overloads_surface_after_two_retries(client, twin):
    twin.script(*[Fault.overloaded(retry_after_ms=1) for _ in range(3)])
    with pytest.raises(anthropic.InternalServerError) as err:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert isinstance(err.value, anthropic.OverloadedError)
    assert err.value.status_code == 529 and err.value.type == "overloaded_error"
    assert [e["status"] for e in twin.log] == [529, 529, 529]
    assert client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)  # the script is used up


def test_server_errors_and_other_statuses(client, twin):
    twin.script(Fault.server_error(retry_after_ms=1))
    client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)  # the 500 is retried
    twin.script(Fault.error(400, "invalid_request_error", "nope"))
    with pytest.raises(anthropic.BadRequestError) as err:  # a 400 is not
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert err.value.api_message == "nope"
    assert [e["status"] for e in twin.log] == [500, 200, 400]


def test_faults_wait_for_a_request_they_match(client, twin):
    twin.script(Fault.cut_stream(), Fault.rate_limit(path="/v1/messages/count_tokens"))
    client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert len(twin.pending_faults) == 2
    client.messages.count_tokens(model=MODEL, messages=HELLO)
    assert [e["status"] for e in twin.log] == [200, 429, 200] and len(twin.pending_faults) == 1


def test_a_slow_first_byte(client, twin):
    twin.script(Fault.slow(150))
    started = time.perf_counter()
    client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert time.perf_counter() - started >= 0.15
    twin.script(Fault.slow(400))
    with pytest.raises(anthropic.APITimeoutError):
        client.with_options(timeout=0.1, max_retries=0).messages.create(model=MODEL, max_tokens=20, messages=HELLO)


def test_a_stream_cut_mid_message(client, twin):
    twin.script(Fault.cut_stream(after_deltas=2))
    seen = []
    # The SDK lets the transport's error through unwrapped (not an anthropic.APIConnectionError).
    with pytest.raises(httpx2.RemoteProtocolError):
        with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
            seen.extend(stream.text_stream)
    assert len(seen) == 2 and twin.log[-1]["fault"] == "cut"


def test_a_malformed_sse_event(client, twin):
    twin.script(Fault.malformed_sse(after_deltas=1))
    with pytest.raises(json.JSONDecodeError):  # also a ValueError; the SDK does not wrap it either
        with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
            stream.until_done()


def test_an_error_event_mid_stream(client, twin):
    twin.script(Fault.stream_error(after_deltas=1))
    with pytest.raises(anthropic.APIStatusError) as err:
        with client.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
            stream.until_done()
    assert err.value.type == "overloaded_error" and err.value.status_code == 200  # the stream had begun


# -- batches


def batch_request(custom_id, text, **params):
    return {"custom_id": custom_id,
            "params": {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": text}], **params}}


def test_batches_create_poll_results_cancel_list_delete(client, twin):
    twin.script(Fault.batch_entry("scripted", "overloaded_error", "Overloaded"))
    bad = {"custom_id": "invalid", "params": {"model": MODEL, "messages": HELLO}}
    batch = client.messages.batches.create(requests=[batch_request("ok", "Hello batch"), bad,
                                                     batch_request("scripted", "Never answered")])
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 3

    polls = 0
    while (batch := client.messages.batches.retrieve(batch.id)).processing_status != "ended":
        polls += 1
        assert polls < 5
    assert batch.results_url.endswith(f"/v1/messages/batches/{batch.id}/results") and batch.ended_at
    assert (batch.request_counts.succeeded, batch.request_counts.errored, batch.request_counts.processing) == (1, 2, 0)

    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded" and results["ok"].message.content[0].text == "Echo: Hello batch"
    assert results["ok"].message.usage.input_tokens == prompt_tokens("Hello batch")
    assert results["invalid"].type == "errored"
    assert results["invalid"].error.error.type == "invalid_request_error"
    assert results["scripted"].error.error.type == "overloaded_error"

    other = client.messages.batches.create(requests=[batch_request("x", "one"), batch_request("y", "two")])
    canceling = client.messages.batches.cancel(other.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at
    ended = client.messages.batches.retrieve(other.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 2
    assert {r.result.type for r in client.messages.batches.results(other.id)} == {"canceled"}

    assert [b.id for b in client.messages.batches.list()] == [other.id, batch.id]  # newest first
    assert [b.id for b in client.messages.batches.list(limit=1)] == [other.id, batch.id]  # pages on
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_batches_can_end_by_time():
    with running_twin(batch_polls=None, batch_seconds=0.05) as twin, \
            anthropic.Anthropic(base_url=twin.url, api_key="k") as client:
        batch = client.messages.batches.create(requests=[batch_request("a", "hi")])
        assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        time.sleep(0.06)
        assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


# -- the summary convention


def test_summary_requests_get_json_ladders_within_their_budgets(client):
    ids = ["weather/client.py", "weather/client.py::ForecastClient", "weather/client.py::ForecastClient.forecast",
           "weather/client.py::parse_reply"]
    system = [{"type": "text", "cache_control": {"type": "ephemeral"},
               "text": 'Summarise each <node> in at most 2, 4, 8, 16, 32 and 64 words. Answer with JSON only: '
                       '{"nodes": {"<id>": {"2": "...", "4": "...", "8": "...", "16": "...", "32": "...", "64": "..."}}}'}]
    user = "\n".join(f'<node id="{node_id}">\n{CODE}\n</node>' for node_id in ids)
    message = client.messages.create(model=MODEL, max_tokens=4000, system=system,
                                     messages=[{"role": "user", "content": user}])
    assert message.stop_reason == "end_turn"
    nodes = json.loads(message.content[0].text)["nodes"]
    assert list(nodes) == ids
    vocabulary = {w.lower() for w in re.findall(r"[A-Za-z]+", CODE + " ".join(ids))}
    vocabulary |= {"forecast", "client", "parse", "reply"}  # names split into words
    for node_id, ladder in nodes.items():
        assert list(ladder) == [str(b) for b in BUDGETS]
        for budget in BUDGETS:
            words = ladder[str(budget)].split()
            assert 0 < len(words) <= budget
            assert {w.lower() for w in words} <= vocabulary
        assert ladder["64"].startswith(ladder["2"])  # each rung extends the one below
    assert nodes["weather/client.py::parse_reply"]["2"] == "parse reply"
    assert nodes["weather/client.py::ForecastClient.forecast"]["2"] == "forecast client"

    cut = client.messages.create(model=MODEL, max_tokens=20, system=system, messages=[{"role": "user", "content": user}])
    assert cut.stop_reason == "max_tokens"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content[0].text)


# -- concurrency and lifecycle


async def test_async_client_serves_twenty_concurrent_calls_fast():
    with running_twin(latency_ms=50) as twin:
        async with anthropic.AsyncAnthropic(base_url=twin.url, api_key="k") as client:
            await client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)  # warm up
            started = time.perf_counter()
            messages = await asyncio.gather(*[
                client.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": f"n{i}"}])
                for i in range(20)])
            elapsed = time.perf_counter() - started
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as stream:
                final = await stream.get_final_message()
    assert [m.content[0].text for m in messages] == [f"Echo: n{i}" for i in range(20)]
    assert elapsed < 0.9, elapsed  # served one at a time they would take 1 s: the twin overlaps them
    assert final.content[0].text.startswith("Echo:") and len(twin.log) == 22


def test_stop_closes_kept_alive_connections():
    twin = Twin().start()
    with anthropic.Anthropic(base_url=twin.url, api_key="k", max_retries=0) as client:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
        twin.stop()
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
    twin.stop()  # idempotent


def test_serve_runs_in_the_foreground_until_interrupted():
    process = subprocess.Popen([sys.executable, "-c", "from cockpit.twin.server import serve; serve('127.0.0.1', 0)"],
                               cwd=PROJECT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(PROJECT)})
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group(0)
        with anthropic.Anthropic(base_url=url, api_key="k") as client:
            assert client.messages.create(model=MODEL, max_tokens=20, messages=HELLO).content[0].text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.stdout.close()


# -- what Claude Code sends, answered as the API answers


def test_mid_conversation_system_messages_as_generally_available_or_under_their_beta(client):
    turns = HELLO + [{"role": "system", "content": "Agent types: general-purpose."}]
    usage = client.messages.create(model=MODEL, max_tokens=20, messages=turns).usage
    assert usage.input_tokens == prompt_tokens(HELLO[0]["content"]) + prompt_tokens("Agent types: general-purpose.")
    with pytest.raises(anthropic.BadRequestError, match="messages.0.role"):
        client.messages.create(model=MODEL, max_tokens=20, messages=turns[::-1])
    with running_twin(system_messages="beta") as strict, \
            anthropic.Anthropic(base_url=strict.url, api_key="k", max_retries=0) as old_api:
        with pytest.raises(anthropic.BadRequestError, match="messages.1.role: Input should be 'user' or 'assistant'"):
            old_api.messages.create(model=MODEL, max_tokens=20, messages=turns)
        beta = {"anthropic-beta": "claude-code-20250219,mid-conversation-system-2026-04-07"}
        assert old_api.messages.create(model=MODEL, max_tokens=20, messages=turns, extra_headers=beta).content


def test_unknown_models_are_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="claude-nonexistent-9", max_tokens=20, messages=HELLO)
    assert err.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nonexistent-9"}
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="claude-nonexistent-9", messages=HELLO)
    assert client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=20, messages=HELLO).content
    with running_twin(models=("claude-local-1",)) as more, anthropic.Anthropic(base_url=more.url, api_key="k") as c:
        assert c.messages.create(model="claude-local-1", max_tokens=20, messages=HELLO).content


def test_thinking_streams_with_a_signature_that_is_checked_when_sent_back(client):
    thinking = {"type": "enabled", "budget_tokens": 2048}
    with client.messages.stream(model=MODEL, max_tokens=4096, thinking=thinking, messages=HELLO) as stream:
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    thought, answer = final.content
    assert thought.type == "thinking" and "Summarise the weather client" in thought.thinking and thought.signature
    assert kinds[0] == "thinking_delta" and "signature_delta" in kinds and kinds[-1] == "text_delta"
    assert answer.text == "Echo: " + HELLO[0]["content"]
    assert final.usage.output_tokens == tokens.count(thought.thinking) + tokens.count(answer.text)
    plain = client.messages.create(model=MODEL, max_tokens=4096, thinking=thinking, messages=HELLO)
    assert plain.content[0].signature == thought.signature

    def follow_up(block):
        return HELLO + [{"role": "assistant", "content": [block, {"type": "text", "text": answer.text}]},
                        {"role": "user", "content": "And the cache?"}]
    sent_back = {"type": "thinking", "thinking": thought.thinking, "signature": thought.signature}
    assert client.messages.create(model=MODEL, max_tokens=4096, thinking=thinking, messages=follow_up(sent_back))
    forged = {**sent_back, "signature": thought.signature[:-8] + "AAAAAAA="}
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        client.messages.create(model=MODEL, max_tokens=4096, thinking=thinking, messages=follow_up(forged))
    with pytest.raises(anthropic.BadRequestError, match="greater than or equal to 1024"):
        client.messages.create(model=MODEL, max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 10},
                               messages=HELLO)
    with pytest.raises(anthropic.BadRequestError, match="must be greater than `thinking.budget_tokens`"):
        client.messages.create(model=MODEL, max_tokens=2048, thinking=thinking, messages=HELLO)


def test_adaptive_thinking_follows_the_effort_and_can_be_omitted(client):
    long_ask = [{"role": "user", "content": " ".join(f"word{i}" for i in range(200))}]

    def think(effort, **extra):
        return client.messages.create(model=MODEL, max_tokens=4096, messages=long_ask,
                                      thinking={"type": "adaptive", **extra}, extra_body={"output_config": {"effort": effort}})
    low, high = think("low"), think("high")
    assert len(low.content[0].thinking.split()) == 12 < len(high.content[0].thinking.split()) == 64
    omitted = think("high", display="omitted")
    assert omitted.content[0].thinking == "" and omitted.content[0].signature
    assert omitted.usage.output_tokens == high.usage.output_tokens  # thought, billed, not shown
    with pytest.raises(anthropic.BadRequestError, match="output_config.effort"):
        think("extreme")
    assert client.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                                  thinking={"type": "disabled"}).content[0].type == "text"


WEATHER_TOOL = {"name": "get_weather", "description": "Weather for a city.",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_scripted_tool_calls_and_the_tool_results_that_answer_them():
    scenario = Scenario.parse({"turns": [
        {"turn": 1, "tool": "get_weather", "text": "Checking.",
         "tool_calls": [{"name": "get_weather", "input": {"city": "Oslo"}}], "usage": {"output_tokens": 77}},
        {"turn": 2, "contains": "snow", "text": "Answer: {echo}"},
    ]})
    with running_twin(scenario=scenario) as twin, anthropic.Anthropic(base_url=twin.url, api_key="k") as client:
        ask = [{"role": "user", "content": "Weather in Oslo?"}]
        first = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER_TOOL], messages=ask)
        assert first.stop_reason == "tool_use" and first.usage.output_tokens == 77
        text, call = first.content
        assert text.text == "Checking." and (call.name, call.input) == ("get_weather", {"city": "Oslo"})
        with client.messages.stream(model=MODEL, max_tokens=200, tools=[WEATHER_TOOL], messages=ask) as stream:
            streamed = stream.get_final_message()
        assert streamed.content[1].input == {"city": "Oslo"} and streamed.content[1].id == call.id
        assert client.messages.create(model=MODEL, max_tokens=200, messages=ask).content[0].text == "Echo: Weather in Oslo?"

        turns = ask + [{"role": "assistant", "content": [b.model_dump() for b in first.content]}]
        answered = turns + [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": "snow, -4 C"}]}]}]
        final = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER_TOOL], messages=answered)
        assert final.content[0].text == "Answer: Echo: snow, -4 C" and final.stop_reason == "end_turn"

        with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks"):
            client.messages.create(model=MODEL, max_tokens=200, messages=turns + [{"role": "user", "content": "hm"}])
        stray = turns + [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]}]
        with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`"):
            client.messages.create(model=MODEL, max_tokens=200, messages=stray)


def test_cache_entries_live_five_minutes_or_an_hour_from_their_last_use(client):
    now = [1000.0]
    with running_twin(clock=lambda: now[0], cache_min_tokens=0) as twin, \
            anthropic.Anthropic(base_url=twin.url, api_key="k") as c:  # lifetimes here, not minimums
        def usage(ttl):
            system = [{"type": "text", "text": f"Instructions kept {ttl}. " * 40,
                       "cache_control": {"type": "ephemeral", "ttl": ttl}}]
            return c.messages.create(model=MODEL, max_tokens=20, system=system, messages=HELLO).usage
        assert usage("5m").cache_creation_input_tokens and usage("1h").cache_creation.ephemeral_1h_input_tokens
        now[0] += 299
        assert usage("5m").cache_read_input_tokens  # ... and the read starts five minutes again
        now[0] += 299
        assert usage("5m").cache_read_input_tokens
        now[0] += 301
        assert usage("5m").cache_creation_input_tokens and usage("1h").cache_read_input_tokens
        now[0] += 3601
        assert usage("1h").cache_creation_input_tokens
        with pytest.raises(anthropic.BadRequestError, match="ttl"):
            usage("2h")


def test_the_echo_leaves_out_system_reminders(client):
    content = [{"type": "text", "text": "<system-reminder>\n# Environment\nworking directory: /x\n</system-reminder>"},
               {"type": "text", "text": "say hello"}]
    answer = client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": content}])
    assert answer.content[0].text == "Echo: say hello"


def test_clearing_thinking_leaves_it_out_of_the_bill(client):
    thought = client.messages.create(model=MODEL, max_tokens=4096, messages=HELLO,
                                     thinking={"type": "enabled", "budget_tokens": 1024}).content[0]
    turns = HELLO + [{"role": "assistant", "content": [thought.model_dump(), {"type": "text", "text": "Done."}]},
                     {"role": "user", "content": "Thanks."}]

    def billed(keep):
        edits = {"edits": [{"type": "clear_thinking_20251015", "keep": keep}]}
        return client.messages.count_tokens(model=MODEL, messages=turns, extra_body={"context_management": edits}).input_tokens
    assert billed("all") - billed({"type": "thinking_turns", "value": 0}) == tokens.count(thought.thinking)


def test_scenario_files_with_mistakes_are_refused_in_one_line(tmp_path):
    for bad, why in (({"turns": [{"turn": 0}]}, "turn must be"), ({"turns": [{"txt": "x"}]}, "unknown key 'txt'"),
                     ({"turns": [{"tool_calls": [{"input": {}}]}]}, "tool_calls"), ([], "list of \"turns\"")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        result = CliRunner().invoke(cli_main, ["twin", "--script", str(path)])
        assert result.exit_code == 2 and why in result.output and "turns" in result.output
    with pytest.raises(ScenarioError, match="No such file"):
        Scenario.load(tmp_path / "missing.json")


def test_the_log_file_keeps_every_request_and_answer_without_keys(tmp_path):
    path = tmp_path / "twin.jsonl"
    with running_twin(log_path=str(path)) as twin, anthropic.Anthropic(base_url=twin.url, api_key="secret-key") as c:
        c.messages.create(model=MODEL, max_tokens=20, messages=HELLO)
        with c.messages.stream(model=MODEL, max_tokens=20, messages=HELLO) as stream:
            stream.get_final_message()
        with pytest.raises(anthropic.NotFoundError):
            c.messages.create(model="claude-nonexistent-9", max_tokens=20, messages=HELLO)
    text = path.read_text()
    assert "secret-key" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["status"] for e in lines] == [200, 200, 404]
    assert lines[1]["response"]["content"][0]["text"].startswith("Echo:") and lines[1]["body"]["stream"] is True
    assert lines[2]["response"]["error"]["type"] == "not_found_error" and lines[0]["headers"]["authorization"]


# -- forced tools


RECORD = {"name": "record", "description": "Record the answer.",
          "input_schema": {"type": "object", "properties": {"nodes": {"type": "object"}}, "required": ["nodes"]}}
PORT = {"name": "write_port", "description": "Write the file.",
        "input_schema": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}


def test_a_forced_tool_answers_with_its_input_and_is_refused_where_the_api_refuses_it(client):
    ask = [{"role": "user", "content": 'File a.py\n<node id="::parse">\ndef parse(text): ...\n</node>'}]
    forced = {"type": "tool", "name": "record"}
    message = client.messages.create(model=MODEL, max_tokens=400, messages=ask, tools=[RECORD], tool_choice=forced)
    (block,) = message.content
    assert message.stop_reason == "tool_use" and block.type == "tool_use" and block.name == "record"
    assert block.input["nodes"]["::parse"]["2"] == "parse text"
    port = [{"role": "user", "content": '<semport to="go" target="a.go" package="a">\n'
                                        '<symbol kind="function" name="parse" params="text"/>\n</semport>'}]
    code = client.messages.create(model=MODEL, max_tokens=400, messages=port, tools=[PORT],
                                  tool_choice={"type": "tool", "name": "write_port"}).content[0].input["code"]
    assert "\npackage a\n" in code and "```" not in code  # the fence's content, not the fence
    with pytest.raises(anthropic.BadRequestError, match="tool_choice forces tool use"):
        client.messages.create(model="claude-opus-5-5", max_tokens=400, messages=ask, tools=[RECORD],
                               tool_choice=forced)
    with pytest.raises(anthropic.BadRequestError, match="Thinking may not be enabled"):
        client.messages.create(model=MODEL, max_tokens=4000, messages=ask, tools=[RECORD], tool_choice=forced,
                               thinking={"type": "enabled", "budget_tokens": 1024})
    with pytest.raises(anthropic.BadRequestError, match="not in tools"):
        client.messages.create(model=MODEL, max_tokens=400, messages=ask, tools=[RECORD],
                               tool_choice={"type": "tool", "name": "other"})
    auto = client.messages.create(model=MODEL, max_tokens=400, messages=ask, tools=[RECORD],
                                  tool_choice={"type": "auto"})
    assert auto.content[0].type == "text"  # not forced: the twin writes its answer as text
