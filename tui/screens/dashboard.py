"""The dashboard: the top bar, the at-a-glance line, four views, the footer, and the keys."""

from __future__ import annotations

import time
from typing import ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from tui.controls import SessionControls
from tui.model import SessionModel
from tui.widgets.gpu_panel import GpuPanel
from tui.widgets.highlights import Highlights
from tui.widgets.leaderboard import Leaderboard
from tui.widgets.problem_view import ProblemView
from tui.widgets.run_grid import RunGrid
from tui.widgets.run_pane import RunPane
from tui.widgets.top_bar import VIEWS, TopBar

VIEW_IDS = tuple(v[0] for v in VIEWS)
#: the problem view redraws live token counts at most this often (s)
PROBLEM_LIVE_INTERVAL_S = 0.25
_VIEWS_GROUP = Binding.Group("views", compact=True)


class Dashboard(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "request_quit", "quit"),
        Binding("p", "pause", "pause"),
        Binding("n", "skip", "next"),
        Binding("z", "zoom", "zoom"),
        Binding("1", "show_view('runs')", "runs", group=_VIEWS_GROUP),
        Binding("2", "show_view('leaderboard')", "board", group=_VIEWS_GROUP),
        Binding("3", "show_view('gpus')", "GPUs", group=_VIEWS_GROUP),
        Binding("4", "show_view('problem')", "problem", group=_VIEWS_GROUP),
        Binding("s", "sort", "sort"),
        Binding("question_mark", "help", "help"),
        Binding("tab", "cycle_view(1)", "next view", show=False, priority=True),
        Binding("shift+tab", "cycle_view(-1)", "previous view", show=False, priority=True),
        Binding("left_square_bracket", "browse(-1)", "previous problem", show=False),
        Binding("right_square_bracket", "browse(1)", "next problem", show=False),
        Binding("f", "follow", "follow", show=False),
    ]

    def __init__(self, model: SessionModel, clock: object) -> None:
        super().__init__()
        self.model = model
        self.clock = clock
        self.view = "runs"
        self._dirty: set[str] = set()
        self._problem_drawn = 0.0

    @property
    def qapp(self) -> SessionControls:
        return cast(SessionControls, self.app)

    def compose(self) -> ComposeResult:
        yield TopBar(self.model, self.clock, id="top-bar")  # type: ignore[arg-type]
        yield Highlights(self.model, id="highlights")
        with ContentSwitcher(initial="runs", id="views"):
            yield RunGrid(self.model, id="runs")
            yield Leaderboard(self.model, id="leaderboard")
            with VerticalScroll(id="gpus"):
                yield GpuPanel(self.model, id="gpu-panel")
            yield ProblemView(self.model, id="problem")
        yield Footer(id="footer")

    def on_mount(self) -> None:
        self._dirty.update(VIEW_IDS)
        self.grid.sync_runs()
        self.query_one(Highlights).update_leaders()
        self.top_bar.update_status()
        self._refresh_view(self.view)

    # ---- parts ---------------------------------------------------------------------------------
    @property
    def grid(self) -> RunGrid:
        return self.query_one(RunGrid)

    @property
    def board(self) -> Leaderboard:
        return self.query_one(Leaderboard)

    @property
    def top_bar(self) -> TopBar:
        return self.query_one(TopBar)

    # ---- refreshing ----------------------------------------------------------------------------
    def apply_changes(self, changes: set[str]) -> None:
        """Refresh what the model says changed; views not on screen refresh when shown."""
        if not self.is_mounted:  # drawn in full when mounted
            self._dirty.update(VIEW_IDS)
            return
        if "runs" in changes:
            self.grid.sync_runs()
        for c in changes:
            if c.startswith("run:"):
                self.grid.refresh_run(c[4:], visible=self.view == "runs")
            elif c.startswith("text:"):
                self.grid.refresh_text(c[5:], visible=self.view == "runs")
            else:
                continue
            if self.view != "runs":
                self._dirty.add("runs")
        if "board" in changes:
            self.query_one(Highlights).update_leaders()
            self._refresh_view("leaderboard")
        if "gpus" in changes:
            self._refresh_view("gpus")
        if "problem" in changes:
            self._refresh_view("problem")
        elif self.view == "problem" and any(c.startswith("run:") for c in changes):
            now = time.monotonic()  # live token counts: a few times a second is enough
            if now - self._problem_drawn >= PROBLEM_LIVE_INTERVAL_S:
                self._problem_drawn = now
                self._refresh_view("problem")
        if "session" in changes or "board" in changes:
            self.top_bar.update_status()

    def _refresh_view(self, view: str) -> None:
        if view != self.view:
            self._dirty.add(view)
            return
        self._dirty.discard(view)
        if view == "leaderboard":
            self.board.rebuild()
        elif view == "gpus":
            self.query_one(GpuPanel).refresh(layout=True)
        elif view == "problem":
            self.query_one(ProblemView).refresh_problem()
        elif view == "runs":
            self.grid.refresh_all()

    def tick(self) -> None:
        """Once a second: the elapsed clock; the nodes' GPUs while the GPU view is shown."""
        if self.is_mounted:
            self.top_bar.update_status()
            if self.view == "gpus":
                self.qapp.poll_gpu_nodes()

    # ---- actions -------------------------------------------------------------------------------
    def action_show_view(self, view: str) -> None:
        if view not in VIEW_IDS:
            return
        if self.maximized is not None:
            self.minimize()
        self.view = view
        self.query_one("#views", ContentSwitcher).current = view
        self.top_bar.set_view(view)
        if view in self._dirty:  # redraw what changed while it was hidden, nothing more
            self._refresh_view(view)
        if view == "gpus":  # read on each node while shown (then every tick)
            self.qapp.poll_gpu_nodes()
        # focus moves only when needed: every focus change rebuilds the footer's keys
        if view == "runs" and not isinstance(self.focused, RunPane) and self.grid.panes:
            next(iter(self.grid.panes.values())).focus(scroll_visible=False)

    def action_cycle_view(self, step: int) -> None:
        i = VIEW_IDS.index(self.view)
        self.action_show_view(VIEW_IDS[(i + step) % len(VIEW_IDS)])

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        if self.view != "runs":
            self.action_show_view("runs")
        pane = self.focused if isinstance(self.focused, RunPane) else next(iter(self.grid.panes.values()), None)
        if pane is not None:
            pane.focus()
            self.maximize(pane, container=False)

    def action_focus_pane(self, step: int) -> None:
        panes = list(self.grid.panes.values())
        if not panes:
            return
        i = panes.index(self.focused) if self.focused in panes else -1
        panes[(i + step) % len(panes)].focus()

    def action_sort(self) -> None:
        self.board.cycle_sort()

    def action_browse(self, step: int) -> None:
        if self.view == "problem":
            self.query_one(ProblemView).card.browse(step)

    def action_follow(self) -> None:
        if self.view == "problem":
            self.query_one(ProblemView).card.follow()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_pause(self) -> None:
        self.qapp.toggle_pause()

    def action_skip(self) -> None:
        self.qapp.skip_problem()

    def action_request_quit(self) -> None:
        self.qapp.request_quit()
