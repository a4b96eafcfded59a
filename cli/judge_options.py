"""The LLM-judge options shared by ``--batch`` and ``quantarena grade``, and what they build.

``--judge RUN`` judges open-ended answers with a catalog run (see :mod:`engine.judging`);
``--judge-all`` judges every open-ended answer, not only those without a usable gold;
``--judge-max-tokens N`` caps each judge reply (default 256); ``--judge-prompt pt|paper-en``
picks the paper's judge prompt in the problem's Portuguese variant (default) or verbatim in
English; ``--judge-cache PATH|none`` keeps judge answers (default ``~/.cache/quantarena/judge.jsonl``,
``$QUANTARENA_CACHE_DIR`` overrides the folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.judge import STYLES
from engine.judging import DEFAULT_MAX_NEW_TOKENS, JudgeCache, default_cache_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The judge options."""
    g = p.add_argument_group("LLM judge")
    g.add_argument("--judge", metavar="RUN", help="judge open-ended answers with this catalog run (e.g. smollm2-135m/llama.cpp/q4_1)")
    g.add_argument("--judge-all", action="store_true", help="judge every open-ended answer, not only those without a usable gold")
    g.add_argument("--judge-max-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS, metavar="N", help=f"token cap per judge reply (default {DEFAULT_MAX_NEW_TOKENS})")
    g.add_argument("--judge-prompt", choices=STYLES, default="pt", help="the paper's judge prompt in the problem's variant (pt, default) or verbatim in English (paper-en)")
    g.add_argument("--judge-cache", metavar="PATH|none", help="judge answers cache (default ~/.cache/quantarena/judge.jsonl; 'none': no cache)")


def cache_from(args: Any) -> JudgeCache:
    """The cache the options ask for."""
    value = getattr(args, "judge_cache", None)
    if value and value.strip().lower() == "none":
        return JudgeCache(None)
    return JudgeCache(Path(value) if value else default_cache_path())


def judge_lines(block: dict[str, Any]) -> list[str]:
    """A plain-text report of a judge block (for stderr)."""
    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    out = [f"judge {block['judge_run']}: {block['status']}" + (f" — {block['reason']}" if block.get("reason") else ""),
           f"  {block['requested']} answers to judge ({block['scope']}): {block['computed']} judged now, {block['cached']} from the cache"]
    rows = list((block.get("runs") or {}).items()) + [("all", block.get("overall"))]
    out.append(f"  {'run':<34} {'grader':>18} {'judge':>18} {'combined':>18} {'unparsed':>8} {'agreement':>16}")
    for run, c in rows:
        if not c:
            continue
        g, j, cb, a = c["grader"], c["judge"], c["combined"], c["agreement"]
        out.append(f"  {run:<34} {pct(g['accuracy']):>7} ({g['correct']}/{g['graded']})".ljust(55)
                   + f" {pct(j['accuracy']):>7} ({j['correct']}/{j['graded']})".ljust(19)
                   + f" {pct(cb['accuracy']):>7} ({cb['correct']}/{cb['graded']})".ljust(19)
                   + f" {c['judge_unparsed']:>8} {pct(a['rate']):>7} ({a['agree']}/{a['both']})")
    return out
