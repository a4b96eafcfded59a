"""Gold answers' data: :class:`GoldAnswer` and, for a multi-part problem, one :class:`GoldPart` per part."""

from __future__ import annotations

from dataclasses import dataclass

USABLE = ("given", "high", "medium")
KINDS = ("number", "expression", "set", "tuple", "interval", "name", "yes_no", "values")


@dataclass(frozen=True)
class GoldPart:
    """The gold of one part of a multi-part problem."""

    label: str
    answer: str | None
    confidence: str
    reason: str
    rule: str = ""
    kind: str = "number"
    asks: str = "value"

    @property
    def usable(self) -> bool:
        return self.answer is not None and self.confidence in USABLE


@dataclass(frozen=True)
class GoldAnswer:
    """A gold final answer (or None) with how sure its extraction is, the rule that found it, why."""

    answer: str | None
    confidence: str  # given | high | medium | low | none
    reason: str
    rule: str = ""
    kind: str = "number"
    parts: tuple[GoldPart, ...] = ()
    flags: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Reliable enough to grade against."""
        if self.parts:
            return self.confidence in USABLE
        return self.answer is not None and self.confidence in USABLE

    def to_dict(self) -> dict[str, object]:
        return {
            "answer": self.answer, "confidence": self.confidence, "reason": self.reason, "rule": self.rule,
            "kind": self.kind, "flags": list(self.flags),
            "parts": [{"label": p.label, "answer": p.answer, "confidence": p.confidence, "rule": p.rule,
                       "kind": p.kind, "reason": p.reason} for p in self.parts],
        }
