"""Prompts of the LLM summarizer, and their versions.

The instructions (SYSTEM) go in one cacheable system block shared by every
request; a request's user message is a header line and `<node id="...">` blocks.
A prompt's version is part of every cached summary's key, so editing a prompt
re-summarizes exactly what it touches: COMMON everything, a kind's rules or
header that kind ("file": files and symbols; "dir": directories and the repo).
"""

from __future__ import annotations

import hashlib
import html

# The model and the calls in flight when nothing says otherwise (here, so that a command line can show them
# without loading the LLM client).
DEFAULT_MODEL = "claude-haiku-4-5"
DEFAULT_CONCURRENCY = 8
PROMPT_VERSION = "1"  # bump for changes the fingerprint below cannot see (e.g. how blocks are built)
BUDGETS = (2, 4, 8, 16, 32, 64)
REPO_ID = "."  # the repo node's id is "" in the cache: it needs a name in a prompt

COMMON = """\
You summarize code for coding agents deciding what to open. Give each <node id="..."> block six \
summaries, of at most 2, 4, 8, 16, 32 and 64 words. Reply with only this JSON, no code fence:
{"nodes": {"<id>": {"2": "...", "4": "...", "8": "...", "16": "...", "32": "...", "64": "..."}}}
- Every block's id, exactly as given. Summary "N": at most N words (count them).
- What the node does and why it matters, most important first. Each summary stands alone, on one \
line, without filler like "This function".
- Never repeat secrets; [REDACTED] marks removed values."""
# What each kind of request holds; a change here re-asks only that kind.
KIND_RULES = {
    "file": 'File requests: "::Name" blocks are the file\'s symbols (code minus nested definitions, which have '
            "their own blocks); the block named by the path is the file (doc, imports, top-level names): "
            "summarize it from everything.",
    "dir": "Directory and repository requests: one block listing the parts with their summaries.",
}
SYSTEM = "\n".join([COMMON, *KIND_RULES.values()])
HEADERS = {"file": "File {path}", "dir": "{kind} {path}"}


def version(kind: str) -> str:
    """The version of the prompt for `kind` ("file" covers files and symbols, "dir" directories and the repo)."""
    text = COMMON + "\0" + KIND_RULES[kind] + "\0" + HEADERS[kind]
    return f"{PROMPT_VERSION}.{hashlib.blake2b(text.encode(), digest_size=4).hexdigest()}"


def short_id(node_id: str, path: str | None) -> str:
    """A node's id in a prompt: "::Name" for a symbol of the request's file, "." for the repo."""
    if path and node_id.startswith(path + "::"):
        return node_id[len(path):]
    return node_id or REPO_ID


def full_id(answer_id: str, path: str | None) -> str:
    """The cache's node id for an id as a prompt (or an answer) spells it."""
    answer_id = html.unescape(answer_id)
    if answer_id == REPO_ID:
        return ""
    return (path or "") + answer_id if answer_id.startswith("::") else answer_id


def block(node_id: str, body: str, path: str | None = None) -> str:
    """One node's block; its body cannot close the block early."""
    shown = html.escape(short_id(node_id, path), quote=True)
    return f'<node id="{shown}">\n{body.replace("</node>", "</ node>")}</node>'  # a newline more costs 1 token a block


def request(kind: str, blocks: list[str], path: str = "", dir_kind: str = "Directory") -> str:
    return HEADERS[kind].format(path=path or REPO_ID, kind=dir_kind) + "\n" + "\n".join(blocks)
