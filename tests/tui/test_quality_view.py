"""The quality axis in the TUI: the KLD column, and top-1 agreement against speed when accuracy is n/a."""

from __future__ import annotations

from typing import Any

from engine import events as ev
from tests.tui.conftest import run
from tests.tui.scripted import PROBLEMS, QUALITY, RUNS, _record
from tui.app import make_app
from tui.model import SessionModel
from tui.widgets.leaderboard import BY_KEY, ranked
from tui.widgets.scatter import ScatterPlot


def _synthetic_events() -> list[ev.Event]:
    """Three synthetic runs: every verdict n/a, quality given."""
    out: list[ev.Event] = [ev.SessionStarted(runs=RUNS[:3], problems=PROBLEMS, out_dir="results/demo", waves=[RUNS[:3]])]
    for i, run_name in enumerate(RUNS[:3]):
        out.append(ev.RunLoaded(run=run_name, device="cuda:0", gpus=[0], load_s=1.0, details={}))
        out.append(ev.QualityScored(run=run_name, quality={**QUALITY[run_name], "synthetic": True}))
        rec = _record(run_name, PROBLEMS[0], "x y z", "n/a", None, tps=50.0 + 20 * i, ttft=0.05)
        out.append(ev.ProblemFinished(run=run_name, problem_id=PROBLEMS[0]["id"], record=rec))
    return out


def test_quality_scored_reaches_the_model_and_the_final_row_wins() -> None:
    m = SessionModel()
    for e in _synthetic_events():
        m.apply(e)
    rv = m.runs[RUNS[0]]
    assert rv.quality["kld_mean"] == QUALITY[RUNS[0]]["kld_mean"]
    order = ranked(list(m.runs.values()), "kld")
    assert [r.name for r in order] == [RUNS[1], RUNS[0], RUNS[2]]  # lowest KLD first: the reference
    assert BY_KEY["kld"].text(rv) == "0.0312"
    m.apply(ev.RunFinished(run=RUNS[0], status="ok", summary={"run": RUNS[0], "quality": {"kld_mean": 0.5}}))
    assert rv.quality["kld_mean"] == 0.5


def test_the_chart_shows_top1_agreement_when_no_run_has_an_accuracy() -> None:
    app = make_app(events=_synthetic_events(), clock=lambda: 1000.0, show_summary=False)

    async def body() -> Any:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("2")
            await pilot.pause()
            chart = app.dashboard.query_one("#board-chart", ScatterPlot)
            assert chart.title.startswith("top-1 agreement")
            assert sorted(round(p.y, 3) for p in chart.points) == [0.862, 0.913, 1.0]

    run(body())
