"""The session's handle on one run: its state, its process and the protocol spoken with it.

A :class:`RunHandle` holds what the session knows of a run (status, reason, device, load time,
details, what the loaded backend can do, its records) and its process
(``engine.run_process.RunProcess``, or anything with the same interface). Its methods speak the
protocol (``engine.protocol``): wait for the load, ask for answers and collect them, and turn a
failure or the process's death into the run's status and one-line reason.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import protocol as P
from engine.backends.base import Capabilities, GenerationRequest
from engine.catalog import RunSpec
from engine.run_process import exit_reason


def process_env(run: RunSpec, gpus: list[int], gpu_uuids: dict[int, str], out_dir: Path) -> dict[str, str]:
    """The environment of a run's process: the GPUs it sees (by UUID, robust to the parent's
    own CUDA_VISIBLE_DEVICES), none for a CPU run, and its log file."""
    env: dict[str, str] = {}
    if gpus:
        env = {"CUDA_VISIBLE_DEVICES": ",".join(gpu_uuids.get(g, str(g)) for g in gpus), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    if not gpus and run.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)
    env["QUANTARENA_RUN_LOG"] = str(out_dir / "logs" / f"{safe}.log")
    return env


@dataclass
class RunHandle:
    run: RunSpec
    gpus: list[int]
    served: bool = False  # answered by a server outside quantarena (its telemetry is the server's)
    status: str = "pending"  # pending|loading|ok|failed|unsupported|oom|interrupted
    reason: str | None = None
    device: str | None = None
    load_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    capabilities: Capabilities | None = None  # what the loaded backend can do
    proc: Any = None
    records: list[dict[str, Any]] = field(default_factory=list)
    batch_size: int = 1  # answers per generate call: up to --concurrency, at most the backend's max_batch
    batches: int = 0
    server_pid: int | None = None  # the server's process on this machine, when found
    _stop_seen: float | None = None

    @property
    def alive(self) -> bool:
        return self.status == "ok"

    @property
    def pids(self) -> list[int]:
        """The processes whose telemetry is this run's: its own, and its server's when found."""
        return [p for p in (self.proc.pid if self.proc else None, self.server_pid) if p]

    # ---- loading ----------------------------------------------------------------------------
    def wait_loaded(self, stopping: Callable[[], bool], on_progress: Callable[[P.LoadProgress], None]) -> bool:
        """Wait for the started process to load; True once loaded (status ok), False when the
        load failed or the process died (status and reason set). Stopping kills a loading run."""
        proc = self.proc
        while True:
            try:
                msg = proc.get(timeout=0.2)
            except queue.Empty:
                if stopping():
                    proc.kill()
                continue
            if isinstance(msg, P.Loaded):
                self.status, self.device, self.load_s, self.details = "ok", msg.device, msg.load_s, msg.details
                self.capabilities = msg.capabilities
                if self.served and isinstance(self.details.get("server_pid"), int):
                    self.server_pid = self.details["server_pid"]
                return True
            if isinstance(msg, P.LoadProgress):
                on_progress(msg)
            elif isinstance(msg, P.LoadFailed):
                self.status, self.reason = msg.status, msg.reason  # its exit follows
            elif isinstance(msg, P.Exited):
                if self.status == "loading":
                    self.status = "interrupted" if stopping() else "failed"
                    self.reason = exit_reason(msg, "while loading")
                return False

    # ---- answering --------------------------------------------------------------------------
    def next(self, stopping: Callable[[], bool], grace_s: float) -> P.Message | None:
        """The process's next message, or None after 0.2 s. Once the session is stopping, an
        answer in flight is cancelled, and a process that has not answered ``grace_s`` later
        (stuck inside its library) is killed; its exit then arrives as a message."""
        try:
            return self.proc.get(timeout=0.2)
        except queue.Empty:
            if stopping():
                self.proc.cancel.set()
                if self._stop_seen is None:
                    self._stop_seen = time.perf_counter()
                if time.perf_counter() - self._stop_seen > grace_s:
                    self.proc.kill()
            return None

    def answer(self, problem_ids: list[str], requests: list[GenerationRequest], phase: str, *, stopping: Callable[[], bool],
               grace_s: float, on_text: Callable[[P.TextDelta], None] | None = None) -> list[P.Answered] | None:
        """Ask for ``requests`` in one call and wait for every answer (in the order asked);
        None when the run ended meanwhile (status and reason set for ``phase``, e.g. "while
        answering builtin/1")."""
        self.proc.send(P.Answer(list(problem_ids), list(requests)))  # if the process is gone, its reader posts Exited
        got: dict[str, P.Answered] = {}
        while len(got) < len(problem_ids):
            msg = self.next(stopping, grace_s)
            if msg is None:
                continue
            if isinstance(msg, P.TextDelta):
                if on_text is not None:
                    on_text(msg)
            elif isinstance(msg, P.Done):
                got[msg.problem_id] = msg.answer
            elif isinstance(msg, (P.GenFailed, P.Exited)):
                self.end(msg, phase, stopping())
                return None
        return [got[p] for p in problem_ids]

    def end(self, msg: P.GenFailed | P.Exited, phase: str, stopping: bool) -> None:
        """The run ended with ``msg`` in ``phase``: its status and one-line reason."""
        if isinstance(msg, P.GenFailed):
            self.status, self.reason = msg.status, msg.reason
        elif stopping:
            self.status, self.reason = "interrupted", None
        else:
            self.status, self.reason = "failed", exit_reason(msg, phase)
