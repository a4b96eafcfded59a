"""Final-answer shapes of issue 17's second pass: a bound shown attained, a count followed by the things
counted, "a única possibilidade" for a count, an extremum claimed before its proof, an answer stated
first, resolutions that stop at a step of another, the ages of "as duas amigas", a follow-up question,
"Que interruptores ...?", "Ajuda ... a encontrar ...", a note that is only an aside, units and time
units, noise (figure code, foreign solutions, noisy yes/no). Table-driven on built-in examples (always
run) and on real MATH-PT items (skipped when ../shared/mathpt is absent); each new kind of gold is fed
a correct model answer through the grader."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.grading import Grader, compare, extract_gold, gold_answer
from engine.grading.gold_context import Context, near_echo, problem_numbers
from engine.grading.question import asking_sentences, read_question
from engine.grading.solution_text import noise_flags
from engine.problems import Problem

MATHPT = Path(__file__).resolve().parents[3].parent / "shared" / "mathpt"

# (problem, solution, gold, rule, usable)
ITEMS = [
    # bound-attained: a lower bound for a minimum, then "suficientes"
    ("Qual é o número mínimo de elevadores que é necessário colocar?",
     "Cada elevador serve no máximo $10$ pares. Uma vez que $6\\times 10<63$, são necessários pelo menos $7$ elevadores. "
     "Para concluir que $7$ elevadores são suficientes, basta observar o esquema ao lado.", "7", "bound-attained", True),
    # an upper bound and its example in one sentence
    ("Qual é o número máximo de membros que se podem sentar numa mesa com $22$ lugares?",
     "Num ciclo de $11$ lugares podemos apenas ocupar $5$. Então podem sentar-se no máximo $10$, por exemplo nos lugares $1,2,3,4,9,10,11,12,17$ e $18$.",
     "10", "bound-attained", True),
    # "não é possível ... em menos de": a lower bound; "Vejamos agora que é possível": reached
    ("Como deverá a Leonor distribuir os garrafões de modo a gastar o menor tempo possível? Quanto tempo demora?",
     "O tempo total é $1+2+\\ldots+10=55$ minutos. Com três torneiras, não é possível encher os garrafões em menos de $19$ minutos. "
     "Vejamos agora que é possível encher os garrafões em precisamente $19$ minutos. "
     "Para tal basta que na primeira torneira se encham os que demoram 9 e 10 minutos e na segunda os que demoram 3, 7 e 8 minutos.",
     "19", "bound-attained", True),
    # "N >= 5", then "é $5$ o menor número": the bound and the minimum
    ("Qual é o menor valor que este número pode ter tomado?",
     "Decorre que $N\\geq5$. Para concluir que é $5$ o menor número de pessoas que poderiam ter comprado o livro, basta observar o quadro.",
     "5", "bound-attained", True),
    # the bound is about another quantity (provas, not atletas): no gold from it
    ("Qual é o número máximo de atletas no torneio?",
     "Assim temos que $20n \\geq \\frac{5n(n+1)}{2}$, pelo que $n\\leq 7$. Resta mostrar que é possível realizar $7$ provas.",
     None, "", False),
    # count-enumerated: the count and the things counted
    ("Quantos números pintou a Luísa de amarelo?",
     "Ao lado apresenta-se uma tabela para testar os $12$ números. A Luísa pintou de amarelo três números: $150$, $225$ e $375$.",
     "3", "count-enumerated", True),
    # ... fewer than the count, with an ellipsis
    ("Quantos números menores que $1000$ têm esta propriedade?",
     "Os múltiplos ímpares de $3$ e $5$ são os números da forma $15n$, com $n$ ímpar. Como há $33$ números ímpares até $65$, "
     "então há $33$ números menores que $1000$ com a propriedade indicada: $15$, $45$, $\\ldots$, $975$.",
     "33", "count-enumerated", True),
    # ... not in a premise: "Como há duas escolhas ($4$ ou $8$), há ao todo 16"
    ("Quantos números quatríssimos existem?",
     "Como para cada algarismo existem duas escolhas ($4$ ou $8$), há ao todo $2 \\times 2 \\times 2 \\times 2 = 16$ números quatríssimos.",
     "16", "final-equation", True),
    # unique-count: "De quantas formas ...?" and "a única possibilidade"
    ("De quantas formas o pode fazer?",
     "Logo há exatamente $4$ caixas sem medalhas, donde $a=6$. Portanto a única possibilidade é o número de medalhas ser $6,2,1,0,0,0,1,0,0,0$.",
     "1", "unique-count", True),
    # claimed-answer: the extremum stated, then proved
    ("A Isabel tem $n$ folhas. Determina qual é o maior número que pode ficar isolado numa folha.",
     "Nas restantes $n-2$ folhas ficam os números de $1$ a $n-2$. Para mostrar que $2n-2$ é o maior número que pode ficar isolado, "
     "suponhamos que $N>2n-2$ está numa das folhas pequenas. Assim, há um número numa folha pequena, o que é impossível, porque apenas há $n-2$ folhas.",
     "2n-2", "claimed-answer", True),
    # answer-first: an answer header, then the justification
    ("Qual é o valor mínimo para N?",
     "[Resposta: 0004]\nSolução:\nVamos supor que esse máximo fosse $3$. Desse modo, $N > 3$. Ela acertaria $100$ questões e erraria as $3$ últimas.",
     "4", "answer-phrase", True),
    ("Qual é o menor inteiro $a > 1$ para o qual $a^2-1$ é múltiplo de $2015$?",
     "A resposta é 92. Usaremos o seguinte lema. Então $a \\equiv 1 \\pmod{13}$. Com isso, temos a tabela $a = 404$, $a = 402$. O valor mínimo de $a$ é, então, 92.",
     "92", "answer-phrase", True),
    # further-resolution: the opening goes beyond what the solutions prove
    ("Sabendo que $[ABC]$ tem área $12$, qual é a área do quadrilátero $[DCFE]$?",
     "Como $[AD]$ é uma mediana, área$[ACD]=6$. De seguida mostra-se que área$[AEF]=1$, pelo que área$[CDEF]=\\,$área$[ACD]-\\,$área$[AEF]=6-1=5$. "
     "Solução 1. Tem-se então que área$[AEF]=\\,$área$[BDE]/3=1$. Solução 2. Finalmente área$[AEF]=\\,$área$[BDE]-\\,$área$[BDH]=3-2=1$.",
     "5", "final-equation", True),
    # the ages of "as duas amigas": two values, what the last conclusion word leads to
    ("Sabendo que a Ana é mais nova do que a Beatriz, determina as idades atuais das duas amigas.",
     "Obtemos a sua única solução: $n=35$. Concluímos que $N=(35)^2=1225$ e, portanto, a Ana tem $12$ anos e a Beatriz tem $25$ anos.",
     "12; 25", "values", True),
    # a follow-up question: two values
    ("Determina o menor número de colegas para o qual é possível repartir as $99$ moedas. Para esse número, determina de quantas formas diferentes se pode fazer a repartição.",
     "Portanto, $13$ é o menor número de colegas para os quais é possível fazer a distribuição das $99$ moedas e há $8$ formas diferentes de fazer esta distribuição.",
     "13; 8", "values", True),
    # "Que interruptores ...?": a set
    ("Que interruptores devem ser ligados para que a máquina transporte um viajante para o ano $1500$?",
     "Falta encontrar os que fazem avançar $3-1=2$ anos. Portanto, devem ser ligados os interruptores $1$, $2$, $3$ e $10$.",
     "\\{1, 2, 3, 10\\}", "set", True),
    # "Ajuda o André a encontrar o número ...": a count
    ("Ajuda o André a encontrar o número total de maneiras diferentes de pintar o seu pião.",
     "Há, assim, $3+6+2=11$ maneiras diferentes de pintar o pião, indicadas na figura.", "11", "final-equation", True),
    # a note that is only an aside: the resolution goes on after it
    ("Determina a área do triângulo $[ADC]$.",
     "Os triângulos são semelhantes, donde se conclui que $\\overline{AC}=\\frac97 \\overline{BC}$. Observação: a relação é consequência imediata do Teorema da bissetriz. "
     "Como $\\overline{FC}=\\frac{\\overline{BC}}{2}$, tem-se $\\overline{AF}=\\frac{11}{14}\\overline{BC}$. Assim, tem-se $\\overline{DF}=\\frac73 \\sqrt 5$. "
     "Portanto, $$ \\mbox{área de $[ADC]$}= \\frac 97 \\,\\overline{BC}\\times \\frac{\\overline{DF}}{2}=14\\sqrt 5. $$",
     "14\\sqrt 5", "final-equation", True),
    # a note to the end is still left out
    ("Quantos berlindes tem o João?",
     "O João juntou os berlindes dos dois sacos e depois deu três ao irmão mais novo. Somando os dois sacos, vem $x+3=10$, logo o João tem $7$ berlindes. "
     "Nota: também se podia contar um a um. Neste caso obtém-se $8$ contagens. Logo $8$.",
     "7", "echo", True),
    # "cm${}^2$" is a unit, not a value
    ("Qual é a área do retângulo?",
     "Os triângulos têm a mesma área, logo conclui-se que cada uma das peças mais pequenas tem $\\frac{6}{3}=2$ cm${}^2$ de área.",
     "2", "final-equation", True),
    # "tem que ser o 4"
    ("Qual é o algarismo que estava originalmente na quadrícula assinalada com $\\ast$?",
     "Como $a$ e $b$ só podem tomar os valores $1$ e $4$, deve ser $a=4$, logo $b=1$. Assim, na primeira coluna o 4 não poderá aparecer na segunda posição "
     "pelo que o algarismo que estava na quadrícula assinalada com $\\ast$ tem que ser o 4.",
     "4", "conclusion", True),
    # "o valor de $r$ é"
    ("Sabendo que as circunferências têm todas o mesmo raio, quanto mede o raio das circunferências?",
     "Temos, então, $8r^2+4r-1=0$, ou seja, $r= \\frac{\\sqrt{3}-1}{4} \\mbox{ ou } r=\\frac{-\\sqrt{3}-1}{4}$. "
     "Como $\\frac{-\\sqrt{3}-1}{4}$ é um número negativo o valor de $r$ é $\\frac{\\sqrt{3}-1}{4}$.",
     "\\frac{\\sqrt{3}-1}{4}", "math-value", True),
]


@pytest.mark.parametrize("problem, solution, gold, rule, usable", ITEMS)
def test_builtin_items(problem: str, solution: str, gold: str | None, rule: str, usable: bool) -> None:
    g = extract_gold(problem, solution)
    assert g.usable == usable, g
    if usable:
        assert (g.answer, g.rule) == (gold, rule), g
        assert g.confidence in ("high", "medium") and g.reason


def _item(start: str) -> tuple[str, str]:
    """(problem, solution) of the built-in item whose problem starts so."""
    return next((p, s) for p, s, *_rest in ITEMS if p.startswith(start))


def test_further_resolution_is_said() -> None:
    assert "further-resolution" in extract_gold(*_item("Sabendo que $[ABC]$ tem área")).reason


def test_one_case_is_not_the_only_way() -> None:
    """"Em cada um destes dois casos, só existe uma maneira ...": one case of several, not "a única possibilidade"."""
    g = extract_gold("De quantas maneiras diferentes é possível pintar o tabuleiro?",
                     "Temos assim $16$ maneiras de colorir o bordo. Em cada um destes dois casos, só existe uma maneira de pintar os quadrados centrais.")
    assert g.rule != "unique-count"


def test_a_unit_of_time_names_the_asked_time() -> None:
    """"Quanto tempo ...?": a unit of time after the value is the question's word ("demorou $7$ horas")."""
    part = read_question("Quanto tempo demorou o Alberto a pintar o resto do quarto?").parts[0]
    ctx = Context(part=part, problem_numbers=[], problem_vars=set(), names=[], options=[])
    s = "conclui-se que demorou $7$ horas para pintar $\\dfrac{7}{40}$ do quarto."
    assert near_echo(s, s.index("$7$") + 3, ctx) == 2
    other = Context(part=read_question("Que fração da casa pintou o Alberto?").parts[0], problem_numbers=[], problem_vars=set(), names=[], options=[])
    assert near_echo(s, s.index("$7$") + 3, other) == 0  # no time asked: "horas" is no word of the question


@pytest.mark.parametrize(
    "problem, asks, n",
    [
        ("Que interruptores devem ser ligados para que a máquina chegue a $1500$?", "set", 0),
        ("Que horas são quando o relógio pára?", "value", 0),  # "horas": one value
        ("Ajuda o André a encontrar o número total de maneiras diferentes de pintar o seu pião.", "count", 0),
        ("Sabendo que a Ana é mais nova, determina as idades atuais das duas amigas.", "values", 2),
        ("Determina o menor número de colegas. Para esse número, determina de quantas formas se pode fazer a repartição.", "values", 2),
        # a follow-up asking all sets is not a second value
        ("Determina o valor máximo de $n$. Para este valor de $n$, determina todos os possíveis conjuntos $\\{A_1,\\ldots,A_n\\}$.", "set", 0),
    ],
)
def test_what_is_asked(problem: str, asks: str, n: int) -> None:
    part = read_question(problem).parts[0]
    assert (part.asks, part.n_values) == (asks, n)


def test_a_preposition_is_no_imperative() -> None:
    """ "de um terreno" is no "dê um exemplo": the sentence asks nothing, so its numbers are no question data."""
    q = "No interior de um terreno com $5$ metros de comprimento, construiu uma piscina. Qual é a área de terreno com orquídeas?"
    assert asking_sentences(q) == ["Qual é a área de terreno com orquídeas?"]
    # a full stop typed inside display math ends the sentence before the question
    q2 = "Obteve o número $$ 1234\\ldots 2002.$$ Qual é o dígito central deste número?"
    assert asking_sentences(q2) == ["Qual é o dígito central deste número?"]


def test_figure_code_gives_no_problem_number() -> None:
    p = "Sabendo que $[ABC]$ tem área $12$, qual é a área? (image1) Conteúdo referenciado: \\psline(1.333,2)(10,0) \\rput(7.35,3.25){$D$}"
    assert problem_numbers(p) == [12]


def test_foreign_solution_with_only_trivial_numbers() -> None:
    problem = ("O Pedro e o Tiago vão jogar com um baralho com $n$ cartas, numeradas de $1$ a $n$. Começando pelo Pedro, eles escolhem "
               "cartas alternadamente e recebem os pontos indicados. Quantas cartas tem o baralho?")
    foreign = ("No $29$º sorteio, o aluno $29$ recebeu o número $1$. Procedendo de forma semelhante para os restantes alunos, conclui-se que "
               "o aluno $k$ recebeu no $n$-ésimo sorteio o número $k+1-n$. Logo no oitavo sorteio, o Francisco recebeu o número $21+1-8=14$.")
    assert "foreign" in noise_flags(problem, foreign)
    # a proof with few shared words but this problem's objects is not flagged
    assert "foreign" not in noise_flags("Mostra que $[JICH]$ e $[ABJ]$ têm a mesma área.", "Então área$_{[ABJ]}=$ área$_{[CIJH]}$, o que prova o pretendido.")


def test_noisy_yes_no_is_refused() -> None:
    """A duplicated solution's last sentences are fragments: its "sim"/"não" is no gold."""
    body = ("Tentemos construir um subconjunto $A$ de $X$ de acordo com o enunciado com muitos elementos distintos. "
            "Esta última afirmação mostra que é impossível existir tal subconjunto $A$ de $X$ com aquelas propriedades. ")
    g = extract_gold("Poderá o conjunto conter um subconjunto de 2000 elementos?", body + body + "Portanto, de modo a construirmos $A$, pelo menos 500 elementos.")
    assert "duplicated" in g.flags and not g.usable and g.answer is None


@pytest.mark.parametrize(
    "gold, kind, answer, correct",
    [
        ("\\{1, 2, 3, 10\\}", "set", "\\text{os interruptores } 1, 2, 3 \\text{ e } 10", True),
        ("\\{1, 2, 3, 10\\}", "set", "1, 2, 3 \\text{ e } 10", True),
        ("\\{1, 2, 3, 10\\}", "set", "\\text{os interruptores } 1, 2 \\text{ e } 3", False),
        ("12; 25", "values", "12 \\text{ e } 25 \\text{ anos}", True),
        ("13; 8", "values", "13 \\text{ colegas; } 8 \\text{ formas}", True),
        ("13; 8", "values", "13", False),
        ("14\\sqrt 5", "number", "\\sqrt{980}", True),
        ("\\pi(3-2\\sqrt{2})+1", "number", "3\\pi-2\\sqrt{2}\\pi+1", True),
        ("1008", "number", "1008 \\text{ rondas}", True),
        ("19", "number", "19 \\text{ minutos}", True),
        ("3", "number", "\\text{três}", True),
    ],
)
def test_compare_new_golds(gold: str, kind: str, answer: str, correct: bool) -> None:
    got = compare(gold, kind, answer)
    assert got is not None and got.correct is correct, got


def test_new_golds_graded_end_to_end() -> None:
    """Correct model answers against each new shape of gold, Math-Verify included ("2(n-1)" for "2n-2"),
    several values boxed one by one."""
    isabel, ages, switches = _item("A Isabel"), _item("Sabendo que a Ana"), _item("Que interruptores")
    cases = [(isabel, "Logo o maior é $\\boxed{2(n-1)}$.", "correct"), (isabel, "$\\boxed{2n-1}$", "incorrect"),
             (ages, "A Ana tem $\\boxed{12}$ anos e a Beatriz $\\boxed{25}$ anos.", "correct"),
             (ages, "A Ana tem $\\boxed{12}$ anos e a Beatriz $\\boxed{26}$ anos.", "incorrect"),
             (switches, "Devem ser ligados $\\boxed{1, 2, 3, 10}$.", "correct"),
             (switches, "Os interruptores $\\boxed{\\text{1, 2, 3 e 10}}$.", "correct"),
             (_item("Quantos números pintou"), "Pintou $\\boxed{3}$ números.", "correct"),
             (_item("De quantas formas"), "Só há $\\boxed{1}$ forma.", "correct"),
             (_item("Qual é o valor mínimo para N"), "$\\boxed{4}$", "correct"),
             (_item("Qual é o número mínimo de elevadores"), "São precisos $\\boxed{7}$ elevadores.", "correct")]
    problems = [Problem(id=f"t/{i}", split="t", index=i, variant="pt-PT", kind="open_ended", problem=item[0], solution=item[1])
                for i, (item, _a, _v) in enumerate(cases)]
    with Grader(workers=1, timeout_s=30) as grader:
        grades = grader.grade_many([(p, a) for p, (_i, a, _v) in zip(problems, cases, strict=True)])
    assert [x.verdict for x in grades] == [v for _i, _a, v in cases], [(x.verdict, x.reason) for x in grades]


# --- real MATH-PT items ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mathpt() -> dict[str, Problem]:
    if not MATHPT.is_dir():
        pytest.skip("../shared/mathpt is not present")
    from engine.dataset import load_problems

    return {p.id: p for p in load_problems(MATHPT, splits=["ptpt_open_ended", "ptbr_open_ended"])}


#: read by hand against the solution (benchmarks/gold-audit/seed-31415926.md): (id, gold, kind, rule)
REAL = [
    ("ptpt_open_ended/316", "7", "number", "bound-attained"),
    ("ptpt_open_ended/340", "10", "number", "bound-attained"),
    ("ptpt_open_ended/23", "19", "number", "bound-attained"),
    ("ptpt_open_ended/62", "5", "number", "bound-attained"),
    ("ptpt_open_ended/327", "16", "number", "bound-attained"),
    ("ptpt_open_ended/421", "2", "number", "bound-attained"),
    ("ptpt_open_ended/232", "1008", "number", "bound-attained"),
    ("ptpt_open_ended/375", "3", "number", "count-enumerated"),
    ("ptpt_open_ended/538", "33", "number", "count-enumerated"),  # was 975, the list's last member (audit seed 31415926, #47)
    ("ptpt_open_ended/280", "1", "number", "unique-count"),
    ("ptpt_open_ended/208", "2n-2", "expression", "claimed-answer"),
    ("ptbr_open_ended/14", "4", "number", "answer-phrase"),
    ("ptbr_open_ended/38", "92", "number", "answer-phrase"),
    ("ptpt_open_ended/285", "5", "number", "final-equation"),
    ("ptpt_open_ended/91", "1", "number", "math-value"),
    ("ptpt_open_ended/75", "\\pi(3-2\\sqrt{2})+1", "number", "conclusion"),
    ("ptpt_open_ended/457", "12; 25", "values", "values"),
    ("ptpt_open_ended/429", "13; 8", "values", "values"),
    ("ptpt_open_ended/126", "\\{1, 2, 3, 10\\}", "set", "set"),
    ("ptpt_open_ended/349", "33", "number", "final-equation"),
    ("ptpt_open_ended/355", "11", "number", "final-equation"),
    ("ptpt_open_ended/217", "5", "number", "math-value"),
    ("ptpt_open_ended/236", "2", "number", "final-equation"),
    ("ptpt_open_ended/433", "14\\sqrt 5", "number", "final-equation"),
    ("ptpt_open_ended/38", "4", "number", "conclusion"),
    ("ptpt_open_ended/426", "7", "number", "final-equation"),
    ("ptpt_open_ended/159", "12", "number", "echo"),
    ("ptpt_open_ended/342", "\\frac{\\sqrt{3}-1}{4}", "number", "math-value"),
]


@pytest.mark.parametrize("pid, gold, kind, rule", REAL)
def test_real_items(mathpt: dict[str, Problem], pid: str, gold: str, kind: str, rule: str) -> None:
    g = gold_answer(mathpt[pid])
    assert g.usable and (g.answer, g.kind, g.rule) == (gold, kind, rule), g


@pytest.mark.parametrize("pid", [
    "ptpt_open_ended/357",  # "Em cada um destes dois casos, só existe uma maneira ...": one case, not the count
    "ptpt_open_ended/326",  # "n <= 7" counts provas; the athletes asked are 35
    "ptpt_open_ended/409", "ptpt_open_ended/408",  # another problem's solution (flagged foreign)
    "ptpt_open_ended/6",  # a duplicated, scrambled solution: its "sim" was a fragment's
    "ptpt_open_ended/405",  # one value for "todas as possibilidades" without "o único": not a set gold
])
def test_real_items_refused(mathpt: dict[str, Problem], pid: str) -> None:
    assert not gold_answer(mathpt[pid]).usable


def test_real_flags(mathpt: dict[str, Problem]) -> None:
    assert "foreign" in gold_answer(mathpt["ptpt_open_ended/409"]).flags
    assert gold_answer(mathpt["ptpt_open_ended/6"]).answer is None  # was a wrong "sim"
    assert "further-resolution" in gold_answer(mathpt["ptpt_open_ended/285"]).reason


def test_real_golds_grade_their_own_answer(mathpt: dict[str, Problem]) -> None:
    items = [(mathpt[pid], gold_answer(mathpt[pid])) for pid, _g, _k, _r in REAL]
    with Grader(workers=1, timeout_s=30) as grader:
        grades = grader.grade_many([(p, f"Portanto, $\\boxed{{{g.answer}}}$.") for p, g in items])
    assert [x.verdict for x in grades] == ["correct"] * len(items), [(p.id, x.reason) for (p, _), x in zip(items, grades, strict=True) if x.verdict != "correct"]
