"""Telemetry: NVML GPU readings and psutil process readings, sampled in a background thread.

* Every GPU (utilization, memory used/total, power, energy counter, temperature, clocks, per-process
  memory) every ``interval_s`` (100 ms by default), like nvitop/gpustat but faster.
* CUDA ordinals follow ``CUDA_VISIBLE_DEVICES``; NVML indices are physical. GPUs are labelled
  ``cuda:i (gpu:j)`` and ``cuda_to_nvml`` maps between the two (indices or UUIDs in the variable).
* Anything NVML cannot tell (no GPU, no driver, MIG per-process memory, a field the GPU lacks) is
  ``None`` — never 0.
* Run processes register their pid; each window query (a generation's start and end) gives the peak
  VRAM on the run's GPUs (global, summed over them), the peak of the run's process tree, mean/max
  utilization, energy from the energy counter (fallback: integrated power), peak RSS and mean CPU%.

No UI here: front ends read ``Sampler.latest()`` or receive ``Telemetry`` events.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.placement import GpuInfo

MIB = 1024 * 1024


@dataclass
class GpuReading:
    index: int  # NVML (physical) index
    cuda: int | None  # CUDA ordinal in this process's view (None when hidden by CUDA_VISIBLE_DEVICES)
    name: str
    uuid: str | None
    util_pct: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    power_w: float | None
    power_limit_w: float | None
    energy_mj: float | None  # total energy counter since driver load (mJ)
    temp_c: float | None
    sm_clock_mhz: float | None
    mem_clock_mhz: float | None
    processes: dict[int, float | None] = field(default_factory=dict)  # pid -> used MiB (None: N/A)

    @property
    def label(self) -> str:
        c = f"cuda:{self.cuda}" if self.cuda is not None else "cuda:-"
        return f"{c} (gpu:{self.index})"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        d["processes"] = {str(k): v for k, v in self.processes.items()}
        return d


@dataclass
class Snapshot:
    t: float  # time.perf_counter() (CLOCK_MONOTONIC on Linux: comparable across processes)
    gpus: list[GpuReading]
    procs: dict[int, tuple[float, float | None]]  # run pid -> (tree RSS MiB, tree CPU%)
    cpu_pct: float | None
    ram_used_mib: float | None
    ram_total_mib: float | None


def parse_visible_devices(value: str | None, uuids: list[str | None]) -> list[int] | None:
    """NVML indices visible to CUDA, in CUDA-ordinal order; None when the variable is unset.

    Accepts indices ("2,3"), full or prefix UUIDs ("GPU-8f3a..."), stops at the first invalid entry
    (as CUDA does); "" or "-1" hides every GPU.
    """
    if value is None:
        return None
    out: list[int] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            break
        if item.lstrip("-").isdigit():
            i = int(item)
            if i < 0 or i >= len(uuids) or i in out:
                break
            out.append(i)
            continue
        hits = [j for j, u in enumerate(uuids) if u and u.startswith(item)]
        if len(hits) != 1 or hits[0] in out:
            break
        out.append(hits[0])
    return out


def cuda_to_nvml(visible: list[int] | None, n_gpus: int) -> dict[int, int]:
    """CUDA ordinal -> NVML index under a CUDA_VISIBLE_DEVICES view."""
    order = list(range(n_gpus)) if visible is None else visible
    return {c: j for c, j in enumerate(order)}


class NvmlSource:
    """Reads NVML through pynvml (nvidia-ml-py). ``available`` is False without a driver."""

    def __init__(self, nvml: Any = None):
        self.available = False
        self.error: str | None = None
        self.driver: str | None = None
        self.nvml = nvml
        self._handles: list[Any] = []
        try:
            if self.nvml is None:
                import pynvml

                self.nvml = pynvml
            self.nvml.nvmlInit()
            n = self.nvml.nvmlDeviceGetCount()
            self._handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
            self.available = True
            try:
                d = self.nvml.nvmlSystemGetDriverVersion()
                self.driver = d.decode() if isinstance(d, bytes) else str(d)
            except Exception:
                self.driver = None
        except Exception as e:  # no library, no driver, no GPU
            self.error = f"{type(e).__name__}: {e}"
        self.names = [self._call("nvmlDeviceGetName", h) for h in self._handles]
        self.names = [n.decode() if isinstance(n, bytes) else (n or "GPU") for n in self.names]
        self.uuids = [self._call("nvmlDeviceGetUUID", h) for h in self._handles]
        self.uuids = [u.decode() if isinstance(u, bytes) else u for u in self.uuids]
        visible = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"), self.uuids)
        self.cuda_of = {j: c for c, j in cuda_to_nvml(visible, len(self._handles)).items()}

    @property
    def count(self) -> int:
        return len(self._handles)

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.nvml, fn)(*args)
        except Exception:
            return None

    def read(self) -> list[GpuReading]:
        out = []
        nv = self.nvml
        for i, h in enumerate(self._handles):
            util = self._call("nvmlDeviceGetUtilizationRates", h)
            mem = self._call("nvmlDeviceGetMemoryInfo", h)
            power = self._call("nvmlDeviceGetPowerUsage", h)
            plimit = self._call("nvmlDeviceGetEnforcedPowerLimit", h)
            energy = self._call("nvmlDeviceGetTotalEnergyConsumption", h)
            temp = self._call("nvmlDeviceGetTemperature", h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
            sm = self._call("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_SM", 1))
            memclk = self._call("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_MEM", 2))
            procs: dict[int, float | None] = {}
            for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                for p in self._call(fn, h) or []:
                    used = getattr(p, "usedGpuMemory", None)
                    procs[int(p.pid)] = (used / MIB) if isinstance(used, int) and used >= 0 else None
            out.append(
                GpuReading(
                    index=i,
                    cuda=self.cuda_of.get(i),
                    name=self.names[i],
                    uuid=self.uuids[i],
                    util_pct=float(util.gpu) if util is not None else None,
                    mem_used_mib=(mem.used / MIB) if mem is not None else None,
                    mem_total_mib=(mem.total / MIB) if mem is not None else None,
                    power_w=(power / 1000.0) if isinstance(power, (int, float)) else None,
                    power_limit_w=(plimit / 1000.0) if isinstance(plimit, (int, float)) else None,
                    energy_mj=float(energy) if isinstance(energy, (int, float)) else None,
                    temp_c=float(temp) if isinstance(temp, (int, float)) else None,
                    sm_clock_mhz=float(sm) if isinstance(sm, (int, float)) else None,
                    mem_clock_mhz=float(memclk) if isinstance(memclk, (int, float)) else None,
                    processes=procs,
                )
            )
        return out

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for i, h in enumerate(self._handles):
            mem = self._call("nvmlDeviceGetMemoryInfo", h)
            out.append({
                "index": i, "cuda": self.cuda_of.get(i), "name": self.names[i], "uuid": self.uuids[i],
                "memory_total_mib": (mem.total / MIB) if mem is not None else None,
            })
        return out


def visible_gpus(nvml: Any = None) -> tuple[list[GpuInfo], str | None]:
    """The GPUs this process may use, as the planner sees them: one :class:`GpuInfo` per CUDA
    ordinal, in ordinal order (``GpuInfo.index`` is the ordinal, so a run pinned to ``cuda:N``
    gets entry N), each with its NVML index and UUID (what a run process's
    ``CUDA_VISIBLE_DEVICES`` names), total and free GiB. ``([], reason)`` when there are none.

    The one NVML reader of ``quantarena plan`` and of ``--batch``/the TUI (``engine.launch``);
    ``nvml`` replaces pynvml (tests).
    """
    from engine.placement import GpuInfo

    src = NvmlSource(nvml)
    if not src.available:
        return [], src.error or "NVML unavailable"
    out = []
    for r in src.read():
        if r.cuda is None or r.mem_total_mib is None:
            continue  # hidden by CUDA_VISIBLE_DEVICES (or no memory figure to plan with)
        label = r.name if r.cuda == r.index else f"{r.name} (gpu:{r.index})"
        total = r.mem_total_mib / 1024
        free = None if r.mem_used_mib is None else (r.mem_total_mib - r.mem_used_mib) / 1024
        out.append(GpuInfo(r.cuda, label, total, free, nvml_index=r.index, uuid=r.uuid))
    out.sort(key=lambda g: g.index)
    return out, None if out else "NVML reports no usable GPU"


def gpu_type_from_nvml(name: str, total_mib: float | None) -> str | None:
    """The sizing GPU type (with its peak bandwidth) for an NVML device name, when known."""
    n = name.upper()
    gib = (total_mib or 0) / 1024
    if "H200" in n:
        return "H200-141GB"
    if "H100" in n and ("HBM3" in n or "SXM" in n):
        return "H100-80GB"  # SXM: 3.35 TB/s (the PCIe card has 2.0 TB/s HBM2e)
    if "A100" in n:
        return "A100-80GB" if gib > 50 else "A100-40GB"
    if "L40S" in n:
        return "L40S-48GB"
    if "4090" in n:
        return "RTX4090-24GB"
    return None


class _ProcTree:
    """RSS and CPU% of a process and its children (psutil)."""

    def __init__(self, pid: int):
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(pid)
        self._procs: dict[int, Any] = {}

    def pids(self) -> list[int]:
        try:
            return [self.root.pid] + [c.pid for c in self.root.children(recursive=True)]
        except self.psutil.Error:
            return []

    def read(self) -> tuple[float, float | None]:
        rss = 0.0
        cpu = 0.0
        seen = set()
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except self.psutil.Error:
            return 0.0, None
        for p in procs:
            seen.add(p.pid)
            q = self._procs.setdefault(p.pid, p)
            try:
                rss += q.memory_info().rss / MIB
                cpu += q.cpu_percent(None)
            except self.psutil.Error:
                continue
        for pid in list(self._procs):
            if pid not in seen:
                del self._procs[pid]
        return rss, cpu


class Sampler:
    """Samples every GPU and the registered run processes every ``interval_s`` in a thread."""

    def __init__(self, interval_s: float = 0.1, source: NvmlSource | None = None, history_s: float = 600.0):
        self.interval_s = interval_s
        self.source = source if source is not None else NvmlSource()
        self._history: deque[Snapshot] = deque(maxlen=max(10, int(history_s / interval_s)))
        self._trees: dict[int, _ProcTree] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import psutil

            self._psutil: Any = psutil
            psutil.cpu_percent(None)
        except ImportError:
            self._psutil = None

    # -- lifecycle --
    def start(self) -> Sampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="quantarena-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def track(self, pid: int) -> None:
        if self._psutil is None:
            return
        try:
            tree = _ProcTree(pid)
        except Exception:
            return
        with self._lock:
            self._trees[pid] = tree
            running = bool(self._history)
        if running:  # a snapshot with the new process now: a short first answer's window has one
            self.sample_once()

    def untrack(self, pid: int) -> None:
        with self._lock:
            self._trees.pop(pid, None)

    def _loop(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            self.sample_once()
            next_t += self.interval_s
            delay = next_t - time.perf_counter()
            if delay < 0:  # fell behind: don't pile up polls
                next_t = time.perf_counter()
                delay = 0
            self._stop.wait(delay)

    def sample_once(self) -> Snapshot:
        gpus = self.source.read() if self.source.available else []
        with self._lock:
            trees = dict(self._trees)
        procs = {pid: tree.read() for pid, tree in trees.items()}
        cpu = ram_used = ram_total = None
        if self._psutil is not None:
            cpu = self._psutil.cpu_percent(None)
            vm = self._psutil.virtual_memory()
            ram_used, ram_total = (vm.total - vm.available) / MIB, vm.total / MIB
        snap = Snapshot(time.perf_counter(), gpus, procs, cpu, ram_used, ram_total)
        with self._lock:
            self._history.append(snap)
        return snap

    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def tree_pids(self, pid: int) -> list[int]:
        with self._lock:
            tree = self._trees.get(pid)
        return tree.pids() if tree else [pid]

    def gpus_of(self, pid: int) -> list[int]:
        """NVML indices of the GPUs on which the process tree of ``pid`` holds memory in the
        latest sample (a served run's GPUs: the server's, not a plan's)."""
        snap = self.latest()
        if snap is None:
            return []
        pids = set(self.tree_pids(pid))
        return [g.index for g in snap.gpus if pids & set(g.processes)]

    def window(self, t0: float, t1: float, *, pid: int | None, gpus: list[int]) -> dict[str, Any]:
        """Figures over [t0, t1] for a run (its process tree and its NVML GPU indices)."""
        with self._lock:
            snaps = [s for s in self._history if t0 - self.interval_s <= s.t <= t1 + self.interval_s]
        if not snaps and pid is not None:  # a short answer between two late polls: read it now, just after
            snaps = [self.sample_once()]
        return window_figures(snaps, t0, t1, pids=self.tree_pids(pid) if pid else [], root=pid, gpus=gpus)


def window_figures(snaps: list[Snapshot], t0: float, t1: float, *, pids: list[int], root: int | None, gpus: list[int]) -> dict[str, Any]:
    """Peak VRAM (global over the run's GPUs, and of its processes), util, energy, RSS, CPU%.

    Pure over a list of snapshots, so it is tested without NVML.
    """
    inside = [s for s in snaps if t0 <= s.t <= t1] or snaps[-1:]
    out: dict[str, Any] = {
        "peak_vram_mib": None, "peak_vram_process_mib": None, "gpu_util_pct": None,
        "gpu_util_max_pct": None, "energy_j": None, "power_w": None, "rss_mib": None, "cpu_pct": None,
    }
    if not inside:
        return out
    if gpus:
        glob = []
        proc = []
        utils = []
        powers = []
        for s in inside:
            by = {g.index: g for g in s.gpus}
            used = [by[i].mem_used_mib for i in gpus if i in by]
            if used and all(u is not None for u in used):
                glob.append(sum(u for u in used if u is not None))
            pmem = [by[i].processes.get(p) for i in gpus if i in by for p in pids if p in by[i].processes]
            if pmem and all(m is not None for m in pmem):
                proc.append(sum(m for m in pmem if m is not None))
            u = [x for x in (by[i].util_pct for i in gpus if i in by) if x is not None]
            if u:
                utils.append(sum(u) / len(u))
            pw = [x for x in (by[i].power_w for i in gpus if i in by) if x is not None]
            if pw:
                powers.append(sum(pw))
        out["peak_vram_mib"] = max(glob) if glob else None
        out["peak_vram_process_mib"] = max(proc) if proc else None
        out["gpu_util_pct"] = sum(utils) / len(utils) if utils else None
        out["gpu_util_max_pct"] = max(utils) if utils else None
        out["power_w"] = sum(powers) / len(powers) if powers else None
        out["energy_j"] = _energy(snaps, t0, t1, gpus)
    if root is not None:
        rss = [s.procs[root][0] for s in inside if root in s.procs]
        cpu = [s.procs[root][1] for s in inside if root in s.procs and s.procs[root][1] is not None]
        out["rss_mib"] = max(rss) if rss else None
        out["cpu_pct"] = (sum(cpu) / len(cpu)) if cpu else None  # type: ignore[arg-type]
    return out


def _energy(snaps: list[Snapshot], t0: float, t1: float, gpus: list[int]) -> float | None:
    """Joules on the run's GPUs over [t0, t1]: energy counter delta, else integrated power."""
    before = [s for s in snaps if s.t <= t0]
    after = [s for s in snaps if s.t >= t1]
    a = before[-1] if before else (snaps[0] if snaps else None)
    b = after[0] if after else (snaps[-1] if snaps else None)
    if a is None or b is None or b.t <= a.t:
        return None
    ea = {g.index: g.energy_mj for g in a.gpus}
    eb = {g.index: g.energy_mj for g in b.gpus}
    if all(ea.get(i) is not None and eb.get(i) is not None for i in gpus):
        total_mj = sum((eb[i] or 0.0) - (ea[i] or 0.0) for i in gpus)
        span = b.t - a.t
        # scale the counter's span down to the window (samples bracket it by < 1 interval)
        return (total_mj / 1000.0) * ((t1 - t0) / span) if span > 0 else None
    # fallback: trapezoid over power samples
    pts = [(s.t, sum(g.power_w for g in s.gpus if g.index in gpus and g.power_w is not None)) for s in snaps if t0 <= s.t <= t1]
    if len(pts) < 2:
        return None
    return sum((t2 - t1_) * (p1 + p2) / 2 for (t1_, p1), (t2, p2) in zip(pts, pts[1:], strict=False))
