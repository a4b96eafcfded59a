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
from collections.abc import Iterator
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


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; front ends and the planner read these, never the class."""

    gpu: bool = False  # can run on a GPU in this build
    multi_gpu: bool = False  # can split one model over several GPUs
    batching: bool = False  # can generate several sequences at once
    synthetic: bool = False  # can build the architecture with random weights
    exact_token_times: bool = True  # yields once per generated token (not per text chunk)
    scoring: bool = False  # can score a given text teacher-forced (``score``: log-probs per position)
    #: inference runs in a server outside quantarena (the ``openai`` backend): no weights load
    #: here, the run takes no GPU of the plan and sizing is N/A
    served: bool = False


@dataclass
class LoadInfo:
    """What ``load()`` reports: the device actually used and backend-specific facts.

    ``details`` holds what a reader of the results needs to reproduce the run: library version,
    whether the build has GPU offload, the kernel path taken, the effective settings.
    """

    device: str  # "cpu", "cuda:0", "cuda:0,1"
    details: dict[str, Any] = field(default_factory=dict)


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


class TokenStream:
    """What ``generate`` returns: iterate it for tokens; afterwards ``prompt_tokens`` and
    ``finish_reason`` ("stop" or "length") are set by the backend.

    A backend whose yields are text chunks rather than tokens (``exact_token_times=False``: a
    server's stream) sets ``tokens_out`` to the tokens it counted when that differs from the
    number of chunks yielded; the engine then computes the metrics per chunk
    (``engine.metrics.generation_metrics``). ``fields`` are extra facts about the answer that go
    into its result record (how the tokens were counted, ...)."""

    def __init__(self, tokens: Iterator[Token]):
        self._tokens = tokens
        self.prompt_tokens: int | None = 0
        self.finish_reason: str = "length"
        self.tokens_out: int | None = None
        self.fields: dict[str, Any] = {}

    def __iter__(self) -> Iterator[Token]:
        return self._tokens

    def close(self) -> None:
        close = getattr(self._tokens, "close", None)
        if close:
            close()


class BatchStream:
    """What ``generate_batch`` returns: iterate it for ``(sequence index, Token)`` pairs, each the
    moment it is produced (one step of a batch yields one token per unfinished sequence).
    Afterwards ``prompt_tokens[i]`` and ``finish_reasons[i]`` are set for every sequence, and
    ``tokens_out[i]``/``fields[i]`` as in :class:`TokenStream`."""

    def __init__(self, items: Iterator[tuple[int, Token]], n: int):
        self._items = items
        self.prompt_tokens: list[int | None] = [0] * n
        self.finish_reasons: list[str] = ["length"] * n
        self.tokens_out: list[int | None] = [None] * n
        self.fields: list[dict[str, Any]] = [{} for _ in range(n)]

    def __iter__(self) -> Iterator[tuple[int, Token]]:
        return self._items

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

    @abstractmethod
    def load(self) -> LoadInfo:
        """Import the library, load (or build) the weights on the run's device.

        Raises WeightsNotFoundError, UnsupportedError, OutOfMemoryError or BackendError with a
        one-line reason.
        """

    @abstractmethod
    def generate(self, request: GenerationRequest) -> TokenStream:
        """Start one generation: the chat messages rendered with the model's template.

        The returned stream yields exactly one Token per generated token, as it is produced.
        """

    def generate_batch(self, requests: list[GenerationRequest]) -> BatchStream:
        """Generate several answers at once (throughput mode, ``--concurrency N``).

        Backends whose ``capabilities.batching`` is true override this; the sequences share each
        forward pass (batched decode). A backend that cannot batch raises UnsupportedError, and
        the session then answers the problems one at a time.
        """
        raise UnsupportedError(f"{self.run.name}: backend {self.id} cannot generate several sequences at once")

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
