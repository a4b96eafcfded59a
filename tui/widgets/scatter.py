"""A small scatter chart drawn with box and braille characters: accuracy against decode tok/s.

One labelled point per run (its number, in its colour, and its short name when there is room).
The x axis turns logarithmic when the fastest run is more than 10× faster than the slowest, as
happens between llama.cpp and the PyTorch backends on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

Y_LABEL_W = 5  # "100%"


@dataclass(frozen=True)
class Point:
    number: int
    label: str
    x: float  # decode tok/s
    y: float  # accuracy 0..1
    colour: str


def nice_ticks(lo: float, hi: float, log: bool, n: int = 4) -> list[float]:
    if log:
        out = []
        e = math.floor(math.log10(lo))
        while 10**e <= hi * 1.0001:
            for m in (1, 2, 5):
                v = m * 10**e
                if lo <= v <= hi:
                    out.append(v)
            e += 1
        return out
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    ticks = []
    v = start
    while v <= hi + 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt_tick(v: float) -> str:
    if v >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.1f}" if v >= 1 else f"{v:.2g}"


class ScatterPlot(Widget):
    """Accuracy (y, 0–100 %) against decode tok/s (x)."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.points: list[Point] = []
        self.title = "accuracy vs decode tok/s"

    def set_points(self, points: list[Point]) -> None:
        self.points = points
        self.refresh()

    def render(self) -> RenderableType:
        width, height = self.content_size.width, self.content_size.height
        return Text("\n").join(self.draw(width, height))

    def draw(self, width: int, height: int) -> list[Text]:
        """The chart as ``height`` lines of ``width`` cells."""
        if width < 20 or height < 5:
            return [Text("(enlarge to see the chart)", style="dim")]
        pts = self.points
        plot_w = width - Y_LABEL_W - 1
        plot_h = height - 3  # title, x axis, x labels
        xs = [p.x for p in pts]
        if xs:
            lo, hi = min(xs), max(xs)
        else:
            lo, hi = 1.0, 10.0
        log = bool(xs) and lo > 0 and hi / lo > 10
        if log:
            x0, x1 = lo / 1.6, hi * 1.6
        else:
            x0, x1 = 0.0, (hi * 1.15 if hi > 0 else 1.0)

        def col(x: float) -> int:
            if log:
                f = (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            else:
                f = (x - x0) / (x1 - x0) if x1 > x0 else 0.5
            return max(0, min(plot_w - 1, int(round(f * (plot_w - 1)))))

        def row(y: float) -> int:  # 0 = top
            return max(0, min(plot_h - 1, int(round((1 - y) * (plot_h - 1)))))

        # cells: (char, style)
        grid: list[list[tuple[str, str]]] = [[(" ", "") for _ in range(plot_w)] for _ in range(plot_h)]
        y_ticks = {row(v): v for v in (0.0, 0.25, 0.5, 0.75, 1.0)}
        for r in y_ticks:
            for c in range(plot_w):
                grid[r][c] = ("┈", "dim")
        x_ticks = nice_ticks(x0 if not log else lo / 1.6, x1, log)
        for v in x_ticks:
            c = col(v)
            for r in range(plot_h):
                if grid[r][c][0] == " ":
                    grid[r][c] = ("┊", "dim")
                elif grid[r][c][0] == "┈":
                    grid[r][c] = ("┼", "dim")
        # points and labels (labels never cover a point)
        occupied = set()
        for p in pts:
            occupied.add((row(p.y), col(p.x)))
        for p in sorted(pts, key=lambda q: (q.y, q.x)):
            r, c = row(p.y), col(p.x)
            grid[r][c] = (str(p.number % 10), f"bold black on {p.colour}")
            label = " " + p.label
            if c + 1 + len(label) > plot_w:  # put it on the left when it does not fit on the right
                label = p.label + " "
                start = c - len(label)
            else:
                start = c + 1
            cells = [(r, start + i) for i in range(len(label))]
            if start >= 0 and all(0 <= cc < plot_w and (rr, cc) not in occupied for rr, cc in cells):
                for (rr, cc), ch in zip(cells, label, strict=True):
                    grid[rr][cc] = (ch, f"bold {p.colour}")
                    occupied.add((rr, cc))
        lines: list[Text] = []
        title = Text(f" {self.title}" + ("  (log x)" if log else ""), style="bold")
        lines.append(title)
        for r in range(plot_h):
            t = Text()
            label = f"{y_ticks[r] * 100:.0f}%" if r in y_ticks else ""
            t.append(label.rjust(Y_LABEL_W - 1) + " ", style="dim")
            t.append("┤" if r in y_ticks else "│", style="dim")
            for ch, style in grid[r]:
                t.append(ch, style=style or None)
            lines.append(t)
        axis = Text(" " * (Y_LABEL_W) + "└" + "─" * plot_w, style="dim")
        for v in x_ticks:
            c = col(v)
            pos = Y_LABEL_W + 1 + c
            if pos < axis.cell_len:
                axis = axis[:pos] + Text("┬", style="dim") + axis[pos + 1:]
        lines.append(axis)
        labels = [" "] * width
        for v in x_ticks:
            s = _fmt_tick(v)
            pos = Y_LABEL_W + 1 + col(v) - len(s) // 2
            if pos >= 0 and pos + len(s) <= width and all(ch == " " for ch in labels[max(0, pos - 1):pos + len(s) + 1]):
                labels[pos:pos + len(s)] = list(s)
        lines.append(Text("".join(labels), style="dim"))
        if not pts:
            mid = 1 + plot_h // 2
            msg = "no graded answers yet"
            t = lines[mid]
            start = Y_LABEL_W + 1 + max(0, (plot_w - len(msg)) // 2)
            lines[mid] = t[:start] + Text(msg, style="italic dim") + t[start + len(msg):]
        return lines

