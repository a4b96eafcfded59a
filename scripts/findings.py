"""The committed study: docs/findings.md, its report docs/findings.html and picture docs/findings.png,
from every results folder under benchmarks/gpu-runs/ (see cli/report/findings.py).

    python scripts/findings.py [--root benchmarks/gpu-runs] [--docs docs]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.report.findings import write_findings
from engine.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]



def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT / "benchmarks" / "gpu-runs")
    p.add_argument("--docs", type=Path, default=ROOT / "docs")
    p.add_argument("--models", type=Path, default=ROOT / "models.toml")
    args = p.parse_args()
    os.chdir(ROOT)  # folder paths in the committed files relative to the repository
    out = write_findings(args.root, args.docs, load_catalog(args.models))
    for path in out.values():
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
