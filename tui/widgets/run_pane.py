"""One run's pane: its answer streaming live, its verdicts, speed and memory.

The pane builds its lines itself (a few short figure lines and the tail of the answer that fits)
and hands Textual only the lines that changed (``render_line`` + partial ``refresh``): while a run
streams, a refresh repaints the speed line and the last line of the answer, not the whole pane.
That keeps the TUI's own CPU use low while it competes with the inference process. The app calls
``refresh_run()`` when the run's state changed.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui import figures
from tui.model import RunView, SessionModel
from tui.palette import run_colour
from tui.verdicts import MARKS, glyph
from tui.widgets.answer_text import AnswerWindow, WrappedText

#: lines above the answer (problem, speed, memory, accuracy, rule)
FIGURE_LINES = 5
#: widest tokens/s sparkline (cells)
SPARK_MAX = 40


class RunPane(Widget, can_focus=True):
    """A run: name and device in the border, figures on top, the answer below (auto-scrolled)."""

    ALLOW_MAXIMIZE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "screen.focus_pane(1)", "next pane", show=False),
        Binding("up,k", "screen.focus_pane(-1)", "previous pane", show=False),
        Binding("right,l", "screen.focus_pane(1)", "next pane", show=False),
        Binding("left,h", "screen.focus_pane(-1)", "previous pane", show=False),
    ]

    def __init__(self, run: RunView, model: SessionModel, **kw: Any) -> None:
        super().__init__(**kw)
        self.run = run
        self.model = model
        self._lines: list[Text] = []
        self._strips: list[Strip | None] = []
        self._built_for: tuple[int, int] | None = None
        self._strip_style: Any = None  # the style the cached strips were drawn with
        self.stale = True  # state changed while the runs view was hidden
        self._titles_shown: tuple[Text, Text] | None = None
        self._wrapped = WrappedText()
        self._window = AnswerWindow()

    # ---- border --------------------------------------------------------------------------------
    def _titles(self) -> None:
        rv = self.run
        colour = run_colour(rv.number)
        title = Text.assemble((f" {rv.number} ", f"bold black on {colour}"), " ", (rv.name, f"bold {colour}"))
        sub = Text(self.model.device_label(rv), style="bold")
        if rv.load_s is not None:
            sub.append(f" · loaded {rv.load_s:.1f} s", style="dim")
        if rv.status == "done":
            sub.append(" · ✔ done", style="bold green")
        elif rv.status == "interrupted":
            sub.append(" · ■ stopped", style="bold yellow")
        if (title, sub) != self._titles_shown:  # setting a border title repaints the whole pane
            self._titles_shown = (title, sub)
            self.border_title, self.border_subtitle = title, sub
        for status in ("failed", "unsupported", "oom", "done", "interrupted", "waiting", "loading"):
            self.set_class(rv.status == status, f"-{status}")
        badges = self.model.leaders()
        self.set_class(any(v is not None and v[0] is rv for v in badges.values()), "-leader")

    def refresh_run(self, visible: bool = True) -> None:
        """The run's state changed: repaint the lines that differ (later, if not on screen)."""
        if not visible:
            self.stale = True
            return
        self._titles()
        self._update_lines()

    def refresh_text(self, visible: bool = True) -> None:
        """Only the answer grew: repaint its changed lines (the border and figures did not move)."""
        if not visible:
            self.stale = True
            return
        self._update_lines()

    def on_mount(self) -> None:
        self._titles()

    def on_resize(self, event: Resize) -> None:
        self._built_for = None
        self._update_lines(full=True)

    # ---- line cache ----------------------------------------------------------------------------
    def _update_lines(self, full: bool = False) -> None:
        width, height = self.content_size.width, self.content_size.height
        if width <= 0 or height <= 0:
            self.stale = True
            return
        new = self.content_lines(width, height)
        new += [Text("")] * (height - len(new))
        changed = [y for y, (a, b) in enumerate(zip_longest(self._lines, new)) if a != b]
        full = full or self._built_for != (width, height) or self.stale
        self._lines = new
        if full:
            self._strips = [None] * height
        else:
            for y in changed:
                if y < len(self._strips):
                    self._strips[y] = None
        self._built_for = (width, height)
        self.stale = False
        if full or len(changed) > height // 2:
            self.refresh()
        elif changed:
            head = [Region(0, y, width, 1) for y in changed if y < FIGURE_LINES]
            body = [Region(0, y, width, 1) for y in changed if y >= FIGURE_LINES]
            if head and body:
                # Textual repaints the box around all dirty lines of a frame: the figures (top) and
                # the newest answer line (far below) go in two frames, each a line or two high
                self.refresh(*body)
                self.call_after_refresh(self.refresh, *head)
            else:
                self.refresh(*(head or body))

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size.width, self.content_size.height
        if self._built_for != (width, height):
            self._update_lines(full=True)
        style = self.rich_style
        if style != self._strip_style:  # focus, a class or the theme changed the background
            self._strip_style = style
            self._strips = [None] * len(self._lines)
        if y >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips[y]
        if strip is None:
            line = self._lines[y]
            strip = Strip(list(line.render(self.app.console)), line.cell_len)
            strip = strip.crop_extend(0, width, style).apply_style(style)
            self._strips[y] = strip
        return strip

    def content_text(self) -> Text:
        """What the pane shows, as one text (tests and screenshots)."""
        width, height = max(10, self.content_size.width), max(1, self.content_size.height)
        return Text("\n").join(self.content_lines(width, height))

    # ---- content -------------------------------------------------------------------------------
    def content_lines(self, width: int, height: int) -> list[Text]:
        rv = self.run
        width = max(10, width)
        height = max(1, height)
        if rv.failed:
            return self._render_failed(width, height)
        lines = [
            self._problem_line(width),
            self._speed_line(width),
            self._memory_line(width),
            self._accuracy_line(width),
        ]
        lines.append(self._rule(width))
        room = height - len(lines)
        lines.extend(self._answer_lines(width, room))
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return lines[:height]

    def _render_failed(self, width: int, height: int) -> list[Text]:
        rv = self.run
        label = {"failed": "FAILED", "unsupported": "UNSUPPORTED", "oom": "OUT OF MEMORY"}.get(rv.status, rv.status.upper())
        style = "bold yellow" if rv.status == "unsupported" else "bold red"
        head = Text.assemble(("✗ " if rv.status != "unsupported" else "⊘ ", style), (label, style))
        if rv.records:
            head.append(f"   after {len(rv.records)} answer(s)", style="dim")
        reason = Text(rv.reason or "no reason given", style="italic")
        body = reason.wrap(self.app.console, width)
        lines = [head, Text(""), *list(body)]
        if rv.records:
            lines += [Text(""), self._accuracy_line(width), self._speed_line(width)]
        lines.append(Text("the other runs continue", style="dim"))
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return lines[:height]

    def _problem_line(self, width: int) -> Text:
        rv = self.model
        run = self.run
        t = Text()
        if run.status == "waiting":
            wave = f" (wave {run.wave + 1})" if len(rv.waves) > 1 else ""
            t.append(f"waiting{wave}", style="dim italic")
        elif run.status == "loading":
            t.append("loading…", style="bold yellow")
            if run.load_progress:
                t.append(f" {run.load_progress}", style="yellow")
        elif run.problem_id is None:
            t.append("ready", style="dim")
        else:
            pos = (run.position or 0) + 1
            t.append(f"{pos}/{run.total or len(rv.problems)} ", style="bold")
            t.append(run.problem_id, style="")
        t.append("  ")
        t.append_text(self._marks(width - t.cell_len))
        return t

    def _marks(self, room: int) -> Text:
        """One mark per problem; when they do not fit, the window that ends at the current one."""
        run = self.run
        problems = self.model.problems
        if room <= 0 or not problems:
            return Text()
        start = 0
        if len(problems) > room:
            cur = run.position if run.position is not None else len(run.marks)
            end = min(len(problems), max(cur + 1, room - 1))
            start = max(0, end - (room - 1))
        t = Text("‹", style="dim") if start else Text()
        for p in problems[start:start + room - (1 if start else 0)]:
            pid = p["id"]
            if pid in run.marks:
                name = run.marks[pid]
            elif pid == run.problem_id and run.answering:
                name = "answering"
            else:
                name = "pending"
            g, style = glyph(name)
            t.append(g, style=style)
        return t

    def _speed_line(self, width: int) -> Text:
        run = self.run
        t = Text()
        rate = run.live_tok_s
        t.append(f"{figures.number(rate, '.1f'):>6}", style=f"bold {run_colour(run.number)}" if rate is not None else "dim")
        t.append(" tok/s ", style="dim")
        ttft = (run.last or {}).get("ttft_s")  # of the last finished answer
        tail = Text.assemble(("  TTFT ", "dim"), (figures.seconds(ttft), "bold"), (f"  {run.shown_tokens} tok", "dim"))
        spark_w = max(0, min(SPARK_MAX, width - t.cell_len - tail.cell_len - 1))
        spark = figures.sparkline(list(run.rates), spark_w)
        t.append(spark.ljust(spark_w), style=run_colour(run.number))
        t.append_text(tail)
        return t

    def _memory_line(self, width: int) -> Text:
        run = self.run
        t = Text()
        if run.on_gpu:
            t.append("GPU mem ", style="dim")
            frac = (run.vram_used_mib / run.vram_total_mib) if run.vram_used_mib is not None and run.vram_total_mib else None
            tail = Text.assemble(
                (" " + figures.mib_pair(run.vram_used_mib, run.vram_total_mib), "bold"),
                ("  run peak ", "dim"), (figures.mib(run.peak_vram_mib), "bold"),
                ("  util ", "dim"), (figures.number(run.gpu_util_pct, ".0f", "%").replace(" %", "%"), "bold"),
            )
            bar_w = max(4, min(24, width - t.cell_len - tail.cell_len))
            filled, empty = figures.bar(frac, bar_w)
            style = "green" if frac is None or frac < 0.8 else ("yellow" if frac < 0.95 else "red")
            t.append(filled, style=style)
            t.append(empty, style="dim")
            t.append_text(tail)
        else:
            rss = run.row.get("rss_mib_peak")
            t.append("RSS ", style="dim")
            t.append(figures.mib(rss), style="bold")
            t.append(" peak", style="dim")
            t.append("   VRAM ", style="dim")
            t.append("N/A", style="bold")
            t.append(" (cpu)   GPU ", style="dim")
            t.append("N/A", style="bold")
        return t

    def _accuracy_line(self, width: int) -> Text:
        row = self.run.row
        t = Text()
        graded = row.get("graded") or 0
        t.append("acc ", style="dim")
        if graded:
            t.append(f"{row.get('correct', 0)}/{graded}", style="bold")
            t.append(f" {figures.percent(row.get('accuracy'), 0)}", style="bold green" if (row.get("accuracy") or 0) >= 0.5 else "bold")
        else:
            t.append("N/A", style="bold")
        for key, name in (("unparsed", "unparsed"), ("truncated", "truncated"), ("skipped", "skipped")):
            n = row.get(key) or 0
            if n:
                g, style = glyph(name)
                t.append("  ")
                t.append(g, style=style)
                t.append(f"{n} {MARKS[name][2]}", style="dim")
        med = row.get("decode_tok_s_median")
        if med is not None:
            t.append("  p50 ", style="dim")
            t.append(f"{med:.1f} tok/s", style="bold")
        return t

    def _rule(self, width: int) -> Text:
        run = self.run
        last = run.last
        if last and not run.answering and last.get("problem_id") == run.problem_id:
            name = run.marks.get(run.problem_id or "", "ungraded")
            g, style = glyph(name)
            label = Text.assemble(
                (" answer ", "dim"), (g + " " + MARKS[name][2], style),
                (f"  extracted {last.get('extracted') if last.get('extracted') is not None else 'N/A'}", ""),
                (f"  gold {last.get('gold') if last.get('gold') is not None else 'N/A'} ", "dim"),
            )
        else:
            label = Text(" answer ", style="dim")
        t = Text("─", style="dim") + label
        t.append("─" * max(0, width - t.cell_len), style="dim")
        t.truncate(width)
        return t

    def _answer_lines(self, width: int, room: int) -> list[Text]:
        if room <= 0:
            return []
        run = self.run
        text = run.text
        if not text:
            if run.status == "running" and run.answering:
                return [Text("waiting for the first token…", style="dim italic")]
            return []
        key = (run.problem_id, run.position)
        lines = self._wrapped.update(text, width, key)
        shown = self._window.visible(len(lines), room, (key, width, room))
        return [Text(text[a:b].replace("\t", " ")) for a, b in (lines[i] for i in shown)]
