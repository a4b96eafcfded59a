"""Hardware sizing: how much GPU memory a run needs, how many GPUs, and its speed ceiling.

Pure functions over a model's public architecture facts (:class:`engine.catalog.Architecture`);
nothing here imports torch, a backend library or NVML. See ``docs/sizing.md`` for the model.

    >>> est = estimate(arch, "llama.cpp", "q4_k_m", ctx=8192, gpu="H100-80GB")
    >>> est.weights_gib, est.kv_cache_gib, est.total_gib, est.gpus_needed
"""

from __future__ import annotations

from engine.catalog import Architecture, Catalog
from engine.sizing.errors import SizingError
from engine.sizing.estimate import SIZED_QUANTS, Estimate, PrecisionGroup, check_backend_quant, estimate, weight_bytes
from engine.sizing.gpus import DEFAULT_GPU, GPU_TYPES, HEADROOM, GpuType, gpu_type
from engine.sizing.roofline import bytes_per_token, roofline_pct, roofline_tok_s
from engine.sizing.schemes import GGUF_FILE_TYPES, ggml_bpw, torch_scheme
from engine.sizing.split import GpuShare, MemoryProfile
from engine.sizing.tensors import computed_params

__all__ = [
    "DEFAULT_GPU", "GPU_TYPES", "HEADROOM", "SIZED_QUANTS", "Estimate", "GpuShare", "GpuType", "MemoryProfile",
    "PrecisionGroup", "SizingError", "bits_per_weight", "bytes_per_token", "check_backend_quant", "computed_params",
    "estimate", "gpu_type", "model_arch", "resolve_quant", "roofline_pct", "roofline_tok_s", "weight_bytes",
]

_GGUF_ONLY = {"f16", "f32"}
_BNB_ONLY = {"nf4", "fp4"}
_QUANTO_DEFAULT = {"int8", "int4", "float8"}
_TORCH_DENSE = {"bf16", "fp16", "fp32"}


def resolve_quant(quant: str, backend: str | None = None) -> tuple[str, str]:
    """``(backend, quant)`` from a quantization name as users write it.

    GGUF names (``q4_k_m``, ``Q8_0``, ``f16``) imply llama.cpp; ``int8``/``int4``/``float8``
    default to quanto (``backend="bitsandbytes"`` for LLM.int8); ``nf4``/``fp4`` imply
    bitsandbytes; ``bf16``/``fp16``/``fp32`` mean transformers (``backend="llama.cpp"`` for a
    bf16 GGUF). An explicit ``backend`` must accept the name.
    """
    q = quant.strip().lower()
    if backend:
        check_backend_quant(backend, q)
        return backend, q
    if q in _TORCH_DENSE:
        return "transformers", q
    if q in _QUANTO_DEFAULT:
        return "quanto", q
    if q in _BNB_ONLY:
        return "bitsandbytes", q
    if q in SIZED_QUANTS["llama.cpp"] or q in _GGUF_ONLY:
        return "llama.cpp", q
    known = sorted({x for qs in SIZED_QUANTS.values() for x in qs})
    raise SizingError(f"unknown quantization {quant!r} (known: {', '.join(known)})")


def bits_per_weight(backend: str, quant: str, arch: Architecture | None = None, *, double_quant: bool = True) -> float:
    """Bits per weight of a scheme.

    Without ``arch``: the nominal figure of the scheme's quantized tensors (Q8_0 8.5, Q4_K_M's
    base Q4_K 4.5, quanto int4 4.25, nf4 4.127 with double quantization (the bnb backend's
    default) or 4.5 without, bf16 16). With
    ``arch``: the average over all of that model's weights, mixes and unquantized tensors
    included (llama.cpp's "BPW").
    """
    check_backend_quant(backend, quant)
    if arch is not None:
        return weight_bytes(arch, backend, quant, double_quant=double_quant) * 8 / computed_params(arch)
    if backend == "llama.cpp":
        return ggml_bpw(GGUF_FILE_TYPES[quant])
    return torch_scheme(backend, quant, double_quant=double_quant).bpw()


def model_arch(catalog: Catalog, name: str) -> Architecture:
    """The architecture of catalog model ``name``; SizingError listing the models otherwise."""
    try:
        return catalog.models[name].arch
    except KeyError:
        raise SizingError(f"unknown model {name!r} (models in {catalog.path}: {', '.join(catalog.models)})") from None

