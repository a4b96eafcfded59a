"""Running a comparison, without a UI. The core both front ends run through.

A session takes runs (from the catalog), problems and options; it starts each run in its own
process, sends it the problems, times and measures every answer the same way for every backend,
grades it, writes ``results.jsonl`` as it goes and ``summary.json``/``summary.md`` at the end, and
reports progress as ``engine.events`` to one callback.

Order of work:

* Runs are grouped in **waves** (runs loaded at the same time; from the placement plan when GPUs
  are used). Within a wave, runs that share a device form a **lane** and take turns, one answer at a
  time, so no timing is taken while another run loads the same device; lanes on disjoint GPUs run
  concurrently. Loading is always one run at a time, so load times are not disturbed either.
* Inside a lane the order is problem-major: every run answers problem 1, then problem 2, ... —
  what the TUI shows side by side.

Controls (thread-safe): ``pause()``/``resume()`` (takes effect before the next answer),
``skip()`` (cancels the answers in flight, marks them ``skipped``), ``stop()`` (cancels, keeps
everything that finished, writes the summary).
"""

from __future__ import annotations

import datetime as _dt
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.backends.registry import is_served
from engine.catalog import Catalog, RunSpec
from engine.gpu import gpu_type_from_nvml  # moved to engine.gpu; the roofline below reads it
from engine.metrics import generation_metrics
from engine.problems import Problem
from engine.results import ResultsWriter, run_summary, write_summary
from engine.run_process import exit_reason

EventCallback = Callable[[ev.Event], None]
#: after stop(), how long an answer in flight may take to notice the cancel before its process is killed
STOP_GRACE_S = 10.0


@dataclass
class SessionOptions:
    out_dir: Path
    dataset: str = "builtin"
    max_new_tokens: int = 256
    seed: int = 0
    temperature: float = 0.0
    stream_text: bool = True
    sample_interval_s: float = 0.1
    telemetry_interval_s: float = 0.5
    #: fixed-length decode for every run (min_new_tokens = max_new_tokens), as benchmarks do;
    #: synthetic runs always decode to the cap
    fixed_length: bool = False
    #: waves of run names; None = one wave with every run
    waves: list[list[str]] | None = None
    #: run name -> NVML GPU indices; None = derived from each run's device
    assignments: dict[str, list[int]] | None = None
    #: run name -> extra settings for its process (e.g. tensor_split from the plan)
    settings_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a warm-up answer per run before the timed ones (first problem; not recorded): kernels
    #: build, caches allocate, torch.compile specializes. GPU runs warm up with the real token
    #: cap (static caches are sized by it), CPU runs with 8 tokens. 0 disables.
    warmup: bool = True
    #: throughput mode: each run answers this many problems at once (one batched generation);
    #: 1 = one answer at a time (latency mode, the default)
    concurrency: int = 1
    #: NVML index -> GPU UUID (CUDA_VISIBLE_DEVICES for run processes, robust to the parent's own)
    gpu_uuids: dict[int, str] = field(default_factory=dict)
    #: score each problem's reference solution with every run and compare with the model's
    #: reference run (``engine.scoring``); False = --no-quality
    quality: bool = True
    #: reference tokens kept per position (``engine.quality``)
    quality_top_k: int = 1024
    #: where reference log-probs are cached (None = cache_dir()/quality)
    quality_cache: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: where run processes live: None = this machine (RunProcess); else an executor whose
    #: ``process(run, model, env=, stream_text=)`` gives a RunProcess-like object and whose
    #: ``describe()`` is the environment's ``executor`` entry (``engine.executors``)
    executor: Any = None


@dataclass
class _RunState:
    run: RunSpec
    gpus: list[int]
    status: str = "pending"  # pending|loading|ok|failed|unsupported|oom|interrupted
    reason: str | None = None
    device: str | None = None
    load_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    proc: Any = None
    records: list[dict[str, Any]] = field(default_factory=list)
    batching: bool = True  # False once the backend said it cannot batch (throughput mode)
    batches: int = 0
    served: bool = False  # answered by a server outside quantarena (its telemetry is the server's)
    server_pid: int | None = None  # the server's process on this machine, when found

    @property
    def alive(self) -> bool:
        return self.status == "ok"


class _LazyFile:
    """A text file opened for appending on the first write."""

    def __init__(self, path: Path):
        self.path = path
        self._f: Any = None

    def write(self, text: str) -> None:
        if self._f is None:
            self._f = self.path.open("a", encoding="utf-8")
        self._f.write(text)

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()

    def __enter__(self) -> _LazyFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._f is not None:
            self._f.close()


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
        self._stop_seen: dict[int, float] = {}
        self._states: dict[str, _RunState] = {}
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

    # ---- helpers ----------------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        try:
            self._callback(event)
        except Exception:  # a front end's bug must not stop the measurements
            pass

    def _gpus_for(self, run: RunSpec) -> list[int]:
        if is_served(run.backend):
            return []  # a served run takes no GPU of the plan
        if self.options.assignments is not None and run.name in self.options.assignments:
            return list(self.options.assignments[run.name])
        n = self._sampler.source.count if self._sampler is not None and self._sampler.source.available else 0
        if run.device == "cpu" or n == 0:
            return []
        if run.device.startswith("cuda:"):
            return [int(run.device[5:])]
        if run.device in ("cuda", "auto"):
            return [0]
        return []

    def _lanes(self, names: list[str]) -> list[list[str]]:
        """Runs sharing a device take turns (one lane); disjoint GPU sets run concurrently."""
        lanes: list[tuple[set[int] | None, list[str]]] = []
        for name in names:
            gpus = set(self._states[name].gpus)
            key: set[int] | None = gpus if gpus else None
            for i, (lk, members) in enumerate(lanes):
                if (lk is None and key is None) or (lk is not None and key is not None and lk & key):
                    members.append(name)
                    if lk is not None and key is not None:
                        lanes[i] = (lk | key, members)
                    break
            else:
                lanes.append((key, [name]))
        return [m for _, m in lanes]

    def _get(self, proc: Any) -> tuple[Any, ...] | None:
        """The run process's next message, or None after 0.2 s. Once the session is stopping, an
        answer in flight is cancelled, and a process that has not answered ``STOP_GRACE_S`` later
        (stuck inside its library) is killed; its exit then arrives as a message."""
        try:
            return proc.get(timeout=0.2)
        except queue.Empty:
            if self._stop.is_set():
                proc.cancel.set()
                since = self._stop_seen.setdefault(id(proc), time.perf_counter())
                if time.perf_counter() - since > STOP_GRACE_S:
                    proc.kill()
            return None

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
        for run in self.runs:
            self._states[run.name] = _RunState(run=run, gpus=self._gpus_for(run), served=is_served(run.backend))
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
        tele = threading.Thread(target=self._telemetry_loop, args=(tele_stop,), name="telemetry", daemon=True)
        tele.start()
        env = environment(self._sampler.source)
        try:
            for wave in waves:
                if self._stop.is_set():
                    break
                self._run_wave(wave, grade_q)
        finally:
            for st in self._states.values():
                if st.proc is not None:
                    st.proc.stop()
                    self._untrack(st)
                if st.status in ("pending", "loading"):
                    st.status = "interrupted" if self._stop.is_set() else st.status
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
        for st in self._states.values():
            self._emit(ev.RunFinished(run=st.run.name, status=st.status, summary=self._row(st)))
        self._emit(ev.SessionFinished(out_dir=str(opts.out_dir), interrupted=self.interrupted, summary=self.summary))
        return self.summary

    def _telemetry_loop(self, stop: threading.Event) -> None:
        """Every ``telemetry_interval_s``: a Telemetry event, and a line in telemetry.jsonl
        (the per-GPU time series: utilization, memory, power, temperature, and which runs)."""
        import json

        path = Path(self.options.out_dir) / "telemetry.jsonl"
        t0 = time.perf_counter()
        with _LazyFile(path) as f:  # created with its first line: no empty file on CPU-only machines
            while not stop.wait(self.options.telemetry_interval_s):
                snap = self._sampler.latest() if self._sampler is not None else None
                if snap is None:
                    continue
                run_of_gpu: dict[int, list[str]] = {}
                for st in self._states.values():
                    if st.status in ("loading", "ok"):
                        served_gpus = self._sampler.gpus_of(st.server_pid) if st.served and st.server_pid else []
                        for g in st.gpus or served_gpus:
                            run_of_gpu.setdefault(g, []).append(st.run.name)
                gpus = [g.to_dict() for g in snap.gpus]
                self._emit(ev.Telemetry(
                    gpus=gpus, cpu_pct=snap.cpu_pct or 0.0,
                    ram_used_mib=snap.ram_used_mib or 0.0, ram_total_mib=snap.ram_total_mib or 0.0,
                    run_of_gpu=run_of_gpu,
                ))
                if gpus:  # CPU-only machines have no time series worth a file
                    keep = ("index", "label", "util_pct", "mem_used_mib", "power_w", "energy_mj", "temp_c", "sm_clock_mhz")
                    f.write(json.dumps({
                        "t_s": round(snap.t - t0, 3), "cpu_pct": snap.cpu_pct, "ram_used_mib": snap.ram_used_mib,
                        "gpus": [{k: g[k] for k in keep} | {"runs": run_of_gpu.get(g["index"], [])} for g in gpus],
                    }) + "\n")
                    f.flush()

    def _quality_plan(self) -> Any:
        from engine.reference_cache import ReferenceCache
        from engine.scoring import SessionQuality

        cache = ReferenceCache(Path(self.options.quality_cache)) if self.options.quality_cache else None

        def status(name: str) -> tuple[str, str | None]:
            st = self._states.get(name)
            return (st.status, st.reason) if st is not None else ("not in session", None)

        return SessionQuality(self.catalog, self.runs, self.problems, top_k=self.options.quality_top_k,
                              cache=cache, run_status=status)

    def _score(self, st: _RunState, proc: Any) -> None:
        """Score the reference solutions with a freshly loaded run (inside the load lock)."""
        from engine.backends.registry import load_backend_class

        try:
            can = bool(load_backend_class(st.run.backend).capabilities.scoring)
        except Exception:
            can = False
        ended = self._quality.score_run(st.run, st.device, proc.send, lambda: self._get(proc), lambda: self._stop.is_set(), can)
        if ended is not None:  # the process died or failed: the load loop reports it
            if ended[0] == "gen_failed":
                st.status, st.reason = ended[2], ended[3]
            else:
                st.status, st.reason = ("interrupted", None) if self._stop.is_set() else ("failed", f"{ended[2]} while scoring the reference solutions")
            return

    def _run_wave(self, wave: list[str], grade_q: queue.Queue[Any]) -> None:
        if self._quality is not None:  # references load (and score) before the runs compared with them
            for name in wave:
                if self._quality.is_reference(self._states[name].run) and not self._stop.is_set():
                    self._load(self._states[name])
        lanes = self._lanes(wave)
        threads = [threading.Thread(target=self._run_lane, args=(lane, grade_q), name=f"lane{i}", daemon=True) for i, lane in enumerate(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
        for name in wave:
            st = self._states[name]
            if st.proc is not None:
                st.proc.stop()
                self._untrack(st)
                st.proc = None

    def _load(self, st: _RunState) -> None:
        from engine.run_process import RunProcess

        run = st.run
        extra = dict(self.options.settings_overrides.get(run.name, {}))
        if self.options.concurrency > 1 and "max_batch" not in run.settings:
            extra["max_batch"] = self.options.concurrency  # caches and KV slots for N sequences
        if extra:
            run = RunSpec(**{**run.to_dict(), "settings": {**run.settings, **extra}})
            st.run = run
        env = {}
        if st.gpus:
            ids = [self.options.gpu_uuids.get(g, str(g)) for g in st.gpus]
            env = {"CUDA_VISIBLE_DEVICES": ",".join(ids), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
        if not st.gpus and run.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)
        env["QUANTARENA_RUN_LOG"] = str(Path(self.options.out_dir) / "logs" / f"{safe}.log")
        st.status = "loading"
        self._emit(ev.RunLoading(run=run.name))
        factory = self.options.executor.process if self.options.executor is not None else RunProcess
        proc = factory(run, self.catalog.models[run.model], env=env, stream_text=self.options.stream_text)
        with self._load_lock:
            if self._stop.is_set():
                st.status = "interrupted"
                return
            proc.start()
            st.proc = proc
            if self._sampler is not None and proc.pid:
                self._sampler.track(proc.pid)
            while True:
                try:
                    msg = proc.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        proc.kill()
                    continue
                if msg[0] == "loaded":
                    st.status, st.device, st.load_s, st.details = "ok", msg[1], msg[2], msg[3]
                    if st.served and isinstance(st.details.get("server_pid"), int):
                        st.server_pid = st.details["server_pid"]
                        if self._sampler is not None:
                            self._sampler.track(st.server_pid)
                    if self.options.warmup and self.problems:
                        self._warmup(st, proc)
                    if st.status == "ok" and self.options.concurrency > 1 and self.problems:
                        self._throughput_setup(st, proc)
                    if st.status == "ok" and self._quality is not None and not self._stop.is_set():
                        self._score(st, proc)
                    if st.status == "ok":
                        gpus = st.gpus or (self._sampler.gpus_of(st.server_pid) if st.server_pid and self._sampler else [])
                        self._emit(ev.RunLoaded(run=run.name, device=msg[1], gpus=gpus, load_s=msg[2], details=st.details))
                        q = self._quality.summary(st.run) if self._quality is not None else None
                        if q is not None:
                            self._emit(ev.QualityScored(run=run.name, quality=q))
                        return
                    break
                if msg[0] == "load_failed":
                    st.status, st.reason = msg[1], msg[2]
                elif msg[0] == "exited":
                    if st.status == "loading":
                        st.status = "interrupted" if self._stop.is_set() else "failed"
                        st.reason = exit_reason(msg, "while loading")
                    break
            self._emit(ev.RunFailed(run=run.name, status=st.status, reason=st.reason or ""))
            proc.stop()
            st.proc = None

    def _warmup(self, st: _RunState, proc: Any) -> None:
        """One untimed answer to the first problem, inside the load lock (nothing else runs)."""
        cap = self.options.max_new_tokens if st.gpus else min(8, self.options.max_new_tokens)
        t0 = time.perf_counter()
        done = self._untimed(st, proc, "generate", cap, 1, "the warm-up answer")
        if done:
            st.details = {**st.details, "warmup_answer_s": round(time.perf_counter() - t0, 3), "warmup_tokens": len(done[0]["token_times"])}

    def _throughput_setup(self, st: _RunState, proc: Any) -> None:
        """Throughput mode, still inside the load lock: the single-stream reference (the first
        problem answered alone, at the real cap, timed but not recorded), then a warm-up of one
        batch of ``concurrency`` sequences (batched kernels, caches and compiled graphs for that
        batch size are built before the timed batches)."""
        from engine.metrics import generation_metrics

        n = self.options.concurrency
        ref = self._untimed(st, proc, "generate", self.options.max_new_tokens, 1, "the single-stream reference answer")
        if ref:
            m = generation_metrics(ref[0]["t_submit"], ref[0]["token_times"], ref[0]["prompt_tokens"], ref[0].get("tokens_out"))
            st.details = {**st.details, "single_stream": {
                "problem_id": self.problems[0].id, "tokens_out": m["tokens_out"], "tokens_in": m["tokens_in"],
                "e2e_tok_s": m["e2e_tok_s"], "decode_tok_s": m["decode_tok_s"], "ttft_s": m["ttft_s"],
            }}
        if st.status != "ok" or self._stop.is_set():
            return
        cap = self.options.max_new_tokens if st.gpus else min(8, self.options.max_new_tokens)
        t0 = time.perf_counter()
        done = self._untimed(st, proc, "generate_batch", cap, n, f"the warm-up batch of {n}")
        if done:
            st.details = {**st.details, "concurrency": n, "warmup_batch_s": round(time.perf_counter() - t0, 3)}
        elif st.status == "ok":
            st.batching = False
            st.details = {**st.details, "concurrency": 1, "concurrency_fallback": st.details.get("concurrency_fallback")}

    def _request(self, st: _RunState, problem: Problem, *, cap: int | None = None, problem_id: str | None = None) -> dict[str, Any]:
        """The generation request for one problem (raises ValueError/KeyError on a bad prompt template)."""
        from engine.prompts import build_messages

        cap = self.options.max_new_tokens if cap is None else cap
        fixed = self.options.fixed_length or st.run.synthetic
        return {
            "problem_id": problem.id if problem_id is None else problem_id,
            "messages": build_messages(problem, st.run.prompt), "max_new_tokens": cap,
            "min_new_tokens": cap if fixed else 0, "seed": self.options.seed, "temperature": self.options.temperature,
        }

    def _template_failed(self, st: _RunState, e: Exception) -> None:
        st.status, st.reason = "failed", f"{st.run.name}: prompt template: {e}"
        self._emit(ev.RunFailed(run=st.run.name, status=st.status, reason=st.reason))

    def _run_ended(self, st: _RunState, msg: tuple[Any, ...], what: str) -> bool:
        """Handle a "gen_failed" or "exited" message (run marked, RunFailed sent); False for others."""
        if msg[0] == "gen_failed":
            st.status, st.reason = msg[2], msg[3]
        elif msg[0] == "exited":
            if self._stop.is_set():
                st.status = "interrupted"
                return True
            st.status, st.reason = "failed", exit_reason(msg, f"while {what}")
            st.proc = None
        else:
            return False
        self._emit(ev.RunFailed(run=st.run.name, status=st.status, reason=st.reason or ""))
        return True

    def _untimed(self, st: _RunState, proc: Any, kind: str, cap: int, n: int, what: str) -> list[dict[str, Any]] | None:
        """Send ``n`` copies of the first problem (one request, or one batch) and wait for the
        results; None when it failed (run marked) or the backend cannot batch (noted)."""
        try:
            reqs = [self._request(st, self.problems[0], cap=cap, problem_id=f"warmup/{i}") for i in range(n)]
        except (ValueError, KeyError):
            return None  # the first real answer reports the template error
        proc.send((kind, reqs if kind == "generate_batch" else reqs[0]))
        done: list[dict[str, Any]] = []
        while True:
            msg = self._get(proc)
            if msg is None:
                continue
            if msg[0] == "done":
                done.append(msg[2])
                if len(done) == n:
                    return done
            elif msg[0] == "batch_unsupported":
                st.details = {**st.details, "concurrency_fallback": msg[1]}
                return None
            elif msg[0] == "gen_failed":
                st.status, st.reason = msg[2], msg[3]
                return None
            elif msg[0] == "exited":
                st.status, st.reason = ("interrupted", None) if self._stop.is_set() else ("failed", exit_reason(msg, f"during {what}"))
                return None

    def _run_lane(self, lane: list[str], grade_q: queue.Queue[Any]) -> None:
        for name in lane:
            if self._stop.is_set():
                break
            if self._states[name].status == "pending":
                self._load(self._states[name])
        total = len(self.problems)
        if self.options.concurrency > 1:
            self._run_lane_batched(lane, grade_q)
            return
        for pos, problem in enumerate(self.problems):
            skip_gen = self._skip_gen
            for name in lane:
                st = self._states[name]
                if not st.alive:
                    continue
                while self._pause.is_set() and not self._stop.is_set():
                    time.sleep(0.05)
                if self._stop.is_set():
                    return
                if self._skip_gen != skip_gen:
                    self._record_skipped(st, problem, grade_q)
                    continue
                self._answer(st, problem, pos, total, grade_q)

    def _run_lane_batched(self, lane: list[str], grade_q: queue.Queue[Any]) -> None:
        """Throughput mode: problems in chunks of ``concurrency``, each chunk one batched
        generation per run (the runs of a lane still take turns, chunk by chunk)."""
        n = self.options.concurrency
        total = len(self.problems)
        for start in range(0, total, n):
            chunk = self.problems[start : start + n]
            skip_gen = self._skip_gen
            for name in lane:
                st = self._states[name]
                if not st.alive:
                    continue
                while self._pause.is_set() and not self._stop.is_set():
                    time.sleep(0.05)
                if self._stop.is_set():
                    return
                if self._skip_gen != skip_gen:
                    for problem in chunk:
                        self._record_skipped(st, problem, grade_q)
                    continue
                if st.batching:
                    self._answer_batch(st, chunk, start, total, grade_q)
                else:
                    for i, problem in enumerate(chunk):
                        if st.alive and not self._stop.is_set():
                            self._answer(st, problem, start + i, total, grade_q)

    def _answer_batch(self, st: _RunState, chunk: list[Problem], start: int, total: int, grade_q: queue.Queue[Any]) -> None:
        run = st.run
        try:
            reqs = [self._request(st, problem) for problem in chunk]
        except (ValueError, KeyError) as e:
            self._template_failed(st, e)
            return
        for i, problem in enumerate(chunk):
            self._emit(ev.ProblemStarted(run=run.name, problem_id=problem.id, position=start + i, total=total))
        by_id = {p.id: p for p in chunk}
        batch_id = st.batches
        st.batches += 1
        proc = st.proc
        with self._lock:
            self._inflight[run.name] = proc
        proc.send(("generate_batch", reqs))
        results: dict[str, dict[str, Any]] = {}
        try:
            while len(results) < len(chunk):
                msg = self._get(proc)
                if msg is None:
                    continue
                kind = msg[0]
                if kind == "text":
                    self._emit(ev.TokenText(run=run.name, problem_id=msg[1], text=msg[2], tokens_out=msg[3], elapsed_s=msg[4]))
                elif kind == "done":
                    results[msg[1]] = msg[2]
                elif kind == "batch_unsupported":
                    st.batching = False
                    st.details = {**st.details, "concurrency": 1, "concurrency_fallback": msg[1]}
                    break
                elif self._run_ended(st, msg, f"answering a batch of {len(chunk)} from {chunk[0].id}"):
                    return
        finally:
            with self._lock:
                self._inflight.pop(run.name, None)
        if not st.batching:  # the backend cannot batch: the same problems one at a time
            for i, problem in enumerate(chunk):
                if st.alive and not self._stop.is_set():
                    self._answer(st, problem, start + i, total, grade_q)
            return
        first = next(iter(results.values()))
        batch = first["batch"]
        tele = self._window(st, batch["t_submit"], batch["t_end"])
        for pid, result in results.items():
            if result["finish_reason"] == "skipped" and self._stop.is_set():
                continue  # stopping: an unfinished answer is not a result
            rec = self._measure(st, by_id[pid], result, tele=tele, batch_id=batch_id)
            grade_q.put((st, by_id[pid], rec))

    def _record_skipped(self, st: _RunState, problem: Problem, grade_q: queue.Queue[Any]) -> None:
        rec = self._base_record(st, problem)
        rec.update(response="", finish_reason="skipped", tokens_out=0)
        grade_q.put((st, problem, rec))

    def _answer(self, st: _RunState, problem: Problem, pos: int, total: int, grade_q: queue.Queue[Any]) -> None:
        run = st.run
        try:
            req = self._request(st, problem)
        except (ValueError, KeyError) as e:
            self._template_failed(st, e)
            return
        self._emit(ev.ProblemStarted(run=run.name, problem_id=problem.id, position=pos, total=total))
        proc = st.proc
        with self._lock:
            self._inflight[run.name] = proc
        proc.send(("generate", req))  # if the process is gone, its reader reports "exited"
        try:
            while True:
                msg = self._get(proc)
                if msg is None:
                    continue
                kind = msg[0]
                if kind == "text":
                    self._emit(ev.TokenText(run=run.name, problem_id=msg[1], text=msg[2], tokens_out=msg[3], elapsed_s=msg[4]))
                elif kind == "done":
                    result = msg[2]
                    if result["finish_reason"] == "skipped" and self._stop.is_set():
                        return  # stopping: an unfinished answer is not a result
                    grade_q.put((st, problem, self._measure(st, problem, result)))
                    return
                elif self._run_ended(st, msg, f"answering {problem.id}"):
                    return
        finally:
            with self._lock:
                self._inflight.pop(run.name, None)

    def _base_record(self, st: _RunState, problem: Problem) -> dict[str, Any]:
        run = st.run
        return {
            "session": self.id,
            "run": run.name, "model": run.model, "backend": run.backend, "quant": run.quant,
            "weights": run.weights, "device": st.device,
            "problem_id": problem.id, "split": problem.split, "kind": problem.kind,
            "variant": problem.variant, "level": problem.level, "has_figure": problem.has_figure,
            "max_new_tokens": self.options.max_new_tokens,
            "quality": self._quality.record_fields(run.name, problem.id) if self._quality is not None else None,
        }

    def _measure(self, st: _RunState, problem: Problem, result: dict[str, Any], tele: dict[str, Any] | None = None,
                 batch_id: int | None = None) -> dict[str, Any]:
        """One result record. In a batch, ``tele`` is the batch's telemetry window (shared by its
        sequences): the energy is split by tokens, so a run's energy sums to what was drawn."""
        rec = self._base_record(st, problem)
        times = result["token_times"]
        metrics = generation_metrics(result["t_submit"], times, result["prompt_tokens"], result.get("tokens_out"))
        batch = result.get("batch")
        if tele is None:
            t_end = times[-1] if times else result["t_end"]
            tele = self._window(st, result["t_submit"], t_end)
        mem = result.get("memory") or {}
        rec.update(response=result["response"], finish_reason=result["finish_reason"], **metrics)
        rec.update(result.get("fields") or {})  # the backend's facts about this answer
        rec.update(tele)
        energy = tele.get("energy_j")
        if batch:
            share = (metrics["tokens_out"] / batch["tokens_out"]) if batch["tokens_out"] else 0.0
            rec["energy_j"] = energy * share if energy is not None else None
            rec["j_per_token"] = (energy / batch["tokens_out"]) if energy is not None and batch["tokens_out"] else None
            wall = batch["t_end"] - batch["t_submit"]
            rec.update(batch_id=batch_id, batch_size=batch["size"], batch_tokens_out=batch["tokens_out"],
                       batch_wall_s=wall, batch_tok_s=(batch["tokens_out"] / wall) if wall > 0 else None)
        else:
            rec["j_per_token"] = (energy / metrics["tokens_out"]) if energy is not None and metrics["tokens_out"] else None
        rec["torch_peak_allocated_mib"] = mem.get("torch_peak_allocated_mib")
        rec["torch_peak_reserved_mib"] = mem.get("torch_peak_reserved_mib")
        # the roofline is a batch-1 ceiling (weights read once per token); a batch reads them once
        # per step for all its sequences, so a per-sequence percentage would mislead
        rec["roofline_pct"] = None if batch else self._roofline(st, metrics)
        rec["timestamp"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return rec

    def _window(self, st: _RunState, t0: float, t1: float) -> dict[str, Any]:
        """Telemetry over [t0, t1] for a run: its process tree on its GPUs; for a served run the
        server's process tree on the GPUs it holds memory on (all None when the server is not on
        this machine: the run's details say why)."""
        if self._sampler is None:
            return {}
        if st.served:
            pid = st.server_pid
            return self._sampler.window(t0, t1, pid=pid, gpus=self._sampler.gpus_of(pid) if pid else [])
        sampler = getattr(st.proc, "sampler", None) or self._sampler  # a remote run's is on its node
        return sampler.window(t0, t1, pid=st.proc.pid if st.proc else None, gpus=st.gpus)

    def _untrack(self, st: _RunState) -> None:
        if self._sampler is None:
            return
        for pid in (st.proc.pid if st.proc else None, st.server_pid):
            if pid:
                self._sampler.untrack(pid)

    def _roofline(self, st: _RunState, metrics: dict[str, Any]) -> float | None:
        """Decode tok/s as % of the memory-bandwidth ceiling of the run's GPU (None on CPU)."""
        if not st.gpus or metrics.get("decode_tok_s") is None:
            return None
        sampler = getattr(st.proc, "sampler", None) or self._sampler
        snap = sampler.latest() if sampler else None
        gpu = next((g for g in (snap.gpus if snap else []) if g.index in st.gpus), None)
        gtype = gpu_type_from_nvml(gpu.name, gpu.mem_total_mib) if gpu else None
        if gtype is None:
            return None
        try:
            from engine.sizing.roofline import roofline_pct

            model = self.catalog.models[st.run.model]
            pos = (metrics.get("tokens_in") or 0) + (metrics.get("tokens_out") or 0) // 2
            kv = st.run.settings.get("kv_cache_type") if st.run.backend == "llama.cpp" else None
            return roofline_pct(metrics["decode_tok_s"], model.arch, st.run.backend, st.run.quant, gtype, pos, kv_dtype=kv)
        except Exception:  # an unknown scheme must not cost the measurement
            return None

    def _grading_loop(self, q: queue.Queue[Any]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            st, problem, rec = item
            if rec.get("finish_reason") == "skipped":
                rec.update(verdict="skipped", strict_verdict="skipped", extracted=None, gold=problem.answer, grade_reason="skipped by the user")
            elif st.run.synthetic:
                rec.update(verdict="n/a", strict_verdict="n/a", extracted=None, gold=None, grade_reason="synthetic weights: correctness is not applicable")
            else:
                try:
                    rec.update(self._grader.grade(problem, rec["response"]).record_fields())
                except Exception as e:  # the grader must never lose a result
                    rec.update(verdict="ungraded", strict_verdict="ungraded", extracted=None, gold=problem.answer, grade_reason=f"grader error: {e}")
            assert self.writer is not None
            self.writer.write(rec)
            st.records.append(rec)
            self._emit(ev.ProblemFinished(run=st.run.name, problem_id=problem.id, record=rec))

    # ---- summary ----------------------------------------------------------------------------
    def _row(self, st: _RunState) -> dict[str, Any]:
        run = st.run
        static = {
            "run": run.name, "model": run.model, "backend": run.backend, "quant": run.quant,
            "weights": run.weights, "status": st.status if st.status != "pending" else "not run",
            "reason": st.reason, "device": st.device, "gpus": st.gpus, "load_s": st.load_s,
            "details": st.details,
            "quality": self._quality.summary(run) if self._quality is not None else None,
        }
        return run_summary(static, st.records)

    def _summarize(self, env: dict[str, Any]) -> dict[str, Any]:
        records = self.writer.records if self.writer else []
        acc_tables: Any = None
        acc_md = None
        try:
            from engine.accuracy import accuracy_tables, render_markdown

            tables = accuracy_tables(records)
            acc_tables = {k: t.to_dict() for k, t in tables.items()}
            acc_md = render_markdown(tables)
        except Exception as e:  # the summary must be written whatever happens
            acc_md = f"(accuracy tables unavailable: {e})"
        return {
            "schema_version": 1,
            "session": self.id,
            "interrupted": self.interrupted,
            "wall_s": round(time.perf_counter() - self._t_start, 3),
            "settings": {
                "dataset": self.options.dataset, "problems": len(self.problems),
                "problem_ids": [p.id for p in self.problems],
                "max_new_tokens": self.options.max_new_tokens, "seed": self.options.seed,
                "temperature": self.options.temperature, "fixed_length": self.options.fixed_length,
                "waves": self.options.waves, "concurrency": self.options.concurrency,
                "quality": self.options.quality, "quality_top_k": self.options.quality_top_k if self.options.quality else None,
                **self.options.extra,
            },
            "runs": [self._row(st) for st in self._states.values()],
            "accuracy_tables": acc_tables,
            "accuracy_markdown": acc_md,
            "environment": env,
        }
