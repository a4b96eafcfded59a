"""The symbolic equivalence check (Math-Verify) in worker processes that we time out ourselves.

Math-Verify's own timeouts use ``signal.alarm``, which only works in a process's main thread; the
engine grades from worker threads. So Math-Verify runs here with its timeouts disabled
(``parse(..., parsing_timeout=None)``, ``verify(..., timeout_seconds=None)``) inside a
``ProcessPoolExecutor`` (spawn context), and :class:`SymbolicChecker` enforces a per-check deadline:
a check that overruns is answered ``TIMEOUT`` and the pool's workers are killed and replaced
(the other checks that were in flight are resubmitted, not blamed). A worker that dies
(``BrokenProcessPool``) is replaced the same way; a check that breaks the pool twice is answered
``CRASHED``. Nothing here ever blocks without a deadline.

``math_verify`` is imported only inside the worker processes, never by the grading modules.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from enum import Enum


class Outcome(str, Enum):  # noqa: UP042 - a StrEnum would change str(Outcome.X)
    """The result of one symbolic check."""

    EQUIVALENT = "equivalent"
    DIFFERENT = "different"
    UNPARSEABLE = "unparseable"  # Math-Verify could not read one side
    TIMEOUT = "timeout"
    CRASHED = "crashed"


# --- in the worker process -------------------------------------------------------------------

def _worker_init() -> None:
    """Import Math-Verify once per worker and silence its "timeout disabled" warning."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    import math_verify  # noqa: F401


def _ping() -> int:
    return os.getpid()


def verify_forms(gold_forms: list[str], pred_forms: list[str]) -> str:
    """Math-Verify on every (gold, prediction) pair of normal forms; runs in a worker process."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]

    def _parse(s: str) -> list:
        return parse(f"${s}$", extraction_config=config, parsing_timeout=None)  # type: ignore[arg-type]

    golds = [g for g in (_parse(s) for s in gold_forms) if g]
    preds = [p for p in (_parse(s) for s in pred_forms) if p]
    if not golds or not preds:
        return Outcome.UNPARSEABLE.value
    for g in golds:
        for p in preds:
            if verify(g, p, timeout_seconds=None):
                return Outcome.EQUIVALENT.value
    return Outcome.DIFFERENT.value


# --- in the calling process ------------------------------------------------------------------

Job = tuple[list[str], list[str]]


class SymbolicChecker:
    """A pool of Math-Verify workers with per-check deadlines (see the module docstring).

    ``check_many`` is thread-safe (calls are serialized). Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = 10.0,
        startup_timeout_s: float = 120.0,
        job: Callable[[list[str], list[str]], str] = verify_forms,
    ):
        self.job = job  # a picklable top-level function (tests substitute a slow or crashing one)
        self.workers = max(1, workers or min(2, os.cpu_count() or 1))
        self.timeout_s = timeout_s
        self.startup_timeout_s = startup_timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.restarts = 0  # pools killed after a timeout or a crash

    def __enter__(self) -> SymbolicChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init)
        # start every worker now, so that worker start-up is never counted against a check's deadline
        pings = [pool.submit(_ping) for _ in range(self.workers)]
        done, not_done = wait(pings, timeout=self.startup_timeout_s)
        if not_done or any(f.exception() is not None for f in done):
            self._kill(pool)
            raise RuntimeError(f"symbolic check workers did not start within {self.startup_timeout_s:.0f} s")
        self._pool = pool
        return pool

    @staticmethod
    def _kill(pool: ProcessPoolExecutor) -> None:
        # ProcessPoolExecutor cannot cancel a running call: terminate its processes (Python <3.14
        # has no public API for this; _processes is stable since 3.2)
        procs = list(getattr(pool, "_processes", {}).values())
        for p in procs:
            try:
                p.kill()
            except Exception:
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                p.join(timeout=2)
            except Exception:
                pass

    def _restart(self) -> None:
        if self._pool is not None:
            self._kill(self._pool)
            self._pool = None
            self.restarts += 1

    def check_many(self, jobs: list[Job]) -> list[Outcome]:
        """The outcome of each (gold forms, prediction forms) job, in order."""
        if not jobs:
            return []
        with self._lock:
            return self._run(jobs)

    def check(self, gold_forms: list[str], pred_forms: list[str]) -> Outcome:
        """One check (see :meth:`check_many`)."""
        return self.check_many([(gold_forms, pred_forms)])[0]

    def _run(self, jobs: list[Job]) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(jobs)
        pending: deque[int] = deque(range(len(jobs)))
        crashes = [0] * len(jobs)
        inflight: dict[Future[str], tuple[int, float]] = {}
        while pending or inflight:
            try:
                pool = self._start()
            except RuntimeError:
                for i in list(pending) + [i for i, _ in inflight.values()]:
                    results[i] = Outcome.CRASHED
                break
            broken = False
            while pending and len(inflight) < self.workers:
                i = pending.popleft()
                try:
                    fut = pool.submit(self.job, *jobs[i])
                except (BrokenProcessPool, RuntimeError):
                    pending.appendleft(i)
                    broken = True
                    break
                inflight[fut] = (i, time.monotonic() + self.timeout_s)
            if not broken and inflight:
                next_deadline = min(d for _, d in inflight.values())
                done, _ = wait(list(inflight), timeout=max(0.0, next_deadline - time.monotonic()), return_when=FIRST_COMPLETED)
                for fut in done:
                    i, _d = inflight.pop(fut)
                    try:
                        results[i] = Outcome(fut.result())
                    except BrokenProcessPool:
                        crashes[i] += 1
                        broken = True
                        if crashes[i] >= 2:
                            results[i] = Outcome.CRASHED
                        else:
                            pending.appendleft(i)
                    except Exception:
                        results[i] = Outcome.UNPARSEABLE  # an error inside Math-Verify
                now = time.monotonic()
                expired = [f for f, (_i, d) in inflight.items() if d <= now and not f.done()]
                for fut in expired:
                    i, _d = inflight.pop(fut)
                    results[i] = Outcome.TIMEOUT
                if expired:
                    broken = True  # the stuck worker must go: restart the pool
            if broken:
                for fut, (i, _d) in list(inflight.items()):
                    if fut.done() and not fut.exception():
                        results[i] = Outcome(fut.result())
                    else:
                        pending.appendleft(i)  # innocent bystanders are re-run
                inflight.clear()
                self._restart()
        return [r if r is not None else Outcome.CRASHED for r in results]

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


_default: SymbolicChecker | None = None
_default_lock = threading.Lock()


def default_checker() -> SymbolicChecker:
    """A process-wide checker with one worker, started on first use, closed at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SymbolicChecker(workers=1)
            atexit.register(_default.close)
        return _default
