"""A session's machine telemetry: the periodic snapshot event and ``telemetry.jsonl``, and the
per-answer telemetry window of a run.

The sampler (``engine.gpu.Sampler``) does the sampling; this turns its snapshots into
``engine.events.Telemetry`` events and, on GPU machines, one line per interval in
``telemetry.jsonl`` (the per-GPU time series: utilization, memory, power, temperature and which
runs were placed there).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine import events as ev

#: the GPU fields kept per line of telemetry.jsonl
KEEP = ("index", "label", "util_pct", "mem_used_mib", "power_w", "energy_mj", "temp_c", "sm_clock_mhz")


class LazyFile:
    """A text file opened for appending on the first write."""

    def __init__(self, path: Path):
        self.path = path
        self._f: Any = None

    def write(self, text: str) -> None:
        if self._f is None:
            self._f = self.path.open("a", encoding="utf-8")
        self._f.write(text)

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()

    def __enter__(self) -> LazyFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._f is not None:
            self._f.close()


def telemetry_loop(stop: threading.Event, sampler: Any, interval_s: float, path: Path,
                   runs_of_gpus: Callable[[], dict[int, list[str]]], emit: Callable[[ev.Event], None]) -> None:
    """Every ``interval_s`` until ``stop``: a Telemetry event, and a line in ``path`` when there
    are GPUs (the file is created with its first line: no empty file on CPU-only machines)."""
    t0 = time.perf_counter()
    with LazyFile(path) as f:
        while not stop.wait(interval_s):
            snap = sampler.latest() if sampler is not None else None
            if snap is None:
                continue
            run_of_gpu = runs_of_gpus()
            gpus = [g.to_dict() for g in snap.gpus]
            emit(ev.Telemetry(
                gpus=gpus, cpu_pct=snap.cpu_pct or 0.0,
                ram_used_mib=snap.ram_used_mib or 0.0, ram_total_mib=snap.ram_total_mib or 0.0,
                run_of_gpu=run_of_gpu,
            ))
            if gpus:
                f.write(json.dumps({
                    "t_s": round(snap.t - t0, 3), "cpu_pct": snap.cpu_pct, "ram_used_mib": snap.ram_used_mib,
                    "gpus": [{k: g[k] for k in KEEP} | {"runs": run_of_gpu.get(g["index"], [])} for g in gpus],
                }) + "\n")
                f.flush()


def runs_of_gpus(handles: Iterable[Any], sampler: Any) -> dict[int, list[str]]:
    """NVML index -> the runs loading or loaded there (a served run: its server's GPUs)."""
    out: dict[int, list[str]] = {}
    for h in handles:
        if h.status in ("loading", "ok"):
            served_gpus = sampler.gpus_of(h.server_pid) if h.served and h.server_pid else []
            for g in h.gpus or served_gpus:
                out.setdefault(g, []).append(h.run.name)
    return out


def run_window(sampler: Any, t0: float, t1: float, *, pid: int | None, gpus: list[int], served: bool,
               server_pid: int | None) -> dict[str, Any]:
    """Telemetry over [t0, t1] for a run: its process tree on its GPUs; for a served run the
    server's process tree on the GPUs it holds memory on (all None when the server is not on
    this machine: the run's details say why)."""
    if sampler is None:
        return {}
    if served:
        return sampler.window(t0, t1, pid=server_pid, gpus=sampler.gpus_of(server_pid) if server_pid else [])
    return sampler.window(t0, t1, pid=pid, gpus=gpus)
