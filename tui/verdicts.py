"""Verdict marks: one glyph per graded answer, readable without colour.

=====  ==========  =====================================================
mark   meaning     when
=====  ==========  =====================================================
✓      correct     verdict ``correct`` (even if the answer hit the token cap)
✗      incorrect   verdict ``incorrect``
?      unparsed    no final answer found in the response
…      truncated   hit the token cap (finish_reason ``length``) and not correct
»      skipped     skipped by the user (key ``n``)
–      n/a         synthetic weights: correctness does not apply
!      ungraded    the grader failed on this answer
●      answering   the problem being answered now
·      pending     not reached yet
=====  ==========  =====================================================
"""

from __future__ import annotations

from typing import Any

#: mark name -> (glyph, style, label)
MARKS: dict[str, tuple[str, str, str]] = {
    "correct": ("✓", "bold green", "correct"),
    "incorrect": ("✗", "bold red", "incorrect"),
    "unparsed": ("?", "bold yellow", "unparsed"),
    "truncated": ("…", "bold magenta", "truncated"),
    "skipped": ("»", "dim", "skipped"),
    "n/a": ("–", "dim", "n/a"),
    "ungraded": ("!", "bold yellow", "ungraded"),
    "answering": ("●", "bold cyan", "answering"),
    "pending": ("·", "dim", "pending"),
}


def mark_of(record: dict[str, Any]) -> str:
    """The mark name of a finished answer (a results.jsonl record)."""
    verdict = record.get("verdict")
    if verdict == "correct":
        return "correct"
    if record.get("finish_reason") == "skipped" or verdict == "skipped":
        return "skipped"
    if record.get("finish_reason") == "length" and verdict in ("incorrect", "unparsed"):
        return "truncated"
    if verdict in MARKS:
        return str(verdict)
    return "ungraded"


def glyph(name: str) -> tuple[str, str]:
    g, style, _ = MARKS[name]
    return g, style


def legend(names: tuple[str, ...] = ("correct", "incorrect", "unparsed", "truncated", "skipped", "n/a", "answering", "pending")) -> list[tuple[str, str, str]]:
    return [MARKS[n] for n in names]
