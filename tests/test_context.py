import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cache.store import Store
from cockpit.core.context import ContextError, build_context, rank_files, resolve_node, search, task_terms
from cockpit.core.pyramid import build
from summarizers import tokens
from tests.conftest import write_tree


@pytest.fixture(scope="module")
def bigger_repo(tmp_path_factory):
    """A repo well over any small budget: 30 modules with classes, functions and docs."""
    root = tmp_path_factory.mktemp("ctx") / "repo"
    files = {"README.md": "# Shop\n\nAn online shop: catalogue, cart, checkout and payments.\n"}
    topics = ["cart", "checkout", "payment", "catalogue", "invoice", "shipping", "session", "auth", "search", "tax"]
    for i, topic in enumerate(topics):
        for j in range(3):
            body = [f'"""The {topic} service, part {j}: keeps {topic} records consistent."""', "import json", ""]
            body += [f"from shop.{topics[(i + 1) % len(topics)]}_0 import {topics[(i + 1) % len(topics)].title()}Store0", ""]
            body += [f"class {topic.title()}Store{j}:", f'    """Stores {topic} entries in memory."""', ""]
            for k in range(6):
                body += [f"    def {topic}_op_{k}(self, key, value=None):",
                         f'        """Apply operation {k} to a {topic} entry and return it."""',
                         f"        return json.dumps([key, value, {k}])", ""]
            body += [f"def make_{topic}_{j}(config):", f'    """Build the {topic} store from config."""',
                     f"    return {topic.title()}Store{j}()", ""]
            files[f"shop/{topic}_{j}.py"] = "\n".join(body) + "\n"
    files["shop/session_expiry.py"] = '''
        """Session expiry: refresh or drop sessions whose cookie has expired."""


        def refresh_expired_session(session, now):
            """Renew a session whose cookie expired, instead of redirecting to login again."""
            if session.expires_at < now:
                session.renew(now)
            return session
        '''
    files["tests/test_cart.py"] = "from shop.cart_0 import CartStore0\n\ndef test_cart():\n    assert CartStore0()\n"
    write_tree(root, files)
    store = Store(root.parent / "cache.sqlite", str(root))
    build(str(root), store, workers=1)
    return root, store


def test_budget_is_never_exceeded_and_mostly_used(bigger_repo):
    root, store = bigger_repo
    for budget in (60, 300, 1000, 2500, 6000):
        result = build_context(store, str(root), "refresh the session when the cookie expires", budget)
        used = tokens.count(result.text)
        assert used == result.used and used <= budget
        if budget >= 300:
            assert used >= 0.9 * budget, (budget, used)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=50, max_value=5000),
       task=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
       fmt=st.sampled_from(["md", "json"]))
def test_budget_is_never_exceeded_for_any_task(bigger_repo, budget, task, fmt):
    root, store = bigger_repo
    result = build_context(store, str(root), task, budget, fmt=fmt)
    assert tokens.count(result.text) <= budget


def test_the_relevant_file_and_a_named_symbol_come_with_source(bigger_repo):
    root, store = bigger_repo
    result = build_context(store, str(root), "refresh_expired_session redirects to login when the cookie expired", 2000)
    views = {i.node["id"]: i.view for i in result.items}
    # Its source comes either with the symbol or with its whole (small) file.
    assert "source" in (views.get("shop/session_expiry.py::refresh_expired_session"), views.get("shop/session_expiry.py"))
    assert "if session.expires_at < now:" in result.text
    assert "`shop/session_expiry.py:1-8`" in result.text  # path and lines to zoom further
    scores, reasons = rank_files(store, "refresh_expired_session redirects to login when the cookie expired", [])
    assert max(scores, key=scores.get) == "shop/session_expiry.py"
    assert any("named in task" in r for r in reasons["shop/session_expiry.py"])


def test_the_whole_repo_stays_visible_at_low_zoom(bigger_repo):
    root, store = bigger_repo
    text = build_context(store, str(root), "tax invoices are rounded wrongly", 1500).text
    assert "## repo/ (repository)" in text and "An online shop" in text
    assert "- shop/" in text and "- tests/" in text and "README.md" in text


def test_focus_pins_a_file_and_json_explains(bigger_repo):
    root, store = bigger_repo
    result = build_context(store, str(root), "improve things", 1500, focus=["shop/tax_2.py"], fmt="json")
    import json

    data = json.loads(result.text)
    tax = next(n for n in data["nodes"] if n["id"] == "shop/tax_2.py")
    assert "focus" in tax["reasons"] and tax["view"] in ("outline", "source", "64", "32")
    assert data["nodes"][0]["score"] >= data["nodes"][-1]["score"]


def test_same_inputs_same_output(bigger_repo):
    root, store = bigger_repo
    a = build_context(store, str(root), "checkout payment fails", 2000).text
    b = build_context(store, str(root), "checkout payment fails", 2000).text
    assert a == b


@pytest.mark.parametrize("target", ["../outside.py", "/etc/passwd", "shop/../../x.py", "nope.py", "shop/cart_0.py:Nope"])
def test_zoom_targets_outside_or_unknown_are_refused(bigger_repo, target):
    _, store = bigger_repo
    with pytest.raises(ContextError):
        resolve_node(store, target)


def test_bad_context_arguments(bigger_repo):
    root, store = bigger_repo
    with pytest.raises(ContextError):
        build_context(store, str(root), "x", 10)
    with pytest.raises(ContextError):
        build_context(store, str(root), "x", 1000, focus=["../../etc/passwd"])
    with pytest.raises(ContextError):
        build_context(store, str(root), "x", 1000, focus=["NoSuchThing"])


def test_search_finds_names_and_text(bigger_repo):
    _, store = bigger_repo
    hits = search(store, "refresh_expired_session", 5)
    assert hits[0]["id"] == "shop/session_expiry.py::refresh_expired_session" and hits[0]["why"] == "exact name"
    assert search(store, "CartStore", 3)[0]["name"].startswith("CartStore")
    assert any(h["path"] == "shop/session_expiry.py" for h in search(store, "cookie expired", 5))


def test_task_terms_split_identifiers_and_drop_filler():
    assert task_terms("Fix the parseHTTPHeaders bug in session_cookie") == [
        "parsehttpheaders", "parse", "http", "headers", "session_cookie", "session", "cookie"]


def test_a_change_by_another_process_is_served_next_time(tmp_path):
    root = write_tree(tmp_path / "r", {"a.py": '"""Alpha."""\ndef alpha():\n    return 1\n'})
    reader = Store(tmp_path / "c.sqlite", str(root))
    build(str(root), reader, workers=1)
    assert "def beta" not in build_context(reader, str(root), "beta", 500).text
    (root / "a.py").write_text('"""Alpha."""\ndef alpha():\n    return 1\n\ndef beta():\n    return 2\n')
    writer = Store(tmp_path / "c.sqlite", str(root))  # another process's connection
    build(str(root), writer, workers=1)
    assert "def beta" in build_context(reader, str(root), "beta", 500).text


def test_secret_files_never_enter_the_pyramid(tmp_path):
    root = write_tree(tmp_path / "r", {"app.py": "x = 1\n", ".env": "API_KEY=sk-123\n", "deploy.pem": "x\n",
                                       "notes.txt": "-----BEGIN RSA PRIVATE KEY-----\nabc\n"})
    store = Store(tmp_path / "c.sqlite", str(root))
    build(str(root), store, workers=1)
    assert [f["path"] for f in store.files()] == ["app.py"]
    assert dict(store.skipped())[".env"] == "looks like a secret"
    with pytest.raises(ContextError):
        resolve_node(store, ".env")


VIEW_RANK = {v: n for n, v in enumerate(("2", "4", "8", "16", "32", "64", "outline", "excerpt", "source"))}


def _view_of(result, node_id: str) -> tuple[int, tuple | None] | None:
    """(rank of the view a node is shown at, lines shown), or None; inside a node shown at source counts as source."""
    for item in result.items:
        if item.node["id"] == node_id:
            return VIEW_RANK[item.view], item.lines_shown
    for item in result.items:
        holder = item.node["id"] + ("::" if item.node["kind"] == "file" else ".")
        if item.view == "source" and item.node["kind"] not in ("dir", "repo") and node_id.startswith(holder):
            return VIEW_RANK["source"], None
    return None


def _shows_no_less(small, big) -> list[str]:
    wrong = []
    for item in small.items:
        rank, lines = VIEW_RANK[item.view], item.lines_shown
        now = _view_of(big, item.node["id"])
        if now is None or now[0] < rank:
            wrong.append(f"{item.node['id']}: {item.view} -> {now}")
        elif now[0] == rank == VIEW_RANK["excerpt"] and not (now[1][0] <= lines[0] and lines[1] <= now[1][1]):
            wrong.append(f"{item.node['id']}: excerpt {lines} -> {now[1]}")
    return wrong


TASK_WORDS = ["refresh", "session", "cookie", "expires", "cart", "checkout", "payment", "tax", "invoice", "json",
              "dumps", "store", "shipping", "make_cart_0", "CartStore1.cart_op_2", "search", "auth", "value", "key"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(TASK_WORDS), min_size=0, max_size=6),
       budgets=st.lists(st.integers(min_value=50, max_value=6000), min_size=2, max_size=2, unique=True),
       fmt=st.sampled_from(["md", "json"]))
def test_more_budget_never_shows_less(bigger_repo, words, budgets, fmt):
    root, store = bigger_repo
    task = " ".join(words)
    small, big = sorted(budgets)
    a = build_context(store, str(root), task, small, fmt=fmt)
    b = build_context(store, str(root), task, big, fmt=fmt)
    assert not _shows_no_less(a, b), (task, small, big, fmt)


def test_a_function_shown_at_source_stays_shown_as_the_budget_grows(tmp_path):
    files = {f"farm/crop_{n}.py": f'"""Crop {n}: sowing and harvest records."""\n\n\ndef harvest_{n}(field, day):\n'
             f'    """Harvest field {n} on a day."""\n    return [field, day, {n}]\n' for n in range(12)}
    files["farm/orchard.py"] = (
        '"""The orchard: fruit trees and their crates."""\n\n\n'
        "def ripen_quince_batch(crates, warmth=1.0):\n"
        '    """Ripen a batch of quince crates; warmer rooms ripen them sooner."""\n'
        "    for crate in crates:\n        crate.days_left = max(0, crate.days_left - warmth)\n    return crates\n")
    root = write_tree(tmp_path / "r", files)
    store = Store(tmp_path / "c.sqlite", str(root))
    build(str(root), store, workers=1)
    for fmt in ("md", "json"):
        previous = None
        for budget in range(300, 2001, 100):
            result = build_context(store, str(root), "ripen the quince crates faster", budget, fmt=fmt)
            assert "crate.days_left = max(0, crate.days_left - warmth)" in result.text or budget < 500, (fmt, budget)
            if previous is not None:
                assert not _shows_no_less(previous, result), (fmt, budget)
            previous = result


def test_copies_rank_below_the_code_they_mirror(tmp_path):
    body = "export function parseEmail(input: string): boolean {\n  return input.includes('@');\n}\n"
    compiled = "function parseEmail(input) {\n  return input.includes('@');\n}\nexports.parseEmail = parseEmail;\n"
    old = "def parse_email(text):\n    return '@' in text\n"
    root = write_tree(tmp_path / "r", {
        "package/src/v4/email.ts": body, "package/v4/email.js": compiled, "package/v4/email.cjs": compiled,
        "package/v4/email.d.ts": "export declare function parseEmail(input: string): boolean;\n",
        "package/src/v3/email.ts": body, "lib/vendor/email.py": old, "lib/email.py": old,
        "lib/tests/test_email.py": "from lib.email import parse_email\n\ndef test_parse_email():\n    assert parse_email('a@b')\n",
    })
    store = Store(tmp_path / "c.sqlite", str(root))
    build(str(root), store, workers=1, include_compiled=True)  # compiled twins are skipped unless kept: kept, they rank below
    scores, _ = rank_files(store, "parseEmail accepts input without a domain", [])
    for copy in ("package/v4/email.js", "package/v4/email.cjs", "package/v4/email.d.ts", "package/src/v3/email.ts"):
        assert scores[copy] < scores["package/src/v4/email.ts"], copy
    scores, _ = rank_files(store, "parse_email accepts text without a domain", [])
    for copy in ("lib/vendor/email.py", "lib/tests/test_email.py"):
        assert scores[copy] < scores["lib/email.py"], copy


def test_search_finds_the_functions_that_take_a_parameter(tmp_path):
    root = write_tree(tmp_path / "r", {
        "codec/encoder.py": '"""Encode values as text."""\n\n\ndef dumps(obj, *, indent=None, sort_keys=False):\n'
                            '    """Encode obj: a long docstring about the many options of encoding.\n\n'
                            + "    More words about encoding, indentation and separators.\n" * 30 + '    """\n'
                            "    return encode(obj, indent, sort_keys)\n",
        "stats/report.py": "def sort_key(row):\n    return row.keys\n\n\ndef order_rows(rows):\n"
                           "    return sorted(rows, key=sort_key)\n",
    })
    store = Store(tmp_path / "c.sqlite", str(root))
    build(str(root), store, workers=1)
    hits = search(store, "sort_keys", 5)
    assert hits[0]["id"] == "codec/encoder.py::dumps" and "parameter" in hits[0]["why"]


@pytest.mark.parametrize("fmt,explain", [("md", False), ("md", True), ("json", False)])
def test_a_budget_past_the_whole_repository_costs_what_the_whole_repository_does(bigger_repo, monkeypatch, fmt,
                                                                                 explain):
    from cockpit.core import context

    root, store = bigger_repo
    task = "refresh the session when the cookie expires"
    whole = build_context(store, str(root), task, 10_000_000, fmt=fmt, explain=explain)
    assert whole.used == tokens.count(whole.text) < 200_000
    counted = []
    real_count = tokens.count
    monkeypatch.setattr(context.tokens, "count", lambda text: counted.append(text) or real_count(text))
    again = build_context(store, str(root), task, 10_000_000, fmt=fmt, explain=explain)
    assert again.text == whole.text
    assert len(counted) <= 3  # the header, the ceiling's header, the answer: no step is counted
    # The same answer as planning step by step with exact counts, as any budget below the ceiling does.
    monkeypatch.setattr(context._Plan, "ceiling", lambda self: float("inf"))
    exact = build_context(store, str(root), task, 10_000_000, fmt=fmt, explain=explain)
    assert exact.text == whole.text and exact.used == whole.used
