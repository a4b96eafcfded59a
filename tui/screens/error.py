"""A failure of the session itself (not of one run): said plainly, never a crash or silence."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class ErrorScreen(ModalScreen[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss('back')", "back"),
        Binding("q", "dismiss('quit')", "quit"),
    ]

    def __init__(self, title: str, detail: str) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="error-box"):
            yield Static(Text(self.title_text, style="bold red"))
            yield Static(Text(self.detail))
            yield Static(Text("\nesc: back to the views · q: quit", style="dim italic"))
