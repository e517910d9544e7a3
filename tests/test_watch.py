import os
import random
import shutil
import threading
import time

from cache.store import Store
from cockpit.core.pyramid import build
from cockpit.jobs.watch import Watcher
from tests.conftest import write_tree
from tests.test_pyramid import snapshot


def fresh_snapshot(root, tmp_path, name):
    store = Store(tmp_path / f"{name}.sqlite", str(root))
    build(str(root), store, workers=1)
    return snapshot(store)


def module(name, step):
    return f'"""Module {name}, version {step}."""\n\ndef f_{step}(x):\n    """Return x at step {step}."""\n    return x\n'


def test_random_edit_sequences_converge_to_a_fresh_build(tmp_path):
    rng = random.Random(11)
    root = write_tree(tmp_path / "repo", {"a/one.py": module("one", 0), "b/two.py": module("two", 0)})
    store = Store(tmp_path / "watched.sqlite", str(root))
    watcher = Watcher(str(root), store)
    watcher.rescan()
    dirs = ["a", "b", "a/deep", "c"]
    for step in range(1, 36):
        files = sorted(p for p in root.rglob("*.py"))
        touched = []
        action = rng.choice(["create", "modify", "delete", "rename_file", "rename_dir", "ignore", "unignore", "burst"])
        if action == "create" or not files:
            target = root / rng.choice(dirs) / f"m{step}.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(module(target.stem, step))
            touched = [target]
        elif action == "modify":
            target = rng.choice(files)
            target.write_text(module(target.stem, step))
            touched = [target]
        elif action == "delete":
            target = rng.choice(files)
            target.unlink()
            touched = [target]
        elif action == "rename_file":  # as an editor saving through a temp file, or a mv
            source = rng.choice(files)
            target = source.with_name(f"r{step}.py")
            source.rename(target)
            touched = [source, target]
        elif action == "rename_dir":
            source = root / rng.choice(dirs)
            if source.exists():
                target = root / f"moved{step}"
                shutil.move(source, target)
                touched = [source, target]
        elif action == "ignore":
            (root / ".gitignore").write_text(f"{rng.choice(dirs)}/\n")
            touched = [root / ".gitignore"]
        elif action == "unignore" and (root / ".gitignore").exists():
            (root / ".gitignore").unlink()
            touched = [root / ".gitignore"]
        elif action == "burst":  # a checkout: many files at once
            for i in range(120):
                target = root / "burst" / f"b{i}.py"
                target.parent.mkdir(exist_ok=True)
                target.write_text(module(f"b{i}", step))
                touched.append(target)
        watcher.handle(str(p) for p in touched)
        assert snapshot(store) == fresh_snapshot(root, tmp_path, f"fresh{step}"), f"step {step}: {action}"


def test_ignored_and_outside_paths_trigger_no_work(tmp_path):
    root = write_tree(tmp_path / "repo", {".gitignore": "*.log\n", "a.py": module("a", 0)})
    store = Store(tmp_path / "c.sqlite", str(root))
    watcher = Watcher(str(root), store)
    watcher.rescan()
    (root / "debug.log").write_text("noise\n")
    refresh = watcher.handle([str(root / "debug.log"), str(tmp_path / "elsewhere.py"), str(root / ".cockpit/x")])
    assert refresh.stats.files_parsed == 0 and refresh.stats.dirs_summarized == 0
    assert store.node("debug.log") is None


def test_editor_temporary_files_are_not_changes(tmp_path):
    root = write_tree(tmp_path / "repo", {"a.py": module("a", 0)})
    store = Store(tmp_path / "c.sqlite", str(root))
    watcher = Watcher(str(root), store)
    watcher.rescan()
    temps = [".#a.py", "a.py~", ".a.py.swp", ".a.py.swx", "4913", "sedAb12Cd", "a.py.tmp"]
    for name in temps:
        (root / name).write_text("x = 1\n")
    assert watcher.handle([str(root / name) for name in temps]) is None  # nothing to say, nothing done
    for name in temps:
        assert store.node(name) is None
    (root / "sedimentary.py").write_text("rock = 1\n")  # a real file that merely starts like one
    assert watcher.handle([str(root / "sedimentary.py")]).paths == ["sedimentary.py"]


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_real_watcher_follows_saves_renames_and_checkouts(tmp_path):
    root = write_tree(tmp_path / "repo", {"pkg/a.py": module("a", 0)})
    store = Store(tmp_path / "c.sqlite", str(root))
    reader = Store(tmp_path / "c.sqlite", str(root))  # as another process would read it
    refreshes = []
    watcher = Watcher(str(root), store, on_refresh=refreshes.append)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: reader.node("pkg/a.py") is not None)
        (root / "pkg" / "a.py").write_text(module("a", 1))
        assert wait_for(lambda: reader.node("pkg/a.py::f_1") is not None)
        tmp = root / "pkg" / ".a.py.tmp"  # an editor's atomic save
        tmp.write_text(module("a", 2))
        os.replace(tmp, root / "pkg" / "a.py")
        assert wait_for(lambda: reader.node("pkg/a.py::f_2") is not None)
        shutil.move(root / "pkg", root / "lib")
        assert wait_for(lambda: reader.node("lib/a.py") is not None and reader.node("pkg/a.py") is None)
        before = len(refreshes)
        for i in range(300):
            (root / "lib" / f"c{i}.py").write_text(module(f"c{i}", 3))
        assert wait_for(lambda: reader.node("lib/c299.py") is not None, timeout=10)
        assert len(refreshes) - before < 30  # coalesced into a few batches, not one refresh per file
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert snapshot(reader) == fresh_snapshot(root, tmp_path, "fresh")


def test_watch_command_logs_one_line_per_refresh(tmp_path):
    import queue
    import signal
    import subprocess
    import sys

    root = write_tree(tmp_path / "repo", {"a.py": module("a", 0)})
    proc = subprocess.Popen([sys.executable, "-m", "cockpit", "watch", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=20)  # the catch-up rescan: the watch is live from here on
        assert "(whole tree): full rescan, 1 re-outlined" in first
        (root / "a.py").write_text(module("a", 1))
        line = lines.get(timeout=10)
        assert "a.py: update, 1 re-outlined, 0 removed, 1 directories re-summarized in" in line
        assert line.rstrip().endswith("0 tokens spent")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0
