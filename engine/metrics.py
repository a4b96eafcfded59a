"""Per-generation speed metrics and summary statistics (pure functions).

Definitions follow ``docs/metrics.md`` (the anchors: vLLM bench, optimum-benchmark, llama-bench):

* TTFT (s): submit → first generated token, timed where the backend yields tokens.
* prefill tok/s: prompt tokens / TTFT.
* decode tok/s: (n_out − 1) / (t_last − t_first).
* TPOT and ITL p50/p90/p99 (ms): gaps between consecutive tokens (not stream chunks);
  TPOT = (latency − TTFT) / (n_out − 1).
* end-to-end tok/s: n_out / (t_last − t_submit).

A metric that cannot be computed (e.g. decode tok/s of a 1-token answer) is ``None``, never 0.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), as numpy's default; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(xs[lo])
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None when undefined)."""
    if not values:
        return None, None
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else None
    return m, sd


def generation_metrics(t_submit: float, token_times: Sequence[float], prompt_tokens: int | None,
                       tokens_out: int | None = None) -> dict[str, Any]:
    """Speed metrics of one generation from the submit time and each token's timestamp (s).

    ``tokens_out`` is given when the timestamps are those of stream *chunks* that held that many
    tokens in all (a server's stream; ``None``: one timestamp per token). When the two counts
    differ, the counts use ``tokens_out``: TTFT is the first chunk, decode tok/s
    (n_out − 1) / (t_last − t_first) and TPOT (latency − TTFT) / (n_out − 1) as vLLM's benchmark
    computes them from a server's stream, and the ITL percentiles are None (gaps between chunks
    are not gaps between tokens); ``token_timing`` says ``per chunk``.
    """
    n_times = len(token_times)
    per_chunk = tokens_out is not None and tokens_out != n_times
    n = tokens_out if per_chunk and tokens_out is not None else n_times
    out: dict[str, Any] = {
        "tokens_in": prompt_tokens,
        "tokens_out": n,
        "ttft_s": None,
        "prefill_tok_s": None,
        "decode_tok_s": None,
        "e2e_tok_s": None,
        "tpot_ms": None,
        "itl_p50_ms": None,
        "itl_p90_ms": None,
        "itl_p99_ms": None,
        "latency_s": None,
    }
    if tokens_out is not None:
        out["token_timing"] = "per chunk" if per_chunk else "per token"
    if n_times == 0 or n == 0:
        return out
    ttft = token_times[0] - t_submit
    latency = token_times[-1] - t_submit
    out["ttft_s"] = ttft
    out["latency_s"] = latency
    if ttft > 0 and prompt_tokens:
        out["prefill_tok_s"] = prompt_tokens / ttft
    if latency > 0:
        out["e2e_tok_s"] = n / latency
    if n >= 2:
        span = token_times[-1] - token_times[0]
        if span > 0:
            out["decode_tok_s"] = (n - 1) / span
            out["tpot_ms"] = 1000.0 * (latency - ttft) / (n - 1)
        if not per_chunk:
            gaps = [1000.0 * (b - a) for a, b in zip(token_times, token_times[1:], strict=False)]
            out["itl_p50_ms"] = percentile(gaps, 50)
            out["itl_p90_ms"] = percentile(gaps, 90)
            out["itl_p99_ms"] = percentile(gaps, 99)
    return out


def _clean(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def distribution(values: Sequence[Any]) -> dict[str, float | None]:
    """median, p90, mean, sd, min, max of the numeric values (None entries ignored)."""
    xs = _clean(values)
    m, sd = mean_sd(xs)
    return {
        "median": median(xs),
        "p90": percentile(xs, 90),
        "mean": m,
        "sd": sd,
        "min": min(xs) if xs else None,
        "max": max(xs) if xs else None,
        "n": len(xs),
    }


def max_or_none(values: Sequence[Any]) -> float | None:
    xs = _clean(values)
    return max(xs) if xs else None
