"""Candidates for a gold: every value a solution sentence states (equation results, numbers, number
words, tuples, expressions), read from its math segments and its text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from engine.grading.gold_context import Context, near_echo
from engine.grading.gold_patterns import (
    BARE_NUMBER,
    HYPOTHESIS,
    POLY_ZERO,
    POLYNOMIAL,
    RELATION_SPLIT,
    STRONG,
    THIS_CASE,
    UNIT_ONLY,
    VARS,
)
from engine.grading.latex_value import Number, evaluate
from engine.grading.normal_form import normal_forms
from engine.grading.number_words import find_number_words
from engine.grading.question import plain
from engine.grading.solution_text import MATH, Sentence


def rel_last_is_value(body: str) -> bool:
    """Whether the part after a math segment's last relation is free of ellipses and braces."""
    last = RELATION_SPLIT.split(body)[-1]
    return not re.search(r"\\(?:underbrace|overbrace|underset|overset|cdots|ldots|dots|vdots)\b", last)


def items_math(body: str) -> tuple[str | None, str | None, str | None, bool]:
    """(result, lhs, relation, computed) of a math segment: the part after its last relation,
    the part just before it, the relation, and whether there was a computation before it."""
    body = re.sub(r"\\(?:quad|qquad)\b.*$", "", body.strip(), flags=re.S).strip().rstrip(".,;: ")
    body = re.sub(r"^\\(?:displaystyle|ds)\b", "", body).strip()
    body = re.sub(r"^\{\s*\\ds\b(.*)\}$", r"\1", body).strip()
    pieces = RELATION_SPLIT.split(body)
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


def number_of(text: str) -> tuple[str, Number] | None:
    for form in normal_forms(text):
        v = evaluate(form)
        if v is not None:
            return form, v
    return None



def expression_of(text: str, problem_vars: set[str]) -> str | None:
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
    letters = set(VARS.findall(re.sub(r"\\[a-zA-Z]+", " ", f)))
    if letters - problem_vars:
        return None
    return f


def tuple_of(text: str) -> tuple[str, tuple[object, ...]] | None:
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


def value_key(v: object) -> object:
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, tuple):
        return tuple(value_key(x) for x in v)
    return v



def value_candidates(sent: Sentence, ctx: Context) -> list[Candidate]:
    """Numbers, equation results, number words and expressions stated by one sentence."""
    s = sent.text
    out: list[Candidate] = []
    spans: list[tuple[int, int]] = []
    for m in MATH.finditer(s):
        body = next(g for g in m.groups() if g is not None)
        spans.append((m.start(), m.end()))
        if UNIT_ONLY.match(body):
            continue
        if re.search(r"\\(?:underbrace|overbrace|underset|overset|cdots|ldots|dots|vdots)\b", body) and rel_last_is_value(body) is False:
            continue  # "$5\underbrace{9\cdots 9}_{8}$": not a value to compare
        result, lhs, rel, computed = items_math(body)
        if result is None or not result:
            continue
        if rel in ("<", ">", "≤", "≥", r"\le", r"\ge", r"\leq", r"\geq", r"\leqslant", r"\geqslant"):
            got = number_of(result)
            if got is not None:
                c = Candidate(got[0], got[1], "number", sent, m.start(), m.end(), rule="bound")
                c.notes.append("bound")
                c.notes.append("lhs:" + (lhs or ""))
                out.append(c)
            continue
        if rel in (r"\neq", r"\ne", r"\to", r"\Rightarrow", r"\implies", r"\Longrightarrow", r"\in", r"\subset", r"\notin", r"\equiv"):
            continue
        if not ctx.angles and re.search(r"\^\s*\{?\s*(?:\\circ|o|\\underline\s*\{?\s*[oa])\s*\}?\s*$|[ºª°]\s*$", result) \
                and not near_echo(s, m.end(), ctx):
            continue  # "$1^\circ$ salto": an ordinal, not a value (unless it is what is asked: "o $20^\circ$ andar")
        if rel == "=" and lhs and POLY_ZERO.fullmatch(result.strip()) and POLYNOMIAL.search(lhs.split("\x00")[-1]):
            continue  # "$x^3+18=0$": a polynomial equation, not the value 0
        got = number_of(result)
        kind = "number"
        text_value: tuple[str, object] | None = got
        if got is None:
            tup = tuple_of(result)
            if tup is not None:
                text_value, kind = tup, "tuple"
            else:
                expr = expression_of(result, ctx.problem_vars)
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

    for m in BARE_NUMBER.finditer(s):
        if not outside(m.start(), m.end()):
            continue
        after = s[m.end() : m.end() + 12]
        if re.match(r"\s*(?:º|ª|°\s*(?:ano|lugar)|[ºª]|\.?\s*[ºª])", after) or re.match(r"\s*(?:mil\b|milh|bili)", after, re.I):
            if not re.match(r"\s*(?:mil\b|milh)", after, re.I):
                continue
        got = number_of(m.group(0))
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
            counted = ctx.part.asks == "count" and re.search(r"\b(?:h[áa]|existe|tem|t[êe]m|é|foi)\s+$", before, re.I) and near_echo(s, w.end, ctx)
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


_WAYS = r"(?:maneiras?|formas?|modos?|possibilidades?|solu[çc](?:[ãa]o|[õo]es)|distribui[çc](?:[ãa]o|[õo]es)|configura[çc](?:[ãa]o|[õo]es))"
_COUNT_OF_WAYS = re.compile(r"\b(?:de\s+)?quant[oa]s\s+" + _WAYS + r"\b", re.I)
_ONLY_ONE = re.compile(
    r"\b(?:(?:a|uma)\s+[úu]nica\s+" + _WAYS + r"\s+(?:é|será|consiste)\b|(?:s[óo]|apenas|somente)\s+(?:h[áa]|existe)\s+uma\s+" + _WAYS
    + r"\b|(?:h[áa]|existe)\s+(?:apenas\s+|s[óo]\s+)?uma\s+[úu]nica\s+" + _WAYS + r"\b)",
    re.I,
)


def unique_count(sent: Sentence, ctx: Context) -> Candidate | None:
    """"De quantas formas ...?" answered by a conclusion "Portanto a única possibilidade é ...": the
    count 1 (rule ``unique-count``)."""
    if not _COUNT_OF_WAYS.search(ctx.part.text):
        return None
    text = MATH.sub(lambda m: " " * len(m.group(0)), sent.text)
    m = _ONLY_ONE.search(text)
    if m is None or not STRONG.search(text) or HYPOTHESIS.search(text) or THIS_CASE.search(text):
        return None  # a conclusion, not one case of several ("Em cada um destes dois casos, só existe uma maneira ...")
    c = Candidate("1", Fraction(1), "number", sent, m.start(), m.end(), rule="unique-count")
    c.notes.append("unique-count")
    return c
