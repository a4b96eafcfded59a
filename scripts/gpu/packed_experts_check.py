"""MiniMax-Text-01's int8-packed experts on a GPU, at the real layer shapes, for a few layers.

The whole model (80 layers, 456 B parameters) needs 6-8 GPUs; this builds the first ``--layers``
layers of its real architecture (hidden 6144, 32 experts of 9216, top-2, lightning + softmax
attention) with random weights through the quanto backend with ``quantize_experts = true``, decodes
fixed-length answers, and compares the measured memory with ``quantarena size``'s estimate for
the same truncated architecture. Prints one JSON object (``--out`` also writes it).

    python scripts/gpu/packed_experts_check.py [--layers 8] [--tokens 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    import torch

    from engine.backends.base import GenerationRequest
    from engine.backends.registry import load_backend_class
    from engine.catalog import RunSpec, load_catalog
    from engine.sizing import estimate

    cat = load_catalog(ROOT / "models.toml")
    full = cat.models["minimax-text-01"]
    f = args.layers / full.arch.layers
    arch = replace(full.arch, layers=args.layers, softmax_attention_layers=max(1, round(full.arch.softmax_attention_layers * f)),
                   params=int(full.arch.params * f), active_params=int(full.arch.active_params * f))
    model = replace(full, name=f"minimax-text-01-{args.layers}L", arch=arch)
    run = RunSpec(name=f"{model.name}/quanto/int8", model=model.name, backend="quanto", quant="int8", device="cuda:0",
                  weights="synthetic", settings={"quantize_experts": True})
    b = load_backend_class("quanto")(run, model)
    t0 = time.perf_counter()
    info = b.load()
    load_s = time.perf_counter() - t0
    msgs = [{"role": "user", "content": "Quantos divisores positivos tem 360? Explique e dê a resposta em \\boxed{}."}]
    rates = []
    prompt = 0
    for rep in range(args.reps + 1):
        stream = b.generate([GenerationRequest(messages=msgs, max_new_tokens=args.tokens, min_new_tokens=args.tokens)])
        times = [time.perf_counter() for _ in stream]
        prompt = stream.prompt_tokens[0]
        if rep:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    peak_alloc = torch.cuda.max_memory_allocated(0) / 2**30
    peak_reserved = torch.cuda.max_memory_reserved(0) / 2**30
    free, total = torch.cuda.mem_get_info(0)
    used_gib = (total - free) / 2**30
    est = estimate(arch, "quanto", "int8", ctx=prompt + args.tokens, model=model.name, quantize_experts=True)
    rates.sort()
    out = {
        "gpu": torch.cuda.get_device_name(0), "layers": args.layers, "of_layers": full.arch.layers,
        "load_s": round(load_s, 1), "decode_tok_s_median": rates[len(rates) // 2], "decode_tok_s_all": rates,
        "prompt_tokens": prompt, "tokens": args.tokens,
        "torch_peak_allocated_gib": round(peak_alloc, 2), "torch_peak_reserved_gib": round(peak_reserved, 2),
        "gpu_used_gib_after": round(used_gib, 2),
        "estimate_gib": {"weights": round(est.weights_gib, 2), "kv_cache": round(est.kv_cache_gib, 2),
                          "state": round(est.state_gib, 3), "activations": round(est.activations_gib, 2),
                          "overhead": round(est.overhead_gib, 2), "total": round(est.total_gib, 2)},
        "experts": (info.details.get("quantization") or {}).get("experts"),
        "kernel_path": info.details.get("kernel_path"),
    }
    b.close()
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
