"""The LLM summarizer against the Anthropic twin: calls, tokens, cost, caching, throughput.

    python benchmarks/llm.py [--latency-ms 50] [--concurrency 8]

Targets: this repository and the standard library's `json`, `email` and `asyncio`
packages, each copied to a temporary directory. For each: a structural build, then
a full LLM run through the real SDK against a twin that delays every answer by
--latency-ms, a re-run with nothing changed, and a run after one edit (a function
added at the end of the deepest file). Targets: input tokens (billed input, cache
writes and reads) at most 1.3x the source's own tokens, no call on the re-run, at
most depth + 2 calls after the edit, at least 20 calls/s.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cache.store import Store
from cockpit.core.pyramid import build
from cockpit.spend.ledger import Ledger
from cockpit.twin.server import running_twin
from summarizers import llm

EDIT = '\n\ndef benchmark_marker():\n    """Added by the LLM benchmark: one edit."""\n    return 42\n'


def copy_target(name: str, into: Path) -> Path:
    target = into / name
    if name == "cockpit":
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(".venv", ".git", ".cockpit", "__pycache__",
                                                                     "*.egg-info", ".pytest_cache"))
    else:
        shutil.copytree(Path(sysconfig.get_paths()["stdlib"]) / name, target,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return target


def edit_target(store: Store) -> tuple[str, int]:
    """The deepest Python file (smallest among those): the edit with the longest way up."""
    files = [n for n in store.nodes(("file",)) if n["path"].endswith(".py")]
    deepest = min(files, key=lambda n: (-n["path"].count("/"), n["tokens"][7] or 0, n["path"]))
    return deepest["path"], deepest["path"].count("/")


def run(name: str, into: Path, url: str, concurrency: int) -> dict:
    root = copy_target(name, into)
    store = Store(root / ".cockpit" / "cache.sqlite", str(root))
    build(str(root), store, workers=1)
    first = llm.summarize(str(root), store, Ledger(store), concurrency=concurrency, api_key="bench", base_url=url)
    again = llm.summarize(str(root), store, Ledger(store), concurrency=concurrency, api_key="bench", base_url=url)
    path, depth = edit_target(store)
    with open(root / path, "a") as fh:
        fh.write(EDIT)
    build(str(root), store, workers=1)
    edited = llm.summarize(str(root), store, Ledger(store), concurrency=concurrency, api_key="bench", base_url=url)
    repo = store.node("")
    row = {
        "target": name, "files": len(store.nodes(("file",))), "nodes": len(store.nodes()),
        "calls": first.calls, "input": first.input_tokens + first.cache_write_tokens + first.cache_read_tokens,
        "cached": first.cache_read_tokens, "source": repo["tokens"][7], "output": first.output_tokens,
        "cost": first.cost_usd, "seconds": first.seconds, "rerun": again.calls, "edit": edited.calls,
        "bound": depth + 2, "fallback": len(first.fallback),
    }
    store.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=llm.DEFAULT_CONCURRENCY)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_twin(latency_ms=args.latency_ms) as twin:
        for name in ("cockpit", "json", "email", "asyncio"):
            started = time.perf_counter()
            rows.append(run(name, Path(tmp), twin.url, args.concurrency))
            print(f"  {name}: done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print(f"LLM summaries on the twin ({args.latency_ms} ms latency, concurrency {args.concurrency}, "
          f"model {llm.DEFAULT_MODEL})\n")
    head = ("target", "files", "nodes", "calls", "input tok", "of which cached", "source tok", "input/source",
            "output tok", "cost USD", "seconds", "calls/s", "re-run calls", "edit calls (<= depth+2)")
    table = [head]
    for r in rows:
        table.append((r["target"], str(r["files"]), str(r["nodes"]), str(r["calls"]), f"{r['input']:,}",
                      f"{r['cached']:,}", f"{r['source']:,}", f"{r['input'] / r['source']:.3f}x", f"{r['output']:,}",
                      f"{r['cost']:.4f}", f"{r['seconds']:.2f}", f"{r['calls'] / r['seconds']:.0f}", str(r["rerun"]),
                      f"{r['edit']} (<= {r['bound']})"))
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    for line in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    failed = sum(r["fallback"] for r in rows)
    print(f"\nnodes left extractive after errors: {failed}")


if __name__ == "__main__":
    main()
