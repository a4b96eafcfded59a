"""Side-by-side bars: each run's speed, memory, accuracy and energy, one bar per run per figure.

The quickest read of "who is fastest, who is leanest, who is right": bars scaled to the largest
value of each figure, in each run's colour, with the best one starred. Runs without the figure
show N/A.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from tui import figures
from tui.model import RunView, SessionModel
from tui.palette import run_colour


def _metrics(model: SessionModel) -> list[tuple[str, str, Callable[[RunView], float | None], Callable[[float], str]]]:
    """(title, better, value, text) for each figure shown."""
    runs = list(model.runs.values())
    out: list[tuple[str, str, Callable[[RunView], float | None], Callable[[float], str]]] = [
        ("decode tok/s (p50)", "max", lambda r: r.row.get("decode_tok_s_median"), lambda v: f"{v:.1f}"),
    ]
    if any(r.peak_vram_mib is not None for r in runs):
        out.append(("VRAM (run)", "min", lambda r: r.peak_vram_mib, figures.mib))
    else:
        out.append(("peak RSS (no GPU)", "min", lambda r: r.row.get("rss_mib_peak"), figures.mib))
    out.append(("accuracy", "max", lambda r: r.row.get("accuracy"), lambda v: f"{100 * v:.0f}%"))
    if any(r.row.get("j_per_token") is not None for r in runs):
        out.append(("energy J/token", "min", lambda r: r.row.get("j_per_token"), lambda v: f"{v:.3f}"))
    out.append(("TTFT (p50)", "min", lambda r: r.row.get("ttft_s_median"), figures.seconds))
    return out


class CompareBars(Widget):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model

    def render(self) -> RenderableType:
        width = max(20, self.content_size.width)
        runs = list(self.model.runs.values())
        if not runs:
            return Text("")
        names = {r.name: self.model.short_name(r) for r in runs}
        name_w = min(max(len(n) for n in names.values()), max(8, width // 3))
        lines: list[Text] = []
        for title, better, value, text in _metrics(self.model):
            vals = {r.name: value(r) for r in runs}
            known = [v for v in vals.values() if v is not None]
            top = max(known) if known else None
            best = (max(known) if better == "max" else min(known)) if known else None
            head = Text(title, style="bold")
            head.append("  higher is better" if better == "max" else "  lower is better", style="dim italic")
            lines.append(head)
            for r in runs:
                v = vals[r.name]
                colour = run_colour(r.number)
                t = Text()
                t.append(f" {r.number} ", style=f"bold black on {colour}")
                t.append(" " + names[r.name][:name_w].ljust(name_w) + " ", style=colour)
                label = "N/A" if v is None else text(v)
                star = v is not None and v == best and len(known) > 1
                bar_w = max(4, width - t.cell_len - 12)
                frac = (v / top) if v is not None and top else None
                filled, _ = figures.bar(frac, bar_w)
                t.append(filled, style=colour)
                t.append(" " + label, style="bold" if v is not None else "dim")
                if star:
                    t.append(" ★", style="bold green")
                lines.append(t)
            lines.append(Text(""))
        return Text("\n").join(lines)
