"""The problem view: the problem being answered, its gold answer, and every run's answer and verdict.

It follows the front-most problem; ``[`` and ``]`` browse the others (then it stays where it was
put until ``f`` follows again). Problem text is shown as written: figures and formulas as their
LaTeX source.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget

from tui import figures
from tui.model import SessionModel
from tui.palette import run_colour
from tui.verdicts import MARKS, glyph


class ProblemCard(Widget):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model
        self.pinned: str | None = None  # a problem chosen with [ ], else None (follow)

    @property
    def problem_id(self) -> str | None:
        return self.pinned or self.model.current_problem

    def browse(self, delta: int) -> None:
        m = self.model
        if not m.problems:
            return
        pid = self.problem_id
        i = m.problem_index.get(pid or "", 0)
        i = max(0, min(len(m.problems) - 1, i + delta))
        self.pinned = m.problems[i]["id"]
        self.refresh(layout=True)

    def follow(self) -> None:
        self.pinned = None
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        m = self.model
        p = m.problem(self.problem_id)
        if p is None:
            return Text("no problem yet", style="dim italic")
        i = m.problem_index[p["id"]]
        head = Text()
        head.append(f" {p['id']} ", style="bold reverse")
        head.append(f"  problem {i + 1} of {len(m.problems)}", style="bold")
        facts = [p.get("variant"), (p.get("kind") or "").replace("_", " ")]
        if p.get("level") is not None:
            facts.append(f"level {p['level']}")
        if p.get("has_figure"):
            facts.append("has a figure (LaTeX source below)")
        head.append("   " + " · ".join(str(f) for f in facts if f), style="dim")
        head.append("   following" if self.pinned is None else "   pinned — f to follow", style="italic dim")
        gold = p.get("answer")
        if gold is None:
            for rv in m.runs.values():
                for r in rv.records:
                    if r.get("problem_id") == p["id"] and r.get("gold") is not None:
                        gold = r["gold"]
                        break
        parts: list[RenderableType] = [head, Text("")]
        parts.append(Text.assemble(("gold answer  ", "bold"), (str(gold) if gold is not None else "N/A", "bold green")))
        parts.append(Text(""))
        parts.append(self._answers(p["id"]))
        parts.append(Text(""))
        parts.append(Text("problem", style="bold underline"))
        parts.append(Text(str(p.get("problem") or "").strip()))
        choices = p.get("choices") or {}
        if choices:
            parts.append(Text(""))
            for letter, text in choices.items():
                parts.append(Text.assemble((f" {letter}) ", "bold"), str(text)))
        return Group(*parts)

    def _answers(self, pid: str) -> Table:
        m = self.model
        t = Table(box=None, header_style="bold", pad_edge=False, show_edge=False, expand=False)
        for h, j in (("#", "left"), ("run", "left"), ("verdict", "left"), ("extracted", "left"), ("tokens", "right"),
                     ("tok/s", "right"), ("TTFT", "right"), ("finish", "left")):
            t.add_column(h, justify=j, no_wrap=h != "extracted", min_width=9 if h == "extracted" else None)  # type: ignore[arg-type]
        for rv in m.runs.values():
            c = run_colour(rv.number)
            rec = next((r for r in reversed(rv.records) if r.get("problem_id") == pid), None)
            if rec is not None:
                name = rv.marks.get(pid, "ungraded")
                g, style = glyph(name)
                verdict = Text.assemble((g + " ", style), (MARKS[name][2], style))
                extracted = Text(str(rec.get("extracted")) if rec.get("extracted") is not None else "N/A")
                tokens = str(rec.get("tokens_out") if rec.get("tokens_out") is not None else "N/A")
                tps = figures.number(rec.get("decode_tok_s"), ".1f")
                ttft = figures.seconds(rec.get("ttft_s"))
                finish = str(rec.get("finish_reason") or "N/A")
            elif rv.problem_id == pid and rv.answering:
                g, style = glyph("answering")
                verdict = Text.assemble((g + " ", style), ("answering", style))
                extracted = Text("…", style="dim")
                tokens, tps, ttft, finish = str(rv.tokens_out), figures.number(rv.live_tok_s, ".1f"), "N/A", ""
            elif rv.failed:
                verdict = Text(rv.status, style="bold red")
                extracted, tokens, tps, ttft, finish = Text(""), "", "", "", ""
            else:
                g, style = glyph("pending")
                verdict = Text.assemble((g + " ", style), ("pending", style))
                extracted, tokens, tps, ttft, finish = Text(""), "", "", "", ""
            t.add_row(Text(f" {rv.number} ", style=f"bold black on {c}"), Text(m.short_name(rv), style=f"bold {c}"),
                      verdict, extracted, tokens, tps, ttft, finish)
        return t


class ProblemView(VerticalScroll):
    def __init__(self, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.model = model

    def compose(self) -> ComposeResult:
        yield ProblemCard(self.model, id="problem-card")

    @property
    def card(self) -> ProblemCard:
        return self.query_one(ProblemCard)

    def refresh_problem(self) -> None:
        self.card.refresh(layout=True)
