"""Running a comparison, without a UI. The core both front ends run through.

A session takes runs (from the catalog), problems and options; it starts each run in its own
process, sends it the problems, times and measures every answer the same way for every backend,
grades it, writes ``results.jsonl`` as it goes and ``summary.json``/``summary.md`` at the end, and
reports progress as ``engine.events`` to one callback.

This module orchestrates; the parts have their own modules: the order of work (waves, lanes,
turns) is :mod:`engine.schedule`, a run's state and protocol :mod:`engine.run_handle`, a result
record :mod:`engine.records`, telemetry :mod:`engine.telemetry` and the summary
:mod:`engine.results`. Loading is always one run at a time, so load times are not disturbed.
Every answer goes one way: a turn's problems in calls of at most the run's batch size (1 in
latency mode; in throughput mode up to ``concurrency``, at most what the loaded backend says it
can batch).

Controls (thread-safe): ``pause()``/``resume()`` (takes effect before the next answer),
``skip()`` (cancels the answers in flight, marks them ``skipped``), ``stop()`` (cancels, keeps
everything that finished, writes the summary).
"""

from __future__ import annotations

import datetime as _dt
import functools
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import events as ev
from engine import protocol as P
from engine import records, schedule, warmup
from engine.backends.base import Capabilities
from engine.backends.registry import is_served
from engine.catalog import Catalog, RunSpec
from engine.problems import Problem
from engine.results import ResultsWriter, run_facts, run_summary, session_summary, write_summary
from engine.run_handle import RunHandle, process_env
from engine.session_options import SessionOptions
from engine.telemetry import run_window, runs_of_gpus, telemetry_loop

EventCallback = Callable[[ev.Event], None]
#: after stop(), how long an answer in flight may take to notice the cancel before its process is killed
STOP_GRACE_S = 10.0


class Session:
    def __init__(self, catalog: Catalog, runs: list[RunSpec], problems: list[Problem], options: SessionOptions, *, sampler: Any = None, grader: Any = None):
        if not runs:
            raise ValueError("no runs to execute")
        self.catalog = catalog
        self.runs = runs
        self.problems = problems
        self.options = options
        self.id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._sampler = sampler
        self._grader = grader
        self._pause = threading.Event()
        self._stop = threading.Event()
        self._skip_gen = 0  # incremented by skip()
        self._lock = threading.Lock()
        self._inflight: dict[str, Any] = {}
        self._states: dict[str, RunHandle] = {}
        self._load_lock = threading.Lock()
        self._callback: EventCallback = lambda e: None
        self.interrupted = False
        self.writer: ResultsWriter | None = None
        self.summary: dict[str, Any] | None = None
        self._quality: Any = None  # engine.scoring.SessionQuality when quality is on
        self._t_start = time.perf_counter()

    # ---- controls ---------------------------------------------------------------------------
    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def skip(self) -> None:
        with self._lock:
            self._skip_gen += 1
            for proc in self._inflight.values():
                proc.cancel.set()

    def stop(self) -> None:
        self._stop.set()
        self._pause.clear()
        with self._lock:
            for proc in self._inflight.values():
                proc.cancel.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _emit(self, event: ev.Event) -> None:
        try:
            self._callback(event)
        except Exception:  # a front end's bug must not stop the measurements
            pass

    # ---- main -------------------------------------------------------------------------------
    def run(self, callback: EventCallback | None = None) -> dict[str, Any]:
        """Execute everything; returns the summary (also written to disk). Blocks."""
        from engine.environment import environment
        from engine.gpu import Sampler

        if callback is not None:
            self._callback = callback
        opts = self.options
        own_sampler = self._sampler is None
        if own_sampler:
            from engine.gpu import NvmlSource

            source = NvmlSource()
            # 100 ms NVML sampling on GPU machines; without GPUs only RSS/CPU% are sampled, and
            # every 0.5 s is plenty (on a 2-core box each poll steals time from the run)
            interval = opts.sample_interval_s if source.available else max(opts.sample_interval_s, 0.5)
            self._sampler = Sampler(interval_s=interval, source=source).start()
        own_grader = self._grader is None
        if own_grader:
            from engine.grading import Grader

            self._grader = Grader()
        self.writer = ResultsWriter(Path(opts.out_dir))
        visible = self._sampler.source.count if self._sampler is not None and self._sampler.source.available else 0
        for run in self.runs:
            served = is_served(run.backend)
            assigned = opts.assignments.get(run.name) if opts.assignments is not None else None
            gpus = schedule.run_gpus(run.device, served=served, assigned=assigned, visible_gpus=visible)
            self._states[run.name] = RunHandle(run=run, gpus=gpus, served=served)
        waves = opts.waves or [[r.name for r in self.runs]]
        self._t_start = time.perf_counter()
        if opts.quality and self.problems:
            self._quality = self._quality_plan()
            waves = self._quality.order_waves(waves)
        self._emit(ev.SessionStarted(
            runs=[r.name for r in self.runs], problems=[p.to_dict() for p in self.problems],
            out_dir=str(opts.out_dir), waves=waves,
        ))
        grade_q: queue.Queue[Any] = queue.Queue()
        grader_thread = threading.Thread(target=self._grading_loop, args=(grade_q,), name="grader", daemon=True)
        grader_thread.start()
        tele_stop = threading.Event()
        tele = threading.Thread(target=telemetry_loop, name="telemetry", daemon=True, args=(
            tele_stop, self._sampler, opts.telemetry_interval_s, Path(opts.out_dir) / "telemetry.jsonl", lambda: runs_of_gpus(self._states.values(), self._sampler), self._emit))
        tele.start()
        env = environment(self._sampler.source)
        try:
            for wave in waves:
                if self._stop.is_set():
                    break
                self._run_wave(wave, grade_q)
        finally:
            for h in self._states.values():
                if h.proc is not None:
                    h.proc.stop()
                    self._untrack(h)
                if h.status in ("pending", "loading"):
                    h.status = "interrupted" if self._stop.is_set() else h.status
            grade_q.put(None)
            grader_thread.join()
            tele_stop.set()
            tele.join(timeout=2)
            if own_sampler:
                self._sampler.stop()
            if own_grader and hasattr(self._grader, "close"):
                self._grader.close()
            self.interrupted = self._stop.is_set()
            env["executor"] = opts.executor.describe() if opts.executor is not None else {"kind": "local"}
            self.summary = self._summarize(env)
            write_summary(Path(opts.out_dir), self.summary)
            self.writer.close()
        for h in self._states.values():
            self._emit(ev.RunFinished(run=h.run.name, status=h.status, summary=self._row(h)))
        self._emit(ev.SessionFinished(out_dir=str(opts.out_dir), interrupted=self.interrupted, summary=self.summary))
        return self.summary

    def _quality_plan(self) -> Any:
        from engine.reference_cache import ReferenceCache
        from engine.scoring import SessionQuality

        cache = ReferenceCache(Path(self.options.quality_cache)) if self.options.quality_cache else None

        def status(name: str) -> tuple[str, str | None]:
            h = self._states.get(name)
            return (h.status, h.reason) if h is not None else ("not in session", None)

        return SessionQuality(self.catalog, self.runs, self.problems, top_k=self.options.quality_top_k,
                              cache=cache, run_status=status)

    def _run_wave(self, wave: list[str], grade_q: queue.Queue[Any]) -> None:
        if self._quality is not None:  # references load (and score) before the runs compared with them
            for name in wave:
                if self._quality.is_reference(self._states[name].run) and not self._stop.is_set():
                    self._load(self._states[name])
        lanes = schedule.lanes(wave, {name: self._states[name].gpus for name in wave})
        threads = [threading.Thread(target=self._run_lane, args=(lane, grade_q), name=f"lane{i}", daemon=True) for i, lane in enumerate(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
        for name in wave:
            h = self._states[name]
            if h.proc is not None:
                h.proc.stop()
                self._untrack(h)
                h.proc = None

    def _run_lane(self, lane: list[str], grade_q: queue.Queue[Any]) -> None:
        """The lane's runs take turns: every run answers a turn of problems before the next turn."""
        for name in lane:
            if self._stop.is_set():
                break
            if self._states[name].status == "pending":
                self._load(self._states[name])
        total = len(self.problems)
        for start, turn in schedule.turns(self.problems, self.options.concurrency):
            skip_gen = self._skip_gen
            for name in lane:
                h = self._states[name]
                if not h.alive:
                    continue
                while self._pause.is_set() and not self._stop.is_set():
                    time.sleep(0.05)
                if self._stop.is_set():
                    return
                if self._skip_gen != skip_gen:
                    for problem in turn:
                        self._record_skipped(h, problem, grade_q)
                    continue
                for offset, part in schedule.turns(turn, h.batch_size):
                    if not h.alive or self._stop.is_set():
                        break
                    self._answer(h, part, start + offset, total, grade_q)

    # ---- loading ----------------------------------------------------------------------------
    def _load(self, h: RunHandle) -> None:
        from engine.run_process import RunProcess

        run = h.run = self.options.process_run(h.run)
        env = process_env(run, h.gpus, self.options.gpu_uuids, Path(self.options.out_dir))
        h.status = "loading"
        self._emit(ev.RunLoading(run=run.name))
        factory = self.options.executor.process if self.options.executor is not None else RunProcess
        proc = factory(run, self.catalog.models[run.model], env=env, stream_text=self.options.stream_text)
        with self._load_lock:
            if self._stop.is_set():
                h.status = "interrupted"
                return
            proc.start()
            h.proc = proc
            # a run with its own sampler (a Ray actor's, on its node) is not sampled here as well
            if self._sampler is not None and proc.pid and getattr(proc, "sampler", None) is None:
                self._sampler.track(proc.pid)
            if h.wait_loaded(self._stop.is_set, lambda m: self._emit(ev.RunLoadProgress(
                    run=run.name, phase=m.phase, fraction=m.fraction, bytes_read=m.bytes_read,
                    bytes_placed=m.bytes_placed, line=m.line()))):
                if h.server_pid and self._sampler is not None:
                    self._sampler.track(h.server_pid)
                self._prepare(h)
                if h.status == "ok":
                    gpus = h.gpus or (self._sampler.gpus_of(h.server_pid) if h.server_pid and self._sampler else [])
                    self._emit(ev.RunLoaded(run=run.name, device=h.device or "", gpus=gpus, load_s=h.load_s or 0.0, details=h.details))
                    q = self._quality.summary(h.run) if self._quality is not None else None
                    if q is not None:
                        self._emit(ev.QualityScored(run=run.name, quality=q))
                    return
            self._emit(ev.RunFailed(run=run.name, status=h.status, reason=h.reason or ""))
            proc.stop()
            h.proc = None

    def _prepare(self, h: RunHandle) -> None:
        """Inside the load lock, right after the load: the batch size, the warm-up answer, the
        throughput mode's reference and warm-up batch (``engine.warmup``), the quality scoring."""
        o = self.options
        h.batch_size = (h.capabilities or Capabilities()).batch_limit(o.concurrency)
        if not self.problems:
            return
        ask = functools.partial(self._untimed, h)
        warm_cap = o.max_new_tokens if h.gpus else min(8, o.max_new_tokens)
        if o.warmup:
            warmup.warm_up(h, ask, cap=warm_cap)
        if h.status == "ok" and o.concurrency > 1:
            warmup.throughput_setup(h, ask, concurrency=o.concurrency, cap=o.max_new_tokens, warm_cap=warm_cap,
                                    first=self.problems[0].id, stopping=self._stop.is_set)
        if h.status == "ok" and self._quality is not None and not self._stop.is_set():
            can = bool(h.capabilities and h.capabilities.scoring)
            ended = self._quality.score_run(h.run, h.device, h.proc.send, lambda: h.next(self._stop.is_set, STOP_GRACE_S),
                                            self._stop.is_set, can)
            if ended is not None:  # the process died or failed: the load reports it
                h.end(ended, "while scoring the reference solutions", self._stop.is_set())

    def _untimed(self, h: RunHandle, cap: int, n: int, what: str) -> list[P.Answered] | None:
        """``n`` copies of the first problem in one call, not recorded; None when the run failed
        (status set) or the prompt template is bad (the first real answer reports it)."""
        try:
            reqs = [self.options.request(self.problems[0], h.run, cap=cap) for _ in range(n)]
        except (ValueError, KeyError):
            return None
        return h.answer([f"warmup/{i}" for i in range(n)], reqs, f"during {what}", stopping=self._stop.is_set, grace_s=STOP_GRACE_S)

    # ---- answering --------------------------------------------------------------------------
    def _answer(self, h: RunHandle, part: list[Problem], pos: int, total: int, grade_q: queue.Queue[Any]) -> None:
        """One call for ``part`` (one problem, or a batch in throughput mode): timed, recorded, graded."""
        run = h.run
        try:
            reqs = [self.options.request(problem, h.run) for problem in part]
        except (ValueError, KeyError) as e:
            h.status, h.reason = "failed", f"{run.name}: prompt template: {e}"
            self._emit(ev.RunFailed(run=run.name, status=h.status, reason=h.reason))
            return
        for i, problem in enumerate(part):
            self._emit(ev.ProblemStarted(run=run.name, problem_id=problem.id, position=pos + i, total=total))
        batch_id = None
        if h.batch_size > 1:
            batch_id, h.batches = h.batches, h.batches + 1
        phase = f"while answering {part[0].id}" if batch_id is None else f"while answering a batch of {len(part)} from {part[0].id}"
        with self._lock:
            self._inflight[run.name] = h.proc
        try:
            answers = h.answer([p.id for p in part], reqs, phase, stopping=self._stop.is_set, grace_s=STOP_GRACE_S,
                               on_text=lambda m: self._emit(ev.TokenText(run=run.name, problem_id=m.problem_id, text=m.delta,
                                                                         tokens_out=m.tokens_out, elapsed_s=m.elapsed_s)))
        finally:
            with self._lock:
                self._inflight.pop(run.name, None)
        if answers is None:
            if h.status != "interrupted":
                self._emit(ev.RunFailed(run=run.name, status=h.status, reason=h.reason or ""))
            return
        tele = self._window(h, *records.answer_window(answers[0], True)) if batch_id is not None else None
        for problem, answer in zip(part, answers, strict=True):
            if answer.finish_reason == "skipped" and self._stop.is_set():
                continue  # stopping: an unfinished answer is not a result
            metrics = records.answer_metrics(answer)
            roof = None if batch_id is not None else self._roofline(h, metrics)
            rec = records.answer_record(self._base_record(h, problem), answer, metrics,
                                        tele if tele is not None else self._window(h, *records.answer_window(answer, False)),
                                        batch_id=batch_id, roofline_pct=roof)
            grade_q.put((h, problem, rec))

    def _record_skipped(self, h: RunHandle, problem: Problem, grade_q: queue.Queue[Any]) -> None:
        rec = self._base_record(h, problem)
        rec.update(response="", finish_reason="skipped", tokens_out=0)
        grade_q.put((h, problem, rec))

    def _base_record(self, h: RunHandle, problem: Problem) -> dict[str, Any]:
        quality = self._quality.record_fields(h.run.name, problem.id) if self._quality is not None else None
        return records.base_record(self.id, h.run, h.device, problem, self.options.max_new_tokens, quality)

    def _window(self, h: RunHandle, t0: float, t1: float) -> dict[str, Any]:
        sampler = getattr(h.proc, "sampler", None) or self._sampler  # a remote run's is on its node
        return run_window(sampler, t0, t1, pid=h.proc.pid if h.proc else None, gpus=h.gpus, served=h.served, server_pid=h.server_pid)

    def gpu_nodes(self) -> list[Any]:
        """GPU readings per node, for a live view to poll (:mod:`engine.node_gpus`): this
        machine's from the session's sampler; with ``--executor ray`` each node's runs' GPUs as
        their actors read them there. Safe from any thread; blocks a few seconds at most (a node
        that does not answer costs its readings, never the session)."""
        from engine.node_gpus import this_machine

        sampler = self._sampler
        snap = sampler.latest() if sampler is not None else None
        # a served run's GPUs are its server's, found by the sampler (none without one)
        handles = [h for h in self._states.values() if sampler is not None or not h.served]
        executor = self.options.executor
        if executor is not None and hasattr(executor, "gpu_nodes"):
            return list(executor.gpu_nodes(snap, runs_of_gpus([h for h in handles if h.served], sampler)))
        return [this_machine(snap, runs_of_gpus(handles, sampler))]

    def _untrack(self, h: RunHandle) -> None:
        if self._sampler is not None:
            for pid in h.pids:
                self._sampler.untrack(pid)

    def _roofline(self, h: RunHandle, metrics: dict[str, Any]) -> float | None:
        sampler = getattr(h.proc, "sampler", None) or self._sampler
        snap = sampler.latest() if sampler and h.gpus else None
        gpu = next((g for g in (snap.gpus if snap else []) if g.index in h.gpus), None)
        return records.roofline(self.catalog.models[h.run.model], h.run, h.details, gpu, metrics) if gpu else None

    def _grading_loop(self, q: queue.Queue[Any]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            h, problem, rec = item
            records.grade(rec, problem, self._grader, synthetic=h.run.synthetic)
            assert self.writer is not None
            self.writer.write(rec)
            h.records.append(rec)
            self._emit(ev.ProblemFinished(run=h.run.name, problem_id=problem.id, record=rec))

    # ---- summary ----------------------------------------------------------------------------
    def _row(self, h: RunHandle) -> dict[str, Any]:
        return run_summary(run_facts(h, self._quality.summary(h.run) if self._quality is not None else None), h.records)

    def _summarize(self, env: dict[str, Any]) -> dict[str, Any]:
        return session_summary(session=self.id, interrupted=self.interrupted, wall_s=time.perf_counter() - self._t_start,
                               settings=self.options.summary_settings(self.problems), rows=[self._row(h) for h in self._states.values()],
                               records=self.writer.records if self.writer else [], environment=env)
