"""Reaching a Ray cluster and reading its nodes (imports Ray; only the ray executor uses it).

* ``--ray-address`` (or ``RAY_ADDRESS``) names a running cluster (``host:port`` of its head, or
  ``ray://host:10001`` for Ray Client); without one a local Ray is started for this session, with
  this machine's CPUs and GPUs and the :data:`~engine.executors.cluster.VRAM_RESOURCE` of its
  GPUs registered. A process already connected (``ray.is_initialized()``) is reused as it is.
* An address that does not answer is a :class:`ClusterError` within seconds (Ray itself would
  retry for minutes).
* A local Ray is started lean (:data:`LEAN_INIT`): on a small machine Ray's own processes share
  the cores with the runs' decode loops, so everything quantarena does not use is off.
* Each node's GPUs are read on that node (NVML, by a small task pinned there; the driver's own
  node here): their names and memory, which Ray's resources do not tell.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from engine.executors.cluster import VRAM_RESOURCE, NodeInfo
from engine.placement import GpuInfo

CONNECT_TIMEOUT_S = 5.0

#: ``ray.init`` options for every connection: Ray's log lines stay in Ray's files (a run's own
#: log is copied back by its actor), no dashboard
QUIET: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "include_dashboard": False}

#: Ray settings (``ray_config_def.h``; ``RAY_<name>`` environment variables for ``ray start``)
#: for a local Ray started here; each one is a process or a timer less on the run's cores
LEAN_SYSTEM_CONFIG: dict[str, Any] = {
    # no idle workers prestarted when the first driver connects (an idle worker's main thread
    # costs ~1% of a core, checking signals): the run actors start the workers they need
    "prestart_worker_first_driver": False,
    # no metrics export from every process to the node's agent (it feeds the dashboard's
    # Prometheus, which quantarena does not use)
    "enable_metrics_collection": False,
    # the raylet's out-of-memory monitor checks every second, not every 250 ms (still on)
    "memory_monitor_refresh_ms": 1000,
}

#: how quantarena starts a local Ray (and how ``benchmarks/ray-executor`` starts its own)
LEAN_INIT: dict[str, Any] = {**QUIET, "_system_config": LEAN_SYSTEM_CONFIG}


class ClusterError(Exception):
    """The cluster cannot be used (unreachable, Ray missing); one line."""


@dataclass
class Connection:
    address: str | None  # None: a local Ray started here
    started_here: bool  # this process started Ray (and shuts it down)
    reused: bool  # this process was already connected


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError("--executor ray needs Ray: pip install 'quantarena[ray]'") from None
    return ray


def _reachable(address: str) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else why not (``auto`` is not checked)."""
    addr = address.removeprefix("ray://")
    if addr in ("auto", "local") or ":" not in addr:
        return None
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            return None
    except ValueError:
        return f"not host:port: {address!r}"
    except OSError as e:
        return f"{e.strerror or e}" if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__


def local_resources() -> tuple[int, dict[str, float]]:
    """GPUs on this machine (NVML) and the VRAM resource they make (MiB summed; {} without)."""
    from engine.gpu import NvmlSource

    src = NvmlSource()
    if not src.available:
        return 0, {}
    readings = [r for r in src.read() if r.cuda is not None]
    vram = sum(r.mem_total_mib or 0 for r in readings)
    return len(readings), ({VRAM_RESOURCE: float(int(vram))} if vram else {})


def connect(address: str | None = None, *, num_cpus: int | None = None) -> Connection:
    """Connect to ``address`` (else ``RAY_ADDRESS``), or start a local Ray; raises ClusterError."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:  # read by Ray when it is imported: a token-auth cluster needs RAY_AUTH_MODE=token
        _token_auth()
    ray = import_ray()
    if ray.is_initialized():
        return Connection(address, started_here=False, reused=True)
    if address:
        why = _reachable(address)
        if why is not None:
            raise ClusterError(f"Ray cluster at {address} cannot be reached: {why}")
        try:
            ray.init(address=address, **QUIET)
        except Exception as e:  # ConnectionError, RuntimeError, ... all mean the same to a user
            hint = ("; a token-auth cluster needs its token here (RAY_AUTH_TOKEN or ~/.ray/auth_token, "
                    "RAY_AUTH_MODE=token)") if os.environ.get("RAY_AUTH_MODE") != "token" or not _has_token() else ""
            raise ClusterError(f"Ray cluster at {address}: {_one_line(e)}{hint}") from None
        return Connection(address, started_here=False, reused=False)
    gpus, resources = local_resources()
    try:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, num_gpus=gpus, resources=resources,
                 object_store_memory=200 * 2**20, **{**LEAN_INIT, "_system_config": dict(LEAN_SYSTEM_CONFIG)})
    except Exception as e:
        raise ClusterError(f"cannot start a local Ray: {_one_line(e)}") from None
    return Connection(None, started_here=True, reused=False)


def _has_token() -> bool:
    from pathlib import Path

    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.exists(path)


def _token_auth() -> None:
    """Ray 2.5x clusters use token auth by default, but a client connecting by address only sends
    its token when RAY_AUTH_MODE=token: set it when a token is at hand and the mode is unset."""
    if "RAY_AUTH_MODE" not in os.environ and _has_token():
        os.environ["RAY_AUTH_MODE"] = "token"


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]


def _probe() -> dict[str, Any]:
    """On a node: its host name and its GPUs as NVML sees them (all of them, not CUDA's view)."""
    from engine.gpu import NvmlSource

    src = NvmlSource()
    gpus = []
    if src.available:
        for r in src.read():
            total = (r.mem_total_mib or 0) / 1024
            free = None if r.mem_used_mib is None else total - r.mem_used_mib / 1024
            gpus.append({"index": r.index, "name": r.name, "total_gib": total, "free_gib": free})
    return {"hostname": socket.gethostname(), "gpus": gpus}


def nodes() -> list[NodeInfo]:
    """The cluster's alive nodes, head first, each with the GPUs read on it."""
    ray = import_ray()
    from ray.util.client import ray as ray_client
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive")]
    # the driver's own node is read here: a task would start a worker process that then idles
    # for the whole session beside the runs (Ray Client: this process is on no node)
    here = None if ray_client.is_connected() else ray.get_runtime_context().get_node_id()
    probe = ray.remote(num_cpus=0)(_probe)
    refs = {n["NodeID"]: probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
            for n in alive if n["NodeID"] != here}
    try:
        remote = dict(zip(refs, ray.get(list(refs.values()), timeout=60), strict=True))
    except Exception as e:
        raise ClusterError(f"reading the cluster's nodes: {_one_line(e)}") from None
    found = [remote[n["NodeID"]] if n["NodeID"] in remote else _probe() for n in alive]
    out = []
    for n, info in zip(alive, found, strict=True):
        res = n.get("Resources") or {}
        ray_gpus = int(res.get("GPU", 0))
        # the GPUs Ray may hand out on that node (it counts what the raylet was started with)
        gpus = [GpuInfo(g["index"], g["name"], g["total_gib"], g["free_gib"]) for g in info["gpus"]][:ray_gpus]
        out.append(NodeInfo(
            node_id=n["NodeID"], hostname=info["hostname"], address=n.get("NodeManagerAddress", ""),
            cpus=float(res.get("CPU", 0)), gpus=tuple(gpus), vram_mib=res.get(VRAM_RESOURCE),
            head="node:__internal_head__" in res,
        ))
    out.sort(key=lambda node: (not node.head, node.hostname, node.node_id))
    return out


def shutdown(conn: Connection) -> None:
    if conn.started_here:
        import ray

        ray.shutdown()
