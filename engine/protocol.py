"""The messages between a run process (``engine.worker``) and the session, and their one codec.

Every message is a dataclass; :func:`encode` turns one into plain data (a dict of str, numbers,
lists, dicts and arrays, with its ``kind``) that pickles over the multiprocessing pipe or any other
transport, and :func:`decode` turns that back into the dataclass. Nothing else parses messages.

Parent → run process:
  :class:`Answer`   answer these requests in one ``backend.generate`` call (one is a batch of one)
  :class:`Score`    score a text teacher-forced (the quality axis)
  :class:`Stop`     free the backend and exit

Run process → parent:
  :class:`Loaded` | :class:`LoadFailed`, and :class:`LoadProgress` while loading
  :class:`TextDelta` (coalesced, ~30 per second per answer), then :class:`Done` per answer, or
  :class:`GenFailed` (the run ends)
  :class:`ScoreDone` | :class:`ScoreFailed` (a failed score leaves the run alive)
  :class:`Exited`   made by the parent when the process died (signal, exit code, last log lines)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.backends.base import Capabilities, GenerationRequest, ScoreRequest


@dataclass(frozen=True)
class Message:
    kind: ClassVar[str] = ""


# ---- parent → run process ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer(Message):
    """Answer ``requests`` at once; ``problem_ids[i]`` names request i in the replies."""

    kind: ClassVar[str] = "answer"
    problem_ids: list[str]
    requests: list[GenerationRequest]

    def __post_init__(self) -> None:
        if len(self.problem_ids) != len(self.requests):
            raise ValueError(f"{len(self.problem_ids)} problem ids for {len(self.requests)} requests")


@dataclass(frozen=True)
class Score(Message):
    kind: ClassVar[str] = "score"
    problem_id: str
    request: ScoreRequest


@dataclass(frozen=True)
class Stop(Message):
    kind: ClassVar[str] = "stop"


# ---- run process → parent ---------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded(Message):
    kind: ClassVar[str] = "loaded"
    device: str
    load_s: float
    details: dict[str, Any]
    capabilities: Capabilities


@dataclass(frozen=True)
class LoadFailed(Message):
    kind: ClassVar[str] = "load_failed"
    status: str  # failed | unsupported | oom
    reason: str
    traceback: str = ""


@dataclass(frozen=True)
class LoadProgress(Message):
    """How far a load got (``Backend.report_load``): phase, fraction, bytes read, bytes per device."""

    kind: ClassVar[str] = "load_progress"
    phase: str
    fraction: float | None = None
    bytes_read: int = 0
    bytes_placed: dict[str, int] = field(default_factory=dict)
    step: str = ""

    def line(self) -> str:
        """One line for a progress display: ``reading shards 3/12: 14.2 GiB read, cuda:0 7.1 GiB``."""
        gib = 1024**3
        parts = [f"{self.bytes_read / gib:.1f} GiB read"] if self.bytes_read else []
        parts += [f"{d} {b / gib:.1f} GiB" for d, b in sorted(self.bytes_placed.items())]
        head = f"{self.phase} {self.step}".strip()
        if self.fraction is not None:
            head += f" ({self.fraction:.0%})"
        return f"{head}: {', '.join(parts)}" if parts else head


@dataclass(frozen=True)
class TextDelta(Message):
    kind: ClassVar[str] = "text"
    problem_id: str
    delta: str
    tokens_out: int  # tokens of this answer so far
    elapsed_s: float  # since its first token


@dataclass(frozen=True)
class BatchFacts:
    """The whole batch an answer was part of (throughput mode)."""

    size: int
    t_submit: float
    t_end: float  # the batch's last token
    tokens_out: int


@dataclass(frozen=True)
class Answered:
    """One answer as the run process timed it: ``t_submit`` just before ``generate`` was called,
    one ``perf_counter()`` per token the moment it was yielded."""

    t_submit: float
    t_end: float
    token_times: list[float]
    prompt_tokens: int | None
    finish_reason: str  # stop | length | skipped
    response: str
    memory: dict[str, float | None]
    tokens_out: int | None  # counted tokens when the yields were text chunks
    fields: dict[str, Any]  # the backend's facts about this answer
    batch: BatchFacts | None = None  # the whole ``generate`` call this answer was part of


@dataclass(frozen=True)
class Done(Message):
    kind: ClassVar[str] = "done"
    problem_id: str
    answer: Answered


@dataclass(frozen=True)
class GenFailed(Message):
    kind: ClassVar[str] = "gen_failed"
    problem_id: str
    status: str
    reason: str


@dataclass(frozen=True)
class ScoreDone(Message):
    kind: ClassVar[str] = "scored"
    problem_id: str
    scored: dict[str, Any]  # engine.quality.Scored.to_dict(), score_s the backend's time


@dataclass(frozen=True)
class ScoreFailed(Message):
    kind: ClassVar[str] = "score_failed"
    problem_id: str
    status: str  # "unsupported" when the backend cannot score at all
    reason: str


@dataclass(frozen=True)
class Exited(Message):
    """The run process is gone: made by the parent, never sent by the process."""

    kind: ClassVar[str] = "exited"
    code: int | None
    reason: str  # "run process killed by SIGSEGV"
    log_tail: str = ""  # the last words of the run's log, after a death by signal


#: a message that ends a run (the session marks it failed)
RunEnded = GenFailed | Exited

_KINDS: dict[str, type[Message]] = {c.kind: c for c in (
    Answer, Score, Stop, Loaded, LoadFailed, LoadProgress, TextDelta, Done, GenFailed, ScoreDone, ScoreFailed, Exited,
)}


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def encode(msg: Message) -> dict[str, Any]:
    """A message as plain data: ``{"kind": ..., field: value, ...}``, nested dataclasses as dicts."""
    out: dict[str, Any] = {"kind": msg.kind}
    for f in dataclasses.fields(msg):
        out[f.name] = _plain(getattr(msg, f.name))
    return out


def decode(data: dict[str, Any]) -> Message:
    """The message :func:`encode` made; ValueError for an unknown kind or missing fields."""
    try:
        cls = _KINDS[data["kind"]]
    except (KeyError, TypeError):
        raise ValueError(f"not a run-process message: {str(data)[:80]}") from None
    kw = {k: v for k, v in data.items() if k != "kind"}
    try:
        if cls is Answer:
            kw["requests"] = [GenerationRequest(**r) for r in kw["requests"]]
        elif cls is Score:
            kw["request"] = ScoreRequest(**kw["request"])
        elif cls is Loaded:
            kw["capabilities"] = Capabilities.from_dict(kw["capabilities"])
        elif cls is Done:
            a = dict(kw["answer"])
            a["batch"] = BatchFacts(**a["batch"]) if a.get("batch") else None
            kw["answer"] = Answered(**a)
        return cls(**kw)
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed {cls.kind} message: {type(e).__name__}: {e}") from None
