"""Gold answers for questions asking several values at once, names read from a comparison or after
the conclusion word, a concluding last sentence over a step before it, and a page footer after the
solution: table-driven on built-in items and on real MATH-PT items (skipped when ../shared/mathpt is
absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.grading import Grader, compare, extract_gold, gold_answer, grade
from engine.grading.question import read_question
from engine.problems import Problem

MATHPT = Path(__file__).resolve().parents[3].parent / "shared" / "mathpt"


@pytest.mark.parametrize(
    "problem, asks, n",
    [
        ("O João tem lápis e canetas. Quantos lápis e quantas canetas tem o João?", "values", 2),
        ("Qual é o comprimento e a largura de cada um dos retângulos?", "values", 2),
        ("A Alice, a Beatriz e a Carolina são irmãs. A soma das idades é 42. Qual é a idade de cada uma das irmãs?", "values", 3),
        ("Quantas casas existiam na aldeia e qual é o número da casa demolida?", "values", 2),
        ("Quantos do tipo 1 ele comeu? E quantos do tipo 2?", "values", 2),
        ("Quantos passos deu e em que direção?", "other", 0),  # a direction is not a value
        ("Qual das duas somas é maior e qual é a diferença entre elas?", "other", 0),
        ("Quantos exercícios resolveu em cada um dos restantes dias?", "other", 0),  # how many days: unknown
        ("Como poderás obter $2^{45}$ em exactamente 10 substituições?", "other", 0),  # a construction
    ],
)
def test_what_a_several_values_question_asks(problem: str, asks: str, n: int) -> None:
    part = read_question(problem).parts[0]
    assert (part.asks, part.n_values) == (asks, n)


# (problem, solution, gold, kind, rule, usable)
ITEMS = [
    ("O Pavlo e o José compraram castanhas; o Pavlo comprou o dobro. Quantas castanhas comprou cada um?",
     "Seja $J$ o número. Então $2J-27=J+27$, donde $J=54$. Portanto o José comprou $54$ castanhas e o Pavlo comprou $108$.",
     "54; 108", "values", "values", True),
    ("Quantos lápis e quantas canetas tem o João?", "Resolvendo, $x=6x-105$. Logo o João tem $x=21$ lápis e $2x-10=32$ canetas.",
     "21; 32", "values", "values", True),
    ("A Alice, a Beatriz e a Carolina são irmãs. Qual é a idade de cada uma das irmãs?",
     "A soma mais $2$ é $44$. Logo a Beatriz tem $44/4=11$ anos. Finalmente, vemos que a Carolina tem $11-2=9$ anos e que a Alice tem $11\\times 2=22$ anos.",
     "11; 9; 22", "values", "values", True),
    ("Quantas casas existiam na aldeia e qual é o número da casa demolida?",
     "Obtém-se que $$\\frac{133\\times 134}{2}=\\frac{202}{3}\\times 132+k\\Leftrightarrow k=23\\;$$. A aldeia tinha $133$ casas e casa que foi demolida tinha o número $23$.",
     "133; 23", "values", "values", True),
    ("O Arsénio e o Belmiro ganharam 11 contos, o Casimiro e o Durão 11, a Esmeraldina e a Felismina 53. Quanto ganhou cada concorrente?",
     "Somando vem $2A=4$, logo $A=2$. Por substituições sucessivas vem $B=9, \\; C=8, \\; D=3, \\; E=30, \\; F=23.$",
     "2; 9; 8; 3; 30; 23", "values", "values", True),
    # refused: fewer values than asked, more values than asked, one case of several
    ("Quantos lápis e quantas canetas tem o João?", "Logo o João tem $21$ lápis.", None, "values", "values", False),
    ("Quantos lápis e quantas canetas tem o João?", "Logo tem $3$, $21$ lápis e $32$ canetas.", None, "values", "values", False),
    ("Quantos lápis e quantas canetas tem o João?", "Se $x=2$, então ele teria $21$ lápis e $32$ canetas.", None, "values", "values", False),
    # names
    ("A Beatriz, o David, a Luísa e o Pedro mediram-se. Qual é o mais alto dos quatro amigos?",
     "Se o David fosse mais baixo, a soma seria inferior. Logo o David é mais alto do que a Luísa e portanto é o mais alto dos quatro amigos.",
     "David", "name", "name-comparison", True),
    ("A Mafalda e a Laura contaram soluções. Qual das duas amigas encontrou mais soluções?",
     "A equação da Laura possui $27$ soluções e, portanto, a Mafalda contou um maior número de soluções.",
     "Mafalda", "name", "name-after-conclusion", True),
    # the last word wins over a step before it
    ("Calcula a área da região sombreada.",
     "Logo a área a sombreado na figura seguinte é $\\frac{3\\pi}{4}+(1-\\frac{\\pi}{4})=\\frac{\\pi}{2}+1$. A área colorida na figura do problema é o dobro, ou seja, é $\\pi+2$ cm$^2$.",
     "\\pi+2", "number", "math-value", True),
    ("Qual é o maior valor de $n$ para o qual existe um tabuleiro $n\\times 4$ bem pintado?",
     "Assim, não existe nenhum tabuleiro $7\\times 4$ bem pintado. Portanto o maior valor para $n$ é $6$.", "6", "number", "conclusion", True),
    # a page footer after the solution is not the solution
    ("Quanto mede o raio da circunferência?",
     "Pelo Teorema de Pitágoras, donde $32r=320$, isto é, $r=10$. $\\,$$\\,$ Sociedade Portuguesa de Matemática $\\;$ XVII ONM - Categoria A 2$^{\\bf ^{\\underline a}}$ Eliminatória $\\;\\;$ 27/01/99 (table1)",
     "10", "number", "final-equation", True),
]


@pytest.mark.parametrize("problem, solution, gold, kind, rule, usable", ITEMS)
def test_builtin_items(problem: str, solution: str, gold: str | None, kind: str, rule: str, usable: bool) -> None:
    g = extract_gold(problem, solution)
    assert g.usable == usable, g
    if usable:
        assert (g.answer, g.kind, g.rule) == (gold, kind, rule), g
        assert g.reason and g.confidence in ("high", "medium")


@pytest.mark.parametrize(
    "gold, answer, correct",
    [
        ("54; 108", "54 e 108", True),
        ("54; 108", "108, 54", True),  # any order: the values, not which name each belongs to
        ("54; 108", "\\text{O José comprou } 54 \\text{ e o Pavlo } 108", True),
        ("54; 108", "José: 54 castanhas, Pavlo: 108 castanhas", True),
        ("54; 108", "J=54, P=108", True),
        ("54; 108", "54", False),
        ("54; 108", "54, 108, 27", False),
        ("54; 108", "53 e 108", False),
        ("8; 12", "8 \\text{ cm e } 12 \\text{ cm}", True),
        ("\\frac{1}{2}; 3", "\\frac{1}{2} e 3", True),
    ],
)
def test_compare_values(gold: str, answer: str, correct: bool) -> None:
    got = compare(gold, "values", answer)
    assert got is not None and got.correct is correct, got


def test_values_item_graded_end_to_end() -> None:
    p = Problem(id="t/0", split="t", index=0, variant="pt-PT", kind="open_ended",
                problem="Quantos lápis e quantas canetas tem o João?",
                solution="Resolvendo, $x=6x-105$. Logo o João tem $x=21$ lápis e $2x-10=32$ canetas.")
    assert grade(p, "Logo, $\\boxed{21 \\text{ lápis e } 32 \\text{ canetas}}$.").verdict == "correct"
    assert grade(p, "Logo, $\\boxed{32, 21}$.").verdict == "correct"
    assert grade(p, "Logo, $\\boxed{21 \\text{ lápis e } 31 \\text{ canetas}}$.").verdict == "incorrect"


# --- real MATH-PT items ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mathpt() -> dict[str, Problem]:
    if not MATHPT.is_dir():
        pytest.skip("../shared/mathpt is not present")
    from engine.dataset import load_problems

    return {p.id: p for p in load_problems(MATHPT, splits=["ptpt_open_ended", "ptbr_open_ended"])}


#: read by hand against the solution (benchmarks/gold-audit/seed-8675309.md): (id, gold, kind)
REAL = [
    ("ptpt_open_ended/30", "2; 9; 8; 3; 30; 23", "values"),
    ("ptpt_open_ended/115", "54; 108", "values"),
    ("ptpt_open_ended/209", "8; 12", "values"),
    ("ptpt_open_ended/394", "21; 32", "values"),
    ("ptpt_open_ended/449", "11; 9; 22", "values"),
    ("ptpt_open_ended/471", "133; 23", "values"),
    ("ptbr_open_ended/26", "a) 336; 504; b) 84", "parts"),
    ("ptpt_open_ended/177", "David", "name"),
    ("ptpt_open_ended/424", "Mafalda", "name"),
    ("ptpt_open_ended/182", "\\pi+2", "number"),
    ("ptpt_open_ended/200", "6", "number"),
    ("ptpt_open_ended/137", "1", "number"),
    ("ptpt_open_ended/21", "10", "number"),
]


@pytest.mark.parametrize("pid, gold, kind", REAL)
def test_real_items(mathpt: dict[str, Problem], pid: str, gold: str, kind: str) -> None:
    g = gold_answer(mathpt[pid])
    assert g.usable and (g.answer, g.kind) == (gold, kind), g


@pytest.mark.parametrize("pid", ["ptpt_open_ended/20", "ptpt_open_ended/29", "ptpt_open_ended/414", "ptpt_open_ended/406"])
def test_real_items_refused(mathpt: dict[str, Problem], pid: str) -> None:
    """One value for two asked (both had 100: not said), a construction ('Como poderás ...?'), foreign solutions."""
    assert not gold_answer(mathpt[pid]).usable


def test_real_golds_grade_their_own_answer(mathpt: dict[str, Problem]) -> None:
    items = [(mathpt[pid], gold_answer(mathpt[pid])) for pid, _g, _k in REAL]
    answers = []
    for _p, g in items:
        if g.parts:
            answers.append(" ".join(f"({q.label}) $\\boxed{{{q.answer}}}$" for q in g.parts))
        else:
            answers.append(f"Portanto, $\\boxed{{{g.answer}}}$.")
    with Grader(workers=1, timeout_s=30) as grader:
        grades = grader.grade_many([(p, a) for (p, _g), a in zip(items, answers, strict=True)])
    assert [x.verdict for x in grades] == ["correct"] * len(items), [(p.id, x.reason) for (p, _), x in zip(items, grades, strict=True) if x.verdict != "correct"]
