"""The ``environment`` block written with every result: machine, GPUs, driver, libraries, commit."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

LIBRARIES = (
    "llama-cpp-python", "torch", "transformers", "optimum-quanto", "bitsandbytes", "torchao", "accelerate",
    "gguf", "math-verify", "textual", "psutil", "nvidia-ml-py", "numpy", "quantarena",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if r.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
            return r.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def environment(nvml: Any = None) -> dict[str, Any]:
    """Everything needed to tell where figures came from."""
    import psutil

    gpus: list[dict[str, Any]] = []
    driver = cuda_driver = None
    if nvml is not None and getattr(nvml, "available", False):
        gpus = nvml.describe()
        driver = nvml.driver
        try:
            v = nvml.nvml.nvmlSystemGetCudaDriverVersion()
            cuda_driver = f"{v // 1000}.{(v % 1000) // 10}"
        except Exception:
            cuda_driver = None
    return {
        "cpu": cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "gpus": gpus,
        "gpu_driver": driver,
        "cuda_driver": cuda_driver,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "nvml": "available" if gpus else (getattr(nvml, "error", None) or "unavailable"),
        "libraries": library_versions(),
        "git_commit": git_commit(),
    }
