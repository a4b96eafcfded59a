"""``quantarena --batch``: the headless front end. A rich progress bar on stderr, files in --out.

Exit codes are an API (``engine.exits.ExitCode``): 0 ok, 2 usage or configuration error,
3 a run failed to load or crashed, 130 interrupted (results so far kept, summary written).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from engine import events as ev
from engine.exits import FAILED_STATUSES, JUDGE_DONE, ExitCode, summary_exit_code
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
        elif isinstance(e, ev.RunLoadProgress):
            p.update(self.tasks[e.run], info=f"loading… {e.line}")
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
    heads = ["run", "status", "acc", "strict", "graded", "unparsed", "trunc", "TTFT p50 s", "decode tok/s p50", "VRAM MiB (run)", "GPU used MiB", "RSS MiB", "load s"]
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
            f(r.get("ttft_s_median"), ".3f"), f(r.get("decode_tok_s_median"), ".1f"), f(r.get("peak_vram_process_mib"), ".0f"), f(r.get("peak_vram_mib"), ".0f"),
            f(r.get("rss_mib_peak"), ".0f"), f(r.get("load_s"), ".2f"),
        ]
        if batched:
            sp = r.get("throughput_speedup")
            cells[9:9] = [str(r.get("concurrency") or 1), f(r.get("aggregate_tok_s"), ".1f"), f(r.get("single_stream_tok_s"), ".1f"),
                          "N/A" if sp is None else f"{sp:.2f}×"]
        t.add_row(*cells)
    return t


def unplaceable_lines(plan: Any) -> list[str]:
    """One line per run the planner could not place (``Plan.unplaceable``: a tuple of Unplaceable)."""
    if plan is None:
        return []
    return [f"{u.run}: cannot be placed: {u.reason}" for u in plan.unplaceable]


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
        console = Console(stderr=True, width=240)
    req = LaunchRequest.from_args(args)
    req.stream_text = False  # the bar shows no answer text: keep the pipe quiet
    try:
        prepared = prepare(req)
    except LaunchError as e:
        _err(console, str(e))
        return e.code
    judge = None
    if getattr(args, "judge", None):
        from engine.judging import JudgeError, resolve_judge

        try:
            judge = resolve_judge(prepared.catalog, args.judge)
        except JudgeError as e:
            _err(console, str(e))
            return ExitCode.USAGE
    session = prepared.session()
    current: list[Any] = [session]  # the session Ctrl-C stops: the answers', then the judge's
    progress = BatchProgress(console, len(prepared.problems), enabled=not getattr(args, "quiet", False))
    console.print(
        f"quantarena: {len(prepared.runs)} runs × {len(prepared.problems)} problems "
        f"(dataset {prepared.options.dataset}, max_new_tokens {prepared.options.max_new_tokens}) → {prepared.options.out_dir}",
        highlight=False,
    )
    for line in unplaceable_lines(prepared.plan):
        _err(console, line)
    result: dict[str, Any] = {}
    error: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            result["summary"] = session.run(progress)
            if judge is not None and not session.stopping:
                result["summary"]["judge"] = _judge(args, prepared, judge, current, console)
                from engine.results import write_summary

                write_summary(prepared.options.out_dir, result["summary"])
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
                        current[0].stop()
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if prepared.options.executor is not None:  # every actor ended, a Ray started here stopped
            prepared.options.executor.close()
    if error:
        _err(console, f"internal error: {type(error[0]).__name__}: {error[0]}")
        return ExitCode.ERROR
    summary = result["summary"]
    console.print(summary_table(summary))
    judge_block = summary.get("judge")
    if judge_block:
        from cli.judge_options import judge_lines

        for line in judge_lines(judge_block):
            console.print(line, highlight=False, markup=False)
    qt = quality_table(summary)
    if qt is not None:
        console.print(qt)
    out = prepared.options.out_dir
    console.print(f"results: {out / 'results.jsonl'}\nsummary: {out / 'summary.json'}, {out / 'summary.md'}", highlight=False)
    code = summary_exit_code(summary, interrupted=interrupted)
    if code == ExitCode.INTERRUPTED:
        return code
    bad = [r for r in summary["runs"] if r["status"] in FAILED_STATUSES]
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
    if judge_block and judge_block.get("status") not in JUDGE_DONE:
        _err(console, f"judge {judge_block['judge_run']}: {judge_block['status']}: {judge_block.get('reason')} (the grader's verdicts stand)")
    return code


def extra_buffers_note(run: Any, gpus_present: bool) -> str:
    """llama.cpp's extra CPU buffer types as this run would get them on this machine."""
    from engine.cpu import extra_buffers_choice

    s = run.settings
    on_cpu = run.device == "cpu" or (run.device == "auto" and not gpus_present) or int(s.get("n_gpu_layers", -1)) >= 0
    try:
        on, why = extra_buffers_choice(s.get("extra_buffers", "auto"), weights_on_cpu=on_cpu)
    except ValueError as e:
        return str(e)
    return f"extra_buffers={'on' if on else 'off'} ({why})"


def _judge(args: Any, prepared: Any, judge: Any, current: list[Any], console: Console) -> dict[str, Any]:
    """The judge pass over the session's answers (see engine.judging), in the same out folder."""
    from cli.judge_options import cache_from
    from engine.judging import judge_results_dir

    console.print(f"quantarena: judging open-ended answers with {judge.name} → {prepared.options.out_dir / 'judge'}", highlight=False)
    return judge_results_dir(
        prepared.catalog, prepared.options.out_dir, prepared.problems, judge, judge_all=bool(args.judge_all),
        style=args.judge_prompt, max_new_tokens=args.judge_max_tokens, cache=cache_from(args), gpus=args.gpus or "auto",
        seed=prepared.options.seed, session_hook=lambda s: current.__setitem__(0, s),
    )


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
    for h in ("run", "default", "device", "weights", "model", "effective settings"):
        t.add_column(h)
    gpus_present = None
    for r in cat.runs.values():
        if r.default or args.all:
            note = ""
            if r.backend == "llama.cpp":
                if gpus_present is None:
                    from engine.gpu import NvmlSource

                    gpus_present = NvmlSource().available
                note = extra_buffers_note(r, gpus_present)
            t.add_row(r.name, "yes" if r.default else "", r.device, r.weights, cat.models[r.model].display_name, note)
    console.print(t)
    return ExitCode.OK
