"""The leaderboard: runs ranked by accuracy, quality, speed, memory, energy, TTFT; and the accuracy/speed chart.

Sort by any column with ``s`` (cycles) or by clicking its header (clicking again reverses).
Each column sorts best-first in its own sense (accuracy and tok/s high first; memory, J/token and
TTFT low first; KLD, the divergence from the model's reference, low first); runs without the
figure (N/A) always come last. When no run has an accuracy (synthetic weights, or nothing graded)
the chart shows top-1 agreement with the reference against speed instead. The best figure of each column
is highlighted. Figures come from ``engine.results.run_summary`` — the same as ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable

from tui import figures
from tui.model import RunView, SessionModel
from tui.palette import run_colour
from tui.widgets.compare_bars import CompareBars
from tui.widgets.scatter import Point, ScatterPlot


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    value: Callable[[RunView], Any]  # the figure sorted on (None = N/A)
    text: Callable[[RunView], str]
    better: str | None = None  # "max" | "min" | None (not a figure)


def _acc_text(rv: RunView) -> str:
    row = rv.row
    if not row.get("graded"):
        return "N/A"
    return f"{figures.percent(row.get('accuracy'), 0)} {row.get('correct', 0)}/{row.get('graded')}"


COLUMNS: tuple[Column, ...] = (
    Column("number", "#", lambda r: r.number, lambda r: str(r.number)),
    Column("run", "run", lambda r: r.name, lambda r: r.name),
    Column("status", "status", lambda r: r.status, lambda r: r.status),
    Column("accuracy", "accuracy", lambda r: r.row.get("accuracy"), _acc_text, "max"),
    Column("kld", "KLD", lambda r: r.quality.get("kld_mean"), lambda r: figures.number(r.quality.get("kld_mean"), ".4f"), "min"),
    Column("tok_s", "tok/s p50", lambda r: r.row.get("decode_tok_s_median"), lambda r: figures.number(r.row.get("decode_tok_s_median"), ".1f"), "max"),
    Column("ttft", "TTFT p50", lambda r: r.row.get("ttft_s_median"), lambda r: figures.seconds(r.row.get("ttft_s_median")), "min"),
    Column("vram", "VRAM (run)", lambda r: r.peak_vram_mib, lambda r: figures.mib(r.peak_vram_mib), "min"),
    Column("gpu_used", "GPU used", lambda r: r.peak_gpu_used_mib, lambda r: figures.mib(r.peak_gpu_used_mib), "min"),
    Column("rss", "peak RSS", lambda r: r.row.get("rss_mib_peak"), lambda r: figures.mib(r.row.get("rss_mib_peak")), "min"),
    Column("j_tok", "J/token", lambda r: r.row.get("j_per_token"), lambda r: figures.number(r.row.get("j_per_token"), ".3f"), "min"),
    Column("unparsed", "? unparsed", lambda r: r.row.get("unparsed"), lambda r: str(r.row.get("unparsed") or 0)),
    Column("truncated", "… trunc", lambda r: r.row.get("truncated"), lambda r: str(r.row.get("truncated") or 0)),
    Column("answers", "answers", lambda r: r.row.get("problems") or 0, lambda r: str(r.row.get("problems") or 0)),
)
BY_KEY = {c.key: c for c in COLUMNS}
#: the order ``s`` cycles through
SORT_CYCLE = ("accuracy", "tok_s", "vram", "j_tok", "kld", "ttft", "rss", "number")


def ranked(runs: list[RunView], key: str, reverse: bool = False) -> list[RunView]:
    """Runs best-first by column ``key`` (``reverse`` flips it); N/A always last."""
    col = BY_KEY[key]
    known = [r for r in runs if col.value(r) is not None]
    unknown = [r for r in runs if col.value(r) is None]
    descending = col.better == "max"
    known.sort(key=lambda r: (col.value(r), -r.number if descending else r.number), reverse=descending)
    if reverse:
        known.reverse()
    return known + sorted(unknown, key=lambda r: r.number)


def best_of(runs: list[RunView], col: Column) -> Any:
    vals = [col.value(r) for r in runs if col.value(r) is not None]
    if not vals or col.better is None:
        return None
    return max(vals) if col.better == "max" else min(vals)


class Leaderboard(Vertical):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model
        self.sort_key = "accuracy"
        self.reverse = False

    def compose(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="board-table", cursor_type="none", zebra_stripes=True)
        yield table
        with Horizontal(id="board-charts"):
            yield ScatterPlot(id="board-chart")
            yield CompareBars(self.model, id="board-bars")

    def on_resize(self) -> None:
        self.set_class(self.size.width < 120, "-narrow")

    def on_mount(self) -> None:
        self.rebuild()

    # ---- sorting -------------------------------------------------------------------------------
    def cycle_sort(self) -> str:
        i = SORT_CYCLE.index(self.sort_key) if self.sort_key in SORT_CYCLE else -1
        self.sort_key = SORT_CYCLE[(i + 1) % len(SORT_CYCLE)]
        self.reverse = False
        self.rebuild()
        return BY_KEY[self.sort_key].label

    def sort_by(self, key: str) -> None:
        if key not in BY_KEY:
            return
        if key == self.sort_key:
            self.reverse = not self.reverse
        else:
            self.sort_key, self.reverse = key, False
        self.rebuild()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    # ---- drawing -------------------------------------------------------------------------------
    def rebuild(self) -> None:
        if not self.is_mounted:
            return
        table = self.query_one("#board-table", DataTable)
        runs = list(self.model.runs.values())
        order = ranked(runs, self.sort_key, self.reverse)
        table.clear(columns=True)
        table.add_column(Text("rank", style="bold"), key="rank")
        for col in COLUMNS:
            label = Text(col.label, style="bold")
            if col.key == self.sort_key:
                arrow = ("▲" if col.better == "min" or col.better is None else "▼")
                if self.reverse:
                    arrow = "▼" if arrow == "▲" else "▲"
                label = Text.assemble((col.label + " " + arrow, "bold reverse"))
            table.add_column(label, key=col.key)
        bests = {c.key: best_of(runs, c) for c in COLUMNS}
        sort_col = BY_KEY[self.sort_key]
        rank = 0
        for rv in order:
            has = sort_col.value(rv) is not None
            rank += 1
            cells: list[Any] = [Text(f"{rank}." if has else "–", style="bold" if rank == 1 and has else "dim")]
            for col in COLUMNS:
                cells.append(self._cell(rv, col, bests[col.key]))
            table.add_row(*cells, key=rv.name)
        self._update_chart(runs)

    def _cell(self, rv: RunView, col: Column, best: Any) -> Text:
        colour = run_colour(rv.number)
        text = col.text(rv)
        if col.key == "number":
            return Text(f" {text} ", style=f"bold black on {colour}")
        if col.key == "run":
            return Text(text, style=f"bold {colour}")
        if col.key == "status":
            style = {"failed": "bold red", "oom": "bold red", "unsupported": "yellow", "done": "green",
                     "running": "cyan", "interrupted": "yellow"}.get(rv.status, "dim")
            return Text(text, style=style)
        value = col.value(rv)
        if value is None and col.better is not None:
            return Text(text, style="dim")
        if best is not None and value == best and sum(1 for r in self.model.runs.values() if col.value(r) is not None) > 1:
            return Text("★ " + text, style="bold green")
        return Text(text)

    def _update_chart(self, runs: list[RunView]) -> None:
        chart = self.query_one("#board-chart", ScatterPlot)
        # accuracy when any run has one; otherwise the quality axis (top-1 agreement with the reference)
        quality = not any(rv.row.get("accuracy") is not None for rv in runs) and any(
            rv.quality.get("top1_pct") is not None for rv in runs)
        points = []
        for rv in runs:
            top1 = rv.quality.get("top1_pct")
            y = (None if top1 is None else float(top1) / 100) if quality else rv.row.get("accuracy")
            tps = rv.row.get("decode_tok_s_median")
            if y is not None and tps is not None and tps > 0:
                points.append(Point(rv.number, self.model.short_name(rv), float(tps), float(y), run_colour(rv.number)))
        chart.title = "top-1 agreement with the reference vs decode tok/s" if quality else "accuracy vs decode tok/s"
        chart.set_points(points)
        self.query_one("#board-bars", CompareBars).refresh()
