"""One result record (a ``results.jsonl`` line) from a timed answer, and its roofline: pure assembly.

The session gives the facts (the run, the problem, the answer as the run process timed it, the
telemetry window); nothing here measures, samples or grades. In throughput mode an answer's
record carries its batch's figures, and the energy of the batch's window is split by tokens so
that a run's energy sums to what was drawn.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from engine.catalog import ModelSpec, RunSpec
from engine.gpu import gpu_type_from_nvml
from engine.metrics import generation_metrics
from engine.problems import Problem
from engine.protocol import Answered


def base_record(session: str, run: RunSpec, device: str | None, problem: Problem, max_new_tokens: int,
                quality: dict[str, Any] | None) -> dict[str, Any]:
    """The fields every record of ``run`` × ``problem`` has, answered or not."""
    return {
        "session": session,
        "run": run.name, "model": run.model, "backend": run.backend, "quant": run.quant,
        "weights": run.weights, "device": device,
        "problem_id": problem.id, "split": problem.split, "kind": problem.kind,
        "variant": problem.variant, "level": problem.level, "has_figure": problem.has_figure,
        "max_new_tokens": max_new_tokens,
        "quality": quality,
    }


def answer_metrics(answer: Answered) -> dict[str, Any]:
    """TTFT, tok/s and inter-token latencies of one answer (``engine.metrics``)."""
    return generation_metrics(answer.t_submit, answer.token_times, answer.prompt_tokens, answer.tokens_out)


def answer_window(answer: Answered, batched: bool) -> tuple[float, float]:
    """The time span whose telemetry belongs to the answer: its own, or its whole batch's."""
    if batched and answer.batch is not None:
        return answer.batch.t_submit, answer.batch.t_end
    return answer.t_submit, (answer.token_times[-1] if answer.token_times else answer.t_end)


def answer_record(base: dict[str, Any], answer: Answered, metrics: dict[str, Any], tele: dict[str, Any], *,
                  batch_id: int | None, roofline_pct: float | None) -> dict[str, Any]:
    """A record from ``base_record`` plus the answer: its metrics, the backend's fields, the
    telemetry window ``tele`` and, for an answer of a batch (``batch_id`` set), the batch's figures."""
    rec = dict(base)
    batch = answer.batch if batch_id is not None else None
    rec.update(response=answer.response, finish_reason=answer.finish_reason, **metrics)
    rec.update(answer.fields or {})  # the backend's facts about this answer
    rec.update(tele)
    energy = tele.get("energy_j")
    if batch is not None:
        share = (metrics["tokens_out"] / batch.tokens_out) if batch.tokens_out else 0.0
        rec["energy_j"] = energy * share if energy is not None else None
        rec["j_per_token"] = (energy / batch.tokens_out) if energy is not None and batch.tokens_out else None
        wall = batch.t_end - batch.t_submit
        rec.update(batch_id=batch_id, batch_size=batch.size, batch_tokens_out=batch.tokens_out,
                   batch_wall_s=wall, batch_tok_s=(batch.tokens_out / wall) if wall > 0 else None)
    else:
        rec["j_per_token"] = (energy / metrics["tokens_out"]) if energy is not None and metrics["tokens_out"] else None
    mem = answer.memory or {}
    rec["torch_peak_allocated_mib"] = mem.get("torch_peak_allocated_mib")
    rec["torch_peak_reserved_mib"] = mem.get("torch_peak_reserved_mib")
    # the roofline is a batch-1 ceiling (weights read once per token); a batch reads them once
    # per step for all its sequences, so a per-sequence percentage would mislead
    rec["roofline_pct"] = None if batch is not None else roofline_pct
    rec["timestamp"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return rec


def roofline(model: ModelSpec, run: RunSpec, details: dict[str, Any], gpu: Any, metrics: dict[str, Any]) -> float | None:
    """Decode tok/s as % of the memory-bandwidth ceiling of the run's GPU (an NVML sample with
    ``name`` and ``mem_total_mib``; None for an unknown GPU or scheme). The KV cache's dtype is
    the one the loaded run reports."""
    if metrics.get("decode_tok_s") is None:
        return None
    gtype = gpu_type_from_nvml(gpu.name, gpu.mem_total_mib)
    if gtype is None:
        return None
    try:
        from engine.sizing.roofline import roofline_pct

        pos = (metrics.get("tokens_in") or 0) + (metrics.get("tokens_out") or 0) // 2
        kv = details.get("kv_cache_type")
        return roofline_pct(metrics["decode_tok_s"], model.arch, run.backend, run.quant, gtype, pos, kv_dtype=kv)
    except Exception:  # an unknown scheme must not cost the measurement
        return None


def grade(rec: dict[str, Any], problem: Problem, grader: Any, *, synthetic: bool) -> None:
    """The verdict fields of a record, in place: skipped, n/a for random weights, else the
    grader's; a grader error costs the verdict ("ungraded"), never the record."""
    if rec.get("finish_reason") == "skipped":
        rec.update(verdict="skipped", strict_verdict="skipped", extracted=None, gold=problem.answer, grade_reason="skipped by the user")
    elif synthetic:
        rec.update(verdict="n/a", strict_verdict="n/a", extracted=None, gold=None, grade_reason="synthetic weights: correctness is not applicable")
    else:
        try:
            rec.update(grader.grade(problem, rec["response"]).record_fields())
        except Exception as e:  # the grader must never lose a result
            rec.update(verdict="ungraded", strict_verdict="ungraded", extracted=None, gold=problem.answer, grade_reason=f"grader error: {e}")
