"""Starting a semport or a gene transfusion from the app: a form, its plan, then the job.

The plan needs no LLM (tiktoken and the pricing table estimate it); the job needs one. Both run in
worker threads on their own cache connections; the job then shows in the jobs panel like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from cache.store import Store
from cockpit.core.config import Config
from cockpit.jobs.runner import Job
from summarizers.llm import DEFAULT_MODEL


@dataclass
class Field:
    name: str
    label: str
    placeholder: str = ""
    value: str = ""
    choices: tuple[str, ...] = ()  # a choice list instead of free text


class JobForm(ModalScreen[int | None]):
    """Fields, a Plan button and a Start button; dismissed with the started job's id (or None).

    A form for one kind of job names it (KIND), lists its FIELDS, and says how to `plan(store, values)`
    (the plan's text) and how to `create(store, values)` (the queued Job)."""

    TITLE = ""
    KIND = ""
    FIELDS: tuple[Field, ...] = ()
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, root: str, cache_path, config: Config):
        super().__init__()
        self.root, self.cache_path, self.config = root, cache_path, config
        self.model = config.model or DEFAULT_MODEL

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="job-form"):
            yield Label(self.TITLE, classes="form-title")
            for field in self.FIELDS:
                yield Label(field.label)
                if field.choices:
                    yield Select([(c, c) for c in field.choices], value=field.value or field.choices[0],
                                 allow_blank=False, id=f"field-{field.name}")
                else:
                    yield Input(field.value or self.default(field.name), placeholder=field.placeholder,
                                id=f"field-{field.name}")
            with Horizontal(id="form-buttons"):
                yield Button("Plan", id="plan", variant="primary")
                yield Button("Start", id="start", variant="success")
                yield Button("Close", id="close")
            yield Static(id="form-output")

    def on_mount(self) -> None:
        # The scrolling form itself can take focus and would by default: typing goes to the first field.
        self.query_one(f"#field-{self.FIELDS[0].name}").focus()

    def default(self, name: str) -> str:
        return ""

    def values(self) -> dict[str, str]:
        values = {}
        for field in self.FIELDS:
            widget = self.query_one(f"#field-{field.name}")
            values[field.name] = str(widget.value).strip()
        return values

    def say(self, text: str | Text) -> None:
        self.query_one("#form-output", Static).update(text)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#plan")
    def plan_pressed(self) -> None:
        self.say(Text("Planning…", style="italic"))
        self.make_plan(self.values(), start=False)

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        self.say(Text("Planning, then starting…", style="italic"))
        self.make_plan(self.values(), start=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="form")
    def make_plan(self, values: dict[str, str], start: bool) -> None:
        from cockpit.jobs.factory import NEED_LLM, llm_configured

        store = Store(self.cache_path, self.root)
        try:
            text = self.plan(store, values)
            if not start:
                self.app.from_worker(self.say, text)
                return
            if not llm_configured():
                self.app.from_worker(self.say, Text(f"{text}\n\n{self.KIND} {NEED_LLM}", style="bold"))
                return
            job = self.create(store, values)
        except Exception as exc:  # noqa: BLE001 - any refusal is shown in the form, one line
            self.app.from_worker(self.say, Text(f"{type(exc).__name__}: {exc}".splitlines()[0], style="bold"))
            return
        finally:
            store.close()
        self.app.from_worker(self.dismiss, job.id)



class SemportForm(JobForm):
    TITLE = "Semport: port code of this repository into another language"
    KIND = "semport"
    FIELDS = (
        Field("src", "Source (a file or directory of this repository)", "src/package"),
        Field("to", "Target language", choices=("go", "typescript", "python")),
        Field("out", "Output directory (created; existing files are not overwritten)"),
    )

    def default(self, name: str) -> str:
        if name == "out":
            return os.path.join(os.path.dirname(self.root), f"{os.path.basename(self.root)}-port")
        return ""

    def _paths(self, values: dict[str, str]) -> tuple[str, str]:
        if not values["src"]:
            raise ValueError("name the source to port")
        return os.path.join(self.root, values["src"]), os.path.abspath(os.path.expanduser(values["out"]))

    def plan(self, store: Store, values: dict[str, str]) -> str:
        from cockpit.jobs import semport

        src, out = self._paths(values)
        return semport.plan(store, self.root, src, values["to"], out, self.model).describe()

    def create(self, store: Store, values: dict[str, str]) -> Job:
        from cockpit.jobs import semport

        src, out = self._paths(values)
        the_plan = semport.plan(store, self.root, src, values["to"], out, self.model)
        if the_plan.existing:
            raise ValueError(f"{len(the_plan.existing)} files to write already exist in {out}; "
                             "choose another directory (or use `cockpit semport --force`)")
        return semport.create_job(store, self.root, src, values["to"], out, model=self.model)


class TransfuseForm(JobForm):
    TITLE = "Gene transfusion: grow a pattern from another repository in this one"
    KIND = "transfuse"
    FIELDS = (
        Field("donor", "Donor repository (a path)", "~/src/other-project"),
        Field("gene", "Gene: what to take (a description, or PATH[:SYMBOL] in the donor)", "retry with backoff"),
    )

    def _donor(self, values: dict[str, str]) -> str:
        donor = os.path.abspath(os.path.expanduser(values["donor"]))
        if not os.path.isdir(donor):
            raise ValueError(f"{values['donor'] or 'the donor'}: not a directory")
        if not values["gene"]:
            raise ValueError("say what the gene is")
        return donor

    def plan(self, store: Store, values: dict[str, str]) -> str:
        from cockpit.jobs import transfuse
        from cockpit.jobs.factory import open_store, refresh_pyramid

        donor = self._donor(values)
        donor_store = open_store(donor)
        try:
            refresh_pyramid(donor, donor_store)
            return transfuse.plan(donor_store, donor, store, self.root, values["gene"], self.model).describe()
        finally:
            donor_store.close()

    def create(self, store: Store, values: dict[str, str]) -> Job:
        from cockpit.jobs import transfuse

        return transfuse.create_job(store, self._donor(values), values["gene"], self.root, model=self.model)
