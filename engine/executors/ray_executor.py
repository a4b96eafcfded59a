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
from collections.abc import Callable
from typing import Any

from engine.catalog import ModelSpec, RunSpec
from engine.executors.cluster import ClusterPlan, NodeInfo, Slot, plan_cluster
from engine.executors.ray_cluster import ClusterError, Connection, connect, nodes, shutdown


class RayExecutor:
    kind = "ray"

    def __init__(self, conn: Connection, cluster: list[NodeInfo], *, sample_interval_s: float = 0.1):
        import ray

        self.conn = conn
        #: builds each actor's GPU source on its node (None: NVML; tests pass a FAKE one)
        self.gpu_source: Callable[[], Any] | None = None
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
                             on_started=self._started, gpu_source=self.gpu_source)
        with self._lock:
            self._procs.append(proc)
        return proc

    def _started(self, proc: Any) -> None:
        with self._lock:
            self._used[proc.run.name] = {
                "node_id": proc.node.get("node_id"), "hostname": proc.node.get("hostname"),
                "node_gpus": proc.node.get("gpus"), "plan_gpus": list(proc.slot.gpus), "num_gpus": proc.slot.num_gpus,
                "vram_mib": proc.slot.vram_mib, "pid": proc.node.get("pid"), "actor_pid": proc.node.get("actor_pid"),
                # the run process's niceness (the driver's when the node allows it; Ray's workers run at 15)
                "nice": proc.node.get("nice"), "actor_nice": proc.node.get("actor_nice"),
            }

    # -- the live view --
    def gpu_nodes(self, snapshot: Any, served: dict[int, list[str]], *, timeout_s: float = 5.0) -> list[Any]:
        """GPU readings per node (``engine.node_gpus``): this machine's from the session's
        sampler ``snapshot`` (the served runs' GPUs, ``served``: NVML index -> runs), then each
        node holding runs, its runs' GPUs read there by their actors, all asked at once. A node
        that does not answer within ``timeout_s`` shows its runs without readings."""
        import ray

        from engine.node_gpus import NodeGpus, gpu_rows, this_machine

        with self._lock:
            procs = [p for p in self._procs if p._actor is not None and not p._dead and p.node]
        refs = [p._actor.latest_gpus.remote() for p in procs]
        ready = set(ray.wait(refs, num_returns=len(refs), timeout=timeout_s)[0]) if refs else set()
        # node id -> (host name, NVML index -> reading, NVML index -> runs, runs)
        found: dict[str, tuple[str, dict[int, Any], dict[int, list[str]], list[str]]] = {}
        for p, ref in zip(procs, refs, strict=True):
            host, readings, runs_of, runs = found.setdefault(p.node["node_id"], (p.node.get("hostname") or "?", {}, {}, []))
            runs.append(p.run.name)
            try:
                gpus = ray.get(ref) if ref in ready else []
            except Exception:  # the actor is lost: its run's exit message says so
                gpus = []
            for g in gpus:
                readings[g.index] = g
                runs_of.setdefault(g.index, []).append(p.run.name)
        out: list[Any] = []
        here = found.pop(self.driver_node, None)
        if (snapshot is not None and snapshot.gpus) or here is not None or served:
            runs_of_here = {i: list(v) for i, v in served.items()}
            runs_here = sorted({r for v in served.values() for r in v})
            if here is not None:  # actors on this machine: the same GPUs, the same NVML indices
                for i, names in here[2].items():
                    runs_of_here.setdefault(i, []).extend(names)
                runs_here += here[3]
            if snapshot is not None and snapshot.gpus:
                out.append(this_machine(snapshot, runs_of_here, node_id=self.driver_node, runs=runs_here))
            else:
                mine = sorted(here[1].values(), key=lambda g: g.index) if here is not None else []
                out.append(NodeGpus(_hostname(), self.driver_node, True, gpu_rows(mine, runs_of_here), tuple(runs_here)))
        order = {n.node_id: i for i, n in enumerate(self.nodes)}
        for node_id in sorted(found, key=lambda n: (order.get(n, len(order)), n)):
            host, readings, runs_of, runs = found[node_id]
            rows = gpu_rows(sorted(readings.values(), key=lambda g: g.index), runs_of)
            out.append(NodeGpus(host, node_id, False, rows, tuple(runs)))
        return out

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
