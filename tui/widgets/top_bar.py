"""The top bar: the product, the views (clickable), and where the session stands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui import figures
from tui.model import SessionModel

VIEWS = (("runs", "1", "Runs"), ("leaderboard", "2", "Leaderboard"), ("gpus", "3", "GPUs"), ("problem", "4", "Problem"))


class TopBar(Horizontal):
    def __init__(self, model: SessionModel, clock: Callable[[], float], **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model
        self.clock = clock
        self.view = "runs"
        self.started_at: float | None = None
        self._status_shown: Text | None = None
        self.finished_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="top-views")
        yield Static(id="top-status")

    def on_mount(self) -> None:
        self.update_views()
        self.update_status()

    def set_view(self, view: str) -> None:
        self.view = view
        self.update_views()

    def update_views(self) -> None:
        parts = ["[b] ◆ quantarena [/b]"]
        for vid, key, label in VIEWS:
            name = label if not self._compact or vid != "leaderboard" else "Board"
            cls = "view-on" if vid == self.view else "view-off"
            style = "reverse bold" if cls == "view-on" else "dim"
            parts.append(f"[@click=screen.show_view('{vid}')][{style}] {key} {name} [/][/]")
        self.query_one("#top-views", Static).update(" ".join(parts))

    def update_status(self) -> None:
        m = self.model
        now = self.clock()
        if m.state == "running" and self.started_at is None:
            self.started_at = now
        if m.state in ("finished", "error") and self.finished_at is None:
            self.finished_at = now
        end = self.finished_at if self.finished_at is not None else now
        elapsed = (end - self.started_at) if self.started_at is not None else 0.0
        t = Text()
        c = self._compact
        if m.state == "error":
            t.append(" ✗ error ", style="bold white on red")
        elif m.state == "stopping":
            t.append(" ■ stopping… ", style="bold black on yellow")
        elif m.state == "finished":
            t.append(" ✔ stopped " if m.interrupted else " ✔ finished ", style="bold black on green")
        elif m.paused:
            t.append(" ❚❚ paused ", style="bold black on yellow")
        elif m.state == "running":
            t.append(" ▶ " if c else " ▶ running ", style="bold black on cyan")
        else:
            t.append(" … starting ", style="dim")
        if m.answers_total:
            t.append(f" {m.answers_done}/{m.answers_total}", style="bold")
            if not self._compact:
                t.append(" answers", style="bold")
        t.append(f"  {figures.clock(elapsed)} ", style="dim")
        status = self.query_one("#top-status", Static)
        if t != self._status_shown:  # the clock ticks every second: repaint one line, no layout
            self._status_shown = t
            status.update(t, layout=False)

    @property
    def _compact(self) -> bool:
        return bool(self.size.width) and self.size.width < 100

    def on_resize(self) -> None:
        self.query_one("#top-status", Static).styles.width = 20 if self._compact else 36
        self._status_shown = None
        self.update_views()
        self.update_status()
