"""``estimate()``: the GPU memory one run needs, and how many GPUs of a type hold it.

Memory = weights + KV cache + lightning-attention state + workspace + overhead, with

* weights from each tensor's real storage format (:mod:`engine.sizing.schemes`);
* KV cache = 2 × kv_layers × kv_heads × head_dim × ctx × batch × bytes per element (f16 for
  llama.cpp, bf16 for PyTorch; ``q8_0``/``q4_0`` for llama.cpp's quantized cache); llama.cpp
  rounds its cache up to a multiple of 256 cells;
* MiniMax's lightning layers keep, instead of a KV cache, a fixed state of
  heads × head_dim × head_dim per sequence. transformers' ``MiniMaxLightningAttention`` allocates
  it in the activations' dtype (``torch.zeros(..., dtype=value_states.dtype)``: bf16), so
  ``state_dtype`` defaults to bf16 (pass ``"f32"`` to size MiniMax's original fp32 reference
  code);
* workspace and overhead from :mod:`engine.sizing.runtime`.

llama.cpp keeps ``token_embd`` in host memory ("there is very little benefit to offloading the
input layer", ``llama-model.cpp``): it counts in ``weights_gib`` and ``host_gib`` but not on any
GPU. With tied embeddings the same tensor is also copied to the GPU as the output layer.

Totals (``total_gib``, ``activations_gib``, ``overhead_gib``) are summed over the
``gpus_needed`` GPUs, since every GPU of a split carries its own context and workspace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.backends.registry import BACKEND_QUANTS, FAKE_BACKEND_ID
from engine.catalog import Architecture
from engine.sizing.errors import SizingError
from engine.sizing.gpus import GpuType, gpu_type
from engine.sizing.runtime import (
    ATTN_IMPLEMENTATIONS,
    DEFAULT_PREFILL_TOKENS,
    GIB,
    LLAMA_CPP_UBATCH,
    Runtime,
    llama_cpp_runtime,
    torch_runtime,
)
from engine.sizing.schemes import GGUF_FILE_TYPES, KV_DTYPES, TensorStorage, storage_dense_label, tensor_storage
from engine.sizing.split import GpuShare, MemoryProfile, balanced_split, shortfall_gib
from engine.sizing.tensors import EXPERT_SUFFIX, TOKEN_EMBD, softmax_layer_ids

#: backends sizing knows, each with the quantizations it sizes (the catalog's names, plus GGUF
#: mixes the catalog may add later)
SIZED_QUANTS: dict[str, tuple[str, ...]] = {
    "llama.cpp": tuple(dict.fromkeys(BACKEND_QUANTS["llama.cpp"] + tuple(GGUF_FILE_TYPES))),
    "quanto": BACKEND_QUANTS["quanto"],
    "bitsandbytes": BACKEND_QUANTS["bitsandbytes"],
    "torchao": BACKEND_QUANTS["torchao"],
    "transformers": BACKEND_QUANTS["transformers"],
}
#: most GPUs ``gpus_needed`` looks at before calling a run impossible
MAX_GPUS = 64


@dataclass(frozen=True)
class PrecisionGroup:
    """Tensors of one kind stored one way, e.g. 16 ``attn_v`` tensors in Q6_K."""

    tensors: str
    scheme: str
    count: int
    params: int
    nbytes: int

    @property
    def bpw(self) -> float:
        return self.nbytes * 8 / self.params if self.params else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "scheme": self.scheme, "count": self.count, "params": self.params,
                "gib": round(self.nbytes / GIB, 4), "bpw": round(self.bpw, 4)}


@dataclass(frozen=True)
class Estimate:
    """GPU memory of one run (GiB = 2^30 bytes) and its split over GPUs of one type."""

    model: str
    backend: str
    quant: str
    ctx: int
    batch: int
    kv_dtype: str
    gpu: GpuType
    weights_gib: float  # every weight tensor (for llama.cpp: the GGUF's tensor data)
    host_gib: float  # part of the weights kept in host memory (llama.cpp's token_embd)
    kv_cache_gib: float
    state_gib: float  # lightning-attention state (MiniMax), fixed size
    activations_gib: float  # workspace, summed over the GPUs used
    overhead_gib: float  # CUDA context + allocator slack, summed over the GPUs used
    total_gib: float  # GPU memory, summed over the GPUs used
    gpus_needed: int | None  # None: does not fit even MAX_GPUS of this type
    per_gpu: tuple[GpuShare, ...]
    breakdown: tuple[PrecisionGroup, ...]
    params: int
    notes: tuple[str, ...] = ()
    #: GPU memory at the peak of loading, summed over the GPUs used (weights as they end up + the
    #: one dense tensor being converted), and the host RAM the load buffers (see :func:`load_peak`)
    load_peak_gib: float = 0.0
    load_host_gib: float = 0.0
    load_how: str = ""
    profile: MemoryProfile = field(default=MemoryProfile((), 0, 0, 0), repr=False)

    @property
    def bits_per_weight(self) -> float:
        """Average stored bits per parameter over all weights (llama.cpp's "BPW")."""
        return self.weights_gib * GIB * 8 / self.params if self.params else 0.0

    def shortfall_gib(self, gpus: int) -> float:
        """GiB missing to fit ``gpus`` GPUs of this estimate's type (0 when it fits)."""
        return shortfall_gib(self.profile, [self.gpu.plan_gib] * gpus)

    def to_dict(self) -> dict[str, Any]:
        r = 3
        return {
            "model": self.model, "backend": self.backend, "quant": self.quant, "ctx": self.ctx,
            "batch": self.batch, "kv_dtype": self.kv_dtype,
            "gpu": {"name": self.gpu.name, "usable_gib": self.gpu.usable_gib, "plan_gib": round(self.gpu.plan_gib, 3),
                    "bandwidth_tbps": self.gpu.bandwidth_tbps},
            "params": self.params, "bits_per_weight": round(self.bits_per_weight, 4),
            "weights_gib": round(self.weights_gib, r), "host_gib": round(self.host_gib, r),
            "kv_cache_gib": round(self.kv_cache_gib, r), "state_gib": round(self.state_gib, r),
            "activations_gib": round(self.activations_gib, r), "overhead_gib": round(self.overhead_gib, r),
            "total_gib": round(self.total_gib, r), "gpus_needed": self.gpus_needed,
            "per_gpu": [s.to_dict() for s in self.per_gpu],
            "breakdown": [g.to_dict() for g in self.breakdown],
            "notes": list(self.notes),
            "load_peak_gib": round(self.load_peak_gib, r), "load_host_gib": round(self.load_host_gib, r),
            "load_how": self.load_how,
        }


def check_backend_quant(backend: str, quant: str) -> None:
    """Raise SizingError naming the valid choices when backend or quant is unknown."""
    if backend == FAKE_BACKEND_ID:
        raise SizingError(f"backend {backend!r} is the test fake; it has no memory to size")
    if backend not in SIZED_QUANTS:
        raise SizingError(f"unknown backend {backend!r} (known: {', '.join(SIZED_QUANTS)})")
    if quant not in SIZED_QUANTS[backend]:
        raise SizingError(
            f"{quant!r} is not a {backend} quantization (choose from {', '.join(SIZED_QUANTS[backend])})"
        )


def kv_bytes_per_token_layer(arch: Architecture, kv_dtype: str) -> int:
    """Bytes of K plus V for one token in one softmax layer."""
    blck, size = KV_DTYPES[kv_dtype]
    row = arch.kv_heads * arch.head_dim
    if row % blck:
        raise SizingError(f"kv dtype {kv_dtype} needs kv_heads × head_dim divisible by {blck}, got {row}")
    return 2 * (row // blck) * size


def kv_dtype_for(backend: str, quant: str, kv_dtype: str | None = None) -> tuple[str, str]:
    """``(name as given or defaulted, key into KV_DTYPES)`` of a run's KV-cache element type.

    Defaults: f16 for llama.cpp, the compute dtype for PyTorch backends (bf16; fp16/fp32 for
    those transformers runs). PyTorch caches are bf16/fp16/fp32 only.
    """
    if backend == "llama.cpp":
        kv = kv_dtype or "f16"
        if kv not in KV_DTYPES:
            raise SizingError(f"unknown kv dtype {kv!r} for llama.cpp (choose from {', '.join(KV_DTYPES)})")
        return kv, kv
    kv = kv_dtype or (quant if quant in ("fp16", "fp32") else "bf16")
    key = {"bf16": "bf16", "fp16": "f16", "f16": "f16", "fp32": "f32", "f32": "f32"}.get(kv)
    if key is None:
        raise SizingError(f"unknown kv dtype {kv!r} for {backend} (choose from bf16, fp16, fp32)")
    return kv, key


def _group_label(s: TensorStorage) -> str:
    t = s.tensor
    return t.category + (EXPERT_SUFFIX if t.is_expert else "")


def _breakdown(storage: tuple[TensorStorage, ...]) -> tuple[PrecisionGroup, ...]:
    """Tensors grouped by kind then scheme, kinds in model order, more bits first."""
    groups: dict[str, dict[str, list[int]]] = {}
    for s in storage:
        g = groups.setdefault(_group_label(s), {}).setdefault(s.scheme, [0, 0, 0])
        g[0] += 1
        g[1] += s.tensor.numel
        g[2] += s.nbytes
    out: list[PrecisionGroup] = []
    for label, schemes in groups.items():
        rows = [PrecisionGroup(label, k, v[0], v[1], v[2]) for k, v in schemes.items()]
        out += sorted(rows, key=lambda r: -r.bpw)
    return tuple(out)


def estimate(
    arch: Architecture,
    backend: str,
    quant: str,
    *,
    ctx: int,
    batch: int = 1,
    kv_dtype: str | None = None,
    gpu: str | GpuType | None = None,
    model: str = "",
    prefill_tokens: int = DEFAULT_PREFILL_TOKENS,
    flash_attn: bool = True,
    n_ubatch: int = LLAMA_CPP_UBATCH,
    double_quant: bool = True,
    quantize_experts: bool = False,
    state_dtype: str | None = None,
    attn_implementation: str = "sdpa",
) -> Estimate:
    """Size one run: ``arch`` under ``backend``/``quant`` with a ``ctx``-token context.

    ``gpu`` is a GPU type name (``H100-80GB``), a ``NAME:GiB`` custom type or a
    :class:`GpuType`; default H100-80GB. ``kv_dtype`` defaults to f16 for llama.cpp and to the
    compute dtype for PyTorch backends.

    Defaults follow quantarena's backends: llama.cpp with flash attention (its backend turns it
    on when offloading to a GPU; ``flash_attn=False`` is llama-cpp-python's own default, with a
    larger compute buffer) and ``n_ubatch`` 512; bitsandbytes 4-bit with double quantization
    (the bnb backend's ``double_quant`` default; transformers' own default is off); MoE experts
    in bf16 under quanto/bitsandbytes, because transformers 5.x builds MiniMax's experts as fused
    3-D parameters that ``QuantoConfig``/``BitsAndBytesConfig`` (and quanto's ``quantize``) skip
    (``quantize_experts=True`` sizes a backend that packs them too). ``prefill_tokens`` is the
    longest prompt processed in one pass and ``attn_implementation`` (``sdpa`` or ``eager``) the
    PyTorch attention: eager materializes heads × prompt² scores.
    """
    check_backend_quant(backend, quant)
    name = model or arch.family
    if not isinstance(ctx, int) or ctx < 1:
        raise SizingError(f"ctx must be a positive number of tokens, got {ctx!r}")
    if ctx > arch.context_length:
        raise SizingError(f"ctx {ctx} exceeds {name}'s context_length {arch.context_length}")
    if batch < 1:
        raise SizingError(f"batch must be at least 1, got {batch}")
    if attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise SizingError(f"unknown attn_implementation {attn_implementation!r} (choose from "
                          f"{', '.join(ATTN_IMPLEMENTATIONS)})")
    g = gpu_type(gpu)
    kv, kv_key = kv_dtype_for(backend, quant, kv_dtype)
    notes: list[str] = []

    storage = tensor_storage(arch, backend, quant, double_quant=double_quant, quantize_experts=quantize_experts)
    params = sum(s.tensor.numel for s in storage)
    if arch.params and abs(params - arch.params) > 0.01 * arch.params:
        notes.append(
            f"architecture facts imply {params:,} parameters, the catalog says {arch.params:,}: "
            "the tensor inventory may miss something of this family"
        )
    if backend == "llama.cpp" and arch.family == "minimax":
        notes.append("llama.cpp has no MiniMax-Text-01 (lightning attention) architecture: hypothetical GGUF")
    if arch.is_moe and backend in ("quanto", "bitsandbytes", "torchao"):
        notes.append(
            "MoE experts sized as quantized: needs a backend that packs the fused 3-D expert tensors, which "
            "transformers' QuantoConfig/BitsAndBytesConfig skip" if quantize_experts else
            "MoE experts stay bf16: transformers 5.x builds them as fused 3-D parameters, not nn.Linear, and "
            "QuantoConfig/BitsAndBytesConfig skip them (quantize_experts=True sizes packed experts)"
        )

    # ---- weights by place
    layer_bytes = [0.0] * arch.layers
    head = tail = host = 0.0
    for s in storage:
        t = s.tensor
        if t.layer >= 0:
            layer_bytes[t.layer] += s.nbytes
        elif t.category == TOKEN_EMBD:
            if backend == "llama.cpp":
                host += s.nbytes
                if arch.tie_embeddings:
                    tail += s.nbytes  # duplicated onto the output GPU
            else:
                head += s.nbytes
        else:  # output, output_norm
            tail += s.nbytes
    weights = sum(s.nbytes for s in storage)

    # ---- KV cache and lightning state per layer
    cells = ctx * batch
    if backend == "llama.cpp":
        cells = math.ceil(cells / 256) * 256
    kv_tok = kv_bytes_per_token_layer(arch, kv_key)
    soft = softmax_layer_ids(arch)
    st_dtype = state_dtype or ("f32" if backend == "llama.cpp" else ("f32" if quant == "fp32" else "bf16"))
    st_bytes = {"f32": 4, "fp32": 4, "bf16": 2, "fp16": 2, "f16": 2}.get(st_dtype)
    if st_bytes is None:
        raise SizingError(f"unknown state dtype {st_dtype!r} (choose from f32, bf16, f16)")
    state_layer = arch.heads * arch.head_dim * arch.head_dim * batch * st_bytes
    kv_total = state_total = 0.0
    for i in range(arch.layers):
        if i in soft:
            layer_bytes[i] += kv_tok * cells
            kv_total += kv_tok * cells
        else:
            layer_bytes[i] += state_layer
            state_total += state_layer

    # ---- runtime
    rt: Runtime
    if backend == "llama.cpp":
        rt = llama_cpp_runtime(arch, ctx=ctx, batch=batch, flash_attn=flash_attn, n_ubatch=n_ubatch)
    else:
        converted = [st.tensor for st in storage if st.scheme != storage_dense_label(backend, quant)]
        per_layer: dict[int, int] = {}
        for t in converted:
            per_layer[t.layer] = per_layer.get(t.layer, 0) + t.numel
        rt = torch_runtime(
            arch, backend, quant, ctx=ctx, batch=batch, prefill_tokens=prefill_tokens,
            converted_layer_numel=max(per_layer.values(), default=0),
            largest_converted_numel=max((t.rows * t.cols for t in converted), default=0),
            attn_implementation=attn_implementation,
        )
    per_gpu_fixed = rt.workspace_bytes + rt.overhead_bytes
    profile = MemoryProfile(
        layer_gib=tuple(b / GIB for b in layer_bytes),
        head_gib=head / GIB,
        tail_gib=(tail + rt.tail_workspace_bytes) / GIB,
        per_gpu_gib=per_gpu_fixed / GIB,
    )

    # ---- GPUs of this type needed
    needed: int | None = None
    shares: list[GpuShare] = []
    lower = max(1, math.ceil(profile.total_one_gpu / g.plan_gib) - 1)
    for n in range(lower, MAX_GPUS + 1):
        split = balanced_split(profile, [g.plan_gib] * n)
        if split is not None:
            needed, shares = n, split
            break
        if max(profile.layer_gib, default=0) + profile.per_gpu_gib > g.plan_gib:
            break  # one layer alone is too big for this GPU
    n_used = len(shares) if shares else 1
    if needed is None:
        notes.append(f"does not fit {MAX_GPUS} × {g.name} (a single layer may exceed one GPU)")
    activations = (rt.workspace_bytes * n_used + rt.tail_workspace_bytes) / GIB
    overhead = rt.overhead_bytes * n_used / GIB
    total = (weights - host + kv_total + state_total) / GIB + activations + overhead
    transient, host_buffer, how = load_peak(storage, backend, quant, quantize_experts=quantize_experts)
    load_gib = (weights - host + transient) / GIB + overhead
    return Estimate(
        model=name, backend=backend, quant=quant, ctx=ctx, batch=batch, kv_dtype=kv, gpu=g,
        weights_gib=weights / GIB, host_gib=host / GIB, kv_cache_gib=kv_total / GIB, state_gib=state_total / GIB,
        activations_gib=activations, overhead_gib=overhead, total_gib=total, gpus_needed=needed,
        per_gpu=tuple(shares), breakdown=_breakdown(storage), params=params, notes=tuple(notes), profile=profile,
        load_peak_gib=load_gib, load_host_gib=(host + host_buffer) / GIB, load_how=how,
    )


def load_peak(storage: tuple[TensorStorage, ...], backend: str, quant: str, *,
              quantize_experts: bool = False) -> tuple[int, int, str]:
    """What loading adds on top of the final weights: (GPU bytes, host buffer bytes, how it loads).

    * llama.cpp maps the GGUF and copies each tensor to its GPU: nothing beyond the weights.
    * PyTorch backends, a MoE with ``quantize_experts``: the streaming packer
      (:mod:`engine.streaming_load`) gathers one fused experts tensor's pieces in host RAM, fuses
      them there (pieces + fused copy: twice the tensor), moves it to its GPU dense and packs it
      before reading on: the GPU holds one dense fused tensor beyond the packed model, and its
      packed copy while the packing writes it (the dense one is freed after). Measured on an
      H200 with a real-shape 2-layer MiniMax slice: 25.71 GiB peak against 15.06 GiB packed, the
      10.65 GiB between them one bf16 ``gate_up_proj`` (6.75 GiB) plus its int8 form (3.38 GiB).
    * other PyTorch loads (``from_pretrained``, each tensor quantized as it arrives): one dense
      tensor in the compute dtype beyond the weights.
    """
    if backend == "llama.cpp":
        return 0, 0, "llama.cpp: tensors copied to their GPU one by one (no extra copy)"
    width = 4 if quant == "fp32" else 2
    if quantize_experts and any(s.tensor.is_expert for s in storage):
        from engine.sizing.tensors import FFN_DOWN, FFN_GATE, FFN_UP

        per_layer: dict[tuple[int, str], int] = {}
        for s in storage:
            t = s.tensor
            if t.is_expert:
                proj = "gate_up" if t.category in (FFN_GATE, FFN_UP) else ("down" if t.category == FFN_DOWN else t.name)
                per_layer[(t.layer, proj)] = per_layer.get((t.layer, proj), 0) + t.numel * width
        fused = max(per_layer.values())
        packed = fused // width // (2 if quant == "int4" else 1)  # int8: a byte per value; int4: half
        return fused + packed, 2 * fused, ("streaming packer: each fused experts tensor gathered in host RAM, then packed "
                                  "on its GPU before the next is read")
    largest = max((s.tensor.numel for s in storage), default=0) * width
    return largest, 0, "from_pretrained: each tensor converted as it is loaded (one dense tensor at a time)"


def weight_bytes(
    arch: Architecture, backend: str, quant: str, *, double_quant: bool = True, quantize_experts: bool = False
) -> int:
    """Bytes of all weight tensors of ``arch`` stored by ``backend``/``quant``."""
    check_backend_quant(backend, quant)
    return sum(s.nbytes for s in tensor_storage(arch, backend, quant, double_quant=double_quant,
                                                 quantize_experts=quantize_experts))
