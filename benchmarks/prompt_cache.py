"""What prompt caching saves on LLM summaries, per model, with the API's minimum cacheable prefix applied.

Summarizes a repository (default: the standard library's `json` package, copied) with each model
against the twin, which caches a prefix only from the model's minimum on, as the API does, and
prints the prefix plan (`summarizers.llm.prefix_plan`) beside the ledger's figures: calls, input
tokens, cache writes and reads, and the cost against the same run with nothing cached.

    python benchmarks/prompt_cache.py [PATH] [--models a,b,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anthropic  # noqa: E402

from cache.store import Store  # noqa: E402
from cockpit.core.pyramid import build  # noqa: E402
from cockpit.spend.ledger import Ledger, Pricing, spend  # noqa: E402
from cockpit.twin.server import running_twin  # noqa: E402
from summarizers import llm, models, prompts, tokens  # noqa: E402

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-sonnet-4-6", "claude-opus-5")


async def run(root: Path, model: str, url: str) -> dict:
    store = Store(root / ".cockpit" / f"{model}.sqlite", str(root), rebuild=True)
    build(str(root), store, workers=1)
    async with anthropic.AsyncAnthropic(base_url=url, api_key="bench") as client:
        await llm.llm_summarize(str(root), store, client, model, ledger=Ledger(store), concurrency=4)
    total = spend(store)["total"]
    store.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="repository to summarize (default: a copy of stdlib json)")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        source = Path(args.path) if args.path else Path(sysconfig.get_paths()["stdlib"]) / "json"
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", ".cockpit", ".git"))
        pricing = Pricing.load()
        lean = tokens.count(prompts.SYSTEM) + tokens.count(json.dumps(prompts.TOOL))
        print(f"repository: {source}; shared prefix: {lean} tokens lean (tool + instructions), "
              f"{lean + tokens.count(prompts.EXAMPLES)} with the worked examples\n")
        head = ("model", "minimum", "prefix sent", "cached?", "calls", "input", "cache write", "cache read",
                "cost USD", "uncached USD", "saved")
        rows = [head]
        with running_twin() as twin:  # the API's minimums per model
            for model in args.models.split(","):
                blocks, marked = llm.prefix_plan(model)
                sent = lean + (tokens.count(prompts.EXAMPLES) if len(blocks) > 1 else 0)
                total = asyncio.run(run(root, model, twin.url))
                flat = {"input_tokens": total["input_tokens"] + total["cache_write_tokens"]
                        + total["cache_read_tokens"], "output_tokens": total["output_tokens"]}
                uncached = pricing.cost(model, flat)
                cost = total["cost_usd"]
                saved = f"{round(1 - cost / uncached, 2):.0%}" if uncached else "-"
                rows.append((model, f"{models.cache_minimum(model):,}", f"{sent:,}", "yes" if marked else "no",
                             str(total["calls"]), f"{total['input_tokens']:,}", f"{total['cache_write_tokens']:,}",
                             f"{total['cache_read_tokens']:,}", f"{cost:.4f}", f"{uncached:.4f}", saved))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for row in rows:
            print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        print("\nuncached: the same tokens billed as plain input (no cache writes or reads). On a model whose "
              "minimum the prefix cannot reach, padding it to the minimum would cost 0.1 x minimum a request "
              "in reads alone, against the lean prefix sent in full.")


if __name__ == "__main__":
    main()
