"""Quality against a reference: KL divergence, top-1 agreement and perplexity, as llama-perplexity defines them.

Pure functions over plain numbers (no numpy, no backend). A run *scores* a text teacher-forced
(:class:`Scored`: per position the log-probability of the text's next token, the arg-max token,
and either its own top-k log-probs or its log-probs at the reference's top-k ids); this module
compares that with the reference's scoring of the same text.

The definitions are ``llama-perplexity --kl-divergence``'s (llama.cpp ``tools/perplexity``), with
P the reference (``--kl-divergence-base``) and Q the run:

* **KLD** of a position: ``sum_i P_i (log P_i - log Q_i)``, over the reference's tokens with
  ``log P_i > -16`` (llama.cpp skips the rest). ``kld_mean`` is the mean over every scored position
  (its "Mean KLD"), ``kld_p99`` the 99th percentile with llama.cpp's interpolation
  (``p = 0.99 (n - 1)``, linear between the neighbours; its "99.0% KLD").
* **top-1 agreement** (``top1_pct``): % of positions where the run's arg-max token is the
  reference's (its "Same top p").
* **perplexity** (``ppl``): ``exp(mean(-log Q(next token)))`` over the scored positions (its
  "Mean PPL(Q)"); ``ppl_ref`` is the reference's on the same positions ("Mean PPL(base)").
* **perplexity per byte** (``ppl_byte``): ``exp(sum(-log Q) / UTF-8 bytes scored)``, comparable
  between tokenizers; given always, and the only figure when the tokenizations differ.

The reference keeps its top ``k`` tokens per position (``DEFAULT_TOP_K``), not the whole row
(128k floats per position for Llama 3). The KLD sum then runs over those ``k`` tokens, plus one
bucket for all the others: ``P_rest log(P_rest / Q_rest)`` with ``P_rest = 1 - sum_k P_i`` and
``Q_rest = 1 - sum_k Q_i`` (skipped, like any term, when ``P_rest <= e^-16``). Merging tokens can
only lower a KL divergence, so this is a lower bound of the full sum, exact when ``k`` covers the
vocabulary. On SmolLM2-135M (49,152 tokens) top-1024 + the bucket gives 99% of the full-vocabulary
KLD of quanto int8 and 98% of int4 and bitsandbytes NF4
(``benchmarks/quality/topk_check.json``, ``benchmarks/quality/topk_check.py``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: log-probabilities at or below this are left out of the KLD sum (llama-perplexity's cut-off)
LOGP_FLOOR = -16.0
#: reference tokens kept per position
DEFAULT_TOP_K = 1024


@dataclass
class Scored:
    """One text scored by one run (what a backend's ``score`` returns, as plain data).

    Position ``t`` predicts ``tokens[t]`` from the prompt and ``tokens[:t]``. ``top_ids`` /
    ``top_logprobs`` hold ``top_k`` entries per position (flattened, best first) when the run
    was asked for its own top-k (the reference); ``at_logprobs`` holds ``at_k`` entries per
    position: the run's log-probs at the ids it was given (the reference's top-k).
    """

    tokens: list[int]
    target_logprobs: Sequence[float]
    argmax: list[int]
    n_vocab: int
    text_bytes: int  # UTF-8 bytes of the scored tokens
    prompt_tokens: int = 0
    prompt_digest: str = ""  # prompt_digest() of the rendered prompt's token ids
    top_k: int = 0
    top_ids: Sequence[int] = field(default_factory=lambda: array("i"))
    top_logprobs: Sequence[float] = field(default_factory=lambda: array("f"))
    at_k: int = 0
    at_logprobs: Sequence[float] = field(default_factory=lambda: array("f"))
    score_s: float | None = None  # seconds the backend took

    @property
    def n(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scored:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def prompt_digest(ids: Sequence[int]) -> str:
    """A short hash of a prompt's token ids: whether two runs saw the same prompt."""
    import hashlib

    return hashlib.sha256(array("i", ids).tobytes()).hexdigest()[:16]


def position_kld(base_logp: Sequence[float], test_logp: Sequence[float]) -> float:
    """KL(P || Q) of one position from the reference's and the run's log-probs at the same ids.

    The ids cover the vocabulary or the reference's top-k; in the latter case the tokens left out
    are one bucket (module docstring). Terms whose reference log-prob is ``<= -16`` are skipped,
    as llama-perplexity does.
    """
    total = 0.0
    p_kept = q_kept = 0.0
    for lp, lq in zip(base_logp, test_logp, strict=True):
        p = math.exp(lp)
        p_kept += p
        q_kept += math.exp(lq)
        if lp > LOGP_FLOOR:
            total += p * (lp - lq)
    p_rest = 1.0 - p_kept
    if p_rest > math.exp(LOGP_FLOOR):
        q_rest = max(1.0 - q_kept, 1e-30)
        total += p_rest * (math.log(p_rest) - math.log(q_rest))
    return total


def percentile(values: Sequence[float], fraction: float) -> float:
    """llama-perplexity's percentile: sorted values, ``p = fraction (n - 1)``, linear between neighbours."""
    v = sorted(values)
    if not v:
        raise ValueError("percentile of no values")
    if fraction <= 0:
        return v[0]
    if fraction >= 1:
        return v[-1]
    p = fraction * (len(v) - 1)
    i = int(p)
    p -= i
    return (1 - p) * v[i] + p * v[min(i + 1, len(v) - 1)]


@dataclass
class ProblemQuality:
    """One problem's figures for one run: the per-position values the run summary pools."""

    nll: list[float] = field(default_factory=list)  # -log Q(next token), per position
    nll_ref: list[float] = field(default_factory=list)  # -log P(next token), per position (when compared)
    kld: list[float] = field(default_factory=list)  # per position (empty when not compared)
    same_top: list[bool] = field(default_factory=list)
    text_bytes: int = 0
    ref_mass: list[float] = field(default_factory=list)  # P kept in the reference's top-k, per position
    reason: str | None = None  # why KLD / top-1 are N/A (ppl may still be given)
    score_s: float | None = None
    prompt_differs: bool = False  # the run's rendered prompt is not the reference's

    @property
    def compared(self) -> bool:
        return bool(self.kld)

    def fields(self) -> dict[str, Any]:
        """The figures of this problem alone (a ``results.jsonl`` record's ``quality``)."""
        out = figures(
            nll=self.nll, nll_ref=self.nll_ref, kld=self.kld, same_top=self.same_top,
            text_bytes=self.text_bytes, reason=self.reason,
        )
        if self.prompt_differs:
            out["note"] = "the run's prompt differs from the reference's (chat template)"
        return out


def compare(test: Scored, ref: Scored | None, *, why_not: str | None = None) -> ProblemQuality:
    """The run's figures on one text against the reference's scoring of it.

    Without a reference (``ref`` None, ``why_not`` the reason) only perplexity is given. The
    reference and the run must have cut the text into the same tokens over the same vocabulary;
    a run that scored fewer positions (its context window was full) is compared on those, when
    they are the first tokens of the reference's. Otherwise the reason says how they differ and
    no KLD is made up.
    """
    nll = [-float(x) for x in test.target_logprobs]
    out = ProblemQuality(nll=nll, text_bytes=test.text_bytes, score_s=test.score_s)
    if ref is None:
        out.reason = why_not or "no reference"
        return out
    if ref.n_vocab != test.n_vocab:
        out.reason = f"vocabularies differ (run {test.n_vocab} tokens, reference {ref.n_vocab}): KLD needs the same vocabulary"
        return out
    n = test.n
    if n == 0:
        out.reason = "nothing scored (the solution fits no token after the prompt)"
        return out
    if test.tokens != ref.tokens[:n] or n > ref.n:
        first = next((i for i, (a, b) in enumerate(zip(test.tokens, ref.tokens, strict=False)) if a != b), min(n, ref.n))
        out.reason = (f"tokenizations differ (run {n} tokens, reference {ref.n}; first difference at token {first}): "
                      "KLD needs the same tokens; perplexity per byte is comparable")
        return out
    k = ref.top_k
    if k <= 0 or test.at_k != k or len(test.at_logprobs) < n * k:
        out.reason = "the run did not return log-probs at the reference's top tokens"
        return out
    out.prompt_differs = bool(ref.prompt_digest and test.prompt_digest and ref.prompt_digest != test.prompt_digest) or (
        not (ref.prompt_digest and test.prompt_digest) and ref.prompt_tokens != test.prompt_tokens)
    for t in range(n):
        base = ref.top_logprobs[t * k : (t + 1) * k]
        mine = test.at_logprobs[t * k : (t + 1) * k]
        out.kld.append(position_kld(base, mine))
        out.same_top.append(test.argmax[t] == ref.argmax[t])
        out.nll_ref.append(-float(ref.target_logprobs[t]))
        out.ref_mass.append(sum(math.exp(x) for x in base))
    return out


def figures(*, nll: Sequence[float], kld: Sequence[float], same_top: Sequence[bool], text_bytes: int,
            nll_ref: Sequence[float] = (), reason: str | None = None) -> dict[str, Any]:
    """ppl, ppl_byte, kld_mean, kld_p99, top1_pct and tokens from per-position values (None = N/A)."""
    n = len(nll)
    total = sum(nll)
    out: dict[str, Any] = {
        "ppl": math.exp(total / n) if n else None,
        "ppl_ref": math.exp(sum(nll_ref) / len(nll_ref)) if nll_ref else None,
        "ppl_byte": math.exp(total / text_bytes) if n and text_bytes else None,
        "kld_mean": sum(kld) / len(kld) if kld else None,
        "kld_p99": percentile(kld, 0.99) if kld else None,
        "top1_pct": 100.0 * sum(1 for s in same_top if s) / len(same_top) if same_top else None,
        "tokens": n,
        "bytes": text_bytes,
    }
    if reason:
        out["reason"] = reason
    return out


def summarize(problems: dict[str, ProblemQuality], *, reference: str | None, synthetic: bool = False,
              no_solution: int = 0, reason: str | None = None, reference_source: str | None = None) -> dict[str, Any]:
    """A run's ``quality`` block: every scored position of every problem pooled, as llama-perplexity
    pools its chunks. KLD and top-1 cover the problems compared with the reference; ``reason`` says
    why the others were not (the first such reason), and ``ppl`` covers every problem scored."""
    scored = list(problems.values())
    compared = [q for q in scored if q.compared]
    nll = [x for q in scored for x in q.nll]
    text_bytes = sum(q.text_bytes for q in scored)
    out = figures(
        nll=nll, kld=[x for q in compared for x in q.kld], same_top=[x for q in compared for x in q.same_top],
        nll_ref=[x for q in compared for x in q.nll_ref], text_bytes=text_bytes,
    )
    out["tokens_compared"] = sum(len(q.kld) for q in compared)
    differs = sum(1 for q in compared if q.prompt_differs)
    out["prompt_differs"] = differs
    out["note"] = (f"the run's prompt differs from the reference's on {differs} of {len(compared)} problems "
                   "(their chat templates render it differently): KLD includes that difference") if differs else None
    mass = [x for q in compared for x in q.ref_mass]
    out["ref_mass_kept"] = sum(mass) / len(mass) if mass else None
    out.update(
        reference=reference, reference_source=reference_source, synthetic=synthetic,
        problems_scored=len(scored), problems_compared=len(compared), no_solution=no_solution,
        score_s=sum(q.score_s for q in scored if q.score_s is not None) if scored else None,
    )
    if not scored:
        out["reason"] = reason or "no problem with a reference solution"
    elif len(compared) < len(scored):
        out["reason"] = reason or next((q.reason for q in scored if not q.compared and q.reason), None)
    else:
        out["reason"] = None
    return out
