"""KLD, 99% KLD, same top p and perplexity by hand on tiny logit arrays, as llama-perplexity defines them."""

from __future__ import annotations

import math
from array import array

import pytest

from engine.quality import (
    LOGP_FLOOR,
    Scored,
    compare,
    percentile,
    position_kld,
    prompt_digest,
    summarize,
)


def log_softmax(logits: list[float]) -> list[float]:
    m = max(logits)
    lse = m + math.log(sum(math.exp(x - m) for x in logits))
    return [x - lse for x in logits]


# three positions over a 4-token vocabulary: the reference (base) and a quantized run's logits
BASE = [[2.0, 1.0, 0.0, -1.0], [0.5, 0.4, 3.0, 0.0], [1.0, 1.2, 0.9, -2.0]]
TEST = [[1.8, 1.1, 0.2, -1.0], [0.6, 0.3, 2.5, 0.2], [1.3, 1.0, 0.9, -1.5]]
TARGETS = [0, 2, 1]  # the text's next token at each position


def scored(rows: list[list[float]], targets: list[int], *, top_k: int = 0, at_ids: list[int] | None = None) -> Scored:
    """What a backend returns for these logits: full log-softmax, top-k and log-probs at given ids."""
    lps = [log_softmax(r) for r in rows]
    out = Scored(tokens=list(targets), target_logprobs=array("f", [lp[t] for lp, t in zip(lps, targets, strict=True)]),
                 argmax=[max(range(len(r)), key=r.__getitem__) for r in rows], n_vocab=len(rows[0]), text_bytes=10,
                 prompt_tokens=5, prompt_digest=prompt_digest([1, 2, 3, 4, 5]))
    if top_k:
        out.top_k = top_k
        for lp in lps:
            best = sorted(range(len(lp)), key=lambda i: -lp[i])[:top_k]
            out.top_ids.extend(best)  # type: ignore[attr-defined]
            out.top_logprobs.extend(lp[i] for i in best)  # type: ignore[attr-defined]
    if at_ids is not None:
        k = len(at_ids) // len(rows)
        out.at_k = k
        for t, lp in enumerate(lps):
            out.at_logprobs.extend(lp[i] for i in at_ids[t * k : (t + 1) * k])  # type: ignore[attr-defined]
    return out


def llama_perplexity_kld(base_logits: list[float], logits: list[float]) -> float:
    """tools/perplexity/perplexity.cpp, log_softmax(..., kl_divergence_result&): sum over the vocabulary of
    p_base * (log p_base - log q), skipping base log-probs <= -16."""
    lb, lq = log_softmax(base_logits), log_softmax(logits)
    return sum(math.exp(b) * (b - q) for b, q in zip(lb, lq, strict=True) if b > -16)


def test_kld_top1_ppl_by_hand_match_llama_perplexity() -> None:
    ref = scored(BASE, TARGETS, top_k=4)  # k covers the vocabulary: the sum is llama.cpp's, exactly
    run = scored(TEST, TARGETS, at_ids=list(ref.top_ids))
    q = compare(run, ref)
    # by hand, position 0: softmax of [2, 1, 0, -1] and [1.8, 1.1, 0.2, -1.0]
    p0 = [math.exp(x) / sum(math.exp(y) for y in BASE[0]) for x in BASE[0]]
    q0 = [math.exp(x) / sum(math.exp(y) for y in TEST[0]) for x in TEST[0]]
    hand0 = sum(p * math.log(p / qq) for p, qq in zip(p0, q0, strict=True))
    assert q.kld[0] == pytest.approx(hand0, abs=1e-6)
    expected = [llama_perplexity_kld(b, t) for b, t in zip(BASE, TEST, strict=True)]
    assert q.kld == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx([0.0123874, 0.0261589, 0.0239938], abs=1e-6)  # pinned
    # "Same top p": the arg-max agrees at positions 0 and 1 (token 0, token 2), not at 2 (1 vs 0)
    assert q.same_top == [True, True, False]
    f = q.fields()
    assert f["kld_mean"] == pytest.approx(sum(expected) / 3, abs=1e-6)
    assert f["top1_pct"] == pytest.approx(200 / 3)
    # Mean PPL(Q) = exp(mean -log q(next token)); PPL(base) the same with the reference's
    nll = [-log_softmax(r)[t] for r, t in zip(TEST, TARGETS, strict=True)]
    assert f["ppl"] == pytest.approx(math.exp(sum(nll) / 3), rel=1e-6)
    assert f["ppl_ref"] == pytest.approx(math.exp(sum(-log_softmax(r)[t] for r, t in zip(BASE, TARGETS, strict=True)) / 3), rel=1e-6)
    assert f["ppl_byte"] == pytest.approx(math.exp(sum(nll) / 10), rel=1e-6)
    # 99.0% KLD: sorted values, p = 0.99 (n - 1) = 1.98, linear between the 2nd and 3rd smallest
    s = sorted(expected)
    assert f["kld_p99"] == pytest.approx(0.02 * s[1] + 0.98 * s[2], abs=1e-6)


def test_the_reference_against_itself_is_zero() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    same = scored(BASE, TARGETS, at_ids=list(ref.top_ids))
    f = compare(same, ref).fields()
    assert f["kld_mean"] == pytest.approx(0.0, abs=1e-7) and f["kld_p99"] == pytest.approx(0.0, abs=1e-7)
    assert f["top1_pct"] == 100.0 and f["ppl"] == pytest.approx(f["ppl_ref"])


def test_tokens_below_the_log_prob_floor_are_skipped_like_llama_cpp() -> None:
    base = [0.0, -40.0]  # log p of token 1 is about -40: left out of the sum
    test = [0.0, -2.0]
    lb, lt = log_softmax(base), log_softmax(test)
    assert lb[1] < LOGP_FLOOR
    assert position_kld(lb, lt) == pytest.approx(math.exp(lb[0]) * (lb[0] - lt[0]), abs=1e-9)
    assert position_kld(lb, lt) == pytest.approx(llama_perplexity_kld(base, test), abs=1e-9)


def test_top_k_with_the_rest_bucket_is_a_lower_bound_and_exact_at_full_k() -> None:
    base = [3.0, 2.0, 1.0, 0.5, 0.0, -0.5]
    test = [2.5, 2.2, 0.4, 1.0, 0.3, -1.0]
    lb, lt = log_softmax(base), log_softmax(test)
    full = llama_perplexity_kld(base, test)
    order = sorted(range(6), key=lambda i: -lb[i])
    assert position_kld([lb[i] for i in order], [lt[i] for i in order]) == pytest.approx(full, abs=1e-9)
    for k in (1, 2, 3, 5):
        ids = order[:k]
        approx = position_kld([lb[i] for i in ids], [lt[i] for i in ids])
        p_rest = 1 - sum(math.exp(lb[i]) for i in ids)
        q_rest = 1 - sum(math.exp(lt[i]) for i in ids)
        by_hand = sum(math.exp(lb[i]) * (lb[i] - lt[i]) for i in ids) + p_rest * math.log(p_rest / q_rest)
        assert approx == pytest.approx(by_hand, abs=1e-9)
        assert approx <= full + 1e-12  # merging tokens never raises a KL divergence


def test_percentile_interpolates_as_llama_perplexity() -> None:
    vals = [0.4, 0.1, 1.0, 0.3, 0.2]
    assert percentile(vals, 0.99) == pytest.approx(0.04 * 0.4 + 0.96 * 1.0)
    assert percentile(vals, 0.5) == pytest.approx(0.3)
    assert percentile(vals, 0.0) == 0.1 and percentile(vals, 1.0) == 1.0
    assert percentile(list(range(101)), 0.99) == pytest.approx(99.0)


def test_different_tokenizations_give_a_reason_and_no_kld() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    other = scored(TEST, [0, 3, 1], at_ids=list(ref.top_ids))
    q = compare(other, ref)
    assert q.kld == [] and "tokenizations differ" in (q.reason or "") and "first difference at token 1" in (q.reason or "")
    f = q.fields()
    assert f["kld_mean"] is None and f["top1_pct"] is None and f["ppl"] is not None and f["ppl_byte"] is not None


def test_a_different_vocabulary_gives_a_reason() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    wide = scored([r + [0.0] for r in TEST], TARGETS, at_ids=list(ref.top_ids))
    q = compare(wide, ref)
    assert q.kld == [] and "vocabularies differ (run 5 tokens, reference 4)" in (q.reason or "")


def test_a_run_cut_short_by_its_context_is_compared_on_the_tokens_it_scored() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    short = scored(TEST[:2], TARGETS[:2], at_ids=list(ref.top_ids)[:8])
    q = compare(short, ref)
    assert len(q.kld) == 2 and q.reason is None


def test_no_reference_keeps_perplexity_and_says_why() -> None:
    q = compare(scored(TEST, TARGETS), None, why_not="reference x failed (oom) and no cached reference")
    f = q.fields()
    assert f["ppl"] is not None and f["kld_mean"] is None and "failed (oom)" in f["reason"]


def test_a_different_prompt_is_noted() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    run = scored(TEST, TARGETS, at_ids=list(ref.top_ids))
    run.prompt_digest = prompt_digest([9, 9])
    q = compare(run, ref)
    assert q.prompt_differs and "prompt differs" in q.fields()["note"]


def test_summary_pools_every_position_of_every_problem() -> None:
    ref = scored(BASE, TARGETS, top_k=4)
    a = compare(scored(TEST, TARGETS, at_ids=list(ref.top_ids)), ref)
    b = compare(scored(TEST, TARGETS), None, why_not="no cached reference")
    s = summarize({"p/0": a, "p/1": b}, reference="m/transformers/fp32", no_solution=2)
    assert s["tokens"] == 6 and s["tokens_compared"] == 3 and s["problems_compared"] == 1 and s["no_solution"] == 2
    assert s["kld_mean"] == pytest.approx(sum(a.kld) / 3)
    assert s["reason"] == "no cached reference"  # why one problem has no KLD
    assert s["ppl"] == pytest.approx(math.exp((sum(a.nll) + sum(b.nll)) / 6))
    assert summarize({}, reference=None)["reason"] == "no problem with a reference solution"
