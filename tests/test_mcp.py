"""The MCP server: every tool through a real client, refusals as tool errors, freshness, stdio and HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import httpx2
import pytest
from click.testing import CliRunner
from conftest import wait_for_port
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from cache.store import Store
from cockpit.core.pyramid import build
from cockpit.faces.cli import main
from cockpit.faces.mcp import MAX_LINES, create_server, parse_address
from cockpit.paths import default_cache_path
from summarizers import tokens

PROJECT = Path(__file__).resolve().parent.parent
TOOLS = {"overview", "context", "zoom", "search", "read"}


def text_of(result) -> str:
    return "".join(block.text for block in result.content)


async def call(client, name, **args) -> str:
    result = await client.call_tool(name, args)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def refused(client, name, **args) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, f"{name}({args}) should be refused, got: {text_of(result)[:200]}"
    return text_of(result)


@pytest.fixture
def repo(sample_repo, tmp_path):
    (sample_repo / ".env").write_text("API_KEY=hunter2\n")
    (tmp_path / "outside.py").write_text("SECRET_OUTSIDE = 1\n")
    (sample_repo / "weather" / "linked.py").symlink_to(tmp_path / "outside.py")
    return sample_repo


async def test_lists_every_tool_with_descriptions_for_a_newcomer(repo):
    async with Client(create_server(str(repo))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        assert "pyramid" in tools["overview"].description and "budget" in tools["overview"].description
        assert "outline" in tools["zoom"].description and "source" in tools["zoom"].description
        assert tools["zoom"].input_schema["properties"]["view"]["enum"][-2:] == ["outline", "source"]
        assert all(t.annotations.read_only_hint for t in tools.values())
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["pyramid://{+path}"]


async def test_each_tool_returns_real_content(repo):
    async with Client(create_server(str(repo))) as client:
        text = await call(client, "overview", budget=400)
        assert tokens.count(text) <= 400
        assert "weather/" in text and "Fetches forecasts" in text

        text = await call(client, "context", task="fix the forecast cache lookup in ForecastClient", budget=600)
        assert tokens.count(text) <= 600
        assert "weather/client.py" in text

        text = await call(client, "zoom", path="weather/client.py", symbol="ForecastClient.forecast", view="source")
        assert 'key = f"{city}:{days}"' in text and "return self.cache.get(key) or {}" in text
        assert "weather/client.py:13-16" in text
        text = await call(client, "zoom", path="weather/client.py::parse_reply", view="8")
        assert "parse_reply" in text
        assert "weather/" in await call(client, "zoom", path=".", view="outline")

        text = await call(client, "search", query="DiskCache", limit=5)
        first = text.split("\n")[1]
        assert "DiskCache" in first and "(exact name)" in first
        assert "weather/cache.py:" in text and "id `weather/cache.py::DiskCache`" in text

        text = await call(client, "read", path="weather/client.py", start=6, end=7)
        assert text.split("\n")[1:3] == [
            "6\tclass ForecastClient:", '7\t    """Talks to the forecast service and caches its answers."""']
        assert "weather/client.py:6-7" in text

        resource = await client.read_resource("pyramid://weather/client.py")
        body = resource.contents[0].text
        assert "weather/client.py:1-" in body and "class ForecastClient" in body and "def parse_reply" in body


async def test_read_is_capped_and_says_where_to_continue(repo):
    (repo / "long.py").write_text("".join(f"x{i} = {i}\n" for i in range(1, MAX_LINES + 501)))
    async with Client(create_server(str(repo))) as client:
        text = await call(client, "read", path="long.py")
        lines = text.rstrip("\n").split("\n")
        assert lines[0].startswith(f"`long.py:1-{MAX_LINES}`") and len(lines) == MAX_LINES + 2
        assert f"start={MAX_LINES + 1}" in lines[-1]
        text = await call(client, "read", path="./long.py", start=MAX_LINES + 400)
        assert text.split("\n")[1] == f"{MAX_LINES + 400}\tx{MAX_LINES + 400} = {MAX_LINES + 400}"
        assert "more" not in text


async def test_bad_arguments_are_tool_errors_not_crashes(repo):
    async with Client(create_server(str(repo))) as client:
        for path in ("../etc/passwd", "/etc/passwd", str(repo / "weather" / "client.py"), "weather/../../outside.py"):
            assert "outside the repository" in await refused(client, "read", path=path)
            assert "outside the repository" in await refused(client, "zoom", path=path)
        assert "symlink out of the repository" in await refused(client, "read", path="weather/linked.py")
        await refused(client, "zoom", path="weather/linked.py", view="source")
        assert "secret" in await refused(client, "read", path=".env")
        await refused(client, "zoom", path=".env")
        assert "greater than or equal to 50" in await refused(client, "overview", budget=10)
        assert "greater than or equal to 50" in await refused(client, "context", task="anything", budget=10)
        assert "not in the pyramid" in await refused(client, "zoom", path="weather/client.py", symbol="NoSuchThing")
        await refused(client, "zoom", path="weather/client.py", view="everything")
        await refused(client, "context", task="x", focus=["../../etc"])
        await refused(client, "search", query="  ")
        await refused(client, "search", query="cache", limit=0)
        assert "past its end" in await refused(client, "read", path="weather/cache.py", start=500)
        await refused(client, "read", path="weather/cache.py", start=0)
        assert "must name a file" in await refused(client, "read", path="")
        await refused(client, "read", path="weather/cache.py", start=5, end=2)
        with pytest.raises(MCPError):
            await client.read_resource("pyramid://weather/nothing.py")
        # Still serving after all of that.
        assert "DiskCache" in await call(client, "search", query="DiskCache")


async def test_a_file_swapped_for_a_symlink_out_is_refused(repo, tmp_path):
    async with Client(create_server(str(repo))) as client:
        assert "def get" in await call(client, "read", path="weather/cache.py")
        (repo / "weather" / "cache.py").unlink()
        (repo / "weather" / "cache.py").symlink_to(tmp_path / "outside.py")  # no rebuild: the cache still lists it
        assert "resolves outside" in await refused(client, "read", path="weather/cache.py")
        assert "resolves outside" in await refused(client, "zoom", path="weather/cache.py", view="source")


async def test_changes_recorded_by_another_process_are_served_without_restart(repo):
    server = create_server(str(repo))
    async with Client(server) as client:
        assert "No file or symbol" in await call(client, "search", query="evict_stale")
        before = await call(client, "overview", budget=2000)
        assert "alerts.py" not in before

        (repo / "weather" / "cache.py").write_text(textwrap.dedent('''
            """A tiny cache of JSON documents on disk."""


            def evict_stale(days):
                """Drop cached documents older than a number of days."""
                return days
            ''').lstrip())
        (repo / "weather" / "alerts.py").write_text('"""Severe weather alerts for a region."""\n')
        other = Store(default_cache_path(str(repo)), str(repo))  # as a `cockpit summarize` run would
        try:
            build(str(repo), other, workers=1)
        finally:
            other.close()

        assert "weather/cache.py:4-6" in await call(client, "search", query="evict_stale")
        assert "return days" in await call(client, "zoom", path="weather/cache.py", symbol="evict_stale", view="source")
        assert "alerts.py" in await call(client, "overview", budget=2000)


async def test_no_refresh_serves_the_cache_as_is(repo):
    async with Client(create_server(str(repo), refresh=False)) as client:
        assert "empty" in await refused(client, "overview", budget=500)
    async with Client(create_server(str(repo))) as client:
        assert "weather/" in await call(client, "overview", budget=500)


async def test_stdio_subprocess(repo):
    params = StdioServerParameters(command=sys.executable, args=["-m", "cockpit", "mcp", "--repo", str(repo)],
                                   cwd=str(PROJECT))
    with anyio.fail_after(30):
        async with Client(params) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            text = await call(client, "search", query="parse_reply")
            assert "weather/client.py::parse_reply" in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_http_with_bearer_token(repo):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit", "mcp", "--repo", str(repo), "--http", f"127.0.0.1:{port}"],
        cwd=str(PROJECT), env={**os.environ, "COCKPIT_MCP_TOKEN": "secret"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=10)
            assert err.value.code == 401
        with anyio.fail_after(30):
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer secret"}, timeout=10) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    assert {t.name for t in (await client.list_tools()).tools} == TOOLS
                    assert "DiskCache" in await call(client, "search", query="DiskCache")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_http_address_parsing_and_cli_errors(tmp_path):
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    assert parse_address("8123") == ("127.0.0.1", 8123)
    for bad in ("localhost", "host:0", "host:99999", "host:http"):
        with pytest.raises(ValueError):
            parse_address(bad)
    result = CliRunner().invoke(main, ["mcp", "--repo", str(tmp_path), "--http", "nowhere"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


# --- as clients see it


async def test_tools_answer_in_plain_text_once_with_limits_in_their_schemas(repo):
    async with Client(create_server(str(repo))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert all(t.output_schema is None for t in tools.values())  # else clients forward {"result": ...}
        result = await client.call_tool("context", {"task": "fix the forecast cache", "budget": 300})
        assert result.structured_content is None and [b.type for b in result.content] == ["text"]
        assert tokens.count(result.content[0].text) <= 300
        schema = {name: t.input_schema["properties"] for name, t in tools.items()}
        assert schema["overview"]["budget"]["minimum"] == schema["context"]["budget"]["minimum"] == 50
        assert (schema["search"]["limit"]["minimum"], schema["search"]["limit"]["maximum"]) == (1, 200)
        assert schema["read"]["start"]["minimum"] == 1


async def test_resources_list_the_top_nodes_and_each_reads(repo):
    async with Client(create_server(str(repo))) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert set(listed) == {"pyramid://.", "pyramid://README.md", "pyramid://weather", "pyramid://scripts"}
        assert "Forecast fetching" in listed["pyramid://weather"].description
        for uri in listed:
            assert "view outline" in (await client.read_resource(uri)).contents[0].text
        with pytest.raises(MCPError) as err:
            await client.read_resource("pyramid://weather/nothing.py")
        assert err.value.error.code == -32602  # this client speaks a protocol after SEP-2164


async def test_the_task_context_prompt(repo):
    async with Client(create_server(str(repo))) as client:
        prompts = (await client.list_prompts()).prompts
        assert [(p.name, [a.name for a in p.arguments]) for p in prompts] == [("task_context", ["task", "budget"])]
        got = await client.get_prompt("task_context", {"task": "fix the forecast cache lookup", "budget": "300"})
        text = got.messages[0].content.text
        assert got.messages[0].role == "user" and "weather/client.py" in text
        assert text.rstrip().endswith("Task: fix the forecast cache lookup")
        with pytest.raises(MCPError, match="at least 50"):
            await client.get_prompt("task_context", {"task": "x", "budget": "10"})


def _rpc(proc, message: dict) -> dict:
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    while True:  # skip notifications
        answer = json.loads(proc.stdout.readline())
        if "id" in answer:
            return answer


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stdio_server_ends_within_a_second_of_a_signal(repo, signum):
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "mcp", "--repo", str(repo), "--no-watch"],
                            cwd=str(PROJECT), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        hello = _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
        assert hello["result"]["protocolVersion"] == "2025-06-18"
        proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        missing = _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "resources/read",
                              "params": {"uri": "pyramid://weather/nothing.py"}})
        assert missing["error"]["code"] == -32002  # the resource-not-found of the protocol this client speaks
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=1)
        assert time.monotonic() - sent < 1 and proc.returncode == 128 + signum
    finally:
        proc.kill()
        proc.wait()
