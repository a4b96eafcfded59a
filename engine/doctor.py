"""``quantarena doctor``: what this machine can run, checked for real, one backend at a time.

For every backend of the registry, the way ``python -m torch.utils.collect_env`` and llama-bench's
system line tell it: the installed version, its build (GPU offload, CUDA, the CPU features its
kernels use) and a real check — the catalog's first run of that backend on the embedded model is
loaded in its own run process (``engine.run_process``) and generates a few tokens. A native crash
there fails that backend's check with the signal and the last lines it logged, never the doctor.

Statuses: ``ok``; ``failed`` with the reason (broken import, crash, error at load or generation);
``missing`` with the extra that installs it; ``skipped`` for a served backend (``openai``) when the
catalog has no run of it (it is checked against its server through such a run). The parent imports no backend library.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import queue
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.backends.registry import FAKE_BACKEND_ID
from engine.catalog import Catalog, RunSpec

#: what the doctor asks each backend to generate
PROBE_MESSAGES = [{"role": "user", "content": "Quanto é 2 + 2?"}]
PROBE_TOKENS = 4


@dataclass
class BackendCheck:
    backend: str
    version: str | None
    status: str  # ok | failed | missing | skipped (a served backend with no run to check it with)
    reason: str = ""
    build: dict[str, Any] = field(default_factory=dict)
    run: str | None = None
    device: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version(dist: str | None) -> str | None:
    if not dist:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are not installed (found without importing them)."""
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except (ImportError, ValueError):  # a parent package missing or broken
            out.append(m)
    return out


def probe_run(catalog: Catalog, backend_id: str) -> RunSpec | None:
    """The run the doctor checks a backend with: its first default CPU-capable run with real
    weights (the embedded model's, in the packaged catalog), else its first CPU-capable run (a
    synthetic one last: a catalog of random-weight runs is still checked)."""
    runs = [r for r in catalog.runs.values() if r.backend == backend_id and not r.device.startswith("cuda")]
    # real weights first (the embedded model), the default selection first; synthetic ones last
    runs.sort(key=lambda r: (r.synthetic, not r.default))
    return runs[0] if runs else None


def build_facts(backend_id: str, details: dict[str, Any]) -> dict[str, Any]:
    """The build facts a load reported, in a form that reads the same for every backend."""
    from engine.cpu import cpu_features

    if "system_info" in details:  # llama.cpp
        info = str(details.get("system_info", ""))
        kernels = sorted({part.split("=")[0].strip() for part in info.split("|") if part.strip().endswith("= 1")})
        return {
            "gpu_offload": details.get("gpu_offload_supported"),
            "kernel_features": kernels,
            "extra_buffers": details.get("extra_buffers"),
            "extra_buffers_reason": details.get("extra_buffers_reason"),
            "system_info": info,
        }
    out: dict[str, Any] = {"cpu_features": cpu_features()}
    for key in ("library", "torch_cuda", "torch_cuda_available", "torch_cuda_devices", "torch_cpu_capability", "kernel_path"):
        if key in details:
            out[key.removeprefix("torch_") if key.startswith("torch_c") else key] = details[key]
    return out


def check_backend(catalog: Catalog, backend_id: str, *, timeout_s: float = 600.0, log_dir: str | None = None) -> BackendCheck:
    """The real check of one backend: its library found, a probe run loaded and a few tokens
    generated in its own process."""
    from engine.backends.registry import load_backend_class

    cls = load_backend_class(backend_id)
    version = _version(cls.DISTRIBUTION)
    gone = missing_modules(tuple(cls.REQUIRES))
    if gone:
        extra = f"pip install 'quantarena[{cls.EXTRA}]'" if cls.EXTRA else "install it"
        return BackendCheck(backend_id, version, "missing", f"{', '.join(gone)} not installed; {extra}")
    run = probe_run(catalog, backend_id)
    if run is None and getattr(cls.capabilities, "served", False):
        return BackendCheck(backend_id, version, "skipped",
                            "a served backend: checked through a catalog run of it against its server; the catalog has none")
    if run is None:
        return BackendCheck(backend_id, version, "failed", f"the catalog has no CPU run of backend {backend_id} to check it with")
    model = catalog.models[run.model]
    return _probe(run, model, version, timeout_s=timeout_s, log_dir=log_dir)


def _probe(run: RunSpec, model: Any, version: str | None, *, timeout_s: float, log_dir: str | None) -> BackendCheck:
    from engine import protocol as P
    from engine.backends.base import GenerationRequest
    from engine.run_process import RunProcess, exit_reason

    log_root = Path(log_dir or tempfile.mkdtemp(prefix="quantarena-doctor-"))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)
    env = {"QUANTARENA_RUN_LOG": str(log_root / f"{safe}.log")}
    if run.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    check = BackendCheck(run.backend, version, "failed", run=run.name)
    t0 = time.perf_counter()
    proc = RunProcess(run, model, env=env, stream_text=False)
    deadline = t0 + timeout_s
    phase = "while loading"
    try:
        proc.start()
        while True:
            try:
                msg = proc.get(timeout=max(0.1, deadline - time.perf_counter()))
            except queue.Empty:
                check.reason = f"no answer within {timeout_s:.0f} s {phase}"
                break
            if isinstance(msg, P.Loaded):
                check.device = msg.device
                check.build = build_facts(run.backend, msg.details or {})
                phase = "while generating"
                proc.send(P.Answer(["doctor"], [GenerationRequest(messages=PROBE_MESSAGES, max_new_tokens=PROBE_TOKENS)]))
            elif isinstance(msg, P.LoadFailed):
                check.reason = f"{msg.status} at load: {msg.reason}"
                break
            elif isinstance(msg, P.Done):
                n = len(msg.answer.token_times)
                if n:
                    check.status, check.reason = "ok", f"generated {n} tokens"
                else:
                    check.reason = "generated no token"
                break
            elif isinstance(msg, P.GenFailed):
                check.reason = f"{msg.status} while generating: {msg.reason}"
                break
            elif isinstance(msg, P.Exited):
                check.reason = exit_reason(msg, phase, hint=False)
                break
    finally:
        proc.stop(timeout=10)
    check.seconds = round(time.perf_counter() - t0, 2)
    return check


def machine_facts() -> dict[str, Any]:
    """The CPU, its features, and the GPUs NVML sees (no backend library imported)."""
    from engine.cpu import cpu_features, has_amx
    from engine.environment import cpu_model
    from engine.gpu import NvmlSource

    src = NvmlSource()
    return {
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "amx": has_amx(),
        "gpus": src.describe() if src.available else [],
        "gpu_driver": src.driver,
        "nvml": "available" if src.available else (src.error or "unavailable"),
    }


def backend_ids(catalog: Catalog) -> list[str]:
    from engine.backends.registry import BACKENDS

    return [b for b in BACKENDS if b != FAKE_BACKEND_ID]


def exit_code(checks: list[BackendCheck]) -> int:
    """0 when every installed backend works (missing and skipped ones do not count), 1 otherwise."""
    from engine.exits import ExitCode

    return int(ExitCode.OK if all(c.status in ("ok", "missing", "skipped") for c in checks) else ExitCode.ERROR)
