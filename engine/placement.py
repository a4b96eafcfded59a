"""Placing runs on the GPUs of one machine, before anything loads.

:func:`plan` gives every run a set of GPUs (or the CPU) and a *wave*: runs of one wave can be
loaded at the same time; the next wave starts when the previous one has finished. The rules:

1. A run that can never fit, even alone on all GPUs (or on the GPU it is pinned to), is
   reported in ``Plan.unplaceable`` with the GiB missing, and nothing of it is planned.
2. Each run gets the fewest GPUs that hold it (its :class:`~engine.sizing.MemoryProfile` split
   in layer order, each GPU loaded in proportion to its free memory), on contiguous indices.
3. Waves are packed first-fit decreasing: runs are considered by GPUs needed, then GiB, largest
   first (a stable sort, so equal runs keep the order they were given); each goes into the first
   wave where it fits. Inside a wave a run prefers GPUs nobody else uses, lowest index first,
   then (``allow_sharing``) GPUs with room left beside other runs. Sharing a GPU, and even
   sharing the host's CPU cores, disturbs speed measurements: plan with ``allow_sharing=False``
   for timing runs that must not interfere on the GPU.
4. Without GPUs (a CPU-only machine) every run goes to ``cpu``, one run per wave, in the order
   given, so runs never compete for the cores. Runs pinned to ``cpu`` on a GPU machine, and
   runs with no estimate (the test fake), likewise get a wave of their own after the GPU waves.
5. A served run (the ``openai`` backend: a server outside quantarena holds the weights) takes no
   GPU of the plan and is not sized: device ``server``, a wave of its own after the GPU waves, so
   local runs and the server never answer at the same time.

The planning capacity of a GPU is its free memory (or total when free is unknown) minus
:data:`engine.sizing.HEADROOM`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.catalog import RunSpec
from engine.sizing.errors import SizingError
from engine.sizing.estimate import Estimate
from engine.sizing.gpus import GPU_TYPES, HEADROOM
from engine.sizing.split import GpuShare, MemoryProfile, balanced_split, shortfall_gib

#: column names of :meth:`Plan.to_table` rows
TABLE_HEADER = ("wave", "run", "device", "GPUs", "est. GiB per GPU", "layers per GPU", "tensor_split")


@dataclass(frozen=True)
class GpuInfo:
    """One GPU of the machine: CUDA ordinal, name, total GiB (and free GiB when measured).

    ``index`` is the GPU's position as the planner and ``cuda:N`` pins count (the CUDA ordinal in
    this process); ``nvml_index`` and ``uuid``, read from NVML (:func:`engine.gpu.visible_gpus`),
    name the physical GPU a run process is given (None for a described machine).
    """

    index: int
    name: str
    total_gib: float
    free_gib: float | None = None
    nvml_index: int | None = None
    uuid: str | None = None

    def capacity(self, headroom: float = HEADROOM) -> float:
        """GiB the planner may fill on this GPU."""
        base = self.total_gib if self.free_gib is None else min(self.free_gib, self.total_gib)
        return max(0.0, base * (1 - headroom))

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "total_gib": round(self.total_gib, 3),
                "free_gib": None if self.free_gib is None else round(self.free_gib, 3)}


@dataclass(frozen=True)
class Placement:
    """Where one run goes: wave, device (``cuda`` or ``cpu``), GPUs and what each holds."""

    run: str
    wave: int
    device: str
    gpus: tuple[int, ...] = ()
    shares: tuple[GpuShare, ...] = ()
    backend: str = ""
    total_gib: float = 0.0

    @property
    def gib_per_gpu(self) -> tuple[float, ...]:
        return tuple(s.gib for s in self.shares)

    @property
    def layers_per_gpu(self) -> tuple[int, ...]:
        return tuple(s.layers for s in self.shares)

    @property
    def tensor_split(self) -> tuple[float, ...] | None:
        """llama.cpp ``tensor_split`` (fractions of the layers per GPU); None on one GPU or CPU.

        llama-cpp-python indexes it by device: pass it together with the visible GPUs set to
        :attr:`gpus` (``CUDA_VISIBLE_DEVICES``) so that entry i is GPU ``gpus[i]``.
        """
        if len(self.shares) < 2:
            return None
        n = sum(self.layers_per_gpu) or 1
        return tuple(round(s.layers / n, 4) for s in self.shares)

    @property
    def max_memory(self) -> dict[int, str] | None:
        """transformers/accelerate ``max_memory`` hint: each GPU's planned GiB, rounded up."""
        if not self.gpus:
            return None
        return {g: f"{math.ceil(s.gib)}GiB" for g, s in zip(self.gpus, self.shares, strict=True)}

    @property
    def device_map(self) -> dict[str, int | str] | None:
        """transformers ``device_map`` with the planned layer split (llama-style module names)."""
        from engine.backends.registry import multi_gpu_split

        if not self.gpus or multi_gpu_split(self.backend) == "tensor_split":
            return None
        dm: dict[str, int | str] = {}
        for g, s in zip(self.gpus, self.shares, strict=True):
            if s.head:
                dm["model.embed_tokens"] = g
                dm["model.rotary_emb"] = g
            for i in range(s.first_layer, s.first_layer + s.layers):
                dm[f"model.layers.{i}"] = g
            if s.tail:
                dm["model.norm"] = g
                dm["lm_head"] = g
        return dm

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run, "wave": self.wave, "device": self.device, "gpus": list(self.gpus),
            "gib_per_gpu": [round(x, 3) for x in self.gib_per_gpu], "layers_per_gpu": list(self.layers_per_gpu),
            "total_gib": round(self.total_gib, 3), "tensor_split": list(self.tensor_split) if self.tensor_split else None,
            "max_memory": {str(k): v for k, v in self.max_memory.items()} if self.max_memory else None,
            "device_map": self.device_map,
        }


@dataclass(frozen=True)
class Unplaceable:
    """A run that cannot load on this machine, and why."""

    run: str
    reason: str
    needed_gib: float | None = None
    missing_gib: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "reason": self.reason,
                "needed_gib": None if self.needed_gib is None else round(self.needed_gib, 3),
                "missing_gib": None if self.missing_gib is None else round(self.missing_gib, 3)}


@dataclass(frozen=True)
class Plan:
    """Placements by wave, the runs that cannot be placed, and the GPUs planned for."""

    gpus: tuple[GpuInfo, ...]
    placements: tuple[Placement, ...]
    unplaceable: tuple[Unplaceable, ...] = ()
    headroom: float = HEADROOM
    allow_sharing: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def waves(self) -> list[list[Placement]]:
        """Placements grouped by wave, in wave order."""
        out: dict[int, list[Placement]] = {}
        for p in self.placements:
            out.setdefault(p.wave, []).append(p)
        return [out[w] for w in sorted(out)]

    def placement(self, run: str) -> Placement | None:
        return next((p for p in self.placements if p.run == run), None)

    def to_table(self) -> list[list[str]]:
        """One row of strings per placement, columns as :data:`TABLE_HEADER`."""
        rows = []
        for p in self.placements:
            gpus = _gpu_ranges(p.gpus) if p.gpus else p.device
            gib = " / ".join(f"{x:.1f}" for x in p.gib_per_gpu) if p.gpus else "-"
            layers = " / ".join(str(x) for x in p.layers_per_gpu) if p.gpus else "-"
            ts = ",".join(f"{x:g}" for x in p.tensor_split) if p.tensor_split else "-"
            rows.append([str(p.wave), p.run, p.device, gpus, gib, layers, ts])
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": [g.to_dict() for g in self.gpus], "headroom": self.headroom, "allow_sharing": self.allow_sharing,
            "waves": len(self.waves), "placements": [p.to_dict() for p in self.placements],
            "unplaceable": [u.to_dict() for u in self.unplaceable], "notes": list(self.notes),
        }


def _gpu_ranges(ids: Sequence[int]) -> str:
    """``(0, 1, 2, 5)`` -> ``cuda:0-2,cuda:5``."""
    parts: list[str] = []
    start = prev = ids[0]
    for i in list(ids[1:]) + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"cuda:{start}" if start == prev else f"cuda:{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------
# parsing a described box

_ITEM = re.compile(r"^(?:(?P<count>\d+)\s*[x×]\s*)?(?P<what>.+)$", re.IGNORECASE)
_SIZE = re.compile(r"^(?P<gib>\d+(?:\.\d+)?)\s*GiB$", re.IGNORECASE)
_CUSTOM = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_.\-]*):(?P<gib>\d+(?:\.\d+)?)(?:GiB)?$", re.IGNORECASE)


def parse_gpus(spec: str) -> list[GpuInfo]:
    """GPUs from a description: ``8x80GiB``, ``2x141GiB``, ``4xH100-80GB``, ``80GiB,80GiB``,
    ``2xA6000:48``; ``cpu`` or ``none`` for a machine without GPUs.

    Sizes are GiB (2^30 bytes) one process can use; named types use their usable GiB
    (H100-80GB: 79.1). Indices count from 0 in the order written.
    """
    s = spec.strip()
    if s.lower() in ("cpu", "none", "0"):
        return []
    out: list[GpuInfo] = []
    for raw in s.split(","):
        item = raw.strip()
        m = _ITEM.match(item)
        if not item or not m:
            raise SizingError(_gpus_help(spec, raw))
        count = int(m["count"]) if m["count"] else 1
        if count < 1 or count > 64:
            raise SizingError(f"GPU count in {raw.strip()!r} must be 1..64")
        what = m["what"].strip()
        if (sm := _SIZE.match(what)) is not None:
            gib, name = float(sm["gib"]), f"{float(sm['gib']):g}GiB"
        elif (cm := _CUSTOM.match(what)) is not None:
            gib, name = float(cm["gib"]), cm["name"]
        else:
            known = next((g for n, g in GPU_TYPES.items() if n.lower() == what.lower()), None)
            if known is None:
                raise SizingError(_gpus_help(spec, raw))
            gib, name = known.usable_gib, known.name
        if gib <= 0:
            raise SizingError(f"GPU size in {raw.strip()!r} must be positive")
        out += [GpuInfo(len(out) + i, name, gib) for i in range(count)]
    return out


def _gpus_help(spec: str, item: str) -> str:
    return (
        f"cannot read GPUs {spec!r} (at {item.strip()!r}): write COUNTxSIZE items separated by commas, "
        f"SIZE being NGiB (80GiB), a known type ({', '.join(GPU_TYPES)}) or NAME:GiB; "
        "e.g. 8x80GiB, 2x141GiB, 4xH100-80GB, 80GiB,80GiB, or cpu"
    )


# ---------------------------------------------------------------------------------------------
# planning


@dataclass
class _Wave:
    free: list[float]
    users: list[int]


def _run_name(run: RunSpec | str) -> str:
    return run.name if isinstance(run, RunSpec) else str(run)


def _served(run: RunSpec | str) -> bool:
    if not isinstance(run, RunSpec):
        return False
    from engine.backends.registry import is_served

    return is_served(run.backend)


def _pin(run: RunSpec | str) -> str:
    """``auto``, ``cpu``, or ``cuda:N`` (``cuda`` counts as auto)."""
    dev = run.device if isinstance(run, RunSpec) else "auto"
    return "auto" if dev in ("auto", "cuda") else dev


def _windows(n_gpus: int, k: int, pin: int | None) -> list[int]:
    if pin is not None:
        return [pin] if pin + k <= n_gpus else []
    return list(range(0, n_gpus - k + 1))


def _fit(profile: MemoryProfile, free: Sequence[float], start: int, k: int) -> list[GpuShare] | None:
    split = balanced_split(profile, list(free[start : start + k]))
    return split if split is not None and len(split) <= k else None


def _min_gpus(profile: MemoryProfile, caps: Sequence[float], pin: int | None) -> int | None:
    for k in range(1, len(caps) + 1):
        if any(_fit(profile, caps, s, k) for s in _windows(len(caps), k, pin)):
            return k
    return None


def plan(
    runs_with_estimates: Sequence[tuple[RunSpec | str, Estimate | None]],
    gpus: Sequence[GpuInfo],
    *,
    allow_sharing: bool = True,
    headroom: float = HEADROOM,
) -> Plan:
    """Place runs on ``gpus`` (empty: a CPU-only machine); see the module docstring.

    ``runs_with_estimates`` pairs each run (a :class:`RunSpec`, whose ``device`` pin is honoured,
    or a plain name) with its :func:`engine.sizing.estimate` (any GPU type: only its memory
    profile is used) or None for runs that need no GPU (the test fake).
    """
    gpus = tuple(gpus)
    caps = [g.capacity(headroom) for g in gpus]
    placements: list[Placement] = []
    unplaceable: list[Unplaceable] = []
    solo: list[tuple[str, str, Estimate | None]] = []  # runs planned one per wave on the CPU
    gpu_runs: list[tuple[int, str, Estimate, int | None, int]] = []  # (order, name, est, pin, k)
    seen: set[str] = set()

    for order, (run, est) in enumerate(runs_with_estimates):
        name, pin = _run_name(run), _pin(run)
        if name in seen:
            raise SizingError(f"run {name!r} is listed twice")
        seen.add(name)
        if _served(run):
            solo.append((name, "server", None))
            continue
        if not gpus or pin == "cpu" or est is None:
            solo.append((name, "cpu", est))
            continue
        pin_idx: int | None = None
        if pin.startswith("cuda:"):
            pin_idx = int(pin[5:])
            if pin_idx >= len(gpus):
                unplaceable.append(Unplaceable(
                    name, f"pinned to {pin} but this machine has {len(gpus)} GPU(s) (cuda:0..cuda:{len(gpus) - 1})"
                ))
                continue
        k = _min_gpus(est.profile, caps, pin_idx)
        if k is None:
            window = caps[pin_idx:] if pin_idx is not None else caps
            missing = shortfall_gib(est.profile, window)
            where = f"{pin} and the GPUs after it" if pin_idx is not None else f"all {len(gpus)} GPU(s)"
            unplaceable.append(Unplaceable(
                name, f"needs {est.total_gib:.1f} GiB; does not fit {where} ({sum(window):.1f} GiB plannable): "
                f"{missing:.1f} GiB short", est.total_gib, missing,
            ))
            continue
        gpu_runs.append((order, name, est, pin_idx, k))

    # first-fit decreasing: most GPUs, then most GiB first; stable for ties
    gpu_runs.sort(key=lambda r: (-r[4], -r[2].total_gib))
    waves: list[_Wave] = []
    placed: list[tuple[int, int, Placement]] = []
    for order, name, est, pin_idx, k_min in gpu_runs:
        for w_i in range(len(waves) + 1):
            if w_i == len(waves):
                waves.append(_Wave(list(caps), [0] * len(caps)))
            w = waves[w_i]
            got = _place_in_wave(est.profile, w, k_min, pin_idx, allow_sharing)
            if got is None:
                continue
            start, shares = got
            ids = tuple(range(start, start + len(shares)))
            for g, s in zip(ids, shares, strict=True):
                w.free[g] -= s.gib
                w.users[g] += 1
            total = sum(s.gib for s in shares)
            placed.append((w_i, order, Placement(name, w_i + 1, "cuda", ids, tuple(shares), est.backend, total)))
            break
    placed.sort(key=lambda x: (x[0], x[1]))
    placements = [p for _, _, p in placed]
    next_wave = len(waves) + 1
    for name, dev, est in solo:
        placements.append(Placement(name, next_wave, dev, backend=est.backend if est else "",
                                    total_gib=est.total_gib if est else 0.0))
        next_wave += 1
    notes = []
    if not gpus:
        notes.append("no GPUs: every run on the CPU, one at a time")
    served = [name for name, dev, _ in solo if dev == "server"]
    if served:
        notes.append(f"served ({', '.join(served)}): the server holds the weights; no GPU of this plan, sizing N/A")
    return Plan(gpus, tuple(placements), tuple(unplaceable), headroom, allow_sharing, tuple(notes))


def _place_in_wave(
    profile: MemoryProfile, w: _Wave, k: int, pin: int | None, allow_sharing: bool
) -> tuple[int, list[GpuShare]] | None:
    """Window of exactly ``k`` GPUs in wave ``w`` that holds the run: unused GPUs first, lowest
    index first, then (``allow_sharing``) GPUs other runs of the wave use. A run is never spread
    over more GPUs than it needs to squeeze into a wave: it waits for the next wave instead."""
    starts = _windows(len(w.free), k, pin)
    empty = [s for s in starts if all(u == 0 for u in w.users[s : s + k])]
    shared = [s for s in starts if s not in empty] if allow_sharing else []
    for s in empty + shared:
        shares = _fit(profile, w.free, s, k)
        if shares is not None:
            return s, shares
    return None
