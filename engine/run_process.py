"""The parent's handle on one run process (``engine.worker``): start, send work, read replies.

A reader thread turns the pipe into a queue. When the process dies (segfault, abort, os._exit,
kill), the reader sees EOF and posts ``("exited", code, reason)`` so the session marks the run failed
with that reason — the other runs go on.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
from typing import Any

from engine.catalog import ModelSpec, RunSpec

_CTX = mp.get_context("spawn")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "run process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"run process killed by {name}"
    return f"run process exited with code {code}"


class RunProcess:
    def __init__(self, run: RunSpec, model: ModelSpec, *, env: dict[str, str] | None = None, stream_text: bool = True):
        self.run = run
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._parent, child = _CTX.Pipe(duplex=True)
        self.cancel = _CTX.Event()
        from engine.worker import worker_main

        self.proc = _CTX.Process(
            target=worker_main,
            args=(child, run.to_dict(), model, dict(env or {}), self.cancel, stream_text),
            name=f"quantarena-run:{run.name}",
            daemon=True,
        )
        self._child = child
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def start(self) -> None:
        self.proc.start()
        self._child.close()  # the child's end lives in the child now
        self._reader = threading.Thread(target=self._read, name=f"reader:{self.run.name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self._parent.recv()
            except (EOFError, OSError):
                break
            self.inbox.put(msg)
        self.proc.join(timeout=5)
        self.inbox.put(("exited", self.proc.exitcode, describe_exit(self.proc.exitcode)))

    def send(self, msg: tuple[Any, ...]) -> bool:
        try:
            self._parent.send(msg)
            return True
        except (BrokenPipeError, OSError):
            return False

    def get(self, timeout: float | None = None) -> tuple[Any, ...]:
        return self.inbox.get(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to free its backend and exit; kill it if it does not."""
        if self.proc.pid is None:
            return
        self.cancel.set()
        self.send(("stop",))
        self.proc.join(timeout=timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=3)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=3)
        try:
            self._parent.close()
        except OSError:
            pass

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
