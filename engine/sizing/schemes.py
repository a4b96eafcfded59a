"""Weight storage schemes: how many bytes each tensor takes under each backend × quantization.

Every figure here is a storage format, not a rule of thumb:

GGUF (llama.cpp), bytes per block / weights per block (``ggml-common.h`` block structs):
  Q4_0 18/32 (4.5 bpw), Q4_1 20/32 (5.0), Q5_0 22/32 (5.5), Q5_1 24/32 (6.0), Q8_0 34/32 (8.5),
  Q2_K 84/256 (2.625), Q3_K 110/256 (3.4375), Q4_K 144/256 (4.5), Q5_K 176/256 (5.5),
  Q6_K 210/256 (6.5625); F16/BF16 2 bytes, F32 4 bytes.
  A file type such as Q4_K_M is a *mix*: ``llama_tensor_get_type_impl`` in llama.cpp's
  ``src/llama-quant.cpp`` (ggml-org/llama.cpp, read 2026-11 at 007dbbf) picks a type per tensor.
  :func:`gguf_tensor_type` restates those rules for the file types quantarena knows (our own
  code, not a copy): output.weight (and a tied token_embd) -> Q6_K unless the file type is Q8_0;
  attn_v and ffn_down -> Q6_K in the ``use_more_bits`` layers for Q4_K_M/Q5_K_M (the first and
  last eighth and every third layer between); 80-layer "70B" models bump Q3_K/Q4_K attn_v to
  Q5_K; Q2_K/Q3_K_x/Q4_K_S have their own bumps; a row length not divisible by the block size
  falls back (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->Q4_0, then F16). Norms, biases and
  the MoE router (``ffn_gate_inp``) stay F32.

optimum-quanto (through transformers' ``QuantoConfig``): only ``nn.Linear`` modules are
  converted; transformers' ``get_keys_to_not_convert`` keeps ``lm_head`` (and tied weights) out,
  embeddings and norms are no Linear -> all stay in the compute dtype (bf16).
  qint8: int8 + one bf16 scale per output row (``WeightQBytesTensor``, axis 0).
  qint4: 4-bit + bf16 scale and bf16 shift per group of 128 inputs (``QModuleMixin``: 128, or
  the largest of 96/64/32 dividing in_features; per-row when in_features <= 128) = 4.25 bpw.
  qfloat8: 8 bits + bf16 per-row scale.
torchao (``quantize_`` with Int8/Int4/Float8WeightOnlyConfig, lm_head left out; torchao 0.18):
  int8: int8 ``qdata`` + fp32 scale and int8 zero point per output row (``Int8Tensor``).
  int4: ``tile_packed_to_4d`` 4-bit + bf16 scale and zero per group of 128 inputs (TinyGemm).
  float8: e4m3 ``qdata`` + fp32 scale per output row (``Float8Tensor``). Read off the tensors'
  ``__tensor_flatten__`` on this machine for int8/float8 (a 1536×4096 Linear).
bitsandbytes (``BitsAndBytesConfig``, same skip list as quanto):
  int8 (LLM.int8): int8 + one fp32 absmax (``SCB``) per output row.
  nf4/fp4: 4 bits + one fp32 absmax per block of 64 (4.5 bpw); with double quantization the
  absmax is 8-bit, with an fp32 absmax per 256 absmax values and fp32 offset/code tables
  (4.127 bpw). Transformers' default is ``bnb_4bit_use_double_quant=False``.
  Checked on this machine with optimum-quanto 0.2.7 and bitsandbytes 0.50.2 (CPU): a 1536×4096
  bf16 Linear packs to 8.0039 / 4.2500 bpw (quanto int8/int4) and 4.5001 / 4.1283 bpw
  (nf4 without/with double quant).

MoE experts: all experts are stored. In transformers 5.x MiniMax's experts are fused 3-D
``nn.Parameter`` tensors, not ``nn.Linear``, so ``QuantoConfig``/``BitsAndBytesConfig`` (and
quanto's ``quantize``) leave them in bf16 -- checked on this machine with a 2-layer MiniMax and
transformers 5.23. That is the default here; ``quantize_experts=True`` sizes a backend that
packs them like Linear weights (one scale row per expert output row). The router
(``MiniMaxTopKRouter``, an ``nn.Parameter``) stays in the compute dtype either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.catalog import Architecture
from engine.sizing.errors import SizingError
from engine.sizing.tensors import (
    ATTN_K,
    ATTN_OUTPUT,
    ATTN_QKV,
    ATTN_V,
    BIAS,
    FFN_DOWN,
    FFN_GATE_INP,
    NORM,
    OUTPUT,
    TOKEN_EMBD,
    TensorSpec,
    model_tensors,
)

# ---------------------------------------------------------------------------------------------
# ggml types

#: ggml type -> (weights per block, bytes per block)
GGML_TYPES: dict[str, tuple[int, int]] = {
    "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2),
    "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_0": (32, 34),
    "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
}

#: GGUF file type (as quantarena names it) -> llama.cpp's default tensor type for it
GGUF_FILE_TYPES: dict[str, str] = {
    "q2_k": "Q2_K", "q3_k_s": "Q3_K", "q3_k_m": "Q3_K", "q3_k_l": "Q3_K",
    "q4_0": "Q4_0", "q4_1": "Q4_1", "q4_k_s": "Q4_K", "q4_k_m": "Q4_K",
    "q5_0": "Q5_0", "q5_1": "Q5_1", "q5_k_s": "Q5_K", "q5_k_m": "Q5_K",
    "q6_k": "Q6_K", "q8_0": "Q8_0", "f16": "F16", "bf16": "BF16", "f32": "F32",
}

#: KV-cache element types llama.cpp accepts through ``type_k``/``type_v`` that we size
KV_DTYPES: dict[str, tuple[int, int]] = {
    "f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20),
    "q5_0": (32, 22), "q5_1": (32, 24),
}

_SHAPE_FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "Q2_K": "Q4_0", "Q3_K": "Q4_0"}


def ggml_bpw(ggml_type: str) -> float:
    """Bits per weight of one ggml type (Q4_K -> 4.5)."""
    blck, size = GGML_TYPES[ggml_type]
    return size * 8 / blck


def ggml_nbytes(ggml_type: str, t: TensorSpec) -> int:
    """Bytes of a tensor stored as ``ggml_type`` (``ggml_row_size`` × rows × experts)."""
    blck, size = GGML_TYPES[ggml_type]
    return t.rows * t.experts * (t.cols // blck) * size


def _is_quantized(ggml_type: str) -> bool:
    return GGML_TYPES[ggml_type][0] > 1


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's ``use_more_bits``: first eighth, last eighth, and every third layer between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def _is_70b(arch: Architecture) -> bool:
    """llama.cpp's ``LLM_TYPE_70B``: 80-layer llama (with GQA) and qwen2 models."""
    if arch.layers != 80:
        return False
    if arch.family in ("llama", "mistral"):
        return arch.heads != arch.kv_heads
    return arch.family == "qwen2"


def gguf_tensor_type(t: TensorSpec, file_type: str, arch: Architecture) -> str:
    """The ggml type llama.cpp's quantize gives tensor ``t`` for ``file_type`` (no imatrix).

    Our restatement of ``llama_tensor_get_type`` in ``src/llama-quant.cpp`` for the file types
    in :data:`GGUF_FILE_TYPES`; the layer index of ``attn_v``/``ffn_down`` counters equals the
    block index because llama.cpp sorts tensors by block number first.
    """
    if t.category in (NORM, BIAS, FFN_GATE_INP):
        return "F32"  # 1-D tensors and the MoE router are never quantized (converter keeps F32)
    default = GGUF_FILE_TYPES[file_type]
    if not _is_quantized(default):
        return default
    new = default
    cat, ft, n = t.category, file_type, arch.layers
    n_expert = arch.experts
    n_gqa = arch.heads // max(1, arch.kv_heads)
    if cat == OUTPUT or (arch.tie_embeddings and cat == TOKEN_EMBD):
        if t.cols % GGML_TYPES[default][0] != 0:
            new = "Q8_0"
        elif default != "Q8_0":
            new = "Q6_K"
    elif cat == TOKEN_EMBD:
        pass
    elif cat in (ATTN_V, ATTN_QKV):  # attn_v-like (category_is_attn_v)
        i = t.layer
        if ft == "q2_k":
            new = "Q4_K" if n_gqa >= 4 else "Q3_K"
        elif ft == "q3_k_m":
            new = "Q5_K" if i < 2 else "Q4_K"
        elif ft == "q3_k_l":
            new = "Q5_K"
        elif ft in ("q4_k_m", "q5_k_m") and use_more_bits(i, n):
            new = "Q6_K"
        elif ft == "q4_k_s" and i < 4:
            new = "Q5_K"
        if _is_70b(arch) and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if n_expert == 8:
            new = "Q8_0"
    elif cat == ATTN_K:
        if n_expert == 8:
            new = "Q8_0"
    elif cat == FFN_DOWN:
        i = t.layer
        if ft == "q2_k":
            new = "Q3_K"
        elif ft == "q3_k_m":
            new = "Q5_K" if i < n // 16 else "Q4_K"
        elif ft == "q3_k_l":
            new = "Q5_K"
        elif ft in ("q4_k_m", "q5_k_m"):
            if use_more_bits(i, n):
                new = "Q6_K"
        elif ft == "q4_k_s" and i < n // 8:
            new = "Q5_K"
    elif cat == ATTN_OUTPUT:
        if n_expert == 8:
            if ft in ("q2_k", "q3_k_s", "q3_k_m", "q4_k_s", "q4_k_m"):
                new = "Q5_K"
        elif ft == "q2_k":
            new = "Q3_K"
        elif ft == "q3_k_m":
            new = "Q4_K"
        elif ft == "q3_k_l":
            new = "Q5_K"
    # incompatible row length -> fall back (tensor_type_fallback)
    if t.cols % GGML_TYPES[new][0] != 0:
        new = _SHAPE_FALLBACK.get(new, "F16")
        if t.cols % GGML_TYPES[new][0] != 0:
            new = "F16"
    return new


# ---------------------------------------------------------------------------------------------
# PyTorch-side schemes (quanto, bitsandbytes, plain transformers)

#: compute dtype of the PyTorch backends (what unconverted tensors and activations use)
TORCH_COMPUTE_DTYPE = "bf16"
_TORCH_DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


def quanto_group_size(in_features: int) -> int | None:
    """optimum-quanto's qint4 group size for a Linear with ``in_features`` inputs.

    128, else the largest of 96/64/32 that divides ``in_features``; None (one scale and shift
    per output row) when ``in_features <= 128`` or nothing divides (``QModuleMixin.__init__``).
    """
    group = 128
    if in_features <= group:
        return None
    while in_features % group != 0 and group > 32:
        group -= 32
    return group if in_features % group == 0 else None


@dataclass(frozen=True)
class TorchScheme:
    """How a PyTorch backend stores one quantized Linear weight."""

    label: str  # shown in the breakdown, e.g. "quanto qint4 g128 +bf16 scale/shift"
    kind: str  # dense | quanto_int8 | quanto_int4 | bnb_int8 | bnb_4bit | ao_int8 | ao_int4 | ao_float8
    dtype: str = "bf16"  # for kind == dense
    double_quant: bool = False  # bnb 4-bit

    def nbytes(self, t: TensorSpec) -> int:
        rows = t.rows * t.experts
        n = t.numel
        if self.kind == "dense":
            return n * _TORCH_DTYPE_BYTES[self.dtype]
        if self.kind == "quanto_int8":  # int8 + bf16 scale per output row
            return n + rows * 2
        if self.kind == "quanto_int4":  # packed 4-bit + bf16 scale and shift per group
            g = quanto_group_size(t.cols)
            groups = rows * (t.cols // g) if g else rows
            return n // 2 + groups * 4
        if self.kind == "ao_int8":  # int8 + fp32 scale + int8 zero point per output row
            return n + rows * 5
        if self.kind == "ao_float8":  # e4m3 + fp32 scale per output row
            return n + rows * 4
        if self.kind == "ao_int4":  # packed 4-bit + bf16 scale and zero per group of 128 (tile_packed_to_4d)
            groups = rows * max(1, math.ceil(t.cols / 128))
            return n // 2 + groups * 4
        if self.kind == "bnb_int8":  # int8 + fp32 SCB per output row
            return n + rows * 4
        if self.kind == "bnb_4bit":
            blocks = math.ceil(n / 64)
            if not self.double_quant:
                return math.ceil(n / 2) + blocks * 4 + 16 * 4  # + 16-entry fp32 code
            nested = math.ceil(blocks / 256)
            return math.ceil(n / 2) + blocks + nested * 4 + 4 + 256 * 4 + 16 * 4
        raise AssertionError(self.kind)

    def bpw(self) -> float:
        """Nominal bits per weight of a large Linear (per-row terms dropped, 4096 inputs)."""
        probe = TensorSpec("probe", "attn_q", 0, 4096, 4096)
        return self.nbytes(probe) * 8 / probe.numel


def torch_scheme(backend: str, quant: str, *, double_quant: bool = False) -> TorchScheme:
    """The storage scheme of the converted Linear weights of a PyTorch backend."""
    if backend == "transformers":
        return TorchScheme(quant, "dense", dtype=quant)
    if backend == "quanto":
        if quant == "int8":
            return TorchScheme("quanto qint8 +bf16 row scale", "quanto_int8")
        if quant == "float8":
            return TorchScheme("quanto qfloat8 +bf16 row scale", "quanto_int8")
        if quant == "int4":
            return TorchScheme("quanto qint4 g128 +bf16 scale/shift", "quanto_int4")
    if backend == "bitsandbytes":
        if quant == "int8":
            return TorchScheme("bnb LLM.int8 +fp32 row absmax", "bnb_int8")
        if quant in ("nf4", "fp4"):
            label = f"bnb {quant} b64 " + ("+8-bit absmax (double quant)" if double_quant else "+fp32 absmax")
            return TorchScheme(label, "bnb_4bit", double_quant=double_quant)
    if backend == "torchao":
        if quant == "int8":
            return TorchScheme("torchao int8 wo +fp32 row scale", "ao_int8")
        if quant == "int4":
            return TorchScheme("torchao int4 wo g128 +bf16 scale/zero", "ao_int4")
        if quant == "float8":
            return TorchScheme("torchao float8 e4m3 wo +fp32 row scale", "ao_float8")
    raise SizingError(f"no storage scheme for {backend}/{quant}")


# ---------------------------------------------------------------------------------------------
# one answer per tensor


@dataclass(frozen=True)
class TensorStorage:
    """A tensor and how it is stored: ``scheme`` label and ``nbytes``."""

    tensor: TensorSpec
    scheme: str
    nbytes: int


def storage_dense_label(backend: str, quant: str) -> str:
    """The scheme label of tensors a backend leaves unconverted (its compute dtype)."""
    return quant if backend == "transformers" else TORCH_COMPUTE_DTYPE


def tensor_storage(
    arch: Architecture, backend: str, quant: str, *, double_quant: bool = True, quantize_experts: bool = False
) -> tuple[TensorStorage, ...]:
    """Every tensor of the model with the scheme it gets and its bytes."""
    tensors = model_tensors(arch)
    out: list[TensorStorage] = []
    if backend == "llama.cpp":
        for t in tensors:
            ty = gguf_tensor_type(t, quant, arch)
            out.append(TensorStorage(t, ty, ggml_nbytes(ty, t)))
        return tuple(out)
    compute = quant if backend == "transformers" else TORCH_COMPUTE_DTYPE
    dense = TorchScheme(compute, "dense", dtype=compute)
    qs = torch_scheme(backend, quant, double_quant=double_quant)
    for t in tensors:
        convert = backend != "transformers" and (t.is_linear or (t.is_expert and quantize_experts))
        scheme = qs if convert else dense
        out.append(TensorStorage(t, scheme.label, scheme.nbytes(t)))
    return tuple(out)
