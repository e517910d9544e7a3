"""Gene transfusion between two small git repositories, through the real SDK against the Anthropic twin:
the plan without an LLM, the pattern card, a patch that `git apply --check` accepts, broken patches asked
again, --apply on a new branch, a dirty tree refused, kill and resume."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cache.store import Store
from cockpit.faces.cli import main
from cockpit.jobs.factory import syntax_errors
from cockpit.jobs.runner import Jobs, runner
from cockpit.jobs.transfuse import check_patch, recount, touched
from cockpit.paths import default_cache_path
from cockpit.twin.server import Fault
from tests.conftest import write_tree
from tests.test_semport import kill_after_step

DONOR = {
    "netkit/__init__.py": '"""Network helpers."""\n',
    "netkit/retry.py": '''
        """Retry a flaky call with exponential backoff."""
        import random
        import time


        def retry_with_backoff(fn, attempts: int = 5, base_delay: float = 0.1, max_delay: float = 5.0):
            """Call fn until it succeeds, sleeping base_delay * 2**n (with jitter) between attempts.

            Re-raises the last exception once the attempts are used up.
            """
            for attempt in range(attempts):
                try:
                    return fn()
                except Exception:
                    if attempt == attempts - 1:
                        raise
                    delay = min(max_delay, base_delay * 2 ** attempt)
                    time.sleep(delay * random.uniform(0.5, 1.0))
        ''',
    "netkit/http.py": '''
        """A tiny HTTP helper."""
        from netkit.retry import retry_with_backoff


        def fetch(url):
            """Fetch a URL, retrying failures."""
            return retry_with_backoff(lambda: url)
        ''',
    "tests/test_retry.py": '''
        from netkit.retry import retry_with_backoff


        def test_retries_until_success():
            calls = []

            def flaky():
                calls.append(1)
                if len(calls) < 3:
                    raise ValueError("not yet")
                return "ok"

            assert retry_with_backoff(flaky, base_delay=0) == "ok"
            assert len(calls) == 3
        ''',
    "deploy.pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
}
RECIPIENT = {
    "app/__init__.py": '"""Inventory service."""\n',
    "app/errors.py": '''
        """Errors of the inventory service."""


        class InventoryError(Exception):
            """Base class of the service's errors."""


        class UpstreamError(InventoryError):
            """The warehouse API failed."""
        ''',
    "app/warehouse.py": '''
        """Client of the warehouse API."""
        from app.errors import UpstreamError


        class WarehouseClient:
            """Reads stock levels from the warehouse API."""

            def stock_level(self, sku: str) -> int:
                """The number of items in stock; raises UpstreamError when the API fails."""
                raise UpstreamError(sku)
        ''',
    "tests/test_warehouse.py": '''
        import pytest

        from app.errors import UpstreamError
        from app.warehouse import WarehouseClient


        def test_stock_level_raises_upstream_error():
            with pytest.raises(UpstreamError):
                WarehouseClient().stock_level("x")
        ''',
}
GENE = "retry a flaky call with exponential backoff"
GIT_ID = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
          "GIT_COMMITTER_EMAIL": "test@example.com"}


def git(root, *args) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ID}).stdout


def make_repo(path, files):
    root = write_tree(path, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


@pytest.fixture
def donor(tmp_path):
    return make_repo(tmp_path / "donor", DONOR)


@pytest.fixture
def recipient(tmp_path):
    return make_repo(tmp_path / "recipient", RECIPIENT)


def transfuse(donor, recipient, *args, gene=GENE):
    return CliRunner().invoke(main, ["transfuse", "--from", str(donor), "--gene", gene, "--into", str(recipient),
                                     *args], catch_exceptions=False)


def requests(twin, tag):
    texts = [e["body"]["messages"][-1]["content"] for e in twin.requests("/v1/messages")]
    return [t for t in texts if t.startswith(f"<{tag} ")]


def applies(patch, repo) -> bool:
    """Whether `git apply --check` accepts the patch in the repository."""
    return subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, check=False).returncode == 0


def store_of(repo) -> Store:
    return Store(default_cache_path(str(repo)), str(repo))


def test_without_an_llm_the_plan_says_where_the_gene_goes_and_what_it_costs(donor, recipient):
    result = transfuse(donor, recipient)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:3] == [
        f"transfuse plan: {GENE!r}",
        "  gene: netkit/retry.py (python): retry_with_backoff; tested by 1 test",
        "  goes to: app/retry.py (python), test tests/test_retry.py",
    ]
    assert result.stdout.splitlines()[3].startswith("  near: app/") and "app/warehouse.py" in result.stdout
    assert result.stdout.splitlines()[4].startswith("estimate: 2 calls to claude-haiku-4-5, ~")
    assert result.stderr.count("\n") == 1 and "transfuse needs an LLM" in result.stderr
    assert "ANTHROPIC_API_KEY" in result.stderr and "cockpit twin" in result.stderr
    assert not (recipient / ".cockpit" / "jobs").exists()


def test_a_gene_becomes_a_card_and_a_patch_that_applies(donor, recipient, llm):
    result = transfuse(donor, recipient, "-q")
    assert result.exit_code == 0, result.output
    job = next(j for j in Jobs(store_of(recipient)).list() if j["kind"] == "transfuse")
    folder = recipient / ".cockpit" / "jobs" / str(job["id"])
    assert result.stdout == (f"card: {folder / 'card.md'}\npatch: {folder / 'transfuse.patch'} "
                             "(app/retry.py, tests/test_retry.py)\n")
    card = (folder / "card.md").read_text()
    assert card.startswith("# Pattern card: retry_with_backoff\n")
    assert "`retry_with_backoff(fn, attempts, base_delay, max_delay)` (function)" in card
    assert "`test_retries_until_success` in `tests/test_retry.py`" in card and "`import time`" in card
    assert job["outputs"]["card_markdown"] == card and job["state"] == "done"
    patch = folder / "transfuse.patch"
    assert applies(patch, recipient)
    assert git(recipient, "status", "--porcelain") == ""  # without --apply the recipient is untouched
    card_request, patch_request = requests(llm, "transfuse-card"), requests(llm, "transfuse-patch")
    assert len(card_request) == len(patch_request) == 1 and len(llm.log) == 2
    assert "time.sleep(delay * random.uniform(0.5, 1.0))" in card_request[0]  # the located source
    assert '<test path="tests/test_retry.py" name="test_retries_until_success"/>' in card_request[0]
    assert "<card>\n# Pattern card: retry_with_backoff" in patch_request[0]
    assert 'module="app/retry.py" test="tests/test_retry.py"' in patch_request[0]
    assert "UpstreamError (app/errors.py)" in patch_request[0] and "tests/test_warehouse.py" in patch_request[0]
    assert "PRIVATE KEY" not in json.dumps([e["body"] for e in llm.log])
    spend = Jobs(store_of(recipient)).spend(job["id"])
    assert spend["calls"] == 2 and job["outputs"]["spend"]["card"]["calls"] == 1


def test_a_gene_named_by_path_and_symbol(donor, recipient, llm, tmp_path):
    out = tmp_path / "gene.patch"
    result = transfuse(donor, recipient, "--out", str(out), "-q", gene="netkit/retry.py:retry_with_backoff")
    assert result.exit_code == 0, result.output
    assert out.is_file() and "+def retry_with_backoff(fn, attempts, base_delay, max_delay):" in out.read_text()
    assert 'gene="netkit/retry.py:retry_with_backoff"' in requests(llm, "transfuse-card")[0]


def test_a_patch_that_does_not_apply_or_parse_is_asked_again_with_its_errors(donor, recipient, llm):
    llm.reply("```diff\n--- a/app/missing.py\n+++ b/app/missing.py\n@@ -1 +1 @@\n-old\n+new\n```",
              contains="<transfuse-patch")
    llm.reply("```diff\n--- /dev/null\n+++ b/app/retry.py\n@@ -0,0 +1,2 @@\n+def retry(:\n+    pass\n```",
              contains="<transfuse-patch")
    result = transfuse(donor, recipient, "-q")
    assert result.exit_code == 0, result.output
    first, second, third = requests(llm, "transfuse-patch")
    assert "<errors" not in first
    assert "git apply --check: error: app/missing.py: No such file or directory" in second
    assert "<previous-answer>" in second and "+new" in second
    assert "app/retry.py does not parse after the patch: line 1" in third
    job = next(j for j in Jobs(store_of(recipient)).list() if j["kind"] == "transfuse")
    assert job["outputs"]["attempts"] == {"card": 1, "patch": 3}
    assert applies(job["outputs"]["patch"], recipient)


def test_a_patch_that_never_passes_fails_the_job_and_keeps_the_last_answer(donor, recipient, llm):
    for _ in range(2):
        llm.reply("```diff\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n```", contains="<transfuse-patch")
    result = transfuse(donor, recipient, "-q", "--retries", "1")
    assert result.exit_code == 1
    line = result.stderr.splitlines()[-1]
    assert line.startswith("cockpit: error: job 1 failed: TransfuseError: no patch passed the checks after 2 answers:")
    assert (recipient / ".cockpit" / "jobs" / "1" / "rejected.patch").read_text().startswith("--- a/nope.py")


def test_apply_commits_the_patch_on_a_new_branch(donor, recipient, llm, monkeypatch):
    for name, value in GIT_ID.items():
        monkeypatch.setenv(name, value)
    result = transfuse(donor, recipient, "--apply", "-q")
    assert result.exit_code == 0, result.output
    job = next(j for j in Jobs(store_of(recipient)).list() if j["kind"] == "transfuse")
    branch = f"cockpit/transfuse-{job['id']}"
    assert f"applied on branch {branch} (" in result.stdout and "from main" in result.stdout
    assert git(recipient, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
    assert git(recipient, "status", "--porcelain") == ""
    assert git(recipient, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "Transfuse", "retry_with_backoff", "from", "donor", "(cockpit", "job", f"{job['id']})", "app/retry.py",
        "tests/test_retry.py"]
    assert syntax_errors((recipient / "app" / "retry.py").read_text(), "python") == []
    assert git(recipient, "rev-parse", "main") == git(recipient, "rev-parse", "HEAD~1")  # main is untouched
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_retry.py"],
                           cwd=recipient, capture_output=True, text=True, check=False)
    assert tests.returncode == 0, tests.stdout  # the transplanted test runs in the recipient


def test_a_recipient_inside_a_larger_repository(donor, llm, tmp_path, monkeypatch):
    for name, value in GIT_ID.items():
        monkeypatch.setenv(name, value)
    mono = make_repo(tmp_path / "mono", {f"services/inventory/{k}": v for k, v in RECIPIENT.items()})
    recipient = mono / "services" / "inventory"
    llm.reply("```diff\n--- /dev/null\n+++ b/services/inventory/README.md\n@@ -0,0 +1 @@\n+x\n```",
              contains="<transfuse-patch")
    result = transfuse(donor, recipient, "--apply", "-q")
    assert result.exit_code == 0, result.output
    # The enclosing repository's cache, pyramid and job list; the pattern goes to the directory given.
    (patch,) = requests(llm, "transfuse-patch")
    assert 'module="services/inventory/' in patch
    assert git(mono, "show", "--name-only", "--format=", "HEAD").split() == ["services/inventory/README.md"]
    assert not (recipient / ".cockpit").exists() and (mono / ".cockpit" / "cache.sqlite").exists()
    listed = CliRunner().invoke(main, ["jobs", "--repo", str(mono)]).stdout
    assert f"from {donor} into {recipient}" in listed


def test_apply_refuses_a_dirty_tree_before_any_call(donor, recipient, llm):
    (recipient / "app" / "warehouse.py").write_text("# work in progress\n")
    result = transfuse(donor, recipient, "--apply")
    assert result.exit_code == 1 and llm.log == []
    assert result.stderr == (f"cockpit: error: {recipient} has uncommitted changes (1 file); commit or stash them "
                             "first: --apply needs a clean tree\n")
    assert git(recipient, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_a_killed_transfusion_resumes_without_paying_for_its_card_again(donor, recipient, twin, monkeypatch,
                                                                         tmp_path):
    twin.script(Fault.slow(0), Fault.slow(4000))  # the card comes at once, the patch slowly: killed during it
    kill_after_step(["transfuse", "--from", str(donor), "--gene", GENE, "--into", str(recipient), "-q"], twin,
                    default_cache_path(str(recipient)), "place", tmp_path)
    store = store_of(recipient)
    job = next(j for j in Jobs(store).list() if j["kind"] == "transfuse")
    assert job["state"] == "failed" and set(Jobs(store).steps(job["id"])) >= {"locate", "card · answer 1", "card"}
    monkeypatch.setenv("ANTHROPIC_BASE_URL", twin.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    record = Jobs(store).resume(job["id"]).run(runner("transfuse"))
    assert record["state"] == "done", record["error"]
    assert len(requests(twin, "transfuse-card")) == 1  # paid once, before the kill
    assert len(requests(twin, "transfuse-patch")) in (1, 2)  # the one in flight at the kill may have reached it
    rows = store.db.conn.execute("SELECT node_ids, outcome FROM ledger WHERE job = ?", [str(job["id"])]).fetchall()
    assert [o for ids, o in rows if ids == '["card"]'] == ["ok"]
    assert applies(record["outputs"]["patch"], recipient)


# --- the pieces -------------------------------------------------------------------------------------------


def test_hunk_counts_are_recounted_and_blank_context_lines_restored(recipient):
    patch = ("diff --git a/app/errors.py b/app/errors.py\n--- a/app/errors.py\n+++ b/app/errors.py\n"
             "@@ -7,3 +7,9 @@\n"  # wrong counts, and the blank context line lost its space
             " class UpstreamError(InventoryError):\n     \"\"\"The warehouse API failed.\"\"\"\n"
             "+\n+\n+class RetryError(InventoryError):\n+    \"\"\"Retries ran out.\"\"\"\n")
    fixed = recount(patch)
    assert "@@ -7,2 +7,6 @@" in fixed
    files, problems = check_patch(str(recipient), fixed)
    assert problems == [] and files == ["app/errors.py"]
    assert touched(fixed) == ["app/errors.py"]


def test_a_patch_may_not_leave_the_repository(recipient):
    patch = "--- /dev/null\n+++ b/../escape.py\n@@ -0,0 +1 @@\n+x = 1\n"
    assert check_patch(str(recipient), patch) == ([], ["../escape.py: outside the files the patch may touch"])
    assert check_patch(str(recipient), "no diff here") == ([], ["the answer holds no unified diff"])


def test_a_described_gene_is_the_symbol_whose_name_and_summary_match_its_words(tmp_path):
    from cockpit.core.pyramid import build
    from cockpit.jobs.transfuse import locate

    donor = write_tree(tmp_path / "donor", {"files.py": '''
        """Helpers around files."""


        class KeepOpenFile:
            """Proxy a file object but keep it open across a with block."""


        class LazyFile:
            """A lazy file works like a regular file but opens it only when first written."""
        '''})
    store = Store(default_cache_path(str(donor)), str(donor))
    build(str(donor), store, workers=1)
    gene = locate(store, str(donor), "open a file lazily, only when it is first written to")
    assert gene.path == "files.py" and [s["name"] for s in gene.symbols][:1] == ["LazyFile"]


def test_a_symbols_gene_carries_only_the_imports_it_uses():
    from cockpit.jobs.transfuse import used_imports

    imports = ["from __future__ import annotations", "import os", "import typing as t",
               "import collections.abc as cabc", "from gettext import gettext as _",
               "from ._compat import open_stream, strip_ansi", 'import "fmt"']
    source = "class LazyFile:\n    def open(self):\n        return open_stream(os.fspath(self.name))\n"
    assert used_imports(imports, source) == ["from __future__ import annotations", "import os",
                                             "from ._compat import open_stream, strip_ansi"]
    assert used_imports(['import "fmt"', 'import "os"'], "fmt.Println(x)") == ['import "fmt"']
