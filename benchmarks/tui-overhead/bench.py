"""What watching costs: the TUI against ``--batch`` on the same runs, and how fast the TUI answers keys.

    python benchmarks/tui-overhead/bench.py                       # writes benchmarks/tui-overhead/results.json
    python benchmarks/tui-overhead/bench.py --reps 5 --limit 4 --max-new-tokens 128
    python benchmarks/tui-overhead/bench.py --screenshot docs/tui.svg   # a real session's screenshot (160×48)

1. **Overhead.** The same session (llama.cpp on the embedded SmolLM2-135M Q4_1, builtin problems,
   greedy, fixed-length decode so every answer has the same token count) is run ``--reps`` times
   headless (``quantarena --batch``) and ``--reps`` times in the TUI (``quantarena`` in a real
   pseudo-terminal at 160×48, its output read and discarded as a terminal would; ``q`` once the
   summary shows), alternating the order. Decode tok/s is what the engine measured in the run
   process (``results.jsonl``). The headline is the median over repetitions of the TUI/batch
   ratio of session medians (each pair runs back to back, so slow drifts of a shared machine
   cancel); the ratio of the overall medians is reported too, with the front ends' CPU use.
2. **Responsiveness.** In-process with Textual's Pilot while a run streams at full speed: press a
   view key, and time from the press to the first screen update after the view switched (the
   compositor's ``_display`` call); median, p90 and max over ``--presses`` presses.

The machine's load (1-minute load average before and after, and any other busy process seen while
measuring) is written into the JSON: on a 2-core machine, other work skews both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import fcntl
import json
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

RUN = "smollm2-135m/llama.cpp/q4_1"


# ---- machine load -----------------------------------------------------------------------------
class LoadWatch:
    """Samples other processes' CPU use while a benchmark runs (those not ours)."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.busy: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.ours: set[int] = set()

    def _ours(self) -> set[int]:
        me = self.psutil.Process()
        pids = {me.pid} | {c.pid for c in me.children(recursive=True)}
        return pids | self.ours

    def _loop(self) -> None:
        procs: dict[int, Any] = {}
        while not self._stop.wait(1.0):
            ours = self._ours()
            for p in self.psutil.process_iter(["pid", "name", "cmdline"]):
                if p.pid in ours:
                    continue
                q = procs.setdefault(p.pid, p)
                try:
                    cpu = q.cpu_percent(None)
                except self.psutil.Error:
                    continue
                if cpu >= 20:
                    cmd = " ".join((p.info.get("cmdline") or [])[:3])[:80] or p.info.get("name") or str(p.pid)
                    self.busy[cmd] = max(self.busy.get(cmd, 0.0), cpu)
            self.samples += 1

    def __enter__(self) -> LoadWatch:
        self.load_before = os.getloadavg()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self.load_after = os.getloadavg()

    def report(self) -> dict[str, Any]:
        return {
            "loadavg_1_5_15_before": [round(x, 2) for x in self.load_before],
            "loadavg_1_5_15_after": [round(x, 2) for x in self.load_after],
            "other_busy_processes_max_cpu_pct": {k: round(v) for k, v in sorted(self.busy.items(), key=lambda kv: -kv[1])},
            "quiet": not self.busy,
        }


# ---- one session in each mode -----------------------------------------------------------------
def _common(args: argparse.Namespace, out: Path) -> list[str]:
    return ["--runs", args.run, "--limit", str(args.limit), "--max-new-tokens", str(args.max_new_tokens),
            "--fixed-length", "--out", str(out)]


def _records(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def run_batch(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--batch", "--quiet", *_common(args, out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    cpu = 0.0
    while proc.poll() is None:
        try:
            t = ps.cpu_times()
            cpu = t.user + t.system
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    return {"mode": "batch", "exit": proc.returncode, "wall_s": wall, "front_end_cpu_s": cpu, "records": _records(out)}


def run_tui_in_pty(args: argparse.Namespace, out: Path, cols: int = 160, rows: int = 48) -> dict[str, Any]:
    """``quantarena`` (the TUI) in a pseudo-terminal; ``q`` when the summary is written."""
    import psutil

    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", COLUMNS=str(cols), LINES=str(rows))
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the TUI
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "cli.main", *_common(args, out)], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    ps = psutil.Process(pid)
    received = 0
    cpu = 0.0
    quit_sent_at: float | None = None
    deadline = time.monotonic() + args.timeout
    status = None
    while True:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            received += len(data)
        try:
            t = ps.cpu_times()
            cpu = t.user + t.system
        except psutil.Error:
            pass
        if quit_sent_at is None and (out / "summary.json").exists():
            time.sleep(0.5)
            os.write(fd, b"q")
            quit_sent_at = time.monotonic()
        elif quit_sent_at is not None and time.monotonic() - quit_sent_at > 3:
            os.write(fd, b"q")
            quit_sent_at = time.monotonic()
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            break
    if status is None or not os.WIFEXITED(status):
        _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - t0
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    os.close(fd)
    return {"mode": "tui", "exit": code, "wall_s": wall, "front_end_cpu_s": cpu, "terminal_bytes": received,
            "records": _records(out)}


def overhead(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sessions: list[dict[str, Any]] = []
    for rep in range(args.reps):
        order = ("batch", "tui") if rep % 2 == 0 else ("tui", "batch")
        for mode in order:
            out = work / f"{mode}-{rep}"
            res = run_batch(args, out) if mode == "batch" else run_tui_in_pty(args, out)
            tps = [r["decode_tok_s"] for r in res["records"] if r.get("decode_tok_s")]
            res["decode_tok_s"] = tps
            res["median_decode_tok_s"] = statistics.median(tps) if tps else None
            res["tokens_out"] = [r.get("tokens_out") for r in res["records"]]
            print(f"  rep {rep} {mode:5s}: exit {res['exit']}, {len(tps)} answers, median decode "
                  f"{res['median_decode_tok_s'] or float('nan'):.1f} tok/s, front end CPU {res['front_end_cpu_s']:.1f} s "
                  f"over {res['wall_s']:.1f} s", flush=True)
            del res["records"]
            sessions.append(res)

    def summary(mode: str) -> dict[str, Any]:
        ss = [s for s in sessions if s["mode"] == mode]
        every = [v for s in ss for v in s["decode_tok_s"]]
        per_rep = [s["median_decode_tok_s"] for s in ss if s["median_decode_tok_s"]]
        return {
            "answers": len(every),
            "median_decode_tok_s": statistics.median(every) if every else None,
            "median_of_session_medians": statistics.median(per_rep) if per_rep else None,
            "session_medians": [round(x, 2) for x in per_rep],
            "front_end_cpu_pct_of_one_core": round(100 * statistics.median(s["front_end_cpu_s"] / s["wall_s"] for s in ss), 1),
            "exit_codes": [s["exit"] for s in ss],
        }

    b, t = summary("batch"), summary("tui")
    cost = None
    if b["median_decode_tok_s"] and t["median_decode_tok_s"]:
        cost = 100 * (b["median_decode_tok_s"] - t["median_decode_tok_s"]) / b["median_decode_tok_s"]
    # each repetition ran one batch and one TUI session back to back: their ratio cancels the
    # machine's slow drifts (other tenants, thermal); the median of the ratios is the headline
    ratios = []
    for rep in range(args.reps):
        pair = {s["mode"]: s["median_decode_tok_s"] for s in sessions[2 * rep:2 * rep + 2]}
        if pair.get("batch") and pair.get("tui"):
            ratios.append(pair["tui"] / pair["batch"])
    paired = 100 * (1 - statistics.median(ratios)) if ratios else None
    return {"batch": b, "tui": t,
            "tui_cost_pct_of_medians": round(cost, 2) if cost is not None else None,
            "tui_cost_pct_paired": round(paired, 2) if paired is not None else None,
            "paired_costs_pct": [round(100 * (1 - r), 2) for r in ratios],
            "target_pct": 5.0, "ok": paired is not None and paired < 5.0, "sessions": sessions}


# ---- responsiveness ---------------------------------------------------------------------------
async def _responsiveness(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from engine.launch import LaunchRequest, prepare
    from tui.app import make_app

    req = LaunchRequest(runs=args.run, limit=2, max_new_tokens=args.stream_tokens, fixed_length=True,
                        out=str(work / "responsiveness"))
    app = make_app(prepare(req), show_summary=False)
    displays: list[float] = []
    real_display = app._display

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            displays.append(time.perf_counter())
        real_display(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    switched: list[float] = []
    dash = app.dashboard
    real_show = dash.action_show_view

    def show(view: str) -> None:
        real_show(view)
        switched.append(time.perf_counter())

    dash.action_show_view = show  # type: ignore[method-assign]
    latencies: list[float] = []
    streaming_presses = 0
    async with app.run_test(size=(160, 48)) as pilot:
        name = args.run
        t0 = time.monotonic()
        while app.model.runs[name].tokens_out < 8:  # streaming at full speed
            if time.monotonic() - t0 > 120:
                raise RuntimeError("the run did not start streaming")
            await pilot.pause(0.05)
        keys = ["2", "3", "4", "1"]
        for i in range(args.presses):
            rv = app.model.runs[name]
            streaming_presses += int(rv.answering)
            n_before = len(switched)
            t_press = time.perf_counter()
            await pilot.press(keys[i % len(keys)])
            t_wait = time.perf_counter()
            while len(switched) == n_before or not any(d > switched[-1] for d in displays):
                if time.perf_counter() - t_wait > 2:
                    break
                await asyncio.sleep(0.001)
            after = [d for d in displays if switched and d > switched[-1]]
            if after:
                latencies.append(1000 * (after[0] - t_press))
            await asyncio.sleep(args.press_gap)
        tokens_seen = app.model.runs[name].tokens_out
        flushes = app.flushes
        app.session.stop()
        await wait_stopped(pilot, app)
    lat = sorted(latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(round(q / 100 * (len(lat) - 1))))]

    return {
        "presses": len(latencies), "presses_while_streaming": streaming_presses,
        "key_to_screen_ms_median": round(statistics.median(lat), 1) if lat else None,
        "key_to_screen_ms_p90": round(pct(90), 1) if lat else None,
        "key_to_screen_ms_max": round(lat[-1], 1) if lat else None,
        "target_ms": 100, "ok": bool(lat) and pct(90) < 100,
        "text_flushes_during_test": flushes, "last_token_count": tokens_seen,
        "stream_tokens_per_answer": args.stream_tokens,
    }


async def wait_stopped(pilot: Any, app: Any, timeout: float = 30) -> None:
    t0 = time.monotonic()
    while app.model.state != "finished" and time.monotonic() - t0 < timeout:
        await pilot.pause(0.1)


# ---- a real screenshot ------------------------------------------------------------------------
def svg_to_png(svg: Path, png: Path, width: int = 1600) -> bool:
    """Render Textual's SVG with ``rsvg-convert`` (librsvg), if installed.

    librsvg drops the leading/trailing no-break spaces of each ``<text textLength=…>`` run that
    Textual writes, which shifts words; the runs are rewritten with those spaces moved into ``x``.
    """
    import re

    exe = shutil.which("rsvg-convert")
    if exe is None:
        return False
    nbsp = "&#160;"
    cell = 12.2  # the width of one terminal cell in Textual's SVG

    def fix(m: re.Match[str]) -> str:
        attrs, body = m.group(1), m.group(2)
        inner = body
        lead = trail = 0
        while inner.startswith(nbsp):
            inner, lead = inner[len(nbsp):], lead + 1
        while inner.endswith(nbsp):
            inner, trail = inner[:-len(nbsp)], trail + 1
        xm, tm = re.search(r' x="([\d.]+)"', attrs), re.search(r'textLength="([\d.]+)"', attrs)
        if not (lead or trail) or xm is None or tm is None:
            return m.group(0)
        if not inner:
            return ""
        attrs = attrs.replace(xm.group(0), f' x="{float(xm.group(1)) + lead * cell:.1f}"')
        attrs = attrs.replace(tm.group(0), f'textLength="{float(tm.group(1)) - (lead + trail) * cell:.1f}"')
        return f"<text{attrs}>{inner}</text>"

    fixed = re.sub(r"<text([^>]*)>([^<]*)</text>", fix, svg.read_text())
    tmp = png.with_suffix(".tmp.svg")
    tmp.write_text(fixed)
    try:
        subprocess.run([exe, "-w", str(width), str(tmp), "-o", str(png)], check=True)
    finally:
        tmp.unlink(missing_ok=True)
    return True


async def _screenshot(args: argparse.Namespace, work: Path, path: Path) -> None:
    """A real session on this machine's CPU runs, saved mid-stream at 160×48 (SVG)."""
    from engine.launch import LaunchRequest, prepare
    from tui.app import make_app

    req = LaunchRequest(runs=args.screenshot_runs, limit=args.screenshot_limit, max_new_tokens=args.screenshot_tokens,
                        out=str(work / "screenshot"))
    app = make_app(prepare(req), show_summary=False)
    async with app.run_test(size=(160, 48)) as pilot:
        first = next(iter(app.model.runs))
        # wait until every run has answered at least once and the first run streams its last problem
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.timeout:
            runs = list(app.model.runs.values())
            done = all(r.records or r.failed for r in runs)
            last = app.model.runs[first]
            if done and last.answering and last.tokens_out >= args.screenshot_at_tokens:
                break
            if app.model.state == "finished":
                break
            await pilot.pause(0.1)
        await pilot.pause(0.2)
        for view, suffix in (("runs", ""), ("leaderboard", "-leaderboard"), ("problem", "-problem")):
            await pilot.press({"runs": "1", "leaderboard": "2", "problem": "4"}[view])
            await pilot.pause(0.1)
            target = path.with_name(path.stem + suffix + path.suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(app.export_screenshot(title="quantarena"))
            print(f"screenshot: {target}")
            if args.png and svg_to_png(target, target.with_suffix(".png")):
                print(f"screenshot: {target.with_suffix('.png')}")
        app.session.stop()
        await wait_stopped(pilot, app)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default=RUN)
    p.add_argument("--reps", type=int, default=5, help="sessions per mode (alternating order)")
    p.add_argument("--limit", type=int, default=4, help="problems per session")
    p.add_argument("--max-new-tokens", type=int, default=128, help="tokens per answer (fixed length)")
    p.add_argument("--presses", type=int, default=24)
    p.add_argument("--press-gap", type=float, default=0.25, help="seconds between key presses")
    p.add_argument("--stream-tokens", type=int, default=1024, help="answer length while pressing keys")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.json"))
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-responsiveness", action="store_true")
    p.add_argument("--screenshot", metavar="SVG", help="only make a real screenshot (and -leaderboard/-problem ones)")
    p.add_argument("--png", action="store_true", help="with --screenshot: also PNGs (needs rsvg-convert)")
    p.add_argument("--screenshot-runs", default=None, help="runs to show (default: the catalog's default runs)")
    p.add_argument("--screenshot-limit", type=int, default=3)
    p.add_argument("--screenshot-tokens", type=int, default=96)
    p.add_argument("--screenshot-at-tokens", type=int, default=40)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_tui-"))
    try:
        if args.screenshot:
            asyncio.run(_screenshot(args, work, Path(args.screenshot)))
            return 0
        report: dict[str, Any] = {
            "what": "TUI cost against --batch (decode tok/s measured by the engine in the run process) and key latency",
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpu_cores_logical": os.cpu_count(), "python": sys.version.split()[0]},
            "settings": {"run": args.run, "dataset": "builtin", "limit": args.limit, "max_new_tokens": args.max_new_tokens,
                         "fixed_length": True, "reps_per_mode": args.reps, "terminal": "160x48 pty (tui)"},
        }
        try:
            import textual

            from tui.app import DEFAULT_REFRESH_HZ

            report["machine"]["textual"] = textual.__version__
            report["settings"]["tui_refresh_hz"] = float(os.environ.get("QUANTARENA_TUI_HZ", DEFAULT_REFRESH_HZ))
        except ImportError:
            pass
        with LoadWatch() as watch:
            if not args.skip_overhead:
                print("overhead: batch vs TUI", flush=True)
                report["overhead"] = overhead(args, work)
            if not args.skip_responsiveness:
                print("responsiveness: key → screen while streaming", flush=True)
                report["responsiveness"] = asyncio.run(_responsiveness(args, work))
        report["load"] = watch.report()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        brief = {k: v for k, v in report.get("overhead", {}).items() if k != "sessions"}
        print(json.dumps({"overhead": brief, "responsiveness": report.get("responsiveness"), "load": report["load"]}, indent=2))
        print(f"written: {out}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
