"""Placing runs on described machines: 1, 2, 4 and 8 GPUs of 80 and 141 GiB, CPU-only, pins."""

from __future__ import annotations

import pytest

from engine.catalog import Architecture, RunSpec
from engine.placement import TABLE_HEADER, GpuInfo, parse_gpus, plan
from engine.sizing import Estimate, SizingError, estimate

LLAMA3_8B = Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192)
QWEN_72B = Architecture("qwen2", 72_706_203_648, 80, 8192, 64, 8, 128, 29568, 152064, 32768, attention_bias=True)
MINIMAX = Architecture(
    "minimax", 456_000_000_000, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_192, experts=32, experts_per_token=2,
    active_params=45_900_000_000, softmax_attention_layers=10,
)
ARCHS = {"llama3-8b": LLAMA3_8B, "qwen2.5-72b": QWEN_72B, "minimax-text-01": MINIMAX}


def run(name: str, device: str = "auto", ctx: int = 4096) -> tuple[RunSpec, Estimate]:
    model, backend, quant = name.split("/")
    return RunSpec(name, model, backend, quant, device=device), estimate(ARCHS[model], backend, quant, ctx=ctx)


# ---------------------------------------------------------------------------------------------
# describing machines


@pytest.mark.parametrize(
    ("spec", "n", "name", "gib"),
    [
        ("8x80GiB", 8, "80GiB", 80.0), ("2x141GiB", 2, "141GiB", 141.0), ("4xH100-80GB", 4, "H100-80GB", 79.1),
        ("80GiB,80GiB", 2, "80GiB", 80.0), ("2×A6000:48", 2, "A6000", 48.0), ("H200-141GB", 1, "H200-141GB", 139.8),
    ],
)
def test_parse_gpus(spec: str, n: int, name: str, gib: float) -> None:
    gpus = parse_gpus(spec)
    assert [g.index for g in gpus] == list(range(n))
    assert {(g.name, g.total_gib) for g in gpus} == {(name, gib)}


def test_parse_gpus_mixed_and_cpu() -> None:
    gpus = parse_gpus("1x141GiB, 2x80GiB")
    assert [(g.index, g.total_gib) for g in gpus] == [(0, 141.0), (1, 80.0), (2, 80.0)]
    assert parse_gpus("cpu") == []


@pytest.mark.parametrize("spec", ["8x80GB", "lots", "0x80GiB", "8x", "80GiB,,80GiB"])
def test_parse_gpus_refuses_with_the_accepted_forms(spec: str) -> None:
    with pytest.raises(SizingError, match=r"GPU"):
        parse_gpus(spec)


def test_capacity_keeps_headroom_and_respects_free_memory() -> None:
    assert GpuInfo(0, "x", 80).capacity() == pytest.approx(76.0)
    assert GpuInfo(0, "x", 80, free_gib=10).capacity() == pytest.approx(9.5)


# ---------------------------------------------------------------------------------------------
# boxes


def test_qwen72b_bf16_needs_two_80gib_gpus() -> None:
    r = run("qwen2.5-72b/transformers/bf16")
    one = plan([r], parse_gpus("1x80GiB"))
    assert not one.placements and one.unplaceable[0].missing_gib > 50
    two = plan([r], parse_gpus("2x80GiB"))
    p = two.placements[0]
    assert p.gpus == (0, 1) and p.layers_per_gpu == (40, 40) and p.tensor_split == (0.5, 0.5)
    assert p.device_map["model.embed_tokens"] == 0 and p.device_map["lm_head"] == 1
    assert p.device_map["model.layers.39"] == 0 and p.device_map["model.layers.40"] == 1
    assert set(p.max_memory) == {0, 1}


def test_qwen72b_bf16_does_not_fit_one_141gib_gpu_but_two() -> None:
    r = run("qwen2.5-72b/transformers/bf16")
    assert plan([r], parse_gpus("1x141GiB")).unplaceable[0].missing_gib > 0
    assert plan([r], parse_gpus("2x141GiB")).placements[0].gpus == (0, 1)


def test_qwen72b_int4_fits_one_80gib_gpu() -> None:
    p = plan([run("qwen2.5-72b/quanto/int4")], parse_gpus("1x80GiB"))
    assert p.placements[0].gpus == (0,) and p.placements[0].tensor_split is None


def test_minimax_int8_with_stock_quanto_needs_141gib_gpus() -> None:
    # QuantoConfig leaves MiniMax's fused experts bf16: ~830 GiB of weights
    r = run("minimax-text-01/quanto/int8")
    p80 = plan([r], parse_gpus("8x80GiB"))
    assert not p80.placements and p80.unplaceable[0].missing_gib > 150
    p141 = plan([r], parse_gpus("8x141GiB"))
    assert p141.placements[0].gpus == tuple(range(7))


def test_minimax_int8_with_packed_experts_spreads_over_eight_h100s() -> None:
    name = "minimax-text-01/quanto/int8"
    est = estimate(MINIMAX, "quanto", "int8", ctx=4096, quantize_experts=True)
    assert est.gpus_needed == 8
    p8 = plan([(name, est)], parse_gpus("8xH100-80GB"))
    assert p8.placements[0].gpus == tuple(range(8))
    ts = p8.placements[0].tensor_split
    assert ts is not None and sum(ts) == pytest.approx(1.0) and len(ts) == 8
    p4 = plan([(name, est)], parse_gpus("4x80GiB"))
    assert p4.unplaceable and p4.unplaceable[0].missing_gib > 100
    assert len(plan([(name, est)], parse_gpus("8x141GiB")).placements[0].gpus) == 4


def test_minimax_bf16_cannot_fit_8x80_before_anything_loads() -> None:
    p = plan([run("minimax-text-01/transformers/bf16"), run("llama3-8b/llama.cpp/q4_k_m")], parse_gpus("8x80GiB"))
    assert [u.run for u in p.unplaceable] == ["minimax-text-01/transformers/bf16"]
    u = p.unplaceable[0]
    assert u.needed_gib > 800 and u.missing_gib > 200 and "short" in u.reason
    assert [x.run for x in p.placements] == ["llama3-8b/llama.cpp/q4_k_m"]


# ---------------------------------------------------------------------------------------------
# sharing and waves


def test_small_runs_spread_over_free_gpus_first_then_share() -> None:
    runs = [run(f"llama3-8b/{b}/{q}") for b, q in (("llama.cpp", "q4_k_m"), ("quanto", "int4"), ("bitsandbytes", "nf4"))]
    p = plan(runs, parse_gpus("2x80GiB"))
    assert len(p.waves) == 1
    assert sorted(x.gpus for x in p.placements) == [(0,), (0,), (1,)]


def test_without_sharing_each_gpu_holds_one_run_per_wave() -> None:
    runs = [run(f"llama3-8b/{b}/{q}") for b, q in (("llama.cpp", "q4_k_m"), ("quanto", "int4"), ("bitsandbytes", "nf4"))]
    p = plan(runs, parse_gpus("2x80GiB"), allow_sharing=False)
    assert len(p.waves) == 2
    for wave in p.waves:
        used = [g for x in wave for g in x.gpus]
        assert len(used) == len(set(used))


def test_runs_that_cannot_load_together_go_in_waves_largest_first() -> None:
    names = ["llama3-8b/quanto/int8", "llama3-8b/transformers/bf16", "llama3-8b/bitsandbytes/int8"]
    p = plan([run(n) for n in names], parse_gpus("1x20GiB"))  # 19 GiB plannable: one run at a time
    assert [len(w) for w in p.waves] == [1, 1, 1]
    # first-fit decreasing: bf16 (16.8 GiB), bnb int8 (11.1), quanto int8 (10.9)
    assert [x.run for x in p.placements] == [names[1], names[2], names[0]]
    assert [x.wave for x in p.placements] == [1, 2, 3]


def test_equal_runs_keep_the_order_given() -> None:
    est = run("llama3-8b/transformers/bf16")[1]
    names = ["c", "a", "b"]
    p = plan([(n, est) for n in names], parse_gpus("1x20GiB"))
    assert [(x.run, x.wave) for x in p.placements] == [("c", 1), ("a", 2), ("b", 3)]


def test_first_fit_decreasing_puts_big_runs_first_and_fills_gaps() -> None:
    names = ["llama3-8b/llama.cpp/q4_k_m", "qwen2.5-72b/transformers/bf16", "llama3-8b/transformers/bf16"]
    p = plan([run(n) for n in names], parse_gpus("2x80GiB"))
    assert p.placement("qwen2.5-72b/transformers/bf16").wave == 1
    # beside the 72B (69.7 GiB per GPU, 76 plannable) the 5.6 GiB q4_k_m fits; the 16.8 GiB bf16 waits
    assert p.placement("llama3-8b/llama.cpp/q4_k_m").wave == 1
    assert p.placement("llama3-8b/llama.cpp/q4_k_m").gpus == (0,)
    assert p.placement("llama3-8b/transformers/bf16").wave == 2


def test_eight_gpus_place_many_runs_in_one_wave() -> None:
    names = [f"llama3-8b/{b}/{q}" for b, q in (("llama.cpp", "q4_k_m"), ("llama.cpp", "q8_0"), ("quanto", "int4"),
                                                ("quanto", "int8"), ("bitsandbytes", "nf4"), ("bitsandbytes", "int8"),
                                                ("transformers", "bf16"))]
    p = plan([run(n) for n in names] + [run("qwen2.5-72b/transformers/bf16")], parse_gpus("8x141GiB"))
    assert len(p.waves) == 1 and not p.unplaceable
    assert len(p.placement("qwen2.5-72b/transformers/bf16").gpus) == 2


def test_split_follows_unequal_capacities() -> None:
    p = plan([run("qwen2.5-72b/quanto/int4")], parse_gpus("1x40GiB,1x20GiB"))
    x = p.placements[0]
    assert sum(x.layers_per_gpu) == 80
    assert x.gib_per_gpu[0] / x.gib_per_gpu[1] == pytest.approx(2.0, rel=0.05)  # in proportion to 40:20


# ---------------------------------------------------------------------------------------------
# CPU, pins, fakes


def test_cpu_only_machine_runs_everything_one_at_a_time_in_order() -> None:
    names = ["qwen2.5-72b/quanto/int4", "llama3-8b/llama.cpp/q4_k_m", "llama3-8b/transformers/bf16"]
    p = plan([run(n) for n in names], [])
    assert [(x.run, x.wave, x.device, x.gpus) for x in p.placements] == [
        (n, i + 1, "cpu", ()) for i, n in enumerate(names)
    ]
    assert not p.unplaceable and p.notes


def test_pinned_to_a_missing_gpu_is_unplaceable_with_a_clear_reason() -> None:
    p = plan([run("llama3-8b/llama.cpp/q4_k_m", device="cuda:7")], parse_gpus("2x80GiB"))
    assert not p.placements
    assert p.unplaceable[0].reason == "pinned to cuda:7 but this machine has 2 GPU(s) (cuda:0..cuda:1)"


def test_pins_are_honoured() -> None:
    p = plan([run("llama3-8b/llama.cpp/q4_k_m", device="cuda:1"), run("llama3-8b/quanto/int4", device="cpu")],
             parse_gpus("2x80GiB"))
    assert p.placement("llama3-8b/llama.cpp/q4_k_m").gpus == (1,)
    cpu = p.placement("llama3-8b/quanto/int4")
    assert cpu.device == "cpu" and cpu.wave == 2


def test_runs_without_estimate_go_to_the_cpu() -> None:
    p = plan([(RunSpec("m/fake/fake", "m", "fake", "fake"), None), run("llama3-8b/llama.cpp/q4_k_m")],
             parse_gpus("1x80GiB"))
    assert p.placement("m/fake/fake").device == "cpu" and p.placement("llama3-8b/llama.cpp/q4_k_m").wave == 1


def test_duplicate_runs_are_refused() -> None:
    r = run("llama3-8b/llama.cpp/q4_k_m")
    with pytest.raises(SizingError, match="listed twice"):
        plan([r, r], parse_gpus("1x80GiB"))


def test_table_and_dict() -> None:
    p = plan([run("qwen2.5-72b/transformers/bf16"), run("minimax-text-01/transformers/bf16")], parse_gpus("2x80GiB"))
    rows = p.to_table()
    assert len(TABLE_HEADER) == len(rows[0]) == 7
    assert rows[0][:4] == ["1", "qwen2.5-72b/transformers/bf16", "cuda", "cuda:0-1"] and rows[0][6] == "0.5,0.5"
    d = p.to_dict()
    assert set(d) >= {"gpus", "placements", "unplaceable", "waves", "headroom"}
    assert d["placements"][0]["tensor_split"] == [0.5, 0.5]
    assert d["unplaceable"][0]["run"] == "minimax-text-01/transformers/bf16"
