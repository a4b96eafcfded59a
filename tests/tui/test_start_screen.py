"""The start screen: pick runs, dataset, split, limit; bad choices are explained, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, SelectionList, Static

from engine.exits import ExitCode
from engine.launch import LaunchRequest
from tests.conftest import write_fake_catalog
from tests.tui.conftest import run, run_toml, wait_for
from tui.app import make_app
from tui.screens.start import StartScreen


def _request(tmp_path: Path) -> LaunchRequest:
    runs = run_toml("a") + run_toml("b").replace('tag = "b"', 'tag = "b"\ndefault = false')
    cat = write_fake_catalog(tmp_path, runs)
    return LaunchRequest(models=str(cat), out=str(tmp_path / "out"))


def test_start_screen_runs_what_was_chosen(tmp_path: Path) -> None:
    app = make_app(request=_request(tmp_path), show_summary=False)

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, StartScreen)
            runs = screen.query_one("#start-runs", SelectionList)
            assert list(runs.selected) == ["tiny/fake/fake@a"]  # the catalog's default selection
            screen.query_one("#start-limit", Input).value = "1"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.model.state == "finished")
            assert list(app.model.runs) == ["tiny/fake/fake@a"]
            assert len(app.model.problems) == 1
            await pilot.press("q")
        assert app.return_code == ExitCode.OK
        assert (tmp_path / "out" / "summary.json").exists()

    run(body())


def test_start_screen_explains_a_bad_dataset(tmp_path: Path) -> None:
    app = make_app(request=_request(tmp_path))

    async def body() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.query_one("#start-dataset", Input).value = str(tmp_path / "no-such-folder")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "no-such-folder" in str(screen.query_one("#start-error", Static).render()))
            assert isinstance(app.screen, StartScreen)  # still there, nothing crashed
            runs = screen.query_one("#start-runs", SelectionList)
            runs.deselect_all()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "at least one run" in str(screen.query_one("#start-error", Static).render())
            await pilot.press("escape")
        assert app.return_code == ExitCode.OK

    run(body())


def test_run_tui_reports_bad_options_before_opening(tmp_path: Path, capsys: Any) -> None:
    import argparse

    from tui.app import run_tui

    args = argparse.Namespace(models=str(tmp_path / "missing.toml"), runs="x/*", dataset=None, split=None, level=None,
                              figures="any", limit=None, seed=None, sample=False, max_new_tokens=None, temperature=0.0,
                              fixed_length=False, synthetic=False, gpus="auto", out=None)
    assert run_tui(args) == 2
    assert "missing.toml" in capsys.readouterr().err
