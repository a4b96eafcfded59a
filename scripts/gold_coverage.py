"""Gold-answer extraction coverage of the open-ended splits, and a sample for a human audit.

    python scripts/gold_coverage.py DATASET_DIR                 # coverage per split and confidence
    python scripts/gold_coverage.py DATASET_DIR --audit 30 --seed 7   # 30 random extractions to check
    python scripts/gold_coverage.py DATASET_DIR --json           # the coverage as JSON

Coverage is the share of open-ended problems whose gold final answer the grader can use
(confidence given/high/medium); the others are graded ``ungraded``. The audit prints, for random
problems with a usable gold, the end of the problem, the end of the solution and the extracted gold.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.dataset import DatasetError, load_problems  # noqa: E402
from engine.grading.gold import USABLE, gold_answer  # noqa: E402

CONFIDENCES = ("given", "high", "medium", "low", "none")


def coverage(source: str) -> dict[str, dict[str, int]]:
    """{split: {confidence: count, "total": n, "usable": n}} for the open-ended splits."""
    out: dict[str, dict[str, int]] = {}
    for p in load_problems(source):
        if p.is_multiple_choice:
            continue
        g = gold_answer(p)
        row = out.setdefault(p.split, {"total": 0, "usable": 0, **{c: 0 for c in CONFIDENCES}})
        row["total"] += 1
        row[g.confidence] += 1
        row["usable"] += g.confidence in USABLE
    return out


def _tail(text: str, n: int) -> str:
    text = text.split("Conteúdo referenciado:")[0].strip().replace("\n", " ")
    return ("…" + text[-n:]) if len(text) > n else text


def audit(source: str, n: int, seed: int) -> None:
    problems = [p for p in load_problems(source) if not p.is_multiple_choice]
    usable = [(p, g) for p in problems if (g := gold_answer(p)).usable]
    rng = random.Random(seed)
    for k, (p, g) in enumerate(rng.sample(usable, min(n, len(usable))), 1):
        print(f"=== {k}. {p.id}  gold={g.answer!r}  ({g.confidence}: {g.reason})")
        print(textwrap.fill("PROBLEM: " + _tail(p.problem, 300), 110))
        print(textwrap.fill("SOLUTION: " + _tail(p.solution or "", 400), 110))
        print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="MATH-PT directory, 'builtin' or hf:<repo>")
    ap.add_argument("--audit", type=int, default=0, metavar="N", help="print N random usable extractions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the coverage as JSON")
    args = ap.parse_args(argv)
    try:
        if args.audit:
            audit(args.dataset, args.audit, args.seed)
            return 0
        cov = coverage(args.dataset)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(cov, indent=2))
        return 0
    print(f"{'split':<18} {'total':>5} {'usable':>7} " + " ".join(f"{c:>6}" for c in CONFIDENCES))
    for split, row in cov.items():
        pct = 100.0 * row["usable"] / row["total"] if row["total"] else 0.0
        print(f"{split:<18} {row['total']:>5} {row['usable']:>4} {pct:3.0f}% " + " ".join(f"{row[c]:>6}" for c in CONFIDENCES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
