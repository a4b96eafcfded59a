"""``quantarena size --validate DIR``: the sizing estimate against the measured GPU memory of every
GPU run in a folder of results folders (:mod:`engine.sizing.validation`).

    quantarena size --validate benchmarks/gpu-runs
    quantarena size --validate benchmarks/gpu-runs --out benchmarks/sizing-validation/results

Prints the table; ``--out PREFIX`` also writes ``PREFIX.json``, ``PREFIX.md`` and, with matplotlib
installed, a plot ``PREFIX.png``. ``--json`` prints the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.catalog import Catalog
from engine.exits import ExitCode
from engine.sizing.validation import validation_markdown, validation_rows


def run_validate(args: argparse.Namespace, catalog: Catalog) -> int:
    rows = validation_rows(catalog, Path(args.validate))  # SizingError: the caller's one-line error
    md = validation_markdown(rows)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
        out.with_suffix(".md").write_text(md)
        if not _plot(rows, out.with_suffix(".png")):
            print("matplotlib not installed: no plot")
    print(json.dumps(rows, indent=2) if args.json else md, end="" if not args.json else "\n")
    return ExitCode.OK


def _plot(rows: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6))
    xs = [x["measured_gib"] for x in rows]
    ys = [x["estimate_gib"] for x in rows]
    colors = {"llama.cpp": "tab:green", "transformers": "tab:blue", "quanto": "tab:orange", "bitsandbytes": "tab:red"}
    for x in rows:
        b = x["run"].split("/")[1]
        ax.scatter(x["measured_gib"], x["estimate_gib"], color=colors.get(b, "k"), label=b, s=28)
    hi = max(xs + ys) * 1.08
    ax.plot([0, hi], [0, hi], "k-", lw=0.8)
    ax.plot([0, hi], [0, hi * 1.1], "k:", lw=0.6)
    ax.plot([0, hi], [0, hi * 0.9], "k:", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured peak process memory (GiB, NVML)")
    ax.set_ylabel("quantarena size estimate (GiB)")
    ax.set_title("Estimated vs measured GPU memory (dotted: ±10%)")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=False))
    ax.legend(uniq.values(), uniq.keys(), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True
