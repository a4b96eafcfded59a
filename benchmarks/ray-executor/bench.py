"""What ``--executor ray`` costs against a local session, on this machine's CPU.

The embedded run (SmolLM2-135M, llama.cpp Q4_1, CPU) answers the same problems with fixed-length
answers through ``quantarena --batch``, alternately ``--executor local`` and ``--executor ray``
(ABAB..., so drift in the machine's load hits both alike). The ray sessions connect to a local
Ray started once by this script (``--ray-address``), so Ray's own start-up is measured apart:
one more ray session lets quantarena start Ray itself (``on_demand``).

    python benchmarks/ray-executor/bench.py [--pairs 3] [--tokens 96] [--limit 6] [--threads 1] [--ray lean|default]

``--threads 1`` sets the run's llama.cpp ``n_threads`` to 1 in both executors, so a core is left to
Ray's processes: what remains is the executor's own overhead, not core contention. ``--ray``
picks how the local Ray is started (``lean``: as quantarena starts its own, the default).

Writes ``results.json`` here (``results-threadsN.json`` with ``--threads N``; ``--results PATH``): per session the process wall time, the session's ``wall_s``
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
sys.path.insert(0, str(ROOT))  # this checkout's engine (for the lean Ray options), not an installed one
RUN = "smollm2-135m/llama.cpp/q4_1"

#: how the benchmark started its Ray before quantarena's lean start (dashboard off, the rest Ray's defaults)
DEFAULT_INIT = {"include_dashboard": False, "logging_level": "ERROR", "object_store_memory": 200 * 2**20}


def ray_init_options(lean: bool) -> dict:
    """The ``ray.init`` options of the holder's Ray (recorded in results.json): quantarena's own
    lean start (``engine.executors.ray_cluster.connect``), or the earlier one."""
    if not lean:
        return {"num_cpus": 2, **DEFAULT_INIT}
    from engine.executors.ray_cluster import LEAN_INIT

    return {"num_cpus": 2, "object_store_memory": 200 * 2**20, **LEAN_INIT}


def holder_script(lean: bool) -> str:
    """A process holding a local Ray (2 CPUs) until its stdin closes; it prints the address.
    Lean: started by quantarena's own ``connect()``, as a session without ``--ray-address`` does."""
    start = ("from engine.executors.ray_cluster import connect; connect(num_cpus=2)" if lean
             else f"ray.init(num_cpus=2, **{DEFAULT_INIT!r})")
    return f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import ray
{start}
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
ray.shutdown()
"""


def catalog_with_threads(folder: Path, threads: int) -> tuple[Path, str]:
    """The repository's catalog plus the embedded run with llama.cpp's ``n_threads`` (and
    ``n_threads_batch``) set: its path and the run's name (``...@threadsN``)."""
    text = (ROOT / "models.toml").read_text()
    tag = f"threads{threads}"
    text += (f'\n[[runs]]\nmodel = "smollm2-135m"\nbackend = "llama.cpp"\nquant = "q4_1"\ntag = "{tag}"\n'
             f"default = false\nsettings = {{ n_ctx = 2048, n_threads = {threads}, n_threads_batch = {threads} }}\n")
    path = folder / "models.toml"
    path.write_text(text)
    return path, f"{RUN}@{tag}"


def session(executor: str, out: Path, args: argparse.Namespace, address: str | None) -> dict:
    cmd = [sys.executable, "-m", "cli.main", "--batch", "--quiet", "--runs", args.run, "--fixed-length", "--no-quality",
           "--max-new-tokens", str(args.tokens), "--limit", str(args.limit), "--executor", executor, "--out", str(out)]
    if args.models:
        cmd += ["--models", str(args.models)]
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
    details = summary["runs"][0].get("details") or {}
    used = (summary["environment"].get("executor") or {}).get("runs", {}).get(args.run, {})
    return {
        "executor": executor, "on_demand": executor == "ray" and address is None,
        "process_wall_s": round(wall, 3), "session_wall_s": summary["wall_s"],
        "load_s": summary["runs"][0]["load_s"], "decode_tok_s_median": round(statistics.median(dec), 2),
        "decode_tok_s": [round(x, 2) for x in dec], "tokens_out": [r["tokens_out"] for r in recs],
        "n_threads": details.get("n_threads"), "run_nice": used.get("nice", os.nice(0) if executor == "local" else None),
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--threads", type=int, default=None,
                    help="the run's llama.cpp n_threads (and n_threads_batch), both executors; 1 leaves a core to Ray "
                         "(default: the backend's own, the physical cores)")
    ap.add_argument("--ray", choices=("lean", "default"), default="lean",
                    help="how the benchmark's local Ray is started: as quantarena starts its own (lean), "
                         "or with Ray's defaults but the dashboard (as before the lean start)")
    ap.add_argument("--results", default=None,
                    help="where to write the results (default: results.json here; results-threadsN.json with --threads N)")
    ap.add_argument("--no-on-demand", action="store_true", help="skip the last session, where quantarena starts Ray itself")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="qa-ray-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    args.run, args.models = RUN, None
    if args.threads:
        args.models, args.run = catalog_with_threads(out, args.threads)
    results = Path(args.results) if args.results else HERE / (f"results-threads{args.threads}.json" if args.threads else "results.json")
    holder = subprocess.Popen([sys.executable, "-c", holder_script(args.ray == "lean")], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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
    if not args.no_on_demand:
        sessions.append(session("ray", out / "on-demand", args, None))

    def med(ex: str, key: str) -> float:
        return statistics.median(s[key] for s in sessions if s["executor"] == ex and not s["on_demand"])

    local_dec, ray_dec = med("local", "decode_tok_s_median"), med("ray", "decode_tok_s_median")
    threads = f", llama.cpp n_threads={args.threads}" if args.threads else ""
    result = {
        "what": f"{args.run} on the CPU{threads}, {args.limit} problems x {args.tokens} tokens (fixed length), quality off; "
                "local vs ray sessions alternated; ray sessions on a local Ray started beforehand (2 CPUs)",
        "cpu": _cpu(), "cores": os.cpu_count(), "python": sys.version.split()[0], "ray": _version("ray"),
        "threads": args.threads, "ray_start": {"mode": args.ray, "ray.init": ray_init_options(args.ray == "lean")},
        "sessions": sessions,
        "median": {
            "local": {"session_wall_s": med("local", "session_wall_s"), "process_wall_s": med("local", "process_wall_s"), "decode_tok_s": local_dec},
            "ray": {"session_wall_s": med("ray", "session_wall_s"), "process_wall_s": med("ray", "process_wall_s"), "decode_tok_s": ray_dec},
        },
        "overhead": {
            "session_wall_s": round(med("ray", "session_wall_s") - med("local", "session_wall_s"), 3),
            "process_wall_s": round(med("ray", "process_wall_s") - med("local", "process_wall_s"), 3),
            "decode_tok_s_pct": round(100 * (ray_dec - local_dec) / local_dec, 2),
            "on_demand_process_wall_s": next((s["process_wall_s"] for s in sessions if s["on_demand"]), None),
        },
    }
    results.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median"], indent=1), json.dumps(result["overhead"], indent=1), f"-> {results}")
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
