"""``quantarena synth``: pre-build a synthetic (random-weight) GGUF for a catalog model, e.g. on
the lent GPU machine before a ``--synthetic`` session.

    quantarena synth --model llama3-8b --quant q4_0 --out /tmp/synth
    quantarena synth --model qwen2.5-72b --quant q4_0 --plan   # size only

Prints the file's path, size and the seconds the write took (or that a complete cached file was
reused). ``--plan`` only computes the exact size, writing nothing. ``--json`` prints one JSON
object instead. Exit codes: 0 ok, 2 bad arguments or catalog, 3 unsupported or not enough disk.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine.exits import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``synth``'s arguments to ``parser``."""
    from engine.synthetic_gguf import QUANTS

    parser.description = __doc__.splitlines()[0] if __doc__ else None
    parser.add_argument("--model", required=True, help="model name in the catalog (models.toml)")
    parser.add_argument("--quant", required=True, choices=sorted(QUANTS))
    parser.add_argument("--out", type=Path, default=None, help="directory (or .gguf path); default: the cache")
    parser.add_argument("--models", type=Path, default=None, help="catalog file (default: ./models.toml)")
    parser.add_argument("--n-ctx", type=int, default=None, help="context length stored in the file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plan", action="store_true", help="print the planned size only; write nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run ``quantarena synth``."""
    from engine.backends.base import BackendError
    from engine.catalog import CatalogError, default_catalog_path, load_catalog
    from engine.synthetic_gguf import gguf_destination, is_complete, plan_gguf, synthetic_gguf

    try:
        catalog = load_catalog(args.models or default_catalog_path())
    except CatalogError as e:
        print(f"error: {e}", file=sys.stderr)
        return ExitCode.USAGE
    spec = catalog.models.get(args.model)
    if spec is None:
        print(f"error: unknown model {args.model!r} (models: {', '.join(catalog.models)})", file=sys.stderr)
        return ExitCode.USAGE
    try:
        plan = plan_gguf(spec.arch, args.quant, n_ctx=args.n_ctx)
        report: dict[str, object] = {
            "model": args.model, "quant": args.quant, "planned_bytes": plan.total_bytes,
            "n_params": plan.n_params, "tensors": len(plan.tensors), "bytes_by_type": plan.bytes_by_type(),
            "vocab_source": plan.vocab_source,
        }
        if not args.plan:
            if args.out is not None and args.out.suffix != ".gguf":
                args.out.mkdir(parents=True, exist_ok=True)
            dest = gguf_destination(spec.arch, args.quant, path=args.out, n_ctx=args.n_ctx)
            reused = is_complete(dest, plan)
            t0 = time.perf_counter()
            path = synthetic_gguf(spec.arch, args.quant, path=args.out, n_ctx=args.n_ctx, seed=args.seed)
            seconds = time.perf_counter() - t0
            size = path.stat().st_size
            report |= {
                "path": str(path), "bytes": size, "seconds": round(seconds, 2), "reused": reused,
                "write_gb_per_s": None if reused else round(size / 1e9 / max(seconds, 1e-9), 3),
            }
    except BackendError as e:  # UnsupportedError included
        print(f"error: {e}", file=sys.stderr)
        return ExitCode.RUN_FAILED
    if args.json:
        print(json.dumps(report))
    else:
        for key, val in report.items():
            print(f"{key}: {val}")
    return ExitCode.OK
