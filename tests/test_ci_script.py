"""CI runs the README's test command verbatim, then gates the static checks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_then_the_static_checks() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    test_cmd = next(ln for ln in ci.splitlines() if "python -m pytest" in ln)
    assert f"\n{test_cmd}\n" in readme, "the README must show CI's test command character for character"
    assert "set -euo pipefail" in ci  # any failing command fails CI
    lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    after = lines[lines.index(test_cmd) + 1:]
    assert any(ln.startswith("ruff check") for ln in after) and "mypy" in after and "lint-imports" in after


def test_the_linters_ci_runs_are_pinned_and_python_versions_agree() -> None:
    py = (ROOT / "pyproject.toml").read_text()
    for tool in ("ruff", "mypy", "import-linter"):
        assert re.search(rf'"{tool}==[\d.]+"', py), f"{tool} is not pinned in the test extra"
    assert 'requires-python = ">=3.11"' in py and 'target-version = "py311"' in py and 'python_version = "3.11"' in py
    assert "Python ≥ 3.11" in (ROOT / "README.md").read_text()
