"""Settings from `[tool.cockpit]` in the repo's pyproject.toml, or from cockpit.toml.

Command-line flags override both; both override the defaults here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from cockpit.core.scan import DEFAULT_MAX_FILE_BYTES


class ConfigError(Exception):
    pass


@dataclass
class Config:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    cache: str | None = None  # path of the cache file; default: <repo>/.cockpit/cache.sqlite
    workers: int | None = None  # processes for a build; default: every core
    exclude: list[str] = field(default_factory=list)  # gitignore-style patterns to leave out
    model: str | None = None  # Claude model for LLM summaries
    max_cost: float | None = None  # USD one LLM run may spend
    daily_budget: float | None = None  # USD all LLM runs on this repo may spend in a day
    retry_failed_after: float = 7.0  # days before a node whose LLM answer failed validation is asked again
    theme: str | None = None  # the app's colour theme: dark, light or high-contrast
    include_compiled: bool = False  # keep dist/, build/, compiled and declaration twins, source maps
    scenarios: str | None = None  # the holdout scenario set (relative to the repo); the user's cockpit.toml wins

    @classmethod
    def load(cls, root: str) -> Config:
        settings: dict = {}
        for name, table in (("pyproject.toml", ("tool", "cockpit")), ("cockpit.toml", ())):
            path = Path(root) / name
            if not path.is_file():
                continue
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc})") from None
            for key in table:
                data = data.get(key, {})
            settings.update(data)
        known = {f.name: f for f in fields(cls)}
        config = cls()
        for key, value in settings.items():
            key = key.replace("-", "_")
            if key in known:
                setattr(config, key, value)
        return config
