"""A native crash inside a ``native`` test fails that test alone: the suite goes on and reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = "QUANTARENA_CRASH_PROBE"

if os.environ.get(PROBE):  # the probe tests exist only inside the meta-test's own pytest run

    @pytest.mark.native
    def test_probe_before() -> None:
        assert True

    @pytest.mark.native
    def test_probe_crash() -> None:
        sys.stderr.write("probe: about to crash in native code\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)

    @pytest.mark.native
    def test_probe_after() -> None:
        assert True


def test_a_segfault_fails_one_test_and_the_rest_still_run() -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_native_isolation.py", "-k", "probe"],
                       cwd=ROOT, env={**os.environ, PROBE: "1"}, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 failed, 2 passed" in out, out
    assert "test_probe_crash" in out and "SIGSEGV" in out and "probe: about to crash in native code" in out, out
    assert "Fatal Python error" not in out.split("short test summary")[-1] or "test_probe_crash" in out
