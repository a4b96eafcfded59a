"""Where the CPU goes in a ``--executor ray`` session: CPU seconds per second of session, per process.

    python benchmarks/ray-executor/cpu_share.py [--executor ray|local] [--ray lean|default]
        [--tokens 96] [--limit 6] [--threads N] [--json PATH]

A local Ray is started first by a holder process (``--ray lean``: as quantarena starts its own,
``engine.executors.ray_cluster.connect()`` with ``LEAN_INIT``; ``--ray default``: as the benchmark
did before, dashboard off and the rest Ray's defaults), so every Ray process is the holder's
descendant. The session (``quantarena --batch``, the same flags as ``bench.py``) then runs **in
this process**, so the driver's threads can be told apart by their Python names. While it runs,
a sampling thread reads ``cpu_times`` of every Ray process, of the run's own worker process and
of each driver thread every 0.5 s. A figure is the CPU seconds a process used divided by the
wall time (100% = one core busy), over the whole session and over the decode window (while the
run's process keeps half a core or more busy: when contention costs tok/s). CPU seconds are
what each process spends on its own work, so the figures hold under load (a loaded machine
stretches the decode's wall time, not the cost of a poll); the load average is recorded beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench import RUN, catalog_with_threads, holder_script  # noqa: E402

SAMPLE_S = 0.5


def _kind(p: psutil.Process) -> str:
    """A Ray process's role, from its name and command line."""
    try:
        name, cmd = p.name(), " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"
    for key, label in (("gcs_server", "gcs_server"), ("raylet", "raylet"), ("log_monitor.py", "log_monitor"),
                       ("autoscaler/_private/monitor.py", "autoscaler monitor"), ("dashboard.py", "dashboard (head)"),
                       ("DashboardAgent", "dashboard agent"), ("RuntimeEnvAgent", "runtime-env agent"),
                       ("RunActor", "the run's actor (RunActor)"), ("ray::IDLE", "idle workers"),
                       ("default_worker.py", "idle workers")):
        if key in name or key in cmd:
            return label
    if "engine" in cmd or "multiprocessing" in cmd:
        return "run process (llama.cpp, decode)"
    return f"other ({name})"


class Meter:
    """CPU seconds over time: every Ray process and the run's process by pid, this process's
    threads by tid, one snapshot every :data:`SAMPLE_S`."""

    def __init__(self, holder_pid: int | None):
        self.holder_pid = holder_pid
        self.me = psutil.Process()
        self.kind: dict[int, str] = {}  # pid -> role (the latest seen)
        self.thread_name: dict[int, str] = {}
        self.samples: list[tuple[float, dict[int, float], dict[int, float]]] = []
        self.stop = threading.Event()
        self.meter_tid = 0

    def _procs(self) -> list[psutil.Process]:
        out = self.me.children(recursive=True)
        if self.holder_pid is not None:
            try:
                holder = psutil.Process(self.holder_pid)
                out += [holder, *holder.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return out

    def sample(self) -> None:
        t = time.perf_counter()
        procs: dict[int, float] = {}
        for p in self._procs():
            try:
                ct = p.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            # every time: a prestarted idle worker becomes the actor (its title changes)
            kind = "holder (idle driver)" if p.pid == self.holder_pid else _kind(p)
            if kind != "?":
                self.kind[p.pid] = kind
                procs[p.pid] = ct.user + ct.system
        names = {th.native_id: th.name for th in threading.enumerate() if th.native_id is not None}
        threads: dict[int, float] = {}
        for th in self.me.threads():
            if th.id not in self.thread_name:
                py = names.get(th.id)
                if py is None:
                    try:
                        py = Path(f"/proc/self/task/{th.id}/comm").read_text().strip() + " (native)"
                    except OSError:
                        py = "?"
                self.thread_name[th.id] = py
            threads[th.id] = th.user_time + th.system_time
        self.samples.append((t, procs, threads))

    def loop(self) -> None:
        self.meter_tid = threading.get_native_id()
        while not self.stop.wait(SAMPLE_S):
            self.sample()

    def _between(self, i: int, j: int) -> tuple[dict[str, float], dict[str, float]]:
        """CPU seconds from sample i to sample j, by role and by thread name. A process that
        appears after sample i counts from 0 (its start-up is part of the session); one that
        ended before j counts to its last sample."""
        procs: dict[str, float] = {}
        last: dict[int, float] = {}
        for _, ps, _ in self.samples[i:j + 1]:
            last.update(ps)
        base = self.samples[i][1]
        for pid, cpu in last.items():
            k = self.kind[pid]
            procs[k] = procs.get(k, 0.0) + cpu - base.get(pid, 0.0)
        threads: dict[str, float] = {}
        tlast: dict[int, float] = {}
        for _, _, ts in self.samples[i:j + 1]:
            tlast.update(ts)
        tbase = self.samples[i][2]
        for tid, cpu in tlast.items():
            name = "cpu_share meter (not counted)" if tid == self.meter_tid else _group(self.thread_name[tid])
            threads[name] = threads.get(name, 0.0) + cpu - tbase.get(tid, 0.0)
        return procs, threads

    def decode_window(self) -> tuple[int, int] | None:
        """The samples between which the run's process kept at least half a core busy (load,
        warm-up and answers: when contention costs tok/s)."""
        busy = []
        for n in range(1, len(self.samples)):
            (t0, p0, _), (t1, p1, _) = self.samples[n - 1], self.samples[n]
            run = [pid for pid in p1 if self.kind.get(pid, "").startswith("run process")]
            rate = sum(p1[pid] - p0.get(pid, p1[pid]) for pid in run) / (t1 - t0)
            if rate >= 0.5:
                busy.append(n)
        return (busy[0] - 1, busy[-1]) if busy else None

    def table(self) -> dict[str, object]:
        def pct(d: dict[str, float], wall: float) -> dict[str, float]:
            return {k: round(100 * v / wall, 2) for k, v in sorted(d.items(), key=lambda kv: -kv[1])}

        last = len(self.samples) - 1
        wall = self.samples[-1][0] - self.samples[0][0]
        procs, threads = self._between(0, last)
        out: dict[str, object] = {
            "metered_s": round(wall, 2),
            "session": {"processes_pct": pct(procs, wall), "driver_threads_pct": pct(threads, wall),
                        "processes_cpu_s": {k: round(v, 2) for k, v in procs.items()}},
        }
        win = self.decode_window()
        if win is not None:
            i, j = win
            w = self.samples[j][0] - self.samples[i][0]
            dp, dt = self._between(i, j)
            out["decode"] = {"wall_s": round(w, 2), "processes_pct": pct(dp, w), "driver_threads_pct": pct(dt, w)}
        return out


def _group(name: str) -> str:
    """Threads named per run (``ray-pump:RUN``) or per instance (``Thread-3``) grouped."""
    if name.endswith("(native)"):
        return "Ray core worker threads (native)"
    for prefix in ("ray-pump", "Thread-", "ThreadPoolExecutor"):
        if name.startswith(prefix):
            return prefix.rstrip(":-") + " threads"
    return name


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", choices=("ray", "local"), default="ray")
    ap.add_argument("--ray", choices=("lean", "default"), default="lean", help="how the holder starts Ray")
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--threads", type=int, default=None, help="the run's llama.cpp n_threads (default: its own)")
    ap.add_argument("--json", default=None, help="append the result as one JSON line here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-cpu-share-"))
    holder = address = None
    if args.executor == "ray":
        holder = subprocess.Popen([sys.executable, "-c", holder_script(args.ray == "lean")], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdin is not None
        address = holder.stdout.readline().strip()
        time.sleep(5)  # Ray's own processes settle
    run, models = RUN, None
    if args.threads:
        models, run = catalog_with_threads(tmp, args.threads)
    argv = ["--batch", "--quiet", "--runs", run, "--fixed-length", "--no-quality", "--max-new-tokens", str(args.tokens),
            "--limit", str(args.limit), "--executor", args.executor, "--out", str(tmp / "out")]
    if models:
        argv += ["--models", str(models)]
    if address:
        argv += ["--ray-address", address]
    os.environ.pop("RAY_ADDRESS", None)
    from cli.main import main as cli_main

    meter = Meter(holder.pid if holder else None)
    meter.sample()
    th = threading.Thread(target=meter.loop, name="cpu-share-meter", daemon=True)
    th.start()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    try:
        rc = cli_main(argv)
    finally:
        wall = time.perf_counter() - t0
        meter.stop.set()
        th.join()
        meter.sample()
        if holder is not None:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=60)
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    result = {
        "executor": args.executor, "ray": args.ray if args.executor == "ray" else None, "threads": args.threads,
        "rc": rc, "wall_s": round(wall, 2), "session_wall_s": summary["wall_s"],
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        **meter.table(),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
