"""The app's colour themes, one Textual CSS file each (`dark.tcss`, `light.tcss`, `high-contrast.tcss`).

A theme file declares Textual's theme variables (`$primary: #4aa8ff;` ...), plus `$name` and
`$dark`; the app's stylesheet uses only those variables, so a theme is switched at run time by
swapping the variables, and a new theme is a new file here.
"""

from __future__ import annotations

import re
from importlib import resources

from textual.theme import Theme

_DECLARATION = re.compile(r"^\s*\$([\w-]+)\s*:\s*([^;]+);", re.MULTILINE)
_COLOURS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background", "surface",
            "panel")
DEFAULT = "dark"


def parse_theme(text: str) -> Theme:
    values = dict(_DECLARATION.findall(re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)))
    missing = [name for name in ("name", "primary") if name not in values]
    if missing:
        raise ValueError(f"theme file lacks ${', $'.join(missing)}")
    return Theme(name=f"cockpit-{values['name'].strip()}", dark=values.get("dark", "true").strip() == "true",
                 **{name: values[name].strip() for name in _COLOURS if name in values})


def load_themes() -> dict[str, Theme]:
    """Short name ("dark") -> Theme, for every `*.tcss` file in this package."""
    themes = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".tcss"):
            theme = parse_theme(entry.read_text(encoding="utf-8"))
            themes[theme.name.removeprefix("cockpit-")] = theme
    return themes
