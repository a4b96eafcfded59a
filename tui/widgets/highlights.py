"""At a glance: which run is fastest, which uses least memory, which answers best — right now."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.model import SessionModel
from tui.palette import run_colour

LABELS = (("fastest", "▲ fastest"), ("memory", "▼ least memory"), ("accuracy", "✓ most accurate"))
SHORT_LABELS = (("fastest", "▲ fastest"), ("memory", "▼ leanest"), ("accuracy", "✓ best"))


class Highlights(Static):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model

    def on_mount(self) -> None:
        self.update_leaders()

    def on_resize(self) -> None:
        self.update_leaders()

    def update_leaders(self) -> None:
        leaders = self.model.leaders()
        compact = bool(self.size.width) and self.size.width < 140
        t = Text()
        for key, label in (SHORT_LABELS if compact else LABELS):
            if t.plain:
                t.append("  │  ", style="dim")
            t.append(label + " ", style="dim")
            item = leaders.get(key)
            if item is None:
                t.append("—", style="dim")
                continue
            rv, figure = item
            colour = run_colour(rv.number)
            t.append(f" {rv.number} ", style=f"bold black on {colour}")
            if not compact:
                t.append(" " + self.model.short_name(rv), style=f"bold {colour}")
            t.append(" " + (figure.replace(" correct", "") if compact else figure), style="bold")
        self.update(t, layout=False)
