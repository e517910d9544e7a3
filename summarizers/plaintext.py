"""What files without a grammar say about themselves: READMEs, text, configuration.

tree-sitter outlines code; these files still deserve a summary. Prose files give
their first paragraph; configuration files give the sections and keys they set.
"""

from __future__ import annotations

import json
import re

CONFIG_KINDS = {
    ".toml": "TOML", ".ini": "INI", ".cfg": "INI", ".conf": "config", ".yaml": "YAML", ".yml": "YAML",
    ".json": "JSON",
}
KNOWN_FILES = {
    ".gitignore": "Git ignore rules",
    ".cockpitignore": "Cockpit ignore rules",
    ".gitattributes": "Git attributes",
    ".editorconfig": "Editor settings",
    "LICENSE": "License text",
    "COPYING": "License text",
    "Makefile": "Make targets",
    "Dockerfile": "Container image build",
    "MANIFEST.in": "Source distribution manifest",
    "requirements.txt": "Python requirements",
}
_BADGE = re.compile(r"^\s*(?:\[!\[|!\[|<|\.\. |:[a-z]+:|\||```|~~~|---|===|\{%|%)")
_SECTION = re.compile(r"^\s*\[+([^\]]+)\]+\s*$", re.MULTILINE)
_YAML_KEY = re.compile(r"^([A-Za-z_][\w.-]*)\s*:", re.MULTILINE)
_MAKE_TARGET = re.compile(r"^([A-Za-z][\w.-]*)\s*:(?!=)", re.MULTILINE)


def prose_lead(text: str, max_words: int = 120) -> str:
    """The first paragraph of prose in a README or text file, without headings or badges."""
    paragraph: list[str] = []
    title = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        underline = i + 1 < len(lines) and lines[i + 1].strip() and set(lines[i + 1].strip()) <= set("=-~^")
        if stripped.startswith("#") or underline:
            if paragraph:
                break
            title = title or stripped.lstrip("#").strip()
            continue
        if not stripped or _BADGE.match(stripped) or set(stripped) <= set("=-~^*#_"):
            if paragraph:
                break
            continue
        paragraph.append(stripped)
        if sum(len(p.split()) for p in paragraph) >= max_words:
            break
    return " ".join(paragraph) or title


def _join(items: list[str], limit: int = 8) -> str:
    shown = items[:limit]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def describe(path: str, text: str) -> str:
    """A sentence about a file no grammar parses: what it is and what it holds."""
    name = path.rsplit("/", 1)[-1]
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if name in KNOWN_FILES:
        label = KNOWN_FILES[name]
        if name == "Makefile":
            targets = sorted(set(_MAKE_TARGET.findall(text)) - {"PHONY"})
            return f"{label}: {_join(targets)}." if targets else f"{label}."
        if name.startswith(("LICENSE", "COPYING")):
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            return f"{label}: {first}" if first else label
        entries = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        return f"{label}: {_join(entries)}." if entries else f"{label}."
    kind = CONFIG_KINDS.get(suffix)
    if kind is None:
        return prose_lead(text)
    keys: list[str] = []
    if kind == "JSON":
        try:
            data = json.loads(text)
            keys = list(data) if isinstance(data, dict) else []
        except ValueError:
            keys = []
    elif kind == "YAML":
        keys = _YAML_KEY.findall(text)
    else:
        keys = _SECTION.findall(text)
    keys = list(dict.fromkeys(keys))
    if not keys:
        return f"{kind} configuration."
    return f"{kind} configuration with {'keys' if kind in ('JSON', 'YAML') else 'sections'} {_join(keys)}."
