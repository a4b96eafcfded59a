"""Placing runs on the nodes of a cluster, before anything loads (pure: no Ray here).

A cluster is a list of :class:`NodeInfo` (its GPUs as :class:`engine.placement.GpuInfo`, NVML
indices of that node). :func:`plan_cluster` gives every run a node, a GPU count and a wave, and
returns an ordinary :class:`engine.placement.Plan` so the launcher and the session treat it as a
one-box plan:

* GPU ids in the plan are **global**: node ``i``'s GPU ``j`` is ``offset(i) + j`` (nodes in the
  order given, each offset by the GPUs of the nodes before it). Runs on different nodes thus
  have disjoint GPU sets and run concurrently (their own lanes); runs sharing a GPU take turns.
* Each run needs the fewest GPUs of one node that hold it (the one-box planner on that node's
  GPUs); a run that needs more than any node has is ``unplaceable``, with the reason, and
  nothing of it loads. A run never spans nodes.
* Runs get whole GPUs (Ray's ``num_gpus``; never two runs on one GPU at once, as ``--exclusive``).
  Waves are packed first-fit decreasing (most GPUs, then most GiB first); inside a wave a run
  goes to the node with the most GPUs still free, so the runs of a wave spread across nodes.
* Runs without an estimate (the test fake), pinned to ``cpu``, or on a cluster without GPUs,
  are CPU runs: no node is chosen (Ray spreads them) and they take turns as on one box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.catalog import RunSpec
from engine.placement import GpuInfo, Placement, Plan, Unplaceable
from engine.placement import plan as plan_box

#: the custom Ray resource a node declares for its GPUs' memory (MiB, summed over its GPUs)
VRAM_RESOURCE = "quantarena_vram_mib"


@dataclass(frozen=True)
class NodeInfo:
    """One alive node: Ray's id, its host, its CPUs, its GPUs (NVML order) and, when the node
    declares it, the :data:`VRAM_RESOURCE` it offers."""

    node_id: str
    hostname: str
    address: str = ""
    cpus: float = 0.0
    gpus: tuple[GpuInfo, ...] = ()
    vram_mib: float | None = None
    head: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "hostname": self.hostname, "address": self.address, "cpus": self.cpus,
                "head": self.head, "gpus": [g.to_dict() for g in self.gpus], VRAM_RESOURCE: self.vram_mib}


@dataclass(frozen=True)
class Slot:
    """What one run asks Ray for: its node (None: anywhere), whole GPUs, and VRAM (MiB; None
    when the node does not declare :data:`VRAM_RESOURCE`), with the plan's global GPU ids."""

    run: str
    node_id: str | None = None
    num_gpus: int = 0
    vram_mib: int | None = None
    gpus: tuple[int, ...] = ()

    def resources(self) -> dict[str, float]:
        return {VRAM_RESOURCE: float(self.vram_mib)} if self.vram_mib else {}


@dataclass
class ClusterPlan:
    plan: Plan
    slots: dict[str, Slot] = field(default_factory=dict)


def offsets(nodes: Sequence[NodeInfo]) -> list[int]:
    out, n = [], 0
    for node in nodes:
        out.append(n)
        n += len(node.gpus)
    return out


def global_gpus(nodes: Sequence[NodeInfo]) -> list[GpuInfo]:
    """Every GPU of the cluster with its global index, named ``NAME@host``."""
    out: list[GpuInfo] = []
    for off, node in zip(offsets(nodes), nodes, strict=True):
        out += [GpuInfo(off + g.index, f"{g.name}@{node.hostname}", g.total_gib, g.free_gib) for g in node.gpus]
    return out


def plan_cluster(runs_with_estimates: Sequence[tuple[RunSpec | str, Any]], nodes: Sequence[NodeInfo]) -> ClusterPlan:
    """See the module docstring. ``runs_with_estimates`` as for :func:`engine.placement.plan`."""
    offs = offsets(nodes)
    all_gpus = tuple(global_gpus(nodes))
    solo: list[tuple[str, str]] = []
    unplaceable: list[Unplaceable] = []
    # (order, name, gib, per-node single-run placement or None)
    gpu_runs: list[tuple[int, str, float, list[Placement | None]]] = []
    for order, (run, est) in enumerate(runs_with_estimates):
        name = run.name if isinstance(run, RunSpec) else str(run)
        served = isinstance(run, RunSpec) and _served(run)
        dev = run.device if isinstance(run, RunSpec) else "auto"
        if served:
            solo.append((name, "server"))
            continue
        if not all_gpus or dev == "cpu" or est is None:
            solo.append((name, "cpu"))
            continue
        fits: list[Placement | None] = []
        reasons: list[str] = []
        for node in nodes:
            if not node.gpus:
                fits.append(None)
                continue
            alone = plan_box([(run, est)], node.gpus, allow_sharing=False)
            fits.append(alone.placement(name) if not alone.unplaceable else None)
            reasons += [f"{node.hostname}: {u.reason}" for u in alone.unplaceable]
        if not any(fits):
            most = max((len(n.gpus) for n in nodes), default=0)
            unplaceable.append(Unplaceable(
                name, f"fits no node of the cluster (the largest has {most} GPU(s)): " + "; ".join(reasons),
                est.total_gib, None,
            ))
            continue
        gpu_runs.append((order, name, est.total_gib, fits))

    def need(fits: list[Placement | None]) -> int:
        return min(len(p.gpus) for p in fits if p is not None)

    gpu_runs.sort(key=lambda r: (-need(r[3]), -r[2]))
    waves: list[list[set[int]]] = []  # wave -> node -> local GPU indices in use
    placed: list[tuple[int, int, Placement, Slot]] = []
    for order, name, _gib, fits in gpu_runs:
        for w_i in range(len(waves) + 1):
            if w_i == len(waves):
                waves.append([set() for _ in nodes])
            used = waves[w_i]
            best: tuple[int, int] | None = None  # (free GPUs, node index)
            for n_i, (node, fit) in enumerate(zip(nodes, fits, strict=True)):
                if fit is None:
                    continue
                free = len(node.gpus) - len(used[n_i])
                if free >= len(fit.gpus) and (best is None or free > best[0]):
                    best = (free, n_i)
            if best is None:
                continue
            n_i = best[1]
            node, p = nodes[n_i], fits[n_i]
            if p is None:
                continue
            local = [g.index for g in node.gpus if g.index not in used[n_i]][: len(p.gpus)]
            used[n_i].update(local)
            ids = tuple(offs[n_i] + i for i in local)
            vram = int(round(p.total_gib * 1024)) if node.vram_mib else None
            slot = Slot(name, node.node_id, len(ids), vram, ids)
            placed.append((w_i, order, Placement(name, w_i + 1, "cuda", ids, p.shares, p.backend, p.total_gib), slot))
            break
    placed.sort(key=lambda x: (x[0], x[1]))
    placements = [p for _, _, p, _ in placed]
    slots = {s.run: s for _, _, _, s in placed}
    next_wave = len(waves) + 1
    for name, dev in solo:
        placements.append(Placement(name, next_wave, dev))
        slots.setdefault(name, Slot(name))
        next_wave += 1
    notes = [f"Ray cluster: {len(nodes)} node(s), {len(all_gpus)} GPU(s); GPU ids are global (node offset + NVML index)"]
    undeclared = [n.hostname for n in nodes if n.gpus and not n.vram_mib]
    if undeclared:
        notes.append(f"{', '.join(undeclared)}: no {VRAM_RESOURCE} resource declared (`ray start --resources`); "
                     "runs there reserve whole GPUs only")
    return ClusterPlan(Plan(all_gpus, tuple(placements), tuple(unplaceable), allow_sharing=False, notes=tuple(notes)), slots)


def _served(run: RunSpec) -> bool:
    from engine.backends.registry import is_served

    return is_served(run.backend)
