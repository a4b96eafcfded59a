"""``quantarena --batch``: the headless front end. A rich progress bar on stderr, files in --out.

Exit codes are an API (``cli.exit_codes.ExitCode``): 0 ok, 2 usage or configuration error,
3 a run failed to load or crashed, 130 interrupted (results so far kept, summary written).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.exit_codes import ExitCode
from engine import events as ev
from engine.launch import LaunchError, LaunchRequest, prepare
from engine.results import quality_cells


def _err(console: Console, msg: str) -> None:
    console.print(f"[bold red]quantarena:[/] {msg}", highlight=False, markup=True)


class BatchProgress:
    """Consumes session events; one progress row per run."""

    def __init__(self, console: Console, n_problems: int, enabled: bool):
        self.console = console
        self.n = n_problems
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}
        self.correct: dict[str, int] = {}
        self.graded: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, e: ev.Event) -> None:
        with self.lock:
            self._handle(e)

    def _handle(self, e: ev.Event) -> None:
        p = self.progress
        if isinstance(e, ev.SessionStarted):
            for name in e.runs:
                self.tasks[name] = p.add_task(name, total=self.n, info="waiting")
        elif isinstance(e, ev.RunLoading):
            p.update(self.tasks[e.run], info="loading…")
        elif isinstance(e, ev.RunLoaded):
            p.update(self.tasks[e.run], info=f"loaded on {e.device} in {e.load_s:.1f}s")
        elif isinstance(e, ev.RunFailed):
            p.update(self.tasks[e.run], info=f"{e.status.upper()}: {e.reason}")
        elif isinstance(e, ev.ProblemFinished):
            r = e.record
            if r.get("verdict") in ("correct", "incorrect"):
                self.graded[e.run] = self.graded.get(e.run, 0) + 1
                self.correct[e.run] = self.correct.get(e.run, 0) + (r["verdict"] == "correct")
            tps = r.get("decode_tok_s")
            acc = f"{self.correct.get(e.run, 0)}/{self.graded.get(e.run, 0)} correct" if self.graded.get(e.run) else "acc n/a"
            p.update(self.tasks[e.run], advance=1, info=f"{acc} · last {r.get('verdict')} · {tps:.1f} tok/s" if tps else f"{acc} · last {r.get('verdict')}")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def summary_table(summary: dict[str, Any]) -> Table:
    t = Table(title="quantarena summary", show_lines=False)
    batched = any(r.get("aggregate_tok_s") is not None for r in summary["runs"])
    heads = ["run", "status", "acc", "strict", "graded", "unparsed", "trunc", "TTFT p50 s", "decode tok/s p50", "peak VRAM MiB", "RSS MiB", "load s"]

    if batched:  # throughput mode: aggregate tok/s beside the single-stream reference
        heads[9:9] = ["N", "aggregate tok/s", "single-stream tok/s", "speedup"]
    for h in heads:
        t.add_column(h, justify="left" if h in ("run", "status") else "right")

    def f(v: Any, spec: str) -> str:
        return "N/A" if v is None else format(v, spec)

    for r in summary["runs"]:
        acc = "n/a" if r.get("accuracy") is None else f"{100 * r['accuracy']:.1f}%"
        strict = "n/a" if r.get("strict_accuracy") is None else f"{100 * r['strict_accuracy']:.1f}%"
        cells = [
            r["run"], r["status"], acc, strict, str(r["graded"]), str(r["unparsed"]), str(r["truncated"]),
            f(r.get("ttft_s_median"), ".3f"), f(r.get("decode_tok_s_median"), ".1f"), f(r.get("peak_vram_mib"), ".0f"),
            f(r.get("rss_mib_peak"), ".0f"), f(r.get("load_s"), ".2f"),
        ]
        if batched:
            sp = r.get("throughput_speedup")
            cells[9:9] = [str(r.get("concurrency") or 1), f(r.get("aggregate_tok_s"), ".1f"), f(r.get("single_stream_tok_s"), ".1f"),
                          "N/A" if sp is None else f"{sp:.2f}×"]
        t.add_row(*cells)
    return t


def quality_table(summary: dict[str, Any]) -> Table | None:
    """Each run's divergence from its model's reference on the reference solutions (None without any)."""
    rows = [r for r in summary["runs"] if r.get("quality")]
    if not rows:
        return None
    t = Table(title="quality against the reference (llama-perplexity's names)", show_lines=False)
    for h in ("run", "reference", "PPL(Q)", "PPL/byte", "mean KLD", "99.0% KLD", "same top p %", "tokens"):
        t.add_column(h, justify="left" if h in ("run", "reference") else "right")
    for r in rows:
        q = r["quality"]
        c = quality_cells(q)
        ref = (q.get("reference") or "N/A") + (" (synthetic)" if q.get("synthetic") else "")
        t.add_row(r["run"], ref, c["ppl"], c["ppl_byte"], c["kld_mean"], c["kld_p99"], c["top1_pct"], c["tokens"])
    return t


def run_batch(args: Any) -> int:
    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=200)
    req = LaunchRequest.from_args(args)
    req.stream_text = False  # the bar shows no answer text: keep the pipe quiet
    try:
        prepared = prepare(req)
    except LaunchError as e:
        _err(console, str(e))
        return e.code
    session = prepared.session()
    progress = BatchProgress(console, len(prepared.problems), enabled=not getattr(args, "quiet", False))
    console.print(
        f"quantarena: {len(prepared.runs)} runs × {len(prepared.problems)} problems "
        f"(dataset {prepared.options.dataset}, max_new_tokens {prepared.options.max_new_tokens}) → {prepared.options.out_dir}",
        highlight=False,
    )
    if prepared.plan is not None and getattr(prepared.plan, "unplaceable", None):
        for name, why in prepared.plan.unplaceable.items() if isinstance(prepared.plan.unplaceable, dict) else []:
            _err(console, f"{name}: cannot be placed: {why}")
    result: dict[str, Any] = {}
    error: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            result["summary"] = session.run(progress)
        except BaseException as e:  # noqa: BLE001
            error.append(e)
        finally:
            finished.set()

    # Wait on an Event, not Thread.join: a KeyboardInterrupt landing inside join() can leave the
    # thread looking finished while it still runs (CPython issue 90882).
    worker = threading.Thread(target=target, name="session", daemon=True)
    interrupted = False
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with progress.progress:
            worker.start()
            while not finished.is_set():
                try:
                    finished.wait(0.2)
                except KeyboardInterrupt:
                    if not interrupted:
                        interrupted = True
                        console.print("quantarena: interrupted — stopping runs, keeping finished results…", highlight=False)
                        session.stop()
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    if error:
        _err(console, f"internal error: {type(error[0]).__name__}: {error[0]}")
        return ExitCode.ERROR
    summary = result["summary"]
    console.print(summary_table(summary))
    qt = quality_table(summary)
    if qt is not None:
        console.print(qt)
    out = prepared.options.out_dir
    console.print(f"results: {out / 'results.jsonl'}\nsummary: {out / 'summary.json'}, {out / 'summary.md'}", highlight=False)
    if interrupted or summary.get("interrupted"):
        return ExitCode.INTERRUPTED
    bad = [r for r in summary["runs"] if r["status"] in ("failed", "oom")]
    unsupported = [r for r in summary["runs"] if r["status"] == "unsupported"]
    for r in unsupported:
        console.print(f"[yellow]unsupported:[/] {r['run']}: {r.get('reason')}", highlight=False)
    for r in summary["runs"]:
        q = r.get("quality") or {}
        for why in (q.get("reason"), q.get("note")):
            if why and r["status"] == "ok":
                console.print(f"quality: {r['run']}: {why}", highlight=False, markup=False)
    for r in bad:
        _err(console, f"{r['run']}: {r['status']}: {r.get('reason')}")
    return ExitCode.RUN_FAILED if bad else ExitCode.OK


def list_runs(args: Any) -> int:
    from engine.catalog import CatalogError, default_catalog_path, load_catalog

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    try:
        cat = load_catalog(args.models or default_catalog_path())
    except CatalogError as e:
        _err(Console(stderr=True), str(e))
        return ExitCode.USAGE
    t = Table(title=f"runs in {cat.path}")
    for h in ("run", "default", "device", "weights", "model"):
        t.add_column(h)
    for r in cat.runs.values():
        if r.default or args.all:
            t.add_row(r.name, "yes" if r.default else "", r.device, r.weights, cat.models[r.model].display_name)
    console.print(t)
    return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    from cli.main import main

    sys.exit(main(["--batch", *sys.argv[1:]]))
