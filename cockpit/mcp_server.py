"""Cockpit over MCP: one repository's pyramid as tools and resources for coding agents.

Every request reads the shared SQLite cache, so what another process records (a
`cockpit summarize` run, the app) is served on the next request without a restart.
The server refreshes the pyramid once, at startup, and never per request. Nothing
outside the repository root is read: paths are checked against the pyramid's
`files` table and resolved with symlinks followed before a file is opened.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import sqlite3
import sys
import threading
from itertools import islice
from pathlib import Path
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from cache.store import CacheError, Store, default_cache_path
from cockpit import tokens
from cockpit.agents import record_served
from cockpit.config import Config
from cockpit.context import ContextError, build_context, render_zoom, resolve_node
from cockpit.context import search as search_nodes
from cockpit.pyramid import LEVELS, source_tokens
from cockpit.render import to_markdown
from cockpit.scan import SECRET_NAMES, looks_secret

MAX_LINES = 2000  # lines one read (or one source zoom) returns: a whole big file would swamp the caller
MIN_BUDGET = 50
OVERVIEW_DEPTH = 6  # levels below the repo an overview may show
OVERVIEW_VIEWS = ("32", "16", "8")  # below 8 words a summary says little more than the name
View = Literal["2", "4", "8", "16", "32", "64", "outline", "source"]

INSTRUCTIONS = """\
Cockpit serves a *pyramid summary* of one code repository: repo -> directories -> files -> symbols
(classes, functions, methods). Every node can be read at several views: a summary of at most 2, 4, 8,
16, 32 or 64 words, its `outline` (its parts with line ranges and one-line summaries), or its `source`.
Start with `overview` (the whole repo within a token budget) or `context` (what matters for a task,
within a budget). Every entry carries its path and line range: `zoom` into it for more detail, `read`
exact lines, `search` for a name. All output is plain text sized in tokens; nothing outside the repo
is served."""

DESCRIPTIONS = {
    "overview": """\
The repository's pyramid at a glance, never more than `budget` tokens: the repo summary, then its
directories, files and (when they fit) symbols as a tree, each with a short summary and its path (and
line range). It shows the deepest tree that fits with summaries of 8-32 words; when even the top level
does not fit, the list is cut and says so. Use it first in an unfamiliar repo, then `zoom` into entries.""",
    "context": """\
The best context for a task within `budget` tokens (the output never exceeds it): the whole repo at
low zoom and the files and symbols most relevant to the task at high zoom (summaries, outlines or
source), ranked by text match, names mentioned in the task and the reference graph between files.
Describe the task in words and name any identifiers or paths you know. `focus` pins paths,
directories or symbols (`path`, `path:Class.method` or a bare symbol name). Every entry carries
`path:start-end`: zoom or read those lines for more.""",
    "zoom": """\
One node of the pyramid at one view. `path` is relative to the repo root ('' or '.' for the repo
itself); name a symbol with `symbol` ('Class.method') or as 'path::Class.method'. Views: '2'...'64'
are summaries of at most that many words; 'outline' lists the node's parts with line ranges (a
directory's entries, a file's classes and functions, a class's methods); 'source' is the exact code
(a directory shows its entries), cut at 2,000 lines. The header gives the path, line range, kind and
the view's token count.""",
    "search": """\
Find files and symbols by name or words: exact names first, then name prefixes, then symbols whose
names or bodies use the words (parameters, attributes, strings; `json.dumps` prefers json's own), then
files whose paths, names and summaries match. Each hit gives kind, signature, `path:start-end`, its id (pass
it to `zoom` as the path) and a one-line summary.""",
    "read": """\
Exact lines of one file of the pyramid, 1-based and inclusive, each prefixed with its line number.
At most 2,000 lines per call (the output says where to continue). Only files in the pyramid can be
read: paths outside the repo, ignored or skipped files (binary, generated, secret-looking such as
.env or keys) are refused.""",
}
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


@contextlib.contextmanager
def _tool_errors():
    """Turn the failures we expect into tool errors the caller reads, instead of generic crashes."""
    try:
        yield
    except (ContextError, CacheError) as exc:
        raise ToolError(str(exc)) from None
    except sqlite3.Error as exc:
        raise ToolError(f"the cache could not be read ({exc}); try again, or rebuild it: cockpit summarize") from None
    except OSError as exc:
        raise ToolError(f"{exc.strerror or exc}") from None


class Repo:
    """The repository served: its root, its cache, and what the tools do with them."""

    def __init__(self, root: str, cache_path: str | Path):
        self.root = os.path.realpath(root)
        self.cache_path = Path(cache_path)
        self._local = threading.local()
        self._overviews: dict[tuple[int, int], str] = {}

    def store(self) -> Store:
        # Sync tools run in worker threads, and a SQLite connection belongs to the thread that opened it.
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.cache_path, self.root)
        return store

    # --- paths -------------------------------------------------------------------------

    def checked_file(self, path: str) -> tuple[str, str]:
        """(relative path, real path) of a pyramid file that may be served; ToolError for anything else."""
        rel = path.strip().replace("\\", "/")
        if not rel:
            raise ToolError("path must name a file of the repository, relative to its root")
        if os.path.isabs(path.strip()) or rel.startswith("/") or ".." in rel.split("/"):
            raise ToolError(f"{path!r} is outside the repository: give a file path relative to its root")
        while rel.startswith("./"):
            rel = rel[2:]
        conn = self.store().db.conn
        if conn.execute("SELECT 1 FROM files WHERE path = ?", [rel]).fetchone() is None:
            skipped = conn.execute("SELECT reason FROM skipped WHERE path = ?", [rel]).fetchone()
            why = f"it was left out ({skipped[0]})" if skipped else "it is ignored, skipped or does not exist"
            raise ToolError(f"{rel!r} is not a file of the pyramid: {why}")
        full = os.path.realpath(os.path.join(self.root, rel))
        if os.path.commonpath([full, self.root]) != self.root:  # a symlink swapped in since the build
            raise ToolError(f"{rel!r} resolves outside the repository")
        if SECRET_NAMES.match(os.path.basename(full)) or SECRET_NAMES.match(rel.rsplit("/", 1)[-1]):
            raise ToolError(f"{rel!r} looks like a secret and is not served")
        return rel, full

    # --- tools -------------------------------------------------------------------------

    def overview(self, budget: int) -> str:
        if budget < MIN_BUDGET:
            raise ToolError(f"budget must be at least {MIN_BUDGET} tokens")
        store = self.store()
        key = (store.generation(), budget)  # the cheap freshness check: any write moves the generation
        if key not in self._overviews:
            if len(self._overviews) > 64:
                self._overviews.clear()
            self._overviews[key] = _overview(store, self.root, budget)
        return self._overviews[key]

    def context(self, task: str, budget: int, focus: list[str] | None) -> str:
        return build_context(self.store(), self.root, task, budget, focus or [], "md").text

    def zoom(self, path: str, symbol: str | None, view: str) -> str:
        store = self.store()
        node = resolve_node(store, "" if path.strip() in (".", "./") else path, symbol or None)
        if view == "source" and node["kind"] not in ("dir", "repo"):
            self.checked_file(node["path"])  # the source comes from disk: the same guard as read
        source_tokens(self.root, store, [node])
        text = render_zoom(self.root, node, view)
        lines = text.split("\n")
        if len(lines) > MAX_LINES + 4:  # the header is 3 lines, then the view's text
            text = "\n".join(lines[: MAX_LINES + 3]) + f"\n… cut at {MAX_LINES} lines"
            if view == "source" and node["start_line"]:
                text += f": read('{node['path']}', start={node['start_line'] + MAX_LINES}) for the rest"
            text += "\n"
        return text

    def search(self, query: str, limit: int) -> str:
        hits = search_nodes(self.store(), query, limit)
        if not hits:
            return f"No file or symbol matches {query!r}. Try other words, or overview() for the layout.\n"
        out = [f"{len(hits)} result{'s' * (len(hits) != 1)} for {query!r}:"]
        for hit in hits:
            where = f"{hit['path']}:{hit['lines'][0]}-{hit['lines'][1]}" if hit["lines"] else (hit["path"] or ".")
            label = hit["signature"] or hit["name"]
            summary = f": {hit['summary']}" if hit["summary"] else ""
            out.append(f"- {hit['kind']} `{label}` `{where}` id `{hit['id']}`{summary} ({hit['why']})")
        return "\n".join(out) + "\n"

    def read(self, path: str, start: int, end: int | None) -> str:
        rel, full = self.checked_file(path)
        if start < 1:
            raise ToolError("start must be 1 or more: lines are numbered from 1")
        if end is not None and end < start:
            raise ToolError(f"end ({end}) is before start ({start})")
        last = start + MAX_LINES - 1 if end is None else min(end, start + MAX_LINES - 1)
        with open(full, "rb") as fh:
            if looks_secret(fh.read(65536)):  # the file may have changed since the build vetted it
                raise ToolError(f"{rel!r} looks like it holds a secret and is not served")
            fh.seek(0)  # split on \n alone, as the pyramid's line numbers do
            lines = [line.rstrip(b"\n").decode("utf-8", errors="replace") for line in islice(fh, start - 1, last)]
            total = start - 1 + len(lines) + sum(1 for _ in fh)
        if not lines:
            raise ToolError(f"{rel!r} has {total} lines; start ({start}) is past its end")
        stop = start + len(lines) - 1
        width = len(str(stop))
        head = f"`{rel}:{start}-{stop}` ({total} lines in the file)"
        body = "\n".join(f"{n:>{width}}\t{line}" for n, line in enumerate(lines, start))
        more = ""
        if stop < total and (end is None or end > stop):
            more = f"\n… at most {MAX_LINES} lines per read: read('{rel}', start={stop + 1}) for more"
        return f"{head}\n{body}{more}\n"

    def resource(self, path: str) -> str:
        node = resolve_node(self.store(), "" if path.strip() in (".", "./") else path)
        return render_zoom(self.root, node, "outline")


# --- overview -------------------------------------------------------------------------


def _line_cost(node: dict, view: str) -> int:
    # Its text plus the entry's markup: name or signature and path in backticks.
    label = node["signature"] or node["name"] or ""
    return (node["tokens"][LEVELS.index(view)] or 0) + 8 + (len(label) + len(node["path"] or "")) // 3


def _overview(store: Store, root: str, budget: int) -> str:
    top = store.node("")
    if top is None:
        raise ToolError("the pyramid is empty: build it with `cockpit summarize` in the repository")
    # Load level by level while even the cheapest wanted view could still fit.
    levels = [[top]]
    while len(levels) <= OVERVIEW_DEPTH:
        found = store.children_of([n["id"] for n in levels[-1]])
        for node in levels[-1]:
            node["_kids"] = found.get(node["id"], [])
        below = [c for n in levels[-1] for c in n["_kids"]]
        if not below:
            break
        levels.append(below)
        if sum(_line_cost(n, OVERVIEW_VIEWS[-1]) for level in levels[1:] for n in level) > budget:
            break

    def render(depth: int, view: str) -> str:
        for d, level in enumerate(levels):
            for node in level:
                if d < depth:
                    node["children"] = node.get("_kids", [])
                else:
                    node.pop("children", None)
        text = to_markdown(root, top, view)
        return text + (f"\n_Depth {depth}, summaries of at most {view} words. Zoom into any entry by its path "
                       "(and symbol); context(task) picks what matters for a task._\n")

    head_cost = _line_cost(top, "64") + 30
    candidates = [(d, v) for d in range(len(levels) - 1, 0, -1) for v in OVERVIEW_VIEWS] + [(1, "4"), (1, "2")]
    for depth, view in candidates:
        estimate = head_cost + sum(_line_cost(n, view) for level in levels[1 : depth + 1] for n in level)
        if estimate > budget:
            continue
        text = render(depth, view)
        if tokens.count(text) <= budget:
            return text
    return _cut_to_budget(render(min(1, len(levels) - 1), "2"), budget)


def _cut_to_budget(text: str, budget: int) -> str:
    """The longest run of whole leading lines that fits, with a note on what was left out."""
    lines = text.rstrip("\n").split("\n")

    def with_note(k: int) -> str:
        left = len(lines) - k
        return "\n".join(lines[:k]) + f"\n… {left} more lines: zoom into a directory, or search(query)\n"

    low, high = 0, len(lines)
    while low < high:  # the largest k that fits
        mid = (low + high + 1) // 2
        if tokens.count(with_note(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return with_note(low)


# --- the server -----------------------------------------------------------------------


def create_server(root: str, cache: str | Path | None = None, refresh: bool = True) -> MCPServer:
    """An MCP server for the repository at `root`; with `refresh`, bring its pyramid up to date first."""
    from cockpit.cli import refresh as refresh_pyramid  # cli imports this module lazily; no cycle at import

    root = os.path.realpath(root)
    config = Config.load(root)
    cache_path = Path(cache or config.cache or default_cache_path(root))
    if refresh:
        store = Store(cache_path, root)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout is the protocol channel in stdio mode
                refresh_pyramid(root, store, config, quiet=True)
        finally:
            store.close()
    repo = Repo(root, cache_path)
    server = MCPServer("cockpit", instructions=INSTRUCTIONS, version=_version(), log_level="WARNING")

    @server.tool(description=DESCRIPTIONS["overview"], annotations=READ_ONLY)
    def overview(budget: Annotated[int, Field(description="Most tokens the answer may use (50 or more).")] = 2000,
                 ctx: Context | None = None) -> str:
        with _tool_errors():
            return _served(ctx, repo, "overview", repo.overview(budget))

    @server.tool(description=DESCRIPTIONS["context"], annotations=READ_ONLY)
    def context(
        task: Annotated[str, Field(description="What you are about to do, in words; name known identifiers.")],
        budget: Annotated[int, Field(description="Most tokens the answer may use (50 or more).")] = 4000,
        focus: Annotated[list[str] | None, Field(description="Paths, directories or symbols to pin.")] = None,
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "context", repo.context(task, budget, focus))

    @server.tool(description=DESCRIPTIONS["zoom"], annotations=READ_ONLY)
    def zoom(
        path: Annotated[str, Field(description="File or directory relative to the repo root, or 'path::Qual.name'.")],
        symbol: Annotated[str | None, Field(description="A symbol in that file, e.g. 'Client.send'.")] = None,
        view: Annotated[View, Field(description="'2'..'64' words, 'outline' or 'source'.")] = "outline",
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "zoom", repo.zoom(path, symbol, view))

    @server.tool(description=DESCRIPTIONS["search"], annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="A name ('parse_args', 'Client.send'), a path, or words.")],
        limit: Annotated[int, Field(description="Most results to return (1-200).")] = 20,
    ) -> str:
        with _tool_errors():
            return repo.search(query, limit)

    @server.tool(description=DESCRIPTIONS["read"], annotations=READ_ONLY)
    def read(
        path: Annotated[str, Field(description="File path relative to the repo root.")],
        start: Annotated[int, Field(description="First line, 1-based.")] = 1,
        end: Annotated[int | None, Field(description="Last line, inclusive (default: 2,000 lines on).")] = None,
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "read", repo.read(path, start, end))

    # {+path} lets the path keep its slashes (and '::' for symbols) unescaped in the URI.
    @server.resource("pyramid://{+path}", name="pyramid node", mime_type="text/markdown",
                     description="A node of the pyramid (file, directory or 'path::Qual.name') at its outline view.")
    def node(path: str) -> str:
        try:
            return repo.resource(path)
        except (ContextError, CacheError, sqlite3.Error) as exc:
            raise ResourceError(str(exc)) from None

    return server


def _served(ctx: Context | None, repo: Repo, tool: str, text: str) -> str:
    """Note the answer in the per-user `served` table (see cockpit.agents; it never fails the answer)."""
    record_served(_client_name(ctx), repo.root, tool, text)
    return text


def _client_name(ctx: Context | None) -> str:
    """The MCP client's own name from its handshake (e.g. 'claude-code'), else 'mcp'."""
    try:
        return ctx.session.client_params.client_info.name or "mcp"
    except (AttributeError, LookupError, ValueError):  # no request context, or a client without clientInfo
        return "mcp"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cockpit")
    except Exception:  # running from a checkout that was never installed
        return "0"


# --- HTTP -----------------------------------------------------------------------------


class BearerAuth:
    """ASGI wrapper: HTTP requests without `Authorization: Bearer <token>` get 401 before MCP sees them."""

    def __init__(self, app, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):  # constant time: no guessing by timing
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"), (b"www-authenticate", b'Bearer realm="cockpit"')]})
                await send({"type": "http.response.body", "body": b"send Authorization: Bearer <token>\n"})
                return
        await self.app(scope, receive, send)


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or a bare `PORT` (on 127.0.0.1)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def serve_http(server: MCPServer, host: str, port: int, token: str | None = None) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until interrupted."""
    import uvicorn

    app = server.streamable_http_app(host=host)  # localhost hosts get DNS-rebinding protection
    if token:
        app = BearerAuth(app, token)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
