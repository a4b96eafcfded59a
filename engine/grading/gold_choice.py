"""The choice of a gold: the best candidate of a resolution, the best one with another value, and the
confidence that follows from the best one's score and lead."""

from __future__ import annotations

import re
from fractions import Fraction

from engine.grading.gold_bounds import bound_attained
from engine.grading.gold_candidates import Candidate, unique_count, value_candidates, value_key
from engine.grading.gold_context import Context, is_problem_number
from engine.grading.gold_patterns import (
    AFTERWORD,
    ANSWER_FIRST,
    ANSWER_PHRASE,
    RESPECTIVELY,
    STRONG,
    UNIQUE,
    UNIQUE_IS,
    WEAK,
)
from engine.grading.gold_scoring import score_candidate
from engine.grading.gold_sets import assignment_tuples, list_candidates, singleton_set
from engine.grading.latex_value import evaluate, same_value
from engine.grading.question import plain
from engine.grading.solution_text import MATH, Sentence


def _effective_positions(sents: list[Sentence]) -> dict[int, int]:
    """Distance of each sentence from the end, not counting trailing afterwords (verifications,
    examples, notes) that follow a concluding sentence."""
    pos: dict[int, int] = {}
    k = 0
    concluded_later = False
    for sent in reversed(sents):
        t = sent.text
        after = bool(AFTERWORD.match(t)) or bool(re.match(r"^\W*(?:\(|\\end|\\hline)", t))
        if after and not concluded_later:
            pos[sent.index] = k
            continue
        pos[sent.index] = k
        k += 1
        concluded_later = True
    # afterwords themselves are far from the end
    for sent in sents:
        if AFTERWORD.match(sent.text):
            pos[sent.index] = pos[sent.index] + 2
    return pos


def best_candidate(sents: list[Sentence], ctx: Context) -> tuple[Candidate | None, Candidate | None, list[Candidate]]:
    """The best candidate of a resolution and the best one with another value."""
    asks = ctx.part.asks
    pos = _effective_positions(sents)
    scored: list[Candidate] = []
    for sent in sents:
        p = pos[sent.index]
        if sent.index == 0 and sent.resolution == 0 and ANSWER_FIRST.match(sent.text):
            p = 0  # "A resposta é 92." / "[Resposta: 0004]" opening the solution: the answer, then its justification
        if p > 6 and not ANSWER_PHRASE.search(sent.text):
            continue
        values = value_candidates(sent, ctx)
        cands = list(values)
        if asks == "count" and p == 0 and (only := unique_count(sent, ctx)) is not None:
            cands.append(only)
        if asks == "set":
            tuples_only = bool(ctx.part.tuples)
            values = sorted(values + assignment_tuples(sent, values, ctx.part.tuples), key=lambda c: c.start)
            lists = list_candidates(sent, values, tuples_only)
            members = [c for c in values if c.kind == ("tuple" if tuples_only else "number") or (c.kind == "tuple" and not tuples_only)]
            cands = lists + [singleton_set(c) for c in members]
        for c in cands:
            score_candidate(c, cands, ctx, p, asks)
            if "unique-count" in c.notes:
                c.score += 4.0
            if c.kind == "set" and "one-case" in c.notes:
                c.score -= 3.0  # one case of several: the answer is their union
            if c.kind == "set" and RESPECTIVELY.search(sent.text[: c.start]):
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
                        re.search(r"[úu]nic", sent.text, re.I) and (WEAK.search(sent.text) or UNIQUE_IS.search(re.sub(MATH, " ", sent.text[: c.start])))):
                    c.score -= 3.0
                    c.notes.append("not-concluded")
                elif not (re.search(r"[úu]nic", sent.text, re.I) or (UNIQUE.search(sent.text[max(0, c.start - 30) : c.start])
                          and not any(o is not c and o.kind == "number" and c.start - 30 < o.start < c.start for o in values))):
                    c.score -= 4.0  # one value for "all solutions" needs "o único ...", "só ..."
                    c.notes.append("not-unique")
            scored.append(c)
    if not scored:
        return None, None, []
    found = bound_attained(sents, ctx, scored)
    if found is not None:
        attained, shown = found
        # the sentences after the bound show it reached: the bound stands where they end
        attained.score += 4.0 + max(0.0, min(8.0, 2.2 * pos[attained.sentence.index]) - min(8.0, 2.2 * pos[shown.index]))
        attained.notes.append("attained")
        attained.rule = "bound-attained"
    scored.sort(key=lambda c: -c.score)
    best = scored[0]
    other = next((c for c in scored[1:] if value_key(c.value) != value_key(best.value) and not _superseded(c, best)), None)
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


_SIGNALS = ("conclusion", "echo", "object", "assignments", "subject", "final", "attained", "enumerated", "unique-count", "claim")


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


def confidence_of(best: Candidate, other: Candidate | None) -> str:
    margin = best.score - (other.score if other is not None else -5.0)
    if best.explicit and margin >= 1.0:
        return "high"
    if any(n in best.notes for n in ("not-unique", "not-concluded", "list-member")):
        return "low"  # one value for "all solutions" without "o único ...": a guess
    signal = any(n in best.notes for n in _SIGNALS)
    if "bound" in best.notes and not any(n in best.notes for n in ("echo", "object", "subject", "bound-words", "attained")):
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
        and bool(STRONG.search(t) or WEAK.search(t))


def why_chosen(c: Candidate) -> str:
    tags = [n for n in c.notes if not n.startswith("lhs:")]
    return f"{c.rule}: {', '.join(tags) or 'value'} (score {c.score:.1f})"


def _stated_before(sents: list[Sentence], pick: Candidate, ctx: Context) -> set[object]:
    """The values a resolution states before its pick (not the problem's own numbers)."""
    out: set[object] = set()
    for sent in sents:
        if sent.index > pick.sentence.index:
            break
        for c in value_candidates(sent, ctx):
            if sent.index == pick.sentence.index and c.start >= pick.start:
                continue
            if c.kind == "number" and not is_problem_number(c.value, ctx):
                out.add(value_key(c.value))
    return out


def further_picks(picks: list[tuple[Candidate, Candidate | None]], sents_by_res: list[list[Sentence]],
                  ctx: Context) -> tuple[list[tuple[Candidate, Candidate | None]], str]:
    """Resolutions that are not independent: a resolution whose result another one states as a step and
    goes beyond ("De seguida mostra-se que área$[AEF]=1$, pelo que área$[CDEF]=6-1=5$" followed by
    three proofs that the area is 1; a shared opening that ends at "a posição 3451", then two solutions
    that go on from 3451 to the digit) stops at a step: the picks that go further are kept (rule
    ``further-resolution``), with a note for the reason."""
    if len(picks) < 2:
        return picks, ""
    by_res = {sents[0].resolution: sents for sents in sents_by_res if sents}
    before = [_stated_before(by_res.get(b.sentence.resolution, []), b, ctx) for b, _o in picks]
    keep = []
    for i, (b, o) in enumerate(picks):
        k = value_key(b.value)
        if b.kind == "number" and any(j != i and k in before[j] and value_key(picks[j][0].value) != k for j in range(len(picks))):
            continue  # another resolution states this value on its way to its own result
        keep.append((b, o))
    if not keep or len(keep) == len(picks):
        return picks, ""
    dropped = len(picks) - len(keep)
    return keep, f"; {dropped} resolution{'s' if dropped > 1 else ''} stopping at a step of another left out (further-resolution)"
