"""What a request may ask of a model: the shortest prefix it caches, and whether it takes a forced tool.

Facts of the API, not choices of ours: the summarizer lays out its requests by them, and the twin
applies the same rules, so that what a test sees of caching is what the API would bill.
"""

from __future__ import annotations

import re

# The shortest prefix (tools, system, messages up to a `cache_control` mark) each model caches, in
# tokens; a shorter one is billed in full, without an error. Most specific prefix first.
CACHE_MINIMUMS = (
    ("claude-opus-5", 512),  # Opus 5 and 5.5
    ("claude-fable-5", 512),
    ("claude-mythos-5", 512),
    ("claude-sonnet-5", 1024),
    ("claude-haiku-5", 1024),
    ("claude-opus-4-8", 1024),
    ("claude-opus-4-7", 2048),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
    ("claude-haiku-3", 2048),
)
DEFAULT_CACHE_MINIMUM = 1024  # Sonnet 4.5 and 4, Opus 4.1 and 4, Sonnet 3.7, and what we do not know
# Models that answer a forced tool (`tool_choice` "any" or "tool") with a 400: thinking is always on.
NO_FORCED_TOOL = ("claude-opus-5-5", "claude-fable-5-1", "claude-sonnet-5-5")
FORCED_TOOL_REFUSED = "tool_choice forces tool use, which this model does not support; use tool_choice auto or none"
FORCED_TOOL_WITH_THINKING = "Thinking may not be enabled when tool_choice forces tool use."


def _base(model: str) -> str:
    return re.sub(r"-\d{8}$", "", model)


def cache_minimum(model: str) -> int:
    """The fewest tokens a cached prefix of `model` must hold."""
    base = _base(model)
    for prefix, minimum in CACHE_MINIMUMS:
        if base == prefix or base.startswith(prefix + "-"):
            return minimum
    return DEFAULT_CACHE_MINIMUM


def caches(model: str, prefix_tokens: int) -> bool:
    """Whether the API caches a prefix this long for `model`."""
    return prefix_tokens >= cache_minimum(model)


def takes_forced_tool(model: str) -> bool:
    """Whether `model` accepts a `tool_choice` that forces a tool call."""
    return _base(model) not in NO_FORCED_TOOL


def refuses_forced_tool(error_message: str) -> bool:
    """Whether an API error says the request's forced tool choice is what it refused."""
    return "tool_choice" in error_message and "force" in error_message


def forced(tool_name: str) -> dict:
    return {"type": "tool", "name": tool_name}


def tool_input(message, tool_name: str) -> dict | None:
    """The input of the answer's call to `tool_name`, where it made one."""
    for block in message.content or []:
        if getattr(block, "type", "") == "tool_use" and getattr(block, "name", "") == tool_name:
            return block.input if isinstance(block.input, dict) else None
    return None


def answer_text(message) -> str:
    return "".join(getattr(block, "text", "") for block in message.content or []
                   if getattr(block, "type", "") == "text")
