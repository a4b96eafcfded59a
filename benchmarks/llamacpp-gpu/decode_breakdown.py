"""Where llama.cpp's batch-1 decode time goes on a GPU, and what each setting buys.

For one GGUF (a catalog model's synthetic real-shape GGUF by default), each variant runs in its own
process (so environment variables such as ``GGML_CUDA_DISABLE_GRAPHS`` apply from the start):

* ``host``      the backend as shipped: ``llama_decode`` then ``llama_sampler_sample`` on the host
                (the whole logits row comes back every token);
* ``backend``   ``backend_sampling = true``: the greedy chain runs inside the graph on the GPU;
* ``nographs``  ``host`` with CUDA graphs disabled (``GGML_CUDA_DISABLE_GRAPHS=1``);
* ``decode``    a bare loop: ``llama_decode`` + ``llama_synchronize`` per token, no sampling at all
                (the same token fed back): the GPU's own time per token, the floor for the others;
* ``graphopt``  ``backend`` with ``GGML_CUDA_GRAPH_OPT=1`` (independent ops of the graph on
                concurrent streams, off by default in llama.cpp), and ``decode-graphopt`` likewise.

Each: one warm-up answer, then ``--reps`` fixed-length answers of ``--tokens`` tokens to the same
Portuguese prompt. Reports median decode tok/s = (n−1)/(t_last − t_first) and ms/token, and the
roofline % (``engine.sizing.roofline``) for the GPU found by NVML. Writes JSON to ``--out``.

    python benchmarks/llamacpp-gpu/decode_breakdown.py --model llama3-8b --quant q4_0 [--variants host,backend,nographs,decode]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROMPT = [{"role": "user", "content": (
    "Resolva o problema e explique cada passo. Numa turma de 30 alunos, 18 estudam francês, 15 estudam "
    "alemão e 7 estudam as duas línguas. Quantos alunos não estudam nenhuma das duas línguas? "
    "Apresente a resposta final dentro de \\boxed{}."
)}]


def child(args: argparse.Namespace) -> dict:
    from engine.backends.base import GenerationRequest
    from engine.backends.llamacpp import LlamaCppBackend
    from engine.catalog import RunSpec, load_catalog

    cat = load_catalog(ROOT / "models.toml")
    model = cat.models[args.model]
    settings: dict = {"n_ctx": 4096}
    if args.variant == "backend":
        settings["backend_sampling"] = True
    run = RunSpec(name=f"{args.model}/llama.cpp/{args.quant}", model=args.model, backend="llama.cpp", quant=args.quant,
                  device=args.device, weights=args.weights, settings=settings)
    b = LlamaCppBackend(run, model)
    info = b.load()
    rates: list[float] = []
    prompt_tokens = 0
    if args.variant == "decode":
        lib, ctx = b._lib, b._ctx
        ids = b.tokenize(b.render_chat(PROMPT))
        prompt_tokens = len(ids)
        one = (lib.llama_token * 1)()
        for rep in range(args.reps + 1):
            lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
            arr = (lib.llama_token * len(ids))(*ids)
            lib.llama_decode(ctx, lib.llama_batch_get_one(arr, len(ids)))
            lib.llama_synchronize(ctx)
            one[0] = ids[-1]
            times = []
            for _ in range(args.tokens):
                lib.llama_decode(ctx, lib.llama_batch_get_one(one, 1))
                lib.llama_synchronize(ctx)
                times.append(time.perf_counter())
            if rep:  # the first is the warm-up
                rates.append((len(times) - 1) / (times[-1] - times[0]))
    else:
        req = GenerationRequest(messages=PROMPT, max_new_tokens=args.tokens, min_new_tokens=args.tokens)
        for rep in range(args.reps + 1):
            stream = b.generate([req])
            times = []
            for _ in stream:
                times.append(time.perf_counter())
            prompt_tokens = stream.prompt_tokens[0]
            if rep:
                rates.append((len(times) - 1) / (times[-1] - times[0]))
    b.close()
    med = statistics.median(rates)
    out = {
        "variant": args.variant, "tok_s_median": med, "ms_per_token": 1000.0 / med, "tok_s_all": rates,
        "prompt_tokens": prompt_tokens, "tokens": args.tokens, "reps": args.reps,
        "details": {k: info.details.get(k) for k in ("library", "model_desc", "model_size_bytes", "flash_attn", "n_threads", "sampling", "n_gpu_layers")},
        "env": {k: os.environ.get(k) for k in ("GGML_CUDA_DISABLE_GRAPHS", "GGML_CUDA_GRAPH_OPT")},
    }
    try:
        from engine.gpu import NvmlSource, gpu_type_from_nvml
        from engine.sizing.roofline import roofline_pct

        g = NvmlSource().read()[0]
        gtype = gpu_type_from_nvml(g.name, g.mem_total_mib)
        out["gpu"] = g.name
        if gtype:
            out["roofline_pct"] = roofline_pct(med, model.arch, "llama.cpp", args.quant, gtype, prompt_tokens + args.tokens // 2)
    except Exception as e:  # no GPU: no roofline
        out["gpu_error"] = str(e)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="llama3-8b")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--variants", default="host,backend,nographs,decode")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--weights", default="synthetic", help="synthetic (real shapes, random weights) or real")
    ap.add_argument("--out", default=None)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(child(args)))
        return 0
    results = []
    for v in args.variants.split(","):
        env = dict(os.environ)
        if v == "nographs":
            env["GGML_CUDA_DISABLE_GRAPHS"] = "1"
        if "graphopt" in v:
            env["GGML_CUDA_GRAPH_OPT"] = "1"
        base = {"nographs": "host", "graphopt": "backend", "decode-graphopt": "decode"}.get(v, v)
        cmd = [sys.executable, __file__, "--model", args.model, "--quant", args.quant, "--tokens", str(args.tokens),
               "--reps", str(args.reps), "--device", args.device, "--weights", args.weights, "--variant", base]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            results.append({"variant": v, "error": (p.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["variant"] = v
            results.append(r)
        r = results[-1]
        print(f"{args.model} {args.quant} {v:9s} " + (f"{r['tok_s_median']:7.1f} tok/s  {r['ms_per_token']:.3f} ms/token  roofline {r.get('roofline_pct', float('nan')):.1f}%"
                                                    if "error" not in r else f"ERROR {r['error']}"), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "quant": args.quant, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
