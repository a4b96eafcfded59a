"""Untimed answers right after a run loads: the warm-up, and throughput mode's reference and warm-up batch.

``ask(cap, n, what)`` answers ``n`` copies of the first problem in one call, at most ``cap``
tokens each, not recorded; it returns the answers, or None when the run failed ``during`` what
(the run's status then says why). These functions only decide what to ask and note the facts in
the run's details.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.protocol import Answered
from engine.records import answer_metrics
from engine.run_handle import RunHandle

Ask = Callable[[int, int, str], list[Answered] | None]


def warm_up(h: RunHandle, ask: Ask, *, cap: int) -> None:
    """One untimed answer: kernels build, caches allocate, torch.compile specializes."""
    t0 = time.perf_counter()
    done = ask(cap, 1, "the warm-up answer")
    if done:
        h.details = {**h.details, "warmup_answer_s": round(time.perf_counter() - t0, 3), "warmup_tokens": len(done[0].token_times)}


def throughput_setup(h: RunHandle, ask: Ask, *, concurrency: int, cap: int, warm_cap: int, first: str,
                     stopping: Callable[[], bool]) -> None:
    """Throughput mode: the single-stream reference (the first problem answered alone, at the
    real cap ``cap``, timed but not recorded), then a warm-up of one batch (batched kernels,
    caches and compiled graphs for that batch size are built before the timed batches). A run
    that batches fewer than ``concurrency`` says so (``concurrency_fallback``)."""
    ref = ask(cap, 1, "the single-stream reference answer")
    if ref:
        m = answer_metrics(ref[0])
        h.details = {**h.details, "single_stream": {
            "problem_id": first, "tokens_out": m["tokens_out"], "tokens_in": m["tokens_in"],
            "e2e_tok_s": m["e2e_tok_s"], "decode_tok_s": m["decode_tok_s"], "ttft_s": m["ttft_s"],
        }}
    if h.status != "ok" or stopping():
        return
    k = h.batch_size
    if k < concurrency:
        can = "answers one problem at a time (without batching)" if k == 1 else f"answers at most {k} problems at once"
        h.details = {**h.details, "concurrency": k, "concurrency_fallback": f"{h.run.name}: backend {h.run.backend} {can}"}
        if k == 1:
            return
    t0 = time.perf_counter()
    if ask(warm_cap, k, f"the warm-up batch of {k}"):
        h.details = {**h.details, "concurrency": k, "warmup_batch_s": round(time.perf_counter() - t0, 3)}
