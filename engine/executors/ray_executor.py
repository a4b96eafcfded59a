"""``--executor ray``: each run becomes a Ray actor, scheduled where the cluster has room.

:func:`connect_executor` reaches the cluster (or starts a local Ray) and reads its nodes;
:meth:`RayExecutor.plan` places the runs on them (``engine.executors.cluster``); the session then
builds every run's process through :meth:`RayExecutor.process`: a
:class:`~engine.executors.ray_process.RayRunProcess` that asks Ray for the run's node, whole GPUs
(``num_gpus``) and VRAM (``quantarena_vram_mib``). Served runs (the ``openai`` backend) stay on
this machine: the server holds the weights and they take nothing of the cluster.

:meth:`RayExecutor.describe` is the ``executor`` entry of the summary's environment block: the
cluster's nodes and which node each run used. :meth:`RayExecutor.close` ends every actor still
alive (Ctrl-C included) and stops a Ray it started.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from engine.catalog import ModelSpec, RunSpec
from engine.executors.cluster import ClusterPlan, NodeInfo, Slot, plan_cluster
from engine.executors.ray_cluster import ClusterError, Connection, connect, nodes, shutdown


class RayExecutor:
    kind = "ray"

    def __init__(self, conn: Connection, cluster: list[NodeInfo], *, sample_interval_s: float = 0.1):
        import ray

        self.conn = conn
        self.nodes = cluster
        self.slots: dict[str, Slot] = {}
        self.sample_interval_s = sample_interval_s
        self.driver_node = ray.get_runtime_context().get_node_id()
        self.ray_version = ray.__version__
        self._procs: list[Any] = []
        self._used: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    # -- planning --
    def plan(self, runs_with_estimates: list[tuple[RunSpec | str, Any]]) -> ClusterPlan:
        cp = plan_cluster(runs_with_estimates, self.nodes)
        self.slots = dict(cp.slots)
        return cp

    @property
    def has_gpus(self) -> bool:
        return any(n.gpus for n in self.nodes)

    # -- the session's factory --
    def process(self, run: RunSpec, model: ModelSpec, *, env: dict[str, str] | None = None, stream_text: bool = True) -> Any:
        from engine.backends.registry import is_served

        if is_served(run.backend):
            from engine.run_process import RunProcess

            with self._lock:
                self._used[run.name] = {"node_id": self.driver_node, "hostname": _hostname(), "gpus": [], "local": True}
            return RunProcess(run, model, env=env, stream_text=stream_text)
        from engine.executors.ray_process import RayRunProcess

        proc = RayRunProcess(run, model, env=env, stream_text=stream_text, slot=self.slots.get(run.name),
                             sample_interval_s=self.sample_interval_s, driver_node=self.driver_node,
                             on_started=self._started)
        with self._lock:
            self._procs.append(proc)
        return proc

    def _started(self, proc: Any) -> None:
        with self._lock:
            self._used[proc.run.name] = {
                "node_id": proc.node.get("node_id"), "hostname": proc.node.get("hostname"),
                "node_gpus": proc.node.get("gpus"), "plan_gpus": list(proc.slot.gpus), "num_gpus": proc.slot.num_gpus,
                "vram_mib": proc.slot.vram_mib, "pid": proc.node.get("pid"), "actor_pid": proc.node.get("actor_pid"),
            }

    # -- records --
    def describe(self) -> dict[str, Any]:
        with self._lock:
            used = {k: dict(v) for k, v in self._used.items()}
        return {
            "kind": "ray", "ray_version": self.ray_version,
            "address": self.conn.address or ("(this process's Ray)" if self.conn.reused else "(local Ray started for this session)"),
            "driver_node": self.driver_node, "nodes": [n.to_dict() for n in self.nodes], "runs": used,
        }

    def close(self) -> None:
        """End every actor still alive and stop the Ray this session started (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = list(self._procs)
        for p in procs:
            try:
                p.stop(timeout=5)
            except Exception:
                pass
        try:
            shutdown(self.conn)
        except Exception:
            pass


def _hostname() -> str:
    import socket

    return socket.gethostname()


def connect_executor(address: str | None = None, *, sample_interval_s: float = 0.1) -> RayExecutor:
    """The ray executor over ``address`` (else ``RAY_ADDRESS``, else a local Ray started now);
    raises :class:`ClusterError` (one line) when the cluster cannot be used."""
    conn = connect(address)
    try:
        cluster = nodes()
    except ClusterError:
        shutdown(conn)
        raise
    if not cluster:
        shutdown(conn)
        raise ClusterError(f"Ray cluster at {address or 'local'}: no alive node")
    return RayExecutor(conn, cluster, sample_interval_s=sample_interval_s)


__all__ = ["ClusterError", "RayExecutor", "connect_executor"]
