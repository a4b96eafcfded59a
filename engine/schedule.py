"""Who answers what, in which order: waves, lanes and turns, as pure functions of the runs' devices.

* A **wave** is a set of runs loaded at the same time (from the placement plan when GPUs are
  used; else one wave with every run).
* Within a wave, runs that share a device form a **lane** and take turns, one answer at a time,
  so no timing is taken while another run loads the same device; lanes on disjoint GPUs run
  concurrently. CPU runs (no GPU) share one lane.
* Inside a lane the order is problem-major: every run answers the first **turn** of problems,
  then the second, ... A turn is one problem (latency mode) or ``concurrency`` problems
  (throughput mode), which each run answers in calls of at most its batch size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


def run_gpus(device: str, *, served: bool, assigned: Sequence[int] | None, visible_gpus: int) -> list[int]:
    """The NVML indices a run uses: its plan's assignment, else those its ``device`` names when
    GPUs are visible (``cuda:N`` → N, ``cuda``/``auto`` → 0); none for a served run or on CPU."""
    if served:
        return []  # a served run takes no GPU of the plan
    if assigned is not None:
        return list(assigned)
    if device == "cpu" or visible_gpus == 0:
        return []
    if device.startswith("cuda:"):
        return [int(device[5:])]
    if device in ("cuda", "auto"):
        return [0]
    return []


def lanes(names: Sequence[str], gpus: Mapping[str, Sequence[int]]) -> list[list[str]]:
    """The runs of a wave grouped into lanes: runs whose GPU sets overlap (transitively) share a
    lane, runs without a GPU share one; lanes keep the runs' order, in order of first member."""
    out: list[tuple[set[int] | None, list[str]]] = []
    for name in names:
        key: set[int] | None = set(gpus.get(name, ())) or None
        for i, (lk, members) in enumerate(out):
            if (lk is None and key is None) or (lk is not None and key is not None and lk & key):
                members.append(name)
                if lk is not None and key is not None:
                    out[i] = (lk | key, members)
                break
        else:
            out.append((key, [name]))
    return [m for _, m in out]


def turns(items: Sequence[T], size: int) -> list[tuple[int, list[T]]]:
    """``items`` in consecutive turns of ``size`` (at least 1), each with its start position."""
    size = max(1, size)
    return [(start, list(items[start : start + size])) for start in range(0, len(items), size)]
