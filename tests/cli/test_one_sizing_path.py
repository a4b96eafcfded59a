"""``quantarena plan`` and ``--batch`` size and place runs through one path: the same estimate for
the same run (context, KV type, flash attention, ...), the same NVML reader, one flag name."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import cli.plan as plan_cli
from cli.main import build_parser
from engine import launch
from engine.catalog import Architecture, Catalog, ModelSpec, RunSpec
from engine.gpu import visible_gpus
from engine.sizing.runs import estimate_run, run_ctx
from tests.fakes.fake_nvml import FakeGpu, FakeNvml

LLAMA8B = Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192)
RUNS = [
    RunSpec("llama3-8b/llama.cpp/q4_k_m@q8kv", "llama3-8b", "llama.cpp", "q4_k_m",
            settings={"flash_attn": False, "kv_cache_type": "q8_0"}),
    RunSpec("llama3-8b/transformers/bf16", "llama3-8b", "transformers", "bf16", settings={"attn_implementation": "eager"}),
    RunSpec("llama3-8b/fake/fake", "llama3-8b", "fake", "fake"),
]


def catalog(defaults: dict | None = None) -> Catalog:
    return Catalog(Path("test-models.toml"), {"llama3-8b": ModelSpec("llama3-8b", "Llama 3 8B", LLAMA8B)},
                   {r.name: r for r in RUNS}, defaults if defaults is not None else {"n_ctx": 8192})


def options() -> SimpleNamespace:
    return SimpleNamespace(extra={}, settings_overrides={}, waves=None, assignments=None, gpu_uuids={}, executor=None)


def four_gpus() -> FakeNvml:
    return FakeNvml([FakeGpu(uuid=f"GPU-{c}", used_mib=1000 + i) for i, c in enumerate("abcd")])


def test_the_context_comes_from_ctx_then_the_run_then_the_catalog_defaults() -> None:
    run = RUNS[0]
    assert run_ctx(run, LLAMA8B, {"n_ctx": 2048}) == 2048
    assert run_ctx(run, LLAMA8B, {}) == 4096
    assert run_ctx(run, LLAMA8B, {"n_ctx": 1 << 20}) == 8192  # never above the model's context length
    assert run_ctx(RunSpec("r", "llama3-8b", "llama.cpp", "q4_0", settings={"n_ctx": 1024}), LLAMA8B, {"n_ctx": 2048}) == 1024
    assert run_ctx(run, LLAMA8B, {"n_ctx": 2048}, ctx=512) == 512


def test_batch_and_plan_give_the_same_estimates(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cat = catalog()
    monkeypatch.setattr(launch, "_machine_gpus", lambda: visible_gpus(four_gpus())[0])
    opts = options()
    runs = list(RUNS)
    launch._place(cat, runs, SimpleNamespace(gpus="auto", exclusive=True, concurrency=2), opts)  # type: ignore[arg-type]
    batch_plan = opts.extra["plan"]

    parser = argparse.ArgumentParser()
    plan_cli.add_arguments(parser)
    rc = plan_cli.run(parser.parse_args(["--json", "--concurrency", "2", "--exclusive"]), catalog=cat,
                      gpus=visible_gpus(four_gpus())[0])
    assert rc == 0
    cli_plan = json.loads(capsys.readouterr().out)
    assert batch_plan["placements"] == cli_plan["placements"]
    # and what they both hold is the run's own sizing: 8192 context (defaults.n_ctx), q8_0 KV, no flash attention
    est = estimate_run(cat, RUNS[0], batch=2)
    assert est is not None and est.kv_dtype == "q8_0" and est.ctx == 8192
    placed = {p["run"]: p for p in cli_plan["placements"]}
    assert placed[RUNS[0].name]["total_gib"] == pytest.approx(est.total_gib, abs=1e-3)
    assert placed["llama3-8b/fake/fake"]["device"] == "cpu"


def test_hidden_gpus_map_plan_positions_to_the_physical_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    gpus, why = visible_gpus(four_gpus())
    assert why is None
    assert [(g.index, g.nvml_index, g.uuid) for g in gpus] == [(0, 3, "GPU-d"), (1, 1, "GPU-b")]
    assert gpus[0].name == "NVIDIA H100 80GB HBM3 (gpu:3)"
    monkeypatch.setattr(launch, "_machine_gpus", lambda: gpus)
    opts = options()
    runs = [RUNS[0], RunSpec("pinned", "llama3-8b", "llama.cpp", "q4_k_m", device="cuda:1")]
    launch._place(catalog(), runs, SimpleNamespace(gpus="auto", exclusive=True), opts)  # type: ignore[arg-type]
    # the session names GPUs by NVML index (its sampler, the UUID it hands the run process)
    assert opts.assignments == {RUNS[0].name: [3], "pinned": [1]}
    assert opts.gpu_uuids == {3: "GPU-d", 1: "GPU-b"}


def test_no_sharing_is_a_deprecated_alias_of_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--batch", "--no-sharing"])
    assert args.exclusive is True
    assert capsys.readouterr().err.strip() == "note: --no-sharing is deprecated; use --exclusive"
    assert "--no-sharing" not in build_parser().format_help()
    parser = argparse.ArgumentParser()
    plan_cli.add_arguments(parser)
    assert parser.parse_args(["--no-sharing"]).exclusive is True
    assert parser.parse_args([]).exclusive is False
    assert "deprecated" in capsys.readouterr().err
