"""Estimated vs measured GPU memory for every GPU run under benchmarks/gpu-runs/.

For each run of each ``summary.json``: the sizing estimate (``engine.sizing.estimate``) at the
context the run actually used — llama.cpp: its n_ctx (the whole KV cache is allocated up front);
torch backends: the longest prompt + the token cap (their caches grow) — against the measured
peak NVML memory of the run's process tree (``peak_vram_process_mib``; the whole-GPU figure
includes other runs sharing the GPU, so it is not the run's own). Writes
``benchmarks/sizing_validation.json``, ``.md`` and a plot ``sizing_validation.png``.

    python scripts/sizing_validation.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalog import load_catalog  # noqa: E402
from engine.sizing import estimate  # noqa: E402

MIB_PER_GIB = 1024


def main() -> int:
    cat = load_catalog(ROOT / "models.toml")
    rows = []
    for summary_path in sorted((ROOT / "benchmarks" / "gpu-runs").glob("*/summary.json")):
        s = json.loads(summary_path.read_text())
        records = [json.loads(x) for x in (summary_path.parent / "results.jsonl").read_text().splitlines()]
        gpu_names = sorted({g["name"] for g in s["environment"]["gpus"]})
        for r in s["runs"]:
            if r["status"] != "ok" or r.get("peak_vram_process_mib") is None:
                continue
            name = r["run"].split("@")[0]
            run = cat.runs.get(r["run"]) or cat.runs.get(name)
            if run is None:
                continue
            model = cat.models[run.model]
            recs = [x for x in records if x["run"] == r["run"]]
            prompt = max(x["tokens_in"] for x in recs)
            cap = s["settings"]["max_new_tokens"]
            d = r["details"]
            if run.backend == "llama.cpp":
                ctx = int(d.get("n_ctx") or 4096)
                est = estimate(model.arch, run.backend, run.quant, ctx=ctx, prefill_tokens=prompt, model=model.name)
            else:
                ctx = prompt + cap
                if d.get("cache") == "static":
                    ctx = int(d.get("static_cache_tokens") or ctx)
                est = estimate(model.arch, run.backend, run.quant, ctx=ctx, prefill_tokens=prompt, model=model.name)
            measured = r["peak_vram_process_mib"] / MIB_PER_GIB
            rows.append({
                "set": summary_path.parent.name, "run": r["run"], "gpu": ", ".join(gpu_names), "gpus": len(r["gpus"]),
                "ctx": ctx, "weights_gib": round(est.weights_gib, 2), "kv_cache_gib": round(est.kv_cache_gib, 2),
                "overhead_gib": round(est.overhead_gib + est.activations_gib, 2), "estimate_gib": round(est.total_gib, 2),
                "measured_gib": round(measured, 2), "error_pct": round(100 * (est.total_gib - measured) / measured, 1),
                "decode_tok_s": round(r["decode_tok_s_median"], 1) if r.get("decode_tok_s_median") else None,
            })
    out = ROOT / "benchmarks" / "sizing_validation"
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    within = sum(1 for x in rows if abs(x["error_pct"]) <= 10)
    lines = [
        "| set | run | GPU | ctx | weights | KV | overhead | estimate GiB | measured GiB | error |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in rows:
        lines.append(f"| {x['set']} | {x['run']} | {x['gpu']} ×{x['gpus']} | {x['ctx']} | {x['weights_gib']} | {x['kv_cache_gib']} | "
                     f"{x['overhead_gib']} | {x['estimate_gib']} | {x['measured_gib']} | {x['error_pct']:+.1f}% |")
    lines.append("")
    lines.append(f"{within} of {len(rows)} runs within ±10% of the measured peak process memory.")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 6))
        xs = [x["measured_gib"] for x in rows]
        ys = [x["estimate_gib"] for x in rows]
        colors = {"llama.cpp": "tab:green", "transformers": "tab:blue", "quanto": "tab:orange", "bitsandbytes": "tab:red"}
        for x in rows:
            b = x["run"].split("/")[1]
            ax.scatter(x["measured_gib"], x["estimate_gib"], color=colors.get(b, "k"), label=b, s=28)
        hi = max(xs + ys) * 1.08
        ax.plot([0, hi], [0, hi], "k-", lw=0.8)
        ax.plot([0, hi], [0, hi * 1.1], "k:", lw=0.6)
        ax.plot([0, hi], [0, hi * 0.9], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("measured peak process memory (GiB, NVML)")
        ax.set_ylabel("quantarena size estimate (GiB)")
        ax.set_title("Estimated vs measured GPU memory (dotted: ±10%)")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=False))
        ax.legend(uniq.values(), uniq.keys(), loc="upper left")
        fig.tight_layout()
        fig.savefig(out.with_suffix(".png"), dpi=110)
    except ImportError:
        print("matplotlib not installed: no plot")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
