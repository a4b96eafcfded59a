"""``quantarena size``: GPU memory and GPU count for a model × quantization, before any download.

    quantarena size llama3-8b --quant q4_k_m --ctx 8192 --gpu H100-80GB
    quantarena size qwen2.5-72b --quant int4 --gpu 1xH100-80GB --json
    quantarena size --all --gpu H200-141GB
    quantarena size --validate benchmarks/gpu-runs   # estimates against measured runs (cli/size_validate.py)
    quantarena size --arch layers=32,hidden_size=4096,heads=32,kv_heads=8,ffn_size=14336,vocab_size=128256 --quant q8_0

``--quant`` picks the backend when ``--backend`` is not given: GGUF names mean llama.cpp,
``int8``/``int4`` quanto, ``nf4``/``fp4`` bitsandbytes, ``bf16``/``fp16`` transformers.
``--gpu`` is a GPU type (``H100-80GB``, ``80GiB``, ``NAME:GiB``); ``COUNTxTYPE`` describes a box,
and a run that cannot fit it says by how much. Exit codes: 0, or 2 for bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from typing import Any

from engine.catalog import Architecture, Catalog, CatalogError, default_catalog_path, load_catalog
from engine.exits import ExitCode
from engine.sizing import (
    GPU_TYPES,
    Estimate,
    GpuType,
    SizingError,
    computed_params,
    estimate,
    gpu_type,
    model_arch,
    resolve_quant,
)
from engine.sizing.runs import DEFAULT_CTX  # context used when neither --ctx nor the catalog's defaults.n_ctx says

#: the schemes ``--all`` sizes for every model: (backend, quant)
COMMON_SCHEMES: tuple[tuple[str, str], ...] = (
    ("llama.cpp", "q4_k_m"), ("llama.cpp", "q8_0"), ("quanto", "int4"), ("quanto", "int8"),
    ("bitsandbytes", "nf4"), ("bitsandbytes", "int8"), ("transformers", "bf16"),
)
_ARCH_FIELDS = {f.name: f.type for f in dataclasses.fields(Architecture)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``size``'s arguments to ``parser``."""
    parser.add_argument("model", nargs="?", help="catalog model name (see models.toml)")
    parser.add_argument("--quant", "-q", help="quantization: q4_k_m, q8_0, int8, int4, nf4, fp4, bf16, ...")
    parser.add_argument("--backend", "-b", choices=("llama.cpp", "quanto", "bitsandbytes", "torchao", "transformers"),
                        help="backend (default: implied by --quant)")
    parser.add_argument("--ctx", type=int, help=f"context tokens (default: catalog n_ctx or {DEFAULT_CTX})")
    parser.add_argument("--batch", type=int, default=1, help="sequences decoded together (default 1)")
    parser.add_argument("--kv-dtype", help="KV cache type: f16 (llama.cpp default), q8_0, q4_0, bf16, ...")
    parser.add_argument("--no-double-quant", action="store_true",
                        help="bitsandbytes 4-bit without double quantization (the bnb backend's default is on)")
    parser.add_argument("--no-flash-attn", action="store_true",
                        help="llama.cpp without flash attention (larger compute buffer; the backend turns it on for GPUs)")
    parser.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa",
                        help="PyTorch attention implementation (eager holds heads × prompt² scores)")
    parser.add_argument("--prefill", type=int, default=512, help="longest prompt processed in one pass (default 512)")
    parser.add_argument("--quantize-experts", action="store_true",
                        help="MoE: size packed experts (stock QuantoConfig/BitsAndBytesConfig leave them bf16)")
    parser.add_argument("--gpu", default="H100-80GB",
                        help=f"GPU type ({', '.join(GPU_TYPES)}, 80GiB, NAME:GiB), or COUNTxTYPE for a box "
                        "(default H100-80GB)")
    parser.add_argument("--arch", help="architecture facts key=value,... (overrides the catalog model's)")
    parser.add_argument("--all", action="store_true", help="every catalog model × common quantization")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--models", help="models.toml (default: ./models.toml or the packaged one)")
    parser.add_argument("--validate", metavar="DIR", help="compare the estimates with the measured GPU memory of every "
                        "GPU run in DIR's results folders (e.g. benchmarks/gpu-runs)")
    parser.add_argument("--out", metavar="PREFIX", help="--validate: also write PREFIX.json, .md and .png")


def parse_gpu_box(spec: str) -> tuple[GpuType, int | None]:
    """``H100-80GB`` -> (type, None); ``8xH100-80GB`` / ``8x80GiB`` -> (type, 8)."""
    m = re.match(r"^\s*(\d+)\s*[x×]\s*(.+)$", spec, re.IGNORECASE)
    if m:
        count = int(m[1])
        if count < 1:
            raise SizingError(f"GPU count in {spec!r} must be at least 1")
        return gpu_type(m[2]), count
    return gpu_type(spec), None


def parse_arch(text: str, base: Architecture | None = None) -> Architecture:
    """An Architecture from ``key=value,...``; missing facts come from ``base`` or defaults.

    Without a base, ``layers, hidden_size, heads, ffn_size, vocab_size`` are required;
    ``family`` defaults to llama, ``kv_heads`` to ``heads``, ``head_dim`` to
    ``hidden_size // heads``, ``context_length`` to 131072 and ``params`` to what the shapes imply.
    """
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in _ARCH_FIELDS:
            raise SizingError(f"--arch: cannot read {part!r}; keys: {', '.join(_ARCH_FIELDS)}")
        raw = raw.strip()
        if raw.lower() in ("true", "false"):
            values[key] = raw.lower() == "true"
        elif key == "family":
            values[key] = raw
        else:
            try:
                values[key] = float(raw) if key in ("rope_theta", "rms_norm_eps") else int(raw.replace("_", ""))
            except ValueError:
                raise SizingError(f"--arch: {key} must be a number, got {raw!r}") from None
    if base is not None:
        merged = dataclasses.replace(base, **values)
        if "params" not in values and set(values) - {"context_length", "rope_theta", "rms_norm_eps"}:
            merged = dataclasses.replace(merged, params=computed_params(merged))
        return merged
    required = ("layers", "hidden_size", "heads", "ffn_size", "vocab_size")
    missing = [k for k in required if k not in values]
    if missing:
        raise SizingError(f"--arch: missing {', '.join(missing)} (required without a catalog model: {', '.join(required)})")
    values.setdefault("family", "llama")
    values.setdefault("kv_heads", values["heads"])
    values.setdefault("head_dim", values["hidden_size"] // values["heads"])
    values.setdefault("context_length", 131072)
    values.setdefault("params", 0)
    arch = Architecture(**values)
    if not arch.params:
        arch = dataclasses.replace(arch, params=computed_params(arch))
    return arch


def _ctx_for(args: argparse.Namespace, catalog: Catalog | None, arch: Architecture) -> int:
    if args.ctx is not None:
        return int(args.ctx)
    default = catalog.defaults.get("n_ctx", DEFAULT_CTX) if catalog else DEFAULT_CTX
    return min(int(default), arch.context_length)


def _estimate(args: argparse.Namespace, arch: Architecture, name: str, backend: str, quant: str,
              gpu: GpuType, catalog: Catalog | None) -> Estimate:
    return estimate(
        arch, backend, quant, ctx=_ctx_for(args, catalog, arch), batch=args.batch, kv_dtype=args.kv_dtype,
        gpu=gpu, model=name, double_quant=not args.no_double_quant, flash_attn=not args.no_flash_attn,
        attn_implementation=args.attn, prefill_tokens=args.prefill, quantize_experts=args.quantize_experts,
    )


def _fit_dict(est: Estimate, box: int | None) -> dict[str, Any]:
    if box is None:
        return {}
    short = est.shortfall_gib(box)
    return {"box_gpus": box, "fits_box": short == 0, "shortfall_gib": round(short, 3)}


def _fit_line(est: Estimate, box: int | None) -> str:
    g = est.gpu.name
    if box is not None:
        short = est.shortfall_gib(box)
        if short > 0:
            return f"does NOT fit {box} × {g}: {short:.1f} GiB short (needs {est.gpus_needed or 'more than 64'} GPUs)"
        return f"fits {box} × {g} (uses {est.gpus_needed})"
    if est.gpus_needed is None:
        return f"does not fit even 64 × {g}"
    return f"{est.gpus_needed} × {g}"


def console() -> Any:
    """A rich Console; 160 columns when stdout is not a terminal, so tables do not wrap."""
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=160)


def _print_one(est: Estimate, box: int | None) -> None:
    from rich.table import Table

    con = console()
    g = est.gpu
    con.print(f"[bold]{est.model}[/] · {est.backend} {est.quant} · ctx {est.ctx} · batch {est.batch} · "
              f"{g.name} ({g.usable_gib:g} GiB usable, {g.plan_gib:.1f} planned per GPU)")
    t = Table(show_header=True, header_style="bold")
    t.add_column("memory")
    t.add_column("GiB", justify="right")
    t.add_column("detail")
    n = len(est.per_gpu) or 1
    t.add_row("weights", f"{est.weights_gib:.2f}", f"{est.params / 1e9:.2f} B params, {est.bits_per_weight:.2f} bits/weight"
              + (f"; {est.host_gib:.2f} GiB in host RAM (token_embd)" if est.host_gib else ""))
    t.add_row("KV cache", f"{est.kv_cache_gib:.2f}", f"{est.kv_dtype}, {est.ctx} × {est.batch} tokens")
    if est.state_gib:
        t.add_row("lightning state", f"{est.state_gib:.2f}", "fixed size per sequence")
    t.add_row("activations", f"{est.activations_gib:.2f}", "workspace / compute buffers" + (f", {n} GPUs" if n > 1 else ""))
    t.add_row("overhead", f"{est.overhead_gib:.2f}", "CUDA context + allocator" + (f", {n} GPUs" if n > 1 else ""))
    t.add_row("[bold]total (GPU)[/]", f"[bold]{est.total_gib:.2f}[/]", _fit_line(est, box) + " · peak while running")
    t.add_row("peak while loading", f"{est.load_peak_gib:.2f}", est.load_how
              + (f"; {est.load_host_gib:.2f} GiB host RAM" if est.load_host_gib else ""))
    con.print(t)
    if est.per_gpu:
        parts = [f"GPU {i}: {s.layers} layers ({s.first_layer}-{s.first_layer + s.layers - 1}) {s.gib:.1f} GiB"
                 if s.layers else f"GPU {i}: output only {s.gib:.1f} GiB" for i, s in enumerate(est.per_gpu)]
        con.print("per GPU: " + "; ".join(parts))
    b = Table(title="precision breakdown", show_header=True, header_style="bold")
    for col, just in (("tensors", "left"), ("stored as", "left"), ("count", "right"), ("params", "right"),
                      ("GiB", "right"), ("bpw", "right")):
        b.add_column(col, justify=just)  # type: ignore[arg-type]
    for p in est.breakdown:
        b.add_row(p.tensors, p.scheme, str(p.count), f"{p.params / 1e6:,.1f}M", f"{p.nbytes / 2**30:.3f}", f"{p.bpw:.3f}")
    con.print(b)
    for note in est.notes:
        con.print(f"[yellow]note:[/] {note}")


def _print_all(rows: list[dict[str, Any]], gpu: GpuType, box: int | None) -> None:
    from rich.table import Table

    t = Table(title=f"GPUs needed on {gpu.name} ({gpu.plan_gib:.1f} GiB planned per GPU)"
              + (f", box of {box}" if box else ""), header_style="bold")
    for col, just in (("model", "left"), ("backend", "left"), ("quant", "left"), ("ctx", "right"),
                      ("weights GiB", "right"), ("total GiB", "right"), ("GPUs", "right"), ("note", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        if "error" in r:
            t.add_row(r["model"], r["backend"], r["quant"], "", "", "", "", r["error"])
            continue
        note = ""
        if box is not None and not r["fits_box"]:
            note = f"{r['shortfall_gib']:.1f} GiB short of {box} GPUs"
        elif r["gpus_needed"] is None:
            note = "does not fit 64 GPUs"
        t.add_row(r["model"], r["backend"], r["quant"], str(r["ctx"]), f"{r['weights_gib']:.2f}",
                  f"{r['total_gib']:.2f}", str(r["gpus_needed"] or "-"), note)
    console().print(t)


def _load(args: argparse.Namespace) -> Catalog:
    return load_catalog(args.models or default_catalog_path())


def run(args: argparse.Namespace, *, catalog: Catalog | None = None) -> int:
    """Run ``quantarena size``; ``catalog`` replaces reading ``--models`` (tests)."""
    try:
        gpu, box = parse_gpu_box(args.gpu)
        if args.batch < 1:
            raise SizingError(f"--batch must be at least 1, got {args.batch}")
        if args.validate:
            from cli.size_validate import run_validate

            return run_validate(args, catalog or _load(args))
        if args.all:
            return _run_all(args, catalog or _load(args), gpu, box)
        if not args.quant:
            raise SizingError("--quant is required (e.g. --quant q4_k_m), or use --all")
        backend, quant = resolve_quant(args.quant, args.backend)
        if args.model is None and not args.arch:
            raise SizingError("give a MODEL from the catalog, or --arch key=value,... facts")
        arch: Architecture | None = None
        if args.model is not None:
            try:
                catalog = catalog or _load(args)
                arch = model_arch(catalog, args.model)
            except (SizingError, CatalogError):
                if not args.arch:
                    raise
                # MODEL is only a label for the --arch facts
        if args.arch:
            arch = parse_arch(args.arch, arch)
        assert arch is not None
        est = _estimate(args, arch, args.model or "custom", backend, quant, gpu, catalog)
    except (SizingError, CatalogError) as e:
        print(f"error: {e}", file=sys.stderr)
        return ExitCode.USAGE
    if args.json:
        print(json.dumps(est.to_dict() | _fit_dict(est, box), indent=2))
    else:
        _print_one(est, box)
    return ExitCode.OK


def _run_all(args: argparse.Namespace, catalog: Catalog, gpu: GpuType, box: int | None) -> int:
    names = [args.model] if args.model else list(catalog.models)
    rows: list[dict[str, Any]] = []
    for name in names:
        arch = model_arch(catalog, name)
        if args.arch:
            arch = parse_arch(args.arch, arch)
        for backend, quant in COMMON_SCHEMES:
            try:
                est = _estimate(args, arch, name, backend, quant, gpu, catalog)
            except SizingError as e:
                rows.append({"model": name, "backend": backend, "quant": quant, "error": str(e)})
                continue
            rows.append({"model": name, "backend": backend, "quant": quant, "ctx": est.ctx,
                         "weights_gib": round(est.weights_gib, 3), "total_gib": round(est.total_gib, 3),
                         "gpus_needed": est.gpus_needed} | _fit_dict(est, box))
    if args.json:
        print(json.dumps({"gpu": gpu.name, "box_gpus": box, "rows": rows}, indent=2))
    else:
        _print_all(rows, gpu, box)
    return ExitCode.OK
