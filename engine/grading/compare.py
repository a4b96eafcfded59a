"""Comparing a model's final answer with a gold of a given kind, without SymPy.

:func:`compare` takes the gold (its text and kind, see :mod:`engine.grading.gold`) and the answer
as the model wrote it and returns a :class:`Comparison`: ``correct`` / ``incorrect`` with how it
was decided, or ``None`` when only the symbolic check (Math-Verify) can decide. Kinds:

``number`` / ``expression``  by exact value (``12,25`` = ``\\frac{49}{4}``; Portuguese number words:
                             "doze" = 12; ``n = 18`` = 18; units and degree marks dropped); a
                             decimal rounding of an irrational or periodic gold is accepted when the
                             answer says it is approximate and is right to its last digit
                             (``\\approx 77,1`` for ``\\frac{540}{7}``);
``set``                      the same elements in any order (``\\{1, 3\\}``, ``1 e 3``, ``x=1 ou x=3``,
                             "os interruptores 1, 3", tuples inside: ``(1, 2), (2, 1)``);
``tuple``                    the same values in order;
``values``                   several values asked at once ("Quantos lápis e quantas canetas?"): the
                             same values, as many, in any order, words and units around them
                             dropped ("o José 54 e o Pavlo 108"); which name each belongs to is not
                             checked;
``name``                     the name as a word of a short answer, accents and case ignored;
``yes_no``                   the answer's first word (sim/não, yes/no, "é possível"/"impossível").

Intervals and anything the value reader cannot read are left to Math-Verify (``None``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from engine.grading.latex_value import Number, evaluate, is_exact, same_value
from engine.grading.normal_form import clean_latex, normal_forms
from engine.grading.number_words import parse_number_words
from engine.grading.question import plain


@dataclass(frozen=True)
class Comparison:
    """``correct`` True/False, or None when undecided here; ``how`` says how it was read."""

    correct: bool | None
    how: str


def values_of(text: str) -> list[Number]:
    """The values an answer can be read as (normal forms, then Portuguese number words)."""
    text = re.sub(r"^\s*(?:\\approx|≈|\\simeq|aproximadamente|cerca\s+de)\s*|(?:\.\.\.|\\[lc]?dots)\s*$", "", text.strip())
    out = [v for v in (evaluate(f) for f in normal_forms(text)) if v is not None]
    if not out:
        cleaned = clean_latex(text)
        cleaned = re.sub(r"^\s*(?:[a-zA-Z]\s*=\s*)", "", cleaned)
        w = parse_number_words(re.sub(r"\b(?:exatamente|exactamente|apenas|só|cerca\s+de)\b", " ", cleaned, flags=re.I))
        if w is not None:
            out.append(w)
    return out


def _decimals(text: str) -> int | None:
    """How many decimals a plain decimal answer has ("77,1" -> 1); None when it is not one."""
    t = clean_latex(text).replace("{,}", ",")
    t = re.sub(r"^\s*(?:[a-zA-Z]\s*=\s*|\\approx\s*|≈\s*)", "", t).strip()
    t = re.sub(r"(?:\.\.\.|\\[lc]?dots)\s*$", "", t).strip()
    m = re.fullmatch(r"-?\d+[.,](\d+)", t)
    return len(m.group(1)) if m else None


def _rounds_to(gold: Number, pred: Number, decimals: int) -> bool:
    """``pred`` is ``gold`` rounded (or truncated) to ``decimals`` places, and gold needs more."""
    if decimals < 1:
        return False
    scale = 10**decimals
    g = float(gold)
    if isinstance(gold, Fraction) and (gold * scale).denominator == 1:
        return False  # the gold is exact at this precision: the answer must be too
    return abs(g - float(pred)) <= 0.5 / scale + 1e-12 or int(g * scale) == int(float(pred) * scale)


def compare_values(gold_text: str, pred_text: str) -> Comparison | None:
    """Numbers: by value; None when either side is not a plain value."""
    gvals = values_of(gold_text)
    pvals = values_of(pred_text)
    if not gvals or not pvals:
        return None
    if any(same_value(g, p) for g in gvals for p in pvals):
        exact = all(is_exact(v) for v in gvals + pvals)
        return Comparison(True, "compared by value" + ("" if exact else " (numerically)"))
    d = _decimals(pred_text)
    approx = bool(re.search(r"\\approx|≈|\baprox|\bcerca\s+de|\.\.\.|\\[lc]?dots", pred_text))
    if d is not None and approx and any(_rounds_to(g, p, d) for g in gvals for p in pvals):
        return Comparison(True, f"compared by value (rounded to {d} decimal{'s' if d > 1 else ''})")
    return Comparison(False, "compared by value")


# --- sets and tuples -----------------------------------------------------------------------------

def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    i = 0
    while i < len(s):
        ch = s[i]
        if s.startswith(r"\{", i) or ch in "([":
            depth += 1
        elif s.startswith(r"\}", i) or ch in ")]":
            depth -= 1
        if depth == 0 and ch in ",;":
            out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


def elements(text: str) -> list[object] | None:
    """The elements of a set or list answer, as values or tuples of values; None if unreadable."""
    s = clean_latex(text)
    s = re.sub(r"^\s*\(?\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\)?\s*(?:=|\\in)\s*", "", s)
    s = re.sub(r"^\s*(?:[^\W\d_]{2,}\s+){1,4}(?=[-\d(\\])", "", s)  # "os interruptores 1, 2, 3 e 10": the words that name them
    s = s.strip()
    if s.startswith(r"\{") and s.endswith(r"\}"):
        s = s[2:-2]
    s = re.sub(r"\s+(?:e|ou|and|or)\s+", ", ", s, flags=re.I)
    parts = _split_top(s)
    out: list[object] = []
    for p in parts:
        p = re.sub(r"^\s*(?:\(?\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\)?\s*=\s*)", "", p).strip()
        m = re.fullmatch(r"\((.+)\)", p)
        if m and ("," in m.group(1) or ";" in m.group(1)):
            vals = [_one_value(x) for x in re.split(r"\s*[,;]\s*", m.group(1))]
            if any(v is None for v in vals):
                return None
            out.append(tuple(vals))
            continue
        v = _one_value(p)
        if v is None:
            return None
        out.append(v)
    return out or None


def _one_value(p: str) -> Fraction | float | None:
    vals = values_of(p)
    if not vals:
        return None
    v = vals[0]
    return round(v, 9) if isinstance(v, float) else v


def _same_element(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same_element(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (Fraction, float)) and isinstance(b, (Fraction, float)):
        return same_value(a, b)
    return False


def compare_sets(gold_text: str, pred_text: str, ordered: bool = False) -> Comparison | None:
    """Sets (any order) or tuples (in order); None when either side is unreadable here."""
    g = elements(gold_text)
    p = elements(pred_text)
    if g is None or p is None:
        return None
    if ordered:
        if len(g) == 1 and isinstance(g[0], tuple) and len(p) > 1:
            p = [tuple(p)]
        ok = len(g) == len(p) and all(_same_element(a, b) for a, b in zip(g, p, strict=True))
        return Comparison(ok, "compared as a tuple")
    if len(g) == 1 and isinstance(g[0], tuple) and len(p) == len(g[0]) and not any(isinstance(x, tuple) for x in p):
        p = [tuple(p)]  # "(3,3)" written as "3, 3"
    unmatched = list(p)
    for a in g:
        hit = next((i for i, b in enumerate(unmatched) if _same_element(a, b)), None)
        if hit is None:
            return Comparison(False, "compared as a set")
        unmatched.pop(hit)
    # duplicates in the prediction are fine ({1, 1, 2} = {1, 2}); extra values are not
    extra = [b for b in unmatched if not any(_same_element(a, b) for a in g)]
    return Comparison(not extra, "compared as a set")


# --- names and yes/no ----------------------------------------------------------------------------

_DAYS = {"segunda", "terca", "quarta", "quinta", "sexta", "sabado", "domingo"}


def _day_words(words: list[str]) -> list[str]:
    """Days of the week in one form: "terça-feira", "terças-feiras", "terça" -> "terca"."""
    out: list[str] = []
    for w in words:
        if w in ("feira", "feiras") and out and out[-1] in _DAYS:
            continue
        out.append(w[:-1] if w.endswith("s") and w[:-1] in _DAYS else w)
    return out


def compare_name(gold: str, pred_text: str) -> Comparison:
    """The gold name is a word of a short answer ("Bernardo", "o Bernardo", "\\text{Bernardo}")."""
    words = _day_words(re.findall(r"[^\W\d_]+", plain(clean_latex(pred_text))))
    target = _day_words(re.findall(r"[^\W\d_]+", plain(gold)))
    if not words:
        return Comparison(False, "no name in the answer")
    found = any(words[i : i + len(target)] == target for i in range(len(words)))
    if found and len(words) <= 6:
        return Comparison(True, "the same name")
    return Comparison(False, "another name" if not found else "the name inside a longer answer")


_YES = re.compile(r"^(?:sim|yes|verdadeiro|true|[ée]\s+poss[íi]vel|existe|existem|pode|consegue|h[áa])\b", re.I)
_NO = re.compile(r"^(?:n[ãa]o|no|falso|false|imposs[íi]vel|nenhum|nenhuma|nunca)\b", re.I)


def polarity(pred_text: str) -> str | None:
    """"sim" / "não" from the first words of an answer, None when it says neither."""
    t = plain(clean_latex(pred_text)).strip(" .,:;!")
    t = re.sub(r"^(?:a\s+resposta\s+e\s+|resposta\s*:?\s*)", "", t)
    if _NO.match(t):
        return "não"
    if _YES.match(t):
        return "sim"
    return None


def compare_yes_no(gold: str, pred_text: str) -> Comparison:
    got = polarity(pred_text)
    if got is None:
        return Comparison(False, "the answer says neither yes nor no")
    return Comparison(got == plain(gold).replace("nao", "não") or plain(got) == plain(gold), f"read as {got!r}")


def _words_dropped(text: str) -> str:
    """An answer without its words ("José: 54 castanhas, Pavlo: 108" -> "54, 108")."""
    t = clean_latex(text)
    t = re.sub(r"\\(?:text|mbox|textrm|mathrm)\s*\{([^{}]*)\}", r" \1 ", t)
    t = re.sub(r"(?<![\\\w])[^\W\d_]{2,}(?:-[^\W\d_]+)*", " , ", t)  # words
    t = re.sub(r"(?<![\\\w])[a-zA-Z]\s*[:=]", " , ", t)  # "A = 2", "x: 3"
    t = re.sub(r"(?<![\\\w^_{])[a-zA-Z](?![\w{(^_])", " , ", t)  # "o", "e", "a" left alone
    t = re.sub(r"(?:\s*[,;:]\s*)+", ", ", t)
    return t.strip(" ,;.")


def compare_value_lists(gold_text: str, pred_text: str) -> Comparison | None:
    """Several values: the same multiset of values; None when the answer cannot be read."""
    g = elements(gold_text)
    if g is None:
        return None
    p = elements(pred_text)
    if p is None or len(p) != len(g):
        p = elements(_words_dropped(pred_text))
    if p is None:
        return None
    unmatched = list(p)
    for a in g:
        hit = next((i for i, b in enumerate(unmatched) if _same_element(a, b)), None)
        if hit is None:
            return Comparison(False, "compared as values")
        unmatched.pop(hit)
    return Comparison(not unmatched, "compared as values")


def compare(gold_text: str, kind: str, pred_text: str) -> Comparison | None:
    """Compare by the gold's kind; None when the symbolic check must decide."""
    if kind == "name":
        return compare_name(gold_text, pred_text)
    if kind == "yes_no":
        return compare_yes_no(gold_text, pred_text)
    if kind == "values":
        return compare_value_lists(gold_text, pred_text)
    if kind in ("set", "tuple"):
        got = compare_sets(gold_text, pred_text, ordered=kind == "tuple")
        if got is not None:
            return got
        return None
    return compare_values(gold_text, pred_text)
