"""Harness overhead of quantarena on llama.cpp: decode tok/s through quantarena vs a minimal loop.

A: ``quantarena --batch`` — the real path: a Session, the run in its own process, the engine's
   token loop timestamping every token, the telemetry sampler and grader threads running.
B: a minimal llama-cpp-python loop in this process — ``llama_decode`` + greedy sampler, nothing
   else (the fastest way to drive llama.cpp from Python).

Same GGUF, same rendered prompt, same n_ctx/n_batch/threads, greedy, fixed-length decode
(``--tokens`` new tokens, EOS ignored). One warm-up each, then ``--reps`` repetitions, in blocks A, B, A, B
(``--rounds``) so drift hits both. Reports median and mean ± sd of decode tok/s = (n−1)/(t_last − t_first)
and the overhead = 1 − median(A)/median(B). Writes ``benchmarks/overhead-llamacpp/results.json``.

    python benchmarks/overhead-llamacpp/bench.py [--run smollm2-135m/llama.cpp/q4_1] [--reps 7] [--tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def minimal_loop(gguf: str, prompt_ids: list[int], n_new: int, n_ctx: int, n_threads: int, n_gpu_layers: int) -> tuple[float, object]:
    import llama_cpp as L

    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers < 0 else n_gpu_layers
    model = L.llama_model_load_from_file(gguf.encode(), mp)
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, 512, 512
    cp.n_threads = cp.n_threads_batch = n_threads
    if n_gpu_layers != 0:
        cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED
    ctx = L.llama_init_from_model(model, cp)
    vocab = L.llama_model_get_vocab(model)
    eog = [t for t in {L.llama_vocab_eos(vocab), L.llama_vocab_eot(vocab)} if t >= 0]
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    biases = (L.llama_logit_bias * len(eog))()
    for i, t in enumerate(eog):
        biases[i].token, biases[i].bias = t, float("-inf")
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_logit_bias(L.llama_vocab_n_tokens(vocab), len(eog), biases))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())

    def once() -> float:
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        L.llama_sampler_reset(chain)
        arr = (L.llama_token * len(prompt_ids))(*prompt_ids)
        L.llama_decode(ctx, L.llama_batch_get_one(arr, len(prompt_ids)))
        one = (L.llama_token * 1)()
        times = []
        for i in range(n_new):
            tok = L.llama_sampler_sample(chain, ctx, -1)
            times.append(time.perf_counter())
            if i + 1 < n_new:
                one[0] = tok
                L.llama_decode(ctx, L.llama_batch_get_one(one, 1))
        return (len(times) - 1) / (times[-1] - times[0])

    return once  # type: ignore[return-value]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="smollm2-135m/llama.cpp/q4_1")
    ap.add_argument("--models", default=str(ROOT / "models.toml"))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2, help="A-block then B-block, repeated (drift hits both)")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()[0]  # a busy machine makes the figures meaningless: recorded with them

    from engine.backends.llamacpp import LlamaCppBackend
    from engine.catalog import load_catalog
    from engine.dataset import load_problems
    from engine.environment import environment
    from engine.gpu import NvmlSource
    from engine.prompts import build_messages
    from engine.session import Session, SessionOptions

    cat = load_catalog(args.models)
    run = cat.runs[args.run]
    if args.synthetic:
        run = replace(run, weights="synthetic")
    model = cat.models[run.model]
    problem = load_problems("builtin", limit=1)[0]

    # render + tokenize exactly as the backend does (CPU-only load: vocab + template)
    probe = LlamaCppBackend(replace(run, device="cpu", settings={**run.settings, "n_ctx": 512}), model)
    probe.load()
    prompt_ids = probe.tokenize(probe.render_chat(build_messages(problem)))
    gguf = str(probe.gguf_path)
    n_ctx = run.settings.get("n_ctx", 4096)
    probe.close()
    import psutil

    from engine.backends.llamacpp import gpu_offload_supported

    # a CPU-only build runs on the CPU whatever the run's device says
    on_gpu = run.device != "cpu" and os.environ.get("CUDA_VISIBLE_DEVICES", "x") != "" and gpu_offload_supported()
    n_threads = run.settings.get("n_threads", psutil.cpu_count(logical=False) or 1)
    if on_gpu:
        n_threads = min(n_threads, 8)
    once_b = minimal_loop(gguf, prompt_ids, args.tokens, n_ctx, n_threads, -1 if on_gpu else 0)

    from engine import events as ev

    a: list[float] = []
    b_vals: list[float] = []
    for _round in range(args.rounds):
        # A: a whole Session (its own run process); its first answer is the warm-up
        out_dir = Path(tempfile.mkdtemp(prefix="qa-overhead-"))
        problems = [replace(problem, id=f"{problem.id}#rep{i}") for i in range(args.reps + 1)]
        # as --batch runs it (no answer text over the pipe; the TUI's cost is measured by bench_tui.py)
        opts = SessionOptions(out_dir=out_dir, max_new_tokens=args.tokens, fixed_length=True, stream_text=False)
        got: list[float] = []
        def collect(e: ev.Event, got: list[float] = got) -> None:
            if isinstance(e, ev.ProblemFinished):
                got.append(e.record["decode_tok_s"])

        Session(cat, [run], problems, opts).run(collect)
        a += got[1:]
        # B: the minimal loop, warm-up then reps
        once_b()
        b_vals += [once_b() for _ in range(args.reps)]
    med_a, med_b = statistics.median(a), statistics.median(b_vals)
    result = {
        "what": "decode tok/s through quantarena (Session, run process, engine token loop) vs a minimal llama-cpp-python loop",
        "run": run.name, "weights": run.weights, "gguf": gguf, "prompt_tokens": len(prompt_ids), "new_tokens": args.tokens,
        "reps": args.reps, "rounds": args.rounds, "n_threads": n_threads, "n_ctx": n_ctx, "device": "cuda" if on_gpu else "cpu",
        "quantarena_tok_s": a, "minimal_tok_s": b_vals,
        "quantarena_median": med_a, "minimal_median": med_b,
        "quantarena_mean_sd": [statistics.fmean(a), statistics.stdev(a) if len(a) > 1 else None],
        "minimal_mean_sd": [statistics.fmean(b_vals), statistics.stdev(b_vals) if len(b_vals) > 1 else None],
        "overhead_pct": 100.0 * (1.0 - med_a / med_b),
        "load_average_1m": os.getloadavg()[0],
        "load_average_1m_before": load_before,
        "environment": environment(NvmlSource()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"quantarena  decode tok/s median {med_a:.2f}  (mean {result['quantarena_mean_sd'][0]:.2f} ± {result['quantarena_mean_sd'][1] or 0:.2f})")
    print(f"minimal     decode tok/s median {med_b:.2f}  (mean {result['minimal_mean_sd'][0]:.2f} ± {result['minimal_mean_sd'][1] or 0:.2f})")
    print(f"overhead {result['overhead_pct']:.2f}%  ({args.reps} reps, {args.tokens} tokens, load avg {result['load_average_1m']:.2f}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
