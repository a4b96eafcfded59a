"""Speed metrics from token timestamps, as defined in the README (vLLM / optimum-benchmark)."""

from __future__ import annotations

import pytest

from engine.metrics import distribution, generation_metrics, percentile


def test_generation_metrics_definitions() -> None:
    # submit at 10.0; first token at 10.5; then 4 more tokens 0.1 s apart
    times = [10.5, 10.6, 10.7, 10.8, 10.9]
    m = generation_metrics(10.0, times, prompt_tokens=100)
    assert m["ttft_s"] == pytest.approx(0.5)
    assert m["prefill_tok_s"] == pytest.approx(200.0)
    assert m["decode_tok_s"] == pytest.approx(4 / 0.4)
    assert m["e2e_tok_s"] == pytest.approx(5 / 0.9)
    assert m["tpot_ms"] == pytest.approx(100.0)
    assert m["itl_p50_ms"] == pytest.approx(100.0)
    assert m["latency_s"] == pytest.approx(0.9)
    assert m["tokens_out"] == 5 and m["tokens_in"] == 100


def test_single_and_zero_tokens_give_none_not_zero() -> None:
    one = generation_metrics(0.0, [0.2], prompt_tokens=3)
    assert one["ttft_s"] == pytest.approx(0.2)
    assert one["decode_tok_s"] is None and one["itl_p50_ms"] is None and one["tpot_ms"] is None
    none = generation_metrics(0.0, [], prompt_tokens=3)
    assert none["ttft_s"] is None and none["e2e_tok_s"] is None and none["tokens_out"] == 0


def test_itl_percentiles_use_gaps_between_tokens() -> None:
    times = [1.0, 1.01, 1.02, 1.03, 1.53]  # one slow gap of 500 ms
    m = generation_metrics(0.9, times, prompt_tokens=1)
    assert m["itl_p50_ms"] == pytest.approx(10.0)
    assert m["itl_p99_ms"] > 400


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([], 50) is None
    assert percentile([7], 99) == 7


def test_distribution_ignores_none_and_reports_sd() -> None:
    d = distribution([1.0, None, 3.0])
    assert d["median"] == 2.0 and d["n"] == 2 and d["sd"] == pytest.approx(1.4142, rel=1e-3)
    assert distribution([None])["median"] is None


def test_chunk_times_with_a_token_count() -> None:
    # 3 chunks holding 6 tokens in all (a server's stream): counts from the tokens, no ITL
    m = generation_metrics(10.0, [10.5, 11.0, 11.5], 20, tokens_out=6)
    assert m["tokens_out"] == 6 and m["token_timing"] == "per chunk"
    assert m["ttft_s"] == 0.5 and m["decode_tok_s"] == 5 / 1.0 and m["e2e_tok_s"] == 6 / 1.5
    assert m["tpot_ms"] == 1000.0 * 1.0 / 5
    assert m["itl_p50_ms"] is None and m["itl_p90_ms"] is None and m["itl_p99_ms"] is None
    # as many tokens as chunks: the times are per token
    m = generation_metrics(10.0, [10.5, 11.0, 11.5], None, tokens_out=3)
    assert m["token_timing"] == "per token" and m["itl_p50_ms"] == 500.0 and m["tokens_in"] is None
    assert m["prefill_tok_s"] is None  # prompt tokens unknown: N/A, never 0
    # everything in one chunk: decode speed cannot be measured
    m = generation_metrics(10.0, [11.0], 20, tokens_out=40)
    assert m["tokens_out"] == 40 and m["decode_tok_s"] is None and m["tpot_ms"] is None and m["e2e_tok_s"] == 40.0
    # local engines pass no count: records unchanged
    assert "token_timing" not in generation_metrics(10.0, [10.5, 11.0], 20)
