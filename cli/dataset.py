"""``quantarena dataset coverage DIR [--json] [--audit N]``: how many open-ended golds are usable.

Coverage is, per open-ended split, the share of problems whose gold final answer the grader can
use (confidence given/high/medium, see :mod:`engine.grading.gold`); the others are graded
``ungraded`` (or by the LLM judge with ``--judge``). The table also counts each confidence and the
noise flags of the solutions (duplicated, scrambled, foreign, problem_copy).

``--audit N`` prints, for N random problems with a usable gold in each split (``--seed S``,
default 0; ``--split`` to pick one), the problem, the reference solution, the extracted gold, its
confidence, the rule that found it and why — what a person needs to check it. ``--json`` prints
``{split: {usable, total, usable_pct}}`` (with ``--audit``: ``{"coverage": ..., "audit": [...]}``).

Exit codes: 0, or 2 for a dataset that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
from typing import Any, TextIO

from engine.dataset import DatasetError, load_problems
from engine.exits import ExitCode
from engine.grading.gold import USABLE, GoldAnswer, gold_answer
from engine.problems import Problem

CONFIDENCES = ("given", "high", "medium", "low", "none")
FIGURE_MARKER = "Conteúdo referenciado:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``dataset`` subcommand's arguments."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="coverage")
    cov = sub.add_parser("coverage", help="usable gold answers per open-ended split, and a sample to audit")
    cov.add_argument("dataset", metavar="DIR", help="a MATH-PT directory, 'builtin' or hf:<repo>")
    cov.add_argument("--json", action="store_true", help="print {split: {usable, total, usable_pct}} as JSON")
    cov.add_argument("--audit", type=int, default=0, metavar="N", help="N random usable golds per split, for a person to check")
    cov.add_argument("--seed", type=int, default=0, metavar="S", help="the audit sample's seed (default 0)")
    cov.add_argument("--split", metavar="SPLIT", help="only this split")


def open_problems(source: str, split: str | None = None) -> list[tuple[Problem, GoldAnswer]]:
    """Every open-ended problem of ``source`` with its gold (raises DatasetError)."""
    out = []
    for p in load_problems(source, splits=[split] if split else None):
        if not p.is_multiple_choice:
            out.append((p, gold_answer(p)))
    return out


def coverage(items: list[tuple[Problem, GoldAnswer]]) -> dict[str, dict[str, Any]]:
    """{split: {usable, total, usable_pct, by_confidence, flags}} over the open-ended problems."""
    out: dict[str, dict[str, Any]] = {}
    for p, g in items:
        row = out.setdefault(p.split, {"usable": 0, "total": 0, "usable_pct": 0.0,
                                       "by_confidence": {c: 0 for c in CONFIDENCES}, "flags": {}})
        row["total"] += 1
        row["usable"] += g.confidence in USABLE
        row["by_confidence"][g.confidence] = row["by_confidence"].get(g.confidence, 0) + 1
        for f in g.flags:
            row["flags"][f] = row["flags"].get(f, 0) + 1
    for row in out.values():
        row["usable_pct"] = round(100.0 * row["usable"] / row["total"], 1) if row["total"] else 0.0
    return out


def audit_sample(items: list[tuple[Problem, GoldAnswer]], n: int, seed: int) -> list[dict[str, Any]]:
    """N random usable golds per split (seeded), with what a person needs to check each."""
    rng = random.Random(seed)
    by_split: dict[str, list[tuple[Problem, GoldAnswer]]] = {}
    for p, g in items:
        if g.usable:
            by_split.setdefault(p.split, []).append((p, g))
    out = []
    for split in sorted(by_split):
        pool = by_split[split]
        for p, g in rng.sample(pool, min(n, len(pool))):
            out.append({
                "problem_id": p.id, "problem": p.problem.split(FIGURE_MARKER)[0].strip(),
                "solution": (p.solution or "").split(FIGURE_MARKER)[0].strip(),
                "gold": g.answer, "kind": g.kind, "confidence": g.confidence, "rule": g.rule, "reason": g.reason,
                "flags": list(g.flags),
                "parts": [{"label": q.label, "gold": q.answer, "confidence": q.confidence, "rule": q.rule} for q in g.parts],
            })
    return out


def _print_table(cov: dict[str, dict[str, Any]], out: TextIO) -> None:
    head = f"{'split':<22} {'usable':>13} " + " ".join(f"{c:>6}" for c in CONFIDENCES) + "  flags"
    print(head, file=out)
    for split, row in cov.items():
        flags = ", ".join(f"{k} {v}" for k, v in sorted(row["flags"].items())) or "-"
        print(f"{split:<22} {row['usable']:>4}/{row['total']:<4} {row['usable_pct']:>4.1f}% "
              + " ".join(f"{row['by_confidence'].get(c, 0):>6}" for c in CONFIDENCES) + f"  {flags}", file=out)


def _print_audit(sample: list[dict[str, Any]], out: TextIO) -> None:
    for k, item in enumerate(sample, 1):
        print(f"=== {k}. {item['problem_id']}  gold={item['gold']!r}  [{item['kind']}, {item['confidence']}, rule {item['rule']}]", file=out)
        print(textwrap.fill("why: " + item["reason"], 110), file=out)
        if item["flags"]:
            print("flags: " + ", ".join(item["flags"]), file=out)
        print(textwrap.fill("PROBLEM: " + item["problem"].replace("\n", " "), 110), file=out)
        print(textwrap.fill("SOLUTION: " + item["solution"].replace("\n", " "), 110), file=out)
        print(file=out)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``dataset coverage``; returns an exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        items = open_problems(args.dataset, getattr(args, "split", None))
    except DatasetError as e:
        print(f"error: {e}", file=err)
        return ExitCode.USAGE
    cov = coverage(items)
    sample = audit_sample(items, args.audit, args.seed) if args.audit else []
    if args.json:
        plain_cov = {s: {"usable": r["usable"], "total": r["total"], "usable_pct": r["usable_pct"]} for s, r in cov.items()}
        print(json.dumps({"coverage": plain_cov, "audit": sample} if args.audit else plain_cov, indent=2, ensure_ascii=False), file=out)
        return ExitCode.OK
    if not cov:
        print(f"{args.dataset}: no open-ended problems", file=out)
        return ExitCode.OK
    _print_table(cov, out)
    if sample:
        print(file=out)
        _print_audit(sample, out)
    return ExitCode.OK
