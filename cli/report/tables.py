"""The report's two tables: one row per run and one row per answer, and their CSV/Parquet files.

Every column is declared once in :data:`RUN_COLUMNS` / :data:`ANSWER_COLUMNS` with its type, unit
and meaning (``docs/report.md`` lists them). A value that a folder does not have (an older
version, a CPU run, a run that failed) is ``None``: an empty CSV cell, a Parquet null, N/A on
the page — never 0. Run statistics come from the answers with the engine's own definitions
(:func:`engine.results.run_summary`), plus p10/p50/p90 spreads.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from cli.report.folders import ResultsFolder
from engine.metrics import percentile
from engine.results import run_summary

MIB_PER_GIB = 1024.0
QUALITY_FIELDS = ("reference", "ppl", "kld_mean", "kld_p99", "top1_pct", "tokens")


class Column(NamedTuple):
    name: str
    kind: str  # str | int | float | bool
    unit: str
    doc: str


def _c(name: str, kind: str, unit: str, doc: str) -> Column:
    return Column(name, kind, unit, doc)


RUN_COLUMNS: tuple[Column, ...] = (
    _c("key", "str", "", "unique id of the row in this report: `folder · run`"),
    _c("folder", "str", "", "results folder (its name, or its path below the folders' common parent)"),
    _c("session", "str", "", "session id written by the session (`YYYYMMDD-HHMMSS-xxxxxx`)"),
    _c("run", "str", "", "run id `model/backend/quant[@tag]`"),
    _c("model", "str", "", "catalog model name"),
    _c("backend", "str", "", "engine: llama.cpp, transformers, quanto, bitsandbytes, ..."),
    _c("quant", "str", "", "quantization"),
    _c("tag", "str", "", "run variant after `@` (e.g. `compiled`), empty for the plain run"),
    _c("weights", "str", "", "`real` or `synthetic` (random weights: correctness n/a)"),
    _c("status", "str", "", "ok, failed, unsupported, interrupted ... (N/A when the folder has no summary)"),
    _c("reason", "str", "", "why a run did not complete"),
    _c("device", "str", "", "where it ran: cpu, cuda:0, cuda:0,1"),
    _c("gpu", "str", "", "GPU model(s) the run used, e.g. `2× NVIDIA H200`"),
    _c("gpus", "int", "", "number of GPUs the run used (0 on the CPU)"),
    _c("library", "str", "", "the backend's library versions as it reported them"),
    _c("dataset", "str", "", "the session's dataset"),
    _c("max_new_tokens", "int", "tokens", "the session's token cap per answer"),
    _c("fixed_length", "bool", "", "decoded exactly max_new_tokens tokens (EOS ignored)"),
    _c("concurrency", "int", "sequences", "throughput mode batch size (`--concurrency N`); empty at batch 1"),
    _c("problems", "int", "", "answers recorded (skipped ones excluded)"),
    _c("accuracy", "float", "fraction", "correct / graded (graded = correct + incorrect); empty when nothing was graded"),
    _c("strict_accuracy", "float", "fraction", "the MATH-PT paper's rule: a single letter in the last \\boxed{}"),
    _c("correct", "int", "", "answers graded correct"),
    _c("graded", "int", "", "answers graded correct or incorrect"),
    _c("unparsed", "int", "", "answers with no final answer found"),
    _c("not_applicable", "int", "", "answers whose correctness is n/a (synthetic weights)"),
    _c("truncated", "int", "", "answers that hit the token cap"),
    _c("decode_tok_s_p10", "float", "tok/s", "decode tok/s, 10th percentile over the answers: (n_out − 1) / (t_last − t_first)"),
    _c("decode_tok_s_p50", "float", "tok/s", "decode tok/s, median over the answers"),
    _c("decode_tok_s_p90", "float", "tok/s", "decode tok/s, 90th percentile"),
    _c("roofline_pct_p10", "float", "%", "decode tok/s as % of the memory-bandwidth roofline, 10th percentile"),
    _c("roofline_pct_p50", "float", "%", "% of the roofline, median"),
    _c("roofline_pct_p90", "float", "%", "% of the roofline, 90th percentile"),
    _c("ttft_s_p10", "float", "s", "time to first token (submit → first token), 10th percentile"),
    _c("ttft_s_p50", "float", "s", "TTFT, median"),
    _c("ttft_s_p90", "float", "s", "TTFT, 90th percentile"),
    _c("e2e_tok_s_p50", "float", "tok/s", "end-to-end tok/s n_out / (t_last − t_submit), median"),
    _c("itl_p50_ms_p50", "float", "ms", "median over the answers of each answer's median inter-token gap"),
    _c("aggregate_tok_s", "float", "tok/s", "throughput mode: all sequences' tokens / the batches' wall time"),
    _c("single_stream_tok_s", "float", "tok/s", "throughput mode: one answer alone, end-to-end tok/s"),
    _c("peak_vram_process_mib", "float", "MiB", "peak NVML memory of the run's process tree (its own)"),
    _c("peak_vram_mib", "float", "MiB", "peak NVML memory used on the run's GPUs (includes other runs sharing them)"),
    _c("vram_estimate_mib", "float", "MiB", "the sizing estimate the session placed the run with (`quantarena plan`)"),
    _c("vram_estimate_error_pct", "float", "%", "(estimate − measured process peak) / measured process peak"),
    _c("torch_peak_allocated_mib", "float", "MiB", "torch allocator peak (torch backends only)"),
    _c("j_per_token", "float", "J/token", "GPU energy (NVML counter) per generated token"),
    _c("gpu_util_pct_mean", "float", "%", "NVML utilization.gpu, mean over the answers"),
    _c("rss_mib_peak", "float", "MiB", "peak resident memory of the run's process"),
    _c("load_s", "float", "s", "model load time"),
    _c("quality_reference", "str", "", "quality: the reference run the divergence is taken against"),
    _c("quality_ppl", "float", "", "quality: perplexity of the reference solutions"),
    _c("quality_kld_mean", "float", "nats", "quality: mean KL divergence from the reference (llama-perplexity `Mean KLD`)"),
    _c("quality_kld_p99", "float", "nats", "quality: 99th percentile of the per-token KLD"),
    _c("quality_top1_pct", "float", "%", "quality: % of positions whose top token equals the reference's (`Same top p`)"),
    _c("quality_tokens", "int", "tokens", "quality: tokens scored"),
)

ANSWER_COLUMNS: tuple[Column, ...] = (
    _c("key", "str", "", "the run's row key in the run table (`folder · run`)"),
    _c("folder", "str", "", "results folder"),
    _c("session", "str", "", "session id"),
    _c("run", "str", "", "run id"),
    _c("problem_id", "str", "", "`split/index`, e.g. `ptbr_multiple_choice/12`, `builtin/3`"),
    _c("split", "str", "", "MATH-PT split (or builtin)"),
    _c("level", "int", "", "difficulty level"),
    _c("has_figure", "bool", "", "the problem has a figure"),
    _c("verdict", "str", "", "correct, incorrect, unparsed, ungraded, n/a, skipped"),
    _c("strict_verdict", "str", "", "the paper's strict reading"),
    _c("extracted", "str", "", "the answer read from the response"),
    _c("gold", "str", "", "the gold answer"),
    _c("grade_reason", "str", "", "how the grader read the answer, or why it could not"),
    _c("finish_reason", "str", "", "stop or length (hit the cap)"),
    _c("tokens_in", "int", "tokens", "prompt tokens"),
    _c("tokens_out", "int", "tokens", "generated tokens"),
    _c("ttft_s", "float", "s", "time to first token"),
    _c("prefill_tok_s", "float", "tok/s", "prompt tokens / TTFT"),
    _c("decode_tok_s", "float", "tok/s", "(n_out − 1) / (t_last − t_first)"),
    _c("e2e_tok_s", "float", "tok/s", "n_out / (t_last − t_submit)"),
    _c("tpot_ms", "float", "ms", "(latency − TTFT) / (n_out − 1)"),
    _c("itl_p50_ms", "float", "ms", "median gap between consecutive tokens"),
    _c("itl_p99_ms", "float", "ms", "99th percentile gap between consecutive tokens"),
    _c("roofline_pct", "float", "%", "decode tok/s as % of the memory-bandwidth roofline"),
    _c("peak_vram_process_mib", "float", "MiB", "peak NVML memory of the run's process tree during the answer"),
    _c("peak_vram_mib", "float", "MiB", "peak NVML memory used on the run's GPUs during the answer"),
    _c("gpu_util_pct", "float", "%", "NVML utilization.gpu, mean over the answer"),
    _c("energy_j", "float", "J", "GPU energy of the answer"),
    _c("j_per_token", "float", "J/token", "energy_j / tokens_out"),
    _c("batch_size", "int", "sequences", "throughput mode: sequences in this answer's batch"),
    _c("timestamp", "str", "", "when the answer was recorded (UTC, ISO 8601)"),
    _c("response", "str", "", "the answer text"),
)


def parse_run(name: str) -> tuple[str | None, str | None, str | None, str | None]:
    """``model/backend/quant@tag`` -> its four parts (None where absent)."""
    base, _, tag = name.partition("@")
    parts = base.split("/")
    parts += [""] * (3 - len(parts))
    return (parts[0] or None, parts[1] or None, "/".join(parts[2:]) or None, tag or None)


def _spread(values: Iterable[Any]) -> tuple[float | None, float | None, float | None]:
    xs = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return percentile(xs, 10), percentile(xs, 50), percentile(xs, 90)


def _gpu_label(folder: ResultsFolder, gpus: Any) -> tuple[str | None, int]:
    if not isinstance(gpus, list) or not gpus:
        return None, 0
    by_index = {g.get("index"): g.get("name") for g in folder.environment.get("gpus") or [] if isinstance(g, dict)}
    names = [by_index.get(i) for i in gpus]
    if any(n is None for n in names):
        return None, len(gpus)
    uniq = sorted({str(n) for n in names})
    label = ", ".join(str(n) for n in uniq) if len(uniq) > 1 else str(uniq[0])
    return (f"{len(gpus)}× {label}" if len(gpus) > 1 else label), len(gpus)


def quality_block(folder: ResultsFolder, row: dict[str, Any]) -> dict[str, Any] | None:
    """The run's ``quality`` block: on its summary row, or in a top-level ``quality`` keyed by run."""
    q = row.get("quality")
    if not isinstance(q, dict):
        top = (folder.summary or {}).get("quality")
        q = top.get(row.get("run")) if isinstance(top, dict) else None
    return q if isinstance(q, dict) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def run_rows(folders: list[ResultsFolder]) -> list[dict[str, Any]]:
    """One row per run per folder, with every column of :data:`RUN_COLUMNS`."""
    rows: list[dict[str, Any]] = []
    for folder in folders:
        by_run: dict[str, list[dict[str, Any]]] = {}
        for rec in folder.records:
            by_run.setdefault(str(rec.get("run")), []).append(rec)
        s = folder.settings
        for static in folder.run_rows():
            name = static["run"]
            recs = by_run.get(name, [])
            answered = [r for r in recs if r.get("finish_reason") != "skipped"]
            raw_details = static.get("details")
            details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
            summ = run_summary({"details": details}, recs)
            d10, d50, d90 = _spread(r.get("decode_tok_s") for r in answered)
            r10, r50, r90 = _spread(r.get("roofline_pct") for r in answered)
            t10, t50, t90 = _spread(r.get("ttft_s") for r in answered)
            gpu, ngpus = _gpu_label(folder, static.get("gpus"))
            placement = folder.placement(name)
            est = _num((placement or {}).get("total_gib"))
            est_mib = est * MIB_PER_GIB if est is not None else None
            proc = summ["peak_vram_process_mib"]
            q = quality_block(folder, static) or {}
            model, backend, quant, tag = parse_run(name)
            row = {
                "key": f"{folder.label} · {name}",
                "folder": folder.label,
                "session": folder.session,
                "run": name,
                "model": static.get("model") or model,
                "backend": static.get("backend") or backend,
                "quant": static.get("quant") or quant,
                "tag": tag,
                "weights": static.get("weights") or next((r.get("weights") for r in recs if r.get("weights")), None),
                "status": static.get("status"),
                "reason": static.get("reason"),
                "device": static.get("device"),
                "gpu": gpu,
                "gpus": ngpus if static.get("gpus") is not None or static.get("device") == "cpu" else None,
                "library": details.get("library"),
                "dataset": s.get("dataset"),
                "max_new_tokens": s.get("max_new_tokens"),
                "fixed_length": s.get("fixed_length"),
                "concurrency": summ["concurrency"],
                "problems": summ["problems"] if recs else static.get("problems"),
                "accuracy": summ["accuracy"] if recs else static.get("accuracy"),
                "strict_accuracy": summ["strict_accuracy"] if recs else static.get("strict_accuracy"),
                "correct": summ["correct"] if recs else static.get("correct"),
                "graded": summ["graded"] if recs else static.get("graded"),
                "unparsed": summ["unparsed"] if recs else static.get("unparsed"),
                "not_applicable": summ["not_applicable"] if recs else static.get("not_applicable"),
                "truncated": summ["truncated"] if recs else static.get("truncated"),
                "decode_tok_s_p10": d10, "decode_tok_s_p50": d50 if recs else static.get("decode_tok_s_median"),
                "decode_tok_s_p90": d90,
                "roofline_pct_p10": r10, "roofline_pct_p50": r50 if recs else static.get("roofline_pct_median"),
                "roofline_pct_p90": r90,
                "ttft_s_p10": t10, "ttft_s_p50": t50 if recs else static.get("ttft_s_median"), "ttft_s_p90": t90,
                "e2e_tok_s_p50": summ["e2e_tok_s_median"],
                "itl_p50_ms_p50": summ["itl_p50_ms_median"],
                "aggregate_tok_s": summ["aggregate_tok_s"],
                "single_stream_tok_s": _num(summ["single_stream_tok_s"]),
                "peak_vram_process_mib": proc if recs else static.get("peak_vram_process_mib"),
                "peak_vram_mib": summ["peak_vram_mib"] if recs else static.get("peak_vram_mib"),
                "vram_estimate_mib": est_mib,
                "vram_estimate_error_pct": (100.0 * (est_mib - proc) / proc) if est_mib is not None and proc else None,
                "torch_peak_allocated_mib": summ["torch_peak_allocated_mib"],
                "j_per_token": summ["j_per_token"] if recs else static.get("j_per_token"),
                "gpu_util_pct_mean": summ["gpu_util_pct_mean"],
                "rss_mib_peak": summ["rss_mib_peak"],
                "load_s": _num(static.get("load_s")),
                **{f"quality_{k}": q.get(k) for k in QUALITY_FIELDS},
            }
            rows.append(row)
    return rows


def answer_rows(folders: list[ResultsFolder]) -> list[dict[str, Any]]:
    """One row per recorded answer, with every column of :data:`ANSWER_COLUMNS`."""
    out = []
    names = [c.name for c in ANSWER_COLUMNS]
    for folder in folders:
        for rec in folder.records:
            row = {n: rec.get(n) for n in names}
            row.update(key=f"{folder.label} · {rec.get('run')}", folder=folder.label,
                       session=rec.get("session") or folder.session)
            out.append(row)
    return out


def _cell(v: Any, kind: str) -> Any:
    if v is None:
        return ""
    if kind == "float" and isinstance(v, (int, float)):
        return repr(float(v))
    if isinstance(v, (list, dict)):
        return str(v)
    return v


def write_csv(rows: list[dict[str, Any]], columns: tuple[Column, ...], path: Path) -> Path:
    """``path`` with a header row of the column names; N/A is an empty cell (pandas: NaN)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([c.name for c in columns])
        for r in rows:
            w.writerow([_cell(r.get(c.name), c.kind) for c in columns])
    return path


def answers_csv_path(runs_csv: Path) -> Path:
    """Where the answer table goes beside ``--csv runs.csv``: ``runs-answers.csv``."""
    p = Path(runs_csv)
    return p.with_name(f"{p.stem}-answers{p.suffix or '.csv'}")


def _typed(v: Any, kind: str) -> Any:
    if v is None:
        return None
    try:
        if kind == "float":
            return float(v)
        if kind == "int":
            return int(v)
        if kind == "bool":
            return bool(v)
    except (TypeError, ValueError):
        return None
    return v if isinstance(v, str) else str(v)


def write_parquet(rows: list[dict[str, Any]], columns: tuple[Column, ...], path: Path) -> Path:
    """A Parquet file with one typed column per :class:`Column` (needs pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    schema = pa.schema([pa.field(c.name, types[c.kind], metadata={"unit": c.unit, "doc": c.doc}) for c in columns])
    data = {c.name: [_typed(r.get(c.name), c.kind) for r in rows] for c in columns}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data, schema=schema), path)
    return path


def columns_markdown() -> str:
    """The column reference of both tables (``docs/report.md``)."""
    lines = []
    for title, cols in (("Runs (`--csv runs.csv`, `runs.parquet`)", RUN_COLUMNS),
                        ("Answers (`runs-answers.csv`, `answers.parquet`)", ANSWER_COLUMNS)):
        lines += [f"### {title}", "", "| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.kind} | {c.unit} | {c.doc.replace('|', '/')} |" for c in cols]
        lines.append("")
    return "\n".join(lines)
