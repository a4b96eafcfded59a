"""A served run (the ``openai`` backend, over the STUB server on 127.0.0.1) in the TUI: its pane
streams and grades it like any run, and a fault shows as FAILED with its reason."""

from __future__ import annotations

from typing import Any

from engine.exits import ExitCode
from tests.fakes.openai_stub import StubServer
from tests.tui.conftest import run, run_toml, wait_for
from tui.app import make_app


def _served(url: str, tag: str) -> str:
    return (f'[[runs]]\nmodel = "tiny"\nbackend = "openai"\nquant = "stub"\ntag = "{tag}"\n'
            f'settings = {{ base_url = "{url}", tokenizer = "none" }}\n')


def test_served_run_in_the_tui(make_prepared: Any) -> None:
    with StubServer(token_delay_s=0.005) as stub:
        prepared = make_prepared(_served(stub.url("ok"), "good") + _served(stub.url("cut"), "cut") + run_toml("local"), limit=1)
        app = make_app(prepared, show_summary=False)

        async def body() -> None:
            async with app.run_test(size=(160, 48)) as pilot:
                await wait_for(pilot, lambda: app.model.state == "finished")
                await pilot.pause()
                runs = app.model.runs
                good = runs["tiny/openai/stub@good"]
                assert good.status == "done" and good.device == "server"
                assert good.marks == {"builtin/0": "correct"}  # the stub answers \boxed{B}
                assert good.records[0]["token_count"] == "server usage, less the stop token"
                text = " ".join(app.dashboard.grid.panes["tiny/openai/stub@good"].content_text().plain.split())
                assert "\\boxed{B}" in text or "boxed" in text
                cut = " ".join(app.dashboard.grid.panes["tiny/openai/stub@cut"].content_text().plain.split())
                assert "FAILED" in cut and "stream cut after 3 chunks" in cut
                assert runs["tiny/fake/fake@local"].status == "done"  # the other runs go on
                await pilot.press("q")
            assert app.return_code == ExitCode.RUN_FAILED

        run(body())
