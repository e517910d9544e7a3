"""Real clients: Claude Code end to end (the twin, Cockpit's MCP server, `cockpit burn`), and the MCP Inspector.

Both are the pinned npm packages `.ci/run` installs under `.ci/npm/` (or found on PATH).
It runs with its default model and settings in a sample git repository; the twin plays a scenario in
which the model calls Cockpit's `context` and `zoom` tools, reads their results and answers. Nothing
leaves 127.0.0.1: the client's non-essential traffic, telemetry and updates are off.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import wait_for_port

from cockpit.faces.cli import main
from cockpit.twin.script import Scenario
from cockpit.twin.server import running_twin, tool_result_text
from summarizers import tokens

PROJECT = Path(__file__).resolve().parent.parent
TASK = "Fix the forecast cache lookup in ForecastClient"
CONTEXT_BUDGET = 400
# First match wins, so the turns are listed from the last step back. Claude Code connects MCP servers
# in the background and defers their tools behind ToolSearch: until the server's tools are announced
# (a system message naming them) the model waits with `sleep 1`, then loads their schemas, then calls.
SCENARIO = {"turns": [
    {"contains": "view source", "text": "The lookup is ForecastClient.forecast. {echo}"},
    {"tool": "mcp__cockpit__zoom", "contains": "weather/client.py",
     "tool_calls": [{"name": "mcp__cockpit__zoom",
                     "input": {"path": "weather/client.py", "symbol": "ForecastClient.forecast", "view": "source"}}]},
    {"tool": "mcp__cockpit__context", "thinking": "Cockpit can say which code matters for this task.",
     "text": "Asking Cockpit for context.",
     "tool_calls": [{"name": "mcp__cockpit__context",
                     "input": {"task": "fix the forecast cache lookup in ForecastClient", "budget": CONTEXT_BUDGET}}]},
    {"tool": "ToolSearch", "mentions": "mcp__cockpit__context",
     "tool_calls": [{"name": "ToolSearch", "input": {"query": "select:mcp__cockpit__context,mcp__cockpit__zoom"}}]},
    {"tool": "Bash", "tool_calls": [{"name": "Bash", "input": {"command": "sleep 1", "description": "Wait"}}]},
]}


def npm_binary(name: str) -> str | None:
    local = PROJECT / ".ci" / "npm" / "node_modules" / ".bin" / name
    return str(local) if local.exists() else shutil.which(name)


CLAUDE, INSPECTOR = npm_binary("claude"), npm_binary("mcp-inspector")
needs_claude = pytest.mark.skipif(
    CLAUDE is None, reason="Claude Code is not installed: .ci/run installs it when npm is there (or put claude on PATH)")
needs_inspector = pytest.mark.skipif(
    INSPECTOR is None or shutil.which("node") is None,
    reason="the MCP Inspector is not installed: .ci/run installs it when npm is there (or put mcp-inspector on PATH)")


def cockpit_command() -> list[str]:
    script = Path(sys.executable).with_name("cockpit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cockpit"]


@pytest.fixture
def git_repo(sample_repo):
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@example.com",
                                                  "commit", "-qm", "sample"]):
        subprocess.run(["git", *args], cwd=sample_repo, check=True)
    return sample_repo


def offline_env(tmp_path: Path, twin_url: str) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
        "CLAUDE_CONFIG_DIR": os.environ["CLAUDE_CONFIG_DIR"], "COCKPIT_DATA_DIR": os.environ["COCKPIT_DATA_DIR"],
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "ANTHROPIC_BASE_URL": twin_url, "ANTHROPIC_API_KEY": "sk-twin-test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


def tool_results(log: list[dict]) -> dict[str, str]:
    """tool_use id -> the result's text, as the model received it in a later request."""
    found = {}
    for entry in log:
        for message in (entry["body"] or {}).get("messages", []):
            if isinstance(message["content"], list):
                for block in message["content"]:
                    if block.get("type") == "tool_result":
                        found[block["tool_use_id"]] = tool_result_text(block)
    return found


def tool_calls(log: list[dict]) -> dict[str, dict]:
    """tool_use id -> the call, from the twin's answers."""
    return {b["id"]: b for e in log if isinstance(e["response"], dict)
            for b in e["response"].get("content", []) if b.get("type") == "tool_use"}


@needs_claude
def test_claude_code_calls_cockpit_through_the_twin_and_burn_shows_it(git_repo, tmp_path):
    config = Path(os.environ["CLAUDE_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    # Allowed as a user would allow them, in settings: the run itself takes no special flags.
    (config / "settings.json").write_text(json.dumps(
        {"permissions": {"allow": ["mcp__cockpit__context", "mcp__cockpit__zoom", "Bash(sleep:*)"]}}))
    with running_twin(scenario=Scenario.parse(SCENARIO), log_path=str(tmp_path / "twin.jsonl")) as twin:
        env = offline_env(tmp_path, twin.url)
        subprocess.run([CLAUDE, "mcp", "add", "cockpit", "--", *cockpit_command(), "mcp", "--repo", str(git_repo)],
                       cwd=git_repo, env=env, check=True, capture_output=True, timeout=30)
        run = subprocess.run([CLAUDE, "-p", TASK], cwd=git_repo, env=env, capture_output=True, text=True, timeout=50)
        log = twin.requests("/v1/messages")

    assert run.returncode == 0, run.stderr + run.stdout
    assert "The lookup is ForecastClient.forecast." in run.stdout
    assert all(e["status"] == 200 for e in log), [(e["status"], e["response"]) for e in log if e["status"] != 200]
    main_loop = [e for e in log if any(t.get("name") == "ToolSearch" for t in e["body"].get("tools", []))]
    assert any(m["role"] == "system" for m in main_loop[0]["body"]["messages"])  # default settings, taken as sent

    calls, results = tool_calls(log), tool_results(log)
    by_name = {c["name"]: results.get(i) for i, c in calls.items()}
    context, zoom = by_name["mcp__cockpit__context"], by_name["mcp__cockpit__zoom"]
    assert context is not None and zoom is not None, "a tool result never reached the model"
    # Plain text, once: not the {"result": ...} wrapping of structured content.
    assert not context.lstrip().startswith("{") and "weather/client.py" in context
    assert tokens.count(context) <= CONTEXT_BUDGET
    assert 'key = f"{city}:{days}"' in zoom and not zoom.lstrip().startswith("{")

    session_ids = {json.loads(e["body"]["metadata"]["user_id"])["session_id"] for e in main_loop}
    assert len(session_ids) == 1
    session = session_ids.pop()
    logs = list((config / "projects").glob(f"*/{session}.jsonl"))
    assert logs, f"no session log for {session} under {config / 'projects'}"

    burn = CliRunner().invoke(main, ["burn", "--since", "all", "--by", "session", "--format", "json",
                                     "--claude-dir", str(config)], env={"COCKPIT_DATA_DIR": env["COCKPIT_DATA_DIR"]})
    assert burn.exit_code == 0, burn.output
    report = json.loads(burn.output)
    row = next(r for r in report["rows"] if r["key"] == session)
    billed = [e["response"]["usage"] for e in main_loop]
    assert (row["input_tokens"], row["output_tokens"], row["cache_write_tokens"], row["cache_read_tokens"]) == (
        sum(u["input_tokens"] for u in billed), sum(u["output_tokens"] for u in billed),
        sum(u["cache_creation_input_tokens"] for u in billed), sum(u["cache_read_input_tokens"] for u in billed))
    served = {s["tool"]: s for s in report["served"]["by_root"] if s["root"] == os.path.realpath(git_repo)}
    assert served["context"]["tokens"] == tokens.count(context) and served["zoom"]["tokens"] == tokens.count(zoom)


INSPECTOR_CALLS = [
    ["--method", "tools/list"],
    ["--method", "tools/call", "--tool-name", "overview", "--tool-arg", "budget=300"],
    ["--method", "tools/call", "--tool-name", "context", "--tool-arg", "task=fix the forecast cache", "budget=300"],
    ["--method", "tools/call", "--tool-name", "zoom", "--tool-arg", "path=weather/client.py", "view=outline"],
    ["--method", "tools/call", "--tool-name", "search", "--tool-arg", "query=DiskCache", "limit=5"],
    ["--method", "tools/call", "--tool-name", "read", "--tool-arg", "path=weather/cache.py", "start=1", "end=4"],
    ["--method", "resources/list"],
    ["--method", "resources/templates/list"],
    ["--method", "resources/read", "--uri", "pyramid://weather"],
    ["--method", "resources/read", "--uri", "pyramid://weather/client.py::ForecastClient"],
    ["--method", "prompts/list"],
    ["--method", "prompts/get", "--prompt-name", "task_context", "--prompt-args", "task=fix the cache", "budget=300"],
]


@needs_inspector
def test_the_mcp_inspector_lists_and_calls_everything_without_a_warning(sample_repo, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([*cockpit_command(), "mcp", "--repo", str(sample_repo), "--no-watch",
                               "--http", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "MCP_CATALOG_PATH": str(tmp_path / "mcp.json")}
    try:
        wait_for_port(port, server)

        def inspect(call):
            return subprocess.run([INSPECTOR, "--cli", f"http://127.0.0.1:{port}/mcp", *call], env=env,
                                  capture_output=True, text=True, timeout=60)
        with ThreadPoolExecutor(4) as pool:  # one Node start each: side by side, not one after another
            runs = dict(zip(map(tuple, INSPECTOR_CALLS), pool.map(inspect, INSPECTOR_CALLS)))
        seen = {}
        for call, run in runs.items():
            assert run.returncode == 0 and "warn" not in (run.stdout + run.stderr).lower(), (call, run.stdout, run.stderr)
            answer = json.loads(run.stdout)
            assert "error" not in answer and not answer.get("isError"), (call, answer)
            seen[call] = answer
    finally:
        server.terminate()
        server.wait(timeout=10)
    listed = {t["name"]: t for t in seen[tuple(INSPECTOR_CALLS[0])]["tools"]}
    assert set(listed) == {"overview", "context", "zoom", "search", "read"}
    assert not any("outputSchema" in t for t in listed.values())
    called = [answer for call, answer in seen.items() if call[1] == "tools/call"]
    assert len(called) == len(listed) and all("structuredContent" not in a and a["content"][0]["text"] for a in called)
    uris = {r["uri"] for r in seen[tuple(INSPECTOR_CALLS[6])]["resources"]}
    assert uris == {"pyramid://.", "pyramid://README.md", "pyramid://weather", "pyramid://scripts"}
    assert [p["name"] for p in seen[tuple(INSPECTOR_CALLS[10])]["prompts"]] == ["task_context"]
