"""Gold answers that are words (a password, a day of the week), polynomial equations, digit pairs,
stated unique solutions: table-driven on real MATH-PT items (skipped when ../shared/mathpt is absent)
and on the comparison of names."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from engine.grading import gold_answer
from engine.grading.compare import compare_name
from engine.problems import Problem

MATHPT = Path(__file__).resolve().parents[3].parent / "shared" / "mathpt"


@functools.lru_cache(maxsize=1)
def _problems() -> dict[str, Problem]:
    from engine.dataset import load_problems

    return {p.id: p for p in load_problems(str(MATHPT), splits=["ptpt_open_ended", "ptbr_open_ended"])}


REAL = [
    # (id, gold, rule, usable) -- each read by hand against its solution
    ("ptpt_open_ended/54", "INVASAO", "word", True),  # "... ou seja, a palavra INVASAO" (was 6, a count)
    ("ptpt_open_ended/392", "terça-feira", "name", True),  # "todos os amigos dizem a verdade às terças-feiras"
    ("ptbr_open_ended/47", None, "polynomial", False),  # "x^3+18=0": not the value 0 (the product asked is 18)
    ("ptbr_open_ended/42", "\\{11, 12, 21, 22\\}", "digit-pairs", True),  # (a,b) = (1,1); (1,2); (2,1); (2,2)
    ("ptbr_open_ended/89", "\\{(3, 17)\\}", "final-equation", True),  # "O único par ... é (m,n)=(3,17)"
    ("ptbr_open_ended/78", "\\{(2, 2)\\}", "final-equation", True),  # "a única solução é: $(a,b) = (2,2)$" after a cases array
    ("ptpt_open_ended/106", "2", "final-equation", True),  # "Quanto tem que pagar cada um dos amigos?": 10/5 = 2 euros
]


@pytest.mark.skipif(not MATHPT.is_dir(), reason="../shared/mathpt not present")
@pytest.mark.parametrize(("pid", "gold", "rule", "usable"), REAL, ids=[r[0] for r in REAL])
def test_real_items(pid: str, gold: str | None, rule: str, usable: bool) -> None:
    g = gold_answer(_problems()[pid])
    assert g.usable is usable, g.reason
    assert g.rule == rule, g.reason
    if usable:
        assert g.answer == gold


@pytest.mark.parametrize(("gold", "answer", "right"), [
    ("terça-feira", "terça-feira", True),
    ("terça-feira", "Às terças-feiras", True),
    ("terça-feira", "terça", True),
    ("terça-feira", "quarta-feira", False),
    ("sábado", "aos sábados", True),
    ("INVASAO", "INVASÃO", True),
    ("INVASAO", "A palavra é invasao", True),
    ("INVASAO", "NAVIOSA", False),
])
def test_words_and_days_compared(gold: str, answer: str, right: bool) -> None:
    assert compare_name(gold, answer).correct is right
