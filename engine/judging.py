"""The LLM judge wired to a run: any catalog run judges open-ended answers, as the MATH-PT paper did.

:func:`judge_records` takes graded result records (``results.jsonl`` lines), picks the open-ended
answers to judge — those without a usable gold by default, every one with ``judge_all`` — asks a
judge run, and writes its verdict beside the grader's in each record:

``judge_run``       the judge's run name;
``judge_verdict``   ``correct`` / ``incorrect``, or ``unparsed`` when the reply holds no verdict;
``judge_reply``     the judge's raw reply;
``judge_cached``    the reply came from the cache;
``combined_verdict`` the grader's verdict when it decided (correct/incorrect), else the judge's.

The judge is an ordinary run of the engine: a :class:`~engine.session.Session` of that one run,
placed by the planner (``--gpus``), in its own process, timed and logged like any run (its own
``results.jsonl`` and summary go to ``<out>/judge/``). Each judge prompt is one "problem" whose
text is the whole prompt (the run's prompt template is ``{problem}``). Answers are cached on disk
per (judge run, prompt, generation settings) — the prompt holds the problem, its solution and the
response — so one judge answer per (judge, problem, response) is ever computed.

A judge run that fails to load (or dies) leaves the grader's verdicts untouched; the outcome says
why and the summary's judge block shows it. :func:`judge_summary` reports accuracy three ways
(grader only, judge only, combined) with their counts, the judge's unparsed replies, and the
agreement of judge and grader where both gave a verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.catalog import Catalog, RunSpec
from engine.judge import JUDGE_PROMPT_VERSION, build_judge_messages, parse_judge_verdict
from engine.problems import Problem

CORRECT, INCORRECT, UNPARSED = "correct", "incorrect", "unparsed"
DECIDED = (CORRECT, INCORRECT)
DEFAULT_MAX_NEW_TOKENS = 256


class JudgeError(ValueError):
    """A judge that cannot be used (unknown run name, bad option); one line naming it."""


def resolve_judge(catalog: Catalog, name: str) -> RunSpec:
    """The catalog run named ``name`` (an exact name, or a glob matching exactly one run)."""
    if name in catalog.runs:
        return catalog.runs[name]
    import fnmatch

    hits = [r for n, r in catalog.runs.items() if fnmatch.fnmatchcase(n, name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise JudgeError(f"--judge {name}: no such run in {catalog.path} (runs: {', '.join(catalog.runs)})")
    raise JudgeError(f"--judge {name}: matches {len(hits)} runs ({', '.join(r.name for r in hits)}); name one")


# --- the cache -----------------------------------------------------------------------------------

def default_cache_path() -> Path:
    """``$QUANTARENA_CACHE_DIR/judge.jsonl``, else ``$XDG_CACHE_HOME/quantarena/judge.jsonl`` (``~/.cache``)."""
    base = os.environ.get("QUANTARENA_CACHE_DIR")
    if base:
        return Path(base) / "judge.jsonl"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "quantarena" / "judge.jsonl"


class JudgeCache:
    """Judge replies on disk, one JSON line per key (append-only; the last line of a key wins).

    ``path=None`` keeps nothing across sessions (a cache in memory only).
    """

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._mem: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path is not None and self.path.is_file():
            with self.path.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a crash: ignored
                    if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                        self._mem[entry["key"]] = entry

    def get(self, key: str) -> dict[str, Any] | None:
        return self._mem.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        entry = {"key": key, **entry}
        with self._lock:
            self._mem[key] = entry
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self._mem)


def cache_key(judge: RunSpec, messages: list[dict[str, str]], max_new_tokens: int, temperature: float, seed: int) -> str:
    """The key of one judge answer: the judge run (model, backend, quantization, settings), the
    prompt (problem, solution, response) and the generation settings."""
    spec = judge.to_dict()
    spec.pop("default", None)
    payload = json.dumps([JUDGE_PROMPT_VERSION, spec, messages, max_new_tokens, temperature, seed],
                         ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- choosing what to judge ----------------------------------------------------------------------

@dataclass
class JudgeRequest:
    """One answer to judge: where its record is, its problem, the prompt and the cache key."""

    index: int
    problem: Problem
    response: str
    messages: list[dict[str, str]]
    key: str


def reference_of(problem: Problem) -> str:
    """What the judge compares with: the worked solution, else the problem's given answer."""
    if problem.solution and problem.solution.strip():
        return problem.solution
    if problem.answer is not None and str(problem.answer).strip():
        return f"Resposta: ${problem.answer}$"
    return ""


def wants_judge(record: Mapping[str, Any], problem: Problem, judge_all: bool) -> bool:
    """Open-ended, answered (not skipped, not synthetic), and — unless ``judge_all`` — without a
    usable gold (the grader left it ungraded, or found no answer it could compare)."""
    if problem.is_multiple_choice or not reference_of(problem):
        return False
    if record.get("finish_reason") == "skipped" or record.get("verdict") in ("n/a", "skipped"):
        return False
    if not isinstance(record.get("response"), str) or not record["response"].strip():
        return False
    if judge_all:
        return True
    from engine.grading.gold import gold_answer

    return not gold_answer(problem).usable


def plan_requests(records: list[dict[str, Any]], problems: Mapping[str, Problem], judge: RunSpec, *,
                  judge_all: bool = False, style: str = "pt", max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                  temperature: float = 0.0, seed: int = 0) -> list[JudgeRequest]:
    """The answers of ``records`` to judge, each with its prompt and cache key."""
    out = []
    for i, rec in enumerate(records):
        problem = problems.get(str(rec.get("problem_id")))
        if problem is None or not wants_judge(rec, problem, judge_all):
            continue
        messages = build_judge_messages(problem, reference_of(problem), rec["response"], style=style)
        out.append(JudgeRequest(i, problem, rec["response"], messages,
                                cache_key(judge, messages, max_new_tokens, temperature, seed)))
    return out


# --- running the judge ---------------------------------------------------------------------------

@dataclass
class JudgeOutcome:
    """What a judge pass did: its status (ok | failed | unsupported | oom | interrupted | skipped),
    why, how many answers were judged, from the cache or computed, and the judge run's row."""

    judge_run: str
    status: str = "ok"
    reason: str | None = None
    requested: int = 0
    computed: int = 0
    cached: int = 0
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {reply, verdict, cached}
    run_row: dict[str, Any] | None = None


class _Verdicts:
    """The judge session's 'grader': reads the verdict out of each reply (no gold involved)."""

    def grade(self, problem: Problem, response: str) -> Any:
        verdict = parse_judge_verdict(response) or UNPARSED

        class _Grade:
            def record_fields(self) -> dict[str, Any]:
                return {"verdict": verdict, "strict_verdict": verdict, "extracted": verdict, "gold": None,
                        "grade_reason": "judge reply" if verdict != UNPARSED else "no verdict in the judge's reply"}

        return _Grade()


def run_judge(catalog: Catalog, judge: RunSpec, requests: list[JudgeRequest], *, out_dir: Path,
              cache: JudgeCache, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0, seed: int = 0,
              gpus: str = "auto", callback: Callable[[Any], None] | None = None, session_hook: Callable[[Any], None] | None = None,
              sampler: Any = None) -> JudgeOutcome:
    """Answer every request with the judge run (cached ones are not asked again).

    ``session_hook`` receives the judge's :class:`Session` before it runs (so a front end can stop
    it); ``sampler`` is passed to it (tests use a fake GPU sampler).
    """
    from engine.launch import LaunchError, LaunchRequest, _place
    from engine.session import Session, SessionOptions

    outcome = JudgeOutcome(judge_run=judge.name, requested=len(requests))
    todo: dict[str, JudgeRequest] = {}
    for req in requests:
        hit = cache.get(req.key)
        if hit is not None and isinstance(hit.get("reply"), str):
            outcome.replies[req.key] = {"reply": hit["reply"], "verdict": parse_judge_verdict(hit["reply"]) or UNPARSED, "cached": True}
        else:
            todo.setdefault(req.key, req)  # the same (problem, response) twice is asked once
    outcome.cached = sum(1 for r in requests if r.key in outcome.replies)
    if not todo:
        outcome.status = "ok" if requests else "skipped"
        return outcome
    run = replace(judge, prompt="{problem}", default=True)
    problems = []
    by_id: dict[str, str] = {}
    for n, (key, req) in enumerate(todo.items()):
        pid = f"judge/{key[:16]}"
        by_id[pid] = key
        problems.append(Problem(id=pid, split="judge", index=n, variant=req.problem.variant, kind="open_ended",
                                problem=req.messages[0]["content"], level=req.problem.level))
    options = SessionOptions(out_dir=Path(out_dir), dataset="judge prompts", max_new_tokens=max_new_tokens, seed=seed,
                             temperature=temperature, stream_text=False,
                             extra={"judge_of": "open-ended answers", "judge_prompt": JUDGE_PROMPT_VERSION})
    try:
        _place(catalog, [run], LaunchRequest(gpus=gpus), options)
    except LaunchError as e:
        outcome.status, outcome.reason = "failed", f"judge run {judge.name}: {e}"
        return outcome
    session = Session(catalog, [run], problems, options, grader=_Verdicts(), sampler=sampler)
    if session_hook is not None:
        session_hook(session)
    try:
        summary = session.run(callback)
    except Exception as e:  # the grader's verdicts must survive a judge that breaks
        outcome.status, outcome.reason = "failed", f"judge run {judge.name}: {type(e).__name__}: {e}"
        return outcome
    row = next((r for r in summary["runs"] if r["run"] == judge.name), None)
    outcome.run_row = row
    records = session.writer.records if session.writer else []
    for rec in records:
        found = by_id.get(str(rec.get("problem_id")))
        if found is None or rec.get("finish_reason") == "skipped":
            continue
        key = found
        reply = rec.get("response") or ""
        outcome.replies[key] = {"reply": reply, "verdict": rec.get("verdict") or UNPARSED, "cached": False}
        cache.put(key, {"judge_run": judge.name, "reply": reply, "finish_reason": rec.get("finish_reason"),
                        "tokens_out": rec.get("tokens_out"), "prompt_version": JUDGE_PROMPT_VERSION})
        outcome.computed += 1
    status = row["status"] if row else "failed"
    if status != "ok":
        outcome.status = status if status != "not run" else "failed"
        outcome.reason = f"judge run {judge.name} {outcome.status}: {(row or {}).get('reason') or 'no reason given'}"
    elif summary.get("interrupted"):
        outcome.status, outcome.reason = "interrupted", "interrupted: judged what finished"
    return outcome


def apply_verdicts(records: list[dict[str, Any]], requests: list[JudgeRequest], outcome: JudgeOutcome) -> None:
    """Write the judge's fields into the records it judged, and ``combined_verdict`` into every
    record (the grader's verdict when it decided, else the judge's)."""
    for req in requests:
        got = outcome.replies.get(req.key)
        if got is None:
            continue
        rec = records[req.index]
        rec.update(judge_run=outcome.judge_run, judge_verdict=got["verdict"], judge_reply=got["reply"],
                   judge_cached=bool(got["cached"]))
    for rec in records:
        rec["combined_verdict"] = combined_verdict(rec)


def combined_verdict(rec: Mapping[str, Any]) -> str | None:
    """The grader's verdict when it is correct/incorrect, else the judge's when it decided, else
    the grader's (unparsed, ungraded, ...)."""
    grader = rec.get("verdict")
    if grader in DECIDED:
        return str(grader)
    judge = rec.get("judge_verdict")
    if judge in DECIDED:
        return str(judge)
    return str(grader) if grader is not None else None


# --- the summary ---------------------------------------------------------------------------------

def _acc(correct: int, graded: int) -> float | None:
    return correct / graded if graded else None


def judge_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy three ways with their counts, judge_unparsed, and agreement, over ``records``."""
    recs = [r for r in records if r.get("finish_reason") != "skipped"]
    g_correct = sum(1 for r in recs if r.get("verdict") == CORRECT)
    g_graded = sum(1 for r in recs if r.get("verdict") in DECIDED)
    judged = [r for r in recs if r.get("judge_verdict") is not None]
    j_correct = sum(1 for r in judged if r.get("judge_verdict") == CORRECT)
    j_graded = sum(1 for r in judged if r.get("judge_verdict") in DECIDED)
    unparsed = sum(1 for r in judged if r.get("judge_verdict") == UNPARSED)
    combined = [combined_verdict(r) for r in recs]
    c_correct = sum(1 for v in combined if v == CORRECT)
    c_graded = sum(1 for v in combined if v in DECIDED)
    both = [r for r in recs if r.get("verdict") in DECIDED and r.get("judge_verdict") in DECIDED]
    agree = sum(1 for r in both if r.get("verdict") == r.get("judge_verdict"))
    return {
        "answers": len(recs),
        "grader": {"correct": g_correct, "graded": g_graded, "accuracy": _acc(g_correct, g_graded)},
        "judge": {"correct": j_correct, "graded": j_graded, "accuracy": _acc(j_correct, j_graded), "judged": len(judged),
                  "cached": sum(1 for r in judged if r.get("judge_cached"))},
        "combined": {"correct": c_correct, "graded": c_graded, "accuracy": _acc(c_correct, c_graded)},
        "judge_unparsed": unparsed,
        "agreement": {"both": len(both), "agree": agree, "rate": _acc(agree, len(both))},
    }


def judge_summary(records: list[dict[str, Any]], outcome: JudgeOutcome, *, judge_all: bool, style: str,
                  max_new_tokens: int, cache_path: Path | None, problems: Mapping[str, Problem] | None = None) -> dict[str, Any]:
    """The summary's ``judge`` block: the judge run, its status (and why), per run and overall
    counts over the open-ended answers (the judge's scope)."""
    def open_ended(r: Mapping[str, Any]) -> bool:
        if r.get("kind"):
            return r.get("kind") == "open_ended"
        p = (problems or {}).get(str(r.get("problem_id")))
        return p is not None and not p.is_multiple_choice

    records = [r for r in records if open_ended(r)]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_run.setdefault(str(r.get("run") or "-"), []).append(r)
    row = outcome.run_row or {}
    return {
        "judge_run": outcome.judge_run, "status": outcome.status, "reason": outcome.reason,
        "scope": "all open-ended answers" if judge_all else "open-ended answers without a usable gold",
        "prompt": {"style": style, "version": JUDGE_PROMPT_VERSION}, "max_new_tokens": max_new_tokens,
        "requested": outcome.requested, "computed": outcome.computed, "cached": outcome.cached,
        "cache": str(cache_path) if cache_path else None,
        "judge_speed": {k: row.get(k) for k in ("device", "load_s", "decode_tok_s_median", "ttft_s_median", "tokens_out_total")} if row else None,
        "overall": judge_counts(records),
        "runs": {run: judge_counts(recs) for run, recs in by_run.items()},
    }


def rewrite_results(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace a results.jsonl with ``records`` (atomically: a crash leaves the old file)."""
    from engine.results import _json_default

    tmp = Path(path).with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n")
    tmp.replace(path)


def judge_results_dir(catalog: Catalog, out_dir: Path, problems: Iterable[Problem], judge: RunSpec, *,
                      judge_all: bool = False, style: str = "pt", max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                      cache: JudgeCache | None = None, gpus: str = "auto", seed: int = 0,
                      session_hook: Callable[[Any], None] | None = None, sampler: Any = None,
                      callback: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Judge a session's ``results.jsonl`` in ``out_dir``: the judge session's own files go to
    ``out_dir/judge/``, the records get the judge's fields (the file is rewritten) and the judge
    block for the summary is returned."""
    from engine.results import read_results

    path = Path(out_dir) / "results.jsonl"
    records = read_results(path) if path.is_file() else []
    cache = cache if cache is not None else JudgeCache(default_cache_path())
    by_id = {p.id: p for p in problems}
    requests = plan_requests(records, by_id, judge, judge_all=judge_all, style=style, max_new_tokens=max_new_tokens, seed=seed)
    outcome = run_judge(catalog, judge, requests, out_dir=Path(out_dir) / "judge", cache=cache, max_new_tokens=max_new_tokens,
                        seed=seed, gpus=gpus, session_hook=session_hook, sampler=sampler, callback=callback)
    apply_verdicts(records, requests, outcome)
    if path.is_file():
        rewrite_results(path, records)
    return judge_summary(records, outcome, judge_all=judge_all, style=style, max_new_tokens=max_new_tokens,
                         cache_path=cache.path, problems=by_id)
