"""On a GPU: CUDA-graph decode gives the eager decode's greedy tokens, for every PyTorch backend.

A small synthetic Llama (random weights, seed 0: the same weights for every variant) per backend ×
quantization, answering one prompt alone and a batch of three, with ``graphs`` off and on; prints
one JSON line per variant: whether the tokens match, the graph state the backend recorded, and
the decode tok/s of each (small model: only the match matters here). Run on the lent GPU machine:

    source scripts/gpu/setup.sh && python3 scripts/gpu/graphs_check.py

``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (one fixed cuBLAS workspace for every stream, as deterministic
mode asks) tests whether a batch's difference comes from cuBLAS choosing another GEMM algorithm
under capture than eagerly.
"""

from __future__ import annotations

import json
import os
import time

from engine.backends.base import GenerationRequest
from engine.backends.registry import load_backend_class
from engine.catalog import Architecture, ModelSpec, RunSpec

ARCH = Architecture("llama", 0, 4, 1024, 8, 2, 128, 2816, 49152, 2048, tie_embeddings=False)
VARIANTS = [("transformers", "bf16"), ("quanto", "int4"), ("quanto", "int8"), ("bitsandbytes", "nf4"), ("bitsandbytes", "int8"),
            ("torchao", "int4"), ("torchao", "int8"), ("torchao", "float8")]
if os.environ.get("VARIANTS"):  # e.g. VARIANTS=transformers/bf16,quanto/int4
    VARIANTS = [tuple(v.split("/")) for v in os.environ["VARIANTS"].split(",")]  # type: ignore[misc]
PROMPTS = ["Quanto é 12 + 30? Explique.", "Qual é a área de um quadrado de lado 7?", "Resolva 3x + 5 = 20."]
N = 48


def answer(b, prompts: list[str], batch: bool) -> tuple[list[list[int]], float]:
    reqs = [GenerationRequest(messages=[{"role": "user", "content": p}], max_new_tokens=N, min_new_tokens=N) for p in prompts]
    t0 = time.perf_counter()
    if batch:
        out: list[list[int]] = [[] for _ in reqs]
        for i, tok in b.generate(reqs):
            out[i].append(tok.id)
    else:
        out = [[t.id for _, t in b.generate([r])] for r in reqs]
    return out, time.perf_counter() - t0


def main() -> None:
    model = ModelSpec(name="tiny", display_name="tiny", arch=ARCH)
    print(json.dumps({"CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}), flush=True)
    for backend, quant in VARIANTS:
        res: dict = {"variant": f"{backend}/{quant}"}
        toks = {}
        for graphs in (False, True):
            settings = {"cache": "static", "graphs": graphs, "max_batch": 3}
            run = RunSpec(name=f"tiny/{backend}/{quant}", model="tiny", backend=backend, quant=quant, device="cuda",
                          weights="synthetic", settings=settings)
            try:
                b = load_backend_class(backend)(run, model)
                info = b.load()
                single, t1 = answer(b, PROMPTS[:1], batch=False)
                batch, t3 = answer(b, PROMPTS, batch=True)
                toks[graphs] = (single, batch)
                key = "graphs" if graphs else "eager"
                res[f"{key}_state"] = info.details.get("graphs")
                res[f"{key}_single_tok_s"] = round(N / t1, 1)
                res[f"{key}_batch3_tok_s"] = round(3 * N / t3, 1)
                if graphs and b._graphs is not None:
                    res["graphs_after"] = b._graphs.describe()
                b.close()
            except Exception as e:  # report and go on to the next variant
                res[f"error_graphs_{graphs}"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        if len(toks) == 2:
            res["single_same_tokens"] = toks[False][0] == toks[True][0]
            res["batch_same_tokens"] = toks[False][1] == toks[True][1]
            if not res["batch_same_tokens"]:  # where each sequence of the batch first differs (None: same)
                res["batch_first_divergence"] = [next((i for i, (x, y) in enumerate(zip(a, g, strict=False)) if x != y), None)
                                                 for a, g in zip(toks[False][1], toks[True][1], strict=True)]
            if not res["single_same_tokens"]:
                a, g = toks[False][0][0], toks[True][0][0]
                res["first_divergence"] = next((i for i, (x, y) in enumerate(zip(a, g, strict=False)) if x != y), None)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
