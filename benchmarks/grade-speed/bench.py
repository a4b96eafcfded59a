"""Time ``quantarena grade`` end to end on 1,000 realistic responses to real MATH-PT problems.

    python benchmarks/grade-speed/bench.py [DATASET_DIR] [--n 1000] [--seed 0] [--out benchmarks/grade-speed/results.json]

The responses are synthetic but shaped like real ones: multiple choice with a boxed letter
(``\\boxed{D}``, ``\\boxed{\\text{(d)}}``), a boxed option value (``\\boxed{12 cm}``), an unboxed
final statement ("A resposta correta é a alternativa D"), or no answer; open-ended with the gold
value boxed in another form (``12,5`` for 25/2, ``\\dfrac``), a wrong value, an algebraic answer
that needs Math-Verify (``\\frac{x^2-1}{x-1}``), a boxed pathological power tower (times out
nothing: it is refused by the value reader and checked symbolically), or garbage. The timing
covers everything ``cli.grade.run`` does: loading the dataset, reading the file, starting the
Math-Verify workers, grading, writing the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from cli.grade import run
from engine.dataset import load_problems
from engine.grading import GRADER_VERSION, gold_answer
from engine.problems import Problem

ROOT = Path(__file__).resolve().parents[2]


SYMBOLIC_REASONS = {
    "symbolically equivalent", "not equivalent", "the answer cannot be read as mathematics",
    "symbolic check timed out", "symbolic check crashed",
}
FILLER = (
    "Vamos resolver o problema passo a passo.\n\nPrimeiro, identificamos os dados: "
    "$a = 3$, $b = 4$ e portanto $a^2 + b^2 = 25$.\n\nDepois calculamos o resultado pedido, "
    "verificando cada opção com cuidado.\n\n"
)


def mc_response(p: Problem, rng: random.Random) -> tuple[str, str]:
    assert p.choices and p.answer
    letter = p.answer if rng.random() < 0.6 else rng.choice("ABCDE")
    style = rng.choice(["box", "box", "box", "text", "value", "statement", "statement", "none", "garbage"])
    body = FILLER * rng.randint(1, 6)
    if style == "box":
        return body + f"Portanto, a resposta é:\n\n$$\\boxed{{{letter}}}$$", style
    if style == "text":
        return body + f"Resposta final: $\\boxed{{\\text{{({letter.lower()})}}}}$", style
    if style == "value":
        return body + f"Logo o valor é $\\boxed{{{p.choices[letter].strip('$')}}}$.", style
    if style == "statement":
        return body + f"A resposta correta é a alternativa {letter}.", style
    if style == "none":
        return body + "Não consegui chegar a uma conclusão.", style
    return "".join(rng.choice("abc{}\\$ 0123") for _ in range(rng.randint(50, 400))), style


def open_response(p: Problem, rng: random.Random) -> tuple[str, str]:
    g = gold_answer(p)
    body = FILLER * rng.randint(1, 6)
    style = rng.choice(["gold", "gold", "symbolic", "wrong", "algebra", "statement", "none", "garbage"])
    if style == "symbolic" and g.usable and g.answer:
        # the gold times y over y: not a plain number, so Math-Verify decides (equivalent)
        return body + f"Portanto $\\boxed{{\\frac{{({g.answer}) y}}{{y}}}}$.", style
    if style in ("gold", "statement") and g.usable and g.answer:
        ans = g.answer.replace("\\frac", "\\dfrac")
        if rng.random() < 0.3 and ans.isdigit():
            ans = f"{ans},0"  # 12,0: Portuguese decimal comma
        if style == "statement":
            return body + f"Resposta: ${ans}$", style
        return body + f"Assim, $\\boxed{{{ans}}}$.", style
    if style in ("gold", "wrong", "statement", "symbolic"):
        return body + f"Logo a resposta é $\\boxed{{{rng.randint(1, 999)}}}$.", "wrong"
    if style == "algebra":
        expr = rng.choice([r"\frac{x^2-1}{x-1}", r"\sqrt{2}+\sqrt{3}", r"(a+b)^2", r"2^{1/3}\cdot 4^{1/3}", r"\{1, 2, 3\}"])
        return body + f"Portanto $\\boxed{{{expr}}}$.", style
    if style == "none":
        return body + "Fim.", style
    return "".join(rng.choice("xyz{}\\$ 0123=+") for _ in range(rng.randint(50, 400))), "garbage"


def build(dataset: str, n: int, seed: int) -> tuple[list[dict], Counter]:
    rng = random.Random(seed)
    problems = load_problems(dataset)
    lines, styles = [], Counter()
    for i in range(n):
        p = rng.choice(problems)
        text, style = mc_response(p, rng) if p.is_multiple_choice else open_response(p, rng)
        styles[f"{'mc' if p.is_multiple_choice else 'open'}:{style}"] += 1
        lines.append({"run": f"bench/run{i % 3}", "problem_id": p.id, "response": text, "finish_reason": "stop"})
    return lines, styles


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", default=str(ROOT.parent / "shared" / "mathpt"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.json"))
    args = ap.parse_args(argv)
    lines, styles = build(args.dataset, args.n, args.seed)
    load0 = os.getloadavg()[0]  # other work on the box slows the timing down; recorded with it
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "responses.jsonl"
        dst = Path(tmp) / "graded.jsonl"
        src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
        ns = argparse.Namespace(responses=str(src), dataset=args.dataset, out=str(dst), workers=None,
                                timeout=10.0, quiet=True)
        t0 = time.perf_counter()
        rc = run(ns)
        elapsed = time.perf_counter() - t0
        graded = [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines()]
    verdicts = Counter(r["verdict"] for r in graded)
    reasons = Counter(r["grade_reason"] for r in graded if r["verdict"] == "ungraded" and "timed out" in r["grade_reason"])
    result = {
        "what": "quantarena grade, end to end (cli.grade.run: dataset load, worker start, grading, output)",
        "responses": len(lines),
        "seconds": round(elapsed, 3),
        "responses_per_second": round(len(lines) / elapsed, 1),
        "exit_code": int(rc),
        "verdicts": dict(verdicts),
        "symbolic_checks": sum(1 for r in graded if r["grade_reason"] in SYMBOLIC_REASONS),
        "symbolic_timeouts": sum(reasons.values()),
        "response_styles": dict(sorted(styles.items())),
        "dataset": args.dataset,
        "seed": args.seed,
        "grader_version": GRADER_VERSION,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m_at_start": round(load0, 2)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
