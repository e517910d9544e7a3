"""How the full-screen app behaves while it builds the CPython standard library from a cold cache.

    python benchmarks/app.py [--repeat 3]

Runs the app headless (Textual's test driver, 160x48, real rendering) on a fresh copy of the
standard library with no cache, and measures:
- first paint: from creating the app to its first rendered frame with the tree in it;
- tree rows: how many rows the tree shows at first paint (listed from the disk);
- event-loop lag: a 10 ms timer on the loop; the worst (and p99) delay of its ticks while
  the cold build runs, first with the app left alone (what the build itself costs the screen),
  then with a user moving the cursor down the tree every 50 ms (each move redraws the detail);
- the build's wall time inside the app;
- event-loop lag while a user types a query into find (`/`) over all the library's names.
Targets (issue: the cockpit app): tree within 1 s; worst lag <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.watch import copy_stdlib  # noqa: E402
from cockpit.faces.tui.app import CockpitApp  # noqa: E402
from cockpit.faces.tui.pyramid_pane import PyramidTree  # noqa: E402
from cockpit.jobs.runner import Jobs  # noqa: E402
from cockpit.paths import default_cache_path  # noqa: E402

TICK = 0.010


def measure_lag(app: CockpitApp, lags: list[float]):
    """A timer on the app's loop every TICK seconds; each tick appends how late it came. Returns the timer."""
    expected = time.perf_counter() + TICK

    def tick() -> None:
        nonlocal expected
        now = time.perf_counter()
        lags.append(max(0.0, now - expected))
        expected = now + TICK

    return app.set_interval(TICK, tick)


async def one_run(tree: Path, navigate: bool) -> dict:
    shutil.rmtree(tree / ".cockpit", ignore_errors=True)
    created = time.perf_counter()
    app = CockpitApp(str(tree), default_cache_path(str(tree)), theme="dark", build=True, watch=False)
    lags: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while app.first_paint is None:
            await asyncio.sleep(0.001)
        first_paint = app.first_paint - created
        rows = app.query_one(PyramidTree).last_line + 1
        timer = measure_lag(app, lags)
        build_started = time.perf_counter()
        await pilot.pause(0.2)
        while app.watch_state == "building" or app.build_process is None:
            if navigate:
                await pilot.press("down")  # a user moving through the tree while it fills in
            await pilot.pause(0.05)
        build_seconds = time.perf_counter() - build_started
        timer.stop()
        job = Jobs(app.store).list(1)[0]
    lags.sort()
    return {"first_paint": first_paint, "rows": rows, "worst_lag": lags[-1], "p99_lag": lags[int(len(lags) * 0.99)],
            "ticks": len(lags), "build": build_seconds, "files": job["total"], "state": job["state"]}


async def find_run(tree: Path) -> dict:
    """Type "jsondec" into find, a key every 80 ms, on the warm cache: the loop's worst lag, and the results."""
    from textual.widgets import OptionList

    app = CockpitApp(str(tree), default_cache_path(str(tree)), theme="dark", build=False, watch=False)
    lags: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.5)
        measure_lag(app, lags)
        await pilot.press("slash")
        for key in "jsondec":
            await pilot.press(key)
            await pilot.pause(0.08)
        typed = time.perf_counter()
        results = app.screen.query_one(OptionList)
        while not results.option_count or not str(results.get_option_at_index(0).id).startswith("json/"):
            await pilot.pause(0.01)
        return {"worst_lag": max(lags), "after_typing": time.perf_counter() - typed,
                "names": len(app.screen.entries), "first": results.get_option_at_index(0).id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cockpit-app-"))
    try:
        tree = copy_stdlib(work / "stdlib")
        runs = [asyncio.run(one_run(tree, navigate=False)) for _ in range(args.repeat)]
        moving = [asyncio.run(one_run(tree, navigate=True)) for _ in range(args.repeat)]
        finding = [asyncio.run(find_run(tree)) for _ in range(args.repeat)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'run':<14} {'first paint ms':>15} {'tree rows':>10} {'worst lag ms':>13} {'p99 lag ms':>11} "
          f"{'ticks':>6} {'build s':>8} {'files':>6}  state")
    for label, group in (("left alone", runs), ("navigating", moving)):
        for run in group:
            print(f"{label:<14} {run['first_paint'] * 1000:>15.0f} {run['rows']:>10} {run['worst_lag'] * 1000:>13.1f} "
                  f"{run['p99_lag'] * 1000:>11.1f} {run['ticks']:>6} {run['build']:>8.2f} {run['files']:>6}  "
                  f"{run['state']}")

    def med(group: list[dict], key: str, scale: float = 1000.0) -> float:
        return statistics.median(run[key] * scale for run in group)

    print(f"median first paint {med(runs + moving, 'first_paint'):.0f} ms (target: tree within 1000 ms); "
          f"median worst event-loop lag during the cold build: {med(runs, 'worst_lag'):.1f} ms left alone, "
          f"{med(moving, 'worst_lag'):.1f} ms navigating (target <= 50 ms); p99 {med(runs, 'p99_lag'):.1f} / "
          f"{med(moving, 'p99_lag'):.1f} ms; median cold build in the app {med(runs, 'build', 1.0):.2f} s")
    print(f"find over {finding[0]['names']:,} names: median worst lag while typing {med(finding, 'worst_lag'):.1f} ms; "
          f"results {med(finding, 'after_typing'):.0f} ms after the last key (first: {finding[0]['first']})")


if __name__ == "__main__":
    main()
