"""Gold answers of open-ended problems, taken from the reference solution when that is reliable.

MATH-PT's open-ended items ship a worked ``solution`` and no separate final answer (the paper
graded them with an LLM judge). :func:`extract_gold` pulls the final result out of the solution's
last sentence and says how sure it is:

``given``   the problem carries its gold in ``answer`` (the built-in set);
``high``    an explicit "a resposta é ..." / "Resposta: ...", or a conclusion ("Logo", "Portanto",
            "Assim"...) whose last value is the result of an equation or follows "é"/"igual a";
``medium``  the last sentence holds one clear numeric result (values already in the problem
            statement are not taken for the result: "escreveu 600 vezes o algarismo 7" gives 600);
``low``     a guess (several candidates, or a number word nearby): reported, never used;
``none``    nothing reliable: a proof ("Mostra que..."), several questions, "determine todos",
            a yes/no question, a list of values, a non-numeric result (a name, a set, a formula).

Only ``given``, ``high`` and ``medium`` golds are used for grading (:attr:`GoldAnswer.usable`);
otherwise the answer is ``ungraded`` with the reason, never guessed. Gold values are restricted to
numbers and arithmetic expressions (:func:`engine.grading.latex_value.evaluate` must read them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from engine.grading.latex_value import Number, evaluate, same_value
from engine.grading.normal_form import normal_forms
from engine.problems import Problem

USABLE = ("given", "high", "medium")


@dataclass(frozen=True)
class GoldAnswer:
    """A gold final answer (or None) with how sure its extraction is and why."""

    answer: str | None
    confidence: str  # given | high | medium | low | none
    reason: str

    @property
    def usable(self) -> bool:
        """Reliable enough to grade against."""
        return self.answer is not None and self.confidence in USABLE


# --- the problem: is there a single value to find? ---------------------------------------------

_PROOF = re.compile(
    r"\b(?:mostr[ae]|prov[ae]|demonstr[ae]|verifi(?:ca|que)|justifi(?:ca|que)|explic[ae]|explique)"
    r"(?:-se)?\s+(?:que|porqu[eê]|por\s+que)\b",
    re.I,
)
_MULTI_PART = re.compile(r"\\item|(?:^|\s)\(?[a-d]\)\s|\bal[íi]nea\b", re.I)
_ALL = re.compile(
    r"\b(?:determin[ae]|encontr[ae]|ach[ae]|indi(?:ca|que)|escrev[ae]|list[ae]|descubr[ae]|d[êe]|calcul[ae]|quais)\b"
    r"[^?.]*\b(?:todos|todas)\b",
    re.I,
)
_YES_NO = re.compile(
    r"(?:^|[.?!:]\s+)(?:é\s+possível|será\s+possível|será\s+que|poder[áa]|pode|podem|existe|existem|há|haverá|"
    r"é\s+verdade)\b[^?]*\?",
    re.I,
)
_WHICH = re.compile(
    r"\bquais\b|\bpara\s+que\s+(?:valores|meses|n[úu]meros|inteiros|dias|anos|casos)\b|\bque\s+valores\b|"
    r"\bem\s+que\s+(?:casos|condi[çc][õo]es)\b|"
    r"\b(?:determin[ae]|calcul[ae]|encontr[ae]|indi(?:ca|que)|d[êe])\s+(?:as|os)\s+(?:idades|valores|n[úu]meros|medidas|"
    r"dimens[õo]es|comprimentos|lados|[âa]ngulos|amplitudes|coordenadas|solu[çc][õo]es|ra[íi]zes|pontos|pre[çc]os)\b",
    re.I,
)
_ROUNDING = re.compile(r"inteiro\s+mais\s+pr[óo]ximo|parte\s+inteira|arredond|aproximad", re.I)
_COUNT = re.compile(r"\b(?:quant[oa]s|n[úu]mero\s+(?:total\s+)?de|quantidade\s+de|de\s+quantas?\s+(?:maneiras|formas|modos))\b", re.I)
_ALTERNATIVES = re.compile(r"aceitam-se|duas\s+respostas|ambas\s+as\s+respostas|respostas\s+poss[íi]veis|duas\s+interpreta", re.I)


def _problem_refusal(problem: str) -> str | None:
    text = problem.split("Conteúdo referenciado:")[0]
    if _PROOF.search(text):
        return "the problem asks for a proof, not a value"
    if _MULTI_PART.search(text):
        return "the problem has several parts"
    if _ALL.search(text):
        return "the problem asks for all solutions (a set or list)"
    if _WHICH.search(text):
        return "the problem asks which values (a set or description)"
    last_q = [q for q in re.split(r"(?<=[.!?])\s+", text.strip()) if q.strip().endswith("?")]
    for q in last_q[-1:]:
        if _YES_NO.search(q.strip()) and not re.search(r"\bquant[oa]s?\b|\bqual\b|\bquais\b", q, re.I):
            return "a yes/no question"
    return None


# --- the solution: its last sentence ------------------------------------------------------------

_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
#: words that open a final conclusion (weak ones such as "temos", "obtemos", "então" do not count)
_CONCLUSION = re.compile(
    r"\b(?:logo|portanto|assim|conclu[íi]mos|conclui-se|em\s+conclus[ãa]o|deste\s+modo|desta\s+forma|"
    r"dessa\s+forma|desse\s+modo|por\s+conseguinte|consequentemente|finalmente|por\s+fim|no\s+total|ao\s+todo|"
    r"em\s+suma|em\s+resumo)\b",
    re.I,
)
_FINAL_CONCLUSION = re.compile(
    r"\b(?:em\s+conclus[ãa]o|conclu[íi]mos|conclui-se|a\s+resposta|portanto|logo|no\s+total|ao\s+todo|assim)\b[^.]*\$[^$]*=",
    re.I,
)
_DEAD_END = re.compile(r"\b(?:absurd[oa]|imposs[íi]vel|contradi[çc][ãa]o)\b|^\s*Caso\s+\d", re.I)
_WORD_VALUES = {
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "três": 3, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "sete": 7,
    "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14, "quatorze": 14,
    "quinze": 15, "vinte": 20, "trinta": 30, "cem": 100, "mil": 1000,
}
_ANSWER_PHRASE = re.compile(
    r"\b(?:a\s+)?resposta\s+(?:final\s+|correta\s+|correcta\s+|pedida\s+|procurada\s+)?(?:é|será|:)\s*|\bResposta\s*:\s*",
    re.I,
)
_NUMBER_WORD = re.compile(
    r"\b(?:zero|dois|duas|tr[êe]s|quatro|cinco|seis|sete|oito|nove|dez|onze|doze|treze|catorze|quatorze|quinze|"
    r"dezasseis|dezesseis|dezassete|dezessete|dezoito|dezanove|dezenove|vinte|trinta|quarenta|cinquenta|cem|cento|"
    r"mil|milh[õo]es|milh[ãa]o|metade|dobro|triplo|nenhum|nenhuma)\b",
    re.I,
)
_BARE_NUMBER = re.compile(r"(?<![\w\\^_{])-?\d+(?:[.,]\d+)*(?![\w])(?!\s*(?:mil|milh|bili|º|ª|°))")
_RELATION_BAD = re.compile(r"<|>|\\[lg]eq?\b|\\leqslant|\\geqslant|\\neq?\b|\\ne\b|\\approx|\\sim|\\equiv|\\Rightarrow|\\Leftrightarrow|\\iff|\\implies|\\to\b|\\in\b|\\subset")
_UNIT_ONLY = re.compile(r"^\s*(?:\^\s*\{?\s*(?:2|3|\\circ|o)\s*\}?|\\%|%|\\circ|\\text\{\s*[a-zA-Z]*\s*\}\s*(?:\^\s*\{?[23]\}?)?|[a-zA-Z]{1,3}(?:\^\s*\{?[23]\}?)?)\s*$")
_TRAILING_NOISE = re.compile(
    r"(?:\s*(?:\((?:image|table|figura)\d*\)|\\end\{(?:enumerate|itemize|align\*?|eqnarray\*?)\}|\[\s*\+?\d+\s*pontos?\s*\]|\\qed|\\blacksquare|\\square|\$\\square\$|∎))+\s*$",
    re.I,
)


@dataclass
class _Item:
    kind: str  # "math" | "number"
    text: str
    start: int
    end: int


def _clean_solution(solution: str) -> str:
    s = solution.split("Conteúdo referenciado:")[0]
    m = re.search(r"\b(?:Observa[çc][ãa]o|Nota|Coment[áa]rio)\s*:", s)
    if m and m.start() > len(s) * 0.5:
        s = s[: m.start()]
    s = s.rstrip()
    for _ in range(5):
        t = _TRAILING_NOISE.sub("", s).rstrip()
        if t == s:
            break
        s = t
    return s


def _sentences(s: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; math segments never split."""
    masked = list(s)
    for m in _MATH.finditer(s):
        for i in range(m.start(), m.end()):
            if masked[i] in ".!?\n":
                masked[i] = "_"
    text = "".join(masked)
    bounds = []
    start = 0
    for m in re.finditer(r"[.!?](?=\s+|$)|\n\s*\n", text):
        end = m.end()
        if text[start:end].strip(" .\n"):
            bounds.append((start, end))
        start = end
    if s[start:].strip():
        bounds.append((start, len(s)))
    return bounds


def _items(sentence: str) -> list[_Item]:
    items: list[_Item] = []
    last = 0
    for m in _MATH.finditer(sentence):
        for n in _BARE_NUMBER.finditer(sentence, last, m.start()):
            items.append(_Item("number", n.group(0), n.start(), n.end()))
        body = next(g for g in m.groups() if g is not None)
        if _UNIT_ONLY.match(body) and items:
            items[-1].end = m.end()  # "dm$^2$": a unit, part of the value before it
        else:
            items.append(_Item("math", body, m.start(), m.end()))
        last = m.end()
    for n in _BARE_NUMBER.finditer(sentence, last):
        items.append(_Item("number", n.group(0), n.start(), n.end()))
    return items


def _value_of(text: str) -> tuple[str, Number] | None:
    """(normal form, value) of a candidate answer when it is a plain number or arithmetic."""
    for form in normal_forms(text):
        v = evaluate(form)
        if v is not None:
            return form, v
    return None


def _rhs(math: str) -> tuple[str, bool] | None:
    """The result a math segment states: the part after its last '=' (and whether there was one)."""
    body = math.strip().rstrip(".,;: ").strip()
    body = re.sub(r"\\(?:quad|qquad)\b.*$", "", body).strip()  # "= 5 \quad \text{e} ..." -> "= 5"
    if _RELATION_BAD.search(body.split("=")[-1]):
        return None
    if "=" in body:
        return body.split("=")[-1].strip(), True
    if _RELATION_BAD.search(body):
        return None
    return body, False


def _item_result(it: _Item) -> str:
    """The value an item states: the result of a math segment's last equation, or the number."""
    if it.kind == "math":
        r = _rhs(it.text)
        return r[0] if r else it.text
    return it.text


def _numbers_in(text: str) -> list[Fraction]:
    vals = [Fraction(v) for w, v in _WORD_VALUES.items() if re.search(rf"\b{w}\b", text, re.I)]
    for m in re.finditer(r"\d+(?:[.,]\d+)?", text):
        v = evaluate(m.group(0).replace(",", "."))
        if isinstance(v, Fraction):
            vals.append(v)
    return vals


def _in_problem(value: Number, problem_numbers: list[Fraction]) -> bool:
    return any(same_value(value, p) for p in problem_numbers)


def _is_count(v: Number) -> bool:
    return isinstance(v, Fraction) and v.denominator == 1 and v >= 0


def _explicit_answer(tail: str) -> str | None:
    """The value after the last "a resposta é" / "Resposta:" in the text, if it is a value."""
    hits = list(_ANSWER_PHRASE.finditer(tail))
    if not hits:
        return None
    after = tail[hits[-1].end() :]
    m = _MATH.match(after.lstrip())
    if m:
        body = next(g for g in m.groups() if g is not None)
        r = _rhs(body)
        return r[0] if r else None
    n = _BARE_NUMBER.match(after.lstrip())
    return n.group(0) if n else None


def extract_gold(problem: str, solution: str | None) -> GoldAnswer:
    """The gold final answer stated by a worked solution, with a confidence (module docstring)."""
    if not solution or not solution.strip():
        return GoldAnswer(None, "none", "no reference solution")
    refusal = _problem_refusal(problem)
    if refusal:
        return GoldAnswer(None, "none", refusal)
    if _ALTERNATIVES.search(solution):
        return GoldAnswer(None, "none", "the solution accepts more than one answer")
    sol = _clean_solution(solution)
    bounds = _sentences(sol)
    if not bounds:
        return GoldAnswer(None, "none", "empty solution")
    counting = bool(_COUNT.search(problem.split("Conteúdo referenciado:")[0]))
    problem_numbers = _numbers_in(problem)

    # 1. an explicit "a resposta é ..." in the last two sentences
    tail_start = bounds[-2][0] if len(bounds) > 1 else bounds[-1][0]
    explicit = _explicit_answer(sol[tail_start:])
    if explicit is not None:
        got = _value_of(explicit)
        if got and (not counting or _is_count(got[1])):
            return GoldAnswer(got[0], "high", "stated as the answer")

    # 2. the last sentence's result
    start, end = bounds[-1]
    sentence = sol[start:end]
    if _DEAD_END.search(sentence):
        return GoldAnswer(None, "none", "the last sentence is a dead end or one case (absurdo, Caso n)")
    items = _items(sentence)
    if not items:
        return GoldAnswer(None, "none", "the last sentence states no numeric result")
    last = items[-1]
    between = sentence[items[-2].end : last.start] if len(items) > 1 else ""
    if len(items) > 1 and re.fullmatch(r"\s*(?:,|e|ou|and|;)\s*", between):
        return GoldAnswer(None, "none", "the solution ends with a list of values")
    tail_text = sentence[last.end :]
    if re.match(r"\s*(?:mil|milh|bili)", tail_text, re.I):
        return GoldAnswer(None, "none", "the result is written with number words")
    marker = bool(_CONCLUSION.search(sentence))
    number_words = bool(_NUMBER_WORD.search(re.sub(_MATH, " ", sentence)))

    candidates: list[tuple[_Item, str, bool]] = []  # (item, text, from an equation)
    for it in reversed(items):
        if it.kind == "math":
            r = _rhs(it.text)
            if r is None:
                if it is last:
                    return GoldAnswer(None, "none", "the solution ends with an inequality or implication")
                continue
            candidates.append((it, r[0], r[1]))
        else:
            candidates.append((it, it.text, False))

    first_item, first_text, first_eq = candidates[0] if candidates else (None, "", False)
    if first_item is last:
        got = _value_of(first_text)
        if got is None:
            return GoldAnswer(None, "none", f"the result {first_text.strip()[:40]!r} is not a number")
        form, value = got
        if counting and not _is_count(value):
            return GoldAnswer(None, "none", "a count was asked but the result is not a whole number")
        if _ROUNDING.search(problem) and not _is_count(abs(value) if isinstance(value, Fraction) else value):
            return GoldAnswer(None, "none", "a rounded integer was asked but the result is not an integer")
        if re.match(r"\s*(?:\.\.\.|\\ldots|\\dots|…)", sentence[last.end :]) or re.search(r"(?:\.\.\.|\\ldots|\\dots)\s*$", last.text):
            return GoldAnswer(None, "none", "the result is an approximation (...)")
        lead = sentence[: last.start]
        states = bool(re.search(r"(?:\bé|\bsão|\bvale|\bvalem|\bmede|\bmedem|\bigual\s+a|\bde|\bem|=|\bfoi|\bhá|\bexistem|\btotal\s+de)\s*$", lead, re.I))
        fresh = not _in_problem(value, problem_numbers)
        if number_words:
            return GoldAnswer(form, "low", "number words near the result")
        if len(items) > 1 and re.search(r"\bde\s*$", sentence[: items[-2].start]) and re.fullmatch(r"\s*(?:a|até)\s*", between):
            return GoldAnswer(form, "low", "the last value ends a range (de X a Y)")
        if counting and first_eq and re.match(r"\s*(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?\s*=[^=]*$", last.text):
            return GoldAnswer(form, "low", "a count was asked but the sentence assigns a variable")
        earlier = sol[: start]
        if not marker and _FINAL_CONCLUSION.search(earlier[-2000:]):
            return GoldAnswer(form, "low", "an earlier sentence already concludes")
        if first_eq and not marker and re.match(r"\s*(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?\w+\}?)?\s*=", last.text):
            return GoldAnswer(form, "low", "the last sentence only assigns a variable, no conclusion")
        others = [v for it in items[:-1] if (v := _value_of(_item_result(it)))]
        if not first_eq and fresh and any(not _in_problem(v, problem_numbers) for _f, v in others):
            return GoldAnswer(form, "low", "several new values in the last sentence")
        if first_eq:
            # a computed result: its value may well appear in the statement ("7 - 4 = 3")
            return GoldAnswer(form, "high" if marker else "medium", "result of the final equation")
        if not fresh and re.search(r"(?:\bé|\bsão|\bvale|\bvalem|\bmede|\bmedem|\bigual\s+a|=|\bfoi|\bserá)\s*$", lead, re.I):
            # "... e é igual a $1$": maybe the result, maybe a datum restated; no other value is safe
            return GoldAnswer(form, "low", "the last value is stated but also appears in the problem")
        if fresh and marker and states:
            return GoldAnswer(form, "high", "the concluding sentence's value")
        if fresh:
            return GoldAnswer(form, "medium", "the last sentence's value")
    # the last value repeats the problem's data: the one new value before it, if only one
    fresh_values = []
    for _it, text, _eq in candidates:
        got = _value_of(text)
        if got and not _in_problem(got[1], problem_numbers):
            if not counting or _is_count(got[1]):
                fresh_values.append(got[0])
    if len(fresh_values) == 1 and not number_words:
        return GoldAnswer(fresh_values[0], "medium", "the only new value in the last sentence")
    if fresh_values:
        return GoldAnswer(fresh_values[0], "low", "several new values in the last sentence")
    return GoldAnswer(None, "none", "no new numeric value in the last sentence")


def gold_answer(problem: Problem) -> GoldAnswer:
    """The gold answer of an open-ended problem: its ``answer`` field, else from its solution."""
    if problem.answer is not None and str(problem.answer).strip():
        return GoldAnswer(str(problem.answer), "given", "the problem's answer field")
    return extract_gold(problem.problem, problem.solution)
