"""Golds of the special kinds: yes/no, a name or a word, several values asked at once, digit pairs read
as numbers, and a final statement that is no readable value."""

from __future__ import annotations

import re
from fractions import Fraction

from engine.grading.gold_candidates import (
    Candidate,
    expression_of,
    items_math,
    number_of,
    tuple_of,
    value_candidates,
    value_key,
)
from engine.grading.gold_context import Context, is_problem_number, lhs_is_object
from engine.grading.gold_patterns import (
    AFTERWORD,
    DEAD_END,
    EXAMPLE,
    HYPOTHESIS,
    NEG,
    RANGE_BEFORE,
    STRONG,
    THIS_CASE,
    WEAK,
)
from engine.grading.gold_scoring import score_candidate
from engine.grading.gold_types import GoldPart
from engine.grading.question import Part, plain
from engine.grading.solution_text import MATH, Sentence, Solution

_YES_START = re.compile(r"^\W*(?:sim|yes)\b", re.I)
_NO_START = re.compile(r"^\W*(?:n[ãa]o|no)\b(?!\s+(?:é|h[áa]|existe|pode))", re.I)


def read_yes_no(sol: Solution, part: Part) -> tuple[str, str, str] | None:
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
        if not STRONG.search(t) and sent is not sents[-1]:
            continue
        m = pattern.search(t)
        if not m or HYPOTHESIS.search(t):
            continue
        head = t[max(0, m.start() - 25) : m.end()]
        negative = bool(re.search(r"\bn[ãa]o\b[^,;]{0,20}$|\bimposs[íi]ve", head, re.I)) or bool(re.match(r"imposs", m.group(0), re.I))
        return ("não" if negative else "sim"), ("high" if STRONG.search(t) else "medium"), "yes-no-conclusion"
    # else the last concluding sentence: a negation in it answers "não" ("não existe nenhuma forma ...")
    for sent in reversed(sents[-3:]):
        t = re.sub(MATH, " ", sent.text)
        if AFTERWORD.match(t) or HYPOTHESIS.search(t) or not STRONG.search(t):
            continue
        t = re.sub(r"\bn[ãa]o[\s-]+(?:nul[oa]s?|negativ[oa]s?|vazi[oa]s?|inteir[oa]s?|primos?|trivia(?:l|is))\b", " ", t, flags=re.I)
        return ("não" if NEG.search(t) else "sim"), "medium", "yes-no-conclusion"
    return None


def read_name(sol: Solution, ctx: Context) -> tuple[str, str, str] | None:
    """The name (or listed word) the concluding sentence gives for a "Quem ...?" question."""
    sents = sol.sentences
    if re.search(r"\bqual\s+(?:é|foi|será|era)\s+a\s+palavra\b", ctx.part.text, re.I):
        # "Qual é a palavra chave da Ana?": the word in capitals the last sentence ends with
        last_t = re.sub(MATH, " ", sents[-1].text) if sents else ""
        words = re.findall(r"\b([A-ZÁÉÍÓÚÂÊÔÃÕÇ]{3,})\b", last_t)
        if words and re.search(r"\b(?:é|ou\s+seja|logo|portanto|assim)\b", last_t, re.I):
            return words[-1], ("high" if STRONG.search(last_t) or re.search(r"\bou\s+seja\b", last_t) else "medium"), "word"
        return None
    for k, sent in enumerate(reversed(sents[-3:])):
        t = re.sub(MATH, " ", sent.text)
        t = re.sub(r"\b(segunda|ter[çc]a|quarta|quinta|sexta)s?-feiras?\b", lambda m: plain(m.group(1)).replace("terca", "terça") + "-feira", t, flags=re.I)
        t = re.sub(r"\b(s[áa]bado|domingo)s\b", r"\1", t, flags=re.I)
        if HYPOTHESIS.search(t) and not STRONG.search(t):
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
            conf = "high" if (STRONG.search(t) and len(distinct) == 1 and k == 0) else "medium" if k == 0 else "low"
            return last, conf, "name"
        if k == 0 and STRONG.search(t):
            # "..., e portanto, a Mafalda contou um maior número de soluções": the one name after the conclusion word
            tail = t[list(STRONG.finditer(t))[-1].end() :]
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



def digit_pairs_as_numbers(best: Candidate, part: Part) -> str | None:
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


def _stated_values(sent: Sentence, ctx: Context, last_only: bool = False) -> list[Candidate]:
    """The results a concluding sentence states, in order: no operand, no aside in parentheses, no
    bound or range, no datum of the question ("do tipo $2$"); ``last_only``: the sentence's final result."""
    s = sent.text
    cands = [c for c in value_candidates(sent, ctx) if c.kind in ("number", "expression")]
    # "$B=9, \; C=8, \; D=3$": one math segment assigning several unknowns
    for m in MATH.finditer(s):
        body = next(g for g in m.groups() if g is not None)
        pieces = [x.strip() for x in re.split(r"\s*[,;]\s*(?:\\[;,:!]|\\quad|\s)*", re.sub(r"\\[;,:!]", " ", body).strip().rstrip(".")) if x.strip()]
        assigned = [re.fullmatch(r"([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*(.+)", x) for x in pieces]
        if len(pieces) >= 2 and all(assigned):
            inside = [c for c in cands if m.start() <= c.start < m.end()]
            cands = [c for c in cands if c not in inside]
            for a in assigned:
                got = number_of(a.group(2)) if a else None
                if got is not None:
                    c = Candidate(got[0], got[1], "number", sent, m.start(), m.end(), rule="values")
                    c.notes += ["equation", "lhs:" + (a.group(1) if a else "")]
                    cands.append(c)
    cands.sort(key=lambda c: c.start)
    # a sentence the splitter left joined ("... k=23$$. A aldeia tinha $133$ casas ..."): its last statement
    cut = max((m.end() for m in re.finditer(r"(?:\$\s*\.|[a-z]\.)\s+(?=[A-ZÁÉÍÓÚ](?:[a-záéíóúâêôãõç]|\s))", s)), default=0)
    cands = [c for c in cands if c.start >= cut]
    for c in cands:
        score_candidate(c, cands, ctx, 0, "value")
    drop = ("operand", "parenthesis", "question-datum", "bound", "named-entity", "determiner")
    return [c for c in cands if not any(n in c.notes for n in drop)
            and not RANGE_BEFORE.search(s[max(0, c.start - 12) : c.start])
            and not (c.kind == "number" and is_problem_number(c.value, ctx) and "equation" not in c.notes and "echo" not in c.notes
                     and not ("last" in c.notes and not last_only))
            # the problem's datum named again: "a distribuição das $99$ moedas"
            and not (c.kind == "number" and is_problem_number(c.value, ctx) and "equation" not in c.notes
                     and re.search(r"\b(?:d?[oa]s|n[oa]s|pel[oa]s|est[ea]s|ess[ea]s)\s*$", s[max(0, c.start - 8) : c.start], re.I))] \
        if not last_only else \
        [c for c in cands if "last" in c.notes and not any(n in c.notes for n in drop + ("words",))][-1:]


def read_values(label: str, sents_by_res: list[list[Sentence]], ctx: Context) -> GoldPart:
    """Several values asked at once: the values stated by the last sentence of the solution, and
    the conclusions of the one or two sentences before it when the last holds fewer than asked
    ("Logo a Beatriz tem $11$ anos. Finalmente, ... a Carolina tem $9$ anos e ... a Alice tem $22$ anos.").
    A gold only when exactly as many values as asked are found, the sentences conclude (no hypothesis,
    no case of several), and every resolution that gives values gives the same ones."""
    n = ctx.part.n_values
    found: list[tuple[str, ...]] = []
    why = "no resolution ends stating the values asked"
    for sents in sents_by_res:
        body = [x for x in sents if not AFTERWORD.match(x.text) and not re.match(r"^\W*(?:\(|\\end|\\hline)", x.text)]
        if not body:
            continue
        got: list[Candidate] = []
        for k, sent in enumerate(reversed(body[-3:])):
            t = re.sub(MATH, " ", sent.text)
            if HYPOTHESIS.search(t) or THIS_CASE.search(t) or DEAD_END.search(t) or EXAMPLE.search(t):
                break
            stated = _stated_values(sent, ctx)
            if k == 0 and len(stated) > n:
                # "Concluímos que $N=1225$ e, portanto, a Ana tem $12$ anos e a Beatriz tem $25$ anos": what the last conclusion word leads to
                masked = MATH.sub(lambda m: " " * len(m.group(0)), sent.text)
                last_word = max((m.end() for m in STRONG.finditer(masked)), default=0)
                if last_word and len([c for c in stated if c.start >= last_word]) == n:
                    stated = [c for c in stated if c.start >= last_word]
            if k == 0:
                if len(stated) > n:
                    why = f"the last sentence states {len(stated)} values, {n} asked"
                    break
                got = stated
            elif (STRONG.search(t) or WEAK.search(t) or "=" in sent.text) and (last := _stated_values(sent, ctx, last_only=True)):
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
        return tuple(sorted(str(value_key(got[1])) if (got := number_of(x)) else x for x in values))

    if len({multiset(f) for f in found}) > 1:
        return GoldPart(label, "; ".join(found[0]), "low", "the resolutions end with different values", "values", "values", "values")
    agree = f"; {len(found)} resolutions agree" if len(found) > 1 else ""
    return GoldPart(label, "; ".join(found[0]), "medium", f"values: the {n} values the conclusion states{agree}",
                    "values", "values", "values")


def unreadable_final(sents_by_res: list[list[Sentence]], ctx: Context) -> Sentence | None:
    r"""The last sentence of a resolution when it assigns the question's object something that is
    not a readable value (``(a_0,\ldots)=(2012,2,\ldots)``, a formula in words)."""
    for sents in sents_by_res:
        if not sents:
            continue
        body_sents = [x for x in sents if not AFTERWORD.match(x.text)] or sents
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
            result, lhs, rel, _c = items_math(body)
            if rel == "=" and lhs and (lhs_is_object(lhs, ctx) or re.fullmatch(r"\s*\([^()]*\)\s*", lhs)) and result:
                if number_of(result) is None and tuple_of(result) is None and expression_of(result, ctx.problem_vars) is None:
                    return last
    return None
