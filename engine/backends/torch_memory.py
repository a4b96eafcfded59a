"""Memory of a PyTorch run: bytes its weights occupy, out-of-memory recognised, the figures at a moment.

torch is passed in or imported inside the functions: nothing here imports it at module import.
"""

from __future__ import annotations

import gc
import itertools
from typing import Any

MIB = 2**20


def is_oom(torch: Any, e: BaseException) -> bool:
    """Whether ``e`` is an out-of-memory: Python's, CUDA's or the CPU allocator's."""
    if isinstance(e, MemoryError):
        return True
    if torch is not None and isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    msg = str(e)
    return isinstance(e, RuntimeError) and (
        "DefaultCPUAllocator: can't allocate memory" in msg or "CUDA out of memory" in msg or "out of memory" in msg.lower()[:200]
    )


def memory_now(torch: Any, gpus: list[int]) -> str:
    """Memory figures at this moment: per GPU allocator and driver view, and the process RSS."""
    parts = []
    for g in gpus:
        try:
            free, total = torch.cuda.mem_get_info(g)
            parts.append(
                f"cuda:{g} allocated {torch.cuda.memory_allocated(g) / MIB:.0f} MiB, reserved "
                f"{torch.cuda.memory_reserved(g) / MIB:.0f} MiB, free {free / MIB:.0f} of {total / MIB:.0f} MiB"
            )
        except Exception:
            parts.append(f"cuda:{g} (no figures)")
    try:
        import psutil

        vm = psutil.virtual_memory()
        rss = psutil.Process().memory_info().rss
        parts.append(f"RSS {rss / MIB:.0f} MiB, available {vm.available / MIB:.0f} of {vm.total / MIB:.0f} MiB")
    except Exception:
        pass
    return "; ".join(parts) or "no memory figures"


def peak_stats(torch: Any, gpus: list[int]) -> dict[str, float | None]:
    """The allocator peaks (MiB) over ``gpus`` since the last reset; None on the CPU."""
    if torch is None or not gpus:
        return {"torch_peak_allocated_mib": None, "torch_peak_reserved_mib": None}
    return {
        "torch_peak_allocated_mib": sum(torch.cuda.max_memory_allocated(g) for g in gpus) / MIB,
        "torch_peak_reserved_mib": sum(torch.cuda.max_memory_reserved(g) for g in gpus) / MIB,
    }


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``).

    Loading a quantized model reads the dense weights and frees them; glibc keeps the freed
    pages, so the process's RSS (what the engine samples) would still count the dense model:
    ~1 GiB for SmolLM2 at int8 instead of ~0.6 GiB. Not glibc (macOS, musl): just the collect.
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def weight_bytes(model: Any) -> dict[str, int]:
    """Bytes the model's parameters and buffers occupy, counted from their storage.

    Quantized tensors are counted by what they hold, not their logical shape: quanto's tensor
    subclasses through ``__tensor_flatten__`` (packed data, scales, shifts), bitsandbytes'
    ``Params4bit`` by its packed bytes plus its ``quant_state`` (absmax, code, nested state), and
    ``Int8Params`` by its int8 data plus ``SCB``. Tied weights count once.
    """
    seen: set[int] = set()
    total = quantized = 0
    for t in itertools.chain(model.parameters(), model.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        n, is_q = _tensor_bytes(t)
        total += n
        if is_q:
            quantized += n
    return {"total": total, "quantized": quantized, "dense": total - quantized}


def _tensor_bytes(t: Any) -> tuple[int, bool]:
    flatten = getattr(t, "__tensor_flatten__", None)
    if flatten is not None and type(t).__name__ not in ("Parameter", "Tensor"):
        try:
            names, _ = flatten()
            return sum(_tensor_bytes(getattr(t, n))[0] for n in names), True
        except Exception:
            pass
    n = t.numel() * t.element_size()
    quantized = False
    qs = getattr(t, "quant_state", None)  # bitsandbytes Params4bit
    if qs is not None:
        quantized = True
        for obj in (qs, getattr(qs, "state2", None)):
            if obj is None:
                continue
            for name in ("absmax", "code", "offset"):
                v = getattr(obj, name, None)
                if v is not None and hasattr(v, "element_size"):
                    n += v.numel() * v.element_size()
    scb = getattr(t, "SCB", None)  # bitsandbytes Int8Params
    if scb is not None:
        quantized = True
        n += scb.numel() * scb.element_size()
    if type(t).__name__ in ("Params4bit", "Int8Params"):
        quantized = True
    return n, quantized
