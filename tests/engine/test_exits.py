"""The one exit policy both front ends use (engine.exits)."""

from __future__ import annotations

import pytest

from engine.exits import ExitCode, session_exit_code, summary_exit_code


def test_the_codes_are_the_documented_api() -> None:
    assert [int(c) for c in (ExitCode.OK, ExitCode.ERROR, ExitCode.USAGE, ExitCode.RUN_FAILED, ExitCode.INTERRUPTED)] == [0, 1, 2, 3, 130]


@pytest.mark.parametrize(
    ("statuses", "kw", "code"),
    [
        (["ok", "ok"], {}, ExitCode.OK),
        (["ok", "unsupported"], {}, ExitCode.OK),  # the machine lacks what a run needs: reported, not an error
        (["ok", "failed"], {}, ExitCode.RUN_FAILED),
        (["oom"], {}, ExitCode.RUN_FAILED),
        (["failed"], {"interrupted": True}, ExitCode.INTERRUPTED),
        (["failed"], {"error": True, "interrupted": True}, ExitCode.ERROR),
        (["ok"], {"judge_status": "failed"}, ExitCode.RUN_FAILED),
        (["ok"], {"judge_status": "skipped"}, ExitCode.OK),
        ([], {}, ExitCode.OK),
    ],
)
def test_session_exit_code(statuses: list[str], kw: dict[str, object], code: ExitCode) -> None:
    assert session_exit_code(statuses, **kw) == code  # type: ignore[arg-type]


def test_summary_exit_code_reads_runs_interruption_and_judge() -> None:
    runs = [{"run": "a", "status": "ok"}, {"run": "b", "status": "unsupported"}]
    assert summary_exit_code({"runs": runs}) == ExitCode.OK
    assert summary_exit_code({"runs": runs, "interrupted": True}) == ExitCode.INTERRUPTED
    assert summary_exit_code({"runs": runs}, interrupted=True) == ExitCode.INTERRUPTED
    assert summary_exit_code({"runs": runs, "judge": {"status": "oom"}}) == ExitCode.RUN_FAILED
    assert summary_exit_code({"runs": [*runs, {"run": "c", "status": "failed"}]}) == ExitCode.RUN_FAILED
