"""Prompts of the LLM summarizer, and their versions.

The instructions (SYSTEM, and EXAMPLES where they pay) go in the system blocks shared by
every request, after the answer's shape (TOOL); a request's user message is a header line
and `<node id="...">` blocks.
A prompt's version is part of every cached summary's key, so editing a prompt
re-summarizes exactly what it touches: COMMON everything, a kind's rules or
header that kind ("file": files and symbols; "dir": directories and the repo).
"""

from __future__ import annotations

import hashlib
import html
import json

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
# The answer's shape, as a tool the request forces the model to call: the API then returns the JSON
# itself, so a model cannot wrap it in prose. Shared by every request, so part of the cached prefix.
TOOL_NAME = "record_summaries"
TOOL = {
    "name": TOOL_NAME,
    "description": "Record the six summaries of every node block in the request.",
    "input_schema": {
        "type": "object",
        "properties": {"nodes": {
            "type": "object",
            "description": "One entry per block id, exactly as given.",
            "additionalProperties": {
                "type": "object",
                "properties": {str(b): {"type": "string", "description": f"at most {b} words"} for b in BUDGETS},
                "required": [str(b) for b in BUDGETS],
            },
        }},
        "required": ["nodes"],
    },
}
# Worked examples, sent after the instructions where they make the shared prefix long enough for the
# model to cache it (summarizers.models.CACHE_MINIMUMS) and caching it pays; see `llm.prefix_plan`.
_FETCH = '''def fetch(self, city: str, days: int = 3) -> list[Forecast]:
    """Forecasts for `city`, cached for ten minutes."""
    key = (city.lower(), days)
    if key in self._cache and time.monotonic() - self._cache[key][0] < 600:
        return self._cache[key][1]
    reply = self._session.get(f"{self.base}/forecast", params={"q": city, "days": days}, timeout=5)
    reply.raise_for_status()
    found = [Forecast.from_json(item) for item in reply.json()["list"]]
    self._cache[key] = (time.monotonic(), found)
    return found'''
_EXAMPLES = [  # (request, answer): one file request with a symbol, one directory request
    ("File weather/client.py\n"
     f'<node id="::ForecastClient.fetch">\n{_FETCH}\n</node>\n'
     '<node id="weather/client.py">\ndoc: HTTP client for the forecast service.\n'
     "imports: time, requests, weather.models.Forecast\ndefines: class ForecastClient, function default_client\n"
     "</node>",
     {"::ForecastClient.fetch": [
         "cached forecasts",
         "fetch forecasts, cached briefly",
         "Fetches city forecasts over HTTP, cached ten minutes",
         "Fetches a city's multi-day forecasts from the service's /forecast endpoint, caching each answer ten minutes",
         "Returns Forecast objects for a city and day count: a cached answer under ten minutes old, else "
         "GET /forecast with a five-second timeout, raising on HTTP errors, caching the parsed list.",
         "Returns Forecast objects for a city and day count. A cache keyed by lowercased city and days answers "
         "repeats within ten minutes without a request; otherwise it calls GET {base}/forecast with q and days, a "
         "five-second timeout, raises on an HTTP error status, parses each item of the reply's list with "
         "Forecast.from_json, caches the result with the time and returns it."],
      "weather/client.py": [
         "forecast client",
         "HTTP forecast service client",
         "Client for the forecast service, briefly caching answers",
         "HTTP client for the forecast service: ForecastClient fetches forecasts per city, with a ten-minute cache",
         "The forecast service's HTTP client. ForecastClient wraps a requests session, fetches multi-day forecasts "
         "per city and caches them ten minutes; default_client builds one from the environment.",
         "The forecast service's HTTP client, built on requests. ForecastClient holds a session and the service's "
         "base URL; its fetch method returns parsed Forecast objects for a city and a number of days, with a "
         "ten-minute in-memory cache and a five-second timeout, raising on HTTP errors. default_client builds a "
         "client from the environment's settings. Code that needs forecasts goes through this module."]}),
    ("Directory weather with 3 parts:\n"
     "- client.py (file): HTTP client for the forecast service: ForecastClient fetches forecasts per city, with a "
     "ten-minute cache\n"
     "- models.py (file): Forecast and Reading dataclasses parsed from the service's JSON, with unit conversion\n"
     "- cli.py (file): Command line that prints a city's forecast as a table, in Celsius or Fahrenheit",
     {"weather": [
         "weather forecasts",
         "forecast client and CLI",
         "Fetches, models and prints weather forecasts per city",
         "The weather package: HTTP client for the forecast service, its data models, a command line",
         "The weather package: a cached HTTP client for the forecast service, dataclasses parsed from its JSON "
         "with unit conversion, and a command line printing a city's forecast as a table.",
         "The weather package, which turns the forecast service into Python objects and a command line: "
         "client.py fetches multi-day forecasts per city over HTTP with a ten-minute cache, models.py parses the "
         "service's JSON into Forecast and Reading dataclasses with Celsius and Fahrenheit conversion, and cli.py "
         "prints a city's forecast as a table. Start at client.py for the service, models.py for the data."]}),
]
EXAMPLES = "Examples of requests and the answers they call for.\n\n" + "\n\n".join(
    f"Request:\n{request}\nAnswer:\n"
    + json.dumps({"nodes": {node: dict(zip(map(str, BUDGETS), rungs)) for node, rungs in answer.items()}})
    for request, answer in _EXAMPLES)
HEADERS = {"file": "File {path}", "dir": "{kind} {path}"}


def version(kind: str) -> str:
    """The version of the prompt for `kind` ("file" covers files and symbols, "dir" directories and the repo)."""
    text = COMMON + "\0" + KIND_RULES[kind] + "\0" + HEADERS[kind] + "\0" + repr(TOOL) + "\0" + EXAMPLES
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
