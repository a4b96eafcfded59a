"""Decode-speed ceiling from memory bandwidth: the roofline the anchors define.

At batch 1 every generated token reads every weight it uses once, plus the KV cache up to its
position, so ``tokens/s <= bandwidth / bytes read per token``. Bytes per token here are the
stored (packed) weights the token touches: all of them except the input embedding table (one
row is read) and, for MoE, ``experts_per_token / experts`` of the expert tensors; plus K and V
of every softmax layer for ``ctx_pos`` positions, plus the lightning state (MiniMax).

A run split over several GPUs by layers executes them one after another, so the ceiling is the
same one GPU's bandwidth over the same bytes (no aggregate bandwidth at batch 1).
"""

from __future__ import annotations

from engine.catalog import Architecture
from engine.sizing.errors import SizingError
from engine.sizing.estimate import check_backend_quant, kv_bytes_per_token_layer, kv_dtype_for
from engine.sizing.gpus import GpuType, gpu_type
from engine.sizing.schemes import tensor_storage
from engine.sizing.tensors import TOKEN_EMBD, softmax_layer_ids


def bytes_per_token(
    arch: Architecture, backend: str, quant: str, ctx_pos: int, *, kv_dtype: str | None = None,
    double_quant: bool = True, quantize_experts: bool = False,
) -> float:
    """Bytes one decode step reads at position ``ctx_pos`` (batch 1)."""
    check_backend_quant(backend, quant)
    if ctx_pos < 0:
        raise SizingError(f"ctx_pos must be >= 0, got {ctx_pos}")
    total = 0.0
    for s in tensor_storage(arch, backend, quant, double_quant=double_quant, quantize_experts=quantize_experts):
        t = s.tensor
        if t.category == TOKEN_EMBD and not arch.tie_embeddings:
            total += s.nbytes / t.rows  # one row of the table
        elif t.is_expert:
            total += s.nbytes * arch.experts_per_token / arch.experts
        else:
            total += s.nbytes
    _, kv = kv_dtype_for(backend, quant, kv_dtype)
    soft = softmax_layer_ids(arch)
    total += kv_bytes_per_token_layer(arch, kv) * ctx_pos * len(soft)
    lightning = arch.layers - len(soft)
    total += lightning * arch.heads * arch.head_dim * arch.head_dim * 2
    return total


def roofline_tok_s(
    arch: Architecture, backend: str, quant: str, gpu: str | GpuType, ctx_pos: int, *, kv_dtype: str | None = None,
    double_quant: bool = True, quantize_experts: bool = False,
) -> float:
    """Upper bound on decode tokens/s at position ``ctx_pos`` on ``gpu`` (batch 1)."""
    g = gpu_type(gpu)
    if not g.bandwidth_tbps:
        raise SizingError(f"GPU {g.name} has no known bandwidth; give it as NAME:GiB:TBps (e.g. {g.name}:48:0.96)")
    b = bytes_per_token(arch, backend, quant, ctx_pos, kv_dtype=kv_dtype, double_quant=double_quant,
                        quantize_experts=quantize_experts)
    return g.bandwidth_tbps * 1e12 / b


def roofline_pct(
    measured_tok_s: float, arch: Architecture, backend: str, quant: str, gpu: str | GpuType, ctx_pos: int,
    *, kv_dtype: str | None = None, double_quant: bool = True, quantize_experts: bool = False,
) -> float:
    """Measured decode tokens/s as a percentage of :func:`roofline_tok_s`."""
    return 100.0 * measured_tok_s / roofline_tok_s(
        arch, backend, quant, gpu, ctx_pos, kv_dtype=kv_dtype, double_quant=double_quant,
        quantize_experts=quantize_experts,
    )
