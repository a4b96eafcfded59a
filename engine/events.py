"""Events a session emits while it runs; the only thing front ends consume.

Both front ends (the batch CLI's progress bar and the TUI) receive these through the callback
given to ``Session.run``. The callback is invoked from the session's thread; a UI must hand the
event to its own loop (Textual: ``post_message``). ``TokenText`` events arrive at token rate and
may be coalesced by the consumer (later ones carry the cumulative count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class SessionStarted(Event):
    runs: list[str]  # run names, in display order
    problems: list[dict[str, Any]]  # Problem.to_dict() for each problem, in order
    out_dir: str
    waves: list[list[str]] = field(default_factory=list)  # runs executed together


@dataclass(frozen=True)
class RunLoading(Event):
    run: str


@dataclass(frozen=True)
class RunLoadProgress(Event):
    """How far a run's load got, while a long load runs: its phase, the fraction done when known,
    bytes read from disk and bytes placed per device ("cuda:0" -> bytes); ``line`` says it in one line."""

    run: str
    phase: str
    fraction: float | None
    bytes_read: int
    bytes_placed: dict[str, int]
    line: str


@dataclass(frozen=True)
class RunLoaded(Event):
    run: str
    device: str  # "cpu", "cuda:0", "cuda:0,1"
    gpus: list[int]  # NVML indices the run uses (empty on CPU)
    load_s: float
    details: dict[str, Any]


@dataclass(frozen=True)
class RunFailed(Event):
    """A run stopped: status is failed | unsupported | oom; the reason is one line."""

    run: str
    status: str
    reason: str


@dataclass(frozen=True)
class QualityScored(Event):
    """A run scored the reference solutions (right after loading): its ``quality`` summary block."""

    run: str
    quality: dict[str, Any]


@dataclass(frozen=True)
class ProblemStarted(Event):
    run: str
    problem_id: str
    position: int  # 0-based position in the session's problem list
    total: int


@dataclass(frozen=True)
class TokenText(Event):
    """New text of the answer being generated (a delta), with the count so far."""

    run: str
    problem_id: str
    text: str
    tokens_out: int
    elapsed_s: float  # since the first token


@dataclass(frozen=True)
class ProblemFinished(Event):
    """One answer done and graded; ``record`` is exactly the results.jsonl line."""

    run: str
    problem_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class RunFinished(Event):
    run: str
    status: str  # ok | failed | unsupported | oom | interrupted
    summary: dict[str, Any]  # that run's summary row


@dataclass(frozen=True)
class Telemetry(Event):
    """A periodic machine snapshot: every GPU (NVML) and the host (psutil)."""

    gpus: list[dict[str, Any]]  # see engine.gpu.GpuSample.to_dict(); empty without NVML
    cpu_pct: float
    ram_used_mib: float
    ram_total_mib: float
    run_of_gpu: dict[int, list[str]]  # NVML index -> runs placed there


@dataclass(frozen=True)
class SessionFinished(Event):
    out_dir: str
    interrupted: bool
    summary: dict[str, Any]
