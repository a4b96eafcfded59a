"""The TUI's state and the event bridge, without a screen (pure and fast)."""

from __future__ import annotations

import threading
from typing import Any

from engine import events as ev
from tests.tui.scripted import RUNS, demo_events, finished_events
from tui import figures
from tui.bridge import SessionBridge
from tui.messages import EngineEvent, TextArrived
from tui.model import SessionModel
from tui.verdicts import MARKS, mark_of
from tui.widgets.leaderboard import BY_KEY, ranked
from tui.widgets.run_grid import grid_shape
from tui.widgets.scatter import nice_ticks


def _model(events: list[ev.Event]) -> SessionModel:
    m = SessionModel()
    for e in events:
        if isinstance(e, ev.TokenText):
            m.apply_text(e.run, e.problem_id, e.text, e.tokens_out, e.elapsed_s)
        else:
            m.apply(e)
    return m


def test_marks_are_distinct_without_colour() -> None:
    glyphs = [g for g, _, _ in MARKS.values()]
    assert len(set(glyphs)) == len(glyphs)
    assert mark_of({"verdict": "correct", "finish_reason": "length"}) == "correct"
    assert mark_of({"verdict": "incorrect", "finish_reason": "length"}) == "truncated"
    assert mark_of({"verdict": "unparsed", "finish_reason": "stop"}) == "unparsed"
    assert mark_of({"verdict": "skipped", "finish_reason": "skipped"}) == "skipped"
    assert mark_of({"verdict": "n/a", "finish_reason": "length"}) == "n/a"
    assert mark_of({"verdict": "ungraded"}) == "ungraded"


def test_model_follows_the_session() -> None:
    m = _model(demo_events())
    a, b, c, d = (m.runs[r] for r in RUNS)
    assert a.marks == {"ptbr_multiple_choice/0": "correct", "ptpt_open_ended/0": "correct"}
    assert b.marks["ptpt_open_ended/0"] == "incorrect"
    assert c.marks["ptbr_multiple_choice/0"] == "truncated"
    assert d.status == "oom" and "out of memory" in (d.reason or "")
    assert a.answering and a.problem_id == "ptpt_multiple_choice/3" and a.text.startswith("A área")
    assert a.live_tok_s is not None and a.rates
    assert a.stats["correct"] == 2 and a.stats["graded"] == 2
    assert m.current_problem == "ptpt_multiple_choice/3"
    assert m.device_label(b) == "cuda:1 (gpu:1)"
    assert a.vram_used_mib == 13_410.0 and a.vram_total_mib == 81_559.0
    leaders = m.leaders()
    assert leaders["fastest"][0] is a  # type: ignore[index]
    assert leaders["memory"][0] is a  # type: ignore[index]
    assert m.short_name(a) == "llama.cpp/q4_k_m"


def test_a_long_load_shows_its_progress_until_loaded() -> None:
    run = RUNS[0]
    m = _model([e for e in demo_events() if isinstance(e, ev.SessionStarted)] + [ev.RunLoading(run=run)])
    changes = m.apply(ev.RunLoadProgress(run=run, phase="reading shards", fraction=0.5, bytes_read=2**31,
                                         bytes_placed={"cuda:0": 2**30}, line="reading shards shard 1/2 (50%): 2.0 GiB read, cuda:0 1.0 GiB"))
    assert f"run:{run}" in changes and m.runs[run].status == "loading"
    assert m.runs[run].load_progress == "reading shards shard 1/2 (50%): 2.0 GiB read, cuda:0 1.0 GiB"


def test_cpu_session_shows_na_not_zero() -> None:
    m = _model(demo_events(gpus=False))
    a = m.runs[RUNS[0]]
    assert a.peak_vram_mib is None and a.vram_used_mib is None
    assert not m.nvml_available and m.telemetry_seen
    assert m.leaders()["memory"][1].endswith("RSS")  # type: ignore[index]
    assert figures.mib(None) == "N/A" and figures.number(None) == "N/A" and figures.percent(None) == "N/A"


def test_finished_session_marks_stopped_runs() -> None:
    m = _model(finished_events())
    assert m.state == "finished" and m.interrupted
    assert m.runs[RUNS[0]].status == "interrupted"  # 2 of 4 problems answered
    assert m.runs[RUNS[3]].status == "oom"


def test_leaderboard_ranks_best_first_and_na_last() -> None:
    m = _model(demo_events())
    runs = list(m.runs.values())
    assert [r.name for r in ranked(runs, "tok_s")][:3] == [RUNS[0], RUNS[1], RUNS[2]]
    assert ranked(runs, "tok_s")[-1].name == RUNS[3]  # N/A last
    assert ranked(runs, "ttft")[0].name == RUNS[0]
    assert ranked(runs, "tok_s", reverse=True)[0].name == RUNS[2]
    assert ranked(runs, "tok_s", reverse=True)[-1].name == RUNS[3]  # N/A stays last
    assert BY_KEY["vram"].better == "min"


def test_grid_adapts_to_the_terminal() -> None:
    assert grid_shape(4, 160, 44) == (2, 2, 22)
    assert grid_shape(3, 160, 44) == (3, 1, 44)
    assert grid_shape(4, 80, 20) == (1, 4, 10)  # stacked, scrolls
    assert grid_shape(1, 80, 20) == (1, 1, 20)


def test_marks_window_follows_the_current_problem() -> None:
    from tui.widgets.run_pane import RunPane

    m = SessionModel()
    problems = [{"id": f"p{i}"} for i in range(100)]
    m.apply(ev.SessionStarted(runs=["r"], problems=problems, out_dir="o"))
    rv = m.runs["r"]
    for i in range(50):
        m.apply(ev.ProblemFinished(run="r", problem_id=f"p{i}", record={"verdict": "correct", "finish_reason": "stop"}))
    m.apply(ev.ProblemStarted(run="r", problem_id="p50", position=50, total=100))
    pane = RunPane(rv, m)
    marks = pane._marks(20).plain
    assert len(marks) == 20 and marks.startswith("‹") and marks.endswith("●")
    assert pane._marks(200).plain == "✓" * 50 + "●" + "·" * 49


def test_scatter_ticks() -> None:
    assert nice_ticks(0, 100, log=False) == [0, 25, 50, 75, 100]
    assert nice_ticks(2, 60, log=True) == [2, 5, 10, 20, 50]


def test_sparkline_and_bar() -> None:
    assert figures.sparkline([1, 2, 4, 8], 4, zero=True) == "▂▃▅█"  # scaled from 0 to the maximum
    assert figures.sparkline([50, 51, 52], 3) == "▂▅█"  # close values still show the trend
    assert figures.sparkline([5, 5], 2) == "▅▅"
    filled, empty = figures.bar(0.5, 10)
    assert filled == "█████" and len(empty) == 5
    assert figures.bar(None, 4) == ("", "····")


def test_bridge_coalesces_text_and_keeps_order() -> None:
    posted: list[Any] = []
    bridge = SessionBridge(posted.append)
    bridge(ev.ProblemStarted(run="r", problem_id="p1", position=0, total=2))
    for i in range(100):
        bridge(ev.TokenText(run="r", problem_id="p1", text=f"t{i} ", tokens_out=i + 1, elapsed_s=i / 100))
    bridge(ev.ProblemFinished(run="r", problem_id="p1", record={}))
    bridge(ev.ProblemStarted(run="r", problem_id="p2", position=1, total=2))
    bridge(ev.TokenText(run="r", problem_id="p2", text="novo", tokens_out=1, elapsed_s=0.0))
    # one wake-up message for 101 deltas; every other event posted in order
    assert [type(p).__name__ for p in posted] == ["EngineEvent", "TextArrived", "EngineEvent", "EngineEvent"]
    finished = posted[2]
    assert isinstance(finished, EngineEvent) and isinstance(finished.event, ev.ProblemFinished)
    chunks, remaining = bridge.take_text(before=finished.seq)  # what precedes the verdict
    assert len(chunks) == 1 and chunks[0].deltas == 100 and chunks[0].tokens_out == 100
    assert chunks[0].text.startswith("t0 t1 ") and remaining  # p2's text waits for its turn
    chunks, remaining = bridge.take_text()
    assert [c.text for c in chunks] == ["novo"] and not remaining
    n = len(posted)
    bridge(ev.TokenText(run="r", problem_id="p2", text=" mais", tokens_out=2, elapsed_s=0.1))
    assert len(posted) == n  # the UI polls while text flows: no message per delta
    assert not bridge.rearm()  # text is waiting: keep polling
    bridge.take_text()
    assert bridge.rearm()  # nothing waits: the UI stops polling...
    bridge(ev.TokenText(run="r", problem_id="p2", text=" e mais", tokens_out=3, elapsed_s=0.2))
    assert isinstance(posted[-1], TextArrived)  # ...and the next delta wakes it again


def test_bridge_is_thread_safe() -> None:
    posted: list[Any] = []
    bridge = SessionBridge(posted.append)

    def stream(run: str) -> None:
        for i in range(2000):
            bridge(ev.TokenText(run=run, problem_id="p", text="x", tokens_out=i + 1, elapsed_s=i * 0.001))

    threads = [threading.Thread(target=stream, args=(f"r{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    total = 0
    while any(t.is_alive() for t in threads):
        total += sum(len(c.text) for c in bridge.take_text()[0])
    for t in threads:
        t.join()
    total += sum(len(c.text) for c in bridge.take_text()[0])
    assert total == 8000


def test_telemetry_snapshots_supersede_each_other() -> None:
    tele = ev.Telemetry(gpus=[], cpu_pct=1.0, ram_used_mib=1.0, ram_total_mib=2.0, run_of_gpu={})
    older, newer = EngineEvent(tele, 1), EngineEvent(tele, 2)
    assert older.can_replace(newer)
    started = EngineEvent(ev.RunLoading(run="r"), 3)
    assert not older.can_replace(started) and not started.can_replace(newer)
    assert TextArrived().can_replace(TextArrived())
