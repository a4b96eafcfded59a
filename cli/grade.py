"""``quantarena grade RESPONSES.jsonl --dataset DIR|builtin [--out FILE]``: (re-)grade responses.

Each input line is a JSON object with at least ``problem_id`` and ``response``; every other field
is kept, so a batch ``results.jsonl`` is valid input and a newer grader re-scores an old run. The
output is the same lines, in order, with ``verdict``, ``strict_verdict``, ``extracted``, ``gold``,
``grade_reason`` and ``grader`` (the grader version) replaced or added; it goes to ``--out`` or
stdout. A summary of accuracy per split (per run when lines carry ``run``) goes to stderr.

``--judge RUN`` also asks a catalog run (``--models``) to judge the open-ended answers without a
usable gold (``--judge-all``: every open-ended answer), as the MATH-PT paper did, through the
engine's run machinery (see :mod:`engine.judging`); each judged line gets ``judge_run``,
``judge_verdict``, ``judge_reply``, ``judge_cached``, every line ``combined_verdict``, and stderr
shows accuracy three ways (grader, judge, combined) with counts and the judge/grader agreement. The
judge session's own files go to ``--judge-out DIR`` (default: a temporary folder, kept only when
the judge fails).

A line that is not JSON, has no ``problem_id`` (or no string ``response``), or names a problem the
dataset does not hold is reported on stderr as ``FILE:LINE: reason``, counted, and left out of the
output; the other lines are graded. Exit codes (engine.exits): 0 when the file was graded (even
with skipped lines, which the summary counts), 2 for a bad dataset, a missing responses file, an
unknown judge run or when no line at all could be graded, 3 when the judge run failed to load or
crashed (the grader's verdicts are written all the same), 1 for an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

from engine.accuracy import accuracy_table, format_pct
from engine.dataset import DatasetError, load_problems
from engine.exits import ExitCode
from engine.grading import Grader
from engine.problems import Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``grade`` subcommand's arguments."""
    parser.add_argument("responses", help="JSONL file: one {\"problem_id\": ..., \"response\": ...} per line")
    parser.add_argument(
        "--dataset", default="builtin", metavar="DIR|builtin|hf[:REPO]",
        help="the problems the ids refer to: a MATH-PT directory, 'builtin' (default) or hf:<repo>",
    )
    parser.add_argument("--out", metavar="FILE", help="write the graded lines here (default: stdout)")
    parser.add_argument("--workers", type=int, default=None, help="symbolic-check processes (default: min(2, CPUs))")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per symbolic check (default 10)")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")
    from cli import judge_options

    judge_options.add_arguments(parser)
    parser.add_argument("--models", metavar="PATH", help="--judge: the catalog (default: ./models.toml, else the packaged one)")
    parser.add_argument("--gpus", metavar="auto|none|8x80GiB", default="auto", help="--judge: GPUs to place the judge run on")
    parser.add_argument("--judge-out", metavar="DIR", help="--judge: folder for the judge session's results and logs")


def _read_lines(path: Path, problems: dict[str, Problem], err: TextIO) -> tuple[list[tuple[dict[str, Any], Problem]], int, int]:
    """(graded-to-be (record, problem) pairs, total lines, skipped lines), reporting skips on ``err``."""
    pairs: list[tuple[dict[str, Any], Problem]] = []
    total = skipped = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            total += 1
            reason = None
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                reason = f"not JSON ({e.msg})"
            else:
                if not isinstance(rec, dict):
                    reason = f"expected a JSON object, got {type(rec).__name__}"
                elif "problem_id" not in rec:
                    reason = "no 'problem_id'"
                elif not isinstance(rec.get("response"), str):
                    reason = "no 'response' string"
                elif str(rec["problem_id"]) not in problems:
                    reason = f"unknown problem_id {rec['problem_id']!r} (not in the dataset)"
            if reason:
                skipped += 1
                print(f"{path}:{lineno}: {reason}", file=err)
                continue
            pairs.append((rec, problems[str(rec["problem_id"])]))
    return pairs, total, skipped


def _summary(records: list[dict[str, Any]], skipped: int, err: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    table = accuracy_table(records, "split")
    tty = getattr(err, "isatty", lambda: False)()
    console = Console(file=err, highlight=False, width=None if tty else 160)
    t = Table(title="Accuracy by split", title_justify="left")
    for col in ("run", "split", "n", "correct", "graded", "accuracy", "strict", "unparsed", "ungraded"):
        t.add_column(col, justify="left" if col in ("run", "split") else "right")
    for run in table.runs:
        for group in table.groups:
            c = table.cell(run, group)
            if c is None:
                continue
            t.add_row(run, group, str(c.n), str(c.correct), str(c.graded), format_pct(c.accuracy),
                      format_pct(c.strict_accuracy), str(c.unparsed), str(c.ungraded))
    console.print(t)
    if skipped:
        console.print(f"{skipped} line(s) skipped (see above)")


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Grade the responses file; returns an exit code (see the module docstring)."""
    err = err or sys.stderr
    path = Path(args.responses)
    if not path.is_file():
        print(f"error: {path}: responses file not found", file=err)
        return ExitCode.USAGE
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            problems = {p.id: p for p in load_problems(args.dataset)}
        for w in caught:
            print(f"warning: {w.message}", file=err)
    except DatasetError as e:
        print(f"error: {e}", file=err)
        return ExitCode.USAGE
    pairs, total, skipped = _read_lines(path, problems, err)
    if total and not pairs:
        print(f"error: {path}: none of the {total} line(s) could be graded", file=err)
        return ExitCode.USAGE
    with Grader(workers=args.workers, timeout_s=args.timeout) as grader:
        grades = grader.grade_many([(p, rec["response"]) for rec, p in pairs])
    graded: list[dict[str, Any]] = []
    for (rec, _p), g in zip(pairs, grades, strict=True):
        graded.append({**rec, **g.record_fields()})
    judge_block = None
    if getattr(args, "judge", None):
        got = _judge(args, graded, problems, err)
        if isinstance(got, int):
            return got
        judge_block = got
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in graded)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        (out or sys.stdout).write(text)
    if not args.quiet:
        summary = [
            {"run": rec.get("run"), "split": p.split, "level": p.level, "has_figure": p.has_figure,
             "verdict": g.verdict, "strict_verdict": g.strict_verdict, "finish_reason": rec.get("finish_reason")}
            for (rec, p), g in zip(pairs, grades, strict=True)
        ]
        _summary(summary, skipped, err)
    if judge_block is not None:
        from cli.judge_options import judge_lines

        for line in judge_lines(judge_block):
            print(line, file=err)
        if judge_block["status"] not in ("ok", "skipped"):
            return ExitCode.RUN_FAILED
    return ExitCode.OK


def _judge(args: argparse.Namespace, graded: list[dict[str, Any]], problems: dict[str, Problem], err: TextIO) -> dict[str, Any] | int:
    """Judge the graded lines in place; the judge block, or an exit code for a bad --judge."""
    import shutil
    import tempfile

    from cli.judge_options import cache_from
    from engine.catalog import CatalogError, default_catalog_path, load_catalog
    from engine.judging import JudgeError, apply_verdicts, judge_summary, plan_requests, resolve_judge, run_judge

    try:
        catalog = load_catalog(args.models or default_catalog_path())
        judge = resolve_judge(catalog, args.judge)
    except (CatalogError, JudgeError) as e:
        print(f"error: {e}", file=err)
        return ExitCode.USAGE
    cache = cache_from(args)
    requests = plan_requests(graded, problems, judge, judge_all=args.judge_all, style=args.judge_prompt,
                             max_new_tokens=args.judge_max_tokens)
    out_dir = Path(args.judge_out) if args.judge_out else Path(tempfile.mkdtemp(prefix="quantarena-judge-"))
    if not args.quiet:
        print(f"judging {len(requests)} open-ended answer(s) with {judge.name} (session files: {out_dir})", file=err)
    outcome = run_judge(catalog, judge, requests, out_dir=out_dir, cache=cache, max_new_tokens=args.judge_max_tokens,
                        gpus=args.gpus or "auto")
    apply_verdicts(graded, requests, outcome)
    if not args.judge_out and outcome.status in ("ok", "skipped"):
        shutil.rmtree(out_dir, ignore_errors=True)
    return judge_summary(graded, outcome, judge_all=args.judge_all, style=args.judge_prompt,
                         max_new_tokens=args.judge_max_tokens, cache_path=cache.path, problems=problems)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m cli.grade``) until cli/main.py wires the subcommand."""
    parser = argparse.ArgumentParser(prog="quantarena grade", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return int(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
