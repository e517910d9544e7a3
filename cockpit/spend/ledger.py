"""The ledger of LLM calls: what each call used and cost, and spend queries over it.

Every call writes its row before it goes out (outcome "started") and completes it
after, with the API's own `usage` (the truth about tokens), latency and outcome.
A call that dies with the process stays "started": it may have been billed.

Prices come from `cockpit.spend.pricing` (LiteLLM's data, shipped as `cockpit/spend/pricing.json`,
overridable by the user). A model without a price is recorded with cost NULL, never guessed.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime

from cache.process import process_alive
from cache.store import Store
from cockpit.spend.pricing import Price, Pricing
from summarizers.usage import usage_fields

__all__ = ["Ledger", "Price", "Pricing", "burn", "parse_since", "spend", "totals", "usage_fields"]

OUTCOMES = ("started", "ok", "retried", "failed", "cancelled", "interrupted")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")




class Ledger:
    """Writes the rows of one process's calls into the cache's `ledger` table."""

    def __init__(self, store: Store, pricing: Pricing | None = None):
        self.store = store
        self.pricing = pricing or Pricing.load()

    def start(self, job: str, node_ids: list[str], model: str, batched: bool = False,
              batch_id: str | None = None) -> int:
        return self.store.ledger_insert({
            "job": job, "started_at": time.time(), "node_ids": json.dumps(node_ids), "model": model,
            "batched": int(batched), "batch_id": batch_id, "outcome": "started", "retries": 0, "pid": os.getpid(),
        })

    def settle_interrupted(self) -> int:
        """Rows left "started" by a process that died are "interrupted": the call may have been billed,
        its tokens are unknown; they stay in the ledger, counted once. Returns how many."""
        conn = self.store.db.conn
        rows = conn.execute("SELECT id, pid FROM ledger WHERE outcome = 'started'").fetchall()
        dead = [row_id for row_id, pid in rows if pid is None or not process_alive(pid)]
        with conn:
            conn.executemany("UPDATE ledger SET outcome = 'interrupted', error = 'its process exited mid-call' "
                             "WHERE id = ? AND outcome = 'started'", [[i] for i in dead])
        return len(dead)

    def finish(self, row_id: int, model: str, outcome: str, usage=None, latency_ms: int | None = None,
               retries: int = 0, error: str | None = None, request_id: str | None = None,
               batched: bool = False) -> float | None:
        """Complete a row; returns the call's cost (0 without usage, None when unpriced)."""
        fields = usage_fields(usage) if usage is not None else dict.fromkeys(TOKEN_FIELDS, 0)
        cost = self.pricing.cost(model, fields, batched)
        self.store.ledger_update(row_id, {
            **fields, "ended_at": time.time(), "latency_ms": latency_ms, "retries": retries, "outcome": outcome,
            "error": error, "request_id": request_id, "cost_usd": cost,
        })
        return cost


# --- spend queries ------------------------------------------------------------------


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """'30m', '1h', '7d', '2w', 'today' or 'all' -> the unix time the window starts (None: all time)."""
    now = time.time() if now is None else now
    if not text or text == "all":
        return None
    if text == "today":
        return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip())
    if not match:
        raise ValueError(f"{text!r}: use a duration like 30m, 1h, 7d, or 'today'")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return now - float(match.group(1)) * seconds


def spend(store: Store, since: float | None = None, by: str | None = None) -> dict:
    """Totals of the ledger since a moment, overall and per model or job.

    Returns {"rows": [{"group", "calls", "failed", token fields..., "cost_usd", "unpriced_calls"}], "total": {...}}.
    """
    return totals(store.ledger_rows(since), by)


def totals(rows: list[dict], by: str | None = None) -> dict:
    """`spend` over ledger rows already read."""
    groups: dict[str, dict] = {}
    total = _empty("total")
    for row in rows:
        key = str(row[by]) if by else "total"
        for bucket in ([groups.setdefault(key, _empty(key))] if by else []) + [total]:
            bucket["calls"] += 1
            bucket["failed"] += row["outcome"] in ("failed", "cancelled")
            bucket["unfinished"] += row["outcome"] == "started"
            for name in TOKEN_FIELDS:
                bucket[name] += row[name] or 0
            if row["cost_usd"] is not None:
                bucket["cost_usd"] += row["cost_usd"]
            elif row["outcome"] != "started" and any(row[name] for name in TOKEN_FIELDS):
                bucket["unpriced_calls"] += 1
    return {"rows": sorted(groups.values(), key=lambda g: -g["cost_usd"]), "total": total}


def burn(store: Store, window: float = 3600.0, now: float | None = None) -> dict:
    """The rate of spend over the last `window` seconds: tokens a minute (all kinds), dollars an hour."""
    now = time.time() if now is None else now
    return rate(store.ledger_rows(now - window), window, now)


def rate(rows: list[dict], window: float, now: float) -> dict:
    """`burn` over ledger rows already read (those started before the window are left out)."""
    rows = [row for row in rows if row["started_at"] >= now - window]
    used = sum(row[name] or 0 for row in rows for name in TOKEN_FIELDS)
    dollars = sum(row["cost_usd"] or 0.0 for row in rows)
    return {"tokens_per_minute": used * 60 / window, "usd_per_hour": dollars * 3600 / window, "calls": len(rows)}


def _empty(group: str) -> dict:
    return {"group": group, "calls": 0, "failed": 0, "unfinished": 0, **dict.fromkeys(TOKEN_FIELDS, 0),
            "cost_usd": 0.0, "unpriced_calls": 0}


def per_minute(store: Store, minutes: int = 60, now: float | None = None) -> list[int]:
    """Tokens (all kinds) of the calls started in each of the last `minutes` minutes, oldest first."""
    now = time.time() if now is None else now
    return minute_series(store.ledger_rows(now - minutes * 60), minutes, now)


def minute_series(rows: list[dict], minutes: int, now: float) -> list[int]:
    """`per_minute` over ledger rows already read."""
    start = now - minutes * 60
    series = [0] * minutes
    for row in rows:
        if row["started_at"] < start:
            continue
        slot = min(minutes - 1, int((row["started_at"] - start) // 60))
        series[slot] += sum(row[name] or 0 for name in TOKEN_FIELDS)
    return series
