"""The runs view: one pane per run, side by side in a grid that adapts to the terminal.

Columns: as many as fit at ``MIN_PANE_WIDTH`` cells, balanced over the rows (4 runs on a wide
screen make 2×2, not 3+1). Rows share the height; below ``MIN_PANE_HEIGHT`` the panes stack
and the view scrolls (arrow keys move between panes and bring the focused one into view;
``z`` zooms it to the whole screen).
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.events import Resize

from tui.model import SessionModel
from tui.widgets.run_pane import RunPane

MIN_PANE_WIDTH = 46
MIN_PANE_HEIGHT = 10


def grid_shape(n: int, width: int, height: int) -> tuple[int, int, int]:
    """(columns, rows, row height) for ``n`` panes in a ``width`` × ``height`` area."""
    if n <= 0:
        return 1, 0, MIN_PANE_HEIGHT
    max_cols = max(1, width // MIN_PANE_WIDTH)
    rows = math.ceil(n / max_cols)
    cols = math.ceil(n / rows)
    row_h = max(MIN_PANE_HEIGHT, height // rows if rows else height)
    return cols, rows, row_h


class RunGrid(VerticalScroll, can_focus=False):
    def __init__(self, model: SessionModel, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.model = model
        self.panes: dict[str, RunPane] = {}

    def compose(self) -> ComposeResult:
        yield Container(id="run-grid")

    def sync_runs(self) -> None:
        """Add panes for new runs, drop panes of runs no longer in the session, keep the order."""
        grid = self.query_one("#run-grid", Container)
        for name in [n for n in self.panes if n not in self.model.runs]:
            self.panes.pop(name).remove()
        new = []
        for name, rv in self.model.runs.items():
            if name not in self.panes:
                self.panes[name] = RunPane(rv, self.model, classes="run-pane")
                new.append(self.panes[name])
            else:
                self.panes[name].run = rv
        if new:
            grid.mount_all(new)
        self.panes = {n: self.panes[n] for n in self.model.runs}
        self.relayout()

    def on_resize(self, event: Resize) -> None:
        self.relayout()

    def relayout(self) -> None:
        grid = self.query_one("#run-grid", Container)
        cols, rows, row_h = grid_shape(len(self.panes), self.size.width, self.size.height)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_rows = str(row_h)
        grid.styles.height = max(1, rows * row_h)

    def refresh_run(self, name: str, visible: bool = True) -> None:
        pane = self.panes.get(name)
        if pane is not None:
            pane.refresh_run(visible)

    def refresh_text(self, name: str, visible: bool = True) -> None:
        pane = self.panes.get(name)
        if pane is not None:
            pane.refresh_text(visible)

    def refresh_all(self) -> None:
        for pane in self.panes.values():
            pane.refresh_run()
