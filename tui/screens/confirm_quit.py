"""Quitting while runs are active: stop them cleanly (finished answers stay on disk) or carry on."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmQuit(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,q", "answer(True)", "stop and quit"),
        Binding("n,escape", "answer(False)", "keep running"),
    ]

    def __init__(self, active_runs: int, out_dir: str | None) -> None:
        super().__init__()
        self.active_runs = active_runs
        self.out_dir = out_dir

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box"):
            yield Static(f"[b]Stop the session?[/b]\n\n{self.active_runs} run(s) still active. "
                         f"Answers already finished stay in\n[b]{self.out_dir or 'the output folder'}[/b] "
                         "(results.jsonl), and summary.json is written.", id="quit-text")
            with Horizontal(id="quit-buttons"):
                yield Button("Stop and quit (y)", variant="error", id="quit-yes")
                yield Button("Keep running (n)", variant="primary", id="quit-no")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
