"""GPU readings per node, for a live view to poll (``Session.gpu_nodes()``; no UI here).

A local session has one entry, this machine (``node_id`` None): the GPUs its sampler reads and
the runs placed on each, the same figures as the ``Telemetry`` events. With ``--executor ray``
each node that holds runs has an entry, tagged with its host name and Ray node id: the GPUs of
its runs as their actors read them on that node (NVML indices of that node, labelled
``cuda:i (gpu:j)`` as the run sees them), and which runs are there (CPU runs: no GPUs).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeGpus:
    """One machine: its host name, its Ray node id (None: a local session, no cluster), whether
    it is this (the driver's) machine, its runs' GPUs (``GpuReading.to_dict()`` plus ``runs``:
    the runs on that GPU) and every run it holds."""

    hostname: str
    node_id: str | None = None
    here: bool = True
    gpus: tuple[dict[str, Any], ...] = ()
    runs: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "node_id": self.node_id, "here": self.here,
                "gpus": [dict(g) for g in self.gpus], "runs": list(self.runs)}


def gpu_rows(readings: list[Any], runs_of: dict[int, list[str]]) -> tuple[dict[str, Any], ...]:
    """``GpuReading``s as dicts with the runs on each (by NVML index)."""
    return tuple({**g.to_dict(), "runs": list(runs_of.get(g.index, []))} for g in readings)


def this_machine(snapshot: Any, runs_of: dict[int, list[str]], *, node_id: str | None = None,
                 runs: list[str] | None = None) -> NodeGpus:
    """This machine from a sampler snapshot (None: nothing read yet) and ``runs_of`` (NVML index
    -> runs); ``runs`` defaults to every run placed on one of its GPUs."""
    readings = list(snapshot.gpus) if snapshot is not None else []
    named = runs if runs is not None else sorted({r for v in runs_of.values() for r in v})
    return NodeGpus(socket.gethostname(), node_id, True, gpu_rows(readings, runs_of), tuple(named))
