"""Does the context find the files a task changes? Scores Cockpit against two baselines.

    python benchmarks/localization.py --cases ../shared/eval/dev-localization.jsonl \
        --git pallets/click=GITDIR --git encode/httpx=GITDIR --git sphinx-doc/sphinx=GITDIR \
        [--budgets 1000 4000 16000] [--work DIR] [--only REPO] [--limit N] [--out FILE]

For every case the parent tree is exported once into --work (nothing of the evaluation
repositories goes near this project), its pyramid is built with a cache beside the tree,
and three contexts are made at each budget:

- cockpit: `build_context(store, tree, query, budget, fmt=...)`, as JSON and as Markdown;
- bm25:    files ranked by Okapi BM25 over their full text (words split on
           non-alphanumerics, camelCase and snake_case, lowercased), listed in rank
           order with their source while it fits, else by path alone;
- graph:   files ranked by plain PageRank over the reference graph (the query is
           ignored), listed the same way with the file's outline instead of source.

- chunks:  the code-search baseline: functions, methods, class heads and each module's
           remainder as chunks, ranked by BM25 over their path's words, their identifiers
           (split on `_` and case) and words, and added in rank order while they fit.

Recall per case is |gold found| / |gold|, two ways: *present* (the path is in the output
at all) and *outline-or-source* (the file at outline or source view, or for Cockpit one of
its symbols at source or excerpt view). Rankers also get recall at the top 1, 3 and 10 files.

*Changed lines shown as source* asks whether the context shows the code the fix changed:
the parent-side hunks of `git diff -U0 PARENT COMMIT -- GOLD` (a pure insertion counts the
line before and after it), and the share of them that lie inside one block shown as source
(the file, a symbol, an excerpt with its line range, a chunk). An *inversion* is a case where
a bigger budget shows less of the gold (fewer changed lines, or fewer gold files shown).
Context times are warm (one untimed build_context per tree first).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cache.store import Store  # noqa: E402
from cockpit.core.context import build_context, rank_files  # noqa: E402
from cockpit.core.graph import file_graph, pagerank  # noqa: E402
from cockpit.core.pyramid import build  # noqa: E402
from summarizers import tokens  # noqa: E402

METHODS = ("cockpit-json", "cockpit-md", "chunks", "bm25", "graph")  # contexts
RANKERS = {"cockpit": "cockpit-json", "chunks": "chunks", "bm25": "bm25", "graph": "graph"}  # cockpit's ranking is the same in both formats
TOPS = (1, 3, 10)
SHOWN = ("outline", "excerpt", "source")


# --- trees -------------------------------------------------------------------------------


def export_tree(git_dir: str, commit: str, dest: Path) -> Path:
    """The commit's tree under `dest`, exported once (git archive: no .git, no later history)."""
    if dest.is_dir():
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
    partial.rename(dest)
    return dest


# --- BM25 baseline -----------------------------------------------------------------------

_ALNUM = re.compile(r"[A-Za-z0-9]+")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(text: str) -> list[str]:
    """Lowercased words: each alphanumeric run, split into its camelCase parts (snake_case splits on `_`)."""
    out = []
    for run in _ALNUM.findall(text):
        parts = _PARTS.findall(run)
        out += [p.lower() for p in parts]
        if len(parts) > 1:
            out.append(run.lower())
    return out


class BM25:
    def __init__(self, docs: dict[str, str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.tf = {path: collections.Counter(words(text)) for path, text in docs.items()}
        self.length = {path: sum(c.values()) for path, c in self.tf.items()}
        self.avg = (sum(self.length.values()) / len(self.length)) if self.length else 1.0
        df = collections.Counter(w for c in self.tf.values() for w in c)
        n = len(self.tf)
        self.idf = {w: math.log(1 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}

    def scores(self, query: str) -> dict[str, float]:
        terms = [t for t in dict.fromkeys(words(query)) if t in self.idf]
        out = {}
        for path, tf in self.tf.items():
            norm = self.k1 * (1 - self.b + self.b * self.length[path] / self.avg)
            out[path] = sum(self.idf[t] * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in terms if t in tf)
        return out


def read_text(tree: Path, path: str) -> str:
    with open(tree / path, "rb") as fh:
        return fh.read().decode("utf-8", errors="replace")


# --- a baseline's context: files in rank order, body while it fits, else the path -------


def listing(task: str, budget: int, ranked: list[str], body, body_view: str) -> tuple[str, int, dict[str, str]]:
    """(text, exact tokens, path -> view) for a ranked file list; `body(path)` gives (text, est. tokens)."""
    header = f"# Context for: {task}\n"
    blocks: list[tuple[str, str, str, int]] = []  # (path, view, block, tokens)
    used = tokens.count(header)
    for path in ranked:
        left = budget - used
        if left <= 0:
            break
        text, estimate = body(path)
        if estimate is not None and estimate + 8 <= left:
            block = f"\n## {path} ({body_view})\n```\n{text}\n```\n"
            cost = tokens.count(block)
            if cost <= left:
                blocks.append((path, body_view, block, cost))
                used += cost
                continue
        block = f"- {path}\n"
        cost = tokens.count(block)
        if cost <= left:
            blocks.append((path, "path", block, cost))
            used += cost
    while True:  # block counts add up almost exactly; the exact count of the whole decides
        text = header + "".join(b[2] for b in blocks)
        exact = tokens.count(text)
        if exact <= budget or not blocks:
            return text, exact, {b[0]: b[1] for b in blocks}
        blocks.pop()



# --- what the fix changed ------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.M)


def changed_hunks(git_dir: str, parent: str, commit: str, path: str) -> list[tuple[int, int]]:
    """Parent-side line ranges of the fix's hunks in one file; a pure insertion after line a is (a, a+1)."""
    diff = subprocess.run(["git", "--git-dir", git_dir, "diff", "-U0", parent, commit, "--", path],
                          check=True, capture_output=True, text=True, errors="replace").stdout
    hunks = []
    for start, count in _HUNK.findall(diff):
        start, count = int(start), 1 if count == "" else int(count)
        hunks.append((start, start + count - 1) if count else (max(1, start), start + 1))
    return hunks


def changed_shown(hunks: dict[str, list[tuple[int, int]]], blocks: dict[str, list]) -> float:
    """Share of the hunks that lie inside one block shown as source; a block is (first, last) or a set of lines."""
    total = sum(len(h) for h in hunks.values())
    if not total:
        return float("nan")
    inside = 0
    for path, ranges in hunks.items():
        for lo, hi in ranges:
            for block in blocks.get(path, ()):
                if isinstance(block, tuple):
                    if block[0] <= lo and hi <= block[1]:
                        break
                elif all(n in block for n in range(lo, hi + 1)):
                    break
            else:
                continue
            inside += 1
    return inside / total


def cockpit_blocks(ctx) -> dict[str, list]:
    """Line ranges Cockpit shows as source: files and symbols at source, excerpts with their lines."""
    out: dict[str, list] = {}
    for item in ctx.items:
        node = item.node
        if node["kind"] in ("dir", "repo") or not node["start_line"]:
            continue
        lines = getattr(item, "lines_shown", None)
        if item.view == "source":
            out.setdefault(node["path"], []).append((node["start_line"], node["end_line"]))
        elif lines:
            out.setdefault(node["path"], []).append(tuple(lines))
    return out


# --- chunk baseline: code-search style BM25 over function-sized chunks ----------------------


def chunks_of(store: Store, tree: Path, paths: list[str]) -> list[tuple[str, object, str]]:
    """(path, lines, text) per chunk: each function and method, each class's head, each module's remainder."""
    spans: dict[str, list[tuple[int, int, str, str]]] = {}
    for row in store.db.conn.execute(
            "SELECT path, id, parent, kind, start_line, end_line FROM nodes WHERE kind NOT IN ('dir', 'repo', 'file')"):
        spans.setdefault(row[0], []).append(row[1:])
    out = []
    for path in paths:
        try:
            lines = read_text(tree, path).split("\n")
        except OSError:
            continue
        covered: set[int] = set()
        symbols = spans.get(path, [])
        firsts = {}
        for node_id, parent, kind, start, end in symbols:
            if parent != path and parent in {s[0] for s in symbols}:
                firsts[parent] = min(firsts.get(parent, 10**9), start)
        for node_id, parent, kind, start, end in sorted(symbols, key=lambda s: s[3]):
            if kind == "class":
                end = min(end, firsts.get(node_id, end + 1) - 1)
            elif kind not in ("function", "method"):
                continue
            span = set(range(start, end + 1)) - covered
            if not span:
                continue
            covered |= span
            lo, hi = min(span), max(span)
            out.append((path, (lo, hi), "\n".join(lines[lo - 1:hi])))
        rest = sorted(set(range(1, len(lines) + 1)) - covered)
        if rest and any(lines[n - 1].strip() for n in rest):
            out.append((path, set(rest), "\n".join(lines[n - 1] for n in rest)))
    return out


def chunk_context(task: str, budget: int, chunks, scores: dict[int, float]) -> tuple[str, int, dict, dict]:
    """Chunks in rank order while they fit: (text, tokens, path -> view, path -> blocks)."""
    header = f"# Context for: {task}\n"
    used = tokens.count(header)
    picked = []
    for n in sorted((n for n in scores if scores[n] > 0), key=lambda n: (-scores[n], n)):
        path, lines, text = chunks[n]
        span = f"{lines[0]}-{lines[1]}" if isinstance(lines, tuple) else "rest"
        block = f"\n## {path}:{span}\n```\n{text}\n```\n"
        cost = tokens.count(block)
        if used + cost <= budget:
            picked.append((path, lines, block))
            used += cost
        if budget - used < 20:
            break
    while True:
        text = header + "".join(p[2] for p in picked)
        exact = tokens.count(text)
        if exact <= budget or not picked:
            break
        picked.pop()
    blocks: dict[str, list] = {}
    for path, lines, _ in picked:
        blocks.setdefault(path, []).append(lines)
    return text, exact, {p: "source" for p in blocks}, blocks

# --- scoring ------------------------------------------------------------------------------


def recall(gold: list[str], found) -> float:
    return sum(1 for g in gold if g in found) / len(gold)


def top_recall(gold: list[str], ranked: list[str]) -> dict[str, float]:
    return {f"top{k}": recall(gold, set(ranked[:k])) for k in TOPS}


def ranked_paths(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda p: (-scores[p], p))


def run_case(case: dict, git_dir: str, work: Path, budgets: list[int]) -> dict:
    slug = case["repo"].replace("/", "+") + "-" + case["parent"][:12]
    tree = export_tree(git_dir, case["parent"], work / "trees" / slug)
    (work / "cache").mkdir(parents=True, exist_ok=True)
    store = Store(work / "cache" / f"{slug}.sqlite", str(tree))
    started = time.perf_counter()
    stats = build(str(tree), store)
    build_seconds = time.perf_counter() - started
    gold, query = case["gold"], case["query"]
    result = {"repo": case["repo"], "commit": case["commit"], "parent": case["parent"], "query": query, "gold": gold,
              "files": stats.files_total, "build_seconds": round(build_seconds, 2), "methods": {}}
    generation = store.generation()

    # Rankings: Cockpit's own (this also warms its reference graph), BM25, plain PageRank.
    started = time.perf_counter()
    scores, _ = rank_files(store, query, [])
    rank_seconds = time.perf_counter() - started
    file_nodes = {n["path"]: n for n in store.nodes(("file",))}
    paths = sorted(file_nodes)
    started = time.perf_counter()
    bm25 = BM25({p: read_text(tree, p) for p in paths})
    bm25_index_seconds = time.perf_counter() - started
    chunks = chunks_of(store, tree, paths)
    chunk_scores = BM25({n: f"{c[0]} {c[2]}" for n, c in enumerate(chunks)}).scores(query)
    best_chunk: dict[str, float] = {}
    for n, score in chunk_scores.items():
        best_chunk[chunks[n][0]] = max(best_chunk.get(chunks[n][0], 0.0), score)
    hunks = {g: changed_hunks(git_dir, case["parent"], case["commit"], g) for g in gold}
    result["hunks"] = sum(len(h) for h in hunks.values())
    rankings = {
        "chunks": ranked_paths({p: best_chunk.get(p, 0.0) for p in paths}),
        "cockpit-json": ranked_paths(scores),
        "cockpit-md": ranked_paths(scores),
        "bm25": ranked_paths(bm25.scores(query)),
        "graph": ranked_paths(pagerank(file_graph(store), None)),
    }
    bodies = {
        "bm25": (lambda p: (read_text(tree, p), file_nodes[p]["tokens"][7]), "source"),
        "graph": (lambda p: (file_nodes[p]["outline"], file_nodes[p]["tokens"][6]), "outline"),
    }
    build_context(store, str(tree), query, min(budgets), fmt="json")  # untimed: warms the per-generation memos
    for method in METHODS:
        ranked = rankings[method]
        entry = {"rank": {g: (ranked.index(g) + 1 if g in ranked else None) for g in gold},
                 "top3_paths": ranked[:3], **top_recall(gold, ranked), "budgets": {}}
        if method.startswith("cockpit"):
            entry["rank_seconds"] = round(rank_seconds, 4)
        if method == "bm25":
            entry["index_seconds"] = round(bm25_index_seconds, 2)
        for budget in budgets:
            started = time.perf_counter()
            if method.startswith("cockpit"):
                ctx = build_context(store, str(tree), query, budget, fmt=method.split("-")[1])
                seconds = time.perf_counter() - started
                text, used = ctx.text, ctx.used
                present = {i.node["path"] for i in ctx.items}
                shown = {i.node["path"] for i in ctx.items if i.view in SHOWN and (
                    i.node["kind"] == "file" or (i.node["kind"] not in ("dir", "repo") and i.view in ("excerpt", "source")))}
                views = {g: sorted({f"{i.node['kind']}:{i.view}" for i in ctx.items if i.node["path"] == g})
                         for g in gold}
                missing_in_text = [g for g in gold if g in present and g not in text]
                blocks = cockpit_blocks(ctx)
            elif method == "chunks":
                text, used, shown_views, blocks = chunk_context(query, budget, chunks, chunk_scores)
                seconds = time.perf_counter() - started
                present = shown = set(shown_views)
                views = {g: shown_views.get(g) for g in gold}
                missing_in_text = []
            else:
                body, view = bodies[method]
                text, used, shown_views = listing(query, budget, ranked, body, view)
                seconds = time.perf_counter() - started
                present = set(shown_views)
                shown = {p for p, v in shown_views.items() if v in SHOWN}
                views = {g: shown_views.get(g) for g in gold}
                missing_in_text = []
                blocks = {p: [(1, 10**9)] for p, v in shown_views.items() if v == "source"}
            entry["budgets"][str(budget)] = {
                "present": recall(gold, present), "shown": recall(gold, shown), "used": used,
                "changed": changed_shown(hunks, blocks),
                "over": used > budget, "seconds": round(seconds, 4), "gold_views": views,
                "items": len(present), "missing_in_text": missing_in_text,
            }
        result["methods"][method] = entry
    result["rebuilt_during_requests"] = store.generation() != generation
    store.close()
    return result


# --- report ------------------------------------------------------------------------------


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def nanmean(values) -> float:
    return mean(v for v in values if v == v)


def inverted(by_budget: dict, budgets: list[int]) -> bool:
    for small, big in zip(budgets, budgets[1:]):
        a, b = by_budget[str(small)], by_budget[str(big)]
        if b["shown"] < a["shown"] or (b["changed"] < a["changed"] - 1e-9):
            return True
    return False


def report(results: list[dict], budgets: list[int]) -> str:
    repos = sorted({r["repo"] for r in results}, key=lambda r: [x["repo"] for x in results].index(r))
    groups = [(r.split("/")[-1], [x for x in results if x["repo"] == r]) for r in repos] + [("all", results)]
    lines = []
    head = f"{'method':12} {'budget':>6} | " + " | ".join(f"{name:>6} n={len(rs):<3} pres   o/s" for name, rs in groups)
    lines += ["Recall in the context (pres = path present, o/s = outline-or-source view)", head, "-" * len(head)]
    for method in METHODS:
        for budget in budgets:
            cells = []
            for _, rs in groups:
                b = [r["methods"][method]["budgets"][str(budget)] for r in rs]
                cells.append(f"{'':12} {mean(x['present'] for x in b):.2f}  {mean(x['shown'] for x in b):.2f}")
            lines.append(f"{method:12} {budget:>6} | " + " | ".join(cells))
    lines += ["", "Changed lines shown as source (share of the fix's parent-side hunks inside a block shown as source)"]
    head = f"{'method':12} | " + " | ".join(f"{b:>5}" for b in budgets) + " |  per repository at " + \
        "/".join(str(b // 1000) + "k" for b in budgets)
    lines += [head, "-" * len(head)]
    for method in METHODS[:3]:
        cells = [f"{nanmean(r['methods'][method]['budgets'][str(b)]['changed'] for r in results):5.2f}" for b in budgets]
        per = "  ".join(name + " " + "/".join(f"{nanmean(r['methods'][method]['budgets'][str(b)]['changed'] for r in rs):.2f}"
                                             for b in budgets) for name, rs in groups[:-1])
        lines.append(f"{method:12} | " + " | ".join(cells) + " |  " + per)
    lines += ["", "Inversions (cases where a bigger budget shows fewer changed lines or fewer gold files as source)"]
    for method in METHODS[:3]:
        bad = [r["commit"][:10] for r in results if inverted(r["methods"][method]["budgets"], budgets)]
        lines.append(f"{method:12} {len(bad)}/{len(results)}" + (f"  {' '.join(bad[:8])}" if bad else ""))
    lines += ["", "Ranking recall at top-1 / top-3 / top-10 files"]
    head = f"{'ranking':12} | " + " | ".join(f"{name:>6}  t1   t3   t10" for name, _ in groups)
    lines += [head, "-" * len(head)]
    for name, method in RANKERS.items():
        cells = []
        for _, rs in groups:
            m = [r["methods"][method] for r in rs]
            cells.append(f"{'':6} " + " ".join(f"{mean(x[f'top{k}'] for x in m):.2f}" for k in TOPS))
        lines.append(f"{name:12} | " + " | ".join(cells))
    lines += ["", "Budget violations and median context time (cockpit = build_context; baselines = fitting only, "
              "ranking and BM25 index not included)"]
    for method in METHODS:
        cells = []
        for budget in budgets:
            b = [r["methods"][method]["budgets"][str(budget)] for r in results]
            cells.append(f"{budget}: over {sum(x['over'] for x in b)}/{len(b)}, "
                         f"median {1000 * statistics.median(x['seconds'] for x in b):.0f} ms")
        lines.append(f"{method:12} " + "; ".join(cells))
    rebuilt = sum(r["rebuilt_during_requests"] for r in results)
    lines.append(f"cache generation moved during requests: {rebuilt} case(s)")
    return "\n".join(lines)


def worst(results: list[dict], repo: str, budget: int, n: int, method: str = "cockpit-json") -> str:
    rs = [r for r in results if r["repo"] == repo]

    def key(r):
        m = r["methods"][method]
        ranks = [x or 10**6 for x in m["rank"].values()]
        return (m["budgets"][str(budget)]["shown"], m["budgets"][str(budget)]["present"], -min(ranks))

    out = [f"Worst {repo} cases for {method} at {budget} (by outline-or-source, then present, then best gold rank)"]
    for r in sorted(rs, key=key)[:n]:
        m = r["methods"][method]
        b = m["budgets"][str(budget)]
        out.append(f"- {r['commit'][:10]} \"{r['query']}\"\n    gold {m['rank']} (rank in cockpit ranking; "
                   f"bm25 {r['methods']['bm25']['rank']}) views {b['gold_views']} pres {b['present']:.2f} "
                   f"o/s {b['shown']:.2f}\n    cockpit top-3 {m['top3_paths']}")
    return "\n".join(out)


def product_version() -> str:
    """HEAD plus a hash of the uncommitted diff: what code produced these numbers."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD"], capture_output=True).stdout
    except OSError:
        return "unknown"
    return head + (f"+dirty:{hashlib.sha1(diff).hexdigest()[:8]}" if diff else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", required=True, help="dev-localization.jsonl")
    parser.add_argument("--git", action="append", default=[], metavar="OWNER/NAME=GITDIR",
                        help="a full-history git directory for a repository of the set (repeat)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    default_work = os.path.join(tempfile.gettempdir(), "cockpit-localization")
    parser.add_argument("--work", default=default_work, help=f"where exported trees and caches go (default {default_work})")
    parser.add_argument("--only", action="append", help="run only this repository (repeatable)")
    parser.add_argument("--limit", type=int, help="at most N cases per repository")
    parser.add_argument("--out", help="write per-case results as JSON here")
    parser.add_argument("--worst", type=int, default=5, help="list the N worst sphinx cases at 4000")
    args = parser.parse_args()

    git_dirs = dict(entry.split("=", 1) for entry in args.git)
    work = Path(args.work)
    if work.resolve().is_relative_to(REPO):
        parser.error("--work must be outside the project")
    cases = [json.loads(line) for line in open(args.cases) if line.strip()]
    if args.only:
        cases = [c for c in cases if c["repo"] in args.only]
    if args.limit:
        seen = collections.Counter()
        cases = [c for c in cases if (seen.update([c["repo"]]) or seen[c["repo"]]) <= args.limit]
    missing = sorted({c["repo"] for c in cases} - set(git_dirs))
    if missing:
        parser.error(f"no --git for {', '.join(missing)}")

    version = product_version()
    results, started = [], time.perf_counter()
    for n, case in enumerate(cases, 1):
        r = run_case(case, git_dirs[case["repo"]], work, args.budgets)
        results.append(r)
        c, md = r["methods"]["cockpit-json"], r["methods"]["cockpit-md"]
        mid = str(args.budgets[len(args.budgets) // 2])
        print(f"[{n}/{len(cases)} {time.perf_counter() - started:.0f}s] {case['repo']} {case['commit'][:10]} "
              f"build {r['build_seconds']:.1f}s  cockpit o/s@{mid} json {c['budgets'][mid]['shown']:.2f} "
              f"md {md['budgets'][mid]['shown']:.2f} changed md {md['budgets'][mid]['changed']:.2f} "
              f"top3 {c['top3']:.2f}  bm25 top3 {r['methods']['bm25']['top3']:.2f}", file=sys.stderr, flush=True)
    if product_version() != version:  # someone changed the product mid-run: the numbers mix versions
        version += f" (loaded at start; the working tree is now {product_version()})"
    print(f"Cockpit {version}; {len(results)} cases; {time.perf_counter() - started:.0f} s in all\n")
    print(report(results, args.budgets))
    budget = 4000 if 4000 in args.budgets else args.budgets[len(args.budgets) // 2]
    for repo in sorted({r["repo"] for r in results}):
        if "sphinx" in repo:
            for method in ("cockpit-json", "cockpit-md"):
                print("\n" + worst(results, repo, budget, args.worst, method))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"version": version, "budgets": args.budgets, "cases": results}, fh, indent=1)


if __name__ == "__main__":
    main()
