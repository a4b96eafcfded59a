"""Problems: the MATH-PT item format, shared by the built-in set and the real benchmark."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One benchmark item.

    ``id`` is ``<split>/<index>``: split is the MATH-PT file stem without ``_test``
    (``ptbr_multiple_choice``, ``ptpt_open_ended``, ...) or ``builtin``; index is the position in
    that split's array.
    """

    id: str
    split: str
    index: int
    variant: str  # "pt-BR" | "pt-PT"
    kind: str  # "multiple_choice" | "open_ended"
    problem: str
    choices: dict[str, str] | None = None  # {"A": ..., "E": ...} for multiple choice
    answer: str | None = None  # gold letter (MC) or gold final answer (open-ended) when known
    solution: str | None = None  # worked solution (open-ended, pt-PT MC)
    level: int | None = None
    has_figure: bool = False

    @property
    def is_multiple_choice(self) -> bool:
        return self.kind == "multiple_choice"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        return cls(**d)
