"""``?``: the keys, and what the verdict marks mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.verdicts import MARKS

KEYS = (
    ("p", "pause / resume (takes effect before the next answer)"),
    ("n", "skip the answers in progress (recorded as skipped)"),
    ("z", "zoom the focused run pane (z or esc to restore)"),
    ("↑ ↓ ← →  j k", "move between run panes"),
    ("1 2 3 4", "views: runs, leaderboard, GPUs, problem"),
    ("tab / shift+tab", "next / previous view"),
    ("s", "sort the leaderboard (cycles columns; click a header too)"),
    ("[  ]  f", "problem view: previous / next problem, follow the current one"),
    ("?", "this help"),
    ("q", "quit (asks first while runs are active; finished results stay on disk)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "close", show=True),
    ]

    def compose(self) -> ComposeResult:
        keys = Table(box=None, show_header=False, pad_edge=False)
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        for k, what in KEYS:
            keys.add_row(k, what)
        marks = Table(box=None, show_header=False, pad_edge=False)
        marks.add_column(no_wrap=True)
        marks.add_column()
        for name in ("correct", "incorrect", "unparsed", "truncated", "skipped", "n/a", "ungraded", "answering", "pending"):
            g, style, label = MARKS[name]
            marks.add_row(Text(f" {g} ", style=style), label)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "quantarena — help"
            yield Static(Text("keys", style="bold underline"))
            yield Static(keys)
            yield Static(Text("\nverdict marks", style="bold underline"))
            yield Static(marks)
            yield Static(Text(
                "\nN/A = not measured or not applicable (never 0). tok/s = decode tokens/s, (n−1)/(t_last − t_first). "
                "TTFT = submit → first token. Memory in MiB (2^20 bytes). accuracy = correct / graded.",
                style="dim",
            ))
            yield Static(Text("esc to close", style="dim italic"))
