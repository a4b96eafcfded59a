"""What ``--executor ray`` costs against a local session, on this machine's CPU.

The embedded run (SmolLM2-135M, llama.cpp Q4_1, CPU) answers the same problems with fixed-length
answers through ``quantarena --batch``, alternately ``--executor local`` and ``--executor ray``
(ABAB..., so drift in the machine's load hits both alike). The ray sessions connect to a local
Ray started once by this script (``--ray-address``), so Ray's own start-up is measured apart:
one more ray session lets quantarena start Ray itself (``on_demand``).

    python benchmarks/ray-executor/bench.py [--pairs 3] [--tokens 96] [--limit 6]

Writes ``results.json`` here: per session the process wall time, the session's ``wall_s``
(summary.json: load + warm-up + answers + summary), decode tok/s (median and each answer's) and
the load average before and after; then the medians and the overheads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUN = "smollm2-135m/llama.cpp/q4_1"

HOLDER = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", object_store_memory=200 * 2**20)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
ray.shutdown()
"""


def session(executor: str, out: Path, args: argparse.Namespace, address: str | None) -> dict:
    cmd = [sys.executable, "-m", "cli.main", "--batch", "--quiet", "--runs", RUN, "--fixed-length", "--no-quality",
           "--max-new-tokens", str(args.tokens), "--limit", str(args.limit), "--executor", executor, "--out", str(out)]
    if address:
        cmd += ["--ray-address", address]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{executor} session failed ({r.returncode}): {r.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    dec = [r["decode_tok_s"] for r in recs]
    return {
        "executor": executor, "on_demand": executor == "ray" and address is None,
        "process_wall_s": round(wall, 3), "session_wall_s": summary["wall_s"],
        "load_s": summary["runs"][0]["load_s"], "decode_tok_s_median": round(statistics.median(dec), 2),
        "decode_tok_s": [round(x, 2) for x in dec], "tokens_out": [r["tokens_out"] for r in recs],
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="qa-ray-bench-"))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    address = holder.stdout.readline().strip()
    time.sleep(5)  # Ray's own processes settle before anything is timed
    sessions = []
    try:
        for i in range(args.pairs):
            for ex in (("local", "ray") if i % 2 == 0 else ("ray", "local")):
                sessions.append(session(ex, out / f"{i}-{ex}", args, address if ex == "ray" else None))
                print(json.dumps({k: sessions[-1][k] for k in ("executor", "session_wall_s", "decode_tok_s_median", "loadavg_before")}), flush=True)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    sessions.append(session("ray", out / "on-demand", args, None))

    def med(ex: str, key: str) -> float:
        return statistics.median(s[key] for s in sessions if s["executor"] == ex and not s["on_demand"])

    local_dec, ray_dec = med("local", "decode_tok_s_median"), med("ray", "decode_tok_s_median")
    result = {
        "what": f"{RUN} on the CPU, {args.limit} problems x {args.tokens} tokens (fixed length), quality off; "
                "local vs ray sessions alternated; ray sessions on a local Ray started beforehand (2 CPUs)",
        "cpu": _cpu(), "cores": os.cpu_count(), "python": sys.version.split()[0], "ray": _version("ray"),
        "sessions": sessions,
        "median": {
            "local": {"session_wall_s": med("local", "session_wall_s"), "process_wall_s": med("local", "process_wall_s"), "decode_tok_s": local_dec},
            "ray": {"session_wall_s": med("ray", "session_wall_s"), "process_wall_s": med("ray", "process_wall_s"), "decode_tok_s": ray_dec},
        },
        "overhead": {
            "session_wall_s": round(med("ray", "session_wall_s") - med("local", "session_wall_s"), 3),
            "process_wall_s": round(med("ray", "process_wall_s") - med("local", "process_wall_s"), 3),
            "decode_tok_s_pct": round(100 * (ray_dec - local_dec) / local_dec, 2),
            "on_demand_process_wall_s": next(s["process_wall_s"] for s in sessions if s["on_demand"]),
        },
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median"], indent=1), json.dumps(result["overhead"], indent=1))
    return 0


def _cpu() -> str:
    try:
        return next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        return "?"


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
