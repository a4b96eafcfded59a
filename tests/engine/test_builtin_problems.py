"""The built-in problem set: shape, variants, gold answers that the grader accepts, originality."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.builtin import builtin_problems
from engine.grading import Grader, extract_gold, grade
from engine.problems import Problem

MATHPT = Path(__file__).resolve().parents[2].parent / "shared" / "mathpt"
PROBLEMS = builtin_problems()
MC = [p for p in PROBLEMS if p.is_multiple_choice]
OPEN = [p for p in PROBLEMS if not p.is_multiple_choice]


def test_shape() -> None:
    assert len(PROBLEMS) >= 32
    assert [p.id for p in PROBLEMS] == [f"builtin/{i}" for i in range(len(PROBLEMS))]
    assert all(p.split == "builtin" and p.index == i for i, p in enumerate(PROBLEMS))
    assert {p.variant for p in PROBLEMS} == {"pt-BR", "pt-PT"}
    assert sum(p.variant == "pt-BR" for p in PROBLEMS) == sum(p.variant == "pt-PT" for p in PROBLEMS)
    for variant in ("pt-BR", "pt-PT"):
        kinds = {p.kind for p in PROBLEMS if p.variant == variant}
        assert kinds == {"multiple_choice", "open_ended"}
    assert {p.level for p in PROBLEMS} == {1, 2, 3, 4}


def test_multiple_choice_items() -> None:
    for p in MC:
        assert p.choices is not None and sorted(p.choices) == ["A", "B", "C", "D", "E"], p.id
        assert p.answer in p.choices, p.id
        assert len(set(p.choices.values())) == 5, p.id  # no duplicate options
    # gold letters are spread over the options
    assert {p.answer for p in MC} == set("ABCDE")


def test_open_ended_items_have_gold_and_a_worked_solution() -> None:
    for p in OPEN:
        assert p.answer and p.solution and p.choices is None, p.id


def test_figures_like_the_real_data() -> None:
    figs = [p for p in PROBLEMS if p.has_figure]
    assert len(figs) >= 2
    for p in figs:
        assert "Conteúdo referenciado:" in p.problem and "\\begin{tabular}" in p.problem
    assert not any("Conteúdo referenciado:" in p.problem for p in PROBLEMS if not p.has_figure)


def test_first_items_are_short_and_mixed() -> None:
    first = PROBLEMS[:6]
    assert {p.variant for p in first} == {"pt-BR", "pt-PT"}
    assert {p.kind for p in first} == {"multiple_choice", "open_ended"}
    assert {(p.variant, p.kind) for p in first[:4]} == {
        ("pt-BR", "multiple_choice"), ("pt-BR", "open_ended"), ("pt-PT", "multiple_choice"), ("pt-PT", "open_ended")
    }
    assert all(len(p.problem) < 140 and p.level == 1 for p in first)
    assert all(len(p.answer or "") <= 3 for p in first)


# vocabulary that gives away the other variant
PT_PT_ONLY = r"\b(autocarro|equipa|ecrã|telemóvel|facto|comboio|frigorífico|chávena|berlindes|paragem|registad[ao]s?|Calcula|Determina)\b"
PT_BR_ONLY = r"\b(ônibus|time|tela|celular|fato|trem|geladeira|xícara|café da manhã|registros?|sorveteria|Resolva|Determine)\b"


def test_each_variant_uses_its_own_vocabulary() -> None:
    for p in PROBLEMS:
        text = p.problem + " " + (p.solution or "")
        if p.variant == "pt-PT":
            assert not re.search(PT_BR_ONLY, text), (p.id, re.search(PT_BR_ONLY, text))
        else:
            assert not re.search(PT_PT_ONLY, text), (p.id, re.search(PT_PT_ONLY, text))
    pt = " ".join(p.problem + (p.solution or "") for p in PROBLEMS if p.variant == "pt-PT")
    br = " ".join(p.problem + (p.solution or "") for p in PROBLEMS if p.variant == "pt-BR")
    for word in ("equipa", "ecrã", "facto", "autocarro", "comboio", "telemóvel"):
        assert word in pt.lower(), word
    for word in ("time", "tela", "fato", "ônibus", "celular", "café da manhã"):
        assert re.search(rf"\b{word}\b", br, re.I), word


@pytest.fixture(scope="module")
def grader():
    with Grader(workers=1) as g:
        yield g


def test_gold_fed_back_is_graded_correct(grader: Grader) -> None:
    pairs: list[tuple[Problem, str]] = []
    for p in OPEN:
        pairs.append((p, f"Logo, $\\boxed{{{p.answer}}}$."))
    for p in MC:
        assert p.choices and p.answer
        pairs.append((p, f"\\boxed{{{p.answer}}}"))
        pairs.append((p, f"\\boxed{{{p.choices[p.answer].strip('$')}}}"))  # the option's value
        pairs.append((p, f"A resposta correta é a alternativa {p.answer}."))
    grades = grader.grade_many(pairs)
    wrong = [(p.id, r, g) for (p, r), g in zip(pairs, grades, strict=True) if g.verdict != "correct"]
    assert wrong == []


def test_wrong_answers_are_graded_incorrect() -> None:
    for p in MC:
        other = next(k for k in "ABCDE" if k != p.answer)
        assert grade(p, f"\\boxed{{{other}}}").verdict == "incorrect"
    for p in OPEN:
        if re.fullmatch(r"\d+", p.answer or ""):
            assert grade(p, f"\\boxed{{{int(p.answer or 0) + 1}}}").verdict == "incorrect"


def test_solutions_state_the_gold() -> None:
    """The reference solutions end with the gold, as the extractor reads it when confident."""
    agree = 0
    for p in OPEN:
        g = extract_gold(p.problem, p.solution)
        if g.usable:
            assert grade(Problem(**{**p.to_dict(), "answer": g.answer}), f"\\boxed{{{p.answer}}}").verdict == "correct", p.id
            agree += 1
    assert agree >= len(OPEN) - 2


def test_not_copied_from_mathpt() -> None:
    if not MATHPT.is_dir():
        pytest.skip("shared/mathpt is not present")
    texts = []
    for f in MATHPT.glob("*_test.json"):
        texts += [re.sub(r"\s+", " ", x["problem"]).lower() for x in json.loads(f.read_text(encoding="utf-8"))]
    corpus = "\n".join(texts)
    for p in PROBLEMS:
        head = re.sub(r"\s+", " ", p.problem).lower()[:60]
        assert head not in corpus, p.id
