"""Where Cockpit keeps things outside a repository's own files: one module, so no feature invents a path.

- a repository's cache: `<repo>/.cockpit/cache.sqlite`, or the user cache dir when the repo is read-only;
- the user's settings and overrides: `cockpit.toml`, `pricing.json` and the app's remembered state in the
  user config dir (`~/.config/cockpit`);
- per-user data (the coding agents' log index, the holdout sets seen inside repositories):
  `$COCKPIT_DATA_DIR`, else the user data dir.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

import platformdirs

APP = "cockpit"
CACHE_DIR_NAME = ".cockpit"  # inside a repository


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    configured = os.environ.get("COCKPIT_DATA_DIR")
    return Path(configured) if configured else Path(platformdirs.user_data_dir(APP))


def user_config_file() -> Path:
    return config_dir() / "cockpit.toml"


class SettingsError(ValueError):
    """The user's cockpit.toml cannot be read; the message names it."""


def user_settings() -> dict:
    """The user's `cockpit.toml` as a dict; {} when there is none."""
    path = user_config_file()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None


def holdout_file() -> Path:
    """Scenario sets found inside repositories (`--set DIR` in the repo): kept out of their pyramids."""
    return data_dir() / "holdout.json"


def user_pricing_file() -> Path:
    return config_dir() / "pricing.json"


def app_state_file() -> Path:
    return config_dir() / "app.json"


def default_cache_path(root: str) -> Path:
    """`<repo>/.cockpit/cache.sqlite`, or a per-user cache dir when the repo is read-only."""
    repo_dir = Path(root) / CACHE_DIR_NAME
    if os.access(root, os.W_OK) or repo_dir.exists():
        return repo_dir / "cache.sqlite"
    digest = hashlib.blake2b(str(Path(root).resolve()).encode(), digest_size=8).hexdigest()
    return Path(platformdirs.user_cache_dir(APP)) / f"{Path(root).name}-{digest}.sqlite"
