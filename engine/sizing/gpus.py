"""GPU types sizing knows: memory a process can use, and peak memory bandwidth.

``usable_gib`` is what one process can allocate on an idle card: the total NVML reports minus
about 0.55 GiB the driver keeps (an H100 80GB reports 81,559 MiB = 79.65 GiB total and about
79.1 GiB free when idle; an H200 143,771 MiB = 140.4 GiB total, about 139.8 free). The planner
then keeps :data:`HEADROOM` of that free for what the estimate cannot see (fragmentation,
estimator error).

Bandwidths are the vendors' peak HBM/GDDR figures in TB/s (10^12 bytes/s), what the roofline
divides by: H100 SXM 3.35, H200 4.8, A100 80GB SXM 2.039, A100 40GB 1.555, L40S 0.864,
RTX 4090 1.008.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.sizing.errors import SizingError

#: fraction of a GPU's usable memory the planner leaves free (5%): the estimate already holds
#: CUDA context and allocator slack; this covers the estimator's own error (within ±5% of NVML
#: peak on the calibrated shapes) and allocator fragmentation
HEADROOM = 0.05
#: memory the driver keeps on every card (NVML total minus free on an idle GPU), GiB
DRIVER_RESERVED_GIB = 0.55
MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class GpuType:
    """A kind of GPU: name, nominal GiB, GiB usable by one process, peak bandwidth (TB/s)."""

    name: str
    nominal_gib: float
    usable_gib: float
    bandwidth_tbps: float | None = None

    @property
    def plan_gib(self) -> float:
        """Memory the planner fills: usable minus :data:`HEADROOM`."""
        return self.usable_gib * (1 - HEADROOM)


#: the GPU types ``--gpu`` accepts by name. usable_gib: NVML total (MiB, in the comment) minus
#: what the driver keeps; H100/H200 as measured on the lent machines, the others NVML total - 0.55
GPU_TYPES: dict[str, GpuType] = {
    g.name: g
    for g in (
        GpuType("H100-80GB", 80, 79.1, 3.35),  # NVML total 81,559 MiB
        GpuType("H200-141GB", 141, 139.8, 4.8),  # NVML total 143,771 MiB
        GpuType("A100-80GB", 80, 79.4, 2.039),  # NVML total 81,920 MiB
        GpuType("A100-40GB", 40, 39.4, 1.555),  # NVML total 40,960 MiB
        GpuType("L40S-48GB", 48, 44.4, 0.864),  # NVML total 46,068 MiB
        GpuType("RTX4090-24GB", 24, 23.4, 1.008),  # NVML total 24,564 MiB
    )
}
DEFAULT_GPU = "H100-80GB"

_CUSTOM = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+):(?P<gib>\d+(?:\.\d+)?)(?:GiB)?(?::(?P<bw>\d+(?:\.\d+)?))?$")


def gpu_type(spec: str | GpuType | None) -> GpuType:
    """A GPU type from its name (``H100-80GB``, case-insensitive), ``NAME:GiB[:TBps]`` or ``NGiB``.

    A custom ``NAME:GiB`` takes the GiB as what one process can use; its bandwidth is unknown
    unless given (``L4:22:0.3``).
    """
    if isinstance(spec, GpuType):
        return spec
    if spec is None:
        return GPU_TYPES[DEFAULT_GPU]
    s = spec.strip()
    for name, g in GPU_TYPES.items():
        if s.lower() == name.lower():
            return g
    m = _CUSTOM.match(s)
    if m is None:
        size = re.match(r"^(?P<gib>\d+(?:\.\d+)?)\s*GiB$", s, re.IGNORECASE)
        if size:
            return GpuType(f"{float(size['gib']):g}GiB", float(size["gib"]), float(size["gib"]), None)
    if m:
        gib = float(m["gib"])
        if gib <= 0:
            raise SizingError(f"GPU {spec!r}: memory must be positive")
        return GpuType(m["name"], gib, gib, float(m["bw"]) if m["bw"] else None)
    raise SizingError(
        f"unknown GPU {spec!r} (known: {', '.join(GPU_TYPES)}; or a size such as 80GiB, or a custom NAME:GiB "
        "such as A6000:48, optionally NAME:GiB:TBps for the roofline)"
    )
