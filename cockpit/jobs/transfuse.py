"""Gene transfusion: take a pattern that works in one repository (the donor) and grow it, in the
other's own style, in another (the recipient).

1. Locate the gene in the donor: a PATH[:SYMBOL] as given, or the code the context provider
   ranks best for a description. The LLM writes a *pattern card* from the located source: what it
   does, its interface, invariants, dependencies, how it is tested (Markdown, kept with the job).
2. Place it: the context provider on the recipient, with the card as the task, says where it
   belongs; the recipient's pyramid says how it names things, handles errors and tests.
3. The LLM writes a patch (a unified diff, with tests when the recipient has them). It must pass
   `git apply --check` and every file it leaves must parse (tree-sitter, no ERROR nodes); one
   that fails is asked again with the errors, a bounded number of times. The patch is written
   under the recipient's `.cockpit/jobs/<id>/` (or to --out); with `apply`, it is committed on a
   new branch `cockpit/transfuse-<id>`, never over uncommitted work.

Runs as a job (`cockpit.jobs.runner`) in the recipient's cache: a killed transfusion resumes from its
last finished step, and the card or patch already paid for is not asked again.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cache.store import Store
from cockpit.core.context import ContextError, build_context, rank_files, resolve_node, task_terms
from cockpit.core.pyramid import parent_dir
from cockpit.core.render import read_source
from cockpit.jobs.factory import (
    CODE_LANGS,
    AnswerShape,
    Caller,
    Estimate,
    ask_until_valid,
    code_block,
    fit,
    git,
    open_store,
    plural,
    public_symbols,
    refresh_pyramid,
    retry_parts,
    section,
    spend_by_node,
    symbol_tags,
    syntax_errors,
)
from cockpit.jobs.runner import Job, Jobs
from cockpit.spend.ledger import Pricing
from summarizers import tokens
from summarizers.extractive import identifier_words
from summarizers.languages import LANGUAGES, detect
from summarizers.llm import _cap

DEFAULT_BUDGET = 4000  # tokens of recipient context in the patch request
DEFAULT_RETRIES = 2
GENE_TOKENS = 4000  # of located source sent for the card
TEST_TOKENS = 1500  # of the donor's tests sent for the card
CARD_OUTPUT, PATCH_OUTPUT = 1500, 8000  # max_tokens
TEST_FILE = re.compile(r"(?:^|/)(?:tests?|__tests__|spec)/|(?:^|/)(?:test_[^/]*|[^/]*_test\.\w+|[^/]*\.(?:test|spec)"
                       r"\.\w+|conftest\.py)$")
_TEST_NAME = re.compile(r"^(?:test|Test)|^(?:it|describe)$")
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")
EXTENSIONS = {"python": ".py", "go": ".go", "typescript": ".ts", "tsx": ".tsx", "javascript": ".js", "rust": ".rs",
              "java": ".java", "ruby": ".rb", "c": ".c", "cpp": ".cpp"}

CARD_SYSTEM = """\
You read code and write pattern cards: what another team needs to reimplement a piece of code in their own \
repository. The request is a <transfuse-card> block: the located source, its public symbols (<symbol> tags), \
its imports, and its tests.

Reply with the card in Markdown and nothing else: a title line "# Pattern card: <name>", then the sections \
"## What it does", "## Interface" (one line per public symbol: "- `name(params)` (kind): what it does"), \
"## Invariants" (what must stay true: ordering, limits, errors raised, thread safety), "## Dependencies" \
(libraries and services it needs), and "## How it is tested" (what the tests check, by test name). Be concrete: \
name values, defaults and error types. Never repeat secrets; [REDACTED] marks removed values."""

PATCH_SYSTEM = """\
You transplant a pattern into a repository, written in that repository's own style. The request is a \
<transfuse-patch> block: the pattern card (<card>), the donor's symbols, the recipient's conventions, context \
from the recipient (summaries and outlines), and where the pattern should go (the `module` and `test` \
attributes: a new file, and a test file when the recipient has tests). A request may carry the <errors> of your \
last answer (<previous-answer>): fix them.

Reply with one unified diff in a ```diff block and nothing else: `diff --git a/P b/P` headers, `--- /dev/null` \
for new files, exact context lines for changed ones, so that `git apply` accepts it.
- Follow the recipient's conventions (naming, error handling, test style), not the donor's.
- Name the pattern's symbols after the card, in the recipient language's conventions.
- Every file the patch leaves must parse. Change existing files only where the pattern must be wired in.
- Never repeat secrets; [REDACTED] marks removed values."""


CARD_SHAPE = AnswerShape("write_pattern_card", "Write the pattern card.",
                         {"card": {"type": "string", "description": "the card, in Markdown"}},
                         lambda answer: answer.get("card") or "")
PATCH_SHAPE = AnswerShape("write_patch", "Write the patch that transplants the pattern.",
                          {"diff": {"type": "string", "description": "one unified diff, git style"}},
                          lambda answer: f"```diff\n{answer.get('diff') or ''}\n```\n")


class TransfuseError(Exception):
    """A transfusion that cannot start or go on; the message says why in one line."""


@dataclass
class Gene:
    """The located gene: where it is in the donor, and what of it is sent for the card."""

    query: str
    path: str
    lang: str
    symbols: list[dict]
    source: str
    imports: list[str]
    tests: list[dict]  # {"path", "name"} of the donor's tests of it
    test_source: str
    summary: str

    @property
    def name(self) -> str:
        return self.symbols[0]["name"] if self.symbols else posixpath.basename(self.path)


@dataclass
class Placement:
    """Where the gene goes in the recipient, and what the recipient's conventions are."""

    lang: str
    module: str
    test: str  # "" when the recipient has no tests
    package: str
    import_path: str
    near: list[str]  # the recipient's files the context provider ranked best
    conventions: str


@dataclass
class Plan:
    gene: Gene
    placement: Placement
    model: str
    estimate: Estimate = field(default_factory=Estimate)

    def describe(self) -> str:
        g, p = self.gene, self.placement
        names = ", ".join(s["name"] for s in g.symbols[:6]) or "(the whole file)"
        tested = f"; tested by {plural(len(g.tests), 'test')}" if g.tests else ""
        lines = [f"transfuse plan: {g.query!r}",
                 f"  gene: {g.path} ({g.lang}): {names}{tested}",
                 f"  goes to: {p.module} ({p.lang})" + (f", test {p.test}" if p.test else ", no tests in recipient"),
                 f"  near: {', '.join(p.near[:4]) or '(nothing related yet)'}",
                 self.estimate.describe(self.model)]
        return "\n".join(lines)


# --- locating the gene ------------------------------------------------------------------------


def locate(store: Store, root: str, query: str) -> Gene:
    """The gene `query` names in the donor: PATH[:SYMBOL] if it is one, else the best match for the text."""
    path_part = query.partition("::")[0] if "::" in query else query.partition(":")[0]
    if path_part and " " not in query and (Path(root) / path_part).is_file():
        try:
            node = resolve_node(store, query)
        except ContextError as exc:
            raise TransfuseError(str(exc)) from None
        return _gene(store, root, query, node["path"], node if node["kind"] != "file" else None)
    scores, _ = rank_files(store, query, [])
    langs = {f["path"]: f["lang"] for f in store.files()}
    ranked = sorted((p for p in scores if langs.get(p) in CODE_LANGS and not TEST_FILE.search(p)),
                    key=lambda p: (-scores[p], p))
    if not ranked or scores[ranked[0]] <= 0:
        raise TransfuseError(f"nothing in the donor matches {query!r}; name a PATH[:SYMBOL]")
    path = ranked[0]
    terms = {_stem(t) for t in task_terms(query)}
    best, best_score = None, 0.0
    for node in store.nodes_in_files([path]):
        if node["parent"] != path:
            continue
        # Its name says most ("LazyFile" for "open a file lazily"); its summary breaks ties.
        named = {_stem(w) for w in identifier_words(node["name"]).lower().split()}
        said = {_stem(w) for w in re.findall(r"[a-z]+", (node["summaries"] or [""] * 4)[3].lower())}
        score = 2 * len(terms & named) + 0.5 * len(terms & said)
        if score > best_score:
            best, best_score = node, score
    return _gene(store, root, query, path, best)


def _stem(word: str) -> str:
    """A rough English stem, enough to match "lazily" with "lazy" and "retries" with "retry"."""
    for suffix, replacement in (("ily", "y"), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


def _gene(store: Store, root: str, query: str, path: str, symbol: dict | None) -> Gene:
    rows = sorted(store.files(), key=lambda f: f["path"])
    file_row = next(f for f in rows if f["path"] == path)
    lang = file_row["lang"]
    symbols = public_symbols(store, path, lang)
    if symbol is not None:
        qual = symbol["id"].split("::", 1)[1]
        symbols = [s for s in symbols if s["name"] == qual or s["name"].startswith(qual + ".")] or [
            {"kind": symbol["kind"], "name": qual, "params": "", "signature": symbol["signature"] or "",
             "doc": symbol["doc"] or ""}]
        source = read_source(root, symbol)
    else:
        source = read_source(root, store.node(path))
    names = {s["name"].split(".")[0] for s in symbols}
    if symbol is None:  # the whole file is the gene: tests of the module count too
        names.add(posixpath.basename(path).split(".")[0])
    tests, test_parts = [], []
    for row in rows:
        if row["path"] != path and TEST_FILE.search(row["path"]) and names & set(row["refs"]):
            found = [n for n in store.nodes_in_files([row["path"]]) if _TEST_NAME.search(n["name"])]
            if symbol is not None:  # a symbol's tests are those that name it, not every test of its file
                found = [n for n in found if names & set(re.findall(r"\w+", read_source(root, n)))]
            tests += [{"path": row["path"], "name": n["id"].split("::", 1)[1]} for n in found]
            if found:
                test_parts.append(section("test-file", read_source(root, store.node(row["path"])), path=row["path"]))
    node = store.node(path)
    imports = file_row["imports"] if symbol is None else used_imports(file_row["imports"], source)
    return Gene(query, path, lang, symbols, _cap(source, GENE_TOKENS), imports, tests,
                "\n".join(fit(test_parts, TEST_TOKENS)), node["summaries"][4] if node and node["summaries"] else "")


def used_imports(imports: list[str], source: str) -> list[str]:
    """The import statements that bind a name the source uses: a symbol's dependencies, not its file's.

    The bound name is the last word of the statement ("import os.path as p" binds p, "from x import
    y" binds y); statements binding several names are kept when any is used.
    """
    used = set(re.findall(r"[A-Za-z_]\w*", source))
    kept = []
    for statement in imports:
        names = re.split(r"[\s,()]+", re.sub(r"\b\w+(?:\.\w+)*\s+as\s+", "", statement.split(" import ")[-1]))
        # "fmt" (Go), "./util.js" (JS): a quoted module path binds its last part
        bound = {n.strip("\"'`{};").rsplit("/", 1)[-1].split(".")[0] for n in names if n not in ("", "import")}
        if statement.startswith("from __future__") or bound & used or "*" in statement:
            kept.append(statement)
    return kept


# --- placing it -----------------------------------------------------------------------------


def place(store: Store, root: str, gene: Gene, task: str, budget: int, within: str = "") -> tuple[Placement, str]:
    """Where the gene goes in the recipient (under `within`, a directory of it, when given) and its
    conventions; and the recipient's context for `task`."""
    files = store.files()
    code = [f for f in files if f["lang"] in CODE_LANGS]
    inside = [f for f in code if _under(f["path"], within)]
    langs = Counter(f["lang"] for f in (inside or code) if not TEST_FILE.search(f["path"]))
    lang = langs.most_common(1)[0][0] if langs else gene.lang
    scores, _ = rank_files(store, task, [])
    near = sorted((f["path"] for f in (inside or code) if f["lang"] == lang and not TEST_FILE.search(f["path"])),
                  key=lambda p: (-scores.get(p, 0.0), p))
    directory = parent_dir(near[0]) if near else within
    stem = re.sub(r"\W", "_", posixpath.basename(gene.path).split(".")[0].lower()) or "gene"
    ext = EXTENSIONS.get(lang, ".txt")
    module = _free(root, posixpath.join(directory, stem + ext))
    tests = sorted(f["path"] for f in code if TEST_FILE.search(f["path"]) and f["lang"] == lang)
    test = _free(root, _test_path(lang, module, tests)) if tests else ""
    package = _go_package(root, directory, near) if lang == "go" else posixpath.basename(directory)
    import_path = posixpath.splitext(module)[0].removeprefix("src/").replace("/", ".") if lang == "python" else ""
    conventions = _conventions(store, root, lang, code, tests)
    context = build_context(store, root, task, budget).text
    return Placement(lang, module, test, package, import_path, near[:8], conventions), context


def _under(path: str, directory: str) -> bool:
    return not directory or path == directory or path.startswith(directory + "/")


def gene_in_repo(query: str, given_dir: str, root: str) -> str:
    """A PATH[:SYMBOL] gene given relative to the --from directory, made relative to the repository's root."""
    path_part = query.partition("::")[0] if "::" in query else query.partition(":")[0]
    rel = os.path.relpath(given_dir, root).replace(os.sep, "/")
    if (path_part and " " not in query and rel != "." and not (Path(root) / path_part).is_file()
            and (Path(given_dir) / path_part).is_file()):
        return f"{rel}/{query}"
    return query


def _free(root: str, path: str) -> str:
    """`path`, or the first `stem_N.ext` after it that is not a file of the recipient yet."""
    stem, ext = posixpath.splitext(path)
    n, candidate = 2, path
    while (Path(root) / candidate).exists():
        candidate, n = f"{stem}_{n}{ext}", n + 1
    return candidate


def _test_path(lang: str, module: str, tests: list[str]) -> str:
    stem, ext = posixpath.splitext(posixpath.basename(module))
    if lang == "go":
        return posixpath.join(parent_dir(module), f"{stem}_test.go")
    where = Counter(parent_dir(t) for t in tests).most_common(1)[0][0]
    if lang == "python":
        return posixpath.join(where, f"test_{stem}.py")
    spec = sum(".spec." in t for t in tests) > len(tests) / 2
    return posixpath.join(where, f"{stem}.{'spec' if spec else 'test'}{ext}")


def _go_package(root: str, directory: str, near: list[str]) -> str:
    for path in near:
        if parent_dir(path) == directory:
            match = re.search(r"^package\s+(\w+)", (Path(root) / path).read_text(errors="replace"), re.MULTILINE)
            if match:
                return match.group(1)
    return posixpath.basename(directory) or "main"


def _conventions(store: Store, root: str, lang: str, code: list[dict], tests: list[str]) -> str:
    """What the recipient's pyramid says about how it is written: naming, errors, tests."""
    nodes = store.nodes_in_files([f["path"] for f in code if f["lang"] == lang][:300])
    functions = [n["name"] for n in nodes if n["kind"] in ("function", "method") and not n["name"].startswith("_")]
    snake = sum("_" in n and n.islower() for n in functions)
    camel = sum(n[:1].islower() and any(c.isupper() for c in n) for n in functions)
    pascal = sum(n[:1].isupper() for n in functions)
    style = max((snake, "snake_case"), (camel, "camelCase"), (pascal, "PascalCase"))[1] if functions else "unknown"
    lines = [f"language: {lang}; functions are named in {style} ({len(functions)} seen)"]
    errors = sorted({f"{n['name']} ({n['path']})" for n in nodes if re.search(r"(Error|Exception)$", n["name"])
                     and n["kind"] in ("class", "struct", "type", "interface")})
    if errors:
        lines.append("error types: " + ", ".join(errors[:8]))
    if tests:
        lines.append(f"tests: {len(tests)} files, e.g. " + ", ".join(tests[:4]))
        sample = store.node(tests[0])
        if sample is not None:
            lines.append(section("test-outline", sample["outline"], path=tests[0]))
    else:
        lines.append("tests: none")
    for name in ("pyproject.toml", "package.json", "go.mod", "Cargo.toml"):
        if (Path(root) / name).is_file():
            lines.append(section("manifest", _cap((Path(root) / name).read_text(errors="replace"), 300), path=name))
    return "\n".join(lines)


# --- prompts ----------------------------------------------------------------------------------


def card_prompt(gene: Gene, previous: str | None = None, problems: list[str] = (), attempt: int = 1) -> str:
    body = [section("summary", gene.summary) if gene.summary else "",
            section("symbols", symbol_tags(gene.symbols)),
            section("source", gene.source, path=gene.path, lang=gene.lang),
            section("imports", "\n".join(gene.imports)),
            "\n".join(f'<test path="{t["path"]}" name="{t["name"]}"/>' for t in gene.tests),
            section("tests", gene.test_source) if gene.test_source else "",
            *retry_parts(previous, list(problems), attempt)]
    return section("transfuse-card", "\n".join(b for b in body if b), gene=gene.query, source=gene.path)


def patch_prompt(card: str, gene: Gene, placement: Placement, context: str, previous: str | None = None,
                 problems: list[str] = (), attempt: int = 1) -> str:
    body = [section("card", card),
            section("symbols", symbol_tags(gene.symbols)),
            section("conventions", placement.conventions),
            section("recipient-context", context),
            *retry_parts(previous, list(problems), attempt)]
    return section("transfuse-patch", "\n".join(b for b in body if b), lang=placement.lang, module=placement.module,
                   test=placement.test, package=placement.package, **{"import": placement.import_path})


def plan(donor_store: Store, donor: str, store: Store, recipient: str, query: str, model: str,
         retries: int = DEFAULT_RETRIES, budget: int = DEFAULT_BUDGET, pricing: Pricing | None = None,
         within: str = "") -> Plan:
    """Where the gene is, where it would go, and what the two calls would cost: no LLM needed."""
    gene = locate(donor_store, donor, query)
    placement, context = place(store, recipient, gene, _task(gene.summary, gene), budget, within)
    result = Plan(gene, placement, model)
    pricing = pricing or Pricing.load()
    card_tokens = tokens.count(card_prompt(gene))
    result.estimate.add(pricing, model, tokens.count(CARD_SYSTEM), card_tokens, 600, CARD_OUTPUT, retries + 1)
    patch_tokens = tokens.count(patch_prompt("x" * 2400, gene, placement, context))
    result.estimate.add(pricing, model, tokens.count(PATCH_SYSTEM), patch_tokens,
                        min(PATCH_OUTPUT, tokens.count(gene.source) * 2 + 300), PATCH_OUTPUT, retries + 1)
    return result


def _task(text: str, gene: Gene) -> str:
    """What the recipient is searched for: the card's (or the gene's) words and the gene's names."""
    names = " ".join(identifier_words(s["name"].split(".")[-1]) for s in gene.symbols[:8])
    return f"{names} {text}"[:2000]


# --- checking a patch -------------------------------------------------------------------------


def recount(patch: str) -> str:
    """The patch with every hunk header's line counts recounted (models miscount them) and blank
    context lines given back their leading space."""
    lines = patch.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out, i = [], 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        body, j = [], i + 1
        while j < len(lines) and not _HUNK.match(lines[j]) and not lines[j].startswith("diff --git ") and not (
                lines[j].startswith("--- ") and j + 1 < len(lines) and lines[j + 1].startswith("+++ ")):
            body.append(lines[j] if lines[j] else " ")
            j += 1
        while body and body[-1] == " ":  # blank lines after the last hunk are not context
            body.pop()
        old = sum(1 for line in body if line[:1] in (" ", "-"))
        new = sum(1 for line in body if line[:1] in (" ", "+"))
        old_start, new_start = int(match.group(1)), int(match.group(2))
        out.append(f"@@ -{old_start if old else 0},{old} +{new_start if new else 0},{new} @@{match.group(3)}")
        out += body
        i = j
    return "\n".join(out) + "\n"


def touched(patch: str) -> list[str]:
    """The paths a patch writes (its `+++ b/...` lines), and those it deletes."""
    paths = []
    for line in patch.split("\n"):
        if line.startswith(("+++ ", "--- ")):
            name = line[4:].split("\t")[0].strip()
            if name != "/dev/null":
                paths.append(name[2:] if name[:2] in ("a/", "b/") else name)
    return list(dict.fromkeys(paths))


def check_patch(root: str, patch: str) -> tuple[list[str], list[str]]:
    """(files the patch leaves, problems): `git apply --check` in `root`, then every file parsed after it."""
    if not patch.strip() or not touched(patch):
        return [], ["the answer holds no unified diff"]
    problems = []
    for path in touched(patch):
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or parts[0] in (".git", ".cockpit"):
            problems.append(f"{path}: outside the files the patch may touch")
    if problems:
        return [], problems
    with tempfile.TemporaryDirectory(prefix="cockpit-transfuse-") as tmp:
        patch_file = Path(tmp) / "gene.patch"
        patch_file.write_text(patch, encoding="utf-8")
        checked = git(root, "apply", "--check", "--verbose", str(patch_file), check=False)
        if checked.returncode != 0:
            errors = [line for line in checked.stderr.splitlines() if line.startswith(("error", "fatal", "warning"))]
            return [], [f"git apply --check: {e}" for e in (errors or checked.stderr.splitlines())[:8]]
        after = Path(tmp) / "after"
        after.mkdir()
        for path in touched(patch):  # the files as they are, for the patch to apply to
            if (Path(root) / path).is_file():
                (after / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(root) / path, after / path)
        # Outside any repository (GIT_CEILING_DIRECTORIES), git apply patches the files in its directory.
        applied = git(str(after), "apply", str(patch_file), check=False, env={"GIT_CEILING_DIRECTORIES": tmp})
        if applied.returncode != 0:
            return [], [f"git apply: {line}" for line in applied.stderr.splitlines()[:8]]
        left = sorted(str(p.relative_to(after)).replace(os.sep, "/") for p in after.rglob("*") if p.is_file())
        for path in left:
            lang = detect(path)
            if lang in LANGUAGES and lang != "markdown":
                text = (after / path).read_text(encoding="utf-8", errors="replace")
                problems += [f"{path} does not parse after the patch: {e}" for e in syntax_errors(text, lang)]
        return left, problems


def apply_on_branch(root: str, patch_path: str, job_id: int, message: str) -> dict:
    """Commit the patch on a new branch `cockpit/transfuse-<id>` of the recipient, and stay on it."""
    require_clean(root)
    branch = f"cockpit/transfuse-{job_id}"
    if git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0:
        raise TransfuseError(f"branch {branch} already exists in {root}")
    start = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(root, "checkout", "-q", "-b", branch)
    identity = {}
    if not git(root, "config", "user.email", check=False).stdout.strip():
        identity = {"GIT_AUTHOR_NAME": "cockpit", "GIT_AUTHOR_EMAIL": "cockpit@localhost",
                    "GIT_COMMITTER_NAME": "cockpit", "GIT_COMMITTER_EMAIL": "cockpit@localhost"}
    try:
        git(root, "apply", "--index", patch_path)
        git(root, "commit", "-q", "-m", message, env=identity)
    except RuntimeError as exc:
        git(root, "reset", "-q", "--hard", check=False)  # the tree was clean: only the patch is undone
        git(root, "checkout", "-q", start, check=False)
        git(root, "branch", "-q", "-D", branch, check=False)
        raise TransfuseError(f"could not apply the patch on {branch}: {exc}") from None
    commit = git(root, "rev-parse", "HEAD").stdout.strip()
    return {"branch": branch, "commit": commit, "from": start}


def require_clean(root: str) -> None:
    """Refuse a recipient that is not a git work tree, or has uncommitted changes to tracked files."""
    if git(root, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise TransfuseError(f"{root} is not a git repository: --apply needs one")
    status = git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if status:
        changed = plural(len(status.splitlines()), "file")
        raise TransfuseError(f"{root} has uncommitted changes ({changed}); commit or stash them first: --apply needs "
                             "a clean tree")


# --- the job --------------------------------------------------------------------------------


def create_job(store: Store, donor: str, gene: str, recipient: str, *, model: str, apply: bool = False,
               out: str | None = None, retries: int = DEFAULT_RETRIES, max_cost: float | None = None,
               budget: int = DEFAULT_BUDGET, within: str = "", given: tuple[str, str] | None = None) -> Job:
    """A queued transfusion in the recipient's cache (`store`); `job.run(run_job)` does it. Paths absolute;
    `within`: the recipient's directory the gene goes to; `given`: donor and recipient as the user wrote them."""
    inputs = {"donor": os.path.abspath(donor), "gene": gene, "recipient": os.path.abspath(recipient), "apply": apply,
              "out": os.path.abspath(out) if out else None, "model": model, "retries": retries, "max_cost": max_cost,
              "budget": budget, "within": within}
    shown = given or (Path(donor).name, Path(recipient).name)
    return Jobs(store).create("transfuse", f"transfuse {gene[:60]} from {shown[0]} into {shown[1]}", inputs)


def job_dir(job: Job) -> Path:
    """Where a transfusion keeps its card and patch: the recipient's `.cockpit/jobs/<id>/`."""
    return Path(job.jobs.store.path).parent / "jobs" / str(job.id)


def run_job(job: Job) -> dict:
    """Locate, card, place, patch (and apply); the job's outputs name the card and the patch."""
    i = job.inputs
    store, donor, recipient = job.jobs.store, i["donor"], i["recipient"]
    folder = job_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    total = 4 + bool(i["apply"])
    job.progress(0, total)

    def located() -> dict:
        donor_store = open_store(donor)
        try:
            refresh_pyramid(donor, donor_store)
            return asdict(locate(donor_store, donor, i["gene"]))
        finally:
            donor_store.close()

    gene = Gene(**job.step("locate", located))
    job.log(f"gene: {gene.path}" + (f" ({', '.join(s['name'] for s in gene.symbols[:5])})" if gene.symbols else ""))
    job.progress(1, total)

    def carded() -> dict:
        caller = Caller(job, i["model"], CARD_SYSTEM, i.get("max_cost"), shape=CARD_SHAPE)
        outcome = ask_until_valid(caller, "card", ["card"], i["retries"],
                                  lambda prev, problems, n: card_prompt(gene, prev, problems, n), _check_card,
                                  CARD_OUTPUT)
        if not outcome.ok:
            raise TransfuseError(f"no usable pattern card after {outcome.attempts} answers: {outcome.problems[0]}")
        return {"card": outcome.value, "attempts": outcome.attempts}

    card = job.step("card", carded)
    card_path = folder / "card.md"
    card_path.write_text(card["card"], encoding="utf-8")
    job.log(f"pattern card: {card_path} ({plural(card['attempts'], 'answer')})")
    job.progress(2, total)

    def placed() -> dict:
        refresh_pyramid(recipient, store)
        placement, context = place(store, recipient, gene, _task(card["card"], gene), i["budget"],
                                   i.get("within", ""))
        return {"placement": asdict(placement), "context": context}

    where = job.step("place", placed)
    placement = Placement(**where["placement"])
    job.log(f"goes to: {placement.module}" + (f", test {placement.test}" if placement.test else ""))
    job.progress(3, total)

    def check(answer: str):
        patch = recount(code_block(answer, ("diff", "patch")))
        files, problems = check_patch(recipient, patch)
        return {"patch": patch, "files": files}, problems

    def patched() -> dict:
        caller = Caller(job, i["model"], PATCH_SYSTEM, i.get("max_cost"), shape=PATCH_SHAPE)
        outcome = ask_until_valid(caller, "patch", ["patch"], i["retries"],
                                  lambda prev, problems, n: patch_prompt(card["card"], gene, placement,
                                                                         where["context"], prev, problems, n),
                                  check, PATCH_OUTPUT)
        if not outcome.ok:
            rejected = folder / "rejected.patch"
            rejected.write_text(outcome.value["patch"] if outcome.value else outcome.answer, encoding="utf-8")
            raise TransfuseError(f"no patch passed the checks after {outcome.attempts} answers: "
                                 f"{outcome.problems[0]} (last answer in {rejected})")
        return {**outcome.value, "attempts": outcome.attempts}

    patch = job.step("patch", patched)  # remembered whole: once applied, the patch would no longer --check
    patch_path = Path(i["out"]) if i.get("out") else folder / "transfuse.patch"
    patch_path.parent.mkdir(parents=True, exist_ok=True)
    patch_path.write_text(patch["patch"], encoding="utf-8")
    job.log(f"patch: {patch_path} ({', '.join(patch['files'])}; {plural(patch['attempts'], 'answer')})")
    job.progress(4, total)
    outputs = {"card": str(card_path), "card_markdown": card["card"], "patch": str(patch_path),
               "files": patch["files"], "gene": {"path": gene.path, "symbols": [s["name"] for s in gene.symbols]},
               "module": placement.module, "attempts": {"card": card["attempts"], "patch": patch["attempts"]}}
    if i["apply"]:
        message = f"Transfuse {gene.name} from {Path(donor).name} (cockpit job {job.id})"
        outputs.update(job.step("apply", lambda: apply_on_branch(recipient, str(patch_path), job.id, message)))
        job.log(f"applied on branch {outputs['branch']}")
        job.progress(5, total)
    outputs["spend"] = {k.strip('[]"'): v for k, v in spend_by_node(store, job.id).items()}
    return outputs


def _check_card(answer: str) -> tuple[str, list[str]]:
    card = answer.strip()
    card = code_block(card, ("markdown", "md")) if card.startswith("```") else card + "\n"
    if not re.search(r"^#{1,3} \S", card, re.MULTILINE):
        return card, ["the card is not Markdown with headings (expected '# Pattern card: ...' and its sections)"]
    return card, []
