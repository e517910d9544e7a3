import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create files under root; str contents are dedented text, bytes are written as is."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))
    return root


SAMPLE_REPO = {
    "README.md": """
        # Weather

        Fetches forecasts from public weather services and caches them on disk.
        """,
    "weather/__init__.py": '''
        """Forecast fetching and caching for the command line."""
        ''',
    "weather/client.py": '''
        """HTTP client for the forecast service, with retries."""
        import json
        from weather.cache import DiskCache


        class ForecastClient:
            """Talks to the forecast service and caches its answers."""

            def __init__(self, base_url: str, cache: DiskCache):
                self.base_url = base_url
                self.cache = cache

            def forecast(self, city: str, days: int = 3) -> dict:
                """Return the forecast for a city over the next few days."""
                key = f"{city}:{days}"
                return self.cache.get(key) or {}


        def parse_reply(text):
            # Decode the service's JSON reply into a dict of days.
            return json.loads(text)
        ''',
    "weather/cache.py": '''
        """A tiny cache of JSON documents on disk."""


        class DiskCache:
            """Stores documents as files named by their key."""

            def get(self, key):
                """Read a cached document, or None when it is missing."""
                return None
        ''',
    "scripts/run.sh": """
        #!/bin/sh
        # Run the weather client against the staging service.
        python -m weather
        """,
}


@pytest.fixture
def sample_repo(tmp_path):
    return write_tree(tmp_path / "repo", SAMPLE_REPO)


@pytest.fixture(autouse=True)
def no_real_api(monkeypatch, tmp_path):
    """A developer's real key must never make the suite call the API: LLM tests use the twin."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "COCKPIT_PRICING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user's pricing.json
    # Nor read a developer's Claude Code history, nor write to their per-user data dir (both made on use).
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    monkeypatch.setenv("COCKPIT_DATA_DIR", str(tmp_path / "cockpit-data"))


@pytest.fixture
def twin():
    from cockpit.twin.server import running_twin

    with running_twin() as t:
        yield t


@pytest.fixture
def llm(twin, monkeypatch):
    """The twin as the API, configured the way a user would: a base URL and a key in the environment."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", twin.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    return twin


def wait_for_port(port: int, process, seconds: float = 30.0) -> None:
    """Until a server `process` started listens on 127.0.0.1:`port`; fails at once if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "server exited"
            assert time.monotonic() < deadline, f"nothing listened on port {port} within {seconds:.0f} s"
            time.sleep(0.1)
