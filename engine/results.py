"""Writing results: ``results.jsonl`` as it goes, ``summary.json`` and ``summary.md`` at the end.

``results.jsonl`` has one line per run × problem, flushed after each, so an interrupted session
keeps every answer that finished. The summary has one row per run (accuracy with its counts,
median and p90 of TTFT and decode tok/s, peak VRAM, load time, ...), the accuracy tables, the
session's settings and the ``environment`` block.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from engine.metrics import distribution, max_or_none

SCHEMA_VERSION = 1


class ResultsWriter:
    """Appends records to ``results.jsonl`` (thread-safe, flushed per line)."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "results.jsonl"
        self._f = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=_json_default)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()
            self.records.append(record)

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


def _count(records: list[dict[str, Any]], key: str, value: Any) -> int:
    return sum(1 for r in records if r.get(key) == value)


def run_summary(run: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary row for a run from its static facts and its result records."""
    answered = [r for r in records if r.get("finish_reason") != "skipped"]
    correct = _count(answered, "verdict", "correct")
    incorrect = _count(answered, "verdict", "incorrect")
    graded = correct + incorrect
    strict_correct = _count(answered, "strict_verdict", "correct")
    # the paper's strict score: a single letter in the last box, anything else (unparsed included) wrong
    strict_graded = sum(1 for r in answered if r.get("strict_verdict") in ("correct", "incorrect", "unparsed"))
    ttft = distribution([r.get("ttft_s") for r in answered])
    dec = distribution([r.get("decode_tok_s") for r in answered])
    e2e = distribution([r.get("e2e_tok_s") for r in answered])
    itl = distribution([r.get("itl_p50_ms") for r in answered])
    energy = [r.get("energy_j") for r in answered]
    tokens = sum(int(r.get("tokens_out") or 0) for r in answered)
    e_total = sum(e for e in energy if isinstance(e, (int, float)))
    has_energy = any(isinstance(e, (int, float)) for e in energy)
    roof = distribution([r.get("roofline_pct") for r in answered])
    row = {
        **run,
        "problems": len(answered),
        "skipped": len(records) - len(answered),
        "accuracy": (correct / graded) if graded else None,
        "strict_accuracy": (strict_correct / strict_graded) if strict_graded else None,
        "correct": correct,
        "incorrect": incorrect,
        "graded": graded,
        "unparsed": _count(answered, "verdict", "unparsed"),
        "ungraded": _count(answered, "verdict", "ungraded"),
        "not_applicable": _count(answered, "verdict", "n/a"),
        "truncated": _count(answered, "finish_reason", "length"),
        "ttft_s_median": ttft["median"],
        "ttft_s_p90": ttft["p90"],
        "decode_tok_s_median": dec["median"],
        "decode_tok_s_p90": dec["p90"],
        "decode_tok_s_mean": dec["mean"],
        "decode_tok_s_sd": dec["sd"],
        "e2e_tok_s_median": e2e["median"],
        "itl_p50_ms_median": itl["median"],
        "tokens_out_total": tokens,
        "peak_vram_mib": max_or_none([r.get("peak_vram_mib") for r in answered]),
        "peak_vram_process_mib": max_or_none([r.get("peak_vram_process_mib") for r in answered]),
        "torch_peak_allocated_mib": max_or_none([r.get("torch_peak_allocated_mib") for r in answered]),
        "gpu_util_pct_mean": distribution([r.get("gpu_util_pct") for r in answered])["mean"],
        "rss_mib_peak": max_or_none([r.get("rss_mib") for r in answered]),
        "j_per_token": (e_total / tokens) if has_energy and tokens else None,
        "roofline_pct_median": roof["median"],
    }
    return row


def _fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "N/A"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _pct(v: float | None) -> str:
    return "N/A" if v is None else f"{100 * v:.1f}%"


SUMMARY_COLUMNS = (
    ("run", "run"), ("status", "status"), ("device", "device"), ("accuracy", "acc"),
    ("strict_accuracy", "strict acc"), ("graded", "graded"), ("unparsed", "unparsed"),
    ("truncated", "truncated"), ("ttft_s_median", "TTFT p50 s"), ("ttft_s_p90", "TTFT p90 s"),
    ("decode_tok_s_median", "decode tok/s p50"), ("decode_tok_s_p90", "decode tok/s p90"),
    ("peak_vram_mib", "peak VRAM MiB"), ("rss_mib_peak", "peak RSS MiB"), ("j_per_token", "J/token"),
    ("load_s", "load s"),
)


def summary_markdown(summary: dict[str, Any]) -> str:
    rows = summary["runs"]
    lines = ["# quantarena summary", ""]
    s = summary["settings"]
    lines.append(
        f"Dataset `{s.get('dataset')}`, {s.get('problems')} problems, max_new_tokens {s.get('max_new_tokens')}, "
        f"seed {s.get('seed')}, {'greedy' if not s.get('temperature') else 'temperature ' + str(s.get('temperature'))}."
        + (" Interrupted: results cover what finished." if summary.get("interrupted") else "")
    )
    lines.append("")
    lines.append("| " + " | ".join(h for _, h in SUMMARY_COLUMNS) + " |")
    lines.append("|" + "---|" * len(SUMMARY_COLUMNS))
    for r in rows:
        cells = []
        for key, _ in SUMMARY_COLUMNS:
            v = r.get(key)
            if key in ("accuracy", "strict_accuracy"):
                cells.append(_pct(v) if r.get("graded") or key == "strict_accuracy" else "n/a")
            elif key == "j_per_token":
                cells.append(_fmt(v, ".3f"))
            elif key in ("ttft_s_median", "ttft_s_p90", "load_s"):
                cells.append(_fmt(v, ".3f"))
            elif key in ("peak_vram_mib", "rss_mib_peak"):
                cells.append(_fmt(v, ".0f"))
            else:
                cells.append(_fmt(v))
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in rows if r.get("status") not in ("ok",)]
    if failed:
        lines += ["", "## Runs that did not complete", ""]
        for r in failed:
            lines.append(f"- `{r['run']}`: {r.get('status')} — {r.get('reason') or ''}")
    if summary.get("accuracy_markdown"):
        lines += ["", "## Accuracy tables", "", summary["accuracy_markdown"]]
    env = summary.get("environment", {})
    lines += [
        "",
        "## Environment",
        "",
        f"- CPU: {env.get('cpu')} ({env.get('cpu_cores_physical')} cores / {env.get('cpu_cores_logical')} threads), RAM {env.get('ram_gib')} GiB",
        f"- GPUs: {', '.join(g['name'] for g in env.get('gpus', [])) or 'none'}; driver {env.get('gpu_driver') or 'N/A'}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items() if v),
        f"- git commit: {env.get('git_commit') or 'N/A'}",
        "",
        "Units: s = seconds, tok/s = generated tokens per second, MiB = 2^20 bytes. Definitions: README, 'What the numbers mean'.",
    ]
    return "\n".join(lines) + "\n"


def write_summary(out_dir: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    js = out_dir / "summary.json"
    md = out_dir / "summary.md"
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")
    tmp.replace(js)
    md.write_text(summary_markdown(summary), encoding="utf-8")
    return js, md


def read_results(path: Path) -> list[dict[str, Any]]:
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out
