"""Shared fixtures: paths, the real MATH-PT folder (skipped when absent), small catalogs, a local Ray."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATHPT = ROOT.parent / "shared" / "mathpt"


@pytest.fixture
def mathpt_dir() -> Path:
    if not (MATHPT / "ptbr_multiple_choice_test.json").exists():
        pytest.skip("../shared/mathpt is absent")
    return MATHPT


FAKE_MODEL = """
[models.tiny]
display_name = "tiny fake"
arch = { family = "llama", params = 1000, layers = 2, hidden_size = 64, heads = 4, kv_heads = 2, head_dim = 16, ffn_size = 128, vocab_size = 256, context_length = 2048 }
"""


def write_fake_catalog(tmp_path: Path, runs: str, defaults: str = "") -> Path:
    """A models.toml with one fake model and the given [[runs]] tables (fake backend)."""
    text = (textwrap.dedent(defaults) + "\n" if defaults else "") + FAKE_MODEL + textwrap.dedent(runs)
    p = tmp_path / "models.toml"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray for the module (2 CPUs, and one GPU that is only a Ray resource): sessions in
    this process use it, CLI children connect to its address. A run given the GPU
    (``Slot(num_gpus=1)``) gets ``CUDA_VISIBLE_DEVICES=0`` from Ray and no device behind it: it
    reads a FAKE NVML (``tests.fakes.fake_nvml.fake_node_source``). Skipped without Ray."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 object_store_memory=100 * 2**20)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


# ---- native-library tests in a child process -----------------------------------------------
# Tests marked ``native`` load a backend's native library (llama.cpp, bitsandbytes, quanto's
# kernels) into the test process. A crash there (a SIGSEGV in llama.cpp's AMX kernels, say) would
# kill the whole pytest run, so the parent runs each module's native tests in a child pytest and
# reports their outcomes as its own: a crash fails the test that was running, with the signal and
# the child's last output, and the module's remaining tests run in a fresh child.

_CHILD_ENV = "QUANTARENA_TEST_CHILD_REPORT"
_native_outcomes: dict[str, list[dict]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "native: loads a native backend library; run in a child process so a crash fails only that test")


def _child_record(rec: dict) -> None:
    import json
    import os

    path = os.environ.get(_CHILD_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    _child_record({"nodeid": nodeid, "when": "start"})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    import os

    if not os.environ.get(_CHILD_ENV):
        return
    lr = report.longrepr
    if isinstance(lr, tuple):
        longrepr: object = list(lr)
    elif lr is None:
        longrepr = None
    else:
        longrepr = str(lr)
    _child_record({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome, "longrepr": longrepr,
                   "duration": report.duration, "wasxfail": getattr(report, "wasxfail", None)})


def _crash_words(output: str) -> str:
    """What a dead child said last: the lines before Python's fatal-error dump, the dump's first
    line and its innermost frames (the last 25 lines when there is no dump)."""
    lines = output.strip().splitlines()
    fatal = [i for i, ln in enumerate(lines) if ln.startswith("Fatal Python error")]
    if not fatal:
        return "\n".join(lines[-25:])
    i = fatal[-1]
    return "\n".join(lines[max(0, i - 8):i + 8])


def _run_native_children(nodeids: list[str]) -> None:
    """Run ``nodeids`` in child pytest processes until each has an outcome (a crash costs one)."""
    import json
    import os
    import signal
    import subprocess
    import tempfile

    todo = list(nodeids)
    while todo:
        fd, report = tempfile.mkstemp(prefix="quantarena-native-", suffix=".jsonl")
        os.close(fd)
        env = {**os.environ, _CHILD_ENV: report}
        cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--tb=short", "--no-header", "-o", "addopts=", *todo]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        recs = [json.loads(line) for line in Path(report).read_text(encoding="utf-8").splitlines() if line.strip()]
        os.unlink(report)
        started: list[str] = []
        for r in recs:
            if r["when"] == "start":
                started.append(r["nodeid"])
            else:
                _native_outcomes.setdefault(r["nodeid"], []).append(r)
        finished = {n for n, reps in _native_outcomes.items() if any(x["when"] == "teardown" for x in reps)}
        if proc.returncode < 0 or (started and started[-1] not in finished):
            crashed = started[-1] if started else todo[0]
            try:
                sig = signal.Signals(-proc.returncode).name if proc.returncode < 0 else f"exit code {proc.returncode}"
            except ValueError:
                sig = f"signal {-proc.returncode}"
            tail = _crash_words(proc.stdout + proc.stderr)
            _native_outcomes[crashed] = [{"nodeid": crashed, "when": "call", "outcome": "failed", "duration": 0.0, "wasxfail": None,
                                          "longrepr": f"the test's child process died ({sig}) while running this test; its last output:\n{tail}"}]
            finished.add(crashed)
        elif not started and todo:  # the child ran nothing (a collection error): fail them all with its output
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            for n in todo:
                _native_outcomes[n] = [{"nodeid": n, "when": "call", "outcome": "failed", "duration": 0.0, "wasxfail": None,
                                        "longrepr": f"the child pytest ran nothing (exit {proc.returncode}):\n{tail}"}]
            return
        todo = [n for n in todo if n not in finished and n not in _native_outcomes]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    import os

    if os.environ.get(_CHILD_ENV) or item.get_closest_marker("native") is None:
        return None
    if item.nodeid not in _native_outcomes:  # the module's native tests still to run, in one child
        module = item.nodeid.split("::")[0]
        batch = [i.nodeid for i in item.session.items
                 if i.nodeid.split("::")[0] == module and i.get_closest_marker("native") is not None and i.nodeid not in _native_outcomes]
        _run_native_children(batch)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reps = _native_outcomes.get(item.nodeid) or [{"when": "call", "outcome": "failed", "duration": 0.0, "wasxfail": None,
                                                   "longrepr": "the child process reported no outcome for this test"}]
    for r in reps:
        longrepr = r["longrepr"]
        if r["outcome"] == "skipped" and isinstance(longrepr, list):
            longrepr = tuple(longrepr)
        rep = pytest.TestReport(nodeid=item.nodeid, location=item.location, keywords=dict.fromkeys(item.keywords, 1),
                                outcome=r["outcome"], longrepr=longrepr, when=r["when"], duration=r.get("duration") or 0.0)
        if r.get("wasxfail") is not None:
            rep.wasxfail = r["wasxfail"]  # type: ignore[attr-defined]
        item.ihook.pytest_runtest_logreport(report=rep)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
