"""A fixed session as engine events, for deterministic snapshots: no process, no clock.

Four runs of one model: llama.cpp Q4_K_M on cuda:0, transformers bf16 on cuda:1, quanto int4
sharing cuda:0, bitsandbytes NF4 out of memory at load. Four problems (one with a figure); two
answered by every live run, the third streaming.
"""

from __future__ import annotations

from typing import Any

from engine import events as ev

RUNS = [
    "llama3-8b/llama.cpp/q4_k_m",
    "llama3-8b/transformers/bf16",
    "llama3-8b/quanto/int4",
    "llama3-8b/bitsandbytes/nf4",
]

PROBLEMS: list[dict[str, Any]] = [
    {"id": "ptbr_multiple_choice/0", "split": "ptbr_multiple_choice", "index": 0, "variant": "pt-BR", "kind": "multiple_choice",
     "problem": "Um caderno custa R$ 7,00. Quanto custam 8 cadernos iguais a esse?",
     "choices": {"A": "R$ 54,00", "B": "R$ 56,00", "C": "R$ 58,00", "D": "R$ 64,00", "E": "R$ 15,00"},
     "answer": "B", "solution": None, "level": 1, "has_figure": False},
    {"id": "ptpt_open_ended/0", "split": "ptpt_open_ended", "index": 0, "variant": "pt-PT", "kind": "open_ended",
     "problem": "O João tem 15 berlindes e a irmã dá-lhe mais 27. Com quantos berlindes fica o João?",
     "choices": None, "answer": "42", "solution": "15 + 27 = 42", "level": 1, "has_figure": False},
    {"id": "ptpt_multiple_choice/3", "split": "ptpt_multiple_choice", "index": 3, "variant": "pt-PT", "kind": "multiple_choice",
     "problem": "Na figura está representado um triângulo retângulo $[ABC]$ com catetos $\\overline{AB} = 3$ e "
                "$\\overline{BC} = 4$.\nConteúdo referenciado:\n\\begin{tikzpicture}\\draw (0,0) -- (4,0) -- (4,3) -- cycle;"
                "\\end{tikzpicture}\nQual é a área do triângulo?",
     "choices": {"A": "$7$", "B": "$12$", "C": "$6$", "D": "$5$", "E": "$3{,}5$"},
     "answer": "C", "solution": None, "level": 2, "has_figure": True},
    {"id": "ptbr_open_ended/7", "split": "ptbr_open_ended", "index": 7, "variant": "pt-BR", "kind": "open_ended",
     "problem": "Resolva $x^2 - 5x + 6 = 0$ e dê a maior raiz.", "choices": None, "answer": "3",
     "solution": "As raízes são 2 e 3.", "level": 2, "has_figure": False},
]

ANSWERS = {
    RUNS[0]: ["O preço de 8 cadernos é $8 \\times 7 = 56$. A resposta é \\boxed{B}.",
              "Somamos: $15 + 27 = 42$. Portanto, o João fica com \\boxed{42} berlindes.",
              "A área de um triângulo retângulo é metade do produto dos catetos: $\\frac{3 \\cdot 4}{2}"],
    RUNS[1]: ["Cada caderno custa R$ 7,00, então 8 cadernos custam R$ 56,00. \\boxed{B}",
              "15 + 27 = 41, logo \\boxed{41}.",
              "Os catetos medem 3 e 4, então a área é"],
    RUNS[2]: ["Vamos pensar passo a passo. Um caderno custa 7 reais e queremos 8 cadernos, então multiplicamos",
              "O João fica com \\boxed{42}.",
              ""],
}

#: scripted quality blocks (fixed figures for the snapshots, not measurements); bf16 is the reference
QUALITY: dict[str, dict[str, Any]] = {
    run: {"reference": RUNS[1], "ppl": ppl, "ppl_byte": None, "kld_mean": kld, "kld_p99": p99, "top1_pct": top1,
          "tokens": 412, "synthetic": False, "reason": None}
    for run, ppl, kld, p99, top1 in [(RUNS[0], 3.412, 0.0312, 0.284, 91.3), (RUNS[1], 3.297, 0.0, 0.0, 100.0),
                                     (RUNS[2], 3.655, 0.0845, 0.731, 86.2)]
}

GPU_TOTAL = 81559.0


def _gpu(index: int, used: float, util: float, power: float, temp: float) -> dict[str, Any]:
    return {"index": index, "cuda": index, "name": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-{index}", "util_pct": util,
            "mem_used_mib": used, "mem_total_mib": GPU_TOTAL, "power_w": power, "power_limit_w": 700.0,
            "energy_mj": None, "temp_c": temp, "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0, "processes": {},
            "label": f"cuda:{index} (gpu:{index})"}


def _record(run: str, p: dict[str, Any], text: str, verdict: str, extracted: str | None, *, tps: float, ttft: float,
            finish: str = "stop", vram: float | None = None, energy: float | None = None) -> dict[str, Any]:
    n = 4 * len(text.split())
    return {
        "session": "demo", "run": run, "model": "llama3-8b", "backend": run.split("/")[1], "quant": run.split("/")[2],
        "weights": "real", "device": "cuda:0", "problem_id": p["id"], "split": p["split"], "kind": p["kind"],
        "variant": p["variant"], "level": p["level"], "has_figure": p["has_figure"], "max_new_tokens": 256,
        "response": text, "finish_reason": finish, "tokens_in": 120, "tokens_out": n, "ttft_s": ttft,
        "prefill_tok_s": 120 / ttft, "decode_tok_s": tps, "e2e_tok_s": tps * 0.9, "tpot_ms": 1000 / tps,
        "itl_p50_ms": 1000 / tps, "itl_p90_ms": 1100 / tps, "itl_p99_ms": 1300 / tps, "latency_s": ttft + n / tps,
        "peak_vram_mib": vram, "peak_vram_process_mib": None, "gpu_util_pct": 80.0, "gpu_util_max_pct": 97.0,
        "energy_j": energy, "power_w": 300.0, "rss_mib": 2100.0, "cpu_pct": 100.0,
        "j_per_token": (energy / n) if energy is not None else None, "verdict": verdict, "strict_verdict": verdict,
        "extracted": extracted, "gold": p["answer"], "grade_reason": None,
    }


def demo_events(*, gpus: bool = True) -> list[ev.Event]:
    """The scripted session, up to the middle of problem 3."""
    out: list[ev.Event] = [ev.SessionStarted(runs=list(RUNS), problems=PROBLEMS, out_dir="results/demo", waves=[list(RUNS)])]
    devices = {RUNS[0]: ("cuda:0", [0], 2.4), RUNS[1]: ("cuda:0", [1], 6.8), RUNS[2]: ("cuda:0", [0], 9.1)}
    for run in RUNS[:3]:
        out.append(ev.RunLoading(run=run))
        dev, g, load_s = devices[run]
        out.append(ev.RunLoaded(run=run, device=dev if gpus else "cpu", gpus=g if gpus else [], load_s=load_s, details={}))
        out.append(ev.QualityScored(run=run, quality=QUALITY[run]))
    out.append(ev.RunLoading(run=RUNS[3]))
    out.append(ev.RunFailed(run=RUNS[3], status="oom",
                            reason="CUDA out of memory while loading: tried to allocate 2.00 GiB (GPU 1: 1.2 GiB free)"))
    speeds = {RUNS[0]: 92.0, RUNS[1]: 41.5, RUNS[2]: 17.3}
    ttfts = {RUNS[0]: 0.045, RUNS[1]: 0.082, RUNS[2]: 0.210}
    vram = {RUNS[0]: 5_890.0, RUNS[1]: 16_420.0, RUNS[2]: 7_310.0}
    joules = {RUNS[0]: 1.9, RUNS[1]: 5.2, RUNS[2]: 8.4}
    verdicts = {
        RUNS[0]: [("correct", "B"), ("correct", "42")],
        RUNS[1]: [("correct", "B"), ("incorrect", "41")],
        RUNS[2]: [("truncated", None), ("correct", "42")],
    }
    if gpus:
        out.append(ev.Telemetry(gpus=[_gpu(0, 13_410.0, 91.0, 412.0, 61.0), _gpu(1, 16_880.0, 64.0, 288.0, 55.0)],
                                cpu_pct=38.0, ram_used_mib=41_210.0, ram_total_mib=257_800.0,
                                run_of_gpu={0: [RUNS[0], RUNS[2]], 1: [RUNS[1]]}))
    else:
        out.append(ev.Telemetry(gpus=[], cpu_pct=97.0, ram_used_mib=3_120.0, ram_total_mib=7_940.0, run_of_gpu={}))
    for pos, p in enumerate(PROBLEMS[:3]):
        for run in RUNS[:3]:
            out.append(ev.ProblemStarted(run=run, problem_id=p["id"], position=pos, total=len(PROBLEMS)))
            text = ANSWERS[run][pos]
            words = text.split(" ")
            elapsed = 0.0
            for i, word in enumerate(words):
                piece = word + (" " if i + 1 < len(words) else "")
                n = 4 * (i + 1)  # ~4 tokens a word
                wobble = 1.0 + 0.15 * ((i * 7 + pos * 3) % 5 - 2) / 2  # a lively, fixed sparkline
                elapsed += 4 / (speeds[run] * wobble)
                out.append(ev.TokenText(run=run, problem_id=p["id"], text=piece, tokens_out=n, elapsed_s=round(elapsed, 4)))
            if pos < 2:
                verdict, extracted = verdicts[run][pos]
                finish = "length" if verdict == "truncated" else "stop"
                verdict = "unparsed" if verdict == "truncated" else verdict
                rec = _record(run, p, text, verdict, extracted, tps=speeds[run] * (1 + 0.03 * pos), ttft=ttfts[run],
                              finish=finish, vram=vram[run] if gpus else None, energy=joules[run] * 20 if gpus else None)
                if not gpus:
                    rec["gpu_util_pct"] = None
                out.append(ev.ProblemFinished(run=run, problem_id=p["id"], record=rec))
    return out


def finished_events(*, gpus: bool = True) -> list[ev.Event]:
    """The same session, stopped after problem 2 (with RunFinished and SessionFinished)."""
    events = [e for e in demo_events(gpus=gpus) if not (isinstance(e, (ev.ProblemStarted, ev.TokenText)) and e.problem_id == PROBLEMS[2]["id"])]
    from engine.results import run_summary

    records: dict[str, list[dict[str, Any]]] = {r: [] for r in RUNS}
    for e in events:
        if isinstance(e, ev.ProblemFinished):
            records[e.run].append(e.record)
    rows = []
    for run in RUNS:
        status = "oom" if run == RUNS[3] else "ok"
        row = run_summary({"run": run, "status": status, "reason": None if status == "ok" else "CUDA out of memory",
                           "quality": QUALITY.get(run)}, records[run])
        rows.append(row)
        events.append(ev.RunFinished(run=run, status=status, summary=row))
    events.append(ev.SessionFinished(out_dir="results/demo", interrupted=True, summary={"runs": rows}))
    return events
