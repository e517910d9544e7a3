"""The `cockpit` command.

Exit codes: 0 ok, 1 failure, 2 bad usage. Errors are one line on stderr.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click_default_group import DefaultGroup

from cache.store import CacheError, Store
from cockpit import service
from cockpit.core.config import Config, ConfigError
from summarizers.prompts import DEFAULT_CONCURRENCY, DEFAULT_MODEL

if TYPE_CHECKING:
    from cockpit.jobs.runner import Job

# Every command imports what it uses inside it: an agent calling `cockpit context` from its shell pays
# for the context, not for the parser, the numerical stack, the LLM client or the app.
LEVELS = ("2", "4", "8", "16", "32", "64", "outline", "source")  # cockpit.core.pyramid.LEVELS (a test keeps them one)
LARGE_OUTPUT_CHARS = 80_000  # about 20k tokens: past this, `summarize` says what it printed


class Failure(click.ClickException):
    """A failure that is not the user's usage: exit code 1, one line."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"cockpit: error: {self.format_message()}", err=True)


@click.group(cls=DefaultGroup, default="tui", default_if_no_args=True)
@click.version_option(package_name="cockpit")
def main() -> None:
    """Cockpit: pyramid summaries of a repository, and the right context for coding agents."""


def open_store(root: str, config: Config, cache: str | None, rebuild: bool) -> Store:
    try:
        return Store(service.cache_path(root, config, cache), root, rebuild=rebuild)
    except CacheError as exc:
        raise Failure(str(exc)) from None


@contextlib.contextmanager
def session(root: str, cache: str | None = None, rebuild: bool = False):
    """The repo's config and open cache; cache and file errors become one-line failures."""
    try:
        config = Config.load(root)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    store = open_store(root, config, cache, rebuild)
    try:
        yield config, store
    except sqlite3.OperationalError as exc:
        if "full" in str(exc):
            raise Failure(_disk_full(store.path)) from None
        raise Failure(f"cache {store.path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise Failure(f"cache {store.path} is damaged ({exc}); run again with --rebuild") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise Failure(_disk_full(Path(exc.filename or store.path))) from None
        raise Failure(f"{exc.filename or 'output'}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            store.close()


def _disk_full(path: Path) -> str:
    """One line naming the full disk; every batch written before it is kept."""
    mount = Path(path).resolve().parent
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    free = shutil.disk_usage(mount).free
    return (f"disk full: {mount} has {free // 1024:,} KiB free, cannot write {path}; what was built so far is kept: "
            "free some space and run again to finish")


def refresh(root: str, store: Store, config: Config, quiet: bool = False, subpath: str = "",
            workers: int | None = None, max_file_size: int | None = None, exclude: tuple[str, ...] = (),
            job: Job | None = None):
    """`service.refresh` with a progress bar on a terminal."""
    with _progress_bar(sys.stderr.isatty() and not quiet) as bar:
        return service.refresh(root, store, config, bar or None, subpath, workers, max_file_size, exclude, job)


repo_option = click.option("--repo", "root", default=".", show_default=True,
                           type=click.Path(exists=True, file_okay=False, resolve_path=True),
                           help="The repository.")
cache_option = click.option("--cache", type=click.Path(dir_okay=False),
                            help="Cache file (default: REPO/.cockpit/cache.sqlite).")


@main.command()
@click.argument("root", default=".", type=click.Path(exists=True, file_okay=False, resolve_path=True))
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--depth", type=click.IntRange(0, 64), default=2, show_default=True,
              help="Levels below the top to print.")
@click.option("--view", type=click.Choice(LEVELS), default="16", show_default=True,
              help="Rung of the ladder to print: a summary of at most N words, the outline, or the source.")
@click.option("--path", "subpath", default="", metavar="SUBDIR", help="Build and print only this subtree.")
@click.option("--budget", type=click.IntRange(50), metavar="TOKENS",
              help="Print the repository from its top as deep and detailed as fits in TOKENS (Markdown).")
@click.option("--show-skipped", is_flag=True, help="List the files left out of the pyramid, with the reason.")
@click.option("--rebuild", is_flag=True, help="Discard the cache and build from scratch.")
@click.option("--check", "check_cache", is_flag=True,
              help="Verify the cache's invariants (tree, hashes, token counts), repair what is wrong, and say so.")
@cache_option
@click.option("--max-file-size", type=click.IntRange(1), help="Skip files larger than this many bytes.")
@click.option("--workers", type=click.IntRange(1, 64), help="Processes to build with (default: every core).")
@click.option("--exclude", multiple=True, metavar="PATTERN", help="Leave out paths matching this gitignore pattern.")
@click.option("--llm/--no-llm", default=None,
              help="Summaries from Claude (default: when ANTHROPIC_API_KEY is set) or the built-in summarizer.")
@click.option("--model", default=None, help=f"Claude model for --llm (default: config `model`, else {DEFAULT_MODEL}).")
@click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
              help="With --llm: stop before a call could take this run's spend past USD.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True,
              help="With --llm: API calls in flight at once.")
@click.option("--batch", is_flag=True,
              help="Implies --llm: ask for the files in one Message Batch (half price) and wait for it; "
                   "an interrupted wait is picked up by the next run.")
@click.option("--retry-failed", is_flag=True,
              help="With --llm: ask again for nodes whose last answer failed validation (otherwise they wait "
                   "until they change, or `retry_failed_after` days).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or closing line.")
def summarize(root, fmt, out, depth, view, subpath, budget, show_skipped, rebuild, check_cache, cache, max_file_size,
              workers, exclude, llm, model, max_cost, concurrency, batch, retry_failed, quiet):
    """Build or refresh the pyramid of ROOT (default: .) and print it."""
    from cockpit.core import integrity
    from cockpit.core.context import repo_relative
    from cockpit.core.render import EmptyPyramid, fit_overview, load_tree, to_json, to_markdown
    from cockpit.jobs.runner import Jobs
    from summarizers import tokens

    if budget is not None and (fmt != "md" or subpath):
        raise click.UsageError("--budget fits the whole repository's pyramid as Markdown: leave out --format json "
                               "and --path (or use --depth and --view)")
    subpath = repo_relative(subpath)
    if subpath is None:
        raise click.BadParameter("give a directory inside the repository", param_hint="--path")
    if subpath and not os.path.isdir(os.path.join(root, subpath)):
        raise click.BadParameter(f"{subpath!r} is not a directory under {root}", param_hint="--path")
    if llm is None:
        llm = batch or bool(os.environ.get("ANTHROPIC_API_KEY"))
    with session(root, cache, rebuild) as (config, store):
        if check_cache:
            report = integrity.check(store, root, deep=True)
            click.echo(report.repair(store) or report.describe(), err=True)
        title = f"summarize {subpath or '.'}" + (" with Claude" if llm else "")
        inputs = {"root": root, "subpath": subpath, "llm": llm, "model": model, "max_cost": max_cost,
                  "retry_failed": retry_failed}
        with Jobs(store).create("summarize", title, inputs).running() as job:
            stats = refresh(root, store, config, quiet, subpath, workers, max_file_size, exclude, job)
            job.outputs = {"files": stats.files_total, "parsed": stats.files_parsed, "skipped": stats.skipped,
                           "seconds": round(stats.seconds, 3)}
            if llm:
                cap = _spend_cap(store, config, max_cost)
                llm_stats = _llm_summaries(root, store, config, model or config.model or DEFAULT_MODEL, cap,
                                           concurrency, subpath, batch, job.ledger_job, retry_failed)
                job.outputs["llm"] = llm_stats.describe()
                if not quiet:
                    click.echo(f"cockpit: {llm_stats.describe()}", err=True)
        if budget is not None:
            try:
                text = fit_overview(store, root, budget)
            except EmptyPyramid as exc:
                raise Failure(str(exc)) from None
        else:
            tree = load_tree(store, root, subpath, depth)
            if tree is None:
                raise Failure(f"nothing to summarize under {os.path.join(root, subpath)}")
            text = to_json(root, tree, view) if fmt == "json" else to_markdown(root, tree, view)
        _write(text, out)
        if budget is None and not quiet and len(text) > LARGE_OUTPUT_CHARS:  # counted only when it may matter
            click.echo(f"cockpit: printed {tokens.count(text):,} tokens; --budget TOKENS fits the pyramid to a "
                       "budget", err=True)
        if show_skipped:
            skipped = store.skipped()
            under = [(p, r) for p, r in skipped if not subpath or p == subpath or p.startswith(subpath + "/")]
            for path, reason in under:
                click.echo(f"skipped {path}: {reason}", err=True)
        notice = service.cache_notice(root, store.path)
        if not quiet and notice:
            click.echo(f"cockpit: {notice}", err=True)
        if not quiet and stats.files_total == 0 and stats.skipped:  # say why the pyramid is empty
            click.echo(f"cockpit: no file to summarize: {service.skipped_summary(store.skipped())}; "
                       "--show-skipped lists them", err=True)
        if sys.stderr.isatty() and not quiet:
            click.echo(
                f"{stats.files_total} files, {stats.files_parsed} parsed, {stats.dirs_summarized} directories "
                f"summarized, {stats.skipped} skipped in {stats.seconds:.2f}s · cache {store.path}",
                err=True,
            )


@main.command()
@click.argument("root", default=".", type=click.Path(exists=True, file_okay=False, resolve_path=True))
@cache_option
@click.option("--theme", type=click.Choice(["dark", "light", "high-contrast"]),
              help="Colour theme (default: config `theme`, else the last one chosen).")
@click.option("--llm/--no-llm", default=None,
              help="Summaries from Claude (default: when ANTHROPIC_API_KEY is set) or the built-in summarizer.")
@click.option("--no-watch", is_flag=True, help="Do not follow changes to the repository.")
def tui(root, cache, theme, llm, no_watch):
    """Open the full-screen cockpit on ROOT (default: .): pyramid, detail, context preview, jobs, burn."""
    from cockpit.faces.tui.app import CockpitApp

    if not sys.stdout.isatty():
        raise click.UsageError("the cockpit needs a terminal; for a pipe, use `cockpit summarize`")
    try:
        config = Config.load(root)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    path = service.cache_path(root, config, cache)
    open_store(root, config, str(path), False).close()  # a damaged cache fails here, in one line
    llm = bool(os.environ.get("ANTHROPIC_API_KEY")) if llm is None else llm
    CockpitApp(root, path, theme=theme, llm=llm, watch=not no_watch).run()


@main.command()
@click.argument("task")
@click.option("--budget", type=click.IntRange(50), default=4000, show_default=True, help="Tokens the output may use.")
@click.option("--focus", multiple=True, metavar="PATH|SYMBOL", help="Pin a file, directory or symbol (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", help="Output format.")
@click.option("--explain", is_flag=True, help="Say why each node is there (Markdown).")
@repo_option
@cache_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar while the pyramid is refreshed.")
def context(task, budget, focus, fmt, explain, root, cache, quiet):
    """The best context for TASK that fits --budget tokens: the repo at low zoom, what matters at high zoom."""
    from cockpit.core.context import ContextError, build_context

    with session(root, cache) as (config, store):
        refresh(root, store, config, quiet)
        try:
            result = build_context(store, root, task, budget, list(focus), fmt, explain)
        except ContextError as exc:
            raise click.BadParameter(str(exc)) from None
        click.echo(result.text, nl=False)
    _record_served(root, "context", result.text, result.used)


@main.command()
@click.argument("target", metavar="PATH[:SYMBOL]")
@click.option("--view", type=click.Choice(LEVELS), default="outline", show_default=True, help="Rung of the ladder.")
@repo_option
@cache_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar while the pyramid is refreshed.")
def zoom(target, view, root, cache, quiet):
    """One node of the pyramid at one rung of its ladder."""
    from cockpit.core.context import ContextError, render_zoom, resolve_node
    from cockpit.core.pyramid import source_tokens

    with session(root, cache) as (config, store):
        refresh(root, store, config, quiet)
        try:
            node = resolve_node(store, target)
        except ContextError as exc:
            raise click.BadParameter(str(exc), param_hint="PATH[:SYMBOL]") from None
        source_tokens(root, store, [node])
        text = render_zoom(root, node, view)
        click.echo(text, nl=False)
    _record_served(root, "zoom", text)


def _record_served(root: str, tool: str, text: str, used: int | None = None) -> None:
    """Note the answer in the per-user table `cockpit burn` reads (never fails the command)."""
    from cockpit.spend.agents import record_served

    record_served("cli", root, tool, text, tokens=used)  # the answer's count when it has one: not counted twice


@main.command("mcp")
@repo_option
@cache_option
@click.option("--http", "address", metavar="HOST:PORT",
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1).")
@click.option("--token", envvar="COCKPIT_MCP_TOKEN",
              help="With --http: require 'Authorization: Bearer TOKEN' (or set COCKPIT_MCP_TOKEN).")
@click.option("--no-refresh", is_flag=True, help="Serve the cache as it is: skip the refresh at startup.")
@click.option("--no-watch", is_flag=True, help="Do not follow changes to the repository while serving.")
def mcp_command(root, cache, address, token, no_refresh, no_watch):
    """Serve the pyramid to coding agents over MCP (stdio unless --http)."""
    from cockpit.faces import mcp as mcp_server  # the MCP SDK loads only for this command

    host = port = None
    if address:
        try:
            host, port = mcp_server.parse_address(address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--http") from None
        if not token and host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(f"cockpit: warning: serving {host} without --token: anyone who can reach it can read the repo",
                       err=True)
    if not address:
        mcp_server.exit_on_signals()  # from the start: the startup refresh may take a while
    try:
        server = mcp_server.create_server(root, cache, refresh=not no_refresh)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except CacheError as exc:
        raise Failure(str(exc)) from None
    except sqlite3.Error as exc:
        raise Failure(f"cache: {exc}; run `cockpit summarize --rebuild`") from None
    if not no_watch:
        from cockpit.jobs.watch import watch_in_background

        config = Config.load(root)
        watch_in_background(root, service.cache_path(root, config, cache),
                            lambda line: click.echo(f"cockpit: {line}", err=True), **service.scan_options(config, root))
    if address:
        mcp_server.serve_http(server, host, port, token)
    else:
        server.run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--latency-ms", type=click.IntRange(0), default=0, help="Delay every answer, as a distant API would.")
@click.option("--script", "script", type=click.Path(dir_okay=False), help="Play the scenario in this JSON file.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False),
              help="Append every request and answer to FILE (JSONL).")
def twin(host, port, latency_ms, script, log_path):
    """Run the Anthropic Messages API twin (for tests and key-less LLM runs). Ctrl-C stops."""
    from cockpit.twin.script import Scenario, ScenarioError
    from cockpit.twin.server import serve

    try:
        scenario = Scenario.load(script) if script else None
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from None
    serve(host, port, latency_ms, scenario=scenario, log_path=log_path)


def llm_job_options(budget: int):
    """The flags semport and transfuse share: the plan, the model, retries, the spend cap."""
    def decorate(command):
        for option in reversed([
            click.option("--plan", "plan_only", is_flag=True,
                         help="Print the plan and its estimated cost; call nothing."),
            click.option("--model", default=None,
                         help=f"Claude model (default: config `model`, else {DEFAULT_MODEL})."),
            click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
                         help="Times a rejected answer is asked again, with its errors."),
            click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
                         help="Stop before a call could take the job's spend past USD."),
            click.option("--budget", type=click.IntRange(500), default=budget, show_default=True,
                         help="Tokens of pyramid context per request."),
            click.option("-q", "--quiet", is_flag=True, help="Print neither the plan nor progress."),
        ]):
            command = option(command)
        return command
    return decorate


def _need_llm(command: str) -> None:
    from cockpit.jobs.factory import NEED_LLM, llm_configured

    if not llm_configured():
        raise Failure(f"{command} {NEED_LLM}")


def _job_cap(store: Store, config: Config, max_cost: float | None, model: str) -> float | None:
    """A job's spend cap (--max-cost or config, and the daily budget); keeping to one needs the model's price."""
    from cockpit.spend.ledger import Pricing

    cap = _spend_cap(store, config, max_cost)
    if cap is not None and Pricing.load().price(model) is None:
        raise click.UsageError(f"no price known for model {model!r}: cannot keep to a spend cap (add it to "
                               "pricing.json)")
    return cap


def _run_job(job: Job, work) -> dict:
    """Run a job here; its outputs, or a one-line failure that says how to resume it."""
    click.echo(f"job {job.id}: {job.jobs.get(job.id)['title']}", err=True)
    record = job.run(work)
    spent = record["spend"]
    click.echo(f"job {job.id} {record['state']}: {spent['calls']} calls, {spent['input_tokens']:,} input + "
               f"{spent['output_tokens']:,} output tokens, ${spent['cost_usd']:.4f}", err=True)
    if record["state"] != "done":
        raise Failure(f"job {job.id} {record['state']}: {record['error'] or 'stopped'} "
                      f"(resume: cockpit jobs resume {job.id} --repo {job.jobs.store.root})")
    return record["outputs"]


@main.command()
@click.argument("src", type=click.Path(exists=True))
@click.option("--to", "to", type=click.Choice(["go", "typescript", "python"]), required=True,
              help="The language to port into.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, resolve_path=True), metavar="DIR",
              help="Where the port goes (with its manifest, semport.json).")
@click.option("--check", "check_cmd", metavar="CMD",
              help="Shell command run in DIR after each file (a compiler, tests); its failures are fed back.")
@click.option("--check-timeout", type=click.FloatRange(1), default=300, show_default=True, help="Seconds CMD may take.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist in DIR.")
@llm_job_options(budget=6000)
@cache_option
def semport(src, to, out_dir, check_cmd, check_timeout, force, plan_only, model, retries, max_cost, budget, quiet,
            cache):
    """Port SRC (a file, package or directory) into another language: idiomatic, file by file, imports first."""
    from cockpit.jobs import semport as port
    from cockpit.jobs.factory import plural, repo_root

    given, src = src, os.path.abspath(src)
    root = repo_root(src)  # the enclosing repository: its cache, its pyramid, its job list
    with session(root, cache) as (config, store):
        refresh(root, store, config, quiet)
        model = model or config.model or DEFAULT_MODEL
        try:
            the_plan = port.plan(store, root, src, to, out_dir, model, retries, budget)
        except port.SemportError as exc:
            raise Failure(str(exc)) from None
        if plan_only or not quiet:
            click.echo(the_plan.describe(force))
        if plan_only:
            return
        _need_llm("semport")
        if the_plan.existing and not force:
            raise Failure(f"{len(the_plan.existing)} files to write already exist in {out_dir}; use --force")
        job = port.create_job(store, root, src, to, out_dir, model=model, check=check_cmd, check_timeout=check_timeout,
                              retries=retries, force=force, max_cost=_job_cap(store, config, max_cost, model),
                              budget=budget, given=given)

        def report(f, result):
            if quiet:
                return
            if result["status"] == "ported":
                tries = f", {result['attempts']} answers" if result["attempts"] > 1 else ""
                mapped = plural(len(result["symbols"]), "symbol")
                click.echo(f"ported {f.source} -> {f.target} ({mapped} mapped{tries})")
            else:
                why = result["errors"][0].splitlines()[0]
                click.echo(f"FAILED {f.source} -> {f.target} after {result['attempts']} answers: {why}")

        outputs = _run_job(job, lambda j: port.run_job(j, report))
    click.echo(f"manifest: {outputs['manifest']}")
    if outputs["failed"]:
        raise Failure(f"{outputs['failed']} of {outputs['files']} files failed to port (see {outputs['manifest']})")


@main.command()
@click.option("--from", "donor", required=True, type=click.Path(exists=True, file_okay=False),
              help="The donor repository (or a directory of one), where the gene is.")
@click.option("--gene", required=True, metavar="TEXT|PATH[:SYMBOL]",
              help="What to transplant: a description, or a file (and symbol) of the donor.")
@click.option("--into", "recipient", required=True, type=click.Path(exists=True, file_okay=False),
              help="The recipient repository, or the directory of one the pattern goes to.")
@click.option("--apply", "apply_patch", is_flag=True,
              help="Commit the patch on a new branch cockpit/transfuse-ID of the recipient (its tree must be clean).")
@click.option("--out", type=click.Path(dir_okay=False, resolve_path=True),
              help="Write the patch here (default: RECIPIENT/.cockpit/jobs/ID/transfuse.patch).")
@llm_job_options(budget=4000)
def transfuse(donor, gene, recipient, apply_patch, out, plan_only, model, retries, max_cost, budget, quiet):
    """Transplant a pattern (a gene) from the donor into the recipient, in the recipient's style, as a patch."""
    from cockpit.jobs import transfuse as tf
    from cockpit.jobs.factory import repo_root

    given = (donor, recipient)
    donor, recipient = repo_root(donor), repo_root(os.path.abspath(given[1]))  # the enclosing repositories
    gene = tf.gene_in_repo(gene, os.path.abspath(given[0]), donor)
    within = os.path.relpath(os.path.abspath(given[1]), recipient).replace(os.sep, "/")
    within = "" if within == "." else within
    with session(recipient) as (config, store):
        try:
            donor_config = Config.load(donor)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        donor_store = open_store(donor, donor_config, None, False)
        model = model or config.model or DEFAULT_MODEL
        try:
            refresh(donor, donor_store, donor_config, quiet)
            refresh(recipient, store, config, quiet)
            the_plan = tf.plan(donor_store, donor, store, recipient, gene, model, retries, budget, within=within)
        except tf.TransfuseError as exc:
            raise Failure(str(exc)) from None
        finally:
            donor_store.close()
        if plan_only or not quiet:
            click.echo(the_plan.describe())
        if plan_only:
            return
        _need_llm("transfuse")
        try:
            if apply_patch:
                tf.require_clean(recipient)
        except tf.TransfuseError as exc:
            raise Failure(str(exc)) from None
        job = tf.create_job(store, donor, gene, recipient, model=model, apply=apply_patch, out=out, retries=retries,
                            max_cost=_job_cap(store, config, max_cost, model), budget=budget, within=within,
                            given=given)
        outputs = _run_job(job, tf.run_job)
    click.echo(f"card: {outputs['card']}\npatch: {outputs['patch']} ({', '.join(outputs['files'])})")
    if "branch" in outputs:
        click.echo(f"applied on branch {outputs['branch']} ({outputs['commit'][:10]}), from {outputs['from']}")


@main.command()
@click.argument("root", default=".", type=click.Path(exists=True, file_okay=False, resolve_path=True))
@cache_option
@click.option("--exclude", multiple=True, metavar="PATTERN", help="Leave out paths matching this gitignore pattern.")
@click.option("--llm", is_flag=True, help="Also refresh LLM summaries of what changed, once changes settle.")
@click.option("--settle", type=click.FloatRange(0), default=30.0, show_default=True,
              help="With --llm: seconds without changes before the LLM is asked.")
@click.option("--model", default=None,
              help=f"With --llm: Claude model (default: config `model`, else {DEFAULT_MODEL}).")
@click.option("--max-cost", type=click.FloatRange(0), help="With --llm: most USD each LLM refresh may spend.")
def watch(root, cache, exclude, llm, settle, model, max_cost):
    """Keep the pyramid of ROOT current as files change; one line per refresh. Ctrl-C stops."""
    from cockpit.jobs.watch import Refresh, Watcher

    with session(root, cache) as (config, store):
        def log(refresh: Refresh) -> None:
            click.echo(f"{time.strftime('%H:%M:%S')} {refresh.describe()}")

        def llm_refresh():
            stats = _llm_summaries(root, store, config, model or config.model or DEFAULT_MODEL,
                                   _spend_cap(store, config, max_cost), DEFAULT_CONCURRENCY, "", False)
            click.echo(f"{time.strftime('%H:%M:%S')} {stats.describe()}")
            return stats

        options = service.scan_options(config, root)
        options["exclude"] += exclude
        watcher = Watcher(root, store, **options, on_refresh=log,
                          llm_refresh=llm_refresh if llm else None, settle_seconds=settle)
        click.echo(f"watching {root} (cache {store.path}); Ctrl-C stops", err=True)
        try:
            watcher.run()
        except KeyboardInterrupt:
            pass


def _spend_cap(store: Store, config: Config, max_cost: float | None) -> float | None:
    """What this run may spend: --max-cost (or config), and what is left of the daily budget."""
    caps = [c for c in (max_cost if max_cost is not None else config.max_cost,) if c is not None]
    if config.daily_budget is not None:
        from cockpit.spend.ledger import parse_since
        from cockpit.spend.ledger import spend as spent

        today = spent(store, parse_since("today"))["total"]["cost_usd"]
        caps.append(max(0.0, config.daily_budget - today))
    return min(caps) if caps else None


def _llm_summaries(root, store, config, model, max_cost, concurrency, subpath, batch, job=None, retry_failed=False):
    import anthropic  # the SDK loads only when an LLM is asked for

    from cockpit.spend.ledger import Ledger
    from summarizers import llm

    try:
        return llm.summarize(root, store, Ledger(store), model=model, concurrency=concurrency, max_cost=max_cost,
                             subpath=subpath, batch=batch, job=job, retry_failed=retry_failed,
                             retry_failed_after=config.retry_failed_after * 86400)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except llm.NoApiKey as exc:
        raise Failure(f"--llm: {exc}") from None
    except anthropic.AnthropicError as exc:  # raised before any call: no key, a bad base URL
        raise Failure(f"--llm: {str(exc).splitlines()[0]}") from None


@main.command()
@click.option("--since", default="all", show_default=True, metavar="30m|1h|today|7d|all",
              help="Only calls started in this window.")
@click.option("--by", type=click.Choice(["model", "job"]), help="One row per model or per job.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@repo_option
@cache_option
def spend(since, by, fmt, root, cache):
    """What LLM calls for this repository used and cost, from the ledger."""
    from cockpit.spend.ledger import parse_since
    from cockpit.spend.ledger import spend as spend_totals

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with session(root, cache) as (_, store):
        totals = spend_totals(store, start, by)
        waiting = store.waiting_on_failures()
    if fmt == "json":
        click.echo(json.dumps({"since": start, "by": by, **totals, "waiting_on_failed_answer": waiting}, indent=2))
        return
    columns = [("calls", "CALLS"), ("failed", "FAILED"), ("input_tokens", "INPUT"), ("output_tokens", "OUTPUT"),
               ("cache_write_tokens", "CACHE WRITE"), ("cache_read_tokens", "CACHE READ")]
    rows = totals["rows"] + [totals["total"]]
    table = [[(by or "").upper() or "SPEND"] + [title for _, title in columns] + ["COST USD"]]
    for row in rows:
        cost = f"{row['cost_usd']:.4f}" + (f" (+{row['unpriced_calls']} unpriced)" if row["unpriced_calls"] else "")
        table.append([row["group"]] + [f"{row[name]:,}" for name, _ in columns] + [cost])
    _print_table(table, right=tuple(range(1, len(table[0]))))
    if waiting:
        click.echo(f"{waiting} nodes waiting on a failed answer: asked again when they change, after "
                   "`retry_failed_after` days, or with `cockpit summarize --llm --retry-failed`")


@main.command()
@click.option("--live", is_flag=True, help="Redraw in place every second; Ctrl-C stops.")
@click.option("--since", default="today", show_default=True, metavar="today|5h|7d|all",
              help="Only messages in this window.")
@click.option("--by", type=click.Choice(["session", "model", "project", "day"]), default="session",
              show_default=True, help="One row per session, model, project or day.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@click.option("--budget", type=click.FloatRange(0, min_open=True), metavar="USD",
              help="Daily budget (default: agent_daily_budget in the user's cockpit.toml, else 1000).")
@click.option("--claude-dir", "claude_dirs", multiple=True, type=click.Path(file_okay=False),
              metavar="DIR",
              help="Claude Code config or projects dir to read and report on (repeatable; default: "
                   "$CLAUDE_CONFIG_DIR, else ~/.claude).")
@click.option("--mode", type=click.Choice(["auto", "calculate", "display"]), default="auto", show_default=True,
              help="Cost of a record: the costUSD it logged, else from its tokens (auto); always from its tokens "
                   "(calculate); only the logged one, else $0 (display).")
def burn(live, since, by, fmt, budget, claude_dirs, mode):
    """What coding agents (Claude Code) spend, from their session logs: tokens and cost per session, model,
    project or day, the rate now, the 5-hour block, the daily budget, and the context Cockpit served.

    Context served: the tokens of Cockpit's answers (context, zoom, MCP tools) for repositories the
    report's agents worked in, as a share of those agents' new input in the same window (input tokens
    and cache writes; cache reads re-read earlier turns and are left out). It is at most 100%: more
    served than the agents took in means some answers went elsewhere."""
    from cockpit.spend.agents import AgentBurn, AgentsError, daily_budget
    from cockpit.spend.ledger import parse_since

    try:
        parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if live and fmt == "json":
        raise click.UsageError("--live redraws a table: leave out --format json")
    from cockpit.spend.pricing import PricingError

    try:
        daily = daily_budget(budget)
        tracker = AgentBurn(roots=claude_dirs or None, mode=mode)
    except (AgentsError, PricingError) as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"agent index: {exc.strerror or exc}") from None

    def take() -> tuple:
        stats = tracker.refresh()
        return tracker.snapshot(since, by, daily), stats

    try:
        with contextlib.closing(tracker):
            if live:
                _burn_live(lambda: _burn_text(tracker, *take()))
            elif fmt == "json":
                click.echo(json.dumps(_burn_json(tracker, *take()), indent=2))
            else:
                click.echo(_burn_text(tracker, *take()))
    except sqlite3.Error as exc:
        raise Failure(f"agent index {tracker.db_path}: {exc}") from None


def _burn_live(frame) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    def render():
        return Text(frame(), no_wrap=True, overflow="crop")  # a narrow terminal crops rows, never folds them

    try:
        with Live(render(), console=Console(), auto_refresh=False) as live:
            while True:
                time.sleep(1.0)
                live.update(render(), refresh=True)
    except KeyboardInterrupt:
        pass


def _burn_text(tracker, snap, stats) -> str:
    report = snap.report
    if not report.rows and not stats.files_seen:
        return (f"no Claude Code session files in {', '.join(map(str, tracker.projects_dirs))} "
                "(set CLAUDE_CONFIG_DIR or pass --claude-dir)")
    when = "all time" if report.since is None else f"since {_when(report.since, snap.now)}"
    mode = "" if report.mode == "auto" else f", cost mode {report.mode}"
    lines = [f"agent usage, {when}, by {report.by} ({report.files} session files{mode})"]
    if report.rows:
        lines += _table_lines(*_burn_table(report, snap.now))
    else:
        lines.append("no agent messages in this window")
    lines += [snap.rate.describe(), snap.block.describe(snap.now) if snap.block else "5-hour block: none active",
              snap.budget.describe()]
    total = report.total
    if report.served_answers:
        share = report.served_share
        lines.append(f"context served by cockpit: {total.served_tokens:,} tokens in {report.served_answers} answers, "
                     + (f"{share:.1%} of the {report.served_input_tokens:,} new input tokens" if share is not None
                        else "no new input") + " of the agents in those repos")
    else:
        lines.append("context served by cockpit: none in this window")
    if any(report.skipped.values()):
        lines.append("skipped lines: " + ", ".join(f"{n} {kind.replace('_', ' ')}"
                                                   for kind, n in report.skipped.items() if n))
    return "\n".join(lines)


def _burn_table(report, now: float) -> tuple[list[list[str]], tuple[int, ...]]:
    """The rows and the total, and which columns are right-aligned; the label columns depend on --by."""
    by = report.by
    labels = {"session": ["SESSION", "PROJECT", "MODEL"], "model": ["MODEL", "SESSIONS"],
              "project": ["PROJECT", "SESSIONS", "MODEL"], "day": ["DAY", "SESSIONS"]}[by]
    table = [labels + ["MSGS", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "COST USD"]
             + (["SERVED"] if by == "project" else []) + ["LAST"]]
    home = str(Path.home())
    for row in report.rows + [report.total]:
        project = row.project or ""
        project = "~" + project[len(home):] if home != "/" and project.startswith(home + "/") else project
        model = (row.model or "") + (f" +{len(row.models) - 1}" if len(row.models) > 1 else "")
        if row is report.total:
            label = ["total"] + [""] * (len(labels) - 1) if by == "session" else ["total", str(row.sessions), ""]
        else:
            label = {"session": [row.key[:8], project, model], "project": [project, str(row.sessions), model]}.get(
                by, [row.key, str(row.sessions)])
        if row.unpriced and row.unpriced == row.messages:
            cost = "unpriced"
        else:
            cost = f"{row.cost_usd:,.2f}" + (f" (+{row.unpriced} unpriced)" if row.unpriced else "")
        figures = [f"{row.messages:,}", f"{row.input_tokens:,}", f"{row.output_tokens:,}",
                   f"{row.cache_write_tokens:,}", f"{row.cache_read_tokens:,}", cost]
        served = [f"{row.served_tokens or 0:,}"] if by == "project" else []
        table.append(label[:len(labels)] + figures + served + [_when(row.last_seen, now) if row.messages else ""])
    right = tuple(i for i, title in enumerate(table[0]) if title not in ("SESSION", "PROJECT", "MODEL", "DAY", "LAST"))
    return table, right


def _when(ts: float, now: float) -> str:
    """HH:MM today, else the date too."""
    same_day = time.strftime("%Y-%m-%d", time.localtime(ts)) == time.strftime("%Y-%m-%d", time.localtime(now))
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", time.localtime(ts))


def _burn_json(tracker, snap, stats) -> dict:
    from dataclasses import asdict

    report = snap.report
    return {
        "now": snap.now, "since": report.since, "by": report.by, "looked_in": [str(p) for p in tracker.projects_dirs],
        "rows": [asdict(row) for row in report.rows], "total": asdict(report.total), "rate": asdict(snap.rate),
        "block": asdict(snap.block) if snap.block else None, "budget": asdict(snap.budget),
        "mode": report.mode, "files": report.files,
        "served": {"answers": report.served_answers, "tokens": report.total.served_tokens,
                   "agent_input_tokens": report.served_input_tokens, "share": report.served_share,
                   "by_root": [asdict(s) for s in snap.served]},
        "skipped": report.skipped, "refresh": asdict(stats),
    }


@main.group()
def pricing() -> None:
    """What models cost (LiteLLM's price data) and where each price comes from."""


@pricing.command("show")
@click.argument("model", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
def pricing_show(model, fmt):
    """The price of MODEL (any spelling: dated, [1m], Bedrock or Vertex ids), or of every model."""
    from dataclasses import asdict

    from cockpit.spend.pricing import Pricing, PricingError, canonical, price_files

    try:
        table = Pricing.load()
    except PricingError as exc:
        raise Failure(str(exc)) from None
    names = [canonical(model)] if model else sorted(table.models)
    if model and table.price(model) is None:
        raise Failure(f"{model!r}" + (f" (as {names[0]!r})" if names[0] != model else "") + " has no price: its calls "
                      "are counted as unpriced "
                      "(add it to ~/.config/cockpit/pricing.json)")
    if fmt == "json":
        click.echo(json.dumps({name: asdict(table.models[name]) for name in names}, indent=2))
        return
    if not model:
        rows = [["MODEL", "INPUT", "OUTPUT", "CACHE 5M", "CACHE 1H", "CACHE READ", "LONG CONTEXT"]]
        for name in names:
            p = table.models[name]
            rows.append([name] + [_usd(p.rate(f)) for f in ("input", "output", "cache_write_5m", "cache_write_1h",
                                                            "cache_read")]
                        + [f"> {p.long_context_above:,}" if p.long_context else ""])
        _print_table(rows, right=(1, 2, 3, 4, 5))
        click.echo("USD per million tokens; sources: " + ", ".join(f"{label} {path}" for label, path in price_files()))
        return
    p = table.models[names[0]]
    lines = [f"{names[0]}" + (f" (asked for {model})" if model != names[0] else "") + ": USD per million tokens"]
    labels = {"input": "input", "output": "output", "cache_write_5m": "cache write, 5 minutes",
              "cache_write_1h": "cache write, 1 hour", "cache_read": "cache read"}
    for field, label in labels.items():
        note = " (no 1-hour rate in the data: the 5-minute one)" if field == "cache_write_1h" and p.cache_write_1h \
            is None and p.cache_write_5m is not None else ""
        tier = (p.long_context or {}).get(field)
        extra = f", {_usd(tier)} for a request's tokens beyond {p.long_context_above:,}" if tier is not None else ""
        lines.append(f"  {label:<24}{_usd(p.rate(field))}{extra}{note}")
    lines.append(f"  batches                 {p.batch_discount:.0%} off" if p.batch_discount else
                 "  batches                 no batch rate in the data")
    lines.append(f"  from                    {p.source}")
    click.echo("\n".join(lines))


def _usd(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


@pricing.command("update")
@click.option("--from", "source", metavar="FILE|URL",
              help="LiteLLM's model_prices_and_context_window JSON (or a litellm wheel) to read; "
                   "default: its URL on GitHub.")
def pricing_update(source):
    """Refresh the prices from LiteLLM's price data into the user data dir (offline: --from FILE)."""
    from cockpit.spend.pricing import LITELLM_URL, PricingError, update

    try:
        out, converted = update(source or LITELLM_URL)
    except PricingError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"{len(converted['models'])} models from {converted['source']} written to {out}")


@main.group(cls=DefaultGroup, default="list", default_if_no_args=True)
def jobs() -> None:
    """Summary builds, watch refreshes, semports and transfusions: list, show, cancel, resume."""


@jobs.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include watch refreshes.")
@click.option("--limit", type=click.IntRange(1), default=30, show_default=True, help="Newest jobs to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
@repo_option
@cache_option
def jobs_list(show_all, limit, fmt, root, cache):
    """The newest jobs of this repository, with state, progress and spend."""
    from cockpit.jobs.runner import Jobs

    with session(root, cache) as (_, store):
        rows = Jobs(store).list(limit, include_routine=show_all)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no jobs yet", err=True)
        return
    table = [["ID", "KIND", "STATE", "PROGRESS", "COST USD", "STARTED", "TITLE"]]
    for job in rows:
        table.append([str(job["id"]), job["kind"], job["state"], _job_progress(job), f"{job['spend']['cost_usd']:.4f}",
                      time.strftime("%m-%d %H:%M", time.localtime(job["created_at"])), job["title"]])
    _print_table(table, right=(3, 4))


@contextlib.contextmanager
def _jobs_of(root: str, cache: str | None):
    """The repository's jobs; a job that is not there, or cannot do what is asked, is a one-line failure."""
    from cockpit.jobs.runner import JobError, Jobs

    with session(root, cache) as (_, store):
        try:
            yield Jobs(store)
        except JobError as exc:
            raise Failure(str(exc)) from None


@jobs.command("show")
@click.argument("job_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@repo_option
@cache_option
def jobs_show(job_id, fmt, root, cache):
    """One job: its inputs, state, spend, event log and outputs."""
    with _jobs_of(root, cache) as jobs:
        job, events = jobs.get(job_id), jobs.events(job_id)
    if fmt == "json":
        click.echo(json.dumps({**job, "events": events}, indent=2))
        return
    spent = job["spend"]
    click.echo(f"job {job['id']} · {job['kind']} · {job['state']} · {job['title']}")
    click.echo(f"progress {_job_progress(job)} · {spent['calls']} LLM calls, {spent['input_tokens']:,} tokens in, "
               f"{spent['output_tokens']:,} out, ${spent['cost_usd']:.4f}")
    if job["error"]:
        click.echo(f"error: {job['error']}")
    click.echo(f"inputs: {json.dumps(job['inputs'])}")
    for event in events:
        if event["level"] != "debug":
            at = time.strftime("%H:%M:%S", time.localtime(event["at"]))
            click.echo(f"{at} {event['level']:<7} {event['message']}")
    if job["outputs"]:
        click.echo(f"outputs: {json.dumps(job['outputs'], indent=2)}")


@jobs.command("cancel")
@click.argument("job_id", type=int)
@repo_option
@cache_option
def jobs_cancel(job_id, root, cache):
    """Stop a job: a running one at its next step (from any process), a queued one at once."""
    with _jobs_of(root, cache) as jobs:
        job = jobs.cancel(job_id)
    click.echo(f"job {job_id}: {'cancel requested' if job['state'] == 'running' else job['state']}")


@jobs.command("resume")
@click.argument("job_id", type=int)
@click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
              help="A new spend cap for the job (one stopped by its cap goes on with this one).")
@repo_option
@cache_option
def jobs_resume(job_id, max_cost, root, cache):
    """Run a failed, cancelled or interrupted job again from its last finished step."""
    from cockpit.jobs.runner import runner

    with _jobs_of(root, cache) as jobs:
        job = jobs.resume(job_id, **({"max_cost": max_cost} if max_cost is not None else {}))
        result = job.run(runner(job.kind))
    click.echo(f"job {job_id}: {result['state']}" + (f" ({result['error']})" if result["error"] else ""))
    if result["state"] != "done":
        sys.exit(1)


# --- holdout scenarios ----------------------------------------------------------------------


@main.group(cls=DefaultGroup, default="list", default_if_no_args=True)
def scenarios() -> None:
    """Holdout scenarios: satisfaction per scenario and its trend (list), run them (run), read a trial (show)."""


set_option = click.option("--set", "set_dir", type=click.Path(exists=True, file_okay=False, resolve_path=True),
                          help="The scenario set (default: the repository's in ~/.config/cockpit/cockpit.toml, "
                               "else `scenarios` in [tool.cockpit]).")


def _scenario_set(root: str, config: Config, set_dir: str | None):
    """The set's path, and its scenarios; a missing or broken set is a usage error. Warns when it is in the repo."""
    from cockpit.scenarios.model import ScenarioError, load_set

    try:
        path = service.scenario_set(root, config, set_dir)
        found = load_set(path)
    except (service.SetError, ScenarioError) as exc:
        raise click.UsageError(str(exc)) from None
    notice = service.holdout_notice(root, path)
    if notice:
        service.remember_holdout(root, path)
        click.echo(f"cockpit: warning: {notice}", err=True)
    return path, found


@scenarios.command("list")
@repo_option
@set_option
@cache_option
@click.option("--commits", type=click.IntRange(1, 100), default=8, show_default=True,
              help="States of the tree (commit, dirty or not) the trend goes back over.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output format.")
def scenarios_list(root, set_dir, cache, commits, fmt):
    """Satisfaction per scenario (its latest run), its trend over the last commits it ran on, cost, worst trial."""
    from cockpit.scenarios.run import sparkline, state_label, summary, trend_arrow

    with session(root, cache) as (config, store):
        names = None
        if set_dir or _has_set(root, config):
            names = [s.name for s in _scenario_set(root, config, set_dir)[1]]
        report = summary(store, names, commits)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    if not report["scenarios"]:
        click.echo("no scenario run yet: cockpit scenarios run --set DIR", err=True)
        return
    table = [["SCENARIO", "SATISFACTION", "TRIALS", "TREND", "OVER", "COST USD", "WORST TRIAL"]]
    for row in report["scenarios"]:
        points = row["trend"]
        sat = "—" if row["satisfaction"] is None else f"{row['satisfaction']:.2f}"
        trials = f"{row['trials']}" + (f" ({row['broken']} broken)" if row["broken"] else "")
        trend = f"{sparkline([p['satisfaction'] for p in points])} {trend_arrow(points)}".strip()
        over = " → ".join(state_label(p["commit"], p["dirty"]) for p in points[-3:])
        over = ("… → " if len(points) > 3 else "") + over
        worst = row["worst"]
        worst_text = "" if worst is None else (
            f"#{worst['id']} {worst['status']}: {worst['reason']}"[:70])
        table.append([row["scenario"], f"{sat} {row['status']}" if row["trials"] else row["status"], trials,
                      trend, over, f"{row['cost_usd']:.4f}", worst_text])
    _print_table(table, right=(2, 5))
    overall = report["satisfaction"]
    click.echo(f"\nsatisfaction over the set: {'—' if overall is None else f'{overall:.2f}'} "
               "(mean over the latest trials that were not broken; `cockpit scenarios show ID` opens a trial)")


def _has_set(root: str, config: Config) -> bool:
    try:
        service.scenario_set(root, config)
        return True
    except service.SetError:
        return False


@scenarios.command("run")
@repo_option
@set_option
@cache_option
@click.option("--trials", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Times each scenario is taken, each in a fresh copy of the repository.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this scenario (repeatable).")
@click.option("--model", default=None, help=f"Claude model for the judge (default: config `model`, else {DEFAULT_MODEL}).")
@click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
              help="Stop before a judge call could take the run's spend past USD.")
@click.option("-q", "--quiet", is_flag=True, help="No line per trial.")
def scenarios_run(root, set_dir, cache, trials, only, model, max_cost, quiet):
    """Run the scenarios against the repository as it is now (HEAD plus uncommitted changes), as a job."""
    import signal

    from cockpit.jobs.factory import llm_configured
    from cockpit.scenarios import run as scenario_run

    # SIGTERM (the app quitting, a kill) stops the run as Ctrl-C does: services stopped, copies removed, job cancelled.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with session(root, cache) as (config, store):
        path, found = _scenario_set(root, config, set_dir)
        names = {s.name for s in found}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise click.BadParameter(f"no scenario {unknown[0]!r} in {path} (there are: {', '.join(sorted(names))})",
                                     param_hint="--only")
        model = model or config.model or DEFAULT_MODEL
        judged = any(s.judge for s in found if not only or s.name in only)
        cap = _job_cap(store, config, max_cost, model) if judged and llm_configured() else None
        job = scenario_run.create_job(store, root, str(path), trials, tuple(only), model, cap)

        def report(row: dict) -> None:
            if quiet:
                return
            shown = "  —  " if row["satisfaction"] is None else f"{row['satisfaction']:.2f}"
            click.echo(f"{row['scenario']:<24} #{row['trial']:<3} {row['status']:<12} {shown}  {row['reason']}"[:160])

        outputs = _run_job(job, lambda j: scenario_run.run_job(j, report))
    state = scenario_run.state_label(outputs["commit"], outputs["dirty"])
    for name, result in outputs["scenarios"].items():
        sat = "broken" if result["satisfaction"] is None else f"{result['satisfaction']:.2f}"
        broken = f", {result['broken']} broken" if result["broken"] else ""
        click.echo(f"{name}: satisfaction {sat} over {result['trials']} trials{broken}")
    overall = outputs["satisfaction"]
    click.echo(f"set: satisfaction {'—' if overall is None else f'{overall:.2f}'} at {state} (job {job.id})")


@scenarios.command("show")
@click.argument("trial_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@click.option("--lines", type=click.IntRange(1), default=30, show_default=True, help="Lines of each output shown.")
@repo_option
@cache_option
def scenarios_show(trial_id, fmt, lines, root, cache):
    """One trial's trajectory: every step with its command, status, duration, checks and output; the verdict."""
    from cockpit.scenarios.run import trajectory_text

    with session(root, cache) as (_, store):
        trial = store.trial(trial_id)
    if trial is None:
        raise Failure(f"no trial {trial_id} in this cache (see: cockpit scenarios)")
    click.echo(json.dumps(trial, indent=2) if fmt == "json" else trajectory_text(trial, lines), nl=fmt == "json")


def _job_progress(job: dict) -> str:
    """done/total; a job that never counted (a build with nothing to rebuild) shows a dash."""
    return f"{job['done'] or 0}/{job['total']}" if job["total"] else str(job["done"] or "-")


def _print_table(table: list[list[str]], right: tuple[int, ...] = ()) -> None:
    for line in _table_lines(table, right):
        click.echo(line)


def _table_lines(table: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Columns padded to their widest cell; the first column and those not in `right` are left-aligned."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(line, widths))).rstrip() for line in table]


def _write(text: str, out: str | None) -> None:
    if not out:
        click.echo(text, nl=False)
        return
    tmp = f"{out}.{os.getpid()}.tmp"  # a full disk leaves the old file whole
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise Failure(f"{out}: {exc.strerror}") from None


class _progress_bar:
    """A rich progress bar on stderr (files done / total, ETA), or nothing when not on a terminal.
    The bar and its estimate follow bytes, which is what parsing takes time over; the count is files."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = None
        self.task = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("summarizing"), BarColumn(), TextColumn("{task.fields[files]} files · ETA"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("build", total=None, files="")
        self._last = 0.0
        return self.update

    def update(self, done: int, total: int, done_bytes: int | None = None, total_bytes: int | None = None) -> None:
        now = time.monotonic()
        if done == total or now - self._last > 0.05:
            self._last = now
            completed, whole = (done_bytes, total_bytes) if total_bytes else (done, total)
            self.progress.update(self.task, completed=completed, total=whole, files=f"{done:,}/{total:,}")

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def run() -> None:
    """The console script: like `main`, but a usage error is one line on stderr (exit 2)."""
    try:
        main.main(standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see: cockpit {exc.ctx.info_name} --help)" if exc.ctx and exc.ctx.parent else " (see: cockpit --help)"
        click.echo(f"cockpit: usage: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("cockpit: aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
