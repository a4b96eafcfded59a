"""On a GPU: CUDA-graph decode gives the eager decode's greedy tokens, for every PyTorch backend.

A small synthetic Llama (random weights, seed 0: the same weights for every variant) per backend ×
quantization, answering one prompt alone and a batch of three, with ``graphs`` off and on; prints
one JSON line per variant: whether the tokens match, the graph state the backend recorded, and
the decode tok/s of each (small model: only the match matters here). Run on the lent GPU machine:

    source scripts/gpu/setup.sh && python3 scripts/gpu/graphs_check.py

``MARGINS=1`` also explains a batch's differences: every step's logits are kept (eager, eager again,
graphs), and for each sequence that parts it prints the largest logit difference over the steps
before it parts and the top-2 margin at the step where it does. A margin below the steady
difference is a tie broken by a last-bit difference, not a wrong step.

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
MARGINS = os.environ.get("MARGINS") == "1"


def record_logits(b) -> list:
    """Keep each step's logits [n, vocab] (float, on the host) as the backend picks from them."""
    kept: list = []
    pick = b._pick

    def wrapped(logits, *a, **kw):
        kept.append(logits.float().cpu().clone())
        return pick(logits, *a, **kw)

    b._pick = wrapped
    return kept


def explain(eager: list, graphs: list, te: list[list[int]], tg: list[list[int]]) -> list:
    """Per sequence: where it parts, the largest |logit difference| before, the top-2 margins there."""
    out = []
    for i, (a, g) in enumerate(zip(te, tg, strict=True)):
        k = next((j for j, (x, y) in enumerate(zip(a, g, strict=False)) if x != y), None)
        steps = range(min(len(eager), len(graphs)) if k is None else k + 1)
        diffs = [float((eager[j][i] - graphs[j][i]).abs().max()) for j in steps]
        row = {"seq": i, "parts_at": k, "max_logit_diff_before": round(max(diffs[:-1] or [0.0]), 5) if k is not None else round(max(diffs or [0.0]), 5)}
        if k is not None:
            te2 = eager[k][i].topk(2).values
            tg2 = graphs[k][i].topk(2).values
            row.update({"eager_top2_margin": round(float(te2[0] - te2[1]), 5), "graphs_top2_margin": round(float(tg2[0] - tg2[1]), 5),
                        "logit_diff_at": round(diffs[-1], 5)})
        out.append(row)
    return out


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
        logits: dict = {}
        for graphs in (False, True):
            settings = {"cache": "static", "graphs": graphs, "max_batch": 3}
            run = RunSpec(name=f"tiny/{backend}/{quant}", model="tiny", backend=backend, quant=quant, device="cuda",
                          weights="synthetic", settings=settings)
            try:
                b = load_backend_class(backend)(run, model)
                info = b.load()
                single, t1 = answer(b, PROMPTS[:1], batch=False)
                kept = record_logits(b) if MARGINS else None
                batch, t3 = answer(b, PROMPTS, batch=True)
                toks[graphs] = (single, batch)
                if MARGINS:
                    logits[graphs] = list(kept)
                    if not graphs:  # the eager batch again: is eager itself repeatable?
                        kept.clear()
                        again, _ = answer(b, PROMPTS, batch=True)
                        res["eager_batch_repeatable"] = again == batch
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
                if MARGINS and len(logits) == 2:
                    res["why"] = explain(logits[False], logits[True], toks[False][1], toks[True][1])
            if not res["single_same_tokens"]:
                a, g = toks[False][0][0], toks[True][0][0]
                res["first_divergence"] = next((i for i, (x, y) in enumerate(zip(a, g, strict=False)) if x != y), None)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
