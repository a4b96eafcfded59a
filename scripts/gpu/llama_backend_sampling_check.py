"""Does llama.cpp's in-graph (backend) sampling pick exactly the tokens host sampling picks?

Loads one GGUF twice (``backend_sampling`` off, then on) on the run's device and compares the
greedy tokens of a few Portuguese prompts: each alone, fixed-length, and all together as parallel
sequences. Prints one JSON line; exit 1 when any token differs.

    python scripts/gpu/llama_backend_sampling_check.py [--model llama3-8b --quant q4_0 --weights synthetic --device cuda:0]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROMPTS = ["Quanto é 12 + 30?", "Olá", "Resolva 3x + 5 = 20 e explique cada passo.", "Qual é a área de um círculo de raio 2?"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--weights", default="synthetic")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--tokens", type=int, default=48)
    args = ap.parse_args()
    from engine.backends.base import GenerationRequest
    from engine.backends.llamacpp import LlamaCppBackend
    from engine.catalog import RunSpec, load_catalog

    model = load_catalog(ROOT / "models.toml").models[args.model]
    base = RunSpec(name=f"{args.model}/llama.cpp/{args.quant}", model=args.model, backend="llama.cpp", quant=args.quant,
                   device=args.device, weights=args.weights, settings={"n_ctx": 1024, "max_batch": len(PROMPTS)})
    msgs = [[{"role": "user", "content": p}] for p in PROMPTS]
    out = {}
    for on in (False, True):
        b = LlamaCppBackend(replace(base, settings={**base.settings, "backend_sampling": on}), model)
        info = b.load()
        single = [[t.id for _, t in b.generate([GenerationRequest(messages=m, max_new_tokens=args.tokens)])] for m in msgs]
        fixed = [[t.id for _, t in b.generate([GenerationRequest(messages=m, max_new_tokens=args.tokens, min_new_tokens=args.tokens)])] for m in msgs]
        together: list[list[int]] = [[] for _ in msgs]
        for i, tok in b.generate([GenerationRequest(messages=m, max_new_tokens=args.tokens) for m in msgs]):
            together[i].append(tok.id)
        out[on] = {"sampling": info.details["sampling"], "device": info.device, "single": single, "fixed": fixed, "batch": together}
        if on:
            out["divergences"] = [_divergence(b, m, a, c) for m, a, c in zip(msgs, out[False]["single"], single, strict=True)]
        b.close()
    same = {k: out[False][k] == out[True][k] for k in ("single", "fixed", "batch")}
    print(json.dumps({"model": args.model, "quant": args.quant, "weights": args.weights, "device": out[True]["device"], "identical": same,
                      "first_divergence_per_prompt": out["divergences"],
                      "tokens_compared": sum(len(x) for k in ("single", "fixed", "batch") for x in out[True][k]),
                      "batch_equals_single": out[True]["batch"] == out[True]["single"]}))
    return 0 if all(same.values()) else 1


def _divergence(b: object, messages: list, host: list[int], backend: list[int]) -> dict | None:
    """Where the two greedy answers first differ, and the host logits of both picks there (a tie
    between equal logits, broken differently by the GPU's argmax, shows as a zero gap)."""
    k = next((i for i, (x, y) in enumerate(zip(host, backend, strict=False)) if x != y), None)
    if k is None:
        return None
    lib, ctx = b._lib, b._ctx  # type: ignore[attr-defined]
    ids = b.tokenize(b.render_chat(messages)) + host[:k]  # type: ignore[attr-defined]
    lib.llama_set_sampler(ctx, 0, None)
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    arr = (lib.llama_token * len(ids))(*ids)
    lib.llama_decode(ctx, lib.llama_batch_get_one(arr, len(ids)))
    logits = lib.llama_get_logits_ith(ctx, -1)
    n_vocab = int(lib.llama_vocab_n_tokens(b._vocab))  # type: ignore[attr-defined]
    row = [logits[i] for i in range(n_vocab)]
    best = max(row)
    return {"step": k, "host_token": host[k], "backend_token": backend[k], "host_logit": row[host[k]],
            "backend_logit": row[backend[k]], "max_logit": best, "n_at_max": sum(1 for v in row if v == best)}


if __name__ == "__main__":
    sys.exit(main())
