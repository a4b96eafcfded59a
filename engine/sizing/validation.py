"""Estimated vs measured GPU memory for every GPU run of a folder of results folders
(``quantarena size --validate benchmarks/gpu-runs``).

For each run of each ``summary.json``: the sizing estimate (:func:`engine.sizing.estimate`) at the
context the run actually used — llama.cpp: its n_ctx (the whole KV cache is allocated up front);
torch backends: the longest prompt + the token cap (their caches grow; a static cache the length
it allocates: rounded up to 256 tokens, to 1,024 with CUDA graphs), for as many sequences as the
session decoded at once (``--concurrency``) — against the measured peak NVML memory of the run's process tree
(``peak_vram_process_mib``; the whole-GPU figure includes other runs sharing the GPU, so it is not
the run's own). Runs without that figure, or not in the catalog, are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.catalog import Catalog
from engine.sizing.errors import SizingError
from engine.sizing.estimate import estimate

#: the static cache's allocation steps (``engine.backends.torch_decode``: without, with CUDA graphs)
STATIC_CACHE_STEP = 256
GRAPHS_CACHE_STEP = 1024

MIB_PER_GIB = 1024
#: a row within this many percent of the measurement counts as validated
TOLERANCE_PCT = 10.0


def validation_rows(catalog: Catalog, root: Path) -> list[dict[str, Any]]:
    """One row per measured GPU run under ``root`` (``*/summary.json`` with ``results.jsonl``)."""
    if not Path(root).is_dir():
        raise SizingError(f"{root}: not a folder of results folders")
    folders = sorted(Path(root).glob("*/summary.json"))
    if not folders:
        raise SizingError(f"{root}: no results folder (*/summary.json) in it")
    rows = []
    for summary_path in folders:
        s = json.loads(summary_path.read_text())
        records = [json.loads(x) for x in (summary_path.parent / "results.jsonl").read_text().splitlines()]
        gpu_names = sorted({g["name"] for g in s["environment"]["gpus"]})
        for r in s["runs"]:
            if r["status"] != "ok" or r.get("peak_vram_process_mib") is None:
                continue
            name = r["run"].split("@")[0]
            run = catalog.runs.get(r["run"]) or catalog.runs.get(name)
            if run is None:
                continue
            model = catalog.models[run.model]
            recs = [x for x in records if x["run"] == r["run"]]
            prompt = max(x["tokens_in"] for x in recs)
            cap = s["settings"]["max_new_tokens"]
            d = r["details"]
            if run.backend == "llama.cpp":  # the context llama.cpp allocated, as its details report it
                ctx = int(d.get("n_ctx") or 4096)
            else:
                ctx = prompt + cap
                if d.get("cache") == "static":
                    graphed = str(d.get("graphs", "off")).startswith("on")
                    step = GRAPHS_CACHE_STEP if graphed else STATIC_CACHE_STEP
                    ctx = -(-ctx // step) * step
            batch = max(1, int(s["settings"].get("concurrency") or 1))
            est = estimate(model.arch, run.backend, run.quant, ctx=ctx, batch=batch, prefill_tokens=prompt, model=model.name)
            measured = r["peak_vram_process_mib"] / MIB_PER_GIB
            rows.append({
                "set": summary_path.parent.name, "run": r["run"], "gpu": ", ".join(gpu_names), "gpus": len(r["gpus"]),
                "ctx": ctx, "batch": batch, "weights_gib": round(est.weights_gib, 2), "kv_cache_gib": round(est.kv_cache_gib, 2),
                "overhead_gib": round(est.overhead_gib + est.activations_gib, 2), "estimate_gib": round(est.total_gib, 2),
                "measured_gib": round(measured, 2), "error_pct": round(100 * (est.total_gib - measured) / measured, 1),
                "decode_tok_s": round(r["decode_tok_s_median"], 1) if r.get("decode_tok_s_median") else None,
            })
    return rows


def validation_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, and how many are within :data:`TOLERANCE_PCT`."""
    within = sum(1 for x in rows if abs(x["error_pct"]) <= TOLERANCE_PCT)
    lines = [
        "| set | run | GPU | ctx | batch | weights | KV | overhead | estimate GiB | measured GiB | error |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in rows:
        lines.append(f"| {x['set']} | {x['run']} | {x['gpu']} ×{x['gpus']} | {x['ctx']} | {x.get('batch', 1)} | {x['weights_gib']} | {x['kv_cache_gib']} | "
                     f"{x['overhead_gib']} | {x['estimate_gib']} | {x['measured_gib']} | {x['error_pct']:+.1f}% |")
    lines.append("")
    lines.append(f"{within} of {len(rows)} runs within ±{TOLERANCE_PCT:.0f}% of the measured peak process memory.")
    return "\n".join(lines) + "\n"
