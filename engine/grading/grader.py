"""Grading a response to a problem: the :class:`Grade`, the pure :func:`grade`, and :class:`Grader`.

Verdicts:

``correct`` / ``incorrect``  the answer was found and compared with a reliable gold;
``unparsed``                 no final answer could be found in the response (no usable box and no
                             clear final statement);
``ungraded``                 an answer was found but there is no reliable gold to compare it with
                             (see :mod:`engine.grading.gold`), or the symbolic check timed out /
                             crashed; ``reason`` says which.

``strict_verdict`` is the MATH-PT paper's reading for multiple choice (:func:`paper_letter`;
``unparsed`` when it finds no letter) and equals ``verdict`` for open-ended problems.

Multiple choice is graded in-process (pure regex and arithmetic). Open-ended answers are compared
by value first (:mod:`engine.grading.latex_value`: exact rationals, so ``12,25`` = ``\\frac{49}{4}``);
only what that cannot read goes to Math-Verify in a worker process
(:mod:`engine.grading.symbolic`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from engine.grading.boxes import find_boxes, unwrap_boxes
from engine.grading.choice import paper_letter, read_choice
from engine.grading.gold import gold_answer
from engine.grading.latex_value import evaluate, is_exact, same_value
from engine.grading.normal_form import normal_forms
from engine.grading.symbolic import Outcome, SymbolicChecker, default_checker
from engine.problems import Problem

#: bump when a change can alter verdicts, so re-graded results can be told apart
GRADER_VERSION = "1"

CORRECT, INCORRECT, UNPARSED, UNGRADED = "correct", "incorrect", "unparsed", "ungraded"
VERDICTS = (CORRECT, INCORRECT, UNPARSED, UNGRADED)


@dataclass(frozen=True)
class Grade:
    """The grade of one response: verdicts, what was read from it, the gold, and why."""

    verdict: str
    strict_verdict: str
    extracted: str | None  # MC: the chosen letter; open-ended: the final answer as written
    gold: str | None  # MC: the gold letter; open-ended: the gold final answer (None if unreliable)
    reason: str = ""  # for unparsed/ungraded; otherwise how the answer was read
    method: str = ""  # box-letter | box-value | statement | value | symbolic
    gold_confidence: str | None = None  # open-ended: given | high | medium | low | none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record_fields(self) -> dict[str, Any]:
        """The fields a results.jsonl line carries for this grade."""
        return {
            "verdict": self.verdict, "strict_verdict": self.strict_verdict, "extracted": self.extracted,
            "gold": self.gold, "grade_reason": self.reason, "grader": GRADER_VERSION,
        }


# --- multiple choice -------------------------------------------------------------------------

def grade_multiple_choice(problem: Problem, response: str) -> Grade:
    """Grade an MC response (pure, no pool)."""
    gold = (problem.answer or "").strip().upper() or None
    strict_letter = paper_letter(response)
    if gold is None:
        return Grade(UNGRADED, UNGRADED, None, None, "the problem has no gold letter")
    strict = UNPARSED if strict_letter is None else (CORRECT if strict_letter == gold else INCORRECT)
    reading = read_choice(response, problem.choices or {})
    if reading.letter is None:
        return Grade(UNPARSED, strict, None, gold, reading.detail)
    verdict = CORRECT if reading.letter == gold else INCORRECT
    return Grade(verdict, strict, reading.letter, gold, f"read from {reading.detail[:80]!r}", reading.method)


# --- open-ended ------------------------------------------------------------------------------

_OPEN_STATEMENT = re.compile(
    r"\b(?:resposta(?:\s+(?:final|correta|correcta))?|answer)\s*(?:é|e|:|is|=)\s*:?\s*(?P<rest>.+)$",
    re.I,
)


def extract_open_answer(response: str) -> tuple[str | None, str]:
    """(final answer text, how it was found): the last box, else "Resposta: ..." in the last lines."""
    boxes = find_boxes(response or "")
    if boxes:
        content = unwrap_boxes(boxes[-1].content)
        return (content if content.strip() else None), "box"
    for line in reversed([ln for ln in (response or "").splitlines() if ln.strip()][-3:]):
        m = _OPEN_STATEMENT.search(line)
        if m:
            rest = m.group("rest").strip()
            math = re.search(r"\$\$?(.+?)\$\$?", rest)
            if math:
                return math.group(1).strip(), "statement"
            rest = re.split(r"(?<=[^\d])\.(?:\s|$)|\.$", rest)[0].strip(" *")
            return (rest or None), "statement"
    return None, ""


@dataclass(frozen=True)
class _Pending:
    """An open-ended grade waiting for the symbolic check."""

    gold: str
    gold_confidence: str
    extracted: str
    gold_forms: list[str]
    pred_forms: list[str]


def _prepare_open(problem: Problem, response: str) -> Grade | _Pending:
    pred, how = extract_open_answer(response)
    gold = gold_answer(problem)
    if pred is None:
        return Grade(UNPARSED, UNPARSED, None, gold.answer if gold.usable else None,
                     "no \\boxed{} and no final 'Resposta:' statement", "", gold.confidence)
    if not gold.usable:
        reason = f"no reliable gold answer: {gold.reason}"
        return Grade(UNGRADED, UNGRADED, pred, None, reason, how, gold.confidence)
    assert gold.answer is not None
    gold_forms = normal_forms(gold.answer)
    pred_forms = normal_forms(pred)
    if not pred_forms:
        return Grade(UNPARSED, UNPARSED, pred, gold.answer, "the final answer is empty", how, gold.confidence)
    gvals = [v for v in (evaluate(f) for f in gold_forms) if v is not None]
    pvals = [v for v in (evaluate(f) for f in pred_forms) if v is not None]
    if gvals and pvals:
        ok = any(same_value(g, p) for g in gvals for p in pvals)
        verdict = CORRECT if ok else INCORRECT
        exact = all(is_exact(v) for v in gvals + pvals)
        return Grade(verdict, verdict, pred, gold.answer, "compared by value" + ("" if exact else " (numerically)"),
                     "value", gold.confidence)
    if gold_forms and pred_forms and any(g == p for g in gold_forms for p in pred_forms):
        return Grade(CORRECT, CORRECT, pred, gold.answer, "same normal form", "value", gold.confidence)
    return _Pending(gold.answer, gold.confidence, pred, gold_forms, pred_forms)


def _finish_open(p: _Pending, outcome: Outcome) -> Grade:
    if outcome is Outcome.EQUIVALENT:
        return Grade(CORRECT, CORRECT, p.extracted, p.gold, "symbolically equivalent", "symbolic", p.gold_confidence)
    if outcome is Outcome.DIFFERENT:
        return Grade(INCORRECT, INCORRECT, p.extracted, p.gold, "not equivalent", "symbolic", p.gold_confidence)
    if outcome is Outcome.UNPARSEABLE:
        return Grade(INCORRECT, INCORRECT, p.extracted, p.gold, "the answer cannot be read as mathematics",
                     "symbolic", p.gold_confidence)
    if outcome is Outcome.TIMEOUT:
        return Grade(UNGRADED, UNGRADED, p.extracted, p.gold, "symbolic check timed out", "symbolic", p.gold_confidence)
    return Grade(UNGRADED, UNGRADED, p.extracted, p.gold, "symbolic check crashed", "symbolic", p.gold_confidence)


# --- entry points ----------------------------------------------------------------------------

def grade(problem: Problem, response: str, *, checker: SymbolicChecker | None = None) -> Grade:
    """Grade one response. MC never leaves this process; an open-ended answer that needs the
    symbolic check uses ``checker`` (default: a shared one-worker pool started on first use)."""
    if problem.is_multiple_choice:
        return grade_multiple_choice(problem, response or "")
    prepared = _prepare_open(problem, response or "")
    if isinstance(prepared, Grade):
        return prepared
    outcome = (checker or default_checker()).check(prepared.gold_forms, prepared.pred_forms)
    return _finish_open(prepared, outcome)


class Grader:
    """Grades responses for the engine and the ``grade`` command; owns the symbolic-check pool.

    Use it as a context manager (``with Grader() as g: g.grade_many(pairs)``). ``workers`` is the
    number of Math-Verify processes (default: min(2, CPUs)); ``timeout_s`` the deadline of one
    symbolic check, after which the answer is ``ungraded`` ("symbolic check timed out").
    """

    def __init__(self, workers: int | None = None, timeout_s: float = 10.0):
        self._checker = SymbolicChecker(workers=workers, timeout_s=timeout_s)

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def grade(self, problem: Problem, response: str) -> Grade:
        """Grade one response (see :func:`grade`)."""
        return grade(problem, response, checker=self._checker)

    def grade_many(self, pairs: Iterable[tuple[Problem, str]]) -> list[Grade]:
        """Grade many responses; the symbolic checks run in parallel in the pool. Order kept."""
        out: list[Grade | None] = []
        waiting: list[tuple[int, _Pending]] = []
        for problem, response in pairs:
            if problem.is_multiple_choice:
                out.append(grade_multiple_choice(problem, response or ""))
                continue
            prepared = _prepare_open(problem, response or "")
            if isinstance(prepared, Grade):
                out.append(prepared)
            else:
                waiting.append((len(out), prepared))
                out.append(None)
        outcomes = self._checker.check_many([(p.gold_forms, p.pred_forms) for _, p in waiting])
        for (i, p), outcome in zip(waiting, outcomes, strict=True):
            out[i] = _finish_open(p, outcome)
        return [g for g in out if g is not None]

    def close(self) -> None:
        """Stop the pool's workers."""
        self._checker.close()
