"""When the session ends: the final table and where the results are."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import figures
from tui.model import short_names


def summary_table(summary: dict[str, Any]) -> Table:
    t = Table(box=None, header_style="bold", pad_edge=False)
    for h, j in (("run", "left"), ("status", "left"), ("accuracy", "right"), ("?", "right"), ("…", "right"),
                 ("TTFT p50", "right"), ("tok/s p50", "right"), ("VRAM (run)", "right"), ("peak RSS", "right"), ("J/token", "right")):
        t.add_column(h, justify=j, no_wrap=True)  # type: ignore[arg-type]
    rows = summary.get("runs", [])
    short = short_names([r.get("run", "") for r in rows])
    for r in rows:
        acc = "N/A" if r.get("accuracy") is None else f"{100 * r['accuracy']:.0f}% {r.get('correct')}/{r.get('graded')}"
        status = r.get("status", "")
        t.add_row(
            short.get(r.get("run", ""), r.get("run", "")), Text(status, style="green" if status == "ok" else "bold red"), acc,
            str(r.get("unparsed", 0)), str(r.get("truncated", 0)), figures.seconds(r.get("ttft_s_median")),
            figures.number(r.get("decode_tok_s_median"), ".1f"), figures.mib(r.get("peak_vram_process_mib")),
            figures.mib(r.get("rss_mib_peak")), figures.number(r.get("j_per_token"), ".3f"),
        )
    return t


class SummaryScreen(ModalScreen[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss('back')", "back to the views"),
        Binding("q", "dismiss('quit')", "quit"),
    ]

    def __init__(self, summary: dict[str, Any], out_dir: str | None, interrupted: bool) -> None:
        super().__init__()
        self.summary = summary
        self.out_dir = out_dir
        self.interrupted = interrupted

    def compose(self) -> ComposeResult:
        out = Path(self.out_dir) if self.out_dir else None
        head = "Session stopped — results cover what finished" if self.interrupted else "Session finished"
        with VerticalScroll(id="summary-box") as box:
            box.border_title = "session summary"
            yield Static(Text(head, style="bold"))
            yield Static(summary_table(self.summary))
            failed = [r for r in self.summary.get("runs", []) if r.get("status") not in ("ok",)]
            for r in failed:
                yield Static(Text(f"{r.get('run')}: {r.get('status')} — {r.get('reason') or ''}", style="red"))
            yield Static(Text("? unparsed · … truncated · N/A not measured", style="dim"))
            if out is not None:
                yield Static(Text.assemble(("\nresults  ", "dim"), (str(out / "results.jsonl"), "bold"),
                                           ("\nsummary  ", "dim"), (f"{out / 'summary.json'}, {out / 'summary.md'}", "bold")))
            yield Static(Text("\nesc: back to the views · q: quit", style="dim italic"))
