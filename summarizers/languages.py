"""Which language a file is, and the tree-sitter grammar that parses it.

Grammars come from the per-language wheels (no run-time downloads). Each
language has one query file in `queries/` that names its definitions and imports.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

QUERY_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    module: str  # the grammar wheel's module
    function: str = "language"  # the function in it that returns the grammar
    extensions: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()  # query files to join, when not just `<name>.scm`


LANGUAGES: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in [
        LanguageSpec("python", "tree_sitter_python", extensions=(".py", ".pyi", ".pyw")),
        LanguageSpec("javascript", "tree_sitter_javascript", extensions=(".js", ".mjs", ".cjs", ".jsx"),
                     queries=("javascript", "ecmascript")),
        LanguageSpec("typescript", "tree_sitter_typescript", "language_typescript", (".ts", ".mts", ".cts"),
                     queries=("typescript", "ecmascript")),
        LanguageSpec("tsx", "tree_sitter_typescript", "language_tsx", (".tsx",), queries=("typescript", "ecmascript")),
        LanguageSpec("go", "tree_sitter_go", extensions=(".go",)),
        LanguageSpec("rust", "tree_sitter_rust", extensions=(".rs",)),
        LanguageSpec("java", "tree_sitter_java", extensions=(".java",)),
        LanguageSpec("c", "tree_sitter_c", extensions=(".c", ".h"), queries=("c", "c_family")),
        LanguageSpec("cpp", "tree_sitter_cpp", extensions=(".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++",
                                                           ".ipp"), queries=("cpp", "c_family")),
        LanguageSpec("ruby", "tree_sitter_ruby", extensions=(".rb", ".rake", ".gemspec")),
        LanguageSpec("bash", "tree_sitter_bash", extensions=(".sh", ".bash", ".zsh")),
        LanguageSpec("markdown", "tree_sitter_markdown", extensions=(".md", ".markdown")),
    ]
}

_BY_EXTENSION = {ext: spec.name for spec in LANGUAGES.values() for ext in spec.extensions}
_BY_FILENAME = {"Rakefile": "ruby", "Gemfile": "ruby", "BUILD.bazel": "python"}
_SHEBANG = re.compile(rb"^#!\s*(?:\S*/)?(?:env\s+(?:-\S+\s+)*)?(?:\S*/)?([a-z]+)")
_INTERPRETERS = {"python": "python", "bash": "bash", "sh": "bash", "zsh": "bash", "node": "javascript", "ruby": "ruby"}


def detect(path: str, head: bytes = b"") -> str | None:
    """The language of `path`, by extension, then file name, then shebang line."""
    name = os.path.basename(path)
    lang = _BY_EXTENSION.get(os.path.splitext(name)[1].lower()) or _BY_FILENAME.get(name)
    if lang is None and head.startswith(b"#!"):
        match = _SHEBANG.match(head)
        if match:
            lang = _INTERPRETERS.get(match.group(1).decode())
    return lang


@functools.cache
def grammar(name: str):
    """The tree-sitter Language for a language name."""
    from tree_sitter import Language

    spec = LANGUAGES[name]
    return Language(getattr(importlib.import_module(spec.module), spec.function)())


@functools.cache
def query_source(name: str) -> str:
    parts = LANGUAGES[name].queries or (name,)
    return "\n".join((QUERY_DIR / f"{part}.scm").read_text() for part in parts)
