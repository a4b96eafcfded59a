"""The app over real sessions (the scripted fake backend in its own process, the real Session)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from engine import events as ev
from engine.exits import ExitCode
from tests.tui.conftest import run, run_toml, wait_for
from tui.app import make_app
from tui.messages import EngineEvent, TextArrived
from tui.screens.confirm_quit import ConfirmQuit
from tui.screens.error import ErrorScreen
from tui.screens.summary import SummaryScreen
from tui.widgets.run_pane import RunPane


def _flat(pane: RunPane) -> str:
    """The pane's text with line wrapping undone."""
    return " ".join(pane.content_text().plain.split())


def _names(messages: list[Any]) -> list[str]:
    out = []
    for m in messages:
        if isinstance(m, EngineEvent) and not isinstance(m.event, ev.Telemetry):
            out.append(type(m.event).__name__)
        elif isinstance(m, TextArrived):
            if not out or out[-1] != "text":
                out.append("text")
    return out


def test_message_order_and_panes(make_prepared: Any) -> None:
    prepared = make_prepared(run_toml("a"), limit=2)
    app = make_app(prepared)
    seen: list[Any] = []
    applied: list[str] = []  # what the model folded in, in order (text is coalesced, never reordered)
    apply, apply_text = app.model.apply, app.model.apply_text
    app.model.apply = lambda e: (applied.append(type(e).__name__), apply(e))[1]  # type: ignore[method-assign]
    app.model.apply_text = lambda *a: (applied.append("text"), apply_text(*a))[1]  # type: ignore[method-assign]

    async def body() -> None:
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished")
            await pilot.pause()
            assert isinstance(app.screen, SummaryScreen)
            rv = app.model.runs["tiny/fake/fake@a"]
            assert rv.marks == {"builtin/0": "correct", "builtin/1": "correct"}
            assert rv.row["accuracy"] == 1.0
            pane = app.dashboard.grid.panes["tiny/fake/fake@a"]
            assert "2/2" in pane.content_text().plain
            await pilot.press("q")
        assert app.return_code == ExitCode.OK

    run(body())
    names = _names(seen)
    # the run scores the reference solutions once loaded (QualityScored), then answers
    assert names[:7] == ["SessionStarted", "RunLoading", "RunLoaded", "QualityScored", "ProblemStarted", "text", "ProblemFinished"] or \
        names[:7] == ["SessionStarted", "RunLoading", "RunLoaded", "QualityScored", "ProblemStarted", "text", "ProblemStarted"]
    assert names[-2:] == ["RunFinished", "SessionFinished"]
    assert names.count("ProblemFinished") == 2
    # the model saw every answer as: started, its text, graded — in that order
    steps = [a for a in applied if a in ("ProblemStarted", "text", "ProblemFinished")]
    collapsed = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    assert collapsed == ["ProblemStarted", "text", "ProblemFinished"] * 2 or \
        collapsed == ["ProblemStarted", "text", "ProblemStarted", "ProblemFinished", "text", "ProblemFinished"]


def test_failed_load_and_crash_show_in_their_panes(make_prepared: Any) -> None:
    runs = run_toml("ok") + run_toml("broken", extra='fail_load = "weights not found: /nowhere.gguf"') \
        + run_toml("crashy", extra="crash_after = 1")
    prepared = make_prepared(runs, limit=2)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished")
            await pilot.pause()
            runs = app.model.runs
            assert runs["tiny/fake/fake@ok"].status == "done"
            assert len(runs["tiny/fake/fake@ok"].records) == 2  # the others did not stop it
            broken = app.dashboard.grid.panes["tiny/fake/fake@broken"]
            text = _flat(broken)
            assert "FAILED" in text and "weights not found: /nowhere.gguf" in text
            assert broken.has_class("-failed")
            crashy = app.dashboard.grid.panes["tiny/fake/fake@crashy"]
            text = _flat(crashy)
            assert runs["tiny/fake/fake@crashy"].status == "failed"
            assert "FAILED" in text and "exited with code 17" in text and "after 1 answer" in text
            await pilot.press("q")
        assert app.return_code == ExitCode.RUN_FAILED

    run(body())


def test_keys_views_sort_zoom_help(make_prepared: Any) -> None:
    prepared = make_prepared(run_toml("a") + run_toml("b", tps=200), limit=1)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished")
            d = app.dashboard
            for key, view in (("2", "leaderboard"), ("3", "gpus"), ("4", "problem"), ("1", "runs")):
                await pilot.press(key)
                assert d.view == view and d.query_one("#views").current == view
            await pilot.press("tab")
            assert d.view == "leaderboard"
            await pilot.press("shift+tab")
            assert d.view == "runs"
            # sort: s cycles columns, the header click sorts by that column
            await pilot.press("2")
            assert d.board.sort_key == "accuracy"
            await pilot.press("s")
            assert d.board.sort_key == "tok_s"
            await pilot.press("s", "s")
            assert d.board.sort_key == "j_tok"
            table = d.query_one("#board-table", DataTable)
            assert table.row_count == 2
            d.board.sort_by("vram")
            d.board.sort_by("vram")
            assert d.board.sort_key == "vram" and d.board.reverse is True
            # zoom the focused pane, then restore
            await pilot.press("1")
            pane = next(iter(d.grid.panes.values()))
            assert isinstance(app.focused, RunPane)
            await pilot.press("down")
            assert app.focused is not pane
            await pilot.press("z")
            assert d.maximized is app.focused
            await pilot.press("z")
            assert d.maximized is None
            await pilot.press("question_mark")
            assert type(app.screen).__name__ == "HelpScreen"
            await pilot.press("escape")
            assert app.screen is d
            await pilot.press("q")
        assert app.return_code == ExitCode.OK

    run(body())


def test_header_click_sorts(make_prepared: Any) -> None:
    prepared = make_prepared(run_toml("a") + run_toml("b", tps=100), limit=1)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished")
            await pilot.press("2")
            table = app.dashboard.query_one("#board-table", DataTable)
            table.post_message(DataTable.HeaderSelected(table, _key(table, "tok_s"), 5, table.columns[_key(table, "tok_s")].label))
            await pilot.pause()
            assert app.dashboard.board.sort_key == "tok_s"
            first = table.get_row_at(0)
            assert "tiny/fake/fake@a" in str(first[2])  # 400 tok/s beats 100
            await pilot.press("q")

    run(body())


def _key(table: DataTable[Any], name: str) -> Any:
    return next(k for k in table.columns if k.value == name)


def test_pause_resume_and_skip(make_prepared: Any) -> None:
    long = " ".join(f"passo{i}" for i in range(400))
    runs = f"""
[[runs]]
model = "tiny"
backend = "fake"
quant = "fake"
settings = {{ tokens_per_s = 100, answers = ["{long} \\\\boxed{{B}}"] }}
"""
    prepared = make_prepared(runs, limit=3)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            rv = lambda: app.model.runs["tiny/fake/fake"]  # noqa: E731
            await wait_for(pilot, lambda: rv().tokens_out > 5)
            # skip: the answer in progress is cancelled and recorded as skipped
            await pilot.press("n")
            await wait_for(pilot, lambda: "builtin/0" in rv().marks)
            assert rv().marks["builtin/0"] == "skipped"
            pane = app.dashboard.grid.panes["tiny/fake/fake"]
            assert "»" in pane.content_text().plain
            # pause: no new problem starts until resumed
            await wait_for(pilot, lambda: rv().problem_id == "builtin/1" and rv().tokens_out > 2)
            await pilot.press("p")
            assert app.session.paused and app.model.paused
            assert "paused" in str(app.dashboard.top_bar.query_one("#top-status").render())
            await pilot.press("n")  # finish the answer in progress quickly
            await wait_for(pilot, lambda: "builtin/1" in rv().marks)
            await pilot.pause(0.6)
            assert rv().problem_id == "builtin/1"  # builtin/2 has not started
            await pilot.press("p")
            assert not app.session.paused
            await wait_for(pilot, lambda: rv().problem_id == "builtin/2")
            await pilot.press("n")
            await wait_for(pilot, lambda: app.model.state == "finished")
            await pilot.press("q")

    run(body())


def test_quit_mid_run_asks_then_stops_cleanly(make_prepared: Any, tmp_path: Path) -> None:
    runs = run_toml("fast", tps=300) + run_toml("slow", tps=5)
    prepared = make_prepared(runs, limit=4)
    app = make_app(prepared)

    async def body() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.model.runs["tiny/fake/fake@slow"].tokens_out >= 1
                           and len(app.model.runs["tiny/fake/fake@fast"].records) >= 1)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.press("n")  # keep running
            assert not isinstance(app.screen, ConfirmQuit)
            assert app.model.state == "running"
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuit)
            await pilot.press("y")
            await wait_for(pilot, lambda: app._exit, timeout=20)
        assert app.return_code == ExitCode.INTERRUPTED

    run(body())
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x.strip()]
    assert lines, "the finished answers are kept"
    for rec in lines:  # only complete, graded records: nothing cut off by the stop
        assert rec["verdict"] in ("correct", "incorrect", "unparsed")
        assert rec["finish_reason"] in ("stop", "length")
    assert {r["run"] for r in lines} <= {"tiny/fake/fake@fast", "tiny/fake/fake@slow"}


def test_worker_failure_is_shown_not_a_crash() -> None:
    class Broken:
        runs: list[Any] = []
        paused = False

        def run(self, callback: Any) -> None:
            callback(ev.SessionStarted(runs=["x"], problems=[], out_dir="nowhere"))
            raise RuntimeError("grader exploded")

        def stop(self) -> None:
            pass

    app = make_app(session=Broken())

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            assert app.model.state == "error"
            assert "grader exploded" in app.model.error
            await pilot.press("q")
        assert app.return_code == 1

    run(body())


def test_warm_up_answer_stays_off_screen(make_prepared: Any) -> None:
    prepared = make_prepared(run_toml("a"), limit=2, warmup=True)
    app = make_app(prepared, show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished")
            rv = app.model.runs["tiny/fake/fake@a"]
            assert set(rv.marks) == {"builtin/0", "builtin/1"}  # no "warmup" problem shown or graded
            assert "warmup" not in app.model.problem_index
            await pilot.press("q")

    run(body())
