"""``quantarena --batch`` as a user runs it: exit codes, one-line errors, Ctrl-C, files written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_fake_catalog

ROOT = Path(__file__).resolve().parents[2]


def qa(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _fake(tmp_path: Path, extra: str = "") -> Path:
    return write_fake_catalog(tmp_path, '[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n' + extra)


def _one_clean_line(r: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    for p in parts:
        assert p in r.stderr, (p, r.stderr)


def test_batch_writes_results_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = qa("--batch", "--models", str(_fake(tmp_path)), "--limit", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [ln["problem_id"] for ln in lines] == ["builtin/0", "builtin/1"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"][0]["status"] == "ok"
    env = summary["environment"]
    assert env["cpu"] and env["libraries"]["quantarena"] and "git_commit" in env
    assert "quantarena summary" in r.stderr


@pytest.mark.parametrize(
    "args, code, parts",
    [
        (["--models", "/nowhere/models.toml"], 2, ["/nowhere/models.toml", "not found"]),
        (["--runs", "nothing/*"], 2, ["matches no run"]),
        (["--dataset", "/nowhere/mathpt"], 2, ["/nowhere/mathpt"]),
        (["--limit", "0"], 2, ["--limit"]),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], code: int, parts: list[str]) -> None:
    base = ["--batch", "--models", str(_fake(tmp_path)), "--out", str(tmp_path / "o")]
    if "--models" in args:
        base = ["--batch", "--out", str(tmp_path / "o")]
    r = qa(*base, *args)
    assert r.returncode == code, r.stderr
    _one_clean_line(r, *parts)
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_malformed_and_unknown_backend_catalogs_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[models.x\n")
    r = qa("--batch", "--models", str(bad))
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    _one_clean_line(r, str(bad))
    unk = tmp_path / "unk.toml"
    unk.write_text(_fake(tmp_path).read_text().replace('backend = "fake"', 'backend = "tensorrt"'))
    r = qa("--batch", "--models", str(unk))
    assert r.returncode == 2
    _one_clean_line(r, "unknown backend 'tensorrt'", "llama.cpp")


def test_missing_weights_exit_3_and_keep_other_runs(tmp_path: Path) -> None:
    cat = _fake(tmp_path)
    text = cat.read_text().replace(
        "[models.tiny]", '[models.tiny]\ngguf.q4_0 = { path = "/nowhere/tiny-q4_0.gguf" }'
    ) + '\n[[runs]]\nmodel = "tiny"\nbackend = "llama.cpp"\nquant = "q4_0"\n'
    cat.write_text(text)
    out = tmp_path / "out"
    r = qa("--batch", "--models", str(cat), "--limit", "1", "--out", str(out))
    assert r.returncode == 3, r.stderr
    _one_clean_line(r, "tiny/llama.cpp/q4_0", "/nowhere/tiny-q4_0.gguf")
    summary = json.loads((out / "summary.json").read_text())
    rows = {x["run"]: x for x in summary["runs"]}
    assert rows["tiny/llama.cpp/q4_0"]["status"] == "failed"
    assert rows["tiny/fake/fake"]["status"] == "ok" and rows["tiny/fake/fake"]["problems"] == 1


def test_ctrl_c_keeps_results_and_exits_130(tmp_path: Path) -> None:
    cat = _fake(tmp_path, 'settings = { tokens_per_s = 30, answers = ["um dois tres quatro cinco seis sete oito nove dez onze doze"] }\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--batch", "--models", str(cat), "--limit", "8", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (results.exists() and results.read_text().strip()):
        time.sleep(0.1)
    assert results.exists(), "no result before the deadline"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = results.read_text().splitlines()
    assert 1 <= len(lines) < 8
    assert all(json.loads(x)["finish_reason"] in ("stop", "length") for x in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["runs"][0]["problems"] == len(lines)


def test_help_and_runs_listing() -> None:
    r = qa("--help")
    assert r.returncode == 0 and "--batch" in r.stdout and "Exit codes" in r.stdout
    r = qa("runs")
    assert r.returncode == 0 and "smollm2-135m/llama.cpp/q4_1" in r.stdout


def test_concurrency_throughput_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = qa("--batch", "--models", str(_fake(tmp_path)), "--limit", "4", "--concurrency", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    row = summary["runs"][0]
    assert row["concurrency"] == 2 and row["batches"] == 2 and row["aggregate_tok_s"] and row["single_stream_tok_s"]
    assert "aggregate tok/s" in r.stderr  # the printed table has the throughput columns


@pytest.mark.parametrize("args, part", [
    (["--batch", "--concurrency", "0"], "--concurrency must be between 1 and 256"),
    (["--concurrency", "2"], "--concurrency is a --batch option"),
])
def test_concurrency_bad_values(tmp_path: Path, args: list[str], part: str) -> None:
    r = qa(*args, "--models", str(_fake(tmp_path)), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    _one_clean_line(r, part)


def test_runs_the_planner_could_not_place_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``Plan.unplaceable`` is a tuple of Unplaceable; --batch names each dropped run in one line."""
    import argparse
    import dataclasses

    import cli.batch
    from cli.main import build_parser
    from engine.placement import parse_gpus, plan
    from tests.engine.test_placement import run as catalog_run

    real_prepare = cli.batch.prepare
    too_big = plan([catalog_run("qwen2.5-72b/transformers/bf16")], parse_gpus("1x80GiB"))
    assert too_big.unplaceable  # a real planner verdict, not a hand-made one

    def prepare_with_a_plan(req):  # the fake catalog runs on the CPU; give it the planner's verdict
        return dataclasses.replace(real_prepare(req), plan=too_big)

    monkeypatch.setattr(cli.batch, "prepare", prepare_with_a_plan)
    args: argparse.Namespace = build_parser().parse_args(["--batch", "--quiet", "--models", str(_fake(tmp_path)), "--limit", "1", "--out", str(tmp_path / "o")])
    assert cli.batch.run_batch(args) == 0
    err = capsys.readouterr().err
    assert "qwen2.5-72b/transformers/bf16: cannot be placed:" in err and "GiB" in err, err
