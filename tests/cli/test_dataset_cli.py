"""``quantarena dataset coverage``: the table, --json, --audit, bad input; the old script still works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def qa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_coverage_json_and_audit_on_builtin() -> None:
    r = qa("dataset", "coverage", "builtin", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"builtin": {"usable": 18, "total": 18, "usable_pct": 100.0}}
    r = qa("dataset", "coverage", "builtin", "--audit", "3", "--seed", "5", "--json")
    sample = json.loads(r.stdout)["audit"]
    assert len(sample) == 3 and {"problem", "solution", "gold", "confidence", "rule", "reason"} <= set(sample[0])
    again = json.loads(qa("dataset", "coverage", "builtin", "--audit", "3", "--seed", "5", "--json").stdout)["audit"]
    assert [x["problem_id"] for x in again] == [x["problem_id"] for x in sample]  # seeded
    r = qa("dataset", "coverage", "builtin", "--audit", "2")
    assert r.returncode == 0 and "usable" in r.stdout and "PROBLEM:" in r.stdout and "SOLUTION:" in r.stdout


def test_bad_dataset_is_one_line_and_exit_2() -> None:
    r = qa("dataset", "coverage", "/nowhere/mathpt")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "/nowhere/mathpt" in r.stderr
    assert qa("dataset").returncode == 2  # the action is required


def test_mathpt_coverage_reaches_the_target(mathpt_dir: Path) -> None:
    cov = json.loads(qa("dataset", "coverage", str(mathpt_dir), "--json").stdout)
    assert cov["ptbr_open_ended"]["usable_pct"] >= 75.0
    assert cov["ptpt_open_ended"]["usable_pct"] >= 75.0  # 409/544 (75.2%) at the seed-31415926 audit
