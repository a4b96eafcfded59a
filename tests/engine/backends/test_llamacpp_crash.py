"""A real llama.cpp run process killed by SIGSEGV mid-answer (what the AMX kernels did): that run is
failed with the signal, the phase and its log's last lines; its finished answers are kept and the
other run finishes."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from engine import events as ev
from engine.launch import LaunchRequest, prepare

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def test_a_segfault_mid_answer_fails_that_run_only(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    text = (ROOT / "models.toml").read_text()
    model = text[text.index("[models.smollm2-135m]"):text.index("# ----", text.index("[models.smollm2-135m]"))]
    runs = textwrap.dedent("""
        [[runs]]
        model = "smollm2-135m"
        backend = "llama.cpp"
        quant = "q4_1"
        tag = "{tag}"
        device = "cpu"
        settings = {{ n_ctx = 1024 }}
        """)
    cat = tmp_path / "models.toml"
    cat.write_text(model + runs.format(tag="killed") + runs.format(tag="survivor"))
    p = prepare(LaunchRequest(models=str(cat), dataset="builtin", limit=3, max_new_tokens=24, fixed_length=True, out=str(tmp_path / "out")))
    session = p.session()
    victim = "smollm2-135m/llama.cpp/q4_1@killed"

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.ProblemStarted) and e.run == victim and e.problem_id == "builtin/1":
            proc = session._states[victim].proc
            assert proc is not None and proc.pid
            os.kill(proc.pid, signal.SIGSEGV)

    summary = session.run(on_event)
    rows = {r["run"]: r for r in summary["runs"]}
    dead = rows[victim]
    assert dead["status"] == "failed", dead
    assert "killed by SIGSEGV while answering builtin/1" in dead["reason"], dead["reason"]
    assert "last log lines:" in dead["reason"] and "quantarena doctor" in dead["reason"], dead["reason"]
    assert dead["problems"] == 1
    assert rows["smollm2-135m/llama.cpp/q4_1@survivor"]["status"] == "ok" and rows["smollm2-135m/llama.cpp/q4_1@survivor"]["problems"] == 3
    kept = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in kept if r["run"] == victim] == ["builtin/0"]
    log = (tmp_path / "out" / "logs" / "smollm2-135m_llama.cpp_q4_1_killed.log").read_text()
    assert "llama_model_loader" in log or "llama" in log  # llama.cpp's own lines reach the run's log
    assert "Fatal Python error: Segmentation fault" in log
