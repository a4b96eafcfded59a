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
(:mod:`engine.grading.symbolic`). The final answer is the last box; for a gold of several values
("12; 25") a response that boxes each value ("a Ana tem $\\boxed{12}$ anos e a Beatriz
$\\boxed{25}$") is read from its last boxes, as many as the values asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from engine.grading.boxes import find_boxes, unwrap_boxes
from engine.grading.choice import paper_letter, read_choice
from engine.grading.compare import Comparison, compare, values_of
from engine.grading.gold import GoldAnswer, gold_answer
from engine.grading.normal_form import normal_forms
from engine.grading.question import GRADABLE
from engine.grading.symbolic import Outcome, SymbolicChecker, default_checker
from engine.problems import Problem

#: bump when a change can alter verdicts, so re-graded results can be told apart
GRADER_VERSION = "3"

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
    method: str = ""  # box-letter | box-value | statement | value | symbolic | parts
    gold_confidence: str | None = None  # open-ended: given | high | medium | low | none
    gold_rule: str | None = None  # open-ended: the rule that found the gold (engine.grading.gold)
    gold_kind: str | None = None  # open-ended: number | expression | set | tuple | name | yes_no | parts
    gold_flags: tuple[str, ...] = ()  # open-ended: noise seen in the solution (duplicated, scrambled, ...)
    parts: tuple[PartGrade, ...] = ()  # multi-part problems: one verdict per gradable part

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record_fields(self) -> dict[str, Any]:
        """The fields a results.jsonl line carries for this grade."""
        fields: dict[str, Any] = {
            "verdict": self.verdict, "strict_verdict": self.strict_verdict, "extracted": self.extracted,
            "gold": self.gold, "grade_reason": self.reason, "grader": GRADER_VERSION,
        }
        if self.gold_confidence is not None:
            fields.update(gold_confidence=self.gold_confidence, gold_rule=self.gold_rule, gold_kind=self.gold_kind)
            if self.gold_flags:
                fields["gold_flags"] = list(self.gold_flags)
        if self.parts:
            fields["part_verdicts"] = [p.to_dict() for p in self.parts]
        return fields


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


_PART_MARK = r"(?:^|\n|[.;:]\s+|\*\*|\\item\s*\[)\s*(?:\*\*)?\s*(?:parte\s+|al[íi]nea\s+|item\s+)?\(?{label}\)(?:\*\*)?\s*\]?"


def extract_part_answers(response: str, labels: list[str]) -> dict[str, tuple[str | None, str]]:
    """The answer to each part: the last box in the section after the part's label ("(a)",
    "**b)**", "Parte c"); else, with at least as many boxes as parts, the last boxes in order;
    else a single box written "a) 3; b) 5"."""
    text = response or ""
    out: dict[str, tuple[str | None, str]] = {}
    pos = 0
    starts: list[tuple[str, int]] = []
    for label in labels:
        m = re.compile(_PART_MARK.format(label=re.escape(label)), re.I).search(text, pos)
        if m is None:
            starts = []
            break
        starts.append((label, m.end()))
        pos = m.end()
    if starts:
        for i, (label, at) in enumerate(starts):
            stop = starts[i + 1][1] if i + 1 < len(starts) else len(text)
            got = extract_open_answer(text[at:stop])
            out[label] = got
        if all(v[0] is not None for v in out.values()):
            return out
    boxes = [unwrap_boxes(b.content) for b in find_boxes(text)]
    if len(boxes) >= len(labels):
        return {label: (box, "box in order") for label, box in zip(labels, boxes[-len(labels):], strict=True)}
    if boxes:
        inner = boxes[-1]
        pieces = re.split(r"\(?([a-h])\)\s*", inner)
        found = {pieces[i].lower(): pieces[i + 1].strip(" ;,") for i in range(1, len(pieces) - 1, 2)}
        if all(label in found for label in labels):
            return {label: (found[label], "labelled inside the box") for label in labels}
    return out or {label: (None, "") for label in labels}


@dataclass(frozen=True)
class PartGrade:
    """The verdict of one part of a multi-part answer."""

    label: str
    verdict: str
    extracted: str | None
    gold: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Pending:
    """An open-ended grade waiting for the symbolic check (one job per part still undecided)."""

    base: Grade
    jobs: list[tuple[int, list[str], list[str]]]  # (part index, gold forms, prediction forms)
    parts: list[PartGrade]


def _verdict_of(cmp: Comparison) -> str:
    return CORRECT if cmp.correct else INCORRECT


def _compare_one(gold_text: str, kind: str, pred: str) -> tuple[str | None, str, list[str], list[str]]:
    """(verdict or None when Math-Verify must decide, reason, gold forms, prediction forms)."""
    gold_forms = normal_forms(gold_text)
    pred_forms = normal_forms(pred)
    if not pred_forms and kind not in ("name", "yes_no"):
        return UNPARSED, "the final answer is empty", gold_forms, pred_forms
    got = compare(gold_text, kind, pred)
    if got is not None and (got.correct or kind in ("name", "yes_no") or values_of(gold_text)):
        return _verdict_of(got), got.how, gold_forms, pred_forms
    if gold_forms and any(g == p for g in gold_forms for p in pred_forms):
        return CORRECT, "same normal form", gold_forms, pred_forms
    return None, "", gold_forms, pred_forms


def _extra(gold: GoldAnswer) -> dict[str, Any]:
    return {"gold_rule": gold.rule, "gold_kind": gold.kind, "gold_flags": gold.flags}


def _prepare_open(problem: Problem, response: str) -> Grade | _Pending:
    gold = gold_answer(problem)
    extra = _extra(gold)
    if gold.parts:
        return _prepare_parts(problem, response, gold, extra)
    pred, how = extract_open_answer(response)
    if pred is None:
        return Grade(UNPARSED, UNPARSED, None, gold.answer if gold.usable else None,
                     "no \\boxed{} and no final 'Resposta:' statement", "", gold.confidence, **extra)
    if not gold.usable:
        reason = f"no reliable gold answer: {gold.reason}"
        return Grade(UNGRADED, UNGRADED, pred, None, reason, how, gold.confidence, **extra)
    assert gold.answer is not None
    verdict, why, gold_forms, pred_forms = _compare_one(gold.answer, gold.kind, pred)
    if gold.kind == "values" and verdict != CORRECT and how == "box":
        # several values boxed one by one ("a Ana tem $\boxed{12}$ anos e a Beatriz $\boxed{25}$"): the last boxes, as many as asked
        n = gold.answer.count(";") + 1
        boxes = [unwrap_boxes(b.content) for b in find_boxes(response)][-n:]
        if len(boxes) == n > 1:
            joined = "; ".join(boxes)
            got = compare(gold.answer, "values", joined)
            if got is not None and got.correct:
                return Grade(CORRECT, CORRECT, joined, gold.answer, f"{got.how}, from the last {n} boxes", "value", gold.confidence, **extra)
    if verdict is not None:
        return Grade(verdict, verdict, pred, gold.answer, why, "value" if verdict != UNPARSED else how, gold.confidence, **extra)
    base = Grade(UNGRADED, UNGRADED, pred, gold.answer, "", "symbolic", gold.confidence, **extra)
    return _Pending(base, [(0, gold_forms, pred_forms)], [])


def _prepare_parts(problem: Problem, response: str, gold: GoldAnswer, extra: dict[str, Any]) -> Grade | _Pending:
    gradable = [p for p in gold.parts if p.asks in GRADABLE and p.confidence != "none"]
    if not gold.usable or not gradable:
        pred, how = extract_open_answer(response)
        verdict = UNPARSED if pred is None else UNGRADED
        return Grade(verdict, verdict, pred, None, f"no reliable gold answer: {gold.reason}", how, gold.confidence, **extra)
    answers = extract_part_answers(response, [p.label for p in gradable])
    if all(answers.get(p.label, (None, ""))[0] is None for p in gradable):
        return Grade(UNPARSED, UNPARSED, None, gold.answer, "no answer found for any part", "", gold.confidence, **extra)
    parts: list[PartGrade] = []
    jobs: list[tuple[int, list[str], list[str]]] = []
    for i, gp in enumerate(gradable):
        pred = answers.get(gp.label, (None, ""))[0]
        assert gp.answer is not None
        if pred is None:
            parts.append(PartGrade(gp.label, UNPARSED, None, gp.answer, "no answer for this part"))
            continue
        part_verdict, why, gold_forms, pred_forms = _compare_one(gp.answer, gp.kind, pred)
        parts.append(PartGrade(gp.label, part_verdict or UNGRADED, pred, gp.answer, why))
        if part_verdict is None:
            jobs.append((i, gold_forms, pred_forms))
    extracted = "; ".join(f"{p.label}) {p.extracted}" for p in parts)
    base = Grade(UNGRADED, UNGRADED, extracted, gold.answer, "", "parts", gold.confidence, **extra)
    if jobs:
        return _Pending(base, jobs, parts)
    return _combine_parts(base, parts)


def _combine_parts(base: Grade, parts: list[PartGrade]) -> Grade:
    """Correct only when every gradable part is; a part left ungraded leaves the item ungraded."""
    verdicts = [p.verdict for p in parts]
    if all(v == CORRECT for v in verdicts):
        verdict, reason = CORRECT, f"all {len(parts)} parts correct"
    elif any(v in (INCORRECT, UNPARSED) for v in verdicts):
        bad = [p.label for p in parts if p.verdict in (INCORRECT, UNPARSED)]
        verdict, reason = INCORRECT, f"part{'s' if len(bad) > 1 else ''} {', '.join(bad)} not correct"
    else:
        verdict, reason = UNGRADED, "a part could not be checked"
    return replace(base, verdict=verdict, strict_verdict=verdict, reason=reason, parts=tuple(parts))


def _finish_one(outcome: Outcome) -> tuple[str, str]:
    if outcome is Outcome.EQUIVALENT:
        return CORRECT, "symbolically equivalent"
    if outcome is Outcome.DIFFERENT:
        return INCORRECT, "not equivalent"
    if outcome is Outcome.UNPARSEABLE:
        return INCORRECT, "the answer cannot be read as mathematics"
    if outcome is Outcome.TIMEOUT:
        return UNGRADED, "symbolic check timed out"
    return UNGRADED, "symbolic check crashed"


def _finish_open(p: _Pending, outcomes: list[Outcome]) -> Grade:
    if not p.parts:
        verdict, reason = _finish_one(outcomes[0])
        return replace(p.base, verdict=verdict, strict_verdict=verdict, reason=reason)
    parts = list(p.parts)
    for (i, _g, _p), outcome in zip(p.jobs, outcomes, strict=True):
        verdict, reason = _finish_one(outcome)
        parts[i] = replace(parts[i], verdict=verdict, reason=reason)
    return _combine_parts(p.base, parts)


# --- entry points ----------------------------------------------------------------------------

def grade(problem: Problem, response: str, *, checker: SymbolicChecker | None = None) -> Grade:
    """Grade one response. MC never leaves this process; an open-ended answer that needs the
    symbolic check uses ``checker`` (default: a shared one-worker pool started on first use)."""
    if problem.is_multiple_choice:
        return grade_multiple_choice(problem, response or "")
    prepared = _prepare_open(problem, response or "")
    if isinstance(prepared, Grade):
        return prepared
    outcomes = (checker or default_checker()).check_many([(g, p) for _i, g, p in prepared.jobs])
    return _finish_open(prepared, outcomes)


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
        jobs = [(g, pf) for _, p in waiting for _i, g, pf in p.jobs]
        outcomes = iter(self._checker.check_many(jobs))
        for i, p in waiting:
            out[i] = _finish_open(p, [next(outcomes) for _ in p.jobs])
        return [g for g in out if g is not None]

    def close(self) -> None:
        """Stop the pool's workers."""
        self._checker.close()
