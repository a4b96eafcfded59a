"""``quantarena doctor [--json]``: which backends work on this machine, checked for real.

Exit 0 when every installed backend loads and generates, 1 otherwise (see README, exit codes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.exits import ExitCode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of {backend, version, status, reason, build}")
    p.add_argument("--models", metavar="PATH", help="the catalog whose runs check each backend (default: the packaged one)")
    p.add_argument("--backend", metavar="ID[,ID...]", help="check only these backends")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds per backend check (default 600)")


def run(args: Any) -> int:
    from engine import doctor
    from engine.catalog import CatalogError, default_catalog_path, load_catalog

    err = Console(stderr=True)
    try:
        catalog = load_catalog(args.models or default_catalog_path())
    except CatalogError as e:
        err.print(f"[bold red]quantarena:[/] {e}", highlight=False)
        return int(ExitCode.USAGE)
    ids = doctor.backend_ids(catalog)
    if args.backend:
        wanted = [b.strip() for b in args.backend.split(",") if b.strip()]
        unknown = [b for b in wanted if b not in ids and b != "fake"]
        if unknown:
            err.print(f"[bold red]quantarena:[/] doctor --backend: unknown backend {unknown[0]!r} (known: {', '.join(ids)})", highlight=False)
            return int(ExitCode.USAGE)
        ids = wanted
    machine = doctor.machine_facts()
    if not args.json:
        gpus = ", ".join(f"{g['name']} ({(g.get('memory_total_mib') or 0) / 1024:.0f} GiB)" for g in machine["gpus"]) or f"none ({machine['nvml']})"
        err.print(f"CPU: {machine['cpu']} — {' '.join(machine['cpu_features']) or 'no AVX2/AVX-512/AMX reported'}", highlight=False)
        err.print(f"GPUs: {gpus}", highlight=False)
    checks = []
    for b in ids:
        if not args.json:
            err.print(f"checking {b} …", highlight=False)
        checks.append(doctor.check_backend(catalog, b, timeout_s=args.timeout))
    code = doctor.exit_code(checks)
    if args.json:
        print(json.dumps([{k: c.to_dict()[k] for k in ("backend", "version", "status", "reason", "build", "run", "device", "seconds")} for c in checks], indent=2))
        return code
    console = Console() if sys.stdout.isatty() else Console(width=200)
    t = Table(title="quantarena doctor")
    for h in ("backend", "version", "status", "build", "checked with", "reason"):
        t.add_column(h)
    colour = {"ok": "green", "failed": "red", "missing": "yellow", "skipped": "dim"}
    for c in checks:
        t.add_row(c.backend, c.version or "-", f"[{colour.get(c.status, 'white')}]{c.status}[/]", _build_line(c.build),
                  f"{c.run or '-'}" + (f" on {c.device}" if c.device else ""), c.reason)
    console.print(t)
    return code


def _build_line(build: dict[str, Any]) -> str:
    if not build:
        return "-"
    if "kernel_features" in build:
        parts = ["GPU offload" if build.get("gpu_offload") else "CPU only"]
        feats = [f for f in build.get("kernel_features", []) if f.startswith(("AVX", "AMX", "CUDA", "METAL", "VULKAN", "HIP"))]
        parts.append(" ".join(feats) or "no AVX")
        if build.get("extra_buffers") is not None:
            parts.append(f"extra buffers {'on' if build['extra_buffers'] else 'off'}")
        return "; ".join(parts)
    cuda = f"CUDA {build['cuda']}" if build.get("cuda") else "CPU build"
    avail = "" if not build.get("cuda") else (" (available)" if build.get("cuda_available") else " (no device)")
    return f"{cuda}{avail}; kernels {build.get('cpu_capability') or '?'}"
