"""What this CPU can do, read from ``/proc/cpuinfo``, and the choices that depend on it.

Pure and cheap (no library import), so the doctor, the catalog listing and the llama.cpp backend
agree on one reading. Tests point ``QUANTARENA_CPUINFO`` at a file of their own to fake a CPU.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

#: the instruction-set features quantized CPU kernels choose between, in the order we report them
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")

#: the values the llama.cpp run setting ``extra_buffers`` takes
EXTRA_BUFFERS_CHOICES = ("auto", True, False)


def cpuinfo_path() -> Path:
    return Path(os.environ.get("QUANTARENA_CPUINFO", "/proc/cpuinfo"))


@lru_cache(maxsize=8)
def _flags_of(path: str) -> frozenset[str]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / Arm
            return frozenset(val.split())
    return frozenset()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is unreadable, e.g. macOS)."""
    return _flags_of(str(cpuinfo_path()))


def cpu_features() -> list[str]:
    """The features of :data:`FEATURES` this CPU reports, e.g. ``['avx2', 'avx512f', 'amx_int8']``."""
    flags = cpu_flags()
    return [f for f in FEATURES if f in flags]


def has_amx() -> bool:
    flags = cpu_flags()
    return "amx_int8" in flags or "amx_tile" in flags


def cpu_line() -> str:
    """One line in llama-bench's manner: ``x86_64: avx2 avx512f amx_int8``."""
    feats = cpu_features()
    return f"{platform.machine() or 'unknown'}: {' '.join(feats) if feats else 'no AVX2/AVX-512/AMX reported'}"


def extra_buffers_choice(setting: object, *, weights_on_cpu: bool) -> tuple[bool, str]:
    """The effective value of llama.cpp's ``use_extra_bufts`` for a run, and why.

    llama.cpp's extra CPU buffer types (the AMX and repacked weight layouts) speed up Q4_0/Q8_0 on
    AVX2/AVX-512 CPUs, but crash inside ``llama_decode`` on some AMX Xeons (upstream llama.cpp
    issue #20824, "segfault in ggml_backend_amx_mul_mat"). ``auto`` turns them off where the CPU
    reports AMX and some weights stay on the CPU; elsewhere it leaves llama.cpp's default (on).
    """
    if setting is True or setting is False:
        return bool(setting), "set in the run's settings"
    if setting not in (None, "auto"):
        raise ValueError(f"extra_buffers must be \"auto\", true or false, got {setting!r}")
    if not weights_on_cpu:
        return True, "auto: every layer on the GPU (the CPU weight layouts are not used)"
    if has_amx():
        return False, "auto: off because this CPU reports AMX (llama.cpp issue #20824 crashes there)"
    return True, "auto: on (no AMX on this CPU)"
