"""Harness overhead of the PyTorch backends: our decode loop against a minimal ``model.generate``.

The same loaded model, settings and prompt decode a fixed number of tokens
(``min_new_tokens == max_new_tokens``, greedy) three ways, interleaved, after one warm-up each:

* **harness**: ``backend.generate([request])`` consumed as the engine's worker consumes it, one
  ``perf_counter()`` per yielded token;
* **generate+streamer**: ``model.generate(...)`` with a streamer that only takes a timestamp per
  token (the same per-token host sync our loop does), so decode tok/s has the same definition;
* **generate**: plain ``model.generate(...)``, timed end to end.

decode tok/s = (n - 1) / (t_last - t_first) (optimum-benchmark's decode throughput); end-to-end
tok/s = n / (t_end - t_start). Overhead % = (baseline - harness) / baseline * 100, from the
medians; the project's target is < 5 %. Results are merged into ``benchmarks/overhead-torch/results.json``
under the key ``<backend>/<quant>/<device>[/synthetic]``.

    python benchmarks/overhead-torch/bench.py --backend transformers --quant fp32 --device cpu
    python benchmarks/overhead-torch/bench.py --backend quanto --quant int8 --device cpu
    python benchmarks/overhead-torch/bench.py --backend transformers --quant bf16 --device cuda --synthetic --model llama3-8b
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from engine.backends.base import GenerationRequest
from engine.backends.registry import load_backend_class
from engine.catalog import RunSpec, load_catalog
from engine.environment import cpu_model

ROOT = Path(__file__).resolve().parents[2]


PROMPT = [{
    "role": "user",
    "content": "Um trem percorre 120 km em 1 hora e 30 minutos. Qual é a sua velocidade média em km/h? "
               "Explique o raciocínio passo a passo e dê a resposta final em \\boxed{}.",
}]
TARGET_PCT = 5.0


def summary(xs: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(xs), "mean": statistics.fmean(xs),
        "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0, "min": min(xs), "max": max(xs), "runs": xs,
    }


class TimestampStreamer:
    """A generate() streamer that records when each new token arrives (the first put is the prompt)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="transformers", choices=["transformers", "quanto", "bitsandbytes"])
    ap.add_argument("--quant", default="fp32")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--catalog", default=str(ROOT / "models.toml"))
    ap.add_argument("--synthetic", action="store_true", help="random weights in the model's real architecture")
    ap.add_argument("--tokens", type=int, default=32, help="fixed decode length")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default 2 on cpu)")
    ap.add_argument("--settings", default="{}", help="run settings as JSON, e.g. '{\"cache\": \"static\"}'")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.json"))
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]  # a busy machine makes the figures meaningless: recorded with them

    import torch

    cat = load_catalog(args.catalog)
    model = cat.models[args.model]
    settings = json.loads(args.settings)
    threads = args.threads or (2 if args.device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
        settings.setdefault("torch_threads", threads)
    run = RunSpec(
        name=f"{args.model}/{args.backend}/{args.quant}", model=args.model, backend=args.backend, quant=args.quant,
        device=args.device, weights="synthetic" if args.synthetic else "real", settings=settings,
    )
    backend = load_backend_class(args.backend)(run, model)
    t0 = time.perf_counter()
    info = backend.load()
    load_s = time.perf_counter() - t0
    hf, tok = backend.hf_model, backend.tokenizer
    cuda = info.device.startswith("cuda")
    n = args.tokens
    ids = backend.render_prompt(PROMPT)
    dev = hf.get_input_embeddings().weight.device
    input_ids = torch.tensor([ids], device=dev)
    attention = torch.ones_like(input_ids)
    gen_kwargs: dict[str, Any] = dict(
        max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id or tok.eos_token_id,
    )
    if settings.get("cache") == "static":
        gen_kwargs["cache_implementation"] = "static"
    request = GenerationRequest(messages=PROMPT, max_new_tokens=n, min_new_tokens=n)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def harness() -> dict[str, float]:
        times: list[float] = []
        t_submit = time.perf_counter()
        for _ in backend.generate([request]):
            times.append(time.perf_counter())
        assert len(times) == n, f"harness gave {len(times)} tokens, wanted {n}"
        return {"decode": (n - 1) / (times[-1] - times[0]), "e2e": n / (times[-1] - t_submit), "ttft": times[0] - t_submit}

    def generate_streamer() -> dict[str, float]:
        st = TimestampStreamer()
        sync()
        t_start = time.perf_counter()
        out = hf.generate(input_ids, attention_mask=attention, streamer=st, **gen_kwargs)
        sync()
        assert out.shape[1] - input_ids.shape[1] == n and len(st.times) == n
        return {"decode": (n - 1) / (st.times[-1] - st.times[0]), "e2e": n / (st.times[-1] - t_start), "ttft": st.times[0] - t_start}

    def generate_plain() -> dict[str, float]:
        sync()
        t_start = time.perf_counter()
        out = hf.generate(input_ids, attention_mask=attention, **gen_kwargs)
        sync()
        t_end = time.perf_counter()
        assert out.shape[1] - input_ids.shape[1] == n
        return {"e2e": n / (t_end - t_start)}

    for fn in (harness, generate_streamer, generate_plain):  # warm-up
        fn()
    rows: dict[str, list[dict[str, float]]] = {"harness": [], "generate_streamer": [], "generate": []}
    for _ in range(args.reps):  # interleaved, so drift and neighbours hit all three alike
        rows["harness"].append(harness())
        rows["generate_streamer"].append(generate_streamer())
        rows["generate"].append(generate_plain())

    def col(name: str, metric: str) -> dict[str, Any]:
        return summary([r[metric] for r in rows[name]])

    h_dec, g_dec = col("harness", "decode"), col("generate_streamer", "decode")
    h_e2e, g_e2e, p_e2e = col("harness", "e2e"), col("generate_streamer", "e2e"), col("generate", "e2e")

    def overhead(base: dict[str, Any], ours: dict[str, Any]) -> float:
        return round((base["median"] - ours["median"]) / base["median"] * 100, 2)

    tagged = {k: v for k, v in sorted(settings.items()) if k != "torch_threads"}
    key = f"{args.backend}/{args.quant}/{'cuda' if cuda else info.device}" + ("/synthetic" if args.synthetic else "")
    if tagged:
        key += "@" + ",".join(f"{k}={v}" for k, v in tagged.items())
    entry = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "platform": platform.platform(),
            "load_average_1m_before": load_before, "load_average_1m_after": os.getloadavg()[0],
        },
        "libraries": info.details.get("libraries"),
        "config": {
            "model": args.model, "backend": args.backend, "quant": args.quant, "device": info.device,
            "weights": run.weights, "settings": settings, "tokens": n, "reps": args.reps,
            "prompt_tokens": len(ids), "dtype": info.details.get("dtype"), "kernel_path": info.details.get("kernel_path"),
            "load_s": round(load_s, 2),
        },
        "unit": "tokens/s; decode = (n-1)/(t_last-t_first), e2e = n/(t_end-t_start)",
        "harness": {"decode_tok_s": h_dec, "e2e_tok_s": h_e2e, "ttft_s": col("harness", "ttft")},
        "generate_streamer": {"decode_tok_s": g_dec, "e2e_tok_s": g_e2e, "ttft_s": col("generate_streamer", "ttft")},
        "generate": {"e2e_tok_s": p_e2e},
        "overhead_pct": {
            "decode_vs_generate_streamer": overhead(g_dec, h_dec),
            "e2e_vs_generate_streamer": overhead(g_e2e, h_e2e),
            "e2e_vs_generate": overhead(p_e2e, h_e2e),
        },
        "target_pct": TARGET_PCT,
    }
    entry["within_target"] = all(v < TARGET_PCT for v in entry["overhead_pct"].values())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"results": {}}
    if out.exists():
        try:
            doc = json.loads(out.read_text())
        except ValueError:
            pass
    doc["about"] = (
        "Harness overhead of the PyTorch backends: decode tok/s through backend.generate (as the engine "
        "consumes it) vs model.generate on the same model, settings and prompt. Produced by "
        "benchmarks/overhead-torch/bench.py; positive overhead = the harness is slower."
    )
    doc.setdefault("results", {})[key] = entry
    out.write_text(json.dumps(doc, indent=2) + "\n")
    o = entry["overhead_pct"]
    print(f"{key}: load {load_s:.1f} s, prompt {len(ids)} tokens, {n} tokens x {args.reps}")
    print(f"  harness           decode {h_dec['median']:.2f} ± {h_dec['sd']:.2f} tok/s   e2e {h_e2e['median']:.2f} ± {h_e2e['sd']:.2f}")
    print(f"  generate+streamer decode {g_dec['median']:.2f} ± {g_dec['sd']:.2f} tok/s   e2e {g_e2e['median']:.2f} ± {g_e2e['sd']:.2f}")
    print(f"  generate                                            e2e {p_e2e['median']:.2f} ± {p_e2e['sd']:.2f}")
    print(f"  overhead: decode {o['decode_vs_generate_streamer']:+.2f} %, e2e {o['e2e_vs_generate_streamer']:+.2f} % "
          f"(vs generate: {o['e2e_vs_generate']:+.2f} %); target < {TARGET_PCT} % -> {'ok' if entry['within_target'] else 'OVER'}")
    print(f"  written to {out}")
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
