"""The judge block of a session summary as summary.md lines (``engine.judging`` computes the block).

Kept apart from ``engine.judging`` so that ``engine.results`` renders summary.md without importing
the judge's session machinery (which itself reads and rewrites results files).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def judge_markdown(block: Mapping[str, Any]) -> list[str]:
    """The summary.md section for a judge block."""
    lines = ["", "## LLM judge (open-ended answers)", ""]
    status = block.get("status")
    head = f"Judge run `{block.get('judge_run')}` on {block.get('scope')}: {block.get('requested')} answers, " \
           f"{block.get('computed')} judged now, {block.get('cached')} from the cache."
    lines.append(head)
    if status not in ("ok", "skipped"):
        lines += ["", f"**The judge did not complete ({status}): {block.get('reason')}.** The grader's verdicts stand; "
                  "judge-only and combined figures cover what it judged."]
    lines += ["", "| run | grader acc (correct/graded) | judge acc (correct/judged) | combined acc (correct/graded) | judge unparsed | agreement |",
              "|---|---:|---:|---:|---:|---:|"]
    rows = list((block.get("runs") or {}).items()) + [("all", block.get("overall") or {})]
    for run, c in rows:
        if not c:
            continue
        g, j, cb, a = c["grader"], c["judge"], c["combined"], c["agreement"]
        lines.append(f"| {run} | {_pct(g['accuracy'])} ({g['correct']}/{g['graded']}) | {_pct(j['accuracy'])} ({j['correct']}/{j['graded']}) | "
                     f"{_pct(cb['accuracy'])} ({cb['correct']}/{cb['graded']}) | {c['judge_unparsed']} | "
                     f"{_pct(a['rate'])} ({a['agree']}/{a['both']}) |")
    lines += ["", "grader: the rule-based grader alone; judge: the judge's verdicts alone (replies without a verdict are "
              "judge unparsed, not counted); combined: the grader's verdict where it decided, else the judge's; "
              "agreement: where both gave a verdict."]
    return lines
