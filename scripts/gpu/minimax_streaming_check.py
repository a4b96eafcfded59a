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
from collections import defaultdict
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
    stream = b.generate([GenerationRequest(messages=msgs, max_new_tokens=n, min_new_tokens=n)])
    tokens = [t.id for _, t in stream]
    fingerprint = _fingerprint(b.hf_model, b.render_prompt(msgs)) if DUMP else None
    est = estimate(arch, "quanto", "int8", ctx=int((stream.prompt_tokens or [0])[0]) + n, model=model.name, quantize_experts=True)
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
    if fingerprint is not None:
        out["fingerprint"] = fingerprint
    b.close()
    return out


#: ``MINIMAX_CHECK_DUMP=1``: each load also fingerprints its model (module types, every tensor, every
#: module's output in one prefill) and the summary names where the two paths part
DUMP = os.environ.get("MINIMAX_CHECK_DUMP") == "1"


_INT_OF_SIZE = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def _stats(t: Any) -> list[Any]:
    """dtype, shape, device, sum, |sum|, and a position-weighted checksum of the bits (computed
    where the tensor lives, in chunks: equal checksums = bit-exact, for our purposes)."""
    import torch

    t = t.detach()
    f = t.float()
    flat = t.contiguous().reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    bits = flat.view(getattr(torch, _INT_OF_SIZE[flat.element_size()])) if flat.numel() else flat
    check = 0
    step = 1 << 26
    for i in range(0, bits.numel(), step):
        part = bits[i:i + step].to(torch.int64)
        w = torch.arange(i, i + part.numel(), device=part.device, dtype=torch.int64) % 65521 + 1
        check = (check + int((part * w).sum())) % (1 << 61)
    return [str(t.dtype).removeprefix("torch."), list(t.shape), str(t.device), float(f.sum()), float(f.abs().sum()), check]


def _fingerprint(model: Any, prompt: list[int]) -> dict[str, Any]:
    """What a model is made of and what each module computes on one prefill (sums, not values)."""
    import torch

    types = {n: type(m).__name__ for n, m in model.named_modules()}
    tensors: dict[str, Any] = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        parts = {k: getattr(t, k) for k in ("_data", "_scale", "_shift") if isinstance(getattr(t, k, None), torch.Tensor)}
        for k, v in (parts or {"": t}).items():
            tensors[name + k] = [*_stats(v), type(t).__name__]
    outputs: list[Any] = []

    def hook(name: str) -> Any:
        def record(_m: Any, _i: Any, out: Any) -> None:
            o = out[0] if isinstance(out, (tuple, list)) and out else out
            o = getattr(o, "logits", o)
            if isinstance(o, torch.Tensor) and o.is_floating_point():
                outputs.append([name, *_stats(o)])
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            dev = model.get_input_embeddings().weight.device
            logits = model(input_ids=torch.tensor([prompt], device=dev)).logits[0, -1].float()
    finally:
        for h in handles:
            h.remove()
    top = torch.topk(logits, 5)
    return {"types": types, "tensors": tensors, "outputs": outputs,
            "top5": [[int(i), float(v)] for v, i in zip(top.values, top.indices, strict=True)]}


def _compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Where two fingerprints part: module types, tensors (dtype, shape or values), the first output."""
    def close(x: Any, y: Any) -> bool:
        return x[:2] == y[:2] and all(abs(p - q) <= 1e-3 * max(1.0, abs(p), abs(q)) for p, q in zip(x[3:5], y[3:5], strict=True))

    def exact(x: Any, y: Any) -> bool:
        return x[:3] == y[:3] and x[5:] == y[5:]

    types = {n: (a["types"].get(n), b["types"].get(n)) for n in sorted(set(a["types"]) | set(b["types"]))
             if a["types"].get(n) != b["types"].get(n)}
    ta, tb = a["tensors"], b["tensors"]
    tensors = {n: (ta.get(n), tb.get(n)) for n in sorted(set(ta) | set(tb)) if n not in ta or n not in tb or not exact(ta[n], tb[n])}
    # quanto's activation scales (unused by weight-only layers: 1.0 in both, bf16 against fp32) apart
    unused = [n for n in tensors if n.endswith(("input_scale", "output_scale"))]
    for n in unused:
        del tensors[n]
    first = first_bits = None
    def by_call(outputs: list[Any]) -> dict[tuple[str, int], Any]:  # a module run several times: each run apart
        seen: dict[str, int] = defaultdict(int)
        keyed = {}
        for o in outputs:
            keyed[(o[0], seen[o[0]])] = o
            seen[o[0]] += 1
        return keyed

    ka, ob = by_call(a["outputs"]), by_call(b["outputs"])
    for key, o in ka.items():  # in the order the modules ran
        other = ob.get(key)
        if first_bits is None and (other is None or not exact(o[1:], other[1:])):
            first_bits = {"module": o[0], "call": key[1], "streaming": o[1:], "load_then_pack": other[1:] if other else None}
        if other is None or not close(o[1:], other[1:]):
            first = {"module": o[0], "call": key[1], "streaming": o[1:], "load_then_pack": other[1:] if other else None}
            break
    return {"types_differ": dict(list(types.items())[:40]), "n_types_differ": len(types),
            "tensors_differ": dict(list(tensors.items())[:40]), "n_tensors_differ": len(tensors),
            "activation_scales_differ": len(unused),
            "first_output_differs": first, "first_output_not_bit_exact": first_bits, "top5": [a["top5"], b["top5"]]}


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
    modes = ("streaming", "after", "after") if DUMP else ("streaming", "after")
    for mode in modes:  # each load in its own process: clean peaks
        p = subprocess.run([sys.executable, __file__, "--layers", str(args.layers), "--dir", str(path), "--measure", mode],
                           capture_output=True, text=True)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else json.dumps({"mode": mode, "rc": p.returncode,
                                                                                       "stderr": p.stderr[-1500:]})
        print(line, flush=True)
        lines.append(json.loads(line))
    if DUMP and "tokens" in lines[-1] and "tokens" in lines[-2]:  # load-then-pack twice: is one path repeatable?
        again = lines.pop()
        rep = {"load_then_pack_repeatable": again["tokens"] == lines[-1]["tokens"]}
        print(json.dumps(rep), flush=True)
        lines.insert(-2, rep)
    s, a = lines[-2], lines[-1]
    if "tokens" in s and "tokens" in a:
        print(json.dumps({"same_greedy_tokens": s["tokens"] == a["tokens"],
                          "streaming_peak_gib": s["load_peak_torch_allocated_gib"], "load_then_pack_peak_gib": a["load_peak_torch_allocated_gib"]}))
        lines.append({"same_greedy_tokens": s["tokens"] == a["tokens"]})
        if "fingerprint" in s and "fingerprint" in a:
            diff = _compare(s.pop("fingerprint"), a.pop("fingerprint"))
            print(json.dumps({"where_the_paths_part": diff}, default=str)[:6000], flush=True)
            lines.append({"where_the_paths_part": diff})
    if args.out:
        Path(args.out).write_text(json.dumps(lines, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
