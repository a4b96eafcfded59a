"""Gold answers of every kind and reading pattern, and grading against them: table-driven, on new
built-in items and on real MATH-PT items (skipped when ../shared/mathpt is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.grading import Grader, compare, extract_gold, extract_part_answers, gold_answer, grade
from engine.grading.number_words import find_number_words, parse_number_words
from engine.grading.question import read_question
from engine.grading.solution_text import read_solution
from engine.problems import Problem

MATHPT = Path(__file__).resolve().parents[3].parent / "shared" / "mathpt"

# --- built-in items: (problem, solution, gold, kind, usable) ---------------------------------------

ITEMS = [
    # the problem's words that used to refuse an item
    ("Calcula a soma de todos os algarismos do número 2025.", "A soma é $2+0+2+5=9$.", "9", "number", True),
    ("Um polígono tem vértices, cada um dos quais está ligado a 3 outros. Quantas arestas tem o polígono de 8 vértices?",
     "Cada aresta tem dois vértices, logo há $\\frac{8\\times 3}{2}=12$ arestas.", "12", "number", True),
    ("Verifica-se que o número 7 divide 2023. Qual é o quociente?", "Temos $2023=7\\times 289$, ou seja, o quociente é $289$.",
     "289", "number", True),
    ("Um número tem as propriedades: a) é par; b) é maior do que 10; c) é menor do que 15. Sabendo que não é múltiplo de 4, qual é o número?",
     "Os pares entre 10 e 15 são 12 e 14, mas 12 é múltiplo de 4. Logo o número pedido é $14$.", "14", "number", True),
    # low-confidence rules that used to reject the right value
    ("Determina $x$ sabendo que $x+3=103$.", "Subtraindo 3 a ambos os membros, ou seja, $x=100$.", "100", "number", True),
    ("Quantas faces do cubo se pintaram?", "Há 45 cubos sem tinta. Portanto, pintaram-se exactamente quatro faces do cubo grande.",
     "4", "number", True),
    ("Qual é o número máximo de pontos que pode ter obtido o Jorge?", "Os primeiros teriam mais de 18 pontos. Logo o Jorge pode ter obtido no máximo $6$ pontos.",
     "6", "number", True),
    ("Quanto mede a área do quadrado?", "Logo a área mede $49$ cm$^2$. (image1)", "49", "number", True),
    ("Quantas vezes escreve o algarismo 7?", "No total, a Joana escreveu $600$ vezes o algarismo $7$.", "600", "number", True),
    ("Quanto mede o lado?", "Como $\\overline{AB}=5$, logo $\\overline{CD}=2\\times 5=10$. Note que $10>5$.", "10", "number", True),
    # non-numeric answers
    ("Determina todos os números naturais que não são arrumados.", "Logo os números não arrumados são $2$, $4$, $5$, $8$ e $9$.",
     "\\{2, 4, 5, 8, 9\\}", "set", True),
    ("Determina todos os pares $(p,q)$ de inteiros positivos tais que $2^p+1=q^2$.",
     "Conclui-se que o único par de inteiros positivos $(p,q)$ que verifica a equação dada é $(3,3)$.", "\\{(3, 3)\\}", "set", True),
    ("Encontre todos os pares $(m,n)$ de inteiros tais que $3^4=m+1$ e $n=8$.", "Logo $m=80$ e $n=8$ é a única solução.",
     "\\{(80, 8)\\}", "set", True),
    ("Sabendo que só uma das declarações é verdadeira, quem cometeu o crime? António: O Carlos cometeu-o. Bernardo: Eu não o fiz.",
     "Então as do António e do Bernardo são falsas. Portanto quem cometeu o crime foi o Bernardo.", "Bernardo", "name", True),
    ("Será possível pintar o tabuleiro com duas cores?", "Não, pois há $5$ casas.", "não", "yes_no", True),
    ("Existirá uma forma de preencher a linha?", "A soma seria ímpar. Portanto, não existe nenhuma forma de preencher a linha.", "não", "yes_no", True),
    ("Determina o número de formas de ordenar.", "Portanto há $2^{2008}\\cdot 2008!$ formas.", "2^{2008}\\cdot 2008!", "expression", True),
    ("Determine o inteiro mais próximo de $2009c$.", "O maior valor possível de $c$ é $2/3$. Daí, $2009 \\cdot c = 1339,333...$", "1339", "number", True),
    # refused: a guess is never a gold
    ("Determina todos os pares $(x,y)$.", "Logo $(x,y)=(1,2)$.", None, "set", False),  # one pair, never said to be the only one
    ("Qual é a soma dos algarismos de $N$?", "O menor é $777777$, ou seja, $N = 777777/33 = 23569$.", None, "number", False),
    ("Mostra que $a>1$.", "Logo $a = 2 > 1$.", None, "number", False),
    ("Quantos?", "Aceitam-se duas respostas. Logo $5$.", None, "number", False),
    ("Quanto vale?", "Temos $x < 3$ logo $x \\le 2$.", None, "number", False),
]


@pytest.mark.parametrize("problem, solution, gold, kind, usable", ITEMS)
def test_builtin_items(problem: str, solution: str, gold: str | None, kind: str, usable: bool) -> None:
    g = extract_gold(problem, solution)
    assert g.usable == usable, g
    if usable:
        assert (g.answer, g.kind) == (gold, kind), g
        assert g.rule and g.reason  # every gold says which rule found it and why


def test_multi_part_item_is_graded_part_by_part() -> None:
    problem = ("Sejam $a$ e $b$ reais distintos com $a^2=6b+5ab$ e $b^2=6a+5ab$. \\begin{enumerate} \\item[(a)] Determine o valor "
               "de $a+b$. \\item[(b)] Determine o valor de $ab$. \\end{enumerate}")
    solution = ("\\begin{enumerate} \\item[(a)] Subtraindo, $(a-b)(a+b)=-6(a-b)$. Como $a \\neq b$, temos $a+b=-6$. "
                "\\item[(b)] Somando as equações, $-36+2ab+10ab=36$ o que dá $ab=6$. \\end{enumerate}")
    g = extract_gold(problem, solution)
    assert g.usable and g.kind == "parts" and [(p.label, p.answer) for p in g.parts] == [("a", "-6"), ("b", "6")]
    p = Problem(id="t/0", split="t", index=0, variant="pt-BR", kind="open_ended", problem=problem, solution=solution)
    right = grade(p, "(a) Temos $\\boxed{-6}$.\n(b) Logo $\\boxed{6}$.")
    assert right.verdict == "correct" and [x.verdict for x in right.parts] == ["correct", "correct"]
    half = grade(p, "**a)** $\\boxed{-6}$\n**b)** $\\boxed{5}$")
    assert half.verdict == "incorrect" and half.reason == "part b not correct"
    assert half.record_fields()["part_verdicts"][1]["verdict"] == "incorrect"
    boxes_only = grade(p, "... $\\boxed{-6}$ e depois $\\boxed{6}$")
    assert boxes_only.verdict == "correct"
    assert grade(p, "Não sei.").verdict == "unparsed"


def test_part_answers_from_a_response() -> None:
    r = "Parte (a): ... $\\boxed{3}$. Parte (b): ... $\\boxed{\\frac{1}{2}}$"
    assert {k: v[0] for k, v in extract_part_answers(r, ["a", "b"]).items()} == {"a": "3", "b": "\\frac{1}{2}"}
    assert {k: v[0] for k, v in extract_part_answers("\\boxed{a) 3; b) 4}", ["a", "b"]).items()} == {"a": "3", "b": "4"}


# --- the question and the solution's noise ----------------------------------------------------------

@pytest.mark.parametrize(
    "problem, asks",
    [
        ("Quantos números ascendentes existem entre $4000$ e $5000$?", "count"),
        ("Mostra que $\\overline{AP}^2=\\overline{PQ}\\times \\overline{PR}$.", "proof"),
        ("Determina todos os pares $(p,q)$ tais que $2^p+1=q^2$.", "set"),
        ("Quem cometeu o crime?", "name"),
        ("Existirá algum número superior a $6$ que não seja soma de dois primos entre si?", "yes_no"),
        ("Completa a seguinte tabela com números naturais distintos.", "other"),
        ("Quanto ganhou cada concorrente?", "other"),  # several values at once
        ("Quais são os dois últimos algarismos de $7^{100}$?", "value"),
        ("Sabendo que $\\overline{AG}=1$ cm, determina $\\overline{DF}$.", "value"),
        ("Calcula a soma de todos os números da linha 1999.", "value"),
    ],
)
def test_what_the_question_asks(problem: str, asks: str) -> None:
    assert read_question(problem).parts[0].asks == asks


def test_noise_is_flagged_not_guessed() -> None:
    text = "Logo há exactamente $12$ maneiras diferentes de fazer as contas pedidas no enunciado do problema."
    dup = read_solution("Quantas maneiras?", text + " " + text)
    assert "duplicated" in dup.flags
    scr = read_solution("Quantas faces?", "Assim, se fosse $n=4$, o número seria: Portanto, pintaram-se quatro faces. superior a $48$ nos outros casos.")
    assert "scrambled" in scr.flags
    g = extract_gold("Quantas faces?", "Assim, se fosse $n=4$, o número seria: Portanto, pintaram-se quatro faces. superior a $48$ nos outros casos.")
    assert not g.usable and "scrambled" in g.flags
    copy = extract_gold("Quantos números memorizáveis de nove dígitos existem?", "Quantos números memorizáveis de nove dígitos existem?")
    assert (copy.usable, copy.flags) == (False, ("problem_copy",))


# --- comparing answers by kind -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "gold, kind, answer, correct",
    [
        ("\\{2, 4, 5\\}", "set", "\\{5, 2, 4\\}", True),
        ("\\{2, 4, 5\\}", "set", "2, 4 e 5", True),
        ("\\{2, 4, 5\\}", "set", "x=2 ou x=4 ou x=5", True),
        ("\\{2, 4, 5\\}", "set", "\\{2, 4\\}", False),
        ("\\{2, 4, 5\\}", "set", "\\{2, 4, 5, 6\\}", False),
        ("\\{(3, 3)\\}", "set", "(p,q)=(3,3)", True),
        ("\\{(1, 2), (2, 1)\\}", "set", "(2,1), (1,2)", True),
        ("\\{(1, 2), (2, 1)\\}", "set", "(1,2)", False),
        ("(1, 2)", "tuple", "(2, 1)", False),
        ("Bernardo", "name", "\\text{O Bernardo}", True),
        ("Bernardo", "name", "Carlos", False),
        ("sudeste", "name", "Sudeste", True),
        ("não", "yes_no", "\\text{Não. O tamanho máximo é }1500.", True),
        ("não", "yes_no", "Sim", False),
        ("sim", "yes_no", "É possível.", True),
        ("12", "number", "doze", True),
        ("12", "number", "12 cm", True),
        ("60", "number", "60^\\circ", True),
        ("18", "number", "n = 18", True),
        ("\\frac{540}{7}", "number", "\\approx 77,1", True),
        ("\\frac{540}{7}", "number", "77,1", False),  # an approximation must say so
        ("3\\sqrt{2}", "number", "4.24", False),
    ],
)
def test_compare_by_kind(gold: str, kind: str, answer: str, correct: bool) -> None:
    got = compare(gold, kind, answer)
    assert got is not None and got.correct is correct, got


@pytest.mark.parametrize("text, value", [("doze", 12), ("vinte e três", 23), ("duzentos e trinta e quatro", 234),
                                         ("dois mil e doze", 2012), ("um terço", 1 / 3), ("dezasseis", 16), ("dezesseis", 16)])
def test_number_words(text: str, value: float) -> None:
    got = parse_number_words(text)
    assert got is not None and abs(float(got) - value) < 1e-12
    assert parse_number_words("três dois") is None
    assert [w.value for w in find_number_words("pintaram-se quatro faces e duas arestas")] == [4, 2]


# --- real MATH-PT items ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mathpt() -> dict[str, Problem]:
    if not MATHPT.is_dir():
        pytest.skip("../shared/mathpt is not present")
    from engine.dataset import load_problems

    return {p.id: p for p in load_problems(MATHPT, splits=["ptpt_open_ended", "ptbr_open_ended"])}


#: checked by reading the problem and its solution: (id, gold, kind)
REAL = [
    ("ptpt_open_ended/2", "Bernardo", "name"),  # "Portanto quem cometeu o crime foi o Bernardo."
    ("ptpt_open_ended/237", "sudeste", "name"),  # a word offered in the problem
    ("ptpt_open_ended/16", "não", "yes_no"),  # "Não, porque perco sempre ..."
    ("ptpt_open_ended/84", "não", "yes_no"),  # "Assim, não existe nenhum número inteiro superior a 6 ..."
    ("ptpt_open_ended/107", "não", "yes_no"),
    ("ptpt_open_ended/218", "\\{0, 8, 16, 24, 32, 40, 48\\}", "set"),
    ("ptpt_open_ended/49", "\\{(3, 3)\\}", "set"),  # "o único par ... é (3,3)"
    ("ptpt_open_ended/310", "\\{(7, 3, 2), (8, 5, 3), (10, 4, 3)\\}", "set"),
    ("ptbr_open_ended/48", "\\{(80, 8)\\}", "set"),  # "Logo m=80 e n=8 é a única solução."
    ("ptbr_open_ended/55", "a) -6; b) 6", "parts"),
    ("ptbr_open_ended/74", "1339", "number"),  # "o inteiro mais próximo de 2009c" = 1339,333...
    ("ptpt_open_ended/19", "40", "number"),  # "poderá levantar no máximo 40 esquisitis"
    ("ptpt_open_ended/22", "600", "number"),  # "No total, ... a Joana escreveu 600 vezes o algarismo 7"
    ("ptpt_open_ended/3", "11600", "number"),  # number words in the problem ("17 mil e 200")
    ("ptpt_open_ended/154", "1", "number"),  # "a quarta prateleira tem um único livro, que pesa 400 gramas"
    ("ptpt_open_ended/380", "75", "number"),
    ("ptpt_open_ended/496", "2673", "number"),  # duplicated solution, the same conclusion three times
]


@pytest.mark.parametrize("pid, gold, kind", REAL)
def test_real_items(mathpt: dict[str, Problem], pid: str, gold: str, kind: str) -> None:
    g = gold_answer(mathpt[pid])
    assert g.usable and (g.answer, g.kind) == (gold, kind), g


@pytest.mark.parametrize("pid, flag", [("ptpt_open_ended/414", "foreign"), ("ptpt_open_ended/175", "problem_copy"),
                                       ("ptpt_open_ended/46", "scrambled"), ("ptpt_open_ended/55", "scrambled")])
def test_real_noise_is_flagged(mathpt: dict[str, Problem], pid: str, flag: str) -> None:
    g = gold_answer(mathpt[pid])
    assert flag in g.flags and not g.usable, g


def test_real_golds_grade_their_own_answer(mathpt: dict[str, Problem]) -> None:
    """Every usable gold of the real items, fed back as a model's boxed answer, grades correct."""
    items = [(mathpt[pid], gold_answer(mathpt[pid])) for pid, _g, _k in REAL]
    with Grader(workers=1, timeout_s=30) as grader:
        answers = []
        for _p, g in items:
            if g.parts:
                answers.append(" ".join(f"({q.label}) $\\boxed{{{q.answer}}}$" for q in g.parts))
            elif g.kind == "set":
                answers.append(f"Logo $\\boxed{{{g.answer}}}$.")
            else:
                answers.append(f"Portanto, $\\boxed{{{g.answer}}}$.")
        grades = grader.grade_many([(p, a) for (p, _g), a in zip(items, answers, strict=True)])
    assert [x.verdict for x in grades] == ["correct"] * len(items), [(p.id, x.reason) for (p, _), x in zip(items, grades, strict=True) if x.verdict != "correct"]
