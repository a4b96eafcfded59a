"""The tensors a model has, derived from its public architecture facts.

Sizing works tensor by tensor because every quantizer treats tensors differently: llama.cpp's
K-quant mixes give ``attn_v``/``ffn_down`` more bits in some layers, quanto and bitsandbytes only
convert ``nn.Linear`` modules and leave ``lm_head``/embeddings/norms in bf16, and so on. The
inventory uses llama.cpp's GGUF tensor names (``blk.3.attn_v.weight``) with one *category* per
tensor that every scheme understands.

Shapes follow GGUF's convention: ``cols`` is ``ne[0]`` (the input features, the row length that
block quantization runs along) and ``rows`` is ``ne[1]`` (output features); ``experts`` is
``ne[2]`` for fused MoE expert tensors.

Checked against the published parameter counts: SmolLM2-135M 134,515,008, Llama-3-8B
8,030,261,248, Mistral-7B-v0.3 7,248,023,552 and Qwen2.5-72B 72,706,203,648 are reproduced
exactly; MiniMax-Text-01 gives 456.09 B (456 B published).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from engine.catalog import Architecture

#: categories of tensors (llama.cpp's ``tensor_category`` plus what it never quantizes)
TOKEN_EMBD = "token_embd"
OUTPUT = "output"
ATTN_Q = "attn_q"
ATTN_K = "attn_k"
ATTN_V = "attn_v"
ATTN_QKV = "attn_qkv"  # MiniMax lightning attention: fused q/k/v projection
ATTN_GATE = "attn_gate"  # MiniMax lightning attention: output gate
ATTN_OUTPUT = "attn_output"
FFN_GATE = "ffn_gate"
FFN_UP = "ffn_up"
FFN_DOWN = "ffn_down"
FFN_GATE_INP = "ffn_gate_inp"  # MoE router
NORM = "norm"
BIAS = "bias"

#: suffix of fused MoE expert tensors in GGUF names and in the breakdown (``ffn_down_exps``)
EXPERT_SUFFIX = "_exps"

#: categories that transformers builds as ``nn.Linear`` inside the decoder layers (what quanto
#: and bitsandbytes convert); fused 3-D MoE experts are ``nn.Parameter`` there, see ``expert``
LINEAR_CATEGORIES = frozenset({ATTN_Q, ATTN_K, ATTN_V, ATTN_QKV, ATTN_GATE, ATTN_OUTPUT, FFN_GATE, FFN_UP, FFN_DOWN})


@dataclass(frozen=True)
class TensorSpec:
    """One weight tensor: GGUF-style name, category, layer (-1 outside the blocks) and shape."""

    name: str
    category: str
    layer: int
    rows: int  # ne[1]: output features (vocab for embeddings)
    cols: int  # ne[0]: input features, the dimension block quantization runs along
    experts: int = 1  # ne[2]: experts in a fused MoE tensor

    @property
    def numel(self) -> int:
        return self.rows * self.cols * self.experts

    @property
    def is_expert(self) -> bool:
        """A fused MoE expert tensor (``ffn_*_exps``)."""
        return self.experts > 1

    @property
    def is_linear(self) -> bool:
        """A 2-D projection inside a decoder layer that transformers builds as ``nn.Linear``."""
        return self.category in LINEAR_CATEGORIES and not self.is_expert


def softmax_layer_ids(arch: Architecture) -> frozenset[int]:
    """Layers with softmax attention (and a KV cache).

    All layers unless ``softmax_attention_layers`` says otherwise; MiniMax-Text-01 puts softmax
    attention on every 8th layer (indices 7, 15, ..., 79: its ``attn_type_list``), so with S of L
    layers the softmax ones are those where ``(i + 1) % (L // S) == 0``.
    """
    if not arch.softmax_attention_layers or arch.softmax_attention_layers >= arch.layers:
        return frozenset(range(arch.layers))
    period = max(1, arch.layers // arch.softmax_attention_layers)
    ids = [i for i in range(arch.layers) if (i + 1) % period == 0][: arch.softmax_attention_layers]
    return frozenset(ids)


def _layer_tensors(arch: Architecture, i: int, softmax: bool) -> list[TensorSpec]:
    h, hd = arch.hidden_size, arch.head_dim
    q_dim, kv_dim = arch.heads * hd, arch.kv_heads * hd
    p = f"blk.{i}."
    out: list[TensorSpec] = [TensorSpec(p + "attn_norm.weight", NORM, i, 1, h)]
    if softmax:
        out += [
            TensorSpec(p + "attn_q.weight", ATTN_Q, i, q_dim, h),
            TensorSpec(p + "attn_k.weight", ATTN_K, i, kv_dim, h),
            TensorSpec(p + "attn_v.weight", ATTN_V, i, kv_dim, h),
            TensorSpec(p + "attn_output.weight", ATTN_OUTPUT, i, h, q_dim),
        ]
        if arch.attention_bias:
            out += [
                TensorSpec(p + "attn_q.bias", BIAS, i, 1, q_dim),
                TensorSpec(p + "attn_k.bias", BIAS, i, 1, kv_dim),
                TensorSpec(p + "attn_v.bias", BIAS, i, 1, kv_dim),
            ]
    else:  # lightning (linear) attention, MiniMax-Text-01
        out += [
            TensorSpec(p + "attn_qkv.weight", ATTN_QKV, i, 3 * q_dim, h),
            TensorSpec(p + "attn_gate.weight", ATTN_GATE, i, q_dim, h),
            TensorSpec(p + "attn_output.weight", ATTN_OUTPUT, i, h, q_dim),
            TensorSpec(p + "attn_sub_norm.weight", NORM, i, 1, q_dim),
        ]
    out.append(TensorSpec(p + "ffn_norm.weight", NORM, i, 1, h))
    f = arch.ffn_size
    if arch.is_moe:
        e = arch.experts
        out += [
            TensorSpec(p + "ffn_gate_inp.weight", FFN_GATE_INP, i, e, h),
            TensorSpec(p + "ffn_gate_exps.weight", FFN_GATE, i, f, h, e),
            TensorSpec(p + "ffn_up_exps.weight", FFN_UP, i, f, h, e),
            TensorSpec(p + "ffn_down_exps.weight", FFN_DOWN, i, h, f, e),
        ]
    else:
        out += [
            TensorSpec(p + "ffn_gate.weight", FFN_GATE, i, f, h),
            TensorSpec(p + "ffn_up.weight", FFN_UP, i, f, h),
            TensorSpec(p + "ffn_down.weight", FFN_DOWN, i, h, f),
        ]
    return out


@lru_cache(maxsize=256)
def model_tensors(arch: Architecture) -> tuple[TensorSpec, ...]:
    """Every weight tensor of the model, in llama.cpp's load order (by layer, then name).

    Tied embeddings (``tie_embeddings``) have no ``output.weight``: the token embedding doubles
    as the output projection, as in the GGUF file and in transformers.
    """
    h = arch.hidden_size
    out = [TensorSpec("token_embd.weight", TOKEN_EMBD, -1, arch.vocab_size, h)]
    if not arch.tie_embeddings:
        out.append(TensorSpec("output.weight", OUTPUT, -1, arch.vocab_size, h))
    out.append(TensorSpec("output_norm.weight", NORM, -1, 1, h))
    soft = softmax_layer_ids(arch)
    for i in range(arch.layers):
        out += _layer_tensors(arch, i, i in soft)
    return tuple(out)


def computed_params(arch: Architecture) -> int:
    """Parameter count implied by the architecture facts (to cross-check ``arch.params``)."""
    return sum(t.numel for t in model_tensors(arch))
