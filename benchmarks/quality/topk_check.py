"""How much of the full-vocabulary KLD the reference's top-k (+ one bucket for the rest) keeps.

The reference (transformers fp32 on the embedded SmolLM2-135M) scores the built-in solutions with
its *whole* log-softmax row (top_k = vocabulary size); each compared run returns its log-probs at
all those ids. The KLD of every position is then computed with the first k ids only
(``engine.quality.position_kld``: the top k plus the rest as one bucket) and with all of them
(llama-perplexity's full sum), for several k. Writes ``benchmarks/quality/topk_check.json``.

    python benchmarks/quality/topk_check.py [--problems 4] [--runs smollm2-135m/quanto/int8,smollm2-135m/quanto/int4]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from engine.backends.base import ScoreRequest
from engine.backends.registry import load_backend_class
from engine.builtin import builtin_problems
from engine.catalog import load_catalog
from engine.prompts import build_messages
from engine.quality import position_kld

ROOT = Path(__file__).resolve().parents[2]


KS = (64, 256, 1024, 4096)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--reference", default="smollm2-135m/transformers/fp32")
    ap.add_argument("--runs", default="smollm2-135m/quanto/int8,smollm2-135m/quanto/int4,smollm2-135m/bitsandbytes/nf4")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "quality" / "topk_check.json"))
    args = ap.parse_args()
    cat = load_catalog(ROOT / "models.toml")
    problems = builtin_problems()[: args.problems]

    def backend(name: str):  # type: ignore[no-untyped-def]
        run = cat.runs[name]
        b = load_backend_class(run.backend)(run, cat.models[run.model])
        b.load()
        return b

    ref = backend(args.reference)
    vocab = int(ref.hf_model.config.vocab_size)
    refs = [ref.score(ScoreRequest(build_messages(p), p.solution or "", top_k=vocab)) for p in problems]
    ref.close()
    out: dict[str, object] = {
        "what": "mean KLD over every position of the built-in solutions: top-k of the reference + one bucket, against all ids",
        "reference": args.reference, "problems": [p.id for p in problems], "vocab": vocab,
        "positions": sum(r.n for r in refs), "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"), "command": "python benchmarks/quality/topk_check.py", "runs": {},
    }
    for name in args.runs.split(","):
        b = backend(name)
        sums = {k: 0.0 for k in (*KS, vocab)}
        mass = {k: 0.0 for k in KS}
        n = 0
        for p, r in zip(problems, refs, strict=True):
            s = b.score(ScoreRequest(build_messages(p), p.solution or "", at_k=vocab, at_ids=r.top_ids))
            assert s.tokens == r.tokens
            for t in range(r.n):
                base = r.top_logprobs[t * vocab : (t + 1) * vocab]
                mine = s.at_logprobs[t * vocab : (t + 1) * vocab]
                for k in sums:
                    sums[k] += position_kld(base[:k], mine[:k])
                for k in KS:
                    mass[k] += sum(2.718281828459045 ** x for x in base[:k])
                n += 1
        b.close()
        full = sums[vocab] / n
        out["runs"][name] = {  # type: ignore[index]
            "kld_full": full,
            **{f"kld_top{k}": sums[k] / n for k in KS},
            **{f"share_top{k}": (sums[k] / n) / full if full else None for k in KS},
            **{f"ref_mass_top{k}": mass[k] / n for k in KS},
        }
        print(name, json.dumps(out["runs"][name]))  # type: ignore[index]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
