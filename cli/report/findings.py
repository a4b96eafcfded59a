"""The project's study, written from the committed GPU results: ``docs/findings.md`` plus its report.

The question: how does Qwen2.5-72B's inference efficiency (decode tokens/s) compare with
Mistral-7B's and Llama-3-8B's on MATH-PT, and what does each cost in GPUs and in quality?

Every results folder below the root (``benchmarks/gpu-runs``) is read, so a folder added later
(a new engine, a new GPU) lands in the tables the next time the study is generated. The grid is
every catalog run of the three models plus any run measured for them; each cell shows its best
batch-1 measurement (highest median decode tok/s; throughput-mode folders are reported apart),
its GPUs per the engine's sizing module (``quantarena size``), its quality block when a summary
has one, and says "not measured" where no folder has the figure.

    python scripts/findings.py            # docs/findings.md, docs/findings.html, docs/findings.png
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.report.folders import ResultsFolder, find_results_folders, load_folder
from cli.report.tables import MIB_PER_GIB, parse_run, run_rows
from engine.catalog import Catalog
from engine.sizing import Estimate, SizingError, estimate, roofline_tok_s

STUDY_MODELS = ("qwen2.5-72b", "mistral-7b", "llama3-8b")
BIG = "qwen2.5-72b"
#: (GPU type, context) pairs the GPU-count table sizes every cell for
SIZING = (("H100-80GB", 4096), ("H200-141GB", 4096), ("H100-80GB", 32768), ("H200-141GB", 32768))
#: the decode position the roofline projection of an unmeasured cell assumes (a ~230-token prompt + half an answer)
PROJECTION_POS = 360
COMMAND = "python scripts/findings.py"

#: The MATH-PT paper's multiple-choice accuracy (strict rule: a single letter in the last \\boxed{}).
#: Counts for the four models whose answers the authors released are re-scored by quantarena's
#: strict grader to the same figures (tests/engine/grading/test_grading_mc.py); the others are quoted from the paper.
PAPER = ('T. Teixeira et al., "MATH-PT: A Math Reasoning Benchmark for European and Brazilian Portuguese", '
         "arXiv:2604.25926 (PROPOR 2026)")
RELEASED = "the authors' released answers (deep-spin/math-benchmark, results/multiple-choice/first_run)"
PUBLISHED_MC: tuple[tuple[str, str, str, str], ...] = (
    # model, pt-PT, pt-BR, source
    ("gpt-5", "401/419 (95.7%)", "588/638 (92.2%)", "released answers, re-scored"),
    ("qwen3-235b-a22b", "88.5%", "90.9%", "paper"),
    ("qwen3-14b", "87.8%", "89.5%", "paper"),
    ("qwen3-8b", "326/419 (77.8%)", "529/638 (82.9%)", "released answers, re-scored"),
    ("gemma-3-27b-it", "215/419 (51.3%)", "419/638 (65.7%)", "released answers, re-scored"),
    ("llama-3.3-70b-instruct", "128/419 (30.5%)", "215/638 (33.7%)", "released answers, re-scored"),
)


@dataclass
class Cell:
    """One model × engine × quantization (× variant) of the study."""

    model: str
    backend: str
    quant: str
    tag: str | None
    best: dict[str, Any] | None = None
    measurements: list[dict[str, Any]] = field(default_factory=list)
    used_estimate: Estimate | None = None
    sizing: dict[tuple[str, int], Estimate | str] = field(default_factory=dict)
    projection: tuple[float, float, str] | None = None  # (tok/s, roofline % borrowed, from which row)

    @property
    def scheme(self) -> str:
        return f"{self.backend} {self.quant}" + (f" @{self.tag}" if self.tag else "")

    @property
    def run(self) -> str:
        return f"{self.model}/{self.backend}/{self.quant}" + (f"@{self.tag}" if self.tag else "")


def study_folders(root: Path) -> list[ResultsFolder]:
    """Every results folder below ``root``, labelled by its path below it."""
    root = Path(root)
    return [load_folder(_relative(p), str(p.relative_to(root)) if p != root else p.name) for p in find_results_folders(root)]


def _relative(p: Path) -> Path:
    """``p`` relative to the working directory when it lies below it (paths in the committed files)."""
    try:
        return p.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return p


def gpu_type_of(gpu: str | None) -> str | None:
    """The sizing GPU type of a row's GPU label (``NVIDIA H100 80GB HBM3`` -> ``H100-80GB``)."""
    if not gpu:
        return None
    if "H200" in gpu:
        return "H200-141GB"
    if "H100" in gpu:
        return "H100-80GB"
    return None


def used_context_estimate(catalog: Catalog, folder: ResultsFolder, row: dict[str, Any]) -> Estimate | None:
    """The sizing estimate at the context the run actually allocated: llama.cpp its n_ctx (the whole
    KV cache up front), the torch backends the longest prompt + the token cap (or their static cache)."""
    model = catalog.models.get(str(row.get("model")))
    if model is None or row.get("backend") is None or row.get("quant") is None:
        return None
    static = next((r for r in folder.run_rows() if r["run"] == row["run"]), {})
    raw = static.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    prompts = [int(r["tokens_in"]) for r in folder.records if r.get("run") == row["run"] and r.get("tokens_in")]
    if not prompts:
        return None
    prompt, cap = max(prompts), int(folder.settings.get("max_new_tokens") or 0)
    batch = int(row.get("concurrency") or 1)
    if row["backend"] == "llama.cpp":
        ctx = int(details.get("n_ctx") or 4096)
    else:
        ctx = prompt + cap
        if details.get("cache") == "static":
            ctx = int(details.get("static_cache_tokens") or ctx)
    try:
        return estimate(model.arch, str(row["backend"]), str(row["quant"]), ctx=ctx, batch=batch,
                        prefill_tokens=prompt, model=model.name)
    except SizingError:
        return None


def build_study(folders: list[ResultsFolder], rows: list[dict[str, Any]], catalog: Catalog) -> list[Cell]:
    """The study grid with each cell's measurements, sizing and (for unmeasured cells) projection."""
    cells: dict[str, Cell] = {}
    for spec in catalog.runs.values():
        if spec.model in STUDY_MODELS:
            _, _, _, tag = parse_run(spec.name)
            cells.setdefault(spec.name, Cell(spec.model, spec.backend, spec.quant, tag))
    by_label = {f.label: f for f in folders}
    for r in rows:
        if r.get("model") not in STUDY_MODELS or r.get("backend") is None or r.get("quant") is None:
            continue
        cell = cells.setdefault(r["run"], Cell(r["model"], r["backend"], r["quant"], r.get("tag")))
        if r.get("concurrency") is None and r.get("decode_tok_s_p50") is not None:
            cell.measurements.append(r)
    for cell in cells.values():
        if cell.measurements:
            cell.best = max(cell.measurements, key=lambda r: r["decode_tok_s_p50"])
            cell.used_estimate = used_context_estimate(catalog, by_label[cell.best["folder"]], cell.best)
        model = catalog.models.get(cell.model)
        if model is None:
            continue
        for gpu, ctx in SIZING:
            if ctx > model.arch.context_length:
                cell.sizing[(gpu, ctx)] = f"context max {model.arch.context_length // 1024}k"
                continue
            try:
                cell.sizing[(gpu, ctx)] = estimate(model.arch, cell.backend, cell.quant, ctx=ctx, gpu=gpu, model=cell.model)
            except SizingError as e:
                cell.sizing[(gpu, ctx)] = str(e)
    _project(list(cells.values()), catalog)
    order = {m: i for i, m in enumerate(STUDY_MODELS)}
    return sorted(cells.values(), key=lambda c: (order[c.model], c.backend, c.quant, c.tag or ""))


def _project(cells: list[Cell], catalog: Catalog) -> None:
    """For an unmeasured cell: the GPU's roofline ceiling × the % of it the same scheme reached on
    another study model (the best such measurement on a known GPU type)."""
    for cell in cells:
        if cell.best is not None:
            continue
        donors = [r for c in cells if c is not cell and (c.backend, c.quant, c.tag) == (cell.backend, cell.quant, cell.tag)
                  for r in c.measurements if r.get("roofline_pct_p50") and gpu_type_of(r.get("gpu"))]
        if not donors:
            continue
        donor = max(donors, key=lambda r: r["roofline_pct_p50"])
        gpu = gpu_type_of(donor.get("gpu"))
        model = catalog.models.get(cell.model)
        if model is None or gpu is None:
            continue
        try:
            ceiling = roofline_tok_s(model.arch, cell.backend, cell.quant, gpu, PROJECTION_POS)
        except SizingError:
            continue
        cell.projection = (ceiling * donor["roofline_pct_p50"] / 100.0, donor["roofline_pct_p50"],
                           f"{donor['key']} on {gpu}")


# --- writing ------------------------------------------------------------------------------------

def _f(v: Any, spec: str = ".1f", na: str = "N/A") -> str:
    return na if v is None else format(v, spec)


def _gib(mib: Any) -> str:
    return _f(mib / MIB_PER_GIB if isinstance(mib, (int, float)) else None, ".2f")


def _gpus(e: Estimate | str | None) -> str:
    if e is None:
        return "N/A"
    if isinstance(e, str):
        return e if e.startswith("context max") else "—"
    return str(e.gpus_needed) if e.gpus_needed else "> 64"


def _short_gpu(gpu: str | None) -> str:
    if not gpu:
        return "GPU not recorded"
    return gpu.replace("NVIDIA ", "").replace(" 80GB HBM3", "")


def measured_table(cells: list[Cell]) -> list[str]:
    lines = ["| model | engine, quantization | decode tok/s p50 (p10–p90) | % of roofline p50 | peak VRAM GiB (process) | "
             "sizing estimate GiB (error) | GPU | measurements | folder |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for c in cells:
        b = c.best
        if b is None:
            continue
        dec = f"**{b['decode_tok_s_p50']:.1f}** ({_f(b.get('decode_tok_s_p10'))}–{_f(b.get('decode_tok_s_p90'))})"
        est = "N/A"
        if c.used_estimate is not None:
            est = f"{c.used_estimate.total_gib:.2f}"
            proc = b.get("peak_vram_process_mib")
            if proc:
                est += f" ({100 * (c.used_estimate.total_gib * MIB_PER_GIB - proc) / proc:+.1f}%)"
        lines.append(f"| {c.model} | {c.scheme} | {dec} | {_f(b.get('roofline_pct_p50'))} | {_gib(b.get('peak_vram_process_mib'))} | "
                     f"{est} | {_short_gpu(b.get('gpu'))} | {len(c.measurements)} | `{b['folder']}` |")
    return lines


def sizing_table(cells: list[Cell]) -> list[str]:
    head = " | ".join(f"GPUs {g.split('-')[0]} @{ctx // 1024}k" for g, ctx in SIZING)
    lines = [f"| model | engine, quantization | weights GiB | GiB @4k (H100) | {head} |",
             "| --- | --- | ---: | ---: |" + " ---: |" * len(SIZING)]
    seen = set()
    for c in cells:
        if (c.model, c.backend, c.quant) in seen:  # a variant (@compiled) needs the same memory
            continue
        seen.add((c.model, c.backend, c.quant))
        e = c.sizing.get(SIZING[0])
        w = f"{e.weights_gib:.1f}" if isinstance(e, Estimate) else "N/A"
        t = f"{e.total_gib:.1f}" if isinstance(e, Estimate) else "N/A"
        lines.append(f"| {c.model} | {c.backend} {c.quant} | {w} | {t} | " + " | ".join(_gpus(c.sizing.get(k)) for k in SIZING) + " |")
    return lines


def _same_gpu(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return gpu_type_of(a.get("gpu")) is not None and gpu_type_of(a.get("gpu")) == gpu_type_of(b.get("gpu"))


def comparisons_text(cells: list[Cell]) -> list[str]:
    """Qwen2.5-72B against each small model, scheme by scheme where both were measured."""
    by = {(c.model, c.backend, c.quant, c.tag): c for c in cells}
    lines = ["| engine, quantization | Qwen2.5-72B tok/s | Mistral-7B tok/s | Llama-3-8B tok/s | Llama-3-8B ÷ Qwen2.5-72B speed | "
             "Qwen2.5-72B ÷ Llama-3-8B weight bytes | % of roofline: Qwen2.5-72B / Llama-3-8B | GPUs Qwen2.5-72B used |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    found = 0
    for c in cells:
        if c.model != BIG or c.best is None:
            continue
        small = {m: by.get((m, c.backend, c.quant, c.tag)) for m in ("mistral-7b", "llama3-8b")}
        llama = small["llama3-8b"]
        ratio = wratio = "N/A"
        roof = f"{_f(c.best.get('roofline_pct_p50'))} / N/A"
        if llama is not None and llama.best is not None:
            roof = f"{_f(c.best.get('roofline_pct_p50'))} / {_f(llama.best.get('roofline_pct_p50'))}"
            ratio = f"{llama.best['decode_tok_s_p50'] / c.best['decode_tok_s_p50']:.1f}×"
            if not _same_gpu(llama.best, c.best):
                ratio += f" ({_short_gpu(llama.best.get('gpu'))} vs {_short_gpu(c.best.get('gpu'))})"
            e72, e8 = c.sizing.get(SIZING[0]), llama.sizing.get(SIZING[0])
            if isinstance(e72, Estimate) and isinstance(e8, Estimate):
                wratio = f"{e72.weights_gib / e8.weights_gib:.1f}×"
        cols = []
        for m in ("mistral-7b", "llama3-8b"):
            s = small[m]
            cols.append(f"{s.best['decode_tok_s_p50']:.1f}" if s is not None and s.best is not None else "not measured")
        lines.append(f"| {c.scheme} | {c.best['decode_tok_s_p50']:.1f} ({_short_gpu(c.best.get('gpu'))}) | {cols[0]} | {cols[1]} | "
                     f"{ratio} | {wratio} | {roof} | {c.best.get('gpus') or 'N/A'} |")
        found += 1
    return lines if found else ["No scheme was measured for Qwen2.5-72B and a small model alike."]


def _pairs(cells: list[Cell], small: str = "llama3-8b") -> list[tuple[Cell, Cell]]:
    by = {(c.model, c.backend, c.quant, c.tag): c for c in cells}
    out = []
    for c in cells:
        o = by.get((small, c.backend, c.quant, c.tag))
        if c.model == BIG and c.best is not None and o is not None and o.best is not None:
            out.append((c, o))
    return out


def _schemes(cells: list[Cell]) -> str:
    return ", ".join(f"{c.backend} {c.quant}" for c in cells)


def _overhead_sentence(pairs: list[tuple[Cell, Cell]]) -> str:
    """Why the speed gap differs from the weight ratio, from the pairs' % of roofline and GPU utilization."""
    lower = [(c, o) for c, o in pairs if (o.best or {}).get("roofline_pct_p50") is not None
             and (c.best or {}).get("roofline_pct_p50") is not None
             and o.best["roofline_pct_p50"] < c.best["roofline_pct_p50"]]  # type: ignore[index]
    if not lower:
        return ""
    utils = [o.best["gpu_util_pct_mean"] for _, o in lower if (o.best or {}).get("gpu_util_pct_mean") is not None]  # type: ignore[index]
    util = f"; Llama-3-8B's GPU utilization {min(utils):.0f}–{max(utils):.0f}%" if utils else ""
    detail = ", ".join(f"{c.backend} {c.quant}: {_roof(o)}% vs {_roof(c)}%" for c, o in lower)
    return (f"In {len(lower)} of {len(pairs)} schemes Llama-3-8B used less of its bandwidth roofline than Qwen2.5-72B "
            f"({detail}{util}): per-token overhead, not memory bandwidth, held the small model back, so the gap is "
            "smaller than the bytes.")


def _roof(c: Cell) -> str:
    return _f((c.best or {}).get("roofline_pct_p50"))


def _over_capacity(c: Cell, gname: str) -> bool:
    from engine.sizing import gpu_type

    proc = (c.best or {}).get("peak_vram_process_mib")
    e = c.sizing.get((gname, 4096))
    return (isinstance(proc, (int, float)) and proc > 0 and isinstance(e, Estimate) and e.gpus_needed == 1
            and proc / MIB_PER_GIB > gpu_type(gname).plan_gib)


def capacity_lines(cells: list[Cell]) -> list[str]:
    """Cells the sizing estimate puts on one GPU whose measured peak is above what the planner fills on it."""
    from engine.sizing import gpu_type

    out = []
    for c in cells:
        proc = (c.best or {}).get("peak_vram_process_mib")
        if not proc:
            continue
        for gname in ("H100-80GB", "H200-141GB"):
            e = c.sizing.get((gname, 4096))
            g = gpu_type(gname)
            if isinstance(e, Estimate) and _over_capacity(c, gname):
                out.append(f"- `{c.run}`: `quantarena size` puts it on one {gname} ({e.total_gib:.1f} GiB at 4k), but its "
                           f"process peaked at {proc / MIB_PER_GIB:.2f} GiB (`{(c.best or {}).get('folder')}`, at a shorter "
                           f"context), above the {g.plan_gib:.1f} GiB the planner fills on that GPU: on one {gname} it is at the edge.")
    return out


def headline_lines(cells: list[Cell]) -> list[str]:
    """The answer in a few sentences, every number computed from the cells."""
    out: list[str] = []
    pairs = _pairs(cells)
    if pairs:
        speed = [o.best["decode_tok_s_p50"] / c.best["decode_tok_s_p50"] for c, o in pairs]  # type: ignore[index]
        wr = [c.sizing[SIZING[0]].weights_gib / o.sizing[SIZING[0]].weights_gib for c, o in pairs  # type: ignore[union-attr]
              if isinstance(c.sizing.get(SIZING[0]), Estimate) and isinstance(o.sizing.get(SIZING[0]), Estimate)]
        out.append(f"- **Speed, same engine and quantization:** Qwen2.5-72B decodes **{min(speed):.1f}–{max(speed):.1f}× slower** "
                   f"than Llama-3-8B ({len(pairs)} schemes measured for both: {_schemes([c for c, _ in pairs])}"
                   + ("; some pairs ran on different GPUs, see the table" if any(not _same_gpu(c.best or {}, o.best or {}) for c, o in pairs) else "")
                   + "), "
                   + (f"while its weights are {min(wr):.1f}–{max(wr):.1f}× larger. " if wr else "")
                   + _overhead_sentence(pairs))
    best = {m: max((c for c in cells if c.model == m and c.best is not None), key=lambda c: c.best["decode_tok_s_p50"],  # type: ignore[index]
                   default=None) for m in STUDY_MODELS}
    b72, b8 = best.get(BIG), max((best[m] for m in STUDY_MODELS if m != BIG and best[m] is not None),
                                 key=lambda c: c.best["decode_tok_s_p50"], default=None)  # type: ignore[union-attr,index]
    if b72 is not None and b8 is not None and b72.best and b8.best:
        unmeasured = [c for c in cells if c.model == BIG and c.best is None and c.backend == b8.backend]
        out.append(f"- **Best against best:** Qwen2.5-72B's fastest committed figure is {b72.best['decode_tok_s_p50']:.1f} tok/s "
                   f"({b72.scheme}) against {b8.best['decode_tok_s_p50']:.1f} tok/s for {b8.model} ({b8.scheme}), "
                   f"{b8.best['decode_tok_s_p50'] / b72.best['decode_tok_s_p50']:.0f}× apart"
                   + (f"; the 72B has no committed {b8.backend} figure yet ({_schemes(unmeasured)}: see Missing figures)."
                      if unmeasured else "."))
    big = [c for c in cells if c.model == BIG and c.tag is None]
    for gpu in ("H100-80GB", "H200-141GB"):
        fits1 = [c for c in big if isinstance(c.sizing.get((gpu, 4096)), Estimate) and c.sizing[(gpu, 4096)].gpus_needed == 1]  # type: ignore[union-attr]
        more = [c for c in big if isinstance(c.sizing.get((gpu, 4096)), Estimate) and (c.sizing[(gpu, 4096)].gpus_needed or 99) > 1]  # type: ignore[union-attr]
        edge = {c.run for c in big if _over_capacity(c, gpu)}
        names = ", ".join(f"{c.backend} {c.quant}" + (" (at the edge: measured above the planner's fill)" if c.run in edge else "")
                          for c in fits1)
        if big:
            out.append(f"- **GPUs on {gpu} (4k context):** Qwen2.5-72B fits one GPU with {names or 'no scheme'}"
                       + (f"; needs more with {', '.join(f'{c.backend} {c.quant} ({_gpus(c.sizing[(gpu, 4096)])})' for c in more)}" if more else "")
                       + ".")
    small = [c for c in cells if c.model != BIG and isinstance(c.sizing.get(SIZING[0]), Estimate)]
    if small and all(c.sizing[SIZING[0]].gpus_needed == 1 for c in small):  # type: ignore[union-attr]
        top = max(c.sizing[SIZING[0]].total_gib for c in small)  # type: ignore[union-attr]
        out.append(f"- Mistral-7B and Llama-3-8B fit one H100-80GB in every scheme (at most {top:.1f} GiB at 4k context).")
    qual = [c for c in cells if c.best is not None and c.best.get("quality_kld_mean") is not None]
    out.append(f"- **Quality:** {len(qual)} cells have a quality block (below)." if qual else
               "- **Quality:** N/A — no committed run has a quality block yet, and accuracy is n/a for random weights; "
               "the paper's published accuracies are quoted below for context.")
    return out


def best_lines(cells: list[Cell]) -> list[str]:
    out = []
    for m in STUDY_MODELS:
        measured = [c for c in cells if c.model == m and c.best is not None]
        if not measured:
            out.append(f"- **{m}**: no committed measurement.")
            continue
        c = max(measured, key=lambda c: c.best["decode_tok_s_p50"] if c.best else 0.0)
        b = c.best or {}
        cheapest = min((c2 for c2 in cells if c2.model == m and isinstance(c2.sizing.get(SIZING[0]), Estimate)),
                       key=lambda c2: c2.sizing[SIZING[0]].total_gib, default=None)  # type: ignore[union-attr]
        gpu_txt = ""
        if cheapest is not None:
            e = cheapest.sizing[SIZING[0]]
            assert isinstance(e, Estimate)
            gpu_txt = f"; smallest footprint {cheapest.scheme} at {e.total_gib:.1f} GiB ({_gpus(e)} × H100-80GB at 4k context)"
        out.append(f"- **{m}**: fastest measured {c.scheme} at **{b['decode_tok_s_p50']:.1f} tok/s** "
                   f"({_f(b.get('roofline_pct_p50'))}% of the roofline, {_short_gpu(b.get('gpu'))}, `{b['folder']}`){gpu_txt}.")
    return out


def quality_lines(cells: list[Cell]) -> list[str]:
    rows = [c for c in cells if c.best is not None and any(c.best.get(f"quality_{k}") is not None for k in ("kld_mean", "top1_pct", "ppl"))]
    if not rows:
        return ["No committed run has a quality block yet (`summary.json` `quality`: perplexity, KL divergence and "
                "top-1 agreement against the model's reference run), so what each quantization costs in quality is "
                "**N/A** here; accuracy is n/a too, because every GPU run used random weights of the real "
                "architecture (`--synthetic`). The table fills in when such folders are added."]
    lines = ["| model | engine, quantization | reference | perplexity | KLD mean | KLD p99 | top-1 % | tokens | folder |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in rows:
        b = c.best or {}
        lines.append(f"| {c.model} | {c.scheme} | {b.get('quality_reference') or 'N/A'} | {_f(b.get('quality_ppl'), '.3f')} | "
                     f"{_f(b.get('quality_kld_mean'), '.4f')} | {_f(b.get('quality_kld_p99'), '.4f')} | "
                     f"{_f(b.get('quality_top1_pct'), '.1f')} | {_f(b.get('quality_tokens'), 'd')} | `{b['folder']}` |")
    return lines


def throughput_lines(rows: list[dict[str, Any]]) -> list[str]:
    batch = [r for r in rows if r.get("concurrency") and r.get("model") in STUDY_MODELS]
    if not batch:
        return ["No throughput-mode (`--concurrency N`) folder for the three models."]
    lines = ["| run | concurrency | aggregate tok/s | single-stream tok/s | GPU | folder |", "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in sorted(batch, key=lambda r: -(r.get("aggregate_tok_s") or 0)):
        lines.append(f"| {r['run']} | {r['concurrency']} | {_f(r.get('aggregate_tok_s'))} | {_f(r.get('single_stream_tok_s'))} | "
                     f"{_short_gpu(r.get('gpu'))} | `{r['folder']}` |")
    return lines


def missing_lines(cells: list[Cell]) -> list[str]:
    miss = [c for c in cells if c.best is None]
    if not miss:
        return ["Every cell of the grid has a measurement."]
    out = [f"{len(miss)} of {len(cells)} cells have no committed measurement. Each is measured on the lent GPU "
           "(`source scripts/gpu/setup.sh` first) by `quantarena --batch --synthetic --runs RUN --dataset MATHPT "
           "--split ptbr_multiple_choice --limit 5 --max-new-tokens 256 --out benchmarks/gpu-runs/NAME`; the next "
           f"`{COMMAND}` picks the folder up. A projection borrows the % of roofline the same engine and quantization "
           "reached on another model (larger matrices may reach more or less of it): a rough guide, not a figure.", "",
           "| run | GPUs needed (H100-80GB, 4k) | roofline projection (not a measurement) |", "| --- | ---: | --- |"]
    for c in miss:
        proj = "—"
        if c.projection:
            tok, pct, src = c.projection
            proj = f"≈ {tok:.0f} tok/s (the ceiling at {pct:.1f}%, the share `{src}` reached)"
        out.append(f"| `{c.run}` | {_gpus(c.sizing.get(('H100-80GB', 4096)))} | {proj} |")
    return out


def folders_lines(folders: list[ResultsFolder], rows: list[dict[str, Any]], cells: list[Cell]) -> list[str]:
    """Every folder read, with what it holds and which cells it gives the best figure for."""
    lines = ["| folder | session | GPUs | runs | concurrency | answers | best figure for |", "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for f in folders:
        mine = [r for r in rows if r["folder"] == f.label]
        gpus = sorted({_short_gpu(r.get("gpu")) for r in mine}) or ["N/A"]
        best = [c.run for c in cells if c.best is not None and c.best["folder"] == f.label]
        lines.append(f"| `{f.label}` | {f.session or 'N/A'} | {', '.join(gpus)} | {len(mine)} | {f.settings.get('concurrency') or 1} | "
                     f"{len(f.records)} | {', '.join(best) or '—'} |")
    return lines


def findings_markdown(folders: list[ResultsFolder], rows: list[dict[str, Any]], cells: list[Cell],
                      *, picture: str = "findings.png", report: str = "findings.html") -> str:
    gpus = sorted({_short_gpu(r.get("gpu")) for r in rows if r.get("gpu")})
    dates = sorted({str(f.session)[:8] for f in folders if f.session})
    n_measured = sum(1 for c in cells if c.best is not None)
    warnings = [w for f in folders for w in f.warnings]
    lines = [
        "# Findings: Qwen2.5-72B against Mistral-7B and Llama-3-8B",
        "",
        f"*Generated by `{COMMAND}` from the {len(folders)} results folders under `benchmarks/gpu-runs/` "
        f"({len(rows)} runs; sessions of {', '.join(dates) or 'N/A'}; GPUs: {', '.join(gpus) or 'N/A'}). Do not edit by hand: "
        f"add a results folder and run the command again. The interactive report of the same folders: [{report}]({report}).*",
        "",
        "**The question.** How does Qwen2.5-72B's inference efficiency (decode tokens/s) compare with Mistral-7B's and "
        "Llama-3-8B's on MATH-PT, and what does each cost in GPUs and in quality?",
        "",
        "**How it was measured.** `quantarena --batch` on real MATH-PT pt-BR multiple-choice prompts, batch 1, greedy, "
        "one untimed warm-up answer per run, each run in its own process; the models are the real architectures with "
        "**random weights** (`--synthetic`: the lent GPU machines cannot download checkpoints), so speed and memory are "
        "real and correctness is n/a. decode tok/s = (n_out − 1) / (t_last − t_first) per answer; % of roofline = decode "
        "tok/s ÷ (peak HBM bandwidth ÷ bytes read per token); peak VRAM = NVML peak of the run's process tree; GPU counts "
        "from the engine's sizing module (`quantarena size`, the planner's 5% headroom).",
        "",
        f"![decode speed against GPU memory, best measurement per model × engine × quantization]({picture})",
        "",
        "## Answer",
        "",
        *headline_lines(cells),
        "",
        "Per model:",
        "",
        *best_lines(cells),
        "",
        "Qwen2.5-72B against the small models, scheme by scheme (best batch-1 figure of each):",
        "",
        *comparisons_text(cells),
        "",
        "At batch 1 decode reads every weight once per token, so a bandwidth-bound engine slows down by the weight "
        "ratio; an engine that is slowed by less was held back by something else on the small model (the % of "
        "roofline column says how close each got).",
        "",
        *(["Where the sizing estimate and a measurement disagree on fitting:", "", *capacity_lines(cells), ""]
          if capacity_lines(cells) else []),
        f"## Every measured cell of the study ({n_measured} of {len(cells)}; the others under Missing figures)",
        "",
        "Best batch-1 measurement per model × engine × quantization (highest median decode tok/s over all folders; "
        "p10–p90 over that run's answers). Sizing estimate: `quantarena size` at the context the run allocated, against "
        "its measured process peak. `@compiled`: static cache + torch.compile (CUDA graphs).",
        "",
        *measured_table(cells),
        "",
        "## What each costs in GPUs",
        "",
        "`quantarena size` (engine sizing module) for one sequence at a 4,096- and a 32,768-token context, GPUs of each "
        "type needed (layers split across GPUs when one is not enough; — = the engine has no such quantization):",
        "",
        *sizing_table(cells),
        "",
        "## What each costs in quality",
        "",
        *quality_lines(cells),
        "",
        "For context, the MATH-PT paper's published multiple-choice accuracies (strict rule: one letter in the last "
        "`\\boxed{}`). None of the three models studied here is among them; the nearest are Llama-3.3-70B-Instruct "
        "(the Llama family at 70B, which mostly boxes the option's value instead of its letter) and Qwen3-8B:",
        "",
        "| model (paper) | pt-PT MC | pt-BR MC | source |",
        "| --- | ---: | ---: | --- |",
        *[f"| {m} | {pt} | {br} | {src} |" for m, pt, br, src in PUBLISHED_MC],
        "",
        f"Source: {PAPER}; counts re-scored from {RELEASED} with quantarena's strict grader, which reproduces them "
        "exactly (`tests/engine/grading/test_grading_mc.py`, when `../shared/mathpt/published` is present).",
        "",
        "## Throughput mode (several sequences at once)",
        "",
        *throughput_lines(rows),
        "",
        "## The results folders read",
        "",
        *folders_lines(folders, rows, cells),
        "",
        "## Missing figures",
        "",
        *missing_lines(cells),
        "",
    ]
    if warnings:
        lines += ["## Notes on the data", "", *[f"- {w}" for w in warnings], ""]
    lines += ["Units: tok/s = generated tokens per second; GiB = 2^30 bytes. Definitions: the README's "
              "“What the numbers mean”; raw files and commands: [benchmarks/README.md](../benchmarks/README.md).", ""]
    return "\n".join(lines)


def study_chart(cells: list[Cell]) -> Any:
    """Best batch-1 decode tok/s per engine × quantization, one colour per model (log scale): the
    findings' picture. Cells without a measurement have no mark."""
    import altair as alt

    data = []
    for c in cells:
        b = c.best
        if b is None:
            continue
        data.append({"model": c.model, "scheme": c.scheme, "tok_s": b["decode_tok_s_p50"],
                     "p10": b.get("decode_tok_s_p10") or b["decode_tok_s_p50"], "p90": b.get("decode_tok_s_p90") or b["decode_tok_s_p50"],
                     "roofline": b.get("roofline_pct_p50"), "gib": (b.get("peak_vram_process_mib") or 0) / MIB_PER_GIB or None,
                     "gpu": _short_gpu(b.get("gpu")), "folder": b["folder"]})
    if not data:
        return None
    fastest: dict[str, float] = {}
    for d in data:
        fastest[d["scheme"]] = max(fastest.get(d["scheme"], 0.0), d["tok_s"])
    order = sorted(fastest, key=lambda k: -fastest[k])
    models = list(STUDY_MODELS)
    color = alt.Color("model:N", title="model", scale=alt.Scale(domain=models, range=["#d62728", "#1f77b4", "#2ca02c"]))
    shape = alt.Shape("model:N", title="model", scale=alt.Scale(domain=models, range=["square", "circle", "triangle-up"]))
    y = alt.Y("scheme:N", title=None, sort=order, axis=alt.Axis(labelLimit=300))
    xs = alt.Scale(type="log", domain=[1, 1000])
    base = alt.Chart(alt.Data(values=data))
    rules = base.mark_rule(strokeWidth=2, opacity=0.5).encode(x=alt.X("p10:Q", scale=xs), x2="p90:Q", y=y, color=color)
    pts = base.mark_point(filled=True, size=120, opacity=0.9).encode(
        x=alt.X("tok_s:Q", scale=xs, title="decode tok/s at batch 1 (median, bar p10–p90, log scale)"), y=y,
        color=color, shape=shape,
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("scheme:N", title="engine, quant"), alt.Tooltip("tok_s:Q", format=".1f", title="decode tok/s"),
                 alt.Tooltip("roofline:Q", format=".1f", title="% roofline"), alt.Tooltip("gib:Q", format=".2f", title="process GiB"),
                 alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("folder:N")])
    missing: dict[str, list[str]] = {}
    for c in cells:
        if c.best is None and c.scheme in fastest:
            missing.setdefault(c.scheme, []).append(c.model)
    notes = [{"scheme": k, "x": 1.1, "text": "not measured: " + ", ".join(v)} for k, v in missing.items()]
    layers = rules + pts
    if notes:
        layers += alt.Chart(alt.Data(values=notes)).mark_text(align="left", fontSize=11, color="#b71c1c", fontStyle="italic").encode(
            x=alt.X("x:Q", scale=xs), y=y, text="text:N")
    gpus = sorted({t.split("-")[0] for c in cells if c.best and (t := gpu_type_of(c.best.get("gpu")))})
    return layers.properties(width=560, height=26 * len(order),
                             title="Best committed decode speed: Qwen2.5-72B, Mistral-7B, Llama-3-8B"
                             + (f" ({', '.join(gpus)})" if gpus else ""))


def write_findings(root: Path, docs: Path, catalog: Catalog) -> dict[str, Path]:
    """Write ``findings.md``, ``findings.html`` and ``findings.png`` into ``docs``; return their paths."""
    from cli.report import charts
    from cli.report.comparison import comparisons
    from cli.report.page import Section, build_page
    from cli.report.tables import answer_rows

    folders = study_folders(root)
    rows = run_rows(folders)
    cells = build_study(folders, rows, catalog)
    docs.mkdir(parents=True, exist_ok=True)
    out = {"md": docs / "findings.md", "html": docs / "findings.html", "png": docs / "findings.png"}
    chart = study_chart(cells)
    if chart is not None:
        out["png"].write_bytes(charts.to_png(chart, scale=2))
    md = findings_markdown(folders, rows, cells, picture=out["png"].name, report=out["html"].name)
    out["md"].write_text(md, encoding="utf-8")
    study_html = _markdown_tables_to_html(measured_table(cells))
    page = build_page(folders, rows, answer_rows(folders), comparisons(folders, rows),
                      title="quantarena findings: Qwen2.5-72B against Mistral-7B and Llama-3-8B",
                      intro=f"<p class=note>The study's tables and answer: <code>docs/findings.md</code>, generated with this "
                            f"page by <code>{COMMAND}</code> on {dt.date.today().isoformat()}.</p>",
                      sections=[Section("study", "The study: best batch-1 figure per model × engine × quantization",
                                        study_html, chart)])
    out["html"].write_text(page, encoding="utf-8")
    return out


def _markdown_tables_to_html(lines: list[str]) -> str:
    """The study table (markdown rows) as an HTML table for the page."""
    import html
    import re

    def cell(text: str) -> str:
        t = html.escape(text.strip())
        t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    rows = [ln.strip().strip("|").split("|") for ln in lines if ln.startswith("|")]
    head, body = rows[0], rows[2:]
    out = ["<table><thead><tr>" + "".join(f"<th>{cell(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in body]
    return "\n".join(out + ["</tbody></table>"])
