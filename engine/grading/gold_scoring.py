"""The score of a gold candidate: where its sentence stands and what surrounds the value (answer phrase,
conclusion, the question's words, a stating verb; against it: hypothesis, dead end, range, operand, ...)."""

from __future__ import annotations

import re
from fractions import Fraction

from engine.grading.gold_candidates import Candidate, value_key
from engine.grading.gold_context import Context, is_problem_number, lhs_is_object, near_echo, object_key
from engine.grading.gold_patterns import (
    ANSWER_PHRASE,
    APPROX,
    BOUND_BEFORE,
    DEAD_END,
    EXAMPLE,
    HYPOTHESIS,
    JUSTIFY,
    LIST_JOIN,
    PREMISE,
    RESPECTIVELY,
    STATES,
    STRONG,
    THIS_CASE,
    WEAK,
)
from engine.grading.latex_value import same_value
from engine.grading.question import content_words
from engine.grading.solution_text import MATH


def score_candidate(c: Candidate, cands: list[Candidate], ctx: Context, pos: int, asks: str) -> None:
    s = c.sentence.text
    before = re.sub(r"\s+", " ", s[max(0, c.start - 40) : c.start])
    sc = 0.0
    notes = c.notes
    near = near_echo(s, c.end, ctx)
    # where the sentence stands
    sc -= min(8.0, 2.2 * pos)
    if claims_extremum(s, c, ctx):
        sc += min(8.0, 2.2 * pos) + 5.0  # "Para mostrar que $2n-2$ é o maior número que pode ficar isolado, ...": the answer, then its proof
        c.explicit = True
        c.rule = "claimed-answer"
        notes.append("claim")
    phrases = list(ANSWER_PHRASE.finditer(s[max(0, c.start - 45) : c.start]))
    ap = phrases[-1] if phrases else None
    if ap is not None and not re.search(r"[.;]\s*$", before) and not re.search(
            r"\d|\bmais\b|\bmenos\b|\bsoma\b", re.sub(MATH, " ", s[max(0, c.start - 45) + ap.end() : c.start])):
        sc += 5.0
        c.explicit = True
        c.rule = "answer-phrase"
    if STRONG.search(s):
        sc += 2.0
        notes.append("conclusion")
        if c.rule in ("last-value", "math-value"):
            c.rule = "conclusion"
    elif WEAK.search(s):
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
    if lhs and lhs_is_object(lhs, ctx):
        sc += 3.0
        notes.append("object")
        c.rule = "object-equation" if not c.explicit else c.rule
    if STATES.search(before) or "equation" in notes:
        sc += 1.0
    same = [o for o in cands if o.sentence is c.sentence]
    depth = s[: c.start].count("(") - s[: c.start].count(")")
    in_paren = depth > 0 and not (near and ")" not in s[c.end : c.end + 4])
    just_m = JUSTIFY.search(s)
    asides = [(m.start(), m.end()) for m in re.finditer(r",\s*(?:que|cujo|cuja|cujos|cujas|onde)\b[^,]*,", s)]
    outer = [o for o in same if (s[: o.start].count("(") - s[: o.start].count(")")) <= 0 and o.start >= c.end
             and not (is_problem_number(o.value, ctx) and o.kind == "number" and "equation" not in o.notes)
             and not (just_m and o.start > just_m.end() and c.start < just_m.start())
             and not any(a <= o.start < b for a, b in asides)]
    if not in_paren and not outer:
        sc += 1.5
        notes.append("last")
        if pos == 0:
            sc += 1.0  # the last value of the last sentence
            if (WEAK.search(s) or STRONG.search(s)) and not HYPOTHESIS.search(s) and not THIS_CASE.search(s):
                notes.append("final")
            elif "computed" in notes and c.kind in ("number", "expression") and not HYPOTHESIS.search(s) \
                    and not THIS_CASE.search(s) and not in_paren:
                notes.append("final")  # the solution ends computing it: "... = 100 + 97 = 197."
    if asks == "count" and re.search(r"\b(?:n[úu]mero|total|quantidade)\s+(?:total\s+)?de\s+[^\W\d]+(?:\s+[^\W\d]+){0,3}\s+(?:é|será|s[ãa]o|foi)\s*$",
                                     re.sub(MATH, " ", before), re.I):
        notes.append("subject")  # "o número de soluções é 8"
        sc += 0.5
    elif pos == 0 and asks == "value" and re.search(r"\bo\s+valor\s+(?:de|d[oa])\s+\$[^$]{1,12}\$\s+(?:é|será)\s*$", before, re.I):
        notes.append("subject")  # the last sentence: "... o valor de $r$ é $\frac{\sqrt{3}-1}{4}$"
        sc += 0.5
    kw_before = set(ctx.part.keywords) & set(content_words(s[: c.start]))
    obj_before = any(lhs_is_object(next(g for g in m.groups() if g is not None), ctx) for m in MATH.finditer(s[: c.start]))
    if (len(kw_before) >= 2 or (kw_before and len(ctx.part.keywords) <= 3) or obj_before) and (STATES.search(before) or "equation" in notes):
        notes.append("subject")
        sc += 0.5
    elif same:
        # values after it in the sentence: a parenthetical detail or another result
        later = [o for o in same if o.start > c.start]
        if later and not all(is_problem_number(o.value, ctx) for o in later):
            sc -= 1.2
    if "equation" in notes:
        sc += 0.4
    if re.search(r"\b(?:mais|menos|vezes|multiplicad[oa]\s+por|dividid[oa]\s+por|somad[oa]\s+(?:a|com))\s*$", before, re.I) \
            and not re.search(r"\b(?:pelo|ao|a|no)\s+menos\s*$", before, re.I):
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
    if lhs_var and any(object_key(lhs_var.split("\x00")[0]) == object_key(a) for a in ctx.part.about) and "object" not in notes:
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
    premise = PREMISE.match(s)
    if asks == "count" and "determiner" not in notes and enumerated(s, c) and not (premise and c.end <= premise.end()):
        sc += 3.0  # "pintou de amarelo três números: $150$, $225$ e $375$": the count, and the things counted
        notes.append("enumerated")
        c.rule = "count-enumerated"
    elif asks == "count" and any(o.end <= c.start < enumerated(s, o) for o in same if o is not c):
        sc -= 3.0  # one of the things counted
        notes.append("enumerated-item")
    in_problem = is_problem_number(c.value, ctx) and "object" not in notes and not c.explicit and "enumerated" not in notes
    if in_paren:
        sc -= 0.0 if "echo" in notes else 2.0
        notes.append("parenthesis")
    if THIS_CASE.search(s):
        sc -= 2.0
        notes.append("one-case")
    for rel_clause in re.finditer(r",\s*(?:que|cujo|cuja|cujos|cujas|onde|em\s+que|n[oa]\s+qual)\b[^,]*(,|$)", s):
        closed = bool(rel_clause.group(1))
        states_it = not closed and re.match(r",\s*que\s+(?:é|s[ãa]o|vale|valem|será)\s*\$?[^,$]*\$?\s*\.?$", s[rel_clause.start() :])
        if rel_clause.start() < c.start < rel_clause.end() and not states_it and (closed or any(o.start < rel_clause.start() for o in same)):
            sc -= 1.5
            notes.append("relative-clause")
    just = JUSTIFY.search(s)
    if just and c.start > just.end() and any(o.start < just.start() for o in same):
        sc -= 1.5
        notes.append("justification")
    if (re.match(r"\s*(?:\.\.\.|\\ldots|\\dots|…)", s[c.end : c.end + 6]) or re.search(r"(?:\.\.\.?|\\ldots|\\dots)\s*\$?$", s[c.start : c.end])) \
            and not ctx.rounding:
        sc -= 2.0
        notes.append("approximation")
    prem = PREMISE.match(s)
    if prem and c.end <= prem.end():
        sc -= 1.5
        notes.append("premise")
    hyp = HYPOTHESIS.search(s)
    if hyp:
        starts = hyp.start() < 3 or bool(re.match(r"^\W*(?:se|caso|suponha|supondo|admita|imagine|no\s+caso|nesse\s+caso|neste\s+caso|quando)\b", s, re.I))
        concl = bool(re.search(r"\bconclu|\bportanto\b|\blogo\b", s, re.I))
        sc -= 2.5 if starts else (0.5 if concl else 1.2)
        notes.append("hypothesis")
    if DEAD_END.search(s) and asks != "yes_no":
        sc -= 3.0
    if EXAMPLE.search(s):
        sc -= 1.5
    if (re.search(r"\b(?:de|entre|desde)\s+(?:as|os|a|o)?\s*$", before) and re.match(r"\s*(?:a|e|até|ao|à|às)\s", s[c.end : c.end + 6])) or \
            re.search(r"\b(?:de|entre|desde)\s+(?:as|os|a|o)?\s*\$?[\d.,]+\$?\s*(?:\w+\s+)?(?:a|e|até|ao|à|às)\s+(?:as|os|a|o)?\s*$", before):
        sc -= 2.5
        notes.append("range")
    if APPROX.search(before):
        sc -= 1.0
    bound = "bound" in notes or bool(BOUND_BEFORE.search(before))
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
        if any(LIST_JOIN.match(re.sub(MATH, " ", g) if "$" in g else g) for g in neighbours) and not RESPECTIVELY.search(s):
            sc -= 2.0
            notes.append("list")
    if in_problem:
        sc -= 0.6 if ("computed" in notes or "subject" in notes or "echo" in notes) else 1.6
        notes.append("in-problem")
    prem_end = prem.end() if prem else -1
    if "echo" in notes and asks in ("count", "value") and c.start > prem_end and any(
            o is not c and o.kind == "number" and value_key(o.value) != value_key(c.value) and near_echo(s, o.end, ctx) and not is_problem_number(o.value, ctx)
            and o.start > prem_end for o in same):
        sc -= 1.5  # "uma componente com meia carga e 2009 componentes com carga vazia": which one?
        notes.append("two-counts")
    c.score = sc


_ENUM_HEAD = re.compile(r"(?:\s+(?:[^\W\d_]+|\$[^$]{1,20}\$)){1,8}\s*(?::|\()\s*")
_ENUM_ITEM = re.compile(r"\$[^$]+\$|(?<![\w.,])\d+(?![\w])|\.\.\.|…")
_ELLIPSIS = re.compile(r"^(?:\$\s*\\(?:l|c)?dots\s*\$|\.\.\.|…)$")


def enumerated(s: str, c: Candidate) -> int:
    """Where the list ends when a count is followed by the things counted, as many as it says ("três
    números: $150$, $225$ e $375$", "três números ($843$, $932$ e $942$)"), or fewer with an ellipsis
    ("há $33$ números menores que $1000$ com a propriedade: $15$, $45$, $\\ldots$, $975$"); 0 otherwise."""
    if not (isinstance(c.value, Fraction) and c.value.denominator == 1 and 2 <= c.value):
        return 0
    head = _ENUM_HEAD.match(s, c.end)
    if not head:
        return 0
    rest = s[head.end() :]
    if head.group(0).rstrip().endswith("("):
        rest = rest.split(")", 1)[0] if ")" in rest else ""
    else:
        rest = re.split(r"[;.](?:\s|$)(?!\.)", rest, maxsplit=1)[0]
    items = list(_ENUM_ITEM.finditer(rest))
    dots = [m for m in items if _ELLIPSIS.match(m.group(0))]
    explicit = len(items) - len(dots)
    if not items or not (explicit == c.value <= 12 and not dots or (dots and 2 <= explicit < c.value)):
        return 0
    gaps = [rest[a.end() : b.start()] for a, b in zip(items, items[1:], strict=False)]
    if rest[: items[0].start()].strip() or rest[items[-1].end() :].strip(" .") or not all(LIST_JOIN.match(g) for g in gaps):
        return 0
    return head.end() + items[-1].end()


_CLAIM_BEFORE = re.compile(r"\b(?:mostrar|provar|ver|verificar|mostremos|provemos|vejamos|mostrar\s+agora|vamos\s+(?:mostrar|provar|ver))\s+que\s*$", re.I)
_EXTREMUM_WORD = {"max": r"maior|m[áa]xim[oa]", "min": r"menor|m[íi]nim[oa]"}


def claims_extremum(s: str, c: Candidate, ctx: Context) -> bool:
    """The value is claimed to be the asked extremum, before the proof: "Para mostrar que $2n-2$ é o
    maior número que pode ficar isolado, ..." (the words after it are the question's)."""
    if ctx.part.extremum is None or c.kind not in ("number", "expression"):
        return False
    after = re.match(r"\s*(?:é|será)\s+(?:o|a)\s+(?:" + _EXTREMUM_WORD[ctx.part.extremum] + r")\b(.{0,60})", s[c.end :], re.I)
    if not after or not _CLAIM_BEFORE.search(s[max(0, c.start - 40) : c.start]):
        return False
    return bool(set(ctx.part.keywords) & set(content_words(after.group(1))))
