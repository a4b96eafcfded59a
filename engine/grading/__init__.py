"""Grading: reading a model's final answer and comparing it with the gold, without a UI.

The entry points are :func:`grade` (one response, pure for multiple choice) and :class:`Grader`
(owns the Math-Verify process pool; ``grade_many`` grades a batch in parallel). See
:mod:`engine.grading.grader` for the verdicts. Importing this package is cheap: Math-Verify and
SymPy are only imported inside the symbolic-check worker processes.
"""

from engine.grading.choice import paper_letter, read_choice
from engine.grading.compare import Comparison, compare
from engine.grading.gold import GoldAnswer, GoldPart, extract_gold, gold_answer
from engine.grading.grader import (
    CORRECT,
    GRADER_VERSION,
    INCORRECT,
    UNGRADED,
    UNPARSED,
    VERDICTS,
    Grade,
    Grader,
    PartGrade,
    extract_open_answer,
    extract_part_answers,
    grade,
)
from engine.grading.symbolic import Outcome, SymbolicChecker

__all__ = [
    "CORRECT", "GRADER_VERSION", "INCORRECT", "UNGRADED", "UNPARSED", "VERDICTS", "Comparison", "GoldAnswer",
    "GoldPart", "Grade", "Grader", "Outcome", "PartGrade", "SymbolicChecker", "compare", "extract_gold",
    "extract_open_answer", "extract_part_answers", "gold_answer", "grade", "paper_letter", "read_choice",
]
