"""``quantarena``: the TUI by default, ``--batch`` for the headless run, and the tools.

    quantarena                      the Textual TUI (start screen when no runs are given)
    quantarena --batch [options]    the same runs headless: results.jsonl + summary.json/.md
    quantarena grade RESULTS.jsonl  re-grade saved answers (--judge RUN: an LLM judge too)
    quantarena dataset coverage DIR usable gold answers per open-ended split (--audit N)
    quantarena size MODEL --quant Q how much VRAM / how many GPUs (--validate DIR: against measurements)
    quantarena synth --model M --quant Q  pre-build a synthetic (random-weight) GGUF
    quantarena plan [--gpus 8x80GiB] place runs on GPUs
    quantarena runs                 list the catalog's runs
    quantarena doctor [--json]      which backends work on this machine (a real load + generate each)
    quantarena report DIR [DIR...]  one self-contained HTML report (+ --csv, --parquet)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cli.deprecated import add_exclusive
from engine.exits import ExitCode

TOOLS = ("grade", "size", "plan", "runs", "doctor", "report", "dataset", "synth")


def add_session_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by --batch and the TUI."""
    p.add_argument("--models", metavar="PATH", help="the catalog (default: ./models.toml, else the packaged one)")
    p.add_argument("--runs", metavar="GLOB[,GLOB...]", help="runs to execute, e.g. 'smollm2-135m/*' or '*/llama.cpp/*' (default: the catalog's default runs)")
    p.add_argument("--dataset", metavar="builtin|DIR|hf", help="problems: the built-in set, a MATH-PT folder, or the Hugging Face dataset (default: builtin)")
    p.add_argument("--split", metavar="SPLIT[,SPLIT...]", help="MATH-PT splits, e.g. ptbr_multiple_choice,ptpt_open_ended")
    p.add_argument("--level", metavar="N[,N...]", help="only these difficulty levels")
    p.add_argument("--figures", choices=("only", "none", "any"), default="any", help="problems with figures: only, none, any (default)")
    p.add_argument("--limit", type=int, metavar="N", help="number of problems (default from models.toml [defaults])")
    p.add_argument("--seed", type=int, metavar="S", help="sampling seed; with --limit also picks a random sample (default 0)")
    p.add_argument("--sample", action="store_true", help="with --limit: a random sample (by --seed) instead of the first N")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="token cap per answer (default from models.toml [defaults])")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--fixed-length", action="store_true", help="decode exactly --max-new-tokens tokens (ignore EOS), as speed benchmarks do")
    p.add_argument("--synthetic", action="store_true", help="build each run's real architecture with random weights (no download; correctness n/a)")
    p.add_argument("--gpus", metavar="auto|none|8x80GiB", default="auto", help="GPUs to place runs on (default: those present)")
    add_exclusive(p, "never place two runs on one GPU at once (runs that do not fit go to later waves)")
    p.add_argument("--no-quality", action="store_true", help="skip scoring the reference solutions (no ppl/KLD/top-1 against the reference; sessions that only time)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<timestamp>)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where runs live: this machine (default) or a Ray cluster, one actor per run (pip install 'quantarena[ray]')")
    p.add_argument("--ray-address", metavar="HOST:PORT", help="--executor ray: the cluster's head (default: $RAY_ADDRESS, else a local Ray started for the session)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="quantarena",
        description="Compare quantized LLM engines on MATH-PT: accuracy, speed and memory side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Tools: quantarena {grade,size,plan,runs,doctor,report,dataset,synth} --help.\n"
        "Exit codes: 0 ok, 2 usage/config error, 3 a run failed to load, 130 interrupted;\n"
        "doctor: 1 when an installed backend does not work.",
    )
    p.add_argument("--batch", action="store_true", help="run headless and write results (no TUI)")
    p.add_argument("--quiet", action="store_true", help="--batch: no progress bar")
    p.add_argument("--concurrency", type=int, metavar="N", help="--batch throughput mode: each run answers N problems at once "
                   "(batched decode) and reports aggregate tok/s beside its single-stream tok/s (default 1)")
    add_session_arguments(p)
    from cli import judge_options

    judge_options.add_arguments(p)  # --batch only
    return p


#: each tool's module: ``add_arguments(parser)`` and ``run(args) -> int`` (imported only when used)
TOOL_MODULES = {
    "grade": "cli.grade", "size": "cli.size", "plan": "cli.plan", "doctor": "cli.doctor",
    "report": "cli.report.command", "dataset": "cli.dataset", "synth": "cli.synth",
}


def _tool_parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"quantarena {name}")
    if name in TOOL_MODULES:
        importlib.import_module(TOOL_MODULES[name]).add_arguments(p)
    elif name == "runs":
        p.add_argument("--models", metavar="PATH")
        p.add_argument("--all", action="store_true", help="also the runs not in the default selection")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in TOOLS:
            name = argv[0]
            args = _tool_parser(name).parse_args(argv[1:])
            if name in TOOL_MODULES:
                return int(importlib.import_module(TOOL_MODULES[name]).run(args))
            from cli.batch import list_runs

            return int(list_runs(args))
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: usage errors are exit 2, --help is 0
        return int(e.code) if isinstance(e.code, int) else int(ExitCode.USAGE)
    if getattr(args, "concurrency", None) is not None and not args.batch:
        print("quantarena: --concurrency is a --batch option (the TUI shows one answer per run at a time)", file=sys.stderr)
        return int(ExitCode.USAGE)
    if getattr(args, "judge", None) and not args.batch:
        print("quantarena: --judge is a --batch option (or: quantarena grade RESULTS.jsonl --judge RUN)", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.batch:
        from cli.batch import run_batch

        return int(run_batch(args))
    try:
        from tui.app import run_tui
    except ImportError as e:
        print(f"quantarena: the TUI needs textual ({e}); pip install 'quantarena[tui]' or use --batch", file=sys.stderr)
        return int(ExitCode.USAGE)
    return int(run_tui(args))


if __name__ == "__main__":
    sys.exit(main())
