"""On a GPU: a real-shape slice of MiniMax-Text-01 written as a sharded checkpoint, then loaded by the
streaming packer and by load-then-pack, each in its own process; peak GPU memory against the estimate.

The slice is the first ``--layers`` decoder layers of the real architecture (hidden 6144, 32 experts
of 9216, the real 200,064-token vocabulary) with random bf16 weights, saved by transformers'
``save_pretrained`` in 5 GB shards under the hub's tensor names (per-expert ``w1``/``w2``/``w3``,
fused only in memory). Each load is the quanto backend with ``quantize_experts = true`` reading that
checkpoint from disk: ``pack_after_load = false`` (the streaming packer: experts packed to int8 as
they arrive) and ``true`` (``from_pretrained`` in bf16, then pack: today's peak). Prints one JSON
object per load, then a summary line; ``--out`` writes them all.

    source scripts/gpu/setup.sh && python3 scripts/gpu/minimax_streaming_check.py --layers 3 --out /tmp/mm.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

GIB = 1024**3


#: ``--tiny``: a CPU smoke run of this script (2 layers, 4 experts), not a measurement
TINY = os.environ.get("MINIMAX_CHECK_TINY") == "1"
DEVICE = "cpu" if TINY else "cuda:0"


def _slice(layers: int) -> tuple[Any, Any, Any]:
    from engine.catalog import Architecture, WeightSource, load_catalog

    cat = load_catalog(Path("models.toml"))
    full = cat.models["minimax-text-01"]
    if TINY:
        return full, Architecture("minimax", 0, 2, 64, 4, 2, 16, 128, 2048, 512, experts=4, experts_per_token=2,
                                  softmax_attention_layers=1), WeightSource
    f = layers / full.arch.layers
    arch = replace(full.arch, layers=layers, softmax_attention_layers=max(1, round(full.arch.softmax_attention_layers * f)),
                   params=int(full.arch.params * f), active_params=int(full.arch.active_params * f))
    return full, arch, WeightSource


def write(layers: int, path: Path) -> dict[str, Any]:
    from engine.synthetic_hf import build_random_model, synthetic_tokenizer

    _, arch, _ = _slice(layers)
    t0 = time.perf_counter()
    model = build_random_model(arch, DEVICE, "bfloat16", **({"block_size": 8} if TINY else {}))
    built = time.perf_counter() - t0
    model.save_pretrained(path, max_shard_size="200KB" if TINY else "5GB")
    synthetic_tokenizer(arch).save_pretrained(path)
    del model
    size = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    return {"written": str(path), "layers": layers, "shards": len(list(path.glob("*.safetensors"))),
            "checkpoint_gib": round(size / GIB, 2), "build_s": round(built, 1), "write_s": round(time.perf_counter() - t0 - built, 1)}


class _NvmlPeak:
    """The GPU's used memory, sampled every 50 ms in a thread: the peak as NVML saw it."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.h = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.base = pynvml.nvmlDeviceGetMemoryInfo(self.h).used
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.nvml.nvmlDeviceGetMemoryInfo(self.h).used)
            time.sleep(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return (self.peak - self.base) / GIB


def measure(layers: int, path: Path, after: bool) -> dict[str, Any]:
    import resource

    import torch

    from engine.backends.base import GenerationRequest
    from engine.backends.registry import load_backend_class
    from engine.catalog import ModelSpec, RunSpec
    from engine.sizing import estimate

    full, arch, WeightSource = _slice(layers)
    model = ModelSpec(name=f"minimax-text-01-{layers}L", display_name=f"MiniMax-Text-01, first {layers} layers",
                      arch=arch, safetensors=WeightSource(path=str(path)))
    run = RunSpec(name=f"{model.name}/quanto/int8", model=model.name, backend="quanto", quant="int8", device=DEVICE,
                  weights="real", settings={"quantize_experts": True, "pack_after_load": after, "warmup": False})
    gpu = torch.cuda.is_available() and not TINY
    nv = _NvmlPeak() if gpu else None
    if gpu:
        torch.cuda.init()
        torch.zeros(1, device="cuda:0")  # the allocator exists before its peak is reset (torch 2.11)
        torch.cuda.reset_peak_memory_stats(0)
    b = load_backend_class("quanto")(run, model)
    t0 = time.perf_counter()
    info = b.load()
    load_s = time.perf_counter() - t0
    load_peak_alloc = torch.cuda.max_memory_allocated(0) / GIB if gpu else 0.0
    load_peak_nvml = nv.stop() if nv else 0.0
    after_load = torch.cuda.memory_allocated(0) / GIB if gpu else 0.0
    msgs = [{"role": "user", "content": "Quantos divisores positivos tem 360? Explique."}]
    n = 16
    stream = b.generate(GenerationRequest(messages=msgs, max_new_tokens=n, min_new_tokens=n))
    tokens = [t.id for t in stream]
    est = estimate(arch, "quanto", "int8", ctx=int(stream.prompt_tokens or 0) + n, model=model.name, quantize_experts=True)
    q = info.details.get("quantization") or {}
    out = {
        "gpu": torch.cuda.get_device_name(0) if gpu else "cpu (smoke run)", "path": "load-then-pack" if after else "streaming packer",
        "layers": layers, "load_s": round(load_s, 1),
        "load_peak_torch_allocated_gib": round(load_peak_alloc, 2), "load_peak_nvml_gib": round(load_peak_nvml, 2),
        "allocated_after_load_gib": round(after_load, 2),
        "estimate_load_peak_gib": round(est.load_peak_gib, 2), "estimate_total_gib": round(est.total_gib, 2),
        "estimate_weights_gib": round(est.weights_gib, 2), "estimate_load_how": est.load_how,
        "load_peak_vs_estimate_pct": round(100 * (load_peak_alloc - est.load_peak_gib) / est.load_peak_gib, 1) if est.load_peak_gib else None,
        "host_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 2),
        "experts": q.get("experts"), "streaming_load": q.get("streaming_load"), "tokens": tokens,
    }
    b.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--dir", default="/root/minimax-slice")
    ap.add_argument("--out")
    ap.add_argument("--measure", choices=["streaming", "after"])
    args = ap.parse_args()
    path = Path(args.dir)
    if args.measure:
        print(json.dumps(measure(args.layers, path, args.measure == "after"), default=str), flush=True)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free / GIB
    lines = [{"disk_free_gib": round(free, 1)}]
    if not (path / "model.safetensors.index.json").exists():
        lines.append(write(args.layers, path))
    print(json.dumps(lines[-1]), flush=True)
    for mode in ("streaming", "after"):  # each load in its own process: clean peaks
        p = subprocess.run([sys.executable, __file__, "--layers", str(args.layers), "--dir", str(path), "--measure", mode],
                           capture_output=True, text=True)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else json.dumps({"mode": mode, "rc": p.returncode,
                                                                                       "stderr": p.stderr[-1500:]})
        print(line, flush=True)
        lines.append(json.loads(line))
    s, a = lines[-2], lines[-1]
    if "tokens" in s and "tokens" in a:
        print(json.dumps({"same_greedy_tokens": s["tokens"] == a["tokens"],
                          "streaming_peak_gib": s["load_peak_torch_allocated_gib"], "load_then_pack_peak_gib": a["load_peak_torch_allocated_gib"]}))
        lines.append({"same_greedy_tokens": s["tokens"] == a["tokens"]})
    if args.out:
        Path(args.out).write_text(json.dumps(lines, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
