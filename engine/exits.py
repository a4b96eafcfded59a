"""Exit codes, and the one policy that turns a session's outcome into one; both front ends use it.

Exit codes are an API (documented in the README and ``quantarena --help``):

* 0 ``OK``: the session completed (or nothing was started);
* 1 ``ERROR``: the session itself failed (an internal error); for ``quantarena doctor``: an
  installed backend does not work;
* 2 ``USAGE``: bad arguments, models.toml or dataset (reported before anything loads);
* 3 ``RUN_FAILED``: the session completed but a run failed to load, crashed or ran out of memory
  (or the ``--judge`` pass did not complete: the grader's verdicts stand);
* 130 ``INTERRUPTED``: stopped by the user (Ctrl-C, SIGTERM, quitting the TUI while runs were
  active); finished answers are in results.jsonl and summary.json was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected internal error (doctor: an installed backend does not work)
    USAGE = 2  # bad arguments, models.toml or dataset
    RUN_FAILED = 3  # at least one run failed to load (missing weights, crash, out of memory)
    INTERRUPTED = 130  # Ctrl-C


#: run statuses that make a completed session exit RUN_FAILED (``unsupported`` does not: the
#: machine lacks what the run needs, which is reported, not an error)
FAILED_STATUSES = ("failed", "oom")
#: judge statuses under which the judge pass counts as completed
JUDGE_DONE = ("ok", "skipped")


def session_exit_code(
    statuses: Iterable[str], *, error: bool = False, interrupted: bool = False, judge_status: str | None = None
) -> ExitCode:
    """The exit code of a session: its runs' statuses, whether it failed itself or was interrupted,
    and the status of its judge pass (None: no judge)."""
    if error:
        return ExitCode.ERROR
    if interrupted:
        return ExitCode.INTERRUPTED
    if judge_status is not None and judge_status not in JUDGE_DONE:
        return ExitCode.RUN_FAILED
    return ExitCode.RUN_FAILED if any(s in FAILED_STATUSES for s in statuses) else ExitCode.OK


def summary_exit_code(summary: Mapping[str, Any], *, interrupted: bool = False) -> ExitCode:
    """:func:`session_exit_code` of a written summary (``engine.results.run_summary`` plus the
    judge block when there was one)."""
    judge = summary.get("judge")
    return session_exit_code(
        (r.get("status", "") for r in summary.get("runs", [])),
        interrupted=interrupted or bool(summary.get("interrupted")),
        judge_status=judge.get("status") if judge else None,
    )
