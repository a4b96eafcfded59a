"""A bound that is attained: the usual shape of an olympiad answer to "Qual é o número mínimo/máximo ...?".

The solution proves a bound ("são necessários pelo menos $7$ elevadores", "Decorre que $N\\geq5$",
"podem sentar-se no máximo $10$") and then shows that it is reached ("Para concluir que $7$
elevadores são suficientes, basta observar ...", "O exemplo seguinte mostra que é possível ...",
"..., por exemplo nos lugares ..."). The bound is the answer (rule ``bound-attained``) when

* the question asks a minimum or a maximum, and the bound goes the same way (a lower bound for a
  minimum: "pelo menos", "no mínimo", ``\\geq``; an upper bound for a maximum: "no máximo",
  "quando muito", ``\\leq``);
* the bound is stated as a fact (no hypothesis, no dead end) about the asked quantity: the question's
  words follow the value or stand in its sentence, or the attaining sentence calls the value the
  minimum/maximum ("é $5$ o menor número de ...");
* the next sentence or two (or the rest of the bound's sentence, after "por exemplo") show the same
  value reached: an example, "é possível", "basta", "suficientes", a verification; or, up to four
  sentences on, a conclusion about one case reaches it ("Logo, neste caso, ... na ronda $1008$").
"""

from __future__ import annotations

import re

from engine.grading.gold_candidates import Candidate, value_candidates, value_key
from engine.grading.gold_context import Context, near_echo
from engine.grading.gold_patterns import AFTERWORD, DEAD_END, HYPOTHESIS, STRONG, THIS_CASE, WEAK
from engine.grading.question import content_words
from engine.grading.solution_text import MATH, Sentence

_AT = r"(?:\s+(?:na|no|em|à|ao|às|aos|ao\s+fim\s+de)\s+[^\W\d_]+)?"  # "no máximo na ronda $1008$"
_LOWER_WORDS = re.compile(r"\b(?:pelo\s+menos|no\s+m[íi]nimo|(?:maior|superior)\s+ou\s+igual\s+(?:a|que))" + _AT + r"\s*(?:igual\s+a\s*)?$", re.I)
_UPPER_WORDS = re.compile(r"\b(?:no\s+m[áa]ximo|quando\s+muito|(?:menor|inferior)\s+ou\s+igual\s+(?:a|que)|n[ãa]o\s+(?:é\s+)?superior\s+a)" + _AT + r"\s*$",
                          re.I)
_LOWER_REL = re.compile(r"\\geq?(?![a-zA-Z])|\\geqslant|≥")
_UPPER_REL = re.compile(r"\\leq?(?![a-zA-Z])|\\leqslant|≤")
#: a sentence that shows a value reached
_ATTAINS = re.compile(
    r"\b(?:exemplo|é\s+poss[íi]vel|s[ãa]o\s+suficientes|é\s+suficiente|bast(?:a|am)|consegue-se|pode\s+ser\s+(?:obtid|conseguid|atingid)|"
    r"atingid[oa]|atinge-se|verific\w*|mostr\w*\s+que\s+(?:é\s+poss[íi]vel|existe|h[áa]))",
    re.I,
)
_EXTREMUM_AFTER = re.compile(r"\s*\$?\s*(?:é\s+)?(?:o|a)\s+(?:menor|maior|m[íi]nim[oa]|m[áa]xim[oa])\b", re.I)


_NOT_LESS = re.compile(r"\b(?:n[ãa]o|imposs[íi]vel)\b[^.;]*\b(?:em\s+)?menos\s+d[eo]\s*(?:que\s*)?$", re.I)
_NOT_MORE = re.compile(r"\b(?:n[ãa]o|imposs[íi]vel)\b[^.;]*\b(?:em\s+)?mais\s+d[eo]\s*(?:que\s*)?$", re.I)


def _direction(c: Candidate) -> str | None:
    """"min" for a lower bound, "max" for an upper bound, None when the value is no bound."""
    s = c.sentence.text
    before = re.sub(r"\s+", " ", re.sub(MATH, " ", s[max(0, c.start - 40) : c.start]))
    if _LOWER_WORDS.search(before) or _NOT_LESS.search(re.sub(MATH, " ", s[: c.start])):
        return "min"  # "pelo menos $7$", "não é possível encher os garrafões em menos de $19$ minutos"
    if _UPPER_WORDS.search(before) or _NOT_MORE.search(re.sub(MATH, " ", s[: c.start])):
        return "max"
    seg = s[c.start : c.end]
    if "bound" in c.notes and MATH.fullmatch(seg):
        rel_lower, rel_upper = _LOWER_REL.search(seg), _UPPER_REL.search(seg)
        if rel_lower and not rel_upper:
            return "min"
        if rel_upper and not rel_lower:
            return "max"
    return None


def _attained_in(sent: Sentence, value: object, ctx: Context, after: int = 0) -> Candidate | None:
    """A candidate of ``sent`` (from ``after`` on) with this value."""
    for c in value_candidates(sent, ctx):
        if c.start >= after and value_key(c.value) == value_key(value):
            return c
    return None


def bound_attained(sents: list[Sentence], ctx: Context, scored: list[Candidate]) -> tuple[Candidate, Sentence] | None:
    """The bound a resolution proves and the sentence that shows it reached (module docstring), or None."""
    want = ctx.part.extremum
    if want is None or ctx.part.asks not in ("value", "count"):
        return None
    kw = set(ctx.part.keywords)
    by_index = {s.index: s for s in sents}
    for c in sorted(scored, key=lambda c: (-c.sentence.index, -c.start)):
        if c.kind != "number" or _direction(c) != want:
            continue
        s = c.sentence.text
        plain_s = re.sub(MATH, " ", s)
        masked = MATH.sub(lambda m: " " * len(m.group(0)), s)
        negated_bound = bool(_NOT_LESS.search(masked[: c.start]) or _NOT_MORE.search(masked[: c.start]))
        if HYPOTHESIS.search(plain_s) or (DEAD_END.search(plain_s) and not negated_bound) or AFTERWORD.match(plain_s):
            continue
        about = near_echo(s, c.end, ctx) > 0 or any(n in c.notes for n in ("object", "subject")) or \
            (bool(kw & {w.split("-")[0] for w in content_words(s[: c.start])}) and bool(STRONG.search(plain_s) or WEAK.search(plain_s)))
        shown: Candidate | None = None
        example = re.search(r"\bpor\s+exemplo\b", s[c.end :], re.I)
        if example:
            shown = c  # "podem sentar-se no máximo $10$, por exemplo nos lugares ...": the bound and its example
        for k in (1, 2, 3, 4):
            nxt = by_index.get(c.sentence.index + k)
            if shown is not None or nxt is None:
                break
            t = re.sub(MATH, " ", nxt.text)
            # an example that reaches it: "Logo, neste caso, os deputados chegam a uma decisão na ronda $1008$"
            case = bool(THIS_CASE.search(t) and STRONG.search(t))
            if DEAD_END.search(t) or re.match(r"^\W*(?:se|caso|suponha)\b", t, re.I) or \
                    not (case or (k <= 2 and (_ATTAINS.search(t) or AFTERWORD.match(t)))):
                continue
            got = _attained_in(nxt, c.value, ctx)
            if got is not None:
                shown = got
                about = about or near_echo(nxt.text, got.end, ctx) > 0 or bool(_EXTREMUM_AFTER.match(nxt.text[got.end :]))
        if shown is not None and about:
            return c, shown.sentence
    return None
