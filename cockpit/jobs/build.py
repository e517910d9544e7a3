"""A summary build as a job: what `cockpit jobs resume` and the app's `r` run for a stopped build."""

from __future__ import annotations

from cockpit.core import integrity
from cockpit.core.config import Config
from cockpit.jobs.runner import Job
from cockpit.service import refresh
from cockpit.spend.ledger import Ledger


def run_summarize_job(job: Job) -> dict:
    """Build (and with `llm`, summarize with Claude) as the job's inputs say. Files written by the
    stopped run are kept (their hashes match), so it goes on from its last batch."""
    inputs = job.inputs
    root = inputs["root"]
    store = job.jobs.store
    config = Config.load(root)
    repaired = integrity.check(store, root).repair(store)
    if repaired:
        job.log(repaired)
    stats = refresh(root, store, config, subpath=inputs.get("subpath", ""), job=job)
    outputs = {"files": stats.files_total, "parsed": stats.files_parsed, "skipped": stats.skipped,
               "seconds": round(stats.seconds, 3)}
    if inputs.get("llm"):
        from summarizers import llm

        model = inputs.get("model") or config.model or llm.DEFAULT_MODEL
        cap = config.max_cost if inputs.get("max_cost") is None else inputs["max_cost"]
        llm_stats = llm.summarize(root, store, Ledger(store), model=model, max_cost=cap,
                                  subpath=inputs.get("subpath", ""), job=job.ledger_job,
                                  retry_failed=inputs.get("retry_failed", False),
                                  retry_failed_after=config.retry_failed_after * 86400)
        outputs["llm"] = llm_stats.describe()
    return outputs
