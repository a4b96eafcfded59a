"""Kept for old command lines: ``quantarena dataset coverage`` does this now.

    python scripts/gold_coverage.py DATASET_DIR [--json] [--audit N] [--seed S]

is the same as ``python -m cli.main dataset coverage DATASET_DIR ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["dataset", "coverage", *sys.argv[1:]]))
