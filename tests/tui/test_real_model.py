"""One real run through the TUI: llama.cpp on the embedded SmolLM2-135M Q4_1 (CPU), 1 problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.exits import ExitCode
from engine.launch import LaunchRequest, prepare
from tests.tui.conftest import run, wait_for
from tui.app import make_app
from tui.verdicts import MARKS

pytestmark = pytest.mark.slow


def test_embedded_model_streams_and_is_graded(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    req = LaunchRequest(runs="smollm2-135m/llama.cpp/q4_1", limit=1, max_new_tokens=16, out=str(tmp_path / "out"))
    app = make_app(prepare(req), show_summary=False)
    name = "smollm2-135m/llama.cpp/q4_1"

    async def body() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.model.state == "finished", timeout=240)
            await pilot.pause()
            rv = app.model.runs[name]
            assert rv.status == "done", rv.reason
            assert rv.records and rv.records[0]["tokens_out"] > 1
            text = app.dashboard.grid.panes[name].content_text().plain
            verdict_glyphs = "".join(MARKS[m][0] for m in ("correct", "incorrect", "unparsed", "truncated"))
            first = text.splitlines()[0]
            assert re.search(f"[{re.escape(verdict_glyphs)}]", first), first
            speed = text.splitlines()[1]
            assert re.search(r"\d+\.\d tok/s", speed), speed
            assert rv.text  # the answer was shown
            await pilot.press("q")
        assert app.return_code == ExitCode.OK

    run(body())
