"""What a backend needs on a GPU beyond weights and KV cache: workspace and fixed overhead.

Two parts, both per GPU a run uses:

* **workspace** (reported as ``activations_gib``): memory that exists only while computing.
  (Out of sample, bf16 with SDPA on an H100, 2026-11-22: SmolLM2-135M shape 256+128 tokens
  1.51 GiB estimated vs 1.50 NVML peak, Llama-3-8B 4000+128 17.20 vs 17.42, Qwen2.5-14B shape
  1024+128 29.11 vs 29.18: within 1.3%.)
  - llama.cpp: the compute buffer ggml reserves for the worst-case graph. With flash attention
    off (llama-cpp-python's default) the largest node is the f32 KQ matrix,
    ``n_kv × n_ubatch × n_head × 4`` bytes plus an f32 mask ``n_kv × n_ubatch``, and on the GPU
    holding the output layer the f32 logits ``n_ubatch × n_vocab × 4``; plus
    ``n_ubatch × hidden × 16`` bytes of other activations. ``n_ubatch = min(512, n_ctx)``.
    This reproduces llama.cpp's logged buffers: Mistral-7B (vocab 32000) 164 MiB at n_ctx 2048
    and 2144 MiB at 32768; Llama-3-8B 560 MiB at 8192. quantarena's llama.cpp backend turns
    flash attention on when it offloads to a GPU: then only an f16 mask ``n_kv × n_ubatch``
    remains of the attention term (the estimate's default).
  - PyTorch backends: prefill activations of one decoder layer for ``prefill_tokens`` tokens
    (SDPA attention, no score matrix), fp32 logits of the last position (transformers'
    ``generate`` keeps one), and the quantizer's transient: the converted weights of one decoder
    layer exist in bf16 beside their packed copy while it is quantized (layer by layer, as
    ``engine.synthetic_hf`` builds models and as transformers loads them), plus packing copies;
    bitsandbytes int8 makes fp16/int8 copies of a weight while quantizing. Only converted
    weights count: MiniMax's fused experts, which stock quantizers leave in bf16, add none.
* **overhead**: CUDA context (~0.5 GiB per process per GPU, cuBLAS handles included) and, for
  PyTorch, the caching allocator's reserved-but-unused memory that NVML counts.

Calibration (docs/gpu.md, H100, Llama-3-8B shape, 256-token prompt + 128 new tokens, batch 1):
the transient multipliers are fitted to the gap between torch's allocator peak and
weights + KV + activations, and the allocator slack to the gap between NVML and torch peaks:

=================  ==========  ==========  =========================================
variant            torch peak  NVML peak   fitted here
=================  ==========  ==========  =========================================
bf16               15.1 GiB    16.3 GiB    slack 0.75
quanto int8         9.0        10.5        1 bf16 layer + 0.3 largest Linear; slack 0.95
quanto int4         6.0         7.4        1 bf16 layer + 0.75 largest Linear; slack 0.95
bnb int8            8.8        10.6        2.2 largest Linear; slack 1.3
bnb nf4 (dq)        5.8         7.2        1 bf16 layer; slack 0.9
=================  ==========  ==========  =========================================

These constants were fitted on one shape, so agreeing with those five figures proves little by
itself. The bf16 structure was then checked out of sample (see above: within 1.3% on three other
shapes and prompt lengths); the quantized transients scale with the layer (or weight) size by
assumption and are unmeasured on other shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.catalog import Architecture

GIB = float(1 << 30)
#: CUDA context + library handles per process per GPU (GiB)
CUDA_CONTEXT_GIB = 0.5
#: llama.cpp's default micro-batch (``n_ubatch``) and llama-cpp-python's ``n_batch``
LLAMA_CPP_UBATCH = 512
#: tokens of the prompt processed in one forward pass by the PyTorch backends (MATH-PT prompts
#: are a few hundred tokens; pass ``prefill_tokens`` for longer ones)
DEFAULT_PREFILL_TOKENS = 512


@dataclass(frozen=True)
class TorchRuntime:
    """Calibrated runtime constants of one PyTorch backend × quantization."""

    slack_gib: float  # allocator reserved-but-unused (NVML minus torch peak, minus context)
    transient_layers: float  # bf16 copies of one decoder layer's converted weights (held while packing)
    transient_linears: float  # bf16 copies of the largest converted weight (quantize / dequantize)


TORCH_RUNTIME: dict[tuple[str, str], TorchRuntime] = {
    ("transformers", "bf16"): TorchRuntime(0.75, 0.0, 0.0),
    ("transformers", "fp16"): TorchRuntime(0.75, 0.0, 0.0),
    ("transformers", "fp32"): TorchRuntime(0.75, 0.0, 0.0),
    ("quanto", "int8"): TorchRuntime(0.95, 1.0, 0.3),
    ("quanto", "float8"): TorchRuntime(0.95, 1.0, 0.3),
    # int4's slack refitted (0.95 -> 0.5) on five process-level NVML peaks on the H200 (Llama-3-8B
    # eager, @graphs, @graphs with scoring, @graphs at batch 8; Mistral-7B @graphs: 5.32-8.00 GiB,
    # benchmarks/pytorch-best/README.md): the estimate had been 10-13% high, by a constant ~0.75 GiB
    ("quanto", "int4"): TorchRuntime(0.5, 1.0, 0.75),
    ("bitsandbytes", "int8"): TorchRuntime(1.3, 0.0, 2.2),
    # torchao: quantize_ swaps each Linear's weight for its packed subclass in place; one bf16
    # decoder layer is alive while packing (synthetic runs). Started from quanto's constants; int4's
    # slack refitted (0.95 -> 0.35) on the H200 (Llama-3-8B, benchmarks/pytorch-best: 6.57 GiB
    # process peak against 7.54 estimated at ctx 1024); int8 (9.86 vs 10.54) and float8 (10.81 vs
    # 10.54) were within 10% as they were
    ("torchao", "int8"): TorchRuntime(0.95, 1.0, 0.3),
    ("torchao", "int4"): TorchRuntime(0.35, 1.0, 0.75),
    ("torchao", "float8"): TorchRuntime(0.95, 1.0, 0.3),
    # nf4/fp4 slack refitted (0.9 -> 0.4) on six process-level NVML peaks measured through
    # quantarena on H100/H200 (benchmarks/sizing-validation/results.md: Llama-3-8B, Mistral-7B and
    # Qwen2.5-72B shapes); docs/gpu.md's 7.2 GiB was whole-GPU NVML with transformers' generate
    ("bitsandbytes", "nf4"): TorchRuntime(0.4, 1.0, 0.0),
    ("bitsandbytes", "fp4"): TorchRuntime(0.4, 1.0, 0.0),
}


@dataclass(frozen=True)
class Runtime:
    """Per-GPU runtime memory of a run (bytes): fixed part on every GPU, extra on the last."""

    workspace_bytes: float  # on every GPU used
    tail_workspace_bytes: float  # extra on the GPU holding the output layer
    overhead_bytes: float  # CUDA context (+ allocator slack) on every GPU used


def llama_cpp_runtime(
    arch: Architecture, *, ctx: int, batch: int, flash_attn: bool, n_ubatch: int = LLAMA_CPP_UBATCH
) -> Runtime:
    """Compute-buffer model of llama.cpp (see the module docstring).

    With flash attention the KQ matrix is never materialized; its f16 mask remains.
    """
    ub = min(n_ubatch, ctx * batch)
    n_kv = ctx * batch
    base = ub * arch.hidden_size * 16
    attn = n_kv * ub * 2 if flash_attn else n_kv * ub * arch.heads * 4 + n_kv * ub * 4
    ffn = ub * arch.ffn_size * 4 * 2
    logits = ub * arch.vocab_size * 4
    every = max(attn, ffn) + base
    last = max(attn, ffn, logits) + base
    return Runtime(every, last - every, CUDA_CONTEXT_GIB * GIB)


#: eager attention's score matrices, bytes per (head × query × key) element during prefill:
#: bf16 scores, their fp32 softmax and the bf16 copy (~10 bytes measured by torch's allocator),
#: times 1.5 for the caching allocator's fragmentation that NVML sees (H100, Llama-3-8B shape,
#: 4000-token prompt: NVML peak 24.14 GiB with eager vs 17.42 GiB with SDPA)
EAGER_SCORE_BYTES = 15
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


def torch_runtime(
    arch: Architecture, backend: str, quant: str, *, ctx: int, batch: int, prefill_tokens: int,
    converted_layer_numel: int = 0, largest_converted_numel: int = 0, attn_implementation: str = "sdpa",
) -> Runtime:
    """Activation, transient and overhead model of the PyTorch backends.

    ``converted_layer_numel`` is the largest number of weights one decoder layer has converted by
    the quantizer, ``largest_converted_numel`` the largest single converted matrix (one expert's
    slice for fused experts). ``attn_implementation="sdpa"`` (transformers' default) keeps no
    score matrix; ``"eager"`` adds ``heads × prefill² × EAGER_SCORE_BYTES`` per batch row.
    """
    rt = TORCH_RUNTIME[(backend, quant)]
    p = min(ctx, prefill_tokens)
    act_bytes = 4 if quant == "fp32" else 2
    q_dim, kv_dim = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    per_token = arch.hidden_size * 4 + q_dim + 2 * kv_dim + arch.ffn_size * 3
    activations = p * batch * per_token * act_bytes
    if attn_implementation == "eager":
        activations += batch * arch.heads * p * p * EAGER_SCORE_BYTES
    transient = 2 * (rt.transient_layers * converted_layer_numel + rt.transient_linears * largest_converted_numel)
    logits = batch * arch.vocab_size * 4 * 2
    return Runtime(activations + transient, logits, (CUDA_CONTEXT_GIB + rt.slack_gib) * GIB)
