"""What the TUI knows about a session, built from engine events only (pure Python, no Textual).

``SessionModel.apply(event)`` folds one ``engine.events`` event into the state and returns what
changed (a set of :data:`Change` tags) so the screen refreshes only those parts;
``apply_text`` folds a coalesced run of ``TokenText`` deltas. Widgets read this state when they
render. Figures per run use ``engine.results.run_summary`` over the records received so far, so
the live leaderboard and the final ``summary.json`` define every number the same way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine import events as ev
from engine.results import run_summary
from tui.verdicts import mark_of

#: change tags: "session", "runs" (the set of runs), "run:<name>", "text:<name>" (only the answer
#: text of that run), "board", "gpus", "problem"
Change = str

#: run statuses shown on screen (engine statuses plus the TUI's own waiting/loading/running/done)
FAILED_STATUSES = ("failed", "unsupported", "oom")
#: how many live rate samples the sparkline keeps
RATE_HISTORY = 120
#: minimum span of decode time between two sparkline samples (s); shorter flushes are merged
RATE_SAMPLE_S = 0.5


@dataclass
class RunView:
    """One run as the screen shows it."""

    name: str
    number: int  # 1-based display number (the marker in the leaderboard and the chart)
    status: str = "waiting"  # waiting|loading|running|done|failed|unsupported|oom|interrupted
    reason: str | None = None
    wave: int = 0
    device: str | None = None
    gpus: list[int] = field(default_factory=list)
    load_s: float | None = None
    load_progress: str | None = None  # how far the load got (a long load: shards, GiB read and placed)
    details: dict[str, Any] = field(default_factory=dict)
    # the answer being generated
    problem_id: str | None = None
    position: int | None = None
    total: int = 0
    text: str = ""
    tokens_out: int = 0
    shown_tokens: int = 0  # the count on screen (updated with the speed figures)
    elapsed_s: float = 0.0
    answering: bool = False
    live_tok_s: float | None = None
    rates: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_HISTORY))
    _rate_anchor: tuple[int, float] | None = None  # (tokens, elapsed) at the last sample
    # finished answers
    records: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, str] = field(default_factory=dict)  # problem id -> mark name
    last: dict[str, Any] | None = None  # the last record
    stats: dict[str, Any] = field(default_factory=dict)  # run_summary over records
    final: dict[str, Any] | None = None  # RunFinished.summary
    scored: dict[str, Any] | None = None  # QualityScored.quality (the run scored the reference solutions)
    # live machine readings on the run's GPUs (Telemetry)
    vram_used_mib: float | None = None
    vram_total_mib: float | None = None
    gpu_util_pct: float | None = None
    telemetry_peak_vram_mib: float | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def active(self) -> bool:
        return self.status in ("waiting", "loading", "running")

    @property
    def on_gpu(self) -> bool:
        return bool(self.gpus) or (self.device or "").startswith("cuda")

    @property
    def peak_vram_mib(self) -> float | None:
        """The run's own peak GPU memory: its process tree's (NVML per-process), the headline."""
        v = self.row.get("peak_vram_process_mib")
        return None if v is None else float(v)

    @property
    def peak_gpu_used_mib(self) -> float | None:
        """The whole GPU's peak memory in use while the run ran (every process on its GPUs)."""
        vals = [v for v in (self.stats.get("peak_vram_mib"), self.telemetry_peak_vram_mib) if v is not None]
        return max(vals) if vals else None

    @property
    def quality(self) -> dict[str, Any]:
        """The run's quality block (ppl, kld_mean, kld_p99, top1_pct, ...); empty when not scored."""
        return (self.final or {}).get("quality") or self.scored or {}

    @property
    def row(self) -> dict[str, Any]:
        """The summary row: the final one when the run finished, else the live one."""
        return self.final if self.final is not None else self.stats

    def _restat(self) -> None:
        self.stats = run_summary({"run": self.name, "status": self.status}, self.records)


@dataclass
class SessionModel:
    runs: dict[str, RunView] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    problem_index: dict[str, int] = field(default_factory=dict)
    out_dir: str | None = None
    waves: list[list[str]] = field(default_factory=list)
    state: str = "starting"  # starting|running|stopping|finished|error
    paused: bool = False
    interrupted: bool = False
    error: str | None = None
    summary: dict[str, Any] | None = None
    # machine
    gpus: list[dict[str, Any]] = field(default_factory=list)
    telemetry_seen: bool = False
    cpu_pct: float | None = None
    ram_used_mib: float | None = None
    ram_total_mib: float | None = None
    run_of_gpu: dict[int, list[str]] = field(default_factory=dict)
    # GPU readings per node (engine.node_gpus, as dicts), polled while the GPU view is shown;
    # a cluster's (--executor ray) carry node ids, a local session's none
    nodes: list[dict[str, Any]] = field(default_factory=list)
    # the problem most recently started (the problem view follows it)
    current_problem: str | None = None
    answers_done: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    # ---- set-up --------------------------------------------------------------------------------
    def declare_runs(self, names: list[str]) -> None:
        """Runs known before the session starts (from the launch request)."""
        for name in names:
            if name not in self.runs:
                self.runs[name] = RunView(name=name, number=len(self.runs) + 1)

    # ---- derived -------------------------------------------------------------------------------
    @property
    def answers_total(self) -> int:
        return len(self.runs) * len(self.problems)

    @property
    def active(self) -> bool:
        """A session is under way (quitting needs a confirmation)."""
        return self.state in ("running", "stopping")

    @property
    def cluster_nodes(self) -> list[dict[str, Any]]:
        """The nodes of a cluster session (each with a node id); [] for a local session."""
        return [n for n in self.nodes if n.get("node_id") is not None]

    def apply_nodes(self, nodes: list[Any]) -> set[Change]:
        """A poll of ``Session.gpu_nodes()``."""
        self.nodes = [n.to_dict() if hasattr(n, "to_dict") else dict(n) for n in nodes]
        return {"gpus"}

    @property
    def nvml_available(self) -> bool:
        return bool(self.gpus)

    def short_name(self, run: RunView) -> str:
        """The run name without the segments every run shares (``llama.cpp/q4_1`` for one model)."""
        return short_names(list(self.runs))[run.name] if run.name in self.runs else run.name

    def problem(self, problem_id: str | None) -> dict[str, Any] | None:
        if problem_id is None or problem_id not in self.problem_index:
            return None
        return self.problems[self.problem_index[problem_id]]

    def gpu_label(self, index: int) -> str:
        for g in self.gpus:
            if g.get("index") == index:
                return str(g.get("label") or f"gpu:{index}")
        return f"gpu:{index}"

    def device_label(self, run: RunView) -> str:
        """``cpu``, or the run's GPUs as ``cuda:i (gpu:j)`` when telemetry names them."""
        if run.gpus and self.gpus:
            return ", ".join(self.gpu_label(i) for i in run.gpus)
        if run.device:
            return run.device
        return "—"

    # ---- events --------------------------------------------------------------------------------
    def apply(self, event: ev.Event) -> set[Change]:
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is None:
            return set()
        return handler(event)  # type: ignore[no-any-return]

    def _run(self, name: str) -> RunView:
        if name not in self.runs:
            self.runs[name] = RunView(name=name, number=len(self.runs) + 1)
        return self.runs[name]

    def _on_SessionStarted(self, e: ev.SessionStarted) -> set[Change]:
        known = dict(self.runs)
        self.runs = {}
        for i, name in enumerate(e.runs):
            rv = known.get(name) or RunView(name=name, number=i + 1)
            rv.number = i + 1
            self.runs[name] = rv
        self.problems = list(e.problems)
        self.problem_index = {p["id"]: i for i, p in enumerate(self.problems)}
        self.out_dir = e.out_dir
        self.waves = [list(w) for w in e.waves]
        for w, names in enumerate(self.waves):
            for name in names:
                if name in self.runs:
                    self.runs[name].wave = w
        for rv in self.runs.values():
            rv.total = len(self.problems)
        if self.problems and self.current_problem is None:
            self.current_problem = self.problems[0]["id"]
        self.state = "running"
        return {"session", "runs", "board", "problem", "gpus"}

    def _on_RunLoading(self, e: ev.RunLoading) -> set[Change]:
        rv = self._run(e.run)
        rv.status = "loading"
        return {f"run:{e.run}", "board"}

    def _on_RunLoadProgress(self, e: ev.RunLoadProgress) -> set[Change]:
        self._run(e.run).load_progress = e.line
        return {f"run:{e.run}"}

    def _on_RunLoaded(self, e: ev.RunLoaded) -> set[Change]:
        rv = self._run(e.run)
        rv.status = "running"
        rv.device, rv.gpus, rv.load_s, rv.details = e.device, list(e.gpus), e.load_s, dict(e.details)
        return {f"run:{e.run}", "board", "gpus"}

    def _on_RunFailed(self, e: ev.RunFailed) -> set[Change]:
        rv = self._run(e.run)
        rv.status, rv.reason, rv.answering = e.status, e.reason, False
        return {f"run:{e.run}", "board", "session", "problem"}

    def _on_QualityScored(self, e: ev.QualityScored) -> set[Change]:
        rv = self._run(e.run)
        rv.scored = dict(e.quality)
        return {f"run:{e.run}", "board"}

    def _on_ProblemStarted(self, e: ev.ProblemStarted) -> set[Change]:
        rv = self._run(e.run)
        self._begin(rv, e.problem_id)
        rv.position, rv.total = e.position, e.total
        changes = {f"run:{e.run}"}
        if self.current_problem != e.problem_id:
            pos = self.problem_index.get(e.problem_id, -1)
            cur = self.problem_index.get(self.current_problem or "", -1)
            if pos > cur:  # the view follows the front-most problem
                self.current_problem = e.problem_id
                changes.add("problem")
        return changes

    def _begin(self, rv: RunView, problem_id: str) -> None:
        if rv.problem_id == problem_id and rv.answering:
            return
        rv.problem_id = problem_id
        if problem_id in self.problem_index:
            rv.position = self.problem_index[problem_id]
        rv.text, rv.tokens_out, rv.shown_tokens, rv.elapsed_s, rv.live_tok_s = "", 0, 0, 0.0, None
        rv._rate_anchor = None
        rv.answering = True
        if rv.status in ("waiting", "loading"):
            rv.status = "running"

    def apply_text(self, run: str, problem_id: str, text: str, tokens_out: int, elapsed_s: float) -> set[Change]:
        """New answer text for a run (one or more coalesced TokenText deltas)."""
        rv = self._run(run)
        if rv.problem_id != problem_id or not rv.answering:
            self._begin(rv, problem_id)
        rv.text += text
        rv.tokens_out, rv.elapsed_s = tokens_out, elapsed_s
        anchor = rv._rate_anchor
        if anchor is not None and elapsed_s - anchor[1] < RATE_SAMPLE_S:
            return {f"text:{run}"}  # only the answer changed; the figures move a few times a second
        if anchor is not None:
            rv.rates.append((tokens_out - anchor[0]) / (elapsed_s - anchor[1]))
        rv._rate_anchor = (tokens_out, elapsed_s)
        if tokens_out >= 2 and elapsed_s > 0:
            rv.live_tok_s = (tokens_out - 1) / elapsed_s
        rv.shown_tokens = tokens_out
        return {f"run:{run}"}

    def _on_ProblemFinished(self, e: ev.ProblemFinished) -> set[Change]:
        rv = self._run(e.run)
        rec = dict(e.record)
        rv.records.append(rec)
        rv.marks[e.problem_id] = mark_of(rec)
        rv.last = rec
        if rv.problem_id == e.problem_id:
            rv.answering = False
            if rec.get("tokens_out") is not None:
                rv.tokens_out = rv.shown_tokens = int(rec["tokens_out"])
            if rec.get("decode_tok_s") is not None:
                rv.live_tok_s = float(rec["decode_tok_s"])
        rv._restat()
        self.answers_done += 1
        return {f"run:{e.run}", "board", "session", "problem"}

    def _on_RunFinished(self, e: ev.RunFinished) -> set[Change]:
        rv = self._run(e.run)
        rv.final = dict(e.summary)
        rv.answering = False
        if e.status == "ok":
            rv.status = "done"
        elif not rv.failed or e.status in FAILED_STATUSES:
            rv.status = e.status
        if e.summary.get("reason") and not rv.reason:
            rv.reason = e.summary["reason"]
        return {f"run:{e.run}", "board", "session"}

    def _on_Telemetry(self, e: ev.Telemetry) -> set[Change]:
        self.telemetry_seen = True
        self.gpus = list(e.gpus)
        self.cpu_pct, self.ram_used_mib, self.ram_total_mib = e.cpu_pct, e.ram_used_mib, e.ram_total_mib
        self.run_of_gpu = {int(k): list(v) for k, v in e.run_of_gpu.items()}
        by_index = {g.get("index"): g for g in self.gpus}
        changes: set[Change] = {"gpus"}
        for rv in self.runs.values():
            if not rv.gpus:
                continue
            readings = [by_index[i] for i in rv.gpus if i in by_index]
            rv.vram_used_mib = _sum_known([g.get("mem_used_mib") for g in readings])
            rv.vram_total_mib = _sum_known([g.get("mem_total_mib") for g in readings])
            util = [float(g["util_pct"]) for g in readings if g.get("util_pct") is not None]
            rv.gpu_util_pct = sum(util) / len(util) if util else None
            if rv.vram_used_mib is not None and rv.status == "running":
                rv.telemetry_peak_vram_mib = max(rv.telemetry_peak_vram_mib or 0.0, rv.vram_used_mib)
            changes.add(f"run:{rv.name}")
        return changes

    def _on_SessionFinished(self, e: ev.SessionFinished) -> set[Change]:
        self.state = "finished"
        self.interrupted = e.interrupted
        self.summary = dict(e.summary)
        self.out_dir = e.out_dir
        self.paused = False
        for rv in self.runs.values():
            rv.answering = False
            if rv.status in ("waiting", "loading", "running"):
                rv.status = "interrupted" if e.interrupted else "done"
            elif rv.status == "done" and e.interrupted and len(rv.records) < len(self.problems):
                rv.status = "interrupted"
        return {"session", "board", "runs", "problem"} | {f"run:{n}" for n in self.runs}

    # ---- rankings ------------------------------------------------------------------------------
    def leaders(self) -> dict[str, tuple[RunView, str] | None]:
        """At a glance: the fastest, the leanest and the most accurate run so far, with the figure."""
        runs = list(self.runs.values())
        out: dict[str, tuple[RunView, str] | None] = {"fastest": None, "memory": None, "accuracy": None}
        fast = _known([(r.row.get("decode_tok_s_median"), r) for r in runs])
        if fast:
            v, r = max(fast, key=lambda x: x[0])
            out["fastest"] = (r, f"{v:.1f} tok/s")
        vram = _known([(r.peak_vram_mib, r) for r in runs])
        if vram:
            v, r = min(vram, key=lambda x: x[0])
            out["memory"] = (r, f"{_mem(v)} VRAM")
        else:
            rss = _known([(r.row.get("rss_mib_peak"), r) for r in runs])
            if rss:
                v, r = min(rss, key=lambda x: x[0])
                out["memory"] = (r, f"{_mem(v)} RSS")
        acc = [(r.row.get("accuracy"), r.row.get("graded") or 0, r.row.get("decode_tok_s_median") or 0.0, r) for r in runs]
        acc = [a for a in acc if a[0] is not None]
        if acc:
            a, graded, _, r = max(acc, key=lambda x: (x[0], x[1], x[2]))
            out["accuracy"] = (r, f"{r.row.get('correct', 0)}/{graded} correct")
        return out


def short_names(names: list[str]) -> dict[str, str]:
    """Run names without the leading segments they all share (``llama.cpp/q4_1`` when one model)."""
    parts = [n.split("/") for n in names]
    common = 0
    if len(parts) > 1:
        for seg in zip(*parts, strict=False):
            if len(set(seg)) != 1:
                break
            common += 1
    return {n: "/".join(p[min(common, len(p) - 1):]) for n, p in zip(names, parts, strict=True)}


def _known(pairs: list[tuple[Any, RunView]]) -> list[tuple[float, RunView]]:
    return [(float(v), r) for v, r in pairs if v is not None]


def _sum_known(values: list[Any]) -> float | None:
    """The sum, or None when any reading is unknown (N/A, never a partial sum)."""
    if not values or any(v is None for v in values):
        return None
    return float(sum(values))


def _mem(v: float) -> str:
    from tui.figures import mib

    return mib(v)
