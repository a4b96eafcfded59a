"""A run on a Ray node, behind RunProcess's interface (imports Ray; the ray executor's part).

:class:`RunActor` lives on the node Ray picks (or the plan pins): it starts the **same** local
:class:`engine.run_process.RunProcess` there (same worker code, its own process) and relays its
messages, untouched: the driver's :class:`RayRunProcess` sends with sequence numbers (the actor
is threaded, so calls may arrive out of order; it delivers them in order) and a pump thread
long-polls the actor into ``inbox``. Messages are opaque here: this module never reads them.

Telemetry is sampled on the run's node by the actor's own :class:`engine.gpu.Sampler` (its
clocks are the worker's clocks): :attr:`RayRunProcess.sampler` answers the session's window
queries from there, with the node's id in each window.

When the actor or its node is lost (killed, OOM-killed, node down), the pump posts the exit
message a dead local process gets, with Ray's reason, so the session marks that run failed and
keeps what it finished. A run that Ray cannot schedule within ``SCHEDULE_TIMEOUT_S`` (no room
left on the cluster) ends the same way.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from typing import Any

import ray

from engine.catalog import ModelSpec, RunSpec
from engine.executors.cluster import Slot

#: how long an actor may wait for its resources before its run is failed
SCHEDULE_TIMEOUT_S = float(os.environ.get("QUANTARENA_RAY_SCHEDULE_TIMEOUT_S", "600"))
#: the pump's long poll: it returns as soon as the run posts a message (the run's exit included),
#: so this only bounds how often an idle run costs a Ray call
POLL_S = 30.0
#: a run's log copied back from another node is cut to its last bytes
LOG_LIMIT = 1 << 20


#: the driver's OMP_NUM_THREADS, carried to the actor in the env it is given ("" when unset)
DRIVER_OMP = "QUANTARENA_DRIVER_OMP_NUM_THREADS"
#: the driver's niceness: the run's process gets it (Ray starts its workers at nice 15)
DRIVER_NICE = "QUANTARENA_DRIVER_NICE"


def thread_nice() -> int | None:
    """The calling thread's nice value (Linux: a thread's own; a child process inherits it)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        return None


def start_with_nice(proc: Any, nice: int | None) -> None:
    """``proc.start()`` from this thread with its nice value set to ``nice`` for the moment, so
    the child (and every thread it starts) inherits it. Lowering a nice value needs privilege
    (CAP_SYS_NICE): without it the child keeps the thread's."""
    old, tid = thread_nice(), threading.get_native_id()
    changed = False
    if nice is not None and old is not None and nice != old:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            changed = True
        except OSError:
            pass
    try:
        proc.start()
    finally:
        if changed and old is not None:
            os.setpriority(os.PRIO_PROCESS, tid, old)  # raising it back is always allowed


def lost_message(reason: str) -> Any:
    """The message a run process that vanished posts (mirrors ``RunProcess._read``'s: code None
    = "vanished", no log tail). The one place this package builds a protocol message."""
    from engine.protocol import Exited

    return Exited(code=None, reason=reason)


class RunActor:
    """On the node: one RunProcess, its messages, its telemetry."""

    def __init__(self, run: RunSpec, model: ModelSpec, env: dict[str, str], stream_text: bool, sample_interval_s: float,
                 gpu_source: Any = None):
        from engine.gpu import NvmlSource, Sampler
        from engine.run_process import RunProcess

        env = dict(env)
        # Ray sets OMP_NUM_THREADS=1 in actors without CPUs; the run gets the thread count it
        # would get from a local session (the driver's setting, else its library's default)
        omp = env.pop(DRIVER_OMP, None)
        nice = env.pop(DRIVER_NICE, "")
        self._nice = int(nice) if nice.lstrip("-").isdigit() else None
        if omp:
            os.environ["OMP_NUM_THREADS"] = omp
        else:
            os.environ.pop("OMP_NUM_THREADS", None)
        if ray.get_gpu_ids():  # the GPUs Ray gave this actor (it set CUDA_VISIBLE_DEVICES here)
            env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        log = env.get("QUANTARENA_RUN_LOG")
        if log:
            os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
        self.proc = RunProcess(run, model, env=env, stream_text=stream_text)
        source = gpu_source() if gpu_source is not None else NvmlSource()
        self.gpus = sorted(j for j, c in source.cuda_of.items() if c is not None) if ray.get_gpu_ids() else []
        interval = sample_interval_s if source.available else max(sample_interval_s, 0.5)
        self.sampler = Sampler(interval_s=interval, source=source)
        self.node_id = ray.get_runtime_context().get_node_id()
        self._lock = threading.Lock()
        self._next = 0
        self._held: dict[int, Any] = {}

    def start(self) -> dict[str, Any]:
        self.sampler.start()
        start_with_nice(self.proc, self._nice)  # the driver's niceness, not Ray's worker niceness
        nice = None
        if self.proc.pid:
            self.sampler.track(self.proc.pid)
            self.sampler.sample_once()  # a first reading of the run's process before its first answer
            try:
                nice = os.getpriority(os.PRIO_PROCESS, self.proc.pid)
            except OSError:
                pass
        return {"pid": self.proc.pid, "actor_pid": os.getpid(), "node_id": self.node_id, "hostname": socket.gethostname(),
                "gpus": self.gpus, "nice": nice, "actor_nice": thread_nice()}

    def send(self, seq: int, msg: Any) -> bool:
        ok = True
        with self._lock:
            self._held[seq] = msg
            while self._next in self._held:
                ok = self.proc.send(self._held.pop(self._next)) and ok
                self._next += 1
        return ok

    def poll(self, wait_s: float) -> list[Any]:
        try:
            out = [self.proc.get(timeout=wait_s)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.proc.inbox.get_nowait())
            except queue.Empty:
                return out

    def cancel(self) -> None:
        self.proc.cancel.set()

    def kill(self) -> None:
        self.proc.kill()

    def stop(self, timeout: float) -> None:
        self.proc.stop(timeout)
        self.sampler.stop()

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        return self.sampler.window(t0, t1, pid=self.proc.pid, gpus=self.gpus)

    def latest_gpus(self) -> list[Any]:
        snap = self.sampler.latest()
        return [g for g in snap.gpus if g.index in self.gpus] if snap else []

    def log_tail(self) -> bytes:
        path = self.proc.log_path
        if not path:
            return b""
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - LOG_LIMIT))
                return f.read()
        except OSError:
            return b""


_RemoteActor: Any = ray.remote(max_concurrency=4)(RunActor)  # type: ignore[call-overload]


class _RemoteCancel:
    """``proc.cancel`` for a remote run: ``set()`` reaches the worker's own cancel event."""

    def __init__(self, proc: RayRunProcess):
        self._proc = proc
        self._set = False

    def set(self) -> None:
        self._set = True
        actor = self._proc._actor
        if actor is not None and not self._proc._dead:
            actor.cancel.remote()

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False


class RemoteSampler:
    """The session's sampler calls for one remote run, answered by its actor on its node.

    ``window`` ignores the session's pid and GPU ids (they are the plan's global ids) and uses
    the actor's: the run's process tree and the GPUs Ray gave it. ``latest`` returns the run's
    GPUs under the plan's ids, for the roofline's GPU type."""

    def __init__(self, proc: RayRunProcess):
        self._proc = proc

    def window(self, t0: float, t1: float, *, pid: int | None = None, gpus: list[int] | None = None) -> dict[str, Any]:
        actor = self._proc._actor
        if actor is None or self._proc._dead:
            return {}
        try:
            return dict(ray.get(actor.window.remote(t0, t1), timeout=30))
        except Exception:  # a lost node costs the figures, never the answer
            return {}

    def latest(self) -> Any:
        from engine.gpu import Snapshot

        actor = self._proc._actor
        if actor is None or self._proc._dead:
            return None
        try:
            gpus = ray.get(actor.latest_gpus.remote(), timeout=30)
        except Exception:
            return None
        ids = list(self._proc.slot.gpus)
        for g, gid in zip(gpus, ids, strict=False):
            g.index = gid
        return Snapshot(0.0, gpus, {}, None, None, None)


class RayRunProcess:
    """RunProcess's interface over a :class:`RunActor` (see the module docstring)."""

    def __init__(self, run: RunSpec, model: ModelSpec, *, env: dict[str, str] | None = None, stream_text: bool = True,
                 slot: Slot | None = None, sample_interval_s: float = 0.1, driver_node: str | None = None,
                 on_started: Any = None, gpu_source: Any = None):
        self.run = run
        self.model = model
        self.env = dict(env or {})
        self.stream_text = stream_text
        self.slot = slot or Slot(run.name)
        self.sample_interval_s = sample_interval_s
        self.log_path = self.env.get("QUANTARENA_RUN_LOG")
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.cancel = _RemoteCancel(self)
        self.sampler = RemoteSampler(self)
        self.node: dict[str, Any] = {}
        self._driver_node = driver_node
        self._on_started = on_started
        self._gpu_source = gpu_source
        self._actor: Any = None
        self._dead = False
        self._closed = threading.Event()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The run's pid when it runs on the driver's node (the session's own sampler may track
        it); None on another node, whose pids mean nothing here."""
        if self.node and self.node.get("node_id") == self._driver_node:
            return self.node.get("pid")
        return None

    def _options(self) -> dict[str, Any]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # no task events: the pump's polls and the send/window calls would each report their
        # state changes to the GCS (they feed the dashboard's task list, unused here)
        opts: dict[str, Any] = {"num_cpus": 0, "num_gpus": self.slot.num_gpus, "resources": self.slot.resources(),
                                "max_restarts": 0, "max_task_retries": 0, "enable_task_events": False}
        if self.slot.node_id:
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self.slot.node_id, soft=False)
        else:
            opts["scheduling_strategy"] = "SPREAD"
        return opts

    def start(self) -> None:
        """Create the actor and its run process; a failure (no room, actor lost) arrives as the
        exit message, as a dead local process's does."""
        try:
            nice = thread_nice()
            env = {**self.env, DRIVER_OMP: os.environ.get("OMP_NUM_THREADS", ""), DRIVER_NICE: "" if nice is None else str(nice)}
            self._actor = _RemoteActor.options(**self._options()).remote(
                self.run, self.model, env, self.stream_text, self.sample_interval_s, self._gpu_source)
            self.node = dict(ray.get(self._actor.start.remote(), timeout=SCHEDULE_TIMEOUT_S))
        except ray.exceptions.GetTimeoutError:
            self._lost(f"Ray found no room for {self.run.name} within {SCHEDULE_TIMEOUT_S:.0f} s "
                       f"({self.slot.num_gpus} GPU(s), {self.slot.resources() or 'no VRAM resource'})")
            return
        except Exception as e:
            self._lost(f"Ray actor lost: {_ray_reason(e)}")
            return
        if self._on_started is not None:
            self._on_started(self)
        self._pump = threading.Thread(target=self._read, name=f"ray-pump:{self.run.name}", daemon=True)
        self._pump.start()

    def _lost(self, reason: str) -> None:
        self._dead = True
        if self._actor is not None:
            try:
                ray.kill(self._actor)
            except Exception:
                pass
        self.inbox.put(lost_message(reason))

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                msgs = ray.get(self._actor.poll.remote(POLL_S))
            except Exception as e:
                if not self._closed.is_set():
                    self._lost(f"Ray actor lost: {_ray_reason(e)}")
                return
            for m in msgs:
                self.inbox.put(m)

    def send(self, msg: Any) -> bool:
        if self._dead or self._actor is None:
            return False
        with self._seq_lock:
            seq, self._seq = self._seq, self._seq + 1
            self._actor.send.remote(seq, msg)
        return True

    def get(self, timeout: float | None = None) -> Any:
        return self.inbox.get(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the run to free its backend and exit (the actor kills it if it does not), copy its
        log back when it ran on another node, and end the actor (its resources go back to Ray)."""
        if self._actor is None:
            return
        self._closed.set()
        if not self._dead:
            try:
                ray.get(self._actor.stop.remote(timeout), timeout=timeout + 15)
            except Exception:
                pass
            self._fetch_log()
        try:
            ray.kill(self._actor)
        except Exception:
            pass
        self._dead = True
        if self._pump is not None:
            self._pump.join(timeout=5)  # the actor is gone: its poll has returned or failed

    def _fetch_log(self) -> None:
        if not self.log_path or not self.node or self.node.get("node_id") == self._driver_node:
            return
        if os.path.exists(self.log_path):  # a shared file system: the node wrote it here
            return
        try:
            data = ray.get(self._actor.log_tail.remote(), timeout=30)
        except Exception:
            return
        if data:
            os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
            with open(self.log_path, "wb") as f:
                f.write(data)

    def kill(self) -> None:
        """Kill the run process (its exit then arrives as a message); a lost actor is ended."""
        if self._actor is None or self._dead:
            return
        try:
            self._actor.kill.remote()
        except Exception:
            self._lost("Ray actor lost while being killed")

    def kill_actor(self) -> None:
        """End the actor itself, as a lost node would (tests; Ctrl-C's last resort)."""
        if self._actor is not None:
            ray.kill(self._actor, no_restart=True)


def _ray_reason(e: BaseException) -> str:
    """Ray's one-line reason for a lost actor (its message runs over many lines)."""
    text = str(e)
    for key in ("The actor died because", "The actor is dead because", "died because", "The node", "reason"):
        i = text.find(key)
        if i >= 0:
            line = text[i:].splitlines()[0].strip()
            return f"{type(e).__name__}: {line}"[:400]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:400]
