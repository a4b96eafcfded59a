"""Which process of this machine serves a base URL, so a served run's telemetry is the server's.

The session samples a served run's GPU memory, GPU utilization, RSS and CPU% on the server's
process tree (its workers included: vLLM's tensor-parallel workers are its children). The process
is ``server_pid`` when the run sets it, else the one listening on the URL's port when the host is
this machine. Anything else (a remote server, a port forwarded by docker-proxy, a process psutil
may not see) leaves the telemetry N/A, with the reason in the run's details.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from engine.backends.openai.client import Endpoint


@dataclass(frozen=True)
class ServerProcess:
    """The server's process (``pid`` None when not found) and how it was found, or why not."""

    pid: int | None
    note: str
    command: str = ""


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


def host_is_local(host: str) -> bool:
    """True when ``host`` resolves to a loopback address or one of this machine's interfaces."""
    addrs = _addresses(host)
    if not addrs:
        return False
    if any(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        return True
    try:
        import psutil

        mine = {a.address.split("%")[0] for nics in psutil.net_if_addrs().values() for a in nics}
    except Exception:
        return False
    return bool({a.split("%")[0] for a in addrs} & mine)


def _command(pid: int) -> tuple[str, str] | None:
    """(process name, command line) of a pid; None when there is no such process."""
    import psutil

    try:
        p = psutil.Process(pid)
        return p.name(), " ".join(p.cmdline())[:200]
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        return "?", ""


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (any address) on this machine, if visible."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.Error:
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


def find_server(ep: Endpoint, server_pid: int | None) -> ServerProcess:
    """The server process behind ``ep``. A ``server_pid`` that names no process raises ValueError."""
    if server_pid is not None:
        found = _command(server_pid)
        if found is None:
            raise ValueError(f"server_pid {server_pid}: no such process on this machine")
        return ServerProcess(server_pid, f"server_pid {server_pid} ({found[0]})", found[1])
    if not host_is_local(ep.host):
        return ServerProcess(None, f"N/A: the server ({ep.host}) is not on this machine")
    pid = listening_pid(ep.port)
    if pid is None:
        return ServerProcess(None, f"N/A: no process visible here listens on port {ep.port} "
                                   "(a container or another user's process: set server_pid)")
    found = _command(pid)
    name, command = found if found else ("?", "")
    if name == "docker-proxy":
        return ServerProcess(None, f"N/A: port {ep.port} is forwarded by docker-proxy (pid {pid}); "
                                   "set server_pid to the server's pid as this machine sees it")
    return ServerProcess(pid, f"pid {pid} ({name}) listening on port {ep.port}", command)
