"""Snapshots of the main views at 80×24 and 160×48, from a fixed event replay (no process, frozen clock).

Update after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``, then look
at the SVGs in ``tests/tui/__snapshots__/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.scripted import demo_events, finished_events
from tui.app import QuantarenaApp, make_app

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
VIEWS = {"runs": "1", "leaderboard": "2", "gpus": "3", "problem": "4"}


def _app(**kw: Any) -> QuantarenaApp:
    return make_app(events=demo_events(**kw), clock=lambda: 1000.0, show_summary=False)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(snap_compare: Any, view: str, size: str) -> None:
    assert snap_compare(_app(), press=[VIEWS[view]], terminal_size=SIZES[size])


def test_gpu_panel_without_nvml(snap_compare: Any) -> None:
    assert snap_compare(_app(gpus=False), press=["3"], terminal_size=(80, 24))


def test_runs_view_on_cpu(snap_compare: Any) -> None:
    assert snap_compare(_app(gpus=False), terminal_size=(160, 48))


def test_zoomed_pane(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["down", "z"], terminal_size=(80, 24))


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(_app(), press=["question_mark"], terminal_size=(100, 32))


def test_summary_after_the_session(snap_compare: Any) -> None:
    app = make_app(events=finished_events(), clock=lambda: 1000.0, show_summary=True)

    async def show(pilot: Any) -> None:
        app._session_finished()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=show)


def test_start_screen(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start screen over the real catalog (relative path, so the picture is the same on every clone)."""
    from pathlib import Path

    from engine.launch import LaunchRequest

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    app = make_app(request=LaunchRequest(models="models.toml", out="results/snapshot-never-run"), show_summary=False)
    assert snap_compare(app, terminal_size=(120, 40))
