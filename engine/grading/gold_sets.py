"""Candidates for a set question: lists of values and tuples in one sentence, assignments to the
question's variables as a tuple, and a single value as the set of its only solution."""

from __future__ import annotations

import re
from dataclasses import replace

from engine.grading.gold_candidates import Candidate, items_math, tuple_of, value_key
from engine.grading.gold_patterns import LIST_JOIN
from engine.grading.latex_value import evaluate
from engine.grading.normal_form import normal_forms
from engine.grading.solution_text import MATH, Sentence


def assignment_tuples(sent: Sentence, values: list[Candidate], variables: tuple[str, ...]) -> list[Candidate]:
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
            c = Candidate("(" + ", ".join(e.text for e in elems) + ")", tuple(value_key(e.value) for e in elems), "tuple", sent,
                          elems[0].start if run[0][1] is elems[0] else run[0][1].start, run[-1][1].end, rule="assignments")
            c.notes += ["equation", "assignments"]
            out.append(c)

    for c in values:
        lhs = next((n[4:] for n in c.notes if n.startswith("lhs:")), "")
        var = lhs.strip() if re.fullmatch(r"\s*[a-zA-Z]\s*", lhs or "") else None
        if c.kind == "number" and var in variables and (not run or LIST_JOIN.match(s[run[-1][1].end : c.start])) \
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


def list_candidates(sent: Sentence, values: list[Candidate], tuples_only: bool = False) -> list[Candidate]:
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
        if run and LIST_JOIN.match(s[run[-1].end : c.start]) and not _different_variables(run[-1], c):
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
        result, _lhs, rel, _c = items_math(body)
        if result is None or rel not in (None, "="):
            continue
        inner = re.sub(r"^\\\{\s*|\s*\\\}$", "", result.strip())
        if r"\ldots" in inner or r"\dots" in inner:
            continue
        parts = _top_level_split(inner)
        if len(parts) >= 2 and all(tuple_of(p) is not None for p in parts):
            tuples = [tuple_of(p) for p in parts]
            text = "\\{" + ", ".join(t[0] for t in tuples if t) + "\\}"
            out.append(Candidate(text, frozenset(value_key(t[1]) for t in tuples if t), "set", sent, m.start(), m.end(), rule="set"))
            continue
        elems = [e for e in re.split(r"\s*(?:,|;|\\text\{\s*e\s*\}|\\mbox\{\s*e\s*\})\s*", inner) if e.strip()]
        if not tuples_only and len(elems) >= 2 and all(evaluate(f) is not None for e in elems for f in normal_forms(e)[:1]):
            vals = [evaluate(normal_forms(e)[0]) for e in elems]
            text = "\\{" + ", ".join(normal_forms(e)[0] for e in elems) + "\\}"
            out.append(Candidate(text, frozenset(value_key(v) for v in vals), "set", sent, m.start(), m.end(), rule="set"))
    return _merge_adjacent_sets(s, out + [v for v in values if v.kind in allowed and "bound" not in v.notes], sent)


def _merge_adjacent_sets(s: str, sets: list[Candidate], sent: Sentence) -> list[Candidate]:
    """Lists that continue one another ("$$(1,2), (3,4),$$ $$(5,6)$$", "$350, 351$ e $352$") are one list."""
    ordered = sorted(sets, key=lambda c: c.start)
    merged: list[Candidate] = []
    for c in ordered:
        prev = merged[-1] if merged else None
        if prev is not None and prev.kind == "set" and prev.end <= c.start and re.fullmatch(r"[\s,;]*(?:e|ou)?[\s,;]*", s[prev.end : c.start]):
            inner = prev.text[2:-2] + ", " + (c.text[2:-2] if c.kind == "set" else c.text)
            value = prev.value | (c.value if c.kind == "set" else frozenset([value_key(c.value)]))  # type: ignore[operator]
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
    c = Candidate(text, frozenset(value_key(c.value) for c in run), "set", sent, run[0].start, run[-1].end, rule="set")
    c.notes += [n for n in run[-1].notes if n.startswith("lhs:")]
    return c


def singleton_set(c: Candidate) -> Candidate:
    """A single value answering a set question (the only solution)."""
    text = "\\{" + c.text + "\\}"
    out = replace(c, text=text, value=frozenset([value_key(c.value)]), kind="set", notes=list(c.notes))
    out.rule = c.rule
    return out
