"""The API's `usage` as flat token counts: what a ledger records of one call."""

from __future__ import annotations


def usage_fields(usage) -> dict:
    """Ledger token fields from the API's `usage` (an SDK object or a dict)."""
    get = usage.get if isinstance(usage, dict) else lambda name: getattr(usage, name, None)
    creation = get("cache_creation")
    if creation is not None and not isinstance(creation, dict):
        creation = creation.model_dump()
    return {
        "input_tokens": get("input_tokens") or 0,
        "output_tokens": get("output_tokens") or 0,
        "cache_write_tokens": get("cache_creation_input_tokens") or 0,
        "cache_write_1h_tokens": (creation or {}).get("ephemeral_1h_input_tokens") or 0,
        "cache_read_tokens": get("cache_read_input_tokens") or 0,
    }
