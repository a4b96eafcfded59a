"""What llama.cpp's extra CPU buffer types (repacked / AMX weight layouts) are worth on this CPU.

The setting ``extra_buffers`` (README, "llama.cpp on CPUs with AMX") turns llama.cpp's
``use_extra_bufts`` on or off. This runs the embedded model's shape through ``quantarena --batch``
on the CPU with each of Q4_0, Q8_0 (synthetic weights: the repacked layouts exist for these) and
the shipped Q4_1 file, each with extra buffers on and off, as runs of one session: runs on a CPU
take turns answering problem by problem, so on and off see the same machine. Fixed-length answers.

    python benchmarks/cpu-extra-buffers/bench.py [--tokens 96] [--limit 6] [--out DIR]

Writes ``results.json`` here (decode and prefill tok/s medians per run, the CPU's features, the
load average) and leaves the session's own results folder in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def catalog_text() -> str:
    text = (ROOT / "models.toml").read_text()
    start = text.index("[models.smollm2-135m]")
    model = text[start:text.index("# ----", start)]
    runs = []
    for quant, weights in (("q4_0", "synthetic"), ("q8_0", "synthetic"), ("q4_1", "real")):
        for on in (True, False):
            runs.append(
                f'[[runs]]\nmodel = "smollm2-135m"\nbackend = "llama.cpp"\nquant = "{quant}"\nweights = "{weights}"\n'
                f'tag = "extra-{"on" if on else "off"}"\ndevice = "cpu"\nsettings = {{ n_ctx = 1024, extra_buffers = {str(on).lower()} }}\n'
            )
    return model + "\n" + "\n".join(runs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="qa-extrabuf-"))
    cat = out / "models.toml"
    out.mkdir(parents=True, exist_ok=True)
    cat.write_text(catalog_text())
    load_before = os.getloadavg()
    cmd = [sys.executable, "-m", "cli.main", "--batch", "--quiet", "--models", str(cat), "--fixed-length",
           "--max-new-tokens", str(args.tokens), "--limit", str(args.limit), "--out", str(out / "session")]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        return r.returncode
    recs = [json.loads(x) for x in (out / "session" / "results.jsonl").read_text().splitlines()]
    summary = json.loads((out / "session" / "summary.json").read_text())
    from engine.cpu import cpu_features
    from engine.environment import cpu_model

    rows = []
    for run in summary["runs"]:
        mine = [x for x in recs if x["run"] == run["run"]]
        rows.append({
            "run": run["run"], "answers": len(mine),
            "decode_tok_s_median": round(statistics.median(x["decode_tok_s"] for x in mine), 1),
            "prefill_tok_s_median": round(statistics.median(x["prefill_tok_s"] for x in mine), 1),
            "extra_buffers": (run.get("details") or {}).get("extra_buffers"),
        })
    result = {
        "what": "llama.cpp extra CPU buffer types on/off, embedded model shape, CPU, fixed-length answers",
        "command": " ".join(["python", "benchmarks/cpu-extra-buffers/bench.py", "--tokens", str(args.tokens), "--limit", str(args.limit)]),
        "cpu": cpu_model(), "cpu_features": cpu_features(), "machine": platform.machine(), "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "tokens": args.tokens, "problems": args.limit, "runs": rows,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    for row in rows:
        print(f"{row['run']:45s} decode {row['decode_tok_s_median']:7.1f} tok/s  prefill {row['prefill_tok_s_median']:8.1f} tok/s  extra_buffers={row['extra_buffers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
