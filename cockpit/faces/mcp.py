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
import signal
import sqlite3
import sys
import threading
from itertools import islice
from pathlib import Path
from typing import Annotated, Literal

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import INVALID_PARAMS, Resource, ToolAnnotations
from pydantic import Field

from cache.store import CacheError, Store
from cockpit import service
from cockpit.core.config import Config
from cockpit.core.context import ContextError, build_context, render_zoom, resolve_node
from cockpit.core.context import search as search_nodes
from cockpit.core.pyramid import LEVELS, source_tokens
from cockpit.core.render import EmptyPyramid, fit_overview
from cockpit.core.scan import SECRET_NAMES, looks_secret
from cockpit.spend.agents import record_served

MAX_LINES = 2000  # lines one read (or one source zoom) returns: a whole big file would swamp the caller
MIN_BUDGET = 50
View = Literal["2", "4", "8", "16", "32", "64", "outline", "source"]
Budget = Annotated[int, Field(ge=MIN_BUDGET, description=f"Most tokens the answer may use ({MIN_BUDGET} or more).")]
# Resource not found: -32002 up to the 2025-11-25 protocol; SEP-2164 made it -32602 (Invalid params) after.
RESOURCE_NOT_FOUND, RESOURCE_NOT_FOUND_SINCE_2026 = -32002, -32602

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
            try:
                self._overviews[key] = fit_overview(store, self.root, budget)
            except EmptyPyramid as exc:
                raise ToolError(str(exc)) from None
        return self._overviews[key]

    def context(self, task: str, budget: int, focus: list[str] | None) -> str:
        return build_context(self.store(), self.root, task, budget, focus or [], "md").text

    def zoom(self, path: str, symbol: str | None, view: str) -> str:
        store = self.store()
        node = resolve_node(store, path, symbol or None)
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
        node = resolve_node(self.store(), path)
        return render_zoom(self.root, node, "outline")


# --- overview -------------------------------------------------------------------------


# --- the server -----------------------------------------------------------------------


def create_server(root: str, cache: str | Path | None = None, refresh: bool = True) -> MCPServer:
    """An MCP server for the repository at `root`; with `refresh`, bring its pyramid up to date first."""

    root = os.path.realpath(root)
    config = Config.load(root)
    cache_path = service.cache_path(root, config, cache)
    if refresh:
        store = Store(cache_path, root)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout is the protocol channel in stdio mode
                service.refresh(root, store, config)
        finally:
            store.close()
    repo = Repo(root, cache_path)
    server = _Server("cockpit", instructions=INSTRUCTIONS, version=_version(), log_level="WARNING")
    server.repo = repo

    @server.tool(description=DESCRIPTIONS["overview"], annotations=READ_ONLY, structured_output=False)
    def overview(budget: Budget = 2000, ctx: Context | None = None) -> str:
        with _tool_errors():
            return _served(ctx, repo, "overview", repo.overview(budget))

    @server.tool(description=DESCRIPTIONS["context"], annotations=READ_ONLY, structured_output=False)
    def context(
        task: Annotated[str, Field(description="What you are about to do, in words; name known identifiers.")],
        budget: Budget = 4000,
        focus: Annotated[list[str] | None, Field(description="Paths, directories or symbols to pin.")] = None,
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "context", repo.context(task, budget, focus))

    @server.tool(description=DESCRIPTIONS["zoom"], annotations=READ_ONLY, structured_output=False)
    def zoom(
        path: Annotated[str, Field(description="File or directory relative to the repo root, or 'path::Qual.name'.")],
        symbol: Annotated[str | None, Field(description="A symbol in that file, e.g. 'Client.send'.")] = None,
        view: Annotated[View, Field(description="'2'..'64' words, 'outline' or 'source'.")] = "outline",
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "zoom", repo.zoom(path, symbol, view))

    @server.tool(description=DESCRIPTIONS["search"], annotations=READ_ONLY, structured_output=False)
    def search(
        query: Annotated[str, Field(description="A name ('parse_args', 'Client.send'), a path, or words.")],
        limit: Annotated[int, Field(ge=1, le=200, description="Most results to return (1-200).")] = 20,
    ) -> str:
        with _tool_errors():
            return repo.search(query, limit)

    @server.tool(description=DESCRIPTIONS["read"], annotations=READ_ONLY, structured_output=False)
    def read(
        path: Annotated[str, Field(description="File path relative to the repo root.")],
        start: Annotated[int, Field(ge=1, description="First line, 1-based.")] = 1,
        end: Annotated[int | None, Field(ge=1, description="Last line, inclusive (default: 2,000 lines on).")] = None,
        ctx: Context | None = None,
    ) -> str:
        with _tool_errors():
            return _served(ctx, repo, "read", repo.read(path, start, end))

    # {+path} lets the path keep its slashes (and '::' for symbols) unescaped in the URI.
    @server.resource("pyramid://{+path}", name="pyramid node", mime_type="text/markdown",
                     description="A node of the pyramid (file, directory or 'path::Qual.name') at its outline view.")
    def node(path: str, ctx: Context) -> str:
        try:
            return repo.resource(path)
        except (ContextError, CacheError, sqlite3.Error) as exc:
            newer = (ctx.protocol_version or "") > "2025-11-25"
            raise MCPError(code=RESOURCE_NOT_FOUND_SINCE_2026 if newer else RESOURCE_NOT_FOUND, message=str(exc),
                           data={"uri": f"pyramid://{path}"}) from None

    @server.prompt(name="task_context", title="Context for a task",
                   description="Start a task with what matters for it: Cockpit's context within a budget, then the task.")
    def task_context(task: Annotated[str, Field(description="What you are about to do, in words.")],
                     budget: Annotated[str, Field(description="Most tokens of context (50 or more).")] = "4000") -> str:
        if not budget.strip().isdigit() or int(budget) < MIN_BUDGET:  # prompt arguments are strings in MCP
            raise MCPError(code=INVALID_PARAMS, message=f"budget must be a whole number of at least {MIN_BUDGET} tokens")
        try:
            text = _served(None, repo, "context", repo.context(task, int(budget), None))
        except (ContextError, CacheError, sqlite3.Error) as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
        return (f"{text}\n---\nThe context above is the part of the repository that matters for this task "
                f"(zoom or read any `path:start-end` for more).\n\nTask: {task}\n")

    return server


class _Server(MCPServer):
    """The SDK's server, with the repository's top nodes as listed resources beside the template."""

    repo: Repo

    async def list_resources(self) -> list[Resource]:
        try:
            store = self.repo.store()
            top = store.node("")
            nodes = [top, *store.children_of([""]).get("", [])] if top else []
        except (CacheError, sqlite3.Error):
            return []
        return [Resource(uri=f"pyramid://{n['path'] or '.'}", name=n["path"] or "(repository)",
                         description=_short(n), mime_type="text/markdown") for n in nodes]


def _short(node: dict) -> str:
    """The node's 16-word summary, as the listing's description."""
    summaries = node.get("summaries") or []
    summary = summaries[LEVELS.index("16")] if len(summaries) > LEVELS.index("16") else ""
    return summary or f"The outline of {node['path'] or 'the repository'}."


def exit_on_signals() -> None:
    """End the process at once on SIGINT or SIGTERM.

    The stdio transport reads stdin in a worker thread, and the SDK waits for that read to return
    before it exits, so an interrupted server would otherwise linger until its client closes the
    pipe. Nothing is lost: the cache commits each write in a transaction of its own.
    """
    def stop(signum, frame):
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def _served(ctx: Context | None, repo: Repo, tool: str, text: str) -> str:
    """Note the answer in the per-user `served` table (see cockpit.spend.agents; it never fails the answer)."""
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
