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
   a sentence far from the end. Shapes of their own: a bound proved and then shown reached
   (``bound-attained``, :mod:`~engine.grading.gold_bounds`), a count followed by the things counted
   (``count-enumerated``), "a única possibilidade" for "De quantas formas ...?" (``unique-count``), an
   extremum claimed before its proof (``claimed-answer``), an answer stated first ("A resposta é 92.").
4. **The choice**: the best candidate, its confidence from its score and its lead over the best
   candidate with another value; resolutions that disagree lower it (one that stops at a step of
   another does not disagree: ``further-resolution``), noise flags demand a clear conclusion.

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

This module holds the entry points and the per-part extraction (multi-part problems, noisy
solutions); the rest lives beside it: :mod:`~engine.grading.gold_types` (the golds),
:mod:`~engine.grading.gold_patterns` (the phrases read), :mod:`~engine.grading.gold_context` (what
the problem gives), :mod:`~engine.grading.gold_candidates` (values a sentence states),
:mod:`~engine.grading.gold_sets` (lists and tuples), :mod:`~engine.grading.gold_scoring` (a
candidate's score), :mod:`~engine.grading.gold_choice` (the best candidate and its confidence),
:mod:`~engine.grading.gold_kinds` (yes/no, names, several values, digit pairs),
:mod:`~engine.grading.gold_bounds` (a bound that is attained).
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from fractions import Fraction

from engine.grading.gold_candidates import items_math, number_of, rel_last_is_value, value_candidates, value_key
from engine.grading.gold_choice import best_candidate, confidence_of, further_picks, why_chosen
from engine.grading.gold_context import Context, problem_names, problem_numbers, problem_options, question_values
from engine.grading.gold_kinds import digit_pairs_as_numbers, read_name, read_values, read_yes_no, unreadable_final
from engine.grading.gold_patterns import ANGLE_PROBLEM, POLYNOMIAL, ROUNDING, VARS
from engine.grading.gold_scoring import score_candidate
from engine.grading.gold_types import KINDS, USABLE, GoldAnswer, GoldPart
from engine.grading.question import GRADABLE, Part, read_question
from engine.grading.solution_text import MATH, Sentence, Solution, read_solution
from engine.problems import Problem

__all__ = ["KINDS", "USABLE", "GoldAnswer", "GoldPart", "extract_gold", "gold_answer", "rel_last_is_value"]

_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "given": 4}


def _extract_part(part: Part, problem: str, sol: Solution, sents_by_res: list[list[Sentence]]) -> GoldPart:
    label = part.label
    if not part.gradable:
        why = "a proof, not a value" if part.asks == "proof" else \
            "a construction, a description or several values at once: nothing single to compare"
        return GoldPart(label, None, "none", why, "", asks=part.asks)
    ctx = Context(part=part, problem_numbers=problem_numbers(problem),
                   problem_vars=set(VARS.findall(re.sub(r"\\[a-zA-Z]+", " ", " ".join(
                       next(g for g in m.groups() if g is not None) for m in MATH.finditer(problem))))),
                   names=problem_names(problem), options=problem_options(problem),
                   angles=bool(ANGLE_PROBLEM.search(problem.split("Conteúdo referenciado:")[0])),
                   rounding=bool(ROUNDING.search(problem)),
                   question_values=question_values(part))
    if part.asks == "yes_no":
        got = read_yes_no(Solution(sol.text, sents_by_res, sol.flags), part)
        if got is None:
            return GoldPart(label, None, "low", "a yes/no question without a clear conclusion", "yes-no", "yes_no", part.asks)
        return GoldPart(label, got[0], got[1], "yes/no read from the solution", got[2], "yes_no", part.asks)
    if part.asks == "values":
        return read_values(label, sents_by_res, ctx)
    if part.asks == "name":
        got_name = read_name(Solution(sol.text, sents_by_res, sol.flags), ctx)
        if got_name is not None:
            return GoldPart(label, got_name[0], got_name[1], "the name the conclusion gives", got_name[2], "name", part.asks)
        if re.search(r"\bqual\s+(?:é|foi|será|era)\s+a\s+palavra\b|\bdia\s+da\s+semana\b", part.text, re.I):
            return GoldPart(label, None, "low", "a word is asked and the conclusion gives none", "word", "name", part.asks)
    picks = []
    for sents in sents_by_res:
        best, other, _all = best_candidate(sents, ctx)
        if best is not None:
            picks.append((best, other))
    if not picks:
        return GoldPart(label, None, "none", "no value found in the solution", "", asks=part.asks)
    picks, steps = further_picks(picks, sents_by_res, ctx) if "duplicated" not in sol.flags else (picks, "")
    best, other = max(picks, key=lambda bo: bo[0].score)
    conf = confidence_of(best, other)
    reason = why_chosen(best) + steps
    if other is not None:
        reason += f", ahead of {other.text[:20]!r} by {best.score - other.score:.1f}"
    if re.search(r"polin[ôo]mio", part.text, re.I) and any(
            sents and re.search(r"polin[ôo]mio", sents[-1].text, re.I) and any(
                (eq := items_math(next(g for g in m.groups() if g is not None)))[2] == "=" and eq[1] and eq[0] == "0"
                and POLYNOMIAL.search(eq[1]) for m in MATH.finditer(sents[-1].text)) for sents in sents_by_res):
        return GoldPart(label, None, "low", "the solution ends with a polynomial equation: the asked value is not stated",
                        "polynomial", "number", part.asks)
    unreadable = unreadable_final(sents_by_res, ctx)
    if unreadable and conf != "low" and best.sentence is not unreadable:
        return GoldPart(label, best.text, "low", f"the final statement {unreadable.text[-60:]!r} is not a readable value; "
                        f"{reason}", best.rule, best.kind, part.asks)
    # other resolutions: agreement confirms, disagreement lowers (the majority of the resolutions decides)
    agree, against = 1, []
    for b2, o2 in [bo for bo in picks if bo[0] is not best]:
        if value_key(b2.value) == value_key(best.value):
            if confidence_of(b2, o2) != "low":
                agree += 1
        elif confidence_of(b2, o2) in ("high", "medium") and best.score - b2.score < 2.0 and \
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
    digits = digit_pairs_as_numbers(best, part)
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
    if gp.kind == "yes_no":
        # a copied or scrambled text's last sentences are fragments: "sim"/"não" read there is a coin toss, not a gold
        return replace(gp, answer=None, confidence="low", reason=gp.reason + "; noisy solution: its yes/no conclusion cannot be told")
    ctx = Context(part=part, problem_numbers=problem_numbers(problem), problem_vars=set(), names=[], options=[],
                   angles=bool(ANGLE_PROBLEM.search(problem)))
    strong: dict[object, int] = {}
    for sents in sol.resolutions:
        for sent in sents:
            cands = value_candidates(sent, ctx)
            for c in cands:
                score_candidate(c, cands, ctx, 0, part.asks)
                if "conclusion" in c.notes and "last" in c.notes and any(n in c.notes for n in ("echo", "subject", "object", "equation")) \
                        and "hypothesis" not in c.notes and "one-case" not in c.notes:
                    strong[value_key(c.value)] = strong.get(value_key(c.value), 0) + 1
    got = number_of(gp.answer) if gp.answer is not None else None
    gold_key = value_key(got[1]) if got is not None else None
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
