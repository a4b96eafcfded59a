"""The start screen (no ``--runs`` on the command line): pick runs, dataset, split, limit, token cap.

It builds a ``LaunchRequest`` from the command line's with the choices made here, and calls
``engine.launch.prepare`` in a thread; a ``LaunchError`` (bad folder, no problem matching…) is
shown under the form. On success the screen is dismissed with the ``Prepared`` session.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from engine.catalog import Catalog
from engine.launch import LaunchError, LaunchRequest, Prepared, prepare

try:
    from engine.dataset import SPLITS
except ImportError:  # the dataset module is optional at import time
    SPLITS = ("ptpt_multiple_choice", "ptpt_open_ended", "ptbr_multiple_choice", "ptbr_open_ended")


#: the Select's "nothing chosen" value (``Select.NULL`` since Textual 2, ``Select.BLANK`` before)
NO_SELECTION = Select.NULL if hasattr(Select, "NULL") else Select.BLANK


class StartScreen(Screen[Prepared | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "start", priority=True),
        Binding("escape", "quit", "quit"),
        Binding("ctrl+a", "select_all", "all runs", show=False),
    ]

    def __init__(self, catalog: Catalog, request: LaunchRequest) -> None:
        super().__init__()
        self.catalog = catalog
        self.request = request

    def compose(self) -> ComposeResult:
        d = self.catalog.defaults
        req = self.request
        with Vertical(id="start-box"):
            yield Static(Text.assemble((" ◆ quantarena ", "bold reverse"), ("  choose what to compare", "bold")), id="start-title")
            yield Label(f"Runs — from {self.catalog.path} (space toggles; defaults are ticked)", classes="start-label")
            selections = []
            name_w = max((len(n) for n in self.catalog.runs), default=0)
            for run in self.catalog.runs.values():
                model = self.catalog.models[run.model]
                prompt = Text.assemble((run.name.ljust(name_w), "bold"), (f"   {run.device:<6} {run.weights:<9} {model.display_name}", "dim"))
                selections.append(Selection(prompt, run.name, run.default))
            yield SelectionList[str](*selections, id="start-runs")
            with Horizontal(id="start-fields"):
                with Vertical(classes="field"):
                    yield Label("dataset", classes="start-label")
                    yield Input(value=req.dataset or d.get("dataset") or "builtin", placeholder="builtin or a MATH-PT folder", id="start-dataset")
                with Vertical(classes="field"):
                    yield Label("split", classes="start-label")
                    options = [(s, s) for s in SPLITS]
                    yield Select(options, prompt="all splits", allow_blank=True, value=req.split if req.split in SPLITS else NO_SELECTION, id="start-split")
                with Vertical(classes="field narrow"):
                    yield Label("limit", classes="start-label")
                    lim = req.limit if req.limit is not None else d.get("limit")
                    yield Input(value="" if lim is None else str(lim), placeholder="all", type="integer", id="start-limit")
                with Vertical(classes="field narrow"):
                    yield Label("max new tokens", classes="start-label")
                    mnt = req.max_new_tokens if req.max_new_tokens is not None else d.get("max_new_tokens", 256)
                    yield Input(value=str(mnt), type="integer", id="start-max-new")
            yield Static("", id="start-error")
            with Horizontal(id="start-buttons"):
                yield Button("Start ▶", variant="success", id="start-go")
                yield Button("Quit", variant="default", id="start-quit")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#start-runs", SelectionList).focus()

    # ---- actions -------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start-go":
            self.action_start()
        elif event.button.id == "start-quit":
            self.action_quit()

    def action_quit(self) -> None:
        self.dismiss(None)

    def action_select_all(self) -> None:
        self.query_one("#start-runs", SelectionList).select_all()

    def build_request(self) -> LaunchRequest:
        """The command line's request with this form's choices (raises LaunchError on bad input)."""
        runs = list(self.query_one("#start-runs", SelectionList).selected)
        if not runs:
            raise LaunchError("tick at least one run")
        dataset = self.query_one("#start-dataset", Input).value.strip() or "builtin"
        split_v = self.query_one("#start-split", Select).value
        split = None if split_v == NO_SELECTION or split_v is None else str(split_v)
        if dataset == "builtin":
            split = None
        limit_s = self.query_one("#start-limit", Input).value.strip()
        mnt_s = self.query_one("#start-max-new", Input).value.strip()
        try:
            limit = int(limit_s) if limit_s else None
            max_new = int(mnt_s) if mnt_s else None
        except ValueError:
            raise LaunchError("limit and max new tokens must be whole numbers") from None
        return dataclasses.replace(
            self.request, runs=",".join(runs), dataset=dataset, split=split, limit=limit, max_new_tokens=max_new,
        )

    def action_start(self) -> None:
        try:
            req = self.build_request()
        except LaunchError as e:
            self.show_error(str(e))
            return
        self.show_error("")
        self.query_one("#start-go", Button).disabled = True
        self._prepare(req)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prepare")
    def _prepare(self, req: LaunchRequest) -> None:
        try:
            prepared = prepare(req)
        except LaunchError as e:
            self.app.call_from_thread(self._failed, str(e))
            return
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            self.app.call_from_thread(self._failed, f"{type(e).__name__}: {e}")
            return
        self.app.call_from_thread(self.dismiss, prepared)

    def _failed(self, message: str) -> None:
        self.query_one("#start-go", Button).disabled = False
        self.show_error(message)

    def show_error(self, message: str) -> None:
        self.query_one("#start-error", Static).update(Text(message, style="bold red") if message else "")

