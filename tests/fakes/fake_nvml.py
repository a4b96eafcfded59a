"""A FAKE pynvml for tests of the sampler (no GPU here): scripted devices and readings."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


class NVMLError(Exception):
    pass


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000"
    total_mib: int = 81559
    used_mib: int = 1000
    util: int = 50
    power_mw: int | None = 300_000
    energy_mj: int | None = 1_000_000
    temp: int = 40
    procs: dict[int, int | None] = field(default_factory=dict)  # pid -> bytes (None = N/A, as on MIG)


class FakeNvml:
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2

    def __init__(self, gpus: list[FakeGpu], fail_init: bool = False):
        self.gpus = gpus
        self.fail_init = fail_init

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeGpu:
        return self.gpus[i]

    def nvmlSystemGetDriverVersion(self) -> str:
        return "999.99"

    def nvmlDeviceGetName(self, h: FakeGpu) -> str:
        return h.name

    def nvmlDeviceGetUUID(self, h: FakeGpu) -> str:
        return h.uuid

    def nvmlDeviceGetUtilizationRates(self, h: FakeGpu) -> Any:
        return SimpleNamespace(gpu=h.util, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h: FakeGpu) -> Any:
        return SimpleNamespace(total=h.total_mib * 2**20, used=h.used_mib * 2**20, free=(h.total_mib - h.used_mib) * 2**20)

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        if h.power_mw is None:
            raise NVMLError("Not Supported")
        return h.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeGpu) -> int:
        return 700_000

    def nvmlDeviceGetTotalEnergyConsumption(self, h: FakeGpu) -> int:
        if h.energy_mj is None:
            raise NVMLError("Not Supported")
        return h.energy_mj

    def nvmlDeviceGetTemperature(self, h: FakeGpu, kind: int) -> int:
        return h.temp

    def nvmlDeviceGetClockInfo(self, h: FakeGpu, kind: int) -> int:
        return 1980 if kind == 1 else 2619

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeGpu) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=b) for pid, b in h.procs.items()]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeGpu) -> list[Any]:
        return []


#: the FAKE GPU a Ray actor reads in the tests of the per-node GPU view (no GPU on this machine)
FAKE_NODE_GPU = FakeGpu(name="FAKE NVIDIA H100 80GB HBM3", uuid="GPU-FAKE-0000", used_mib=12_345, util=77, temp=51)


def fake_node_source() -> Any:
    """An ``NvmlSource`` over a FAKE NVML with :data:`FAKE_NODE_GPU`, built where it is called
    (a Ray actor's ``gpu_source``: the function is sent to the node, the fake built there)."""
    from engine.gpu import NvmlSource

    return NvmlSource(FakeNvml([FAKE_NODE_GPU]))
