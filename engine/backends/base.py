"""The backend contract: load weights, stream generated tokens, score a given text, free everything.

A backend does the inference and nothing else. It does not time, sample telemetry or grade: the
engine's run loop (``engine.worker``) timestamps every token the moment the backend yields it,
identically for every backend, and the session grades and records.

A backend module must not import its heavy library (torch, llama_cpp, ...) at import time: the
registry imports the module to read ``SETTINGS`` and the class, and only ``load()`` pulls the
library in, inside the run's own process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.catalog import ModelSpec, RunSpec


class BackendError(RuntimeError):
    """A run cannot proceed; the message is one line naming the thing."""

    #: the run's status this error leads to
    status = "failed"


class UnsupportedError(BackendError):
    """The quantization or device is not supported here (run marked ``unsupported``)."""

    status = "unsupported"


class WeightsNotFoundError(BackendError):
    """A weights source does not exist (run marked ``failed``; batch exit code 3)."""

    status = "failed"


class OutOfMemoryError(BackendError):
    """The device ran out of memory while loading or generating (run marked ``oom``)."""

    status = "oom"


#: ``Capabilities.max_batch`` of a backend whose batch size has no fixed limit
ANY_BATCH: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; front ends, the session and the planner read these, never the class.

    A backend declares them on its class (what it can do in principle, read without loading); its
    ``load()`` may narrow them to what the loaded run can do (``LoadInfo.capabilities``: a
    llama.cpp context made for 4 sequences has ``max_batch = 4``) and the session reads those.
    """

    gpu: bool = False  # can run on a GPU in this build
    multi_gpu: bool = False  # can split one model over several GPUs
    #: sequences one ``generate`` call may hold (1: one answer at a time; None: no fixed limit)
    max_batch: int | None = 1
    graphs: bool = False  # can capture its decode step in CUDA graphs (the ``graphs`` setting)
    synthetic: bool = False  # can build the architecture with random weights
    exact_token_times: bool = True  # yields once per generated token (not per text chunk)
    scoring: bool = False  # can score a given text teacher-forced (``score``: log-probs per position)
    #: inference runs in a server outside quantarena (the ``openai`` backend): no weights load
    #: here, the run takes no GPU of the plan and sizing is N/A
    served: bool = False

    @property
    def batching(self) -> bool:
        """Whether it can generate several sequences in one call."""
        return self.max_batch is None or self.max_batch > 1

    def batch_limit(self, wanted: int) -> int:
        """The most sequences of ``wanted`` one call may hold (at least 1)."""
        return max(1, wanted if self.max_batch is None else min(wanted, self.max_batch))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Capabilities:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class LoadInfo:
    """What ``load()`` reports: the device actually used and backend-specific facts.

    ``details`` holds what a reader of the results needs to reproduce the run: library version,
    whether the build has GPU offload, the kernel path taken, the effective settings.
    """

    device: str  # "cpu", "cuda:0", "cuda:0,1"
    details: dict[str, Any] = field(default_factory=dict)
    #: what the loaded run can do, where it is narrower than the class's ``capabilities``
    capabilities: Capabilities | None = None


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[dict[str, str]]  # chat messages: [{"role": "user", "content": ...}]
    max_new_tokens: int
    seed: int = 0
    temperature: float = 0.0  # 0 = greedy
    min_new_tokens: int = 0  # > 0 forces a fixed-length decode (ignores EOS until reached)


@dataclass
class Token:
    """One generated token: its text piece (may be empty for a partial UTF-8 sequence) and id."""

    text: str
    id: int = -1


@dataclass(frozen=True)
class ScoreRequest:
    """A text to score teacher-forced: ``completion`` as the assistant's turn after ``messages``.

    The backend renders ``messages`` with its own chat template (as for ``generate``), tokenizes
    ``completion`` on its own (no special tokens added) and returns, for each completion token,
    the log-probability the model gave it. ``top_k`` > 0 also asks for the top ``top_k``
    log-probs of each position (the reference's); ``at_ids`` (``at_k`` ids per position,
    flattened) asks for the log-probs of those ids (the reference's top-k, for a compared run).
    """

    messages: list[dict[str, str]]
    completion: str
    top_k: int = 0
    at_k: int = 0
    at_ids: Any = None  # array("i") or list of at_k ids per position, flattened


class AnswerStream:
    """What ``generate`` returns: iterate it for ``(request index, Token)`` pairs, each the moment
    it is produced (one step of a batch yields one token per unfinished sequence; one request is
    a batch of one, its pairs all ``(0, token)``).

    The backend reports each answer's outcome through :meth:`set_prompt_tokens`,
    :meth:`finish`, :meth:`count` and :meth:`note`; the engine reads it once the iteration ended:
    ``prompt_tokens[i]``, ``finish_reasons[i]`` ("stop" or "length"), ``tokens_out[i]`` and
    ``fields[i]``. A backend whose yields are text chunks rather than tokens
    (``exact_token_times=False``: a server's stream) counts the tokens itself when that differs
    from the number of chunks yielded; the engine then computes the metrics per chunk
    (``engine.metrics.generation_metrics``). ``fields`` are extra facts about an answer that go
    into its result record (how the tokens were counted, ...).

    ``produce`` is called once, with the stream, and returns the iterator of pairs (a generator
    is not started before the first pair is asked for).
    """

    def __init__(self, n: int, produce: Callable[[AnswerStream], Iterator[tuple[int, Token]]],
                 *, prompt_tokens: Sequence[int | None] | None = None):
        self.prompt_tokens: list[int | None] = list(prompt_tokens) if prompt_tokens is not None else [0] * n
        self.finish_reasons: list[str] = ["length"] * n
        self.tokens_out: list[int | None] = [None] * n
        self.fields: list[dict[str, Any]] = [{} for _ in range(n)]
        self._items = produce(self)

    def __len__(self) -> int:
        return len(self.finish_reasons)

    def __iter__(self) -> Iterator[tuple[int, Token]]:
        return self._items

    def set_prompt_tokens(self, i: int, n: int | None) -> None:
        """Answer ``i``'s prompt length in tokens (None: unknown)."""
        self.prompt_tokens[i] = n

    def finish(self, i: int, reason: str) -> None:
        """Answer ``i`` ended: "stop" (end of sequence) or "length" (the cap or the context)."""
        self.finish_reasons[i] = reason

    def count(self, i: int, tokens_out: int | None) -> None:
        """The tokens answer ``i`` generated, where the yields were chunks, not tokens."""
        self.tokens_out[i] = tokens_out

    def note(self, i: int, fields: dict[str, Any]) -> None:
        """Facts about answer ``i`` for its result record."""
        self.fields[i].update(fields)

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close:
            close()


class Backend(ABC):
    """One inference library behind one small interface.

    Lifecycle: ``__init__`` (cheap, no library import) → ``load()`` once → ``generate()`` (and
    ``score()``, for the quality axis) any number of times → ``close()``.
    """

    #: backend id as written in models.toml
    id: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: run settings this backend accepts: name -> allowed type(s)
    SETTINGS: ClassVar[dict[str, Any]] = {}
    #: modules the backend imports in ``load()`` (the doctor checks they are installed, importing none)
    REQUIRES: ClassVar[tuple[str, ...]] = ()
    #: the pip distribution whose version the doctor reports, and the extra that installs it
    DISTRIBUTION: ClassVar[str | None] = None
    EXTRA: ClassVar[str | None] = None

    def __init__(self, run: RunSpec, model: ModelSpec, *, cache_dir: str | None = None):
        self.run = run
        self.model = model
        self.cache_dir = cache_dir
        #: where ``load()`` reports its progress: the run process sends it to the session as
        #: ``engine.protocol.LoadProgress`` (same keywords)
        self.on_load_progress: Callable[..., None] | None = None

    def report_load(self, phase: str, *, fraction: float | None = None, bytes_read: int = 0,
                    bytes_placed: dict[str, int] | None = None, step: str = "") -> None:
        """Tell the session how far ``load()`` got, shown while a long load runs: the phase
        ("reading shards"), the fraction done when known, bytes read from disk, bytes placed
        per device ("cuda:0" -> bytes now) and the unit done in words ("shard 3/12")."""
        if self.on_load_progress is None:
            return
        try:
            self.on_load_progress(phase=phase, fraction=fraction, bytes_read=bytes_read,
                                  bytes_placed=dict(bytes_placed or {}), step=step)
        except Exception:  # progress is for the eyes: it must never fail a load
            pass

    @abstractmethod
    def load(self) -> LoadInfo:
        """Import the library, load (or build) the weights on the run's device.

        Raises WeightsNotFoundError, UnsupportedError, OutOfMemoryError or BackendError with a
        one-line reason.
        """

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> AnswerStream:
        """Start answering ``requests`` (each chat rendered with the model's template): one
        request is a batch of one; several share each forward pass (throughput mode,
        ``--concurrency N``), at most ``max_batch`` of the loaded capabilities.

        The returned stream yields exactly one ``(index, Token)`` per generated token, as it is
        produced, and reports each answer's outcome (:class:`AnswerStream`).
        """

    def score(self, request: ScoreRequest) -> Any:
        """Score ``request.completion`` teacher-forced in one prefill: an ``engine.quality.Scored``.

        Backends whose ``capabilities.scoring`` is true override this. Each position's
        log-probabilities are a log-softmax over the whole vocabulary in float32 (or better);
        a completion longer than the context window is scored as far as it fits. A backend that
        cannot score raises UnsupportedError (its quality is then N/A with that reason).
        """
        raise UnsupportedError(f"{self.run.name}: backend {self.id} cannot score a text (no log-probs)")

    def memory_stats(self) -> dict[str, float | None]:
        """Allocator figures for the last generation (torch backends); None where invisible."""
        return {}

    def reset_memory_stats(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Reset allocator peak counters before a generation (torch backends)."""

    @abstractmethod
    def close(self) -> None:
        """Free the weights and every device buffer."""
