from cache.store import Store
from cockpit.core.pyramid import LEVELS, build, source_tokens, update_paths
from cockpit.core.render import view_text
from summarizers import tokens


def open_store(repo, tmp_path):
    return Store(tmp_path / "cache.sqlite", str(repo))


def test_builds_repo_dir_file_symbol_nodes_with_full_ladders(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    stats = build(str(sample_repo), store, workers=1)
    assert stats.files_total == 5 and stats.files_parsed == 5
    repo = store.node("")
    assert repo["kind"] == "repo"
    assert [c["id"] for c in store.children("")] == ["scripts", "weather", "README.md"]
    assert [c["id"] for c in store.children("weather")] == [
        "weather/__init__.py", "weather/cache.py", "weather/client.py"]
    client = store.children("weather/client.py")
    assert [(c["kind"], c["name"]) for c in client] == [("class", "ForecastClient"), ("function", "parse_reply")]
    methods = store.children("weather/client.py::ForecastClient")
    assert [(m["kind"], m["id"]) for m in methods] == [
        ("method", "weather/client.py::ForecastClient.__init__"),
        ("method", "weather/client.py::ForecastClient.forecast"),
    ]
    forecast = methods[1]
    assert forecast["signature"] == "def forecast(self, city: str, days: int = 3) -> dict"
    assert (forecast["start_line"], forecast["end_line"]) == (13, 16)
    assert forecast["summaries"][2] == "Return forecast for city over next few days"
    # The directory speaks with its package doc, the repo with its README.
    assert store.node("weather")["summaries"][5].startswith("Forecast fetching and caching for the command line")
    assert repo["summaries"][5].startswith("Fetches forecasts from public weather services")


def test_every_view_has_its_exact_token_count(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    symbols = [n for n in store.nodes() if n["kind"] not in ("file", "dir", "repo")]
    assert all(n["tokens"] == [None] * 8 for n in symbols)  # counted on first use, then kept
    source_tokens(str(sample_repo), store, symbols)
    for node in store.nodes():
        assert len(node["summaries"]) == 6 and len(node["tokens"]) == 8
        for budget, summary in zip((2, 4, 8, 16, 32, 64), node["summaries"]):
            assert 0 < len(summary.split()) <= budget, (node["id"], budget, summary)
        for i, level in enumerate(LEVELS):
            if node["kind"] in ("dir", "repo") and level == "source":
                continue  # a directory's source count is the sum of its files'
            assert node["tokens"][i] == tokens.count(view_text(str(sample_repo), node, level)), (node["id"], level)
    repo = store.node("")
    files = [n for n in store.nodes(("file",))]
    assert repo["tokens"][7] == sum(f["tokens"][7] for f in files)


def test_rerun_on_unchanged_repo_parses_nothing(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    again = build(str(sample_repo), store, workers=1)
    assert (again.files_parsed, again.dirs_summarized, again.nodes_written) == (0, 0, 0)


def test_one_edit_recomputes_that_file_and_its_ancestors_only(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    before = {n["id"]: n for n in store.nodes(("dir", "repo", "file"))}
    path = sample_repo / "weather" / "cache.py"
    path.write_text(path.read_text().replace("A tiny cache", "A small cache"))
    stats = build(str(sample_repo), store, workers=1)
    assert stats.parsed_paths == ["weather/cache.py"]
    assert stats.dirs_summarized == 2  # weather/ and the repo
    after = {n["id"]: n for n in store.nodes(("dir", "repo", "file"))}
    changed = {i for i in after if after[i]["hash"] != before[i]["hash"]}
    assert changed == {"weather/cache.py", "weather", ""}
    assert store.node("weather/cache.py")["summaries"][3].startswith("A small cache of JSON documents on disk")


def test_touch_without_change_costs_nothing(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    path = sample_repo / "weather" / "cache.py"
    path.write_text(path.read_text())  # new mtime, same bytes: the hash decides
    assert build(str(sample_repo), store, workers=1).files_parsed == 0


def _age(repo, seconds=3600):
    """Every file's mtime an hour back: older than a refresh's racy window, so its stat is trusted."""
    import os
    import time

    for path in repo.rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - seconds, time.time() - seconds))


def _count_hashes(monkeypatch) -> list[str]:
    from cockpit.core import scan

    hashed = []
    real = scan.content_hash

    def counting(data: bytes) -> str:
        hashed.append(data)
        return real(data)

    monkeypatch.setattr(scan, "content_hash", counting)
    return hashed


def test_an_unchanged_rerun_reads_and_hashes_no_file(sample_repo, tmp_path, monkeypatch):
    _age(sample_repo)
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    generation = store.generation()
    hashed = _count_hashes(monkeypatch)
    again = build(str(sample_repo), store, workers=1)
    assert hashed == [] and again.files_parsed == 0 and again.files_total == 5
    assert store.generation() == generation  # nothing written either
    # Proof that an equal stat is not read: new bytes of the same size, the stat put back, go unseen.
    path = sample_repo / "weather" / "cache.py"
    st = path.stat()
    path.write_bytes(path.read_bytes().replace(b"A tiny cache", b"A small cach"))
    import os

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert build(str(sample_repo), store, workers=1).files_parsed == 0 and hashed == []


def test_a_moved_stat_is_hashed_once_and_the_hash_decides(sample_repo, tmp_path, monkeypatch):
    import os

    _age(sample_repo)
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    hashed = _count_hashes(monkeypatch)
    path = sample_repo / "weather" / "cache.py"
    os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))  # touched: same bytes, new mtime
    stats = build(str(sample_repo), store, workers=1)
    assert len(hashed) == 1 and stats.files_parsed == 0 and stats.dirs_summarized == 0
    assert build(str(sample_repo), store, workers=1).files_parsed == 0 and len(hashed) == 1  # its new stat was kept
    path.write_text(path.read_text().replace("A tiny cache", "A small cache"))  # a real edit, just now
    assert build(str(sample_repo), store, workers=1).parsed_paths == ["weather/cache.py"] and len(hashed) == 2
    # Written within the racy window, its stat is not trusted yet: the next refresh hashes it again.
    assert build(str(sample_repo), store, workers=1).files_parsed == 0 and len(hashed) == 3


def test_a_cache_of_the_previous_schema_gains_the_stat_columns_in_place(sample_repo, tmp_path):
    import sqlite3

    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    store.close()
    conn = sqlite3.connect(tmp_path / "cache.sqlite")
    with conn:
        conn.execute("ALTER TABLE files DROP COLUMN mtime_ns")  # what a cache of schema 9 looks like
        conn.execute("ALTER TABLE files DROP COLUMN inode")
        conn.execute("UPDATE meta SET value = '9' WHERE key = 'schema'")
    conn.close()
    store = open_store(sample_repo, tmp_path)
    assert store.db.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == "10"
    assert store.db.conn.execute("SELECT count(*) FROM files WHERE mtime_ns IS NULL").fetchone()[0] == 5
    assert build(str(sample_repo), store, workers=1).files_parsed == 0  # migrated, not rebuilt


def test_deleted_files_and_emptied_directories_leave_the_pyramid(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    (sample_repo / "scripts" / "run.sh").unlink()
    (sample_repo / "scripts").rmdir()
    stats = build(str(sample_repo), store, workers=1)
    assert stats.files_removed == 1
    assert store.node("scripts") is None and store.node("scripts/run.sh") is None
    assert [c["id"] for c in store.children("")] == ["weather", "README.md"]


def test_update_paths_refreshes_named_files_without_a_walk(sample_repo, tmp_path):
    store = open_store(sample_repo, tmp_path)
    build(str(sample_repo), store, workers=1)
    (sample_repo / "weather" / "units.py").write_text('"""Unit conversions."""\ndef c_to_f(c):\n    return c * 9 / 5 + 32\n')
    (sample_repo / "weather" / "cache.py").unlink()
    stats = update_paths(str(sample_repo), store, ["weather/units.py", "weather/cache.py"])
    assert (stats.files_parsed, stats.files_removed, stats.dirs_summarized) == (1, 1, 2)
    assert store.node("weather/units.py::c_to_f")["summaries"][0] == "C to f" or store.node("weather/units.py::c_to_f")
    assert store.node("weather/cache.py") is None
    full = build(str(sample_repo), store, workers=1)
    assert full.files_parsed == 0 and full.dirs_summarized == 0  # the same state a full build reaches


def test_parallel_build_equals_serial_build(tmp_path):
    from tests.conftest import write_tree

    files = {f"pkg{i % 4}/mod{i}.py": f'"""Module {i}."""\ndef f{i}(x):\n    """Double x."""\n    return 2 * x\n'
             for i in range(60)}
    repo = write_tree(tmp_path / "repo", files)
    serial = Store(tmp_path / "a.sqlite", str(repo))
    parallel = Store(tmp_path / "b.sqlite", str(repo))
    build(str(repo), serial, workers=1)
    stats = build(str(repo), parallel, workers=2)
    assert stats.files_parsed == 60
    strip = lambda nodes: sorted((n["id"], n["hash"], n["summaries"], n["tokens"]) for n in nodes)
    assert strip(serial.nodes()) == strip(parallel.nodes())


def test_syntax_errors_and_broken_encodings_still_yield_a_node(tmp_path):
    from tests.conftest import write_tree

    repo = write_tree(tmp_path / "repo", {
        "broken.py": "def good():\n    '''Fine.'''\n    return 1\n\ndef bad(:\n    pass\n",
        "ru.py": "# Модуль\ndef f():\n    return 1\n".encode("cp1251"),
    })
    store = Store(tmp_path / "c.sqlite", str(repo))
    build(str(repo), store, workers=1)
    assert store.node("broken.py::good")["summaries"][1] == "Fine"
    assert store.node("ru.py::f") is not None
    assert {f["path"]: f["has_errors"] for f in store.files()}["broken.py"] == 1


def snapshot(store):
    return sorted((n["id"], n["parent"], n["kind"], n["hash"], n["summaries"], n["outline"], n["tokens"])
                  for n in store.nodes())


def test_incremental_builds_converge_to_a_fresh_build_after_random_edits(tmp_path):
    import random

    rng = random.Random(7)
    repo = tmp_path / "repo"
    repo.mkdir()
    dirs = ["", "a", "a/b", "a/b/c", "d"]
    incremental = Store(tmp_path / "inc.sqlite", str(repo))
    for step in range(40):
        existing = [p for p in repo.rglob("*.py")]
        action = rng.choice(["create", "create", "modify", "delete", "update_paths"])
        if action == "create" or not existing:
            d = repo / rng.choice(dirs)
            d.mkdir(parents=True, exist_ok=True)
            name = f"m{rng.randrange(1000)}.py"
            (d / name).write_text(f'"""Module {name} step {step}."""\ndef f{step}(x):\n    return x\n')
        elif action == "modify":
            target = rng.choice(existing)
            target.write_text(target.read_text() + f"\ndef g{step}():\n    '''Added at step {step}.'''\n")
        elif action == "delete":
            target = rng.choice(existing)
            target.unlink()
            if not any(target.parent.iterdir()) and target.parent != repo:
                target.parent.rmdir()
        if action == "update_paths" and existing:
            target = rng.choice(existing)
            target.write_text(target.read_text() + "# touched\n")
            update_paths(str(repo), incremental, [str(target.relative_to(repo))])
        else:
            build(str(repo), incremental, workers=1)
        fresh = Store(tmp_path / f"fresh{step}.sqlite", str(repo))
        build(str(repo), fresh, workers=1)
        assert snapshot(incremental) == snapshot(fresh), f"step {step}: {action}"


def test_undocumented_functions_are_told_by_what_they_call(tmp_path):
    from tests.conftest import write_tree

    repo = write_tree(tmp_path / "repo", {"m.py": '''
        LIMIT = 3

        def load(path):
            """Read a file."""
            return open(path).read()

        def parse(text):
            """Split a text into words."""
            return text.split()

        def count_words(path):
            return len(parse(load(path))) + LIMIT
        '''})
    store = Store(tmp_path / "c.sqlite", str(repo))
    build(str(repo), store, workers=1)
    told = store.node("m.py::count_words")["summaries"][5]
    assert told.startswith("Calls parse and load") and "Takes path" in told
