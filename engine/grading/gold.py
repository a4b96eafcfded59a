"""Gold answers of open-ended problems, read from the reference solution as a careful human would.

MATH-PT's open-ended items ship a worked ``solution`` and no separate final answer (the paper
graded them with an LLM judge). :func:`extract_gold` finds the final result in the solution and
says how sure it is and which rule found it, so that a person can audit every gold
(``quantarena dataset coverage DIR --audit N``).

How it reads an item:

1. **The question** (:mod:`engine.grading.question`): its parts ("(a) ... (b) ..."), and for each
   what is asked: a value, a count, all solutions (a set), a name, yes/no; proofs and
   constructions have nothing to compare and are left ungraded.
2. **The solution** (:mod:`engine.grading.solution_text`): cleaned of figure code and notes, cut
   into resolutions and sentences, and checked for noise (copied, duplicated, scrambled, or
   belonging to another problem).
3. **Candidates**: every value a sentence states — the result of an equation (``... = 12``), a
   number, a number in words ("quatro faces"), a list or a tuple for a set question, a name for
   "Quem ...?", a yes/no conclusion — scored by where it stands and what surrounds it:
   an explicit "a resposta é" / "Resposta:" (rule ``answer-phrase``); a concluding sentence
   ("Logo", "Portanto", "Assim", "Conclui-se", "No total", ...); the question's own words or
   object next to the value ("... estão hospedados 70 cães", ``$\\overline{BE}=8$``); a stating
   verb before it ("é", "mede", "igual a", ``=``); and against it: a hypothesis ("Se ...",
   "seria"), a dead end ("absurdo"), a value already in the problem, a range, an example,
   a sentence far from the end.
4. **The choice**: the best candidate, its confidence from its score and its lead over the best
   candidate with another value; resolutions that disagree lower it, noise flags demand a
   clear conclusion.

Confidences:

``given``   the problem carries its gold in ``answer`` (the built-in set);
``high``    an explicit answer phrase, or a concluding sentence that states the value clearly;
``medium``  one clear result, ahead of any other;
``low``     a guess (competing values, a noisy solution without a clear conclusion): reported,
            never used;
``none``    nothing to compare: a proof, a construction, no reference solution, a copied or
            foreign solution, no value found.

Only ``given``, ``high`` and ``medium`` golds grade (:attr:`GoldAnswer.usable`); otherwise the
answer is ``ungraded`` with the reason, never guessed. A multi-part problem has one
:class:`GoldPart` per part; it is usable when every gradable part has a usable gold.

Answer kinds (:attr:`GoldAnswer.kind`): ``number``, ``expression`` (``2^{2008}\\cdot 2008!``,
``\\frac{n^2}{2}-2``), ``set`` (``\\{2, 4, 5\\}``; tuples inside: ``\\{(3, 3)\\}``), ``tuple``,
``interval``, ``name`` ("Bernardo"), ``yes_no`` ("sim" / "não"), ``values`` (several values asked at
once, "Quantos lápis e quantas canetas ...?": ``21; 32``, in the solution's order, compared in any
order: the grader checks the values, not which name each belongs to).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

from engine.grading.latex_value import Number, evaluate, same_value
from engine.grading.normal_form import normal_forms
from engine.grading.number_words import find_number_words
from engine.grading.question import GRADABLE, Part, asking_sentences, content_words, plain, read_question, stem
from engine.grading.solution_text import MATH, Sentence, Solution, read_solution
from engine.problems import Problem

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


# --- patterns --------------------------------------------------------------------------------------

_STRONG = re.compile(
    r"\b(?:logo|portanto|assim|conclu[íi]mos|conclui-se|concluindo|em\s+conclus[ãa]o|deste\s+modo|desta\s+forma|"
    r"dessa\s+forma|desse\s+modo|por\s+conseguinte|consequentemente|finalmente|por\s+fim|no\s+total|ao\s+todo|"
    r"em\s+suma|em\s+resumo|em\s+qualquer\s+caso|pelo\s+que|donde|da[ií]|resposta|pedid[oa]s?|procurad[oa]s?|"
    r"pretendid[oa]s?|com\s+isso|dessa\s+maneira|desta\s+maneira|sendo\s+assim|por\s+isso|teremos,?\s+ent[ãa]o)\b",
    re.I,
)
_WEAK = re.compile(
    r"\b(?:ent[ãa]o|ou\s+seja|isto\s+[ée]|temos|obtemos|obt[ée]m-se|vem|resulta|fica|tem-se|h[áa]|existem|s[ãa]o|"
    r"seja|tal\s+que|sendo)\b",
    re.I,
)
_ANSWER_PHRASE = re.compile(
    r"\b(?:a\s+)?resposta(?:\s+(?:final|correta|correcta|pedida|procurada|pretendida|certa|ao\s+problema|à\s+quest[ãa]o))?"
    r"\s*(?:é|será|:|=)|\bResposta\s*:|\[\s*Resposta\s*:|\bR\s*:\s*(?=\$|\d)|\b(?:o\s+)?(?:valor|n[úu]mero|resultado)\s+"
    r"(?:pedido|procurado|pretendido)\s+(?:é|será)|\b(?:a\s+)?(?:soma|quantia|[áa]rea|probabilidade|dist[âa]ncia)\s+(?:pedida|procurada|pretendida)\s+(?:é|será)",
    re.I,
)
_HYPOTHESIS = re.compile(
    r"^\W*(?:se|caso|suponha(?:mos)?|supondo|admita(?:mos)?|imagine|consideremos\s+o\s+caso|no\s+caso|nesse\s+caso|neste\s+caso|"
    r"no\s+(?:primeiro|segundo|terceiro|quarto|[úu]ltimo|outro)\s+caso|em\s+cada\s+caso|para\s+(?:o\s+caso|cada)|quando)\b|"
    r"\b(?:seria|seriam|teria|teriam|fosse|fossem|estaria|estariam|haveria|poderia|poderiam|deveria|deveriam|"
    r"\w+(?:ariam|eriam|iriam))\b|\bse\s+(?:\w+\s+)?\w+(?:armos|ermos|irmos)\b",
    re.I,
)
_THIS_CASE = re.compile(r"\b(?:neste|nesse|naquele|no\s+primeiro|no\s+segundo|no\s+terceiro|em\s+cada)\s+caso\b|\bcada\s+um\s+d[eo]stes\s+(?:\w+\s+)?casos\b|\b\d+\s*[ºo]\s*caso\b|\bcaso\s+\d\b", re.I)
_JUSTIFY = re.compile(r"\b(?:pois|porque|j[áa]\s+que|uma\s+vez\s+que|visto\s+que|dado\s+que)\b", re.I)
_ROUNDING = re.compile(r"inteiro\s+mais\s+pr[óo]ximo|parte\s+inteira|arredond|maior\s+inteiro\s+(?:menor|que\s+n[ãa]o)", re.I)
_ANGLE_PROBLEM = re.compile(r"[âa]ngulo|amplitude|graus?\b|\\widehat|\\hat|\\angle|\\measuredangle|\^\s*\{?\\circ|°|º", re.I)
_PREMISE = re.compile(r"^\W*(?:como|uma\s+vez\s+que|dado\s+que|visto\s+que|j[áa]\s+que|sendo|porque|pois)\b[^,]*,", re.I)
_UNIQUE = re.compile(r"\b(?:[úu]nic[oa]s?|[úu]nicamente|s[óo]|apenas|somente|exclusivamente)\b", re.I)
#: "O único par de primos $(m,n)$ que cumpre ... é $(m,n)=(3,17)$", "a única solução é: ...": a stated unique answer
_UNIQUE_IS = re.compile(r"\b(?:o|a)\s+[úu]nic[oa]\b[^.;]*\b(?:é|ser[áa])\s*:?\s*$", re.I)
_DEAD_END = re.compile(r"\b(?:absurd[oa]|contradi[çc][ãa]o|imposs[íi]vel|n[ãa]o\s+(?:é|s[ãa]o)\s+poss[íi]ve(?:l|is))\b", re.I)
_EXAMPLE = re.compile(r"\bpor\s+exemplo\b|\bexemplifica|\bcomo\s+exemplo\b", re.I)
_AFTERWORD = re.compile(
    r"^\W*(?:de\s+fa(?:c)?to|com\s+efeito|note\s+que|observe\s+que|repare\s+que|veja\s+que|perceba\s+que|"
    r"podemos\s+verificar|pode-se\s+verificar|para\s+(?:mostrar|ver|verificar|confirmar|provar)|observe-se|observemos|"
    r"note-se|notemos|repare-se|verifica-se|verificamos|falta\s+(?:ver|mostrar|verificar)|resta\s+(?:ver|mostrar|verificar)|"
    r"vejamos\s+(?:agora\s+)?que|mostremos|como\s+curiosidade|nota\b|observa[çc][ãa]o|uma\s+(?:poss[íi]vel\s+)?"
    r"(?:configura[çc][ãa]o|distribui[çc][ãa]o|forma|maneira)|um\s+exemplo|por\s+exemplo|exemplo\b|tal\s+(?:é|pode\s+ser)\s+"
    r"(?:conseguido|obtido|feito)|(?:isso|isto)\s+(?:é|pode\s+ser)\s+(?:conseguido|obtido|feito)|a\s+figura|na\s+figura)",
    re.I,
)
_STATES = re.compile(
    r"(?:\bé|\bs[ãa]o|\bser[áa]|\bser[ãa]o|\bfoi|\bforam|\bmede|\bmedem|\bvale|\bvalem|\bigual\s+a|\biguais\s+a|\bde|\bem|"
    r"=|\bh[áa]|\bexiste|\bexistem|\btotal\s+de|\btem|\bt[êe]m|\bter[áa]|\bter[ãa]o|\bobteve|\bobt[ée]m|\bcusta|\bcustou|"
    r"\bpagou|\brecebe|\brecebeu|\bd[áa]|\bdeu|\bfica|\bficou|\bficam|\bcom|\bpara|\bpor|\bpossui|\bcont[ée]m|\bresta|"
    r"\brestam|\bsobram|\bsobra|\bvai|\bv[ãa]o|\bpesa|\bdura|\bdemora|\bpercorre|\bpercorreu|\bfaz|\bfez|\btinha|\btinham|"
    r"\bprecisa|\bprecisaria|\bnecess[áa]ri[oa]s?|\bm[áa]ximo|\bm[íi]nimo|\bexatamente|\bexactamente|\bapenas|\bs[óo]|"
    r"\bsomente|\bcerca\s+de|\bou\s+seja,?|\bisto\s+é,?|\bpois|\bdar)\s*(?:a\s+|o\s+|os\s+|as\s+|um\s+|uma\s+)?$",
    re.I,
)
_RANGE_BEFORE = re.compile(r"\b(?:de|entre|desde)\s*$", re.I)
_APPROX = re.compile(r"(?:\baproximadamente|\bcerca\s+de|\bquase|\\approx|≈)\s*$", re.I)
_BOUND_BEFORE = re.compile(
    r"\b(?:no\s+m[áa]ximo|no\s+m[íi]nimo|pelo\s+menos|quando\s+muito|at[ée]|mais\s+de|menos\s+de|mais\s+do\s+que|menos\s+do\s+que|"
    r"inferior\s+a|superior\s+a|maior\s+(?:ou\s+igual\s+)?(?:que|do\s+que|a)|menor\s+(?:ou\s+igual\s+)?(?:que|do\s+que|a)|n[ãa]o\s+(?:mais|menos))\s*$",
    re.I,
)
_RELATION_SPLIT = re.compile(
    r"(\\Leftrightarrow|\\iff|\\implies|\\Longrightarrow|\\Rightarrow|\\Longleftrightarrow|\\to\b|\\approx|\\simeq|\\neq|\\ne\b|"
    r"\\leqslant|\\geqslant|\\leq|\\geq|\\le\b|\\ge\b|<|>|≤|≥|=|\\equiv|\\in\b|\\subset|\\notin)"
)
_BARE_NUMBER = re.compile(r"(?<![\w\\^_{.,])-?\d+(?:[.,]\d+)*(?![\w])(?![.,]\d)")
_UNIT_ONLY = re.compile(
    r"^\s*(?:\^\s*\{?\s*(?:2|3|\\circ|o)\s*\}?|\\%|%|\\circ|\\text\{\s*[a-zA-Z]*\s*\}\s*(?:\^\s*\{?[23]\}?)?|"
    r"\\mbox\{\s*[a-zA-Z ]*\s*\}\s*(?:\^\s*\{?[23]\}?)?|[a-zA-Z]{1,3}(?:\^\s*\{?[23]\}?)?|\\,\s*(?:cm|m|km|dm|mm)(?:\^\s*\{?[23]\}?)?|"
    r"\\(?:rm|mbox)\s*\{?\s*[a-z]+\s*\}?)\s*$"
)
_LIST_JOIN = re.compile(r"^\s*(?:,|;|e|ou|,\s*e|,\s*ou|\\text\{\s*e\s*\}|\\mbox\{\s*e\s*\})\s*$", re.I)
_RESPECTIVELY = re.compile(r"\brespe(?:c)?tivamente\b", re.I)
_NEG = re.compile(
    r"\bn[ãa]o\b|\bnenhum[a]?\b|\bimposs[íi]vel\b|\bnunca\b|\bjamais\b|\bnem\b", re.I
)
_NAME_WORD = re.compile(r"(?<![\w$\\])([A-ZÁÉÍÓÚÂÊÔÃÕÇ][a-záéíóúâêôãõçà]+(?:\s+(?:de|da|do|dos|das)\s+[A-ZÁÉÍÓÚ][a-záéíóúâêôãõç]+)?)")


def rel_last_is_value(body: str) -> bool:
    """Whether the part after a math segment's last relation is free of ellipses and braces."""
    last = _RELATION_SPLIT.split(body)[-1]
    return not re.search(r"\\(?:underbrace|overbrace|underset|overset|cdots|ldots|dots|vdots)\b", last)


def _items_math(body: str) -> tuple[str | None, str | None, str | None, bool]:
    """(result, lhs, relation, computed) of a math segment: the part after its last relation,
    the part just before it, the relation, and whether there was a computation before it."""
    body = re.sub(r"\\(?:quad|qquad)\b.*$", "", body.strip(), flags=re.S).strip().rstrip(".,;: ")
    body = re.sub(r"^\\(?:displaystyle|ds)\b", "", body).strip()
    body = re.sub(r"^\{\s*\\ds\b(.*)\}$", r"\1", body).strip()
    pieces = _RELATION_SPLIT.split(body)
    if len(pieces) == 1:
        return body, None, None, False
    result = pieces[-1].strip()
    rel = pieces[-2]
    lhs = pieces[-3].strip()
    if rel in (r"\approx", r"\simeq") and len(pieces) >= 5 and pieces[-4] == "=":
        result, rel, lhs = pieces[-3].strip(), "=", pieces[-5].strip()
    computed = len(pieces) > 3 or bool(re.search(r"[-+*/^:!]|\\times|\\cdot|\\frac|\\sqrt|\\binom|\\div", lhs))
    if len(pieces) > 3 and all(p in ("=",) for p in pieces[1::2]):
        lhs = pieces[0].strip() + "\x00" + lhs  # the chain's first member names what is computed
    return result, lhs, rel, computed


# --- candidates ------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """A value a sentence states, with the features that score it."""

    text: str  # the answer as written (normal form for values)
    value: object  # Fraction/float for numbers, a key for other kinds
    kind: str
    sentence: Sentence
    start: int
    end: int
    score: float = 0.0
    notes: list[str] = field(default_factory=list)
    rule: str = "last-value"
    explicit: bool = False


def _number_of(text: str) -> tuple[str, Number] | None:
    for form in normal_forms(text):
        v = evaluate(form)
        if v is not None:
            return form, v
    return None


_VARS = re.compile(r"(?<![\\a-zA-Z])([a-zA-Z])(?![a-zA-Z])")


def _expression_of(text: str, problem_vars: set[str]) -> str | None:
    """A non-numeric expression worth comparing (``2^{2008}\\cdot 2008!``, ``\\frac{n^2}{2}-2``)."""
    forms = normal_forms(text)
    if not forms:
        return None
    f = forms[0]
    if len(f) > 80 or re.search(r"\\(?:text|mbox|ldots|dots|cdots|underbrace|overline|widehat|hat|angle|begin|cases)|[{}]\s*$|,|;", f):
        return None
    if not re.search(r"\d", f):
        return None
    if not re.fullmatch(r"[0-9a-zA-Z\s+\-*/^!(){}\[\]\\.]+", f):
        return None
    cmds = set(re.findall(r"\\[a-zA-Z]+", f))
    if cmds - {r"\frac", r"\sqrt", r"\cdot", r"\times", r"\pi", r"\binom", r"\left", r"\right", r"\log", r"\ln", r"\sin", r"\cos", r"\tan"}:
        return None
    letters = set(_VARS.findall(re.sub(r"\\[a-zA-Z]+", " ", f)))
    if letters - problem_vars:
        return None
    return f


def _tuple_of(text: str) -> tuple[str, tuple[object, ...]] | None:
    """A tuple of values: ``(3,3)``, ``(1, 3, 8)``."""
    forms = normal_forms(text)
    if not forms:
        return None
    m = re.fullmatch(r"\s*\(\s*(.+?)\s*\)\s*", forms[0])
    if not m:
        return None
    elems = [e.strip() for e in re.split(r"\s*[,;]\s*", m.group(1))]
    if len(elems) < 2:
        return None
    vals = []
    for e in elems:
        v = evaluate(e)
        if v is None:
            return None
        vals.append(v)
    return "(" + ", ".join(elems) + ")", tuple(vals)


def _key(v: object) -> object:
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, tuple):
        return tuple(_key(x) for x in v)
    return v


@dataclass
class _Context:
    part: Part
    problem_numbers: list[Fraction]
    problem_vars: set[str]
    names: list[str]
    options: list[str]  # words offered in the problem ("norte, sul, este, ...")
    angles: bool = False  # the problem is about angles (a degree mark is a unit, not an ordinal)
    question_values: list[Fraction] = field(default_factory=list)  # numbers in the asking sentence
    rounding: bool = False  # an integer part / a rounded value is asked


def _problem_numbers(problem: str) -> list[Fraction]:
    vals: list[Fraction] = []
    for m in re.finditer(r"\d+(?:[.,]\d+)?", problem):
        v = evaluate(m.group(0).replace(",", "."))
        if isinstance(v, Fraction):
            vals.append(v)
    for w in find_number_words(problem):
        vals.append(w.value)
    return vals


def _question_values(part: Part) -> list[Fraction]:
    """Numbers the asking sentence itself gives (outside math, or a math segment that is only a number)."""
    text = " ".join(asking_sentences(part.text.split("Conteúdo referenciado:")[0]))[-300:]
    text = MATH.sub(lambda m: m.group(0) if re.fullmatch(r"\$\s*\d+\s*\$", m.group(0)) else " ", text)
    return _problem_numbers(text.replace("$", " "))


def _in_problem(v: object, ctx: _Context) -> bool:
    if isinstance(v, (Fraction, float)):
        return any(same_value(v, p) for p in ctx.problem_numbers)
    return False


_NOT_NAMES = set("""quem qual quais quanto quantos quantas sabendo considera considere seja sejam determina determine mostra mostre
calcula calcule na no num numa nas nos o a os as um uma se em para como depois entretanto cada este esta estes estas esse essa
no ao aos de do da dos das por pelo pela que quando onde então entao logo assim portanto há ha existe existem sendo dado dados
durante certo certa hoje ontem amanhã inicialmente finalmente prova indica encontra escreve diz dê complete completa""".split())


def _problem_names(problem: str) -> list[str]:
    """Capitalized words of the problem that are names (not a function word opening a sentence)."""
    text = re.sub(MATH, " ", problem.split("Conteúdo referenciado:")[0])
    out: dict[str, None] = {}
    for m in _NAME_WORD.finditer(text):
        w = m.group(1)
        if plain(w) in _NOT_NAMES or plain(w.split()[0]) in _NOT_NAMES or len(w) < 3:
            continue
        out[w] = None
    return list(out)


_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")


def _problem_options(problem: str) -> list[str]:
    """Words listed in the problem as choices: "norte, sul, este, oeste, nordeste, ..."; the days of
    the week when a day of the week is asked."""
    text = re.sub(MATH, " ", problem.split("Conteúdo referenciado:")[0])
    out: list[str] = []
    if re.search(r"\bdia\s+da\s+semana\b", text, re.I):
        out += list(_WEEKDAYS)
    for m in re.finditer(r"((?:[a-záéíóúâêôãõç]+,\s+){2,}[a-záéíóúâêôãõç]+\s+(?:e|ou)\s+[a-záéíóúâêôãõç]+)", text):
        out += [w for w in re.split(r",\s+|\s+(?:e|ou)\s+", m.group(1)) if w]
    return out


def _value_candidates(sent: Sentence, ctx: _Context) -> list[Candidate]:
    """Numbers, equation results, number words and expressions stated by one sentence."""
    s = sent.text
    out: list[Candidate] = []
    spans: list[tuple[int, int]] = []
    for m in MATH.finditer(s):
        body = next(g for g in m.groups() if g is not None)
        spans.append((m.start(), m.end()))
        if _UNIT_ONLY.match(body):
            continue
        if re.search(r"\\(?:underbrace|overbrace|underset|overset|cdots|ldots|dots|vdots)\b", body) and rel_last_is_value(body) is False:
            continue  # "$5\underbrace{9\cdots 9}_{8}$": not a value to compare
        result, lhs, rel, computed = _items_math(body)
        if result is None or not result:
            continue
        if rel in ("<", ">", "≤", "≥", r"\le", r"\ge", r"\leq", r"\geq", r"\leqslant", r"\geqslant"):
            got = _number_of(result)
            if got is not None:
                c = Candidate(got[0], got[1], "number", sent, m.start(), m.end(), rule="bound")
                c.notes.append("bound")
                c.notes.append("lhs:" + (lhs or ""))
                out.append(c)
            continue
        if rel in (r"\neq", r"\ne", r"\to", r"\Rightarrow", r"\implies", r"\Longrightarrow", r"\in", r"\subset", r"\notin", r"\equiv"):
            continue
        if not ctx.angles and re.search(r"\^\s*\{?\s*(?:\\circ|o|\\underline\s*\{?\s*[oa])\s*\}?\s*$|[ºª°]\s*$", result) \
                and not _near_echo(s, m.end(), ctx):
            continue  # "$1^\circ$ salto": an ordinal, not a value (unless it is what is asked: "o $20^\circ$ andar")
        if rel == "=" and lhs and _POLY_ZERO.fullmatch(result.strip()) and _POLYNOMIAL.search(lhs.split("\x00")[-1]):
            continue  # "$x^3+18=0$": a polynomial equation, not the value 0
        got = _number_of(result)
        kind = "number"
        text_value: tuple[str, object] | None = got
        if got is None:
            tup = _tuple_of(result)
            if tup is not None:
                text_value, kind = tup, "tuple"
            else:
                expr = _expression_of(result, ctx.problem_vars)
                if expr is not None:
                    text_value, kind = (expr, expr), "expression"
        if text_value is None:
            continue
        c = Candidate(text_value[0], text_value[1], kind, sent, m.start(), m.end(),
                      rule="final-equation" if rel == "=" else "math-value")
        if rel == "=":
            c.notes.append("equation")
            if computed:
                c.notes.append("computed")
            c.notes.append("lhs:" + (lhs or ""))
        # a unit written as its own math segment right after ("49$\;\mbox{cm}^2$")
        out.append(c)
    # bare numbers and number words outside math
    def outside(a: int, b: int) -> bool:
        return not any(x <= a < y or x < b <= y for x, y in spans)

    for m in _BARE_NUMBER.finditer(s):
        if not outside(m.start(), m.end()):
            continue
        after = s[m.end() : m.end() + 12]
        if re.match(r"\s*(?:º|ª|°\s*(?:ano|lugar)|[ºª]|\.?\s*[ºª])", after) or re.match(r"\s*(?:mil\b|milh|bili)", after, re.I):
            if not re.match(r"\s*(?:mil\b|milh)", after, re.I):
                continue
        got = _number_of(m.group(0))
        if got is None:
            continue
        if re.match(r"\s*mil\b", after, re.I):
            got = (str(got[1] * 1000) if isinstance(got[1], Fraction) else got[0], got[1] * 1000)
        out.append(Candidate(got[0], got[1], "number", sent, m.start(), m.end()))
    for w in find_number_words(s):
        if not outside(w.start, w.end):
            continue
        pw = plain(w.text)
        before = s[max(0, w.start - 30) : w.start]
        after = s[w.end : w.end + 25]
        if pw in ("um", "uma"):
            # "um único livro", "há uma componente com meia carga": a count only when clearly meant
            clear = re.match(r"\s+(?:[úu]nic[oa]|s[óo])\b", after, re.I) or re.search(r"\b(?:apenas|s[óo]|somente|exatamente|exactamente)\s+$", before, re.I)
            counted = ctx.part.asks == "count" and re.search(r"\b(?:h[áa]|existe|tem|t[êe]m|é|foi)\s+$", before, re.I) and _near_echo(s, w.end, ctx)
            if not clear and not counted:
                continue
        if pw == "metade" or pw.startswith("meio") or pw == "meia":
            continue
        c = Candidate(str(w.value) if w.value.denominator == 1 else f"\\frac{{{w.value.numerator}}}{{{w.value.denominator}}}",
                      w.value, "number", sent, w.start, w.end, rule="number-words")
        c.notes.append("words")
        if re.search(r"\b(?:est[ea]s|ess[ea]s|aquel[ea]s|os|as|dos|das|nos|nas|aos|às|pelos|pelas|cada)\s+$", before, re.I):
            c.notes.append("determiner")  # "trocando estes dois elementos": names things, states no count
        out.append(c)
    out.sort(key=lambda c: c.start)
    return out


_POLY_ZERO = re.compile(r"0")
_POLYNOMIAL = re.compile(r"[a-zA-Z]\s*\^\s*\{?\s*\d|\d\s*[a-zA-Z]\b|[a-zA-Z]\s*[-+]\s*\d")


def _near_echo(s: str, end: int, ctx: _Context) -> int:
    """How many of the question's words follow the value closely ("70 cães", "$600$ vezes o algarismo")."""
    after = re.sub(MATH, " ", s[end : end + 80])
    raw = re.findall(r"[^\W\d_]+", after)
    words = [stem(w) for w in raw[:4]]
    kw = set(ctx.part.keywords)
    if raw and plain(raw[0]) in ("e", "sao", "foi", "sera") and len(raw) > 1:
        # "$6$ é o número mínimo de pontos de água": the value, then what it is
        tail = [stem(w) for w in raw[1:8]]
        hits = sum(1 for w in tail if w in kw)
        return hits if hits >= 1 and plain(raw[1]) in ("o", "a", "os", "as") else 0
    if not words or words[0] not in kw and (len(words) < 2 or words[1] not in kw):
        return 0
    return sum(1 for w in words if w in kw)


def _object_key(s: str) -> str:
    """A math object without notation: ``A\\widehat{B}C`` and ``\\measuredangle ABC`` -> ``ABC``."""
    s = re.sub(r"\\(?:displaystyle|ds|mbox|text|rm|overline|widehat|hat|angle|measuredangle|overrightarrow|vec|left|right|;|,|!)", "", s)
    s = re.sub(r"\\[a-zA-Z]+", lambda m: m.group(0), s)
    return re.sub(r"[\s{}]", "", s).strip(".,;:")


def _lhs_is_object(lhs: str, ctx: _Context) -> bool:
    if not lhs:
        return False
    for piece in lhs.split("\x00"):
        n = _object_key(piece)
        for obj in ctx.part.objects:
            o = _object_key(obj)
            if o and (n == o or (len(o) >= 2 and n.endswith(o) and not n[: -len(o)].rstrip().endswith(("+", "-")))):
                return True
    return False


def _score(c: Candidate, cands: list[Candidate], ctx: _Context, pos: int, asks: str) -> None:
    s = c.sentence.text
    before = re.sub(r"\s+", " ", s[max(0, c.start - 40) : c.start])
    sc = 0.0
    notes = c.notes
    near = _near_echo(s, c.end, ctx)
    # where the sentence stands
    sc -= min(8.0, 2.2 * pos)
    phrases = list(_ANSWER_PHRASE.finditer(s[max(0, c.start - 45) : c.start]))
    ap = phrases[-1] if phrases else None
    if ap is not None and not re.search(r"[.;]\s*$", before) and not re.search(
            r"\d|\bmais\b|\bmenos\b|\bsoma\b", re.sub(MATH, " ", s[max(0, c.start - 45) + ap.end() : c.start])):
        sc += 5.0
        c.explicit = True
        c.rule = "answer-phrase"
    if _STRONG.search(s):
        sc += 2.0
        notes.append("conclusion")
        if c.rule in ("last-value", "math-value"):
            c.rule = "conclusion"
    elif _WEAK.search(s):
        sc += 0.6
    kw = set(ctx.part.keywords)
    echo = len(kw & set(content_words(s)))
    sc += 0.7 * min(echo, 3)
    if near:
        sc += 1.0 + 0.5 * min(near, 3)
        notes.append("echo")
        if c.rule in ("last-value", "conclusion"):
            c.rule = "echo"
    lhs = next((n[4:] for n in notes if n.startswith("lhs:")), "")
    if lhs and _lhs_is_object(lhs, ctx):
        sc += 3.0
        notes.append("object")
        c.rule = "object-equation" if not c.explicit else c.rule
    if _STATES.search(before) or "equation" in notes:
        sc += 1.0
    same = [o for o in cands if o.sentence is c.sentence]
    depth = s[: c.start].count("(") - s[: c.start].count(")")
    in_paren = depth > 0 and not (near and ")" not in s[c.end : c.end + 4])
    just_m = _JUSTIFY.search(s)
    asides = [(m.start(), m.end()) for m in re.finditer(r",\s*(?:que|cujo|cuja|cujos|cujas|onde)\b[^,]*,", s)]
    outer = [o for o in same if (s[: o.start].count("(") - s[: o.start].count(")")) <= 0 and o.start >= c.end
             and not (_in_problem(o.value, ctx) and o.kind == "number" and "equation" not in o.notes)
             and not (just_m and o.start > just_m.end() and c.start < just_m.start())
             and not any(a <= o.start < b for a, b in asides)]
    if not in_paren and not outer:
        sc += 1.5
        notes.append("last")
        if pos == 0:
            sc += 1.0  # the last value of the last sentence
            if (_WEAK.search(s) or _STRONG.search(s)) and not _HYPOTHESIS.search(s) and not _THIS_CASE.search(s):
                notes.append("final")
            elif "computed" in notes and c.kind in ("number", "expression") and not _HYPOTHESIS.search(s) \
                    and not _THIS_CASE.search(s) and not in_paren:
                notes.append("final")  # the solution ends computing it: "... = 100 + 97 = 197."
    if asks == "count" and re.search(r"\b(?:n[úu]mero|total|quantidade)\s+(?:total\s+)?de\s+[^\W\d]+(?:\s+[^\W\d]+){0,3}\s+(?:é|será|s[ãa]o|foi)\s*$",
                                     re.sub(MATH, " ", before), re.I):
        notes.append("subject")  # "o número de soluções é 8"
        sc += 0.5
    kw_before = set(ctx.part.keywords) & set(content_words(s[: c.start]))
    obj_before = any(_lhs_is_object(next(g for g in m.groups() if g is not None), ctx) for m in MATH.finditer(s[: c.start]))
    if (len(kw_before) >= 2 or (kw_before and len(ctx.part.keywords) <= 3) or obj_before) and (_STATES.search(before) or "equation" in notes):
        notes.append("subject")
        sc += 0.5
    elif same:
        # values after it in the sentence: a parenthetical detail or another result
        later = [o for o in same if o.start > c.start]
        if later and not all(_in_problem(o.value, ctx) for o in later):
            sc -= 1.2
    if "equation" in notes:
        sc += 0.4
    if re.search(r"\b(?:mais|menos|vezes|multiplicad[oa]\s+por|dividid[oa]\s+por|somad[oa]\s+(?:a|com))\s*$", before, re.I):
        sc -= 3.0  # "... mais $100$": an operand, not a result
        notes.append("operand")
    if re.search(r"\b(?:d?o|ao|pelo|n?o)\s+n[úu]mero\s*$", before, re.I) and any(o.start > c.end for o in same):
        sc -= 1.5  # "o algarismo das centenas do número 1140 e é igual a 1": an entity named, not the result
        notes.append("named-entity")
    if ctx.question_values and any(same_value(c.value, v) for v in ctx.question_values if isinstance(c.value, (Fraction, float))) \
            and "computed" not in notes and not c.explicit:
        sc -= 3.0  # the question's own datum ("a pessoa que disse o número 7")
        notes.append("question-datum")
    lhs_var = next((n[4:] for n in notes if n.startswith("lhs:")), "")
    if asks == "count" and re.fullmatch(r"\s*[A-Za-z]\s*", lhs_var.split("\x00")[-1] or "") and "object" not in notes and "echo" not in notes:
        sc -= 2.0  # "N=688" answers "Quantos números ...?" only when it says how many
        notes.append("assigns-variable")
    if lhs_var and any(_object_key(lhs_var.split("\x00")[0]) == _object_key(a) for a in ctx.part.about) and "object" not in notes:
        sc -= 3.0  # "$N = 23569$" when the sum of the digits of N is asked
        notes.append("about")
    compound = [o for o in ctx.part.objects if re.search(r"[-+*/]|\\cdot|\\times", o) and len(o) <= 20]
    if compound and lhs_var and "object" not in notes and any(
            re.fullmatch(r"\s*" + re.escape(v) + r"\s*", lhs_var.split("\x00")[-1]) for o in compound for v in re.findall(r"[a-zA-Z]", o)):
        sc -= 3.0  # "$n = 901$" when $m + n$ is asked
        notes.append("component")
    if asks == "count" and re.match(r"\s*\$?\s*(?:é|foi)\s+(?:a|o)\s+[úu]nic", s[c.end : c.end + 20]):
        sc -= 4.0  # "535 é a única capicua ...": the count is 1, not 535
        notes.append("the-only-one")
    in_problem = _in_problem(c.value, ctx) and "object" not in notes and not c.explicit
    if in_paren:
        sc -= 0.0 if "echo" in notes else 2.0
        notes.append("parenthesis")
    if _THIS_CASE.search(s):
        sc -= 2.0
        notes.append("one-case")
    for rel_clause in re.finditer(r",\s*(?:que|cujo|cuja|cujos|cujas|onde)\b[^,]*(,|$)", s):
        closed = bool(rel_clause.group(1))
        states_it = not closed and re.match(r",\s*que\s+(?:é|s[ãa]o|vale|valem|será)\s*\$?[^,$]*\$?\s*\.?$", s[rel_clause.start() :])
        if rel_clause.start() < c.start < rel_clause.end() and not states_it and (closed or any(o.start < rel_clause.start() for o in same)):
            sc -= 1.5
            notes.append("relative-clause")
    just = _JUSTIFY.search(s)
    if just and c.start > just.end() and any(o.start < just.start() for o in same):
        sc -= 1.5
        notes.append("justification")
    if (re.match(r"\s*(?:\.\.\.|\\ldots|\\dots|…)", s[c.end : c.end + 6]) or re.search(r"(?:\.\.\.?|\\ldots|\\dots)\s*\$?$", s[c.start : c.end])) \
            and not ctx.rounding:
        sc -= 2.0
        notes.append("approximation")
    prem = _PREMISE.match(s)
    if prem and c.end <= prem.end():
        sc -= 1.5
        notes.append("premise")
    hyp = _HYPOTHESIS.search(s)
    if hyp:
        starts = hyp.start() < 3 or bool(re.match(r"^\W*(?:se|caso|suponha|supondo|admita|imagine|no\s+caso|nesse\s+caso|neste\s+caso|quando)\b", s, re.I))
        concl = bool(re.search(r"\bconclu|\bportanto\b|\blogo\b", s, re.I))
        sc -= 2.5 if starts else (0.5 if concl else 1.2)
        notes.append("hypothesis")
    if _DEAD_END.search(s) and asks != "yes_no":
        sc -= 3.0
    if _EXAMPLE.search(s):
        sc -= 1.5
    if (re.search(r"\b(?:de|entre|desde)\s+(?:as|os|a|o)?\s*$", before) and re.match(r"\s*(?:a|e|até|ao|à|às)\s", s[c.end : c.end + 6])) or \
            re.search(r"\b(?:de|entre|desde)\s+(?:as|os|a|o)?\s*\$?[\d.,]+\$?\s*(?:\w+\s+)?(?:a|e|até|ao|à|às)\s+(?:as|os|a|o)?\s*$", before):
        sc -= 2.5
        notes.append("range")
    if _APPROX.search(before):
        sc -= 1.0
    bound = "bound" in notes or bool(_BOUND_BEFORE.search(before))
    if bound:
        if ctx.part.extremum:
            sc += 0.3
            c.rule = "bound"
            notes.append("bound")
            words = re.search(r"\b(no\s+m[áa]ximo|quando\s+muito|no\s+m[íi]nimo|pelo\s+menos)\s*$", before, re.I)
            if words and "conclusion" in notes and \
                    (ctx.part.extremum == "max") == bool(re.search(r"m[áa]ximo|muito", words.group(1), re.I)):
                notes.append("bound-words")  # "poderá levantar no máximo 40", asked the maximum
        else:
            sc -= 3.0
    if asks == "count" and not (isinstance(c.value, Fraction) and c.value.denominator == 1 and c.value >= 0):
        sc -= 4.0
    if "determiner" in notes:
        sc -= 3.0
    if c.kind == "expression" and re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", " ", c.text)):
        sc -= 1.0  # a formula in the problem's variables: only when it is clearly the stated result
        if not (c.explicit or "object" in notes or ("conclusion" in notes and re.search(r"(?:\bé|\bs[ãa]o|\bigual\s+a|=)\s*$", before))):
            sc -= 3.0
    # a member of a list of values ("2, 4 e 5") answers a set question, not a value question
    idx = same.index(c) if c in same else -1
    if idx >= 0 and asks not in ("set",):
        neighbours = []
        if idx > 0:
            neighbours.append(s[same[idx - 1].end : c.start])
        if idx + 1 < len(same):
            neighbours.append(s[c.end : same[idx + 1].start])
        if any(_LIST_JOIN.match(re.sub(MATH, " ", g) if "$" in g else g) for g in neighbours) and not _RESPECTIVELY.search(s):
            sc -= 2.0
            notes.append("list")
    if in_problem:
        sc -= 0.6 if ("computed" in notes or "subject" in notes or "echo" in notes) else 1.6
        notes.append("in-problem")
    prem_end = prem.end() if prem else -1
    if "echo" in notes and asks in ("count", "value") and c.start > prem_end and any(
            o is not c and o.kind == "number" and _key(o.value) != _key(c.value) and _near_echo(s, o.end, ctx) and not _in_problem(o.value, ctx)
            and o.start > prem_end for o in same):
        sc -= 1.5  # "uma componente com meia carga e 2009 componentes com carga vazia": which one?
        notes.append("two-counts")
    c.score = sc


def _assignment_tuples(sent: Sentence, values: list[Candidate], variables: tuple[str, ...]) -> list[Candidate]:
    """"$m=80$ e $n=8$": consecutive assignments to the question's variables, as one tuple."""
    if len(variables) < 2 or "?" in variables:
        return []
    s = sent.text
    out: list[Candidate] = []
    run: list[tuple[str, Candidate]] = []

    def flush() -> None:
        got = dict(run)
        if set(got) == set(variables) and len(run) == len(variables):
            elems = [got[v] for v in variables]
            c = Candidate("(" + ", ".join(e.text for e in elems) + ")", tuple(_key(e.value) for e in elems), "tuple", sent,
                          elems[0].start if run[0][1] is elems[0] else run[0][1].start, run[-1][1].end, rule="assignments")
            c.notes += ["equation", "assignments"]
            out.append(c)

    for c in values:
        lhs = next((n[4:] for n in c.notes if n.startswith("lhs:")), "")
        var = lhs.strip() if re.fullmatch(r"\s*[a-zA-Z]\s*", lhs or "") else None
        if c.kind == "number" and var in variables and (not run or _LIST_JOIN.match(s[run[-1][1].end : c.start])) \
                and var not in dict(run):
            run.append((var, c))
            continue
        flush()
        run = [(var, c)] if (c.kind == "number" and var in variables) else []
    flush()
    return out


def _different_variables(a: Candidate, b: Candidate) -> bool:
    """"$a=1$ e $b=8$": values of two different unknowns (one solution), not two solutions."""
    la = next((n[4:] for n in a.notes if n.startswith("lhs:")), "").split("\x00")[-1].strip()
    lb = next((n[4:] for n in b.notes if n.startswith("lhs:")), "").split("\x00")[-1].strip()
    var = r"[A-Za-z](?:_\{?\w+\}?)?"
    return bool(re.fullmatch(var, la) and re.fullmatch(var, lb) and la != lb)


def _list_candidates(sent: Sentence, values: list[Candidate], tuples_only: bool = False) -> list[Candidate]:
    """Lists of values joined by ", " / " e " / " ou " in one sentence: a set answer."""
    s = sent.text
    out: list[Candidate] = []
    run: list[Candidate] = []
    allowed = ("tuple",) if tuples_only else ("number", "tuple")
    for c in values:
        if c.kind not in allowed or "bound" in c.notes:
            if len(run) >= 2:
                out.append(_as_set(run, sent))
            run = []
            continue
        if run and _LIST_JOIN.match(s[run[-1].end : c.start]) and not _different_variables(run[-1], c):
            run.append(c)
        else:
            if len(run) >= 2:
                out.append(_as_set(run, sent))
            run = [c]
    if len(run) >= 2:
        out.append(_as_set(run, sent))
    # a list inside one math segment: "$d=1,2,5,10$", "$\{2,4,5\}$"
    for m in MATH.finditer(s):
        body = next(g for g in m.groups() if g is not None)
        result, _lhs, rel, _c = _items_math(body)
        if result is None or rel not in (None, "="):
            continue
        inner = re.sub(r"^\\\{\s*|\s*\\\}$", "", result.strip())
        if r"\ldots" in inner or r"\dots" in inner:
            continue
        parts = _top_level_split(inner)
        if len(parts) >= 2 and all(_tuple_of(p) is not None for p in parts):
            tuples = [_tuple_of(p) for p in parts]
            text = "\\{" + ", ".join(t[0] for t in tuples if t) + "\\}"
            out.append(Candidate(text, frozenset(_key(t[1]) for t in tuples if t), "set", sent, m.start(), m.end(), rule="set"))
            continue
        elems = [e for e in re.split(r"\s*(?:,|;|\\text\{\s*e\s*\}|\\mbox\{\s*e\s*\})\s*", inner) if e.strip()]
        if not tuples_only and len(elems) >= 2 and all(evaluate(f) is not None for e in elems for f in normal_forms(e)[:1]):
            vals = [evaluate(normal_forms(e)[0]) for e in elems]
            text = "\\{" + ", ".join(normal_forms(e)[0] for e in elems) + "\\}"
            out.append(Candidate(text, frozenset(_key(v) for v in vals), "set", sent, m.start(), m.end(), rule="set"))
    return _merge_adjacent_sets(s, out + [v for v in values if v.kind in allowed and "bound" not in v.notes], sent)


def _merge_adjacent_sets(s: str, sets: list[Candidate], sent: Sentence) -> list[Candidate]:
    """Lists that continue one another ("$$(1,2), (3,4),$$ $$(5,6)$$", "$350, 351$ e $352$") are one list."""
    ordered = sorted(sets, key=lambda c: c.start)
    merged: list[Candidate] = []
    for c in ordered:
        prev = merged[-1] if merged else None
        if prev is not None and prev.kind == "set" and prev.end <= c.start and re.fullmatch(r"[\s,;]*(?:e|ou)?[\s,;]*", s[prev.end : c.start]):
            inner = prev.text[2:-2] + ", " + (c.text[2:-2] if c.kind == "set" else c.text)
            value = prev.value | (c.value if c.kind == "set" else frozenset([_key(c.value)]))  # type: ignore[operator]
            merged[-1] = Candidate("\\{" + inner + "\\}", value, "set", sent, prev.start, c.end, rule="set")
        elif c.kind == "set":
            merged.append(c)
    return merged


def _top_level_split(s: str) -> list[str]:
    """``(1,2), (3,4)`` -> ["(1,2)", "(3,4)"]: commas and semicolons outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ",;" and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _as_set(run: list[Candidate], sent: Sentence) -> Candidate:
    text = "\\{" + ", ".join(c.text for c in run) + "\\}"
    c = Candidate(text, frozenset(_key(c.value) for c in run), "set", sent, run[0].start, run[-1].end, rule="set")
    c.notes += [n for n in run[-1].notes if n.startswith("lhs:")]
    return c


def _singleton_set(c: Candidate) -> Candidate:
    """A single value answering a set question (the only solution)."""
    text = "\\{" + c.text + "\\}"
    out = replace(c, text=text, value=frozenset([_key(c.value)]), kind="set", notes=list(c.notes))
    out.rule = c.rule
    return out


# --- yes/no and names ------------------------------------------------------------------------------

_YES_START = re.compile(r"^\W*(?:sim|yes)\b", re.I)
_NO_START = re.compile(r"^\W*(?:n[ãa]o|no)\b(?!\s+(?:é|h[áa]|existe|pode))", re.I)


def _yes_no(sol: Solution, part: Part) -> tuple[str, str, str] | None:
    """("sim"|"não", confidence, rule) from the solution's first or concluding sentence."""
    sents = sol.sentences
    if not sents:
        return None
    first = sents[0].text
    if _NO_START.match(first) or re.match(r"^\W*n[ãa]o[,.!]", first, re.I):
        return "não", "high", "yes-no-first"
    if _YES_START.match(first):
        return "sim", "high", "yes-no-first"
    q = plain(re.sub(MATH, " ", part.text))
    verbs = []
    for stemw, forms in (("possiv", r"poss[íi]ve(?:l|is)|imposs[íi]ve(?:l|is)"), ("exist", r"exist\w*|h[áa]|haver[áa]?"),
                         ("pod", r"pod\w*|poder\w*"), ("consegu", r"consegu\w*"), ("tem", r"t[êe]m|tem|ter[áa]?")):
        if re.search(r"\b" + stemw, q) or (stemw == "exist" and re.search(r"\b(?:ha|havera)\b", q)):
            verbs.append(forms)
    pattern = re.compile(r"\b(?:" + "|".join(verbs) + r")\b", re.I) if verbs else re.compile(r"(?!x)x")
    for sent in reversed(sents[-3:]):
        t = re.sub(MATH, " ", sent.text)
        if not _STRONG.search(t) and sent is not sents[-1]:
            continue
        m = pattern.search(t)
        if not m or _HYPOTHESIS.search(t):
            continue
        head = t[max(0, m.start() - 25) : m.end()]
        negative = bool(re.search(r"\bn[ãa]o\b[^,;]{0,20}$|\bimposs[íi]ve", head, re.I)) or bool(re.match(r"imposs", m.group(0), re.I))
        return ("não" if negative else "sim"), ("high" if _STRONG.search(t) else "medium"), "yes-no-conclusion"
    # else the last concluding sentence: a negation in it answers "não" ("não existe nenhuma forma ...")
    for sent in reversed(sents[-3:]):
        t = re.sub(MATH, " ", sent.text)
        if _AFTERWORD.match(t) or _HYPOTHESIS.search(t) or not _STRONG.search(t):
            continue
        t = re.sub(r"\bn[ãa]o[\s-]+(?:nul[oa]s?|negativ[oa]s?|vazi[oa]s?|inteir[oa]s?|primos?|trivia(?:l|is))\b", " ", t, flags=re.I)
        return ("não" if _NEG.search(t) else "sim"), "medium", "yes-no-conclusion"
    return None


def _name(sol: Solution, ctx: _Context) -> tuple[str, str, str] | None:
    """The name (or listed word) the concluding sentence gives for a "Quem ...?" question."""
    sents = sol.sentences
    if re.search(r"\bqual\s+(?:é|foi|será|era)\s+a\s+palavra\b", ctx.part.text, re.I):
        # "Qual é a palavra chave da Ana?": the word in capitals the last sentence ends with
        last_t = re.sub(MATH, " ", sents[-1].text) if sents else ""
        words = re.findall(r"\b([A-ZÁÉÍÓÚÂÊÔÃÕÇ]{3,})\b", last_t)
        if words and re.search(r"\b(?:é|ou\s+seja|logo|portanto|assim)\b", last_t, re.I):
            return words[-1], ("high" if _STRONG.search(last_t) or re.search(r"\bou\s+seja\b", last_t) else "medium"), "word"
        return None
    for k, sent in enumerate(reversed(sents[-3:])):
        t = re.sub(MATH, " ", sent.text)
        t = re.sub(r"\b(segunda|ter[çc]a|quarta|quinta|sexta)s?-feiras?\b", lambda m: plain(m.group(1)).replace("terca", "terça") + "-feira", t, flags=re.I)
        t = re.sub(r"\b(s[áa]bado|domingo)s\b", r"\1", t, flags=re.I)
        if _HYPOTHESIS.search(t) and not _STRONG.search(t):
            continue
        found: list[tuple[int, str]] = []
        for name in ctx.names:
            for m in re.finditer(r"\b" + re.escape(name) + r"\b", t):
                found.append((m.start(), name))
        for w in ctx.options:
            for m in re.finditer(r"\b" + re.escape(w) + r"\b", t, re.I):
                found.append((m.start(), w))
        if not found:
            continue
        distinct = {n for _i, n in found}
        found.sort()
        last = found[-1][1]
        if len(distinct) == 1 or re.search(r"\b(?:foi|é|e\s+portanto\s+é)\s+(?:o|a)?\s*" + re.escape(last) + r"\b", t):
            conf = "high" if (_STRONG.search(t) and len(distinct) == 1 and k == 0) else "medium" if k == 0 else "low"
            return last, conf, "name"
        if k == 0 and _STRONG.search(t):
            # "..., e portanto, a Mafalda contou um maior número de soluções": the one name after the conclusion word
            tail = t[list(_STRONG.finditer(t))[-1].end() :]
            after = {n for i, n in found if i >= len(t) - len(tail)}
            if len(after) == 1:
                return next(iter(after)), "medium", "name-after-conclusion"
            # "Logo o David é mais alto do que a Luísa e portanto é o mais alto": the comparison's subject
            if ctx.part.extremum and not after:
                subj = [n for n in distinct if re.search(r"\b" + re.escape(n) + r"\s+(?:é|foi|era|será)\s+(?:o\s+|a\s+)?mais\s+\w+\s+(?:do\s+)?que\b", t)]
                if len(subj) == 1 and re.search(r"\b(?:é|foi|será)\s+(?:o|a)\s+mais\b", tail):
                    return subj[0], "medium", "name-comparison"
        return last, "low", "name"
    return None


# --- choosing --------------------------------------------------------------------------------------

def _effective_positions(sents: list[Sentence]) -> dict[int, int]:
    """Distance of each sentence from the end, not counting trailing afterwords (verifications,
    examples, notes) that follow a concluding sentence."""
    pos: dict[int, int] = {}
    k = 0
    concluded_later = False
    for sent in reversed(sents):
        t = sent.text
        after = bool(_AFTERWORD.match(t)) or bool(re.match(r"^\W*(?:\(|\\end|\\hline)", t))
        if after and not concluded_later:
            pos[sent.index] = k
            continue
        pos[sent.index] = k
        k += 1
        concluded_later = True
    # afterwords themselves are far from the end
    for sent in sents:
        if _AFTERWORD.match(sent.text):
            pos[sent.index] = pos[sent.index] + 2
    return pos


def _best(sents: list[Sentence], ctx: _Context) -> tuple[Candidate | None, Candidate | None, list[Candidate]]:
    """The best candidate of a resolution and the best one with another value."""
    asks = ctx.part.asks
    pos = _effective_positions(sents)
    scored: list[Candidate] = []
    for sent in sents:
        p = pos[sent.index]
        if p > 6 and not _ANSWER_PHRASE.search(sent.text):
            continue
        values = _value_candidates(sent, ctx)
        cands = list(values)
        if asks == "set":
            tuples_only = bool(ctx.part.tuples)
            values = sorted(values + _assignment_tuples(sent, values, ctx.part.tuples), key=lambda c: c.start)
            lists = _list_candidates(sent, values, tuples_only)
            members = [c for c in values if c.kind == ("tuple" if tuples_only else "number") or (c.kind == "tuple" and not tuples_only)]
            cands = lists + [_singleton_set(c) for c in members]
        for c in cands:
            _score(c, cands, ctx, p, asks)
            if c.kind == "set" and "one-case" in c.notes:
                c.score -= 3.0  # one case of several: the answer is their union
            if c.kind == "set" and _RESPECTIVELY.search(sent.text[: c.start]):
                c.score -= 3.0  # "..., respetivamente em 1, 25 e 9": what the solutions give, not them
            if c.kind == "set" and re.search(r"\$[^$]*\)\$\s+e\s+\$\(", sent.text) and re.search(r"\sou\s", sent.text):
                c.score -= 3.0  # "(5,6) e (8,5) ou (5,2) e (8,9)": groups of solutions, not a set
            if c.kind == "set":
                if len(c.value) >= 2:  # type: ignore[arg-type]
                    c.score += 1.5
                elif any(o.kind == "set" and len(o.value) >= 2 for o in cands):  # type: ignore[arg-type]
                    c.score -= 3.0  # one member of a list of solutions
                    c.notes.append("list-member")
                elif "conclusion" not in c.notes and not c.explicit and not (
                        re.search(r"[úu]nic", sent.text, re.I) and (_WEAK.search(sent.text) or _UNIQUE_IS.search(re.sub(MATH, " ", sent.text[: c.start])))):
                    c.score -= 3.0
                    c.notes.append("not-concluded")
                elif not (re.search(r"[úu]nic", sent.text, re.I) or (_UNIQUE.search(sent.text[max(0, c.start - 30) : c.start])
                          and not any(o is not c and o.kind == "number" and c.start - 30 < o.start < c.start for o in values))):
                    c.score -= 4.0  # one value for "all solutions" needs "o único ...", "só ..."
                    c.notes.append("not-unique")
            scored.append(c)
    if not scored:
        return None, None, []
    scored.sort(key=lambda c: -c.score)
    best = scored[0]
    other = next((c for c in scored[1:] if _key(c.value) != _key(best.value) and not _superseded(c, best)), None)
    if best.kind == "set" and len(best.value) >= 2:  # type: ignore[arg-type]
        # lists of solutions in several sentences ("Obtemos assim os números ..." twice): a union
        def lead(c: Candidate) -> str:
            return " ".join(plain(re.sub(MATH, " ", c.sentence.text[: c.start])).split()[-4:])

        rival = next((c for c in scored[1:] if c.kind == "set" and len(c.value) >= 2 and c.sentence is not best.sentence  # type: ignore[arg-type]
                      and not (c.value & best.value)  # type: ignore[operator]
                      and (c.score >= best.score - 3.0 or (lead(c) == lead(best) and len(lead(c)) > 8))
                      and not re.search(r"\sou\s", c.sentence.text[c.start : c.end])), None)
        if rival is not None:
            best.notes.append("split-lists")
            other = rival if other is None or rival.score > other.score else other
            best.score = min(best.score, (other.score if other else 0) + 1.0)
    return best, other, scored


_SIGNALS = ("conclusion", "echo", "object", "assignments", "subject", "final")


def _superseded(c: Candidate, best: Candidate) -> bool:
    """``c`` is an operand the best result was computed from ("$460/4=115$" supersedes 460)."""
    if c.sentence is best.sentence and c.end < best.start:
        # "..., logo $\overline{AB}=24$": a conclusion later in the sentence supersedes what came before
        between = re.sub(MATH, " ", c.sentence.text[c.end : best.start])
        if re.search(r"\b(?:logo|portanto|assim|donde|pelo\s+que|ou\s+seja|isto\s+[ée]|ent[ãa]o|conclui|da[ií])\b", between, re.I):
            return True
    lhs = next((n[4:] for n in best.notes if n.startswith("lhs:")), "")
    if not lhs or best.sentence.index < c.sentence.index or c.kind != "number" or "computed" not in best.notes:
        return False
    operands = [evaluate(x) for x in re.findall(r"\d+(?:\.\d+)?", lhs.replace("\x00", " "))]
    return any(v is not None and isinstance(c.value, (Fraction, float)) and same_value(v, c.value) for v in operands)


def _confidence(best: Candidate, other: Candidate | None) -> str:
    margin = best.score - (other.score if other is not None else -5.0)
    if best.explicit and margin >= 1.0:
        return "high"
    if any(n in best.notes for n in ("not-unique", "not-concluded", "list-member")):
        return "low"  # one value for "all solutions" without "o único ...": a guess
    signal = any(n in best.notes for n in _SIGNALS)
    if "bound" in best.notes and not any(n in best.notes for n in ("echo", "object", "subject", "bound-words")):
        signal = False  # "n <= 7" answers a maximum only when it is the asked quantity
    if not signal:
        return "low"  # being last is not enough: a careful reader wants a conclusion or the question's words
    if best.score >= 5.0 and margin >= 2.5 and not any(n in best.notes for n in ("words", "hypothesis")):
        return "high"
    if (best.score >= 3.0 and margin >= 1.2 - 1e-9) or (best.score >= 2.5 and margin >= 3.5):
        return "medium"
    if _last_word(best, other) and best.score >= 3.0 and margin >= 0.5:
        return "medium"  # "... $\frac{\pi}{2}+1$. A área ... é o dobro, ou seja, é $\pi+2$": the last word wins
    return "low"


def _last_word(best: Candidate, other: Candidate | None) -> bool:
    """The value closes the solution with a concluding sentence that names what is asked, and the
    best other value is in an earlier sentence (a step the conclusion moves on from)."""
    t = re.sub(MATH, " ", best.sentence.text)
    return other is not None and other.sentence.index < best.sentence.index and best.kind in ("number", "expression") \
        and "final" in best.notes and any(n in best.notes for n in ("subject", "object", "echo")) \
        and not any(n in best.notes for n in ("hypothesis", "one-case", "bound", "words", "list", "question-datum", "parenthesis", "two-counts")) \
        and bool(_STRONG.search(t) or _WEAK.search(t))


def _why(c: Candidate) -> str:
    tags = [n for n in c.notes if not n.startswith("lhs:")]
    return f"{c.rule}: {', '.join(tags) or 'value'} (score {c.score:.1f})"


_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "given": 4}


def _extract_part(part: Part, problem: str, sol: Solution, sents_by_res: list[list[Sentence]]) -> GoldPart:
    label = part.label
    if not part.gradable:
        why = "a proof, not a value" if part.asks == "proof" else \
            "a construction, a description or several values at once: nothing single to compare"
        return GoldPart(label, None, "none", why, "", asks=part.asks)
    ctx = _Context(part=part, problem_numbers=_problem_numbers(problem),
                   problem_vars=set(_VARS.findall(re.sub(r"\\[a-zA-Z]+", " ", " ".join(
                       next(g for g in m.groups() if g is not None) for m in MATH.finditer(problem))))),
                   names=_problem_names(problem), options=_problem_options(problem),
                   angles=bool(_ANGLE_PROBLEM.search(problem.split("Conteúdo referenciado:")[0])),
                   rounding=bool(_ROUNDING.search(problem)),
                   question_values=_question_values(part))
    if part.asks == "yes_no":
        got = _yes_no(Solution(sol.text, sents_by_res, sol.flags), part)
        if got is None:
            return GoldPart(label, None, "low", "a yes/no question without a clear conclusion", "yes-no", "yes_no", part.asks)
        return GoldPart(label, got[0], got[1], "yes/no read from the solution", got[2], "yes_no", part.asks)
    if part.asks == "values":
        return _values(label, sents_by_res, ctx)
    if part.asks == "name":
        got_name = _name(Solution(sol.text, sents_by_res, sol.flags), ctx)
        if got_name is not None:
            return GoldPart(label, got_name[0], got_name[1], "the name the conclusion gives", got_name[2], "name", part.asks)
        if re.search(r"\bqual\s+(?:é|foi|será|era)\s+a\s+palavra\b|\bdia\s+da\s+semana\b", part.text, re.I):
            return GoldPart(label, None, "low", "a word is asked and the conclusion gives none", "word", "name", part.asks)
    picks = []
    for sents in sents_by_res:
        best, other, _all = _best(sents, ctx)
        if best is not None:
            picks.append((best, other))
    if not picks:
        return GoldPart(label, None, "none", "no value found in the solution", "", asks=part.asks)
    best, other = max(picks, key=lambda bo: bo[0].score)
    conf = _confidence(best, other)
    reason = _why(best)
    if other is not None:
        reason += f", ahead of {other.text[:20]!r} by {best.score - other.score:.1f}"
    if re.search(r"polin[ôo]mio", part.text, re.I) and any(
            sents and re.search(r"polin[ôo]mio", sents[-1].text, re.I) and any(
                (eq := _items_math(next(g for g in m.groups() if g is not None)))[2] == "=" and eq[1] and eq[0] == "0"
                and _POLYNOMIAL.search(eq[1]) for m in MATH.finditer(sents[-1].text)) for sents in sents_by_res):
        return GoldPart(label, None, "low", "the solution ends with a polynomial equation: the asked value is not stated",
                        "polynomial", "number", part.asks)
    unreadable = _unreadable_final(sents_by_res, ctx)
    if unreadable and conf != "low" and best.sentence is not unreadable:
        return GoldPart(label, best.text, "low", f"the final statement {unreadable.text[-60:]!r} is not a readable value; "
                        f"{reason}", best.rule, best.kind, part.asks)
    # other resolutions: agreement confirms, disagreement lowers (the majority of the resolutions decides)
    agree, against = 1, []
    for b2, o2 in [bo for bo in picks if bo[0] is not best]:
        if _key(b2.value) == _key(best.value):
            if _confidence(b2, o2) != "low":
                agree += 1
        elif _confidence(b2, o2) in ("high", "medium") and best.score - b2.score < 2.0 and \
                any(n in b2.notes for n in ("echo", "subject", "object", "explicit")):
            against.append(b2.text)
    if agree > 1:
        if conf == "low" and not against:
            conf = "medium"
        reason += f"; confirmed by another resolution ({agree} agree)"
    if against and len(against) >= agree:
        conf = "low"
        reason += f"; another resolution gives {against[0]!r}"
    kind = best.kind
    digits = _digit_pairs_as_numbers(best, part)
    if digits is not None:
        return GoldPart(label, digits, conf, reason + "; the digit pairs (a, b) of the numbers ab asked, read as the numbers",
                        "digit-pairs", "set", part.asks)
    if part.asks in ("value", "count") and kind == "set":
        kind = "number"
    if ctx.rounding and isinstance(best.value, (Fraction, float)) and not (isinstance(best.value, Fraction) and best.value.denominator == 1):
        import math as _math

        nearest = bool(re.search(r"mais\s+pr[óo]ximo|arredond", part.text, re.I))
        v = float(best.value)
        r = int(_math.floor(v + 0.5)) if nearest else int(_math.floor(v))
        return GoldPart(label, str(r), "medium" if conf == "high" else conf,
                        f"{reason}; {'rounded' if nearest else 'integer part'} of {best.text}", "rounded", "number", part.asks)
    return GoldPart(label, best.text, conf, reason, best.rule, kind, part.asks)


def _digit_pairs_as_numbers(best: Candidate, part: Part) -> str | None:
    """"Determine todos os números de dois algarismos $ab$ ...": a set of digit pairs ``(a,b)`` is the
    set of the numbers ``10a+b`` (``\\{(1,1),(1,2)\\}`` -> ``\\{11, 12\\}``)."""
    if best.kind != "set" or not re.search(r"n[úu]meros?\s+de\s+(?:dois|2)\s+(?:algarismos|d[íi]gitos)\s+\$\s*(?:\\overline\{)?\s*[a-z]\s*[a-z]\s*\}?\s*\$",
                                            part.text, re.I):
        return None
    members = list(best.value)  # type: ignore[call-overload]
    if not members or not all(isinstance(t, tuple) and len(t) == 2 and all(
            isinstance(d, Fraction) and d.denominator == 1 and 0 <= d <= 9 for d in t) for t in members):
        return None
    nums = [int(10 * t[0] + t[1]) for t in members]
    order = [int(10 * Fraction(a) + Fraction(b)) for a, b in re.findall(r"\(\s*(\d)\s*,\s*(\d)\s*\)", best.text)]
    nums = order if sorted(order) == sorted(nums) else sorted(nums)
    return "\\{" + ", ".join(str(n) for n in nums) + "\\}"


def _stated_values(sent: Sentence, ctx: _Context, last_only: bool = False) -> list[Candidate]:
    """The results a concluding sentence states, in order: no operand, no aside in parentheses, no
    bound or range, no datum of the question ("do tipo $2$"); ``last_only``: the sentence's final result."""
    s = sent.text
    cands = [c for c in _value_candidates(sent, ctx) if c.kind in ("number", "expression")]
    # "$B=9, \; C=8, \; D=3$": one math segment assigning several unknowns
    for m in MATH.finditer(s):
        body = next(g for g in m.groups() if g is not None)
        pieces = [x.strip() for x in re.split(r"\s*[,;]\s*(?:\\[;,:!]|\\quad|\s)*", re.sub(r"\\[;,:!]", " ", body).strip().rstrip(".")) if x.strip()]
        assigned = [re.fullmatch(r"([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*(.+)", x) for x in pieces]
        if len(pieces) >= 2 and all(assigned):
            inside = [c for c in cands if m.start() <= c.start < m.end()]
            cands = [c for c in cands if c not in inside]
            for a in assigned:
                got = _number_of(a.group(2)) if a else None
                if got is not None:
                    c = Candidate(got[0], got[1], "number", sent, m.start(), m.end(), rule="values")
                    c.notes += ["equation", "lhs:" + (a.group(1) if a else "")]
                    cands.append(c)
    cands.sort(key=lambda c: c.start)
    # a sentence the splitter left joined ("... k=23$$. A aldeia tinha $133$ casas ..."): its last statement
    cut = max((m.end() for m in re.finditer(r"(?:\$\s*\.|[a-z]\.)\s+(?=[A-ZÁÉÍÓÚ](?:[a-záéíóúâêôãõç]|\s))", s)), default=0)
    cands = [c for c in cands if c.start >= cut]
    for c in cands:
        _score(c, cands, ctx, 0, "value")
    drop = ("operand", "parenthesis", "question-datum", "bound", "named-entity", "determiner")
    return [c for c in cands if not any(n in c.notes for n in drop)
            and not _RANGE_BEFORE.search(s[max(0, c.start - 12) : c.start])
            and not (c.kind == "number" and _in_problem(c.value, ctx) and "equation" not in c.notes and "echo" not in c.notes
                     and not ("last" in c.notes and not last_only))] if not last_only else \
        [c for c in cands if "last" in c.notes and not any(n in c.notes for n in drop + ("words",))][-1:]


def _values(label: str, sents_by_res: list[list[Sentence]], ctx: _Context) -> GoldPart:
    """Several values asked at once: the values stated by the last sentence of the solution, and
    the conclusions of the one or two sentences before it when the last holds fewer than asked
    ("Logo a Beatriz tem $11$ anos. Finalmente, ... a Carolina tem $9$ anos e ... a Alice tem $22$ anos.").
    A gold only when exactly as many values as asked are found, the sentences conclude (no hypothesis,
    no case of several), and every resolution that gives values gives the same ones."""
    n = ctx.part.n_values
    found: list[tuple[str, ...]] = []
    why = "no resolution ends stating the values asked"
    for sents in sents_by_res:
        body = [x for x in sents if not _AFTERWORD.match(x.text) and not re.match(r"^\W*(?:\(|\\end|\\hline)", x.text)]
        if not body:
            continue
        got: list[Candidate] = []
        for k, sent in enumerate(reversed(body[-3:])):
            t = re.sub(MATH, " ", sent.text)
            if _HYPOTHESIS.search(t) or _THIS_CASE.search(t) or _DEAD_END.search(t) or _EXAMPLE.search(t):
                break
            stated = _stated_values(sent, ctx)
            if k == 0:
                if len(stated) > n:
                    why = f"the last sentence states {len(stated)} values, {n} asked"
                    break
                got = stated
            elif (_STRONG.search(t) or _WEAK.search(t) or "=" in sent.text) and (last := _stated_values(sent, ctx, last_only=True)):
                got = last + got  # an earlier conclusion: its final result
            else:
                break
            if len(got) >= n:
                break
        if len(got) == n:
            found.append(tuple(c.text for c in got))
        elif got:
            why = f"{len(got)} value{'s' if len(got) > 1 else ''} stated at the end, {n} asked"
    if not found:
        return GoldPart(label, None, "low", why, "values", "values", "values")
    def multiset(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(str(_key(got[1])) if (got := _number_of(x)) else x for x in values))

    if len({multiset(f) for f in found}) > 1:
        return GoldPart(label, "; ".join(found[0]), "low", "the resolutions end with different values", "values", "values", "values")
    agree = f"; {len(found)} resolutions agree" if len(found) > 1 else ""
    return GoldPart(label, "; ".join(found[0]), "medium", f"values: the {n} values the conclusion states{agree}",
                    "values", "values", "values")


def _unreadable_final(sents_by_res: list[list[Sentence]], ctx: _Context) -> Sentence | None:
    r"""The last sentence of a resolution when it assigns the question's object something that is
    not a readable value (``(a_0,\ldots)=(2012,2,\ldots)``, a formula in words)."""
    for sents in sents_by_res:
        if not sents:
            continue
        body_sents = [x for x in sents if not _AFTERWORD.match(x.text)] or sents
        last = body_sents[-1]
        segs = list(MATH.finditer(last.text))
        if segs:
            m = segs[-1]
            body = next(g for g in m.groups() if g is not None)
            lead = re.sub(MATH, " ", last.text[: m.start()])
            if re.search(r"(?:\bé|\bs[ãa]o|\bser[áa]|\bfoi|:)\s*(?:o|a|os|as)?\s*$", lead) and not re.search(r"[a-zA-Z]{3,}\s*$", last.text[m.end():].strip(" .")) \
                    and re.search(r"\\(?:underbrace|overbrace|underset|cdots|ldots|dots)\b", body):
                return last  # "... o 2019º número da lista é $5\underbrace{9\cdots 9}_{8}8...$": the answer cannot be read
        for m in MATH.finditer(last.text):
            body = next(g for g in m.groups() if g is not None)
            result, lhs, rel, _c = _items_math(body)
            if rel == "=" and lhs and (_lhs_is_object(lhs, ctx) or re.fullmatch(r"\s*\([^()]*\)\s*", lhs)) and result:
                if _number_of(result) is None and _tuple_of(result) is None and _expression_of(result, ctx.problem_vars) is None:
                    return last
    return None


@functools.lru_cache(maxsize=8192)
def extract_gold(problem: str, solution: str | None) -> GoldAnswer:
    """The gold final answer stated by a worked solution, with a confidence (module docstring).
    Pure, so cached: grading 1,000 answers to the same problems reads each solution once."""
    if not solution or not solution.strip():
        return GoldAnswer(None, "none", "no reference solution")
    question = read_question(problem)
    sol = read_solution(problem, solution)
    flags = tuple(sol.flags)
    if "problem_copy" in flags:
        return GoldAnswer(None, "none", "the solution is a copy of the problem", flags=flags)
    if "foreign" in flags:
        return GoldAnswer(None, "none", "the solution belongs to another problem (flagged, not guessed)", flags=flags)
    if not sol.resolutions:
        return GoldAnswer(None, "none", "empty solution", flags=flags)
    if re.search(r"aceitam-se|duas\s+respostas|ambas\s+as\s+respostas|duas\s+interpreta|outra\s+interpreta|ambiguidade|amb[íi]guo|"
                 r"tamb[ée]m\s+(?:devem|deve|dever[ãa]o)\s+(?:ganhar|receber|ser\s+considerad)|tamb[ée]m\s+(?:é|s[ãa]o|ser[áa])\s+aceit|"
                 r"o\s+enunciado\s+continha\s+um\s+erro", solution, re.I):
        return GoldAnswer(None, "none", "the solution accepts more than one answer", flags=flags)
    if question.multi_part:
        return _multi_part(question.parts, problem, sol, flags)
    part = question.parts[0]
    gp = _extract_part(part, problem, sol, sol.resolutions)
    if flags and gp.confidence in ("high", "medium") and "confirmed by another resolution" not in gp.reason:
        gp = _flagged_check(gp, part, problem, sol)
    conf, reason = _noise_cap(gp, flags)
    return GoldAnswer(gp.answer, conf, reason, gp.rule, gp.kind, (), flags)


def _flagged_check(gp: GoldPart, part: Part, problem: str, sol: Solution) -> GoldPart:
    """A noisy solution: its order cannot be trusted, so every concluding statement counts. The gold
    stands when the value is stated by two conclusions (a repeated passage) and no conclusion states
    another one; an explicit answer phrase stands on its own."""
    if gp.rule == "answer-phrase" or (gp.kind == "set" and gp.confidence == "high"):
        return replace(gp, reason=gp.reason + "; agree: explicit answer or a concluding list")
    ctx = _Context(part=part, problem_numbers=_problem_numbers(problem), problem_vars=set(), names=[], options=[],
                   angles=bool(_ANGLE_PROBLEM.search(problem)))
    strong: dict[object, int] = {}
    for sents in sol.resolutions:
        for sent in sents:
            cands = _value_candidates(sent, ctx)
            for c in cands:
                _score(c, cands, ctx, 0, part.asks)
                if "conclusion" in c.notes and "last" in c.notes and any(n in c.notes for n in ("echo", "subject", "object", "equation")) \
                        and "hypothesis" not in c.notes and "one-case" not in c.notes:
                    strong[_key(c.value)] = strong.get(_key(c.value), 0) + 1
    got = _number_of(gp.answer) if gp.answer is not None else None
    gold_key = _key(got[1]) if got is not None else None
    if gold_key is not None and gold_key in strong:
        mine = strong[gold_key]
        others = max((v for k, v in strong.items() if k != gold_key), default=0)
        if mine > others or ("scrambled" not in sol.flags and mine >= others):
            return replace(gp, reason=gp.reason + f"; agree: {mine} concluding statements give it, at most {others} another value")
    return replace(gp, confidence="low", reason=gp.reason + "; noisy solution: its conclusions do not single out one value")


def _noise_cap(gp: GoldPart, flags: tuple[str, ...]) -> tuple[str, str]:
    """A noisy solution (duplicated, scrambled) keeps only a gold found by a strong rule, or one
    that two resolutions agree on."""
    if not flags or gp.confidence in ("none", "low"):
        return gp.confidence, gp.reason
    if "confirmed by another resolution" in gp.reason or "agree" in gp.reason:
        return "medium", f"{gp.reason}; solution flagged {'/'.join(flags)}, kept: resolutions agree"
    return "low", f"{gp.reason}; solution flagged {'/'.join(flags)}: not clear enough to trust"


_SOL_PART = re.compile(
    r"\\item\s*\[\s*\(?(?P<a>[a-h])\)?\s*\]|(?:^|(?<=\n)|(?<=[.:;?!]\s)|(?<=[.:;?!$]))[ \t]*(?:\((?P<b>[a-h])\)|(?P<c>[a-h])\))(?=\s)|"
    r"\b[Aa]l[íi]nea\s+(?P<d>[a-h])\)?|\\textbf\{\s*\(?(?P<e>[a-h])\)\s*\}",
    re.M,
)


def _split_solution_parts(solution: str, labels: list[str]) -> dict[str, str] | None:
    """The solution cut at its part labels; None unless every label is found, in order."""
    text = solution.split("Conteúdo referenciado:")[0]
    hits = [(m.start(), m.end(), next(g for g in m.groups() if g is not None).lower()) for m in _SOL_PART.finditer(text)]
    out: dict[str, str] = {}
    k = 0
    chosen: list[tuple[int, int, str]] = []
    for h in hits:
        if k < len(labels) and h[2] == labels[k]:
            chosen.append(h)
            k += 1
    if k < len(labels):
        # items of an enumerate without labels
        items = list(re.finditer(r"\\item(?!\s*\[)", text))
        if len(items) >= len(labels) and r"\begin{enumerate}" in text:
            chosen = [(m.start(), m.end(), labels[i]) for i, m in enumerate(items[: len(labels)])]
        else:
            return None
    for i, (_s, e, label) in enumerate(chosen):
        stop = chosen[i + 1][0] if i + 1 < len(chosen) else len(text)
        out[label] = text[e:stop]
    return out


def _multi_part(parts: tuple[Part, ...], problem: str, sol: Solution, flags: tuple[str, ...]) -> GoldAnswer:
    from engine.grading.solution_text import read_solution as _read

    pieces = _split_solution_parts(sol.text if sol.text else "", [p.label for p in parts])
    if pieces is None:
        return GoldAnswer(None, "none", "multi-part problem: the solution's parts cannot be told apart", flags=flags,
                          parts=tuple(GoldPart(p.label, None, "none", "solution part not found", asks=p.asks) for p in parts))
    golds = []
    for p in parts:
        sub = _read(p.text, pieces[p.label])
        gp = _extract_part(p, problem, sub, sub.resolutions) if sub.resolutions else GoldPart(p.label, None, "none", "empty part")
        conf, reason = _noise_cap(gp, flags)
        golds.append(replace(gp, confidence=conf, reason=reason))
    # a part with nothing to compare (a proof, a table, no value in its solution) is left out;
    # a part with a doubtful gold (low) makes the whole item doubtful
    gradable = [g for g in golds if g.asks in GRADABLE and g.confidence != "none"]
    if not gradable:
        return GoldAnswer(None, "none", "no part has a value to compare (proofs, constructions, tables)", parts=tuple(golds), flags=flags)
    worst = min(gradable, key=lambda g: _RANK[g.confidence])
    answer = "; ".join(f"{g.label}) {g.answer}" for g in gradable)
    if not worst.usable:
        return GoldAnswer(answer, worst.confidence if worst.confidence != "given" else "low",
                          f"part {worst.label}: {worst.reason}", "parts", "parts", tuple(golds), flags)
    left = [g for g in golds if g not in gradable]
    why = f"{len(gradable)} part{'s' if len(gradable) > 1 else ''} with a gold" + (
        "; left out: " + "; ".join(f"part {g.label} ({g.reason})" for g in left) if left else "")
    return GoldAnswer(answer, worst.confidence, why, "parts", "parts", tuple(golds), flags)


def gold_answer(problem: Problem) -> GoldAnswer:
    """The gold answer of an open-ended problem: its ``answer`` field, else from its solution."""
    if problem.answer is not None and str(problem.answer).strip():
        return GoldAnswer(str(problem.answer), "given", "the problem's answer field", "answer-field")
    return extract_gold(problem.problem, problem.solution)
