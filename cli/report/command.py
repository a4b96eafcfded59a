"""``quantarena report DIR [DIR...]``: one self-contained HTML report, and the tables as CSV/Parquet.

    quantarena report results/20261122-101500                     # -> report.html
    quantarena report results/a results/b --out ab.html           # side by side; b compared with a
    quantarena report benchmarks/gpu-runs --csv runs.csv --parquet tables/

A folder that holds results folders stands for all of them. With several folders the first is
the baseline: each later folder sharing a run with it is compared with it (faster/slower beyond
the spread, changed verdicts). ``--csv runs.csv`` writes the run table there and the answer table
beside it (``runs-answers.csv``); ``--parquet DIR`` writes ``runs.parquet`` and ``answers.parquet``
(needs pyarrow). ``--screenshot PNG`` opens the written report in headless Chromium and saves
what it shows. Exit codes: 0, or 2 for bad input (a folder that is not a results folder, a
missing library) — one line naming the thing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.report.comparison import comparisons
from cli.report.folders import ReportError, load_folders
from cli.report.tables import (
    ANSWER_COLUMNS,
    RUN_COLUMNS,
    answer_rows,
    answers_csv_path,
    run_rows,
    write_csv,
    write_parquet,
)
from engine.exits import ExitCode

MISSING_EXTRA = "the HTML report needs altair and vl-convert-python: pip install 'quantarena[report]'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "One self-contained HTML report (charts, every run and answer) from results folders."
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders (or folders holding them)")
    p.add_argument("--out", default="report.html", metavar="HTML", help="the report (default: report.html)")
    p.add_argument("--csv", metavar="RUNS.csv", help="write the run table here and the answer table beside it (…-answers.csv)")
    p.add_argument("--parquet", metavar="DIR", help="write runs.parquet and answers.parquet into DIR (needs pyarrow)")
    p.add_argument("--title", default="quantarena report", help="the page title")
    p.add_argument("--screenshot", metavar="PNG", help="open the report in headless Chromium and save a screenshot")


def run(args: argparse.Namespace) -> int:
    try:
        folders = load_folders([Path(d) for d in args.dirs])
    except ReportError as e:
        print(f"quantarena report: {e}", file=sys.stderr)
        return int(ExitCode.USAGE)
    for f in folders:
        for w in f.warnings:
            print(f"warning: {w}", file=sys.stderr)
    rows = run_rows(folders)
    answers = answer_rows(folders)
    if args.csv:
        runs_path = write_csv(rows, RUN_COLUMNS, Path(args.csv))
        ans_path = write_csv(answers, ANSWER_COLUMNS, answers_csv_path(Path(args.csv)))
        print(f"wrote {runs_path} ({len(rows)} runs) and {ans_path} ({len(answers)} answers)", file=sys.stderr)
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print("quantarena report: --parquet needs pyarrow: pip install pyarrow (CSV and HTML need nothing more)", file=sys.stderr)
            return int(ExitCode.USAGE)
        d = Path(args.parquet)
        write_parquet(rows, RUN_COLUMNS, d / "runs.parquet")
        write_parquet(answers, ANSWER_COLUMNS, d / "answers.parquet")
        print(f"wrote {d / 'runs.parquet'} and {d / 'answers.parquet'}", file=sys.stderr)
    try:
        from cli.report.page import build_page
    except ImportError as e:
        print(f"quantarena report: {MISSING_EXTRA} ({e})", file=sys.stderr)
        return int(ExitCode.USAGE)
    page = build_page(folders, rows, answers, comparisons(folders, rows), title=args.title)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    print(f"wrote {out} ({len(page) / 1e6:.1f} MB: {len(folders)} folders, {len(rows)} runs, {len(answers)} answers)",
          file=sys.stderr)
    if args.screenshot:
        from cli.report.browser import BrowserError, render

        try:
            result = render(out, Path(args.screenshot))
        except BrowserError as e:
            print(f"quantarena report: {e}", file=sys.stderr)
            return int(ExitCode.USAGE)
        print(f"wrote {args.screenshot}: {result.summary()}", file=sys.stderr)
    return int(ExitCode.OK)
