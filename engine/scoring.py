"""Scoring the reference solutions in a session: each run's quality against its model's reference.

What is scored: every problem's reference solution (MATH-PT's ``solution`` field; the built-in
problems all have one), rendered as the assistant's turn after the run's own prompt, teacher-forced
in one prefill (``Backend.score``). A problem without a solution is skipped and counted.

The reference of a model is the run its ``[models.X] reference`` names in models.toml, else its
highest-precision run in the catalog (fp32/f32 over bf16/fp16/f16; among equals the first one
in this session, else the first in the catalog). When that run is in the session it loads first
and scores with its top-k log-probs, written to the :mod:`engine.reference_cache`; every other
run of the model is then asked for its log-probs at the reference's top-k tokens and compared
(:func:`engine.quality.compare`). When it is not in the session, the cache from an earlier
session serves. Without either, the run gets perplexity only and a reason.

Synthetic runs are compared only with a reference built from the same random weights: the
PyTorch backends draw them from one seed (so transformers bf16, quanto and bitsandbytes on one
device kind share them: quantization error on random weights); a synthetic GGUF is random blocks
drawn for that file alone, so it has no reference (perplexity only, labelled synthetic).

The session (``engine.session``) calls :meth:`SessionQuality.score_run` once per run, right after
the run loads, inside the load lock (nothing else loads meanwhile), and puts
:meth:`record_fields` into each result record and :meth:`summary` into the run's summary row.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from engine import protocol as P
from engine.backends.base import ScoreRequest
from engine.catalog import Catalog, RunSpec
from engine.problems import Problem
from engine.quality import DEFAULT_TOP_K, ProblemQuality, Scored, compare, summarize
from engine.reference_cache import ReferenceCache, reference_key, text_key

#: bits of the quantizations that can be a reference, highest first
PRECISION = {"fp32": 32, "f32": 32, "bf16": 16, "fp16": 16, "f16": 16}
NO_SOLUTION = "no reference solution: skipped for quality"
#: what a result record's ``quality`` holds for a problem that has no solution
_NO_SOLUTION_FIELDS = {"reason": NO_SOLUTION, "tokens": 0}


def choose_reference(catalog: Catalog, model: str, session_runs: list[RunSpec]) -> tuple[RunSpec | None, str | None]:
    """The reference run of ``model`` (with the session's weights: synthetic when its runs are), or a reason."""
    mine = [r for r in session_runs if r.model == model]
    weights = mine[0].weights if mine else "real"
    present = {r.name: r for r in mine}
    declared = catalog.models[model].reference
    if declared:
        base = catalog.runs.get(declared)
        if base is None:  # the catalog validates this; a hand-built Catalog may not
            return None, f"models.toml: [models.{model}] reference {declared!r} names no run"
        return present.get(base.name) or replace(base, weights=weights), None
    candidates = [r for r in catalog.runs.values() if r.model == model and r.quant in PRECISION]
    candidates += [r for r in mine if r.quant in PRECISION and r.name not in catalog.runs]
    if not candidates:
        return None, (f"no reference: model {model} has no fp32/bf16/fp16 run and models.toml declares none "
                      f"([models.{model}] reference = \"<run>\")")
    best = max(PRECISION[r.quant] for r in candidates)
    top = [r for r in candidates if PRECISION[r.quant] == best]
    in_session = [present[r.name] for r in top if r.name in present]
    return (in_session[0] if in_session else replace(top[0], weights=weights)), None


def lineage(run: RunSpec, device: str | None) -> str:
    """Which weights a run's numbers come from: runs of one model compare only within one lineage."""
    if not run.synthetic:
        return "real"
    if run.backend == "llama.cpp":
        return f"synthetic GGUF of {run.name}"  # random blocks drawn for this file alone
    if run.backend == "fake":
        return "synthetic fake"
    return "synthetic torch on " + ("cuda" if (device or "").startswith("cuda") else "cpu")


def _with_lineage(key: str, lineage_name: str) -> str:
    """The cache folder of a reference key for one weight lineage (real, or one kind of synthetic)."""
    if lineage_name == "real":
        return key
    import hashlib

    return f"{key}-{hashlib.sha256(lineage_name.encode()).hexdigest()[:8]}"


@dataclass
class RunScores:
    """What one run's scoring produced."""

    problems: dict[str, ProblemQuality] = field(default_factory=dict)
    no_solution: set[str] = field(default_factory=set)
    reason: str | None = None  # a run-level reason (cannot score, lineage, ...)
    reference_source: str | None = None
    wall_s: float = 0.0


class SessionQuality:
    """Each model's reference, the cache, and every run's scores in one session."""

    def __init__(self, catalog: Catalog, runs: list[RunSpec], problems: list[Problem], *, top_k: int = DEFAULT_TOP_K,
                 cache: ReferenceCache | None = None, run_status: Callable[[str], tuple[str, str | None]] | None = None):
        self.catalog = catalog
        self.runs = runs
        self.problems = problems
        self.top_k = top_k
        self.cache = cache if cache is not None else ReferenceCache()
        self.run_status = run_status or (lambda name: ("pending", None))
        self.refs: dict[str, tuple[RunSpec | None, str | None]] = {}
        self.keys: dict[str, str] = {}
        for model in dict.fromkeys(r.model for r in runs):
            ref, why = choose_reference(catalog, model, runs)
            self.refs[model] = (ref, why)
            if ref is not None:
                self.keys[model] = reference_key(catalog.models[model], ref)
        self.scores: dict[str, RunScores] = {}
        self._ref_scored: set[str] = set()  # models whose reference scored in this session
        self._lock = threading.Lock()

    # ---- the plan --------------------------------------------------------------------------
    def reference_of(self, model: str) -> RunSpec | None:
        return self.refs.get(model, (None, None))[0]

    def is_reference(self, run: RunSpec) -> bool:
        ref = self.reference_of(run.model)
        return ref is not None and ref.name == run.name

    def order_waves(self, waves: list[list[str]]) -> list[list[str]]:
        """Waves holding a reference run first (stable), so references score before their models' other runs."""
        refs = {r.name for r in (self.reference_of(m) for m in self.refs) if r is not None}
        return sorted(waves, key=lambda w: 0 if any(n in refs for n in w) else 1)

    # ---- scoring one run --------------------------------------------------------------------
    def score_run(self, run: RunSpec, device: str | None, send: Callable[[P.Message], Any],
                  receive: Callable[[], P.Message | None], stopping: Callable[[], bool],
                  can_score: bool = True) -> P.GenFailed | P.Exited | None:
        """Score every solution through the run's process; returns the message that ended the
        run (its process exited) or None. ``receive`` returns the next message or None after a
        short wait."""
        import time

        scores = RunScores()
        with self._lock:
            self.scores[run.name] = scores
        t0 = time.perf_counter()
        try:
            if not can_score:
                scores.reason = f"backend {run.backend} cannot score a text (no log-probs)"
                return None
            return self._score_all(run, device, scores, send, receive, stopping)
        finally:
            scores.wall_s = time.perf_counter() - t0

    def _score_all(self, run: RunSpec, device: str | None, scores: RunScores, send: Callable[[P.Message], Any],
                   receive: Callable[[], P.Message | None], stopping: Callable[[], bool]) -> P.GenFailed | P.Exited | None:
        from engine.prompts import build_messages

        model = run.model
        ref, why_none = self.refs[model]
        is_ref = ref is not None and ref.name == run.name
        mine = lineage(run, device)
        key = self.keys.get(model)
        for problem in self.problems:
            if stopping():
                return None
            if not problem.solution:
                scores.no_solution.add(problem.id)
                continue
            try:
                messages = build_messages(problem, run.prompt)
                ref_messages = build_messages(problem, ref.prompt) if ref is not None else messages
            except (ValueError, KeyError) as e:
                scores.reason = f"prompt template: {e}"
                return None
            req = ScoreRequest(messages=messages, completion=problem.solution)
            cached: tuple[Scored, dict[str, Any]] | None = None
            why: str | None = None
            tkey = text_key(ref_messages, problem.solution, self.top_k)
            if ref is None:
                why = why_none
            elif run.synthetic and run.backend == "llama.cpp" and not is_ref:
                why = ("synthetic GGUF: its random blocks are drawn for this file alone, not the reference's "
                       "random weights: no common reference (perplexity only)")
            elif key is not None:
                cached = self.cache.get(model, _with_lineage(key, mine), tkey)
                if cached is None and is_ref:
                    req = replace(req, top_k=self.top_k)
                elif cached is None:
                    why = self._missing(ref, mine)
            if cached is not None:
                req = replace(req, at_k=cached[0].top_k, at_ids=cached[0].top_ids)
                scores.reference_source = scores.reference_source or (
                    "this session" if model in self._ref_scored
                    else "cache" + (f" ({cached[1].get('written')})" if cached[1].get("written") else ""))
            send(P.Score(problem.id, req))
            while True:
                msg = receive()
                if msg is None:
                    if stopping():
                        return None
                    continue
                if isinstance(msg, P.ScoreDone) and msg.problem_id == problem.id:
                    scored = Scored.from_dict(msg.scored)
                    if is_ref and cached is None and req.top_k:
                        assert key is not None and ref is not None
                        meta = {"run": run.name, "device": device, "lineage": mine, "weights": run.weights}
                        self.cache.put(model, _with_lineage(key, mine), tkey, scored, meta)
                        # the reference against its own top-k: KLD 0 and top-1 100% by definition
                        scored.at_k, scored.at_logprobs = scored.top_k, array("f", scored.top_logprobs)
                        cached = (scored, {})
                        scores.reference_source = scores.reference_source or "this session"
                        with self._lock:
                            self._ref_scored.add(model)
                    scores.problems[problem.id] = compare(scored, cached[0] if cached else None, why_not=why)
                    break
                if isinstance(msg, P.ScoreFailed) and msg.problem_id == problem.id:
                    if msg.status == "unsupported":
                        scores.reason = msg.reason
                        return None
                    scores.problems[problem.id] = ProblemQuality(reason=f"scoring failed: {msg.reason}")
                    break
                if isinstance(msg, (P.Exited, P.GenFailed)):
                    return msg
        return None

    def _missing(self, ref: RunSpec, mine: str) -> str:
        """Why a run's reference log-probs for a solution are not at hand."""
        status, reason = self.run_status(ref.name)
        if status in ("failed", "oom", "unsupported"):
            return f"reference {ref.name} {status} ({reason}) and no cached reference for this solution"
        if ref.model in self._ref_scored:
            return f"reference {ref.name} scored other weights than this run's ({mine}): no KLD"
        if any(r.name == ref.name for r in self.runs):
            return f"reference {ref.name} scores in a later wave; its cache serves the next session"
        if mine != "real":
            return f"no cached reference of the same random weights ({mine}): run {ref.name} --synthetic on this device kind first"
        return f"no cached reference for this solution: run {ref.name} once to make one"

    # ---- reading ----------------------------------------------------------------------------
    def record_fields(self, run: str, problem_id: str) -> dict[str, Any] | None:
        """A result record's ``quality``: this problem's figures, or the reason there are none."""
        scores = self.scores.get(run)
        if scores is None:
            return None
        if problem_id in scores.no_solution:
            return dict(_NO_SOLUTION_FIELDS)
        q = scores.problems.get(problem_id)
        if q is None:
            return {"reason": scores.reason or "not scored", "tokens": 0}
        out = q.fields()
        if scores.reason and not out.get("reason"):
            out["reason"] = scores.reason
        return out

    def summary(self, run: RunSpec) -> dict[str, Any] | None:
        """A run's ``quality`` block (``engine.quality.summarize``), or None when it never scored."""
        scores = self.scores.get(run.name)
        if scores is None:
            return None
        ref = self.reference_of(run.model)
        out = summarize(scores.problems, reference=ref.name if ref else None, synthetic=run.synthetic,
                        no_solution=len(scores.no_solution), reason=scores.reason,
                        reference_source=scores.reference_source)
        out["wall_s"] = scores.wall_s
        return out
