"""``quantarena plan``: which GPUs each run gets, in which wave, before any weights load.

    quantarena plan                      # the GPUs present (NVML), or a CPU plan without any
    quantarena plan --gpus 8x80GiB       # a described machine: no GPU or weights needed
    quantarena plan --gpus 2x141GiB --runs 'qwen2.5-72b/*' --ctx 8192 --json

Runs come from the catalog (all of them, or those matching ``--runs`` globs); each is sized with
:func:`engine.sizing.estimate` and placed with :func:`engine.placement.plan`. Exit codes: 0 when
the plan was made (runs too big for the machine are listed as unplaceable, with the GiB
missing); 2 for bad input, including a run pinned to a GPU the machine does not have.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.deprecated import add_exclusive
from cli.size import console
from engine.catalog import Catalog, CatalogError, RunSpec, default_catalog_path, load_catalog
from engine.exits import ExitCode
from engine.placement import TABLE_HEADER, GpuInfo, Plan, parse_gpus, plan
from engine.sizing import Estimate, SizingError
from engine.sizing import runs as sizing_runs
from engine.sizing.runs import DEFAULT_CTX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``plan``'s arguments to ``parser``."""
    parser.add_argument("--gpus", help="describe the machine: 8x80GiB, 2x141GiB, 4xH100-80GB, 80GiB,80GiB, cpu "
                        "(default: the GPUs NVML sees)")
    parser.add_argument("--runs", help="comma-separated run globs (default: every run in the catalog)")
    parser.add_argument("--models", help="models.toml (default: ./models.toml or the packaged one)")
    parser.add_argument("--ctx", type=int, help=f"context tokens for every run (default: the run's n_ctx setting, "
                        f"the catalog's defaults.n_ctx, or {DEFAULT_CTX})")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="size each run for N sequences at once (the KV caches of --batch --concurrency N)")
    add_exclusive(parser, "never place two runs on one GPU at once (as --batch --exclusive)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def detect_gpus(nvml: Any = None) -> tuple[list[GpuInfo], str | None]:
    """The GPUs this process can use, by CUDA ordinal (:func:`engine.gpu.visible_gpus`, the reader
    ``--batch`` uses too); ``([], reason)`` when there are none. ``nvml`` replaces pynvml (tests)."""
    from engine.gpu import visible_gpus  # imports pynvml lazily

    return visible_gpus(nvml)


def estimates_for(catalog: Catalog, runs: list[RunSpec], args: argparse.Namespace) -> list[tuple[RunSpec, Estimate | None]]:
    """Each run with its estimate (:func:`engine.sizing.runs.estimates_for`, as ``--batch`` sizes
    them); None for backends sizing does not know (the test fake) and for served runs (the server
    holds the weights: sizing N/A)."""
    batch = max(1, int(getattr(args, "concurrency", 1) or 1))
    return sizing_runs.estimates_for(catalog, runs, ctx=args.ctx, batch=batch)


def _print(p: Plan, source: str) -> None:
    from rich.table import Table

    con = console()
    if p.gpus:
        caps = sorted({round(g.capacity(p.headroom), 1) for g in p.gpus})
        con.print(f"[bold]plan[/] for {len(p.gpus)} GPU(s) ({source}); planned GiB per GPU: "
                  f"{', '.join(f'{c:g}' for c in caps)} ({p.headroom:.0%} headroom kept free)")
    else:
        con.print(f"[bold]plan[/] for the CPU ({source}): one run at a time")
    t = Table(show_header=True, header_style="bold")
    for col in TABLE_HEADER:
        t.add_column(col, justify="right" if col in ("wave", "est. GiB per GPU", "layers per GPU") else "left")
    for row in p.to_table():
        t.add_row(*row)
    con.print(t)
    if p.unplaceable:
        u = Table(title="cannot be placed", show_header=True, header_style="bold red")
        for col in ("run", "needs GiB", "missing GiB", "reason"):
            u.add_column(col)
        for x in p.unplaceable:
            u.add_row(x.run, f"{x.needed_gib:.1f}" if x.needed_gib is not None else "-",
                      f"{x.missing_gib:.1f}" if x.missing_gib is not None else "-", x.reason)
        con.print(u)
    con.print(f"{len(p.placements)} run(s) in {len(p.waves)} wave(s); {len(p.unplaceable)} cannot be placed")
    for n in p.notes:
        con.print(f"[yellow]note:[/] {n}")


def _peaks(sized: list[tuple[RunSpec, Estimate | None]]) -> dict[str, dict[str, Any]]:
    """Per run: GPU GiB at the peak of loading and while running (summed over its GPUs), host GiB while loading."""
    return {r.name: {"load_gib": round(e.load_peak_gib, 2), "run_gib": round(e.total_gib, 2),
                     "load_host_gib": round(e.load_host_gib, 2), "load_how": e.load_how}
            for r, e in sized if e is not None}


def _print_peaks(peaks: dict[str, dict[str, Any]]) -> None:
    if not peaks:
        return
    from rich.table import Table

    t = Table(title="peak GPU memory: loading vs running (GiB, summed over the run's GPUs)", show_header=True,
              header_style="bold")
    for col in ("run", "loading", "running", "host RAM loading"):
        t.add_column(col, justify="left" if col == "run" else "right")
    for name, p in peaks.items():
        t.add_row(name, f"{p['load_gib']:.1f}", f"{p['run_gib']:.1f}", f"{p['load_host_gib']:.1f}")
    console().print(t)


def run(args: argparse.Namespace, *, catalog: Catalog | None = None, gpus: list[GpuInfo] | None = None) -> int:
    """Run ``quantarena plan``; ``catalog``/``gpus`` replace reading ``--models``/NVML (tests)."""
    try:
        n = getattr(args, "concurrency", 1)
        if n is not None and int(n) < 1:
            raise SizingError(f"--concurrency must be at least 1, got {args.concurrency}")
        catalog = catalog or load_catalog(args.models or default_catalog_path())
        runs = catalog.select(args.runs) if args.runs else list(catalog.runs.values())
        if not runs:
            raise SizingError(f"{catalog.path}: no runs to plan")
        if gpus is not None:
            source = "given"
        elif args.gpus:
            gpus, source = parse_gpus(args.gpus), f"described as {args.gpus}"
        else:
            gpus, why = detect_gpus()
            source = "detected by NVML" if gpus else f"no GPU found: {why}"
        sized = estimates_for(catalog, runs, args)
        result = plan(sized, gpus, allow_sharing=not args.exclusive)
    except (SizingError, CatalogError) as e:
        print(f"error: {e}", file=sys.stderr)
        return ExitCode.USAGE
    peaks = _peaks(sized)
    if args.json:
        d: dict[str, Any] = result.to_dict() | {"source": source, "peaks": peaks}
        print(json.dumps(d, indent=2))
    else:
        _print(result, source)
        _print_peaks(peaks)
    pinned = [u for u in result.unplaceable if u.reason.startswith("pinned to")]
    for u in pinned:
        print(f"error: run {u.run} is {u.reason}", file=sys.stderr)
    return ExitCode.USAGE if pinned else ExitCode.OK
