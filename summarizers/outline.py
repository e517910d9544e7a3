"""Outline a source file with tree-sitter: its symbols, imports and references.

Each language's query file (`queries/<lang>.scm`) marks what to collect:

- `@definition.<kind>` on a definition (class, function, method, struct, ...),
  with `@name` on its name in the same pattern;
- optionally `@scope` in the same pattern: a type that qualifies the name when
  the definition is not nested in it (a Go method's receiver type);
- `@import` on an import statement.

Everything else (nesting, qualified names, signatures, docs, line ranges) is
derived here the same way for every language. A file with syntax errors still
yields every definition that parsed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field

from tree_sitter import Node, Parser, Query, QueryCursor

from summarizers.languages import LANGUAGES, grammar, query_source

OUTLINE_VERSION = 1  # bump when what an outline holds changes: cached outlines are redone

MAX_SIGNATURE_CHARS = 240
MAX_DOC_CHARS = 2000
# Kinds that can hold methods: a function defined inside one of them is a method.
CONTAINER_KINDS = {"class", "struct", "interface", "trait", "impl", "enum", "module", "namespace", "object"}
# Nodes that wrap a definition and belong to it (decorators, `export`, templates).
WRAPPERS = {"decorated_definition", "export_statement", "template_declaration", "ambient_declaration"}
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{2,}")


@dataclass
class Symbol:
    kind: str
    name: str
    qualname: str
    signature: str
    doc: str
    start_line: int  # 1-based, inclusive
    end_line: int
    start_byte: int
    end_byte: int
    parent: str | None = None  # qualname of the enclosing symbol


@dataclass
class Outline:
    lang: str
    doc: str = ""  # the file's own docstring or leading comment
    symbols: list[Symbol] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    has_errors: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@functools.cache
def _parser_and_query(lang: str) -> tuple[Parser, Query]:
    language = grammar(lang)
    return Parser(language), Query(language, query_source(lang))


def outline(data: bytes, lang: str) -> Outline:
    """The outline of `data`, a file in language `lang` (a key of LANGUAGES)."""
    parser, query = _parser_and_query(lang)
    tree = parser.parse(data)
    root = tree.root_node
    result = Outline(lang=lang, has_errors=root.has_error)
    definitions: list[tuple[Node, Node, str, str]] = []  # (anchor, definition, kind, name)
    scopes: dict[int, str] = {}
    for _, captures in QueryCursor(query).matches(root):
        if "import" in captures:
            for node in captures["import"]:
                result.imports.append(_collapse(_text(node))[:MAX_SIGNATURE_CHARS])
            continue
        kind = next((key[11:] for key in captures if key.startswith("definition.")), None)
        if kind is None or "name" not in captures:
            continue
        node = captures[f"definition.{kind}"][0]
        name = _collapse(_text(captures["name"][0]))
        if not name:
            continue
        definitions.append((_anchor(node), node, kind, name))
        if "scope" in captures:
            scopes[node.id] = _text(captures["scope"][0]).lstrip("*&").strip()
    result.symbols = _nest(definitions, scopes, lang)
    result.doc = _file_doc(root, lang)
    result.references = sorted({m.decode() for m in _IDENTIFIER.findall(data)})
    return result


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text is not None else ""


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _anchor(node: Node) -> Node:
    """The node whose range a definition owns: with its decorators, `export`, template."""
    while node.parent is not None and node.parent.type in WRAPPERS:
        node = node.parent
    return node


def _nest(definitions, scopes, lang) -> list[Symbol]:
    """Order definitions by position and give each its parent and qualified name."""
    definitions.sort(key=lambda d: (d[0].start_byte, -d[0].end_byte))
    symbols: list[Symbol] = []
    stack: list[tuple[Node, Symbol]] = []
    seen: dict[str, int] = {}
    by_qualname: dict[str, Symbol] = {}
    for anchor, node, kind, name in definitions:
        if stack and stack[-1][0].id == anchor.id:
            continue  # the same definition matched by two patterns
        while stack and anchor.start_byte >= stack[-1][0].end_byte:
            stack.pop()
        parent = stack[-1][1] if stack else None
        scope = scopes.get(node.id)
        if parent is None and scope and scope in by_qualname:
            parent = by_qualname[scope]
        if kind == "function" and parent is not None and parent.kind in CONTAINER_KINDS:
            kind = "method"
        prefix = parent.qualname if parent else scope
        qualname = f"{prefix}.{name}" if prefix else name
        if qualname in seen:  # overloads, several impl blocks: keep every one addressable
            seen[qualname] += 1
            qualname = f"{qualname}#{seen[qualname]}"
        else:
            seen[qualname] = 1
        symbol = Symbol(
            kind=kind,
            name=name,
            qualname=qualname,
            signature=_signature(node),
            doc=_doc(anchor, node, lang),
            start_line=anchor.start_point[0] + 1,
            end_line=anchor.end_point[0] + (0 if anchor.end_point[1] == 0 else 1),
            start_byte=anchor.start_byte,
            end_byte=anchor.end_byte,
            parent=parent.qualname if parent else None,
        )
        symbols.append(symbol)
        by_qualname.setdefault(qualname, symbol)
        stack.append((anchor, symbol))
    return symbols


def _signature(node: Node) -> str:
    """The definition's head: everything before its body, on one line."""
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        head = node.text[: body.start_byte - node.start_byte]
    else:
        head = node.text.split(b"\n", 1)[0]
    text = _collapse(head.decode("utf-8", errors="replace")).rstrip("{:= ").rstrip()
    if len(text) > MAX_SIGNATURE_CHARS:
        text = text[: MAX_SIGNATURE_CHARS - 1].rstrip() + "…"
    return text


def _doc(anchor: Node, node: Node, lang: str) -> str:
    if lang == "python":
        body = node.child_by_field_name("body")
        doc = _python_docstring(body) if body is not None else ""
        if doc:
            return doc
    return _leading_comment(anchor, lang)


def _python_docstring(block: Node) -> str:
    first = block.named_children[0] if block.named_child_count else None
    if first is not None and first.type == "expression_statement" and first.named_child_count:
        string = first.named_children[0]
        if string.type == "string":
            return clean_docstring(_text(string))
    return ""


def _leading_comment(anchor: Node, lang: str) -> str:
    """The comment block directly above a definition (no blank line between)."""
    lines: list[str] = []
    row = anchor.start_point[0]
    sibling = anchor.prev_named_sibling
    while sibling is not None and "comment" in sibling.type and sibling.end_point[0] >= row - 1:
        lines.insert(0, _text(sibling))
        row = sibling.start_point[0]
        sibling = sibling.prev_named_sibling
    return clean_comment("\n".join(lines), lang)[:MAX_DOC_CHARS]


def _file_doc(root: Node, lang: str) -> str:
    """The file's own doc: a module docstring, or the comment block that opens it."""
    if lang == "python":
        doc = _python_docstring(root)
        if doc:
            return doc
    lines: list[str] = []
    for child in root.named_children:
        if "comment" not in child.type:
            break
        text = _text(child)
        if text.startswith("#!") or "coding" in text[:40] and len(text) < 60:
            continue  # shebang and encoding lines say nothing about the file
        lines.append(text)
    return clean_comment("\n".join(lines), lang)[:MAX_DOC_CHARS]


_COMMENT_MARKERS = re.compile(r"^\s*(?:/\*\*?|\*/|\*(?!\*)|///?!?|#+!?|--|;+)\s?", re.M)


def clean_comment(text: str, lang: str = "") -> str:
    """Comment text without its markers (`//`, `/* */`, `#`, `///`, leading `*`)."""
    if not text:
        return ""
    text = text.replace("*/", "")
    lines = [_COMMENT_MARKERS.sub("", line, count=1).rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip()


_STRING_PREFIX = re.compile(r'^[rRbBuUfF]{0,2}("""|\'\'\'|"|\')')


def clean_docstring(literal: str) -> str:
    """A Python string literal's text, quotes removed and indentation normalised."""
    match = _STRING_PREFIX.match(literal)
    if not match:
        return ""
    quote = match.group(1)
    body = literal[match.end() :]
    if body.endswith(quote):
        body = body[: -len(quote)]
    lines = body.expandtabs().splitlines()
    if not lines:
        return ""
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents) if indents else 0
    cleaned = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    return "\n".join(cleaned).strip()[:MAX_DOC_CHARS]


def supported(lang: str | None) -> bool:
    return lang in LANGUAGES
