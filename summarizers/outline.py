"""Outline a source file with tree-sitter: its symbols, imports and references.

Each language's query file (`queries/<lang>.scm`) marks what to collect:

- `@definition.<kind>` on a definition (class, function, method, struct, ...),
  with `@name` on its name in the same pattern;
- optionally `@scope` in the same pattern: a type that qualifies the name when
  the definition is not nested in it (a Go method's receiver type, `Foo` in
  C++'s `void Foo::bar()`); several `@scope` captures are joined;
- `@import` on an import statement (a statement captured as an import is not
  also a definition).

When two patterns match the same definition, the one written later wins, so a
query can follow a general pattern with a more specific one.

Everything else (nesting, qualified names, signatures, docs, line ranges) is
derived here the same way for every language. A file with syntax errors still
yields every definition that parsed. Markdown is the one special case: its
headings nest by level, and a section's doc is the paragraph under its heading.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field

from tree_sitter import Node, Parser, Query, QueryCursor

from summarizers.languages import LANGUAGES, grammar, query_source

OUTLINE_VERSION = 2  # bump when what an outline holds changes: cached outlines are redone

MAX_SIGNATURE_CHARS = 240
MAX_DOC_CHARS = 2000
# Kinds that can hold methods: a function defined inside one of them is a method.
# (Not "namespace": functions in a C++/TypeScript namespace or a Rust `mod` stay functions.)
CONTAINER_KINDS = {"class", "struct", "interface", "trait", "impl", "enum", "module", "object"}
# Nodes that wrap a definition and belong to it (decorators, `export`, templates, C typedefs).
WRAPPERS = {
    "decorated_definition", "export_statement", "template_declaration", "ambient_declaration", "type_definition"
}
# Siblings that may stand between a doc comment and its definition (Rust `#[...]`, TS `@dec`).
ATTRIBUTES = {"attribute_item", "decorator"}
IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{2,}")  # names worth a reference: 3+ characters


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
    definitions: list[tuple] = []  # (anchor, definition, kind, name, pattern index, name node)
    scopes: dict[int, str] = {}
    import_ids: set[int] = set()
    for pattern, captures in QueryCursor(query).matches(root):
        if "import" in captures:
            for node in captures["import"]:
                result.imports.append(_collapse(_text(node))[:MAX_SIGNATURE_CHARS])
                import_ids.add(node.id)
            continue
        kind = next((key[11:] for key in captures if key.startswith("definition.")), None)
        if kind is None or "name" not in captures:
            continue
        node = captures[f"definition.{kind}"][0]
        name_node = captures["name"][0]
        name = _collapse(_text(name_node))
        if not name:
            continue
        definitions.append((_anchor(node), node, kind, name, pattern, name_node))
        if "scope" in captures:
            scope = ".".join(_text(n).lstrip("*&").strip() for n in captures["scope"])
            scopes[node.id] = scope.replace("::", ".")
    if import_ids:
        definitions = [d for d in definitions if d[1].id not in import_ids]
    if lang == "markdown":
        definitions = _heading_spans(definitions, root)
    result.symbols = _nest(definitions, scopes, lang)
    result.doc = _file_doc(root, lang)
    result.references = sorted({m.decode() for m in IDENTIFIER.findall(data)})
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


_DUPLICATE = re.compile(r"#\d+$")


def _prefix(parent: Symbol | None) -> str | None:
    """How a parent qualifies its children: an impl block by its type's plain name."""
    if parent is None:
        return None
    return _DUPLICATE.sub("", parent.qualname) if parent.kind == "impl" else parent.qualname


def _nest(definitions, scopes, lang) -> list[Symbol]:
    """Order definitions by position and give each its parent and qualified name."""
    definitions.sort(key=lambda d: (d[0].start_byte, -d[0].end_byte, -d[4]))
    symbols: list[Symbol] = []
    stack: list[tuple[Node, Symbol]] = []
    seen: dict[str, int] = {}
    by_qualname: dict[str, Symbol] = {}
    for anchor, node, kind, name, _, name_node in definitions:
        if stack and stack[-1][0].id == anchor.id:
            continue  # the same definition matched by two patterns: the later pattern won
        while stack and anchor.start_byte >= stack[-1][0].end_byte:
            stack.pop()
        parent = stack[-1][1] if stack else None
        prefix = _prefix(parent)
        scope = scopes.get(node.id)
        if scope:  # relative to the enclosing symbol first, then from the top
            candidates = (f"{prefix}.{scope}", scope) if prefix else (scope,)
            found = next((by_qualname[c] for c in candidates if c in by_qualname), None)
            if found is not None:
                parent, prefix = found, _prefix(found)
            else:
                prefix = candidates[0]
        if kind == "function" and parent is not None:
            if parent.kind in CONTAINER_KINDS:
                kind = "method"
            elif parent.kind in ("function", "method") and node.child_by_field_name("body") is None:
                continue  # a bodiless "function" in a body is a local declaration (C, C++)
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
            signature=_signature(node, name_node),
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


def _uncommented(node: Node, head: bytes) -> bytes:
    """`head` (the start of `node`'s text) without the comments inside it: it is joined onto one line."""
    end = node.start_byte + len(head)
    cuts, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.start_byte >= end or current.end_byte <= node.start_byte:
            continue  # the body, or before the head: not looked into
        if "comment" in current.type:
            cuts.append((current.start_byte - node.start_byte, min(current.end_byte, end) - node.start_byte))
        else:
            stack.extend(current.children)
    for start, stop in sorted(cuts, reverse=True):
        head = head[:start] + b" " + head[stop:]
    return head


def _signature(node: Node, name: Node) -> str:
    """The definition's head: everything before its body, on one line."""
    text = node.text
    body = node.child_by_field_name("body")
    if body is None and name.parent is not None:  # `const f = (x) => ...`: the bound function's body
        value = name.parent.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    if body is not None and node.start_byte < body.start_byte <= node.end_byte:
        end = body.start_byte
        for child in node.children:  # a comment before the body is not part of the head
            if child.start_byte >= end:
                break
            if "comment" in child.type:
                end = child.start_byte
                break
        head = text[: end - node.start_byte]
    else:  # no body: up to the end of the line where the name, or the parameter list, ends
        end = name.end_byte
        params = node.child_by_field_name("parameters")
        if params is None and name.parent is not None:  # C: the declarator holds the parameters
            params = name.parent.child_by_field_name("parameters")
        if params is not None:
            end = max(end, params.end_byte)
        end -= node.start_byte
        cut = text.find(b"\n", end - 1) if 0 < end <= len(text) else text.find(b"\n")
        head = text if cut < 0 else text[:cut]
    if b"#" in head or b"//" in head or b"/*" in head:  # a comment inside the head ("def f(  # noqa")
        head = _uncommented(node, head)
    text = _collapse(head.decode("utf-8", errors="replace")).rstrip("{:=; ").rstrip()
    if len(text) > MAX_SIGNATURE_CHARS:
        text = text[: MAX_SIGNATURE_CHARS - 1].rstrip() + "…"
    return text


def _doc(anchor: Node, node: Node, lang: str) -> str:
    if lang == "python":
        body = node.child_by_field_name("body")
        doc = _python_docstring(body) if body is not None else ""
        if doc:
            return doc
    elif lang == "markdown":  # a section's doc is the paragraph under its heading
        following = node.next_named_sibling
        return _collapse(_text(following))[:MAX_DOC_CHARS] if following and following.type == "paragraph" else ""
    return _leading_comment(anchor, lang)


def _python_docstring(block: Node) -> str:
    # Comments may come first (licence headers above a module docstring).
    first = next((c for c in block.named_children if c.type != "comment"), None)
    if first is not None and first.type == "expression_statement" and first.named_child_count:
        string = first.named_children[0]
        if string.type == "string":
            return clean_docstring(_text(string))
    return ""


def _leading_comment(anchor: Node, lang: str) -> str:
    """The comment block directly above a definition (no blank line between)."""
    lines: list[str] = []
    row = anchor.start_point[0]
    node, sibling = anchor, anchor.prev_named_sibling
    while sibling is None and node.parent is not None:  # first in its block: look above the block
        node = node.parent
        sibling = node.prev_named_sibling
    while sibling is not None and sibling.end_point[0] >= row - 1:
        if sibling.type in ATTRIBUTES:
            row = sibling.start_point[0]
            sibling = sibling.prev_named_sibling
            continue
        before = sibling.prev_sibling
        if "comment" not in sibling.type or (
            before is not None and before.end_point[0] == sibling.start_point[0] and before.end_point[1] > 0
        ):
            break  # not a comment, or one that trails code on its line
        text = _text(sibling)
        if text.startswith("#!"):
            break
        lines.insert(0, text)
        row = sibling.start_point[0]
        sibling = sibling.prev_named_sibling
    return clean_comment("\n".join(lines), lang)[:MAX_DOC_CHARS]


@dataclass(frozen=True, slots=True)
class _Span:
    """A made-up range standing in for a node (a Markdown section)."""

    id: int
    start_byte: int
    end_byte: int
    start_point: tuple[int, int]
    end_point: tuple[int, int]


def _heading_spans(definitions: list[tuple], root: Node) -> list[tuple]:
    """Markdown: a heading's section runs to the next heading of its level or above.

    The grammar's own `section` nodes follow ATX headings only; this covers setext ones too.
    """
    definitions.sort(key=lambda d: d[1].start_byte)
    spans: list[tuple] = []
    stack: list[tuple[int, tuple]] = []  # (level, definition) of the open sections
    for definition in [*definitions, None]:
        heading = definition[1] if definition else root
        level = _heading_level(heading) if definition else 0
        start = (heading.start_byte, heading.start_point) if definition else (root.end_byte, root.end_point)
        while stack and stack[-1][0] >= level:
            _, (_, node, *rest) = stack.pop()
            span = _Span(node.id, node.start_byte, start[0], node.start_point, start[1])
            spans.append((span, node, *rest))
        if definition:
            stack.append((level, definition))
    return spans


def _heading_level(heading: Node) -> int:
    for child in heading.children:  # atx_h2_marker, setext_h1_underline, ...
        if child.type.startswith(("atx_h", "setext_h")):
            return int(child.type.split("_h", 1)[1][0])
    return 1


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


_COMMENT_MARKERS = re.compile(r"^\s*(?:/\*\*?|\*/|\*(?!\*)|///?!?|#+!?|--|;+)\s?", re.MULTILINE)


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
    body = body.removesuffix(quote)
    lines = body.expandtabs().splitlines()
    if not lines:
        return ""
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents) if indents else 0
    cleaned = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    return "\n".join(cleaned).strip()[:MAX_DOC_CHARS]


def supported(lang: str | None) -> bool:
    return lang in LANGUAGES
