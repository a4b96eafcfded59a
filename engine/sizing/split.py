"""Splitting one run's layers over GPUs, contiguously, in proportion to their free memory.

A run's memory is described by a :class:`MemoryProfile`: per decoder layer (weights + KV +
state), a head on the first GPU (input embeddings), a tail on the last GPU (output projection,
final norm, logits) and a fixed part on every GPU used (workspace, CUDA context). Layers go to
GPUs in order, as llama.cpp's ``tensor_split`` and accelerate's ``device_map`` place them.

:func:`balanced_split` finds the smallest fill ratio ``u`` such that filling each GPU greedily up
to ``u ×`` its capacity holds the whole model; greedy filling is optimal for a fixed order, so
``u <= 1`` exactly when the run fits, and the split it gives loads every GPU in proportion to
its capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryProfile:
    """GPU memory of one run, in GiB, by where it must live."""

    layer_gib: tuple[float, ...]
    head_gib: float
    tail_gib: float
    per_gpu_gib: float

    @property
    def total_one_gpu(self) -> float:
        return sum(self.layer_gib) + self.head_gib + self.tail_gib + self.per_gpu_gib


@dataclass(frozen=True)
class GpuShare:
    """What one GPU of a split holds: ``layers`` layers from ``first_layer``, ``gib`` in all."""

    first_layer: int
    layers: int
    gib: float
    head: bool = False  # holds the input embeddings
    tail: bool = False  # holds the output layer

    def to_dict(self) -> dict[str, object]:
        return {"first_layer": self.first_layer, "layers": self.layers, "gib": round(self.gib, 3),
                "head": self.head, "tail": self.tail}


def greedy_split(profile: MemoryProfile, caps: Sequence[float]) -> list[GpuShare] | None:
    """Fill GPUs in order up to ``caps``; None when the run does not fit."""
    if not caps:
        return None
    shares: list[GpuShare] = []
    g, first, n, load = 0, 0, 0, profile.per_gpu_gib + profile.head_gib
    if load > caps[0]:
        return None
    head = True
    for i, layer in enumerate(profile.layer_gib):
        if load + layer <= caps[g]:
            load += layer
            n += 1
            continue
        if n == 0 and not head:
            return None  # a single layer does not fit an empty GPU
        shares.append(GpuShare(first, n, load, head=head))
        head = False
        g += 1
        if g >= len(caps):
            return None
        first, n, load = i, 1, profile.per_gpu_gib + layer
        if load > caps[g]:
            return None
    if load + profile.tail_gib <= caps[g]:
        shares.append(GpuShare(first, n, load + profile.tail_gib, head=head, tail=True))
        return shares
    shares.append(GpuShare(first, n, load, head=head))
    g += 1
    if g >= len(caps) or profile.per_gpu_gib + profile.tail_gib > caps[g]:
        return None
    shares.append(GpuShare(first + n, 0, profile.per_gpu_gib + profile.tail_gib, tail=True))
    return shares


def _min_ratio(profile: MemoryProfile, caps: Sequence[float], hi: float) -> float | None:
    """Smallest u in (0, hi] with ``greedy_split(profile, u × caps)`` feasible; None if none."""
    if greedy_split(profile, [c * hi for c in caps]) is None:
        return None
    lo = 0.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if greedy_split(profile, [c * mid for c in caps]) is None:
            lo = mid
        else:
            hi = mid
    return hi


def balanced_split(profile: MemoryProfile, caps: Sequence[float]) -> list[GpuShare] | None:
    """The split loading each GPU in proportion to ``caps``; None when the run does not fit."""
    u = _min_ratio(profile, caps, 1.0)
    if u is None:
        return None
    return greedy_split(profile, [c * u for c in caps])


def shortfall_gib(profile: MemoryProfile, caps: Sequence[float]) -> float:
    """GiB missing for the run to fit ``caps`` (0 when it fits).

    The smallest uniform growth of all GPUs that makes it fit, expressed as GiB over all of them:
    ``(u - 1) × sum(caps)``.
    """
    if not caps:
        return profile.total_one_gpu
    if greedy_split(profile, caps) is not None:
        return 0.0
    hi = 2.0
    while _min_ratio(profile, caps, hi) is None:
        hi *= 2
        if hi > 1e6:
            return float("inf")
    u = _min_ratio(profile, caps, hi)
    assert u is not None
    return (u - 1.0) * sum(caps)
