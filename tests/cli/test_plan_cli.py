"""``quantarena plan`` through its argparse harness, on described machines and on none."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import cli.plan as plan_cli
from engine.catalog import Architecture, Catalog, ModelSpec, RunSpec
from engine.exits import ExitCode
from engine.sizing import estimate
from engine.sizing.runs import settings_to_estimate

ARCHS = {
    "llama3-8b": Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192),
    "qwen2.5-72b": Architecture("qwen2", 72_706_203_648, 80, 8192, 64, 8, 128, 29568, 152064, 32768,
                                attention_bias=True),
    "minimax-text-01": Architecture("minimax", 456_000_000_000, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_192,
                                    experts=32, experts_per_token=2, softmax_attention_layers=10),
}
RUNS = [
    RunSpec("llama3-8b/llama.cpp/q4_k_m", "llama3-8b", "llama.cpp", "q4_k_m"),
    RunSpec("llama3-8b/transformers/bf16", "llama3-8b", "transformers", "bf16"),
    RunSpec("qwen2.5-72b/quanto/int4", "qwen2.5-72b", "quanto", "int4"),
    RunSpec("qwen2.5-72b/transformers/bf16", "qwen2.5-72b", "transformers", "bf16"),
    RunSpec("minimax-text-01/quanto/int8", "minimax-text-01", "quanto", "int8", settings={"quantize_experts": True}),
    RunSpec("minimax-text-01/transformers/bf16", "minimax-text-01", "transformers", "bf16"),
    RunSpec("llama3-8b/fake/fake", "llama3-8b", "fake", "fake", default=False),
]


def catalog(runs: list[RunSpec] = RUNS, defaults: dict | None = None) -> Catalog:
    return Catalog(Path("test-models.toml"), {n: ModelSpec(n, n, a) for n, a in ARCHS.items()},
                   {r.name: r for r in runs}, defaults if defaults is not None else {"n_ctx": 4096})


def call(argv: list[str], capsys: pytest.CaptureFixture[str], cat: Catalog | None = None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="quantarena plan")
    plan_cli.add_arguments(parser)
    rc = plan_cli.run(parser.parse_args(argv), catalog=cat or catalog())
    out, err = capsys.readouterr()
    return rc, out, err


def test_whole_catalog_on_8x80gib(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["--gpus", "8x80GiB"], capsys)
    assert rc == ExitCode.OK
    assert "plan for 8 GPU(s) (described as 8x80GiB)" in out
    assert "qwen2.5-72b/transformers/bf16" in out and "0.5,0.5" in out
    assert "cannot be placed" in out and "minimax-text-01/transformers/bf16" in out and "GiB short" in out
    # MiniMax bf16 cannot fit; its quanto int8 run packs the experts (quantize_experts) and fits
    assert "6 run(s) in" in out and "1 cannot be placed" in out


def test_json_plan(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["--gpus", "8x80GiB", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["source"] == "described as 8x80GiB" and len(d["gpus"]) == 8
    by_run = {p["run"]: p for p in d["placements"]}
    qwen = by_run["qwen2.5-72b/transformers/bf16"]
    assert len(qwen["gpus"]) == 2 and list(qwen["max_memory"].values()) == ["70GiB", "70GiB"]
    assert qwen["tensor_split"] == [0.5, 0.5] and qwen["device_map"]["lm_head"] == qwen["gpus"][1]
    assert by_run["llama3-8b/fake/fake"]["device"] == "cpu"
    assert [u["run"] for u in d["unplaceable"]] == ["minimax-text-01/transformers/bf16"]
    assert all(u["missing_gib"] > 150 for u in d["unplaceable"])
    assert len(by_run["minimax-text-01/quanto/int8"]["gpus"]) == 7


def test_minimax_on_8x141gib(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["--gpus", "8x141GiB", "--runs", "minimax-text-01/*", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and not d["unplaceable"]
    by_run = {p["run"]: p for p in d["placements"]}
    assert len(by_run["minimax-text-01/transformers/bf16"]["gpus"]) == 7  # bf16 experts: ~857 GiB
    assert len(by_run["minimax-text-01/quanto/int8"]["gpus"]) == 4  # packed int8 experts: ~513 GiB
    assert [p["wave"] for p in d["placements"]] == [1, 2]


MINIMAX_INT8 = [
    RunSpec("minimax-text-01/quanto/int8", "minimax-text-01", "quanto", "int8", settings={"quantize_experts": True}),
    RunSpec("minimax-text-01/quanto/int8@stock", "minimax-text-01", "quanto", "int8"),
    RunSpec("minimax-text-01/bitsandbytes/int8", "minimax-text-01", "bitsandbytes", "int8"),
]


@pytest.mark.parametrize("gpus,n_gpus", [("8x80GiB", 7), ("8xH100-80GB", 8)])
def test_minimax_int8_with_packed_experts_places_on_8x80gb(capsys: pytest.CaptureFixture[str], gpus: str,
                                                           n_gpus: int) -> None:
    rc, out, _ = call(["--gpus", gpus, "--runs", "minimax-text-01/*", "--json"], capsys, catalog(MINIMAX_INT8))
    d = json.loads(out)
    assert rc == 0
    [placed] = d["placements"]
    assert placed["run"] == "minimax-text-01/quanto/int8" and placed["gpus"] == list(range(n_gpus))
    assert sum(placed["tensor_split"]) == pytest.approx(1.0) and len(placed["max_memory"]) == n_gpus
    # without packing (stock QuantoConfig, bitsandbytes LLM.int8) the experts stay bf16: ~830 GiB of weights
    short = {u["run"]: u["missing_gib"] for u in d["unplaceable"]}
    assert sorted(short) == ["minimax-text-01/bitsandbytes/int8", "minimax-text-01/quanto/int8@stock"]
    assert all(v > 150 for v in short.values())


def test_quantize_experts_setting_reaches_the_estimate() -> None:
    packed, stock, bnb = plan_cli.estimates_for(catalog(MINIMAX_INT8), MINIMAX_INT8, argparse.Namespace(ctx=None))
    assert packed[1] is not None and stock[1] is not None and bnb[1] is not None
    assert packed[1].weights_gib < 0.55 * stock[1].weights_gib
    assert bnb[1].weights_gib > 800
    assert settings_to_estimate(MINIMAX_INT8[0]) == {"quantize_experts": True}
    assert settings_to_estimate(MINIMAX_INT8[1]) == {"quantize_experts": False}
    assert "quantize_experts" not in settings_to_estimate(MINIMAX_INT8[2])


def test_run_settings_reach_the_estimate() -> None:
    runs = [
        RunSpec("llama3-8b/llama.cpp/q4_k_m@nofa", "llama3-8b", "llama.cpp", "q4_k_m",
                settings={"flash_attn": False, "kv_cache_type": "q8_0", "n_ctx": 8192}),
        RunSpec("llama3-8b/bitsandbytes/nf4", "llama3-8b", "bitsandbytes", "nf4", settings={"double_quant": False}),
        RunSpec("llama3-8b/transformers/bf16", "llama3-8b", "transformers", "bf16",
                settings={"attn_implementation": "eager"}),
    ]
    [(_, a), (_, b), (_, c)] = plan_cli.estimates_for(catalog(runs), runs, argparse.Namespace(ctx=None))
    assert a is not None and a.kv_dtype == "q8_0" and a.kv_cache_gib == 34 / 64 and a.activations_gib > 0.5
    assert b is not None and any(g.scheme == "bnb nf4 b64 +fp32 absmax" for g in b.breakdown)  # no double quant
    plain = estimate(ARCHS["llama3-8b"], "transformers", "bf16", ctx=4096)
    # eager holds heads × 512² scores (15 bytes each with allocator slack): 0.12 GiB more
    assert c is not None and c.activations_gib - plain.activations_gib == pytest.approx(32 * 512**2 * 15 / 2**30)


def test_runs_glob_and_ctx(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["--gpus", "2x141GiB", "--runs", "qwen2.5-72b/*", "--ctx", "32768", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and {p["run"] for p in d["placements"]} == {"qwen2.5-72b/quanto/int4", "qwen2.5-72b/transformers/bf16"}


def test_without_gpus_the_plan_is_for_the_cpu(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(plan_cli, "detect_gpus", lambda: ([], "NVML unavailable (test)"))
    rc, out, _ = call(["--runs", "llama3-8b/*"], capsys)
    assert rc == 0 and "plan for the CPU (no GPU found: NVML unavailable (test))" in out
    rc, out, _ = call(["--runs", "llama3-8b/*", "--json"], capsys)
    d = json.loads(out)
    assert [(p["wave"], p["device"]) for p in d["placements"]] == [(1, "cpu"), (2, "cpu"), (3, "cpu")]


def test_detected_gpus_are_used(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.placement import GpuInfo

    monkeypatch.setattr(plan_cli, "detect_gpus", lambda: ([GpuInfo(0, "NVIDIA H100 80GB HBM3", 79.65, 79.1)], None))
    rc, out, _ = call(["--runs", "llama3-8b/llama.cpp/*", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["source"] == "detected by NVML" and d["placements"][0]["gpus"] == [0]


def test_detect_gpus_reads_nvml_through_the_engine_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    fake = FakeNvml([FakeGpu(uuid="GPU-a", used_mib=1559), FakeGpu(uuid="GPU-b", used_mib=500)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gpus, why = plan_cli.detect_gpus(fake)
    assert why is None and len(gpus) == 1
    g = gpus[0]
    assert (g.index, g.name) == (0, "NVIDIA H100 80GB HBM3 (gpu:1)")
    assert g.total_gib == pytest.approx(81559 / 1024) and g.free_gib == pytest.approx(81059 / 1024)
    none, why = plan_cli.detect_gpus(FakeNvml([], fail_init=True))
    assert none == [] and "NVML Shared Library Not Found" in why


def test_run_pinned_to_a_gpu_the_machine_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [RunSpec("llama3-8b/llama.cpp/q4_k_m", "llama3-8b", "llama.cpp", "q4_k_m", device="cuda:7")]
    rc, out, err = call(["--gpus", "2x80GiB"], capsys, catalog(runs))
    assert rc == ExitCode.USAGE
    assert "error: run llama3-8b/llama.cpp/q4_k_m is pinned to cuda:7 but this machine has 2 GPU(s)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gpus", "8x80GB"], "cannot read GPUs '8x80GB'"),
        (["--gpus", "8x80GiB", "--runs", "gemma*"], "run glob 'gemma*' matches no run"),
        (["--gpus", "8x80GiB", "--ctx", "9000"], "--ctx 9000 exceeds llama3-8b's context_length 8192"),
        (["--gpus", "8x80GiB", "--concurrency", "0"], "--concurrency must be at least 1"),
    ],
)
def test_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = call(argv, capsys)
    assert rc == ExitCode.USAGE and message in err


def test_catalog_without_runs(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = call(["--gpus", "1x80GiB"], capsys, catalog([]))
    assert rc == ExitCode.USAGE and "no runs to plan" in err


def test_run_ctx_setting_and_catalog_default_are_clipped_to_the_model() -> None:
    runs = [RunSpec("llama3-8b/llama.cpp/q8_0", "llama3-8b", "llama.cpp", "q8_0", settings={"n_ctx": 2048})]
    args = argparse.Namespace(ctx=None)
    [(r, est)] = plan_cli.estimates_for(catalog(runs, {"n_ctx": 32768}), runs, args)
    assert est is not None and est.ctx == 2048
    runs = [RunSpec("llama3-8b/llama.cpp/q8_0", "llama3-8b", "llama.cpp", "q8_0")]
    [(r, est)] = plan_cli.estimates_for(catalog(runs, {"n_ctx": 32768}), runs, args)
    assert est is not None and est.ctx == 8192


def test_concurrency_sizes_every_sequences_kv_cache(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [RunSpec("llama3-8b/transformers/bf16", "llama3-8b", "transformers", "bf16")]
    one = plan_cli.estimates_for(catalog(runs), runs, argparse.Namespace(ctx=8192, concurrency=1))[0][1]
    many = plan_cli.estimates_for(catalog(runs), runs, argparse.Namespace(ctx=8192, concurrency=64))[0][1]
    assert one is not None and many is not None
    assert many.kv_cache_gib == pytest.approx(64 * one.kv_cache_gib)  # 1 GiB per 8k-token sequence
    assert many.weights_gib == one.weights_gib
    rc, out, _ = call(["--gpus", "1x80GiB", "--runs", "llama3-8b/transformers/bf16", "--ctx", "8192", "--concurrency", "64"],
                      capsys, catalog(runs))
    assert rc == ExitCode.OK and "cannot be placed" in out  # 15 GiB of weights + 64 GiB of KV > 80 GiB
