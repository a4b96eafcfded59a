"""The parent's handle on one run process (``engine.worker``): start, send work, read replies.

A reader thread turns the pipe into a queue of typed messages (``engine.protocol``, decoded once
here). When the process dies (segfault, abort, os._exit, kill), the reader sees EOF and posts an
:class:`~engine.protocol.Exited` so the session marks the run failed with that reason — the other
runs go on.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading

from engine import protocol as P
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


DOCTOR_HINT = "`quantarena doctor` checks each backend on this machine"


def log_tail(path: str | None, n: int = 3, width: int = 400) -> str:
    """The last words of a run's log, in one line: a Python fatal error and its innermost frame
    (faulthandler's dump) when there is one, else the last ``n`` lines; "" when there is no log."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 16384))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [i for i, ln in enumerate(lines) if ln.startswith("Fatal Python error")]
    if fatal:
        i = fatal[-1]
        before = [ln for ln in lines[:i] if not ln.startswith("quantarena:")][-1:]
        phase = [ln for ln in lines[:i] if ln.startswith("quantarena:")][-1:]
        frame = next((ln for ln in lines[i + 1:] if ln.startswith("File ")), "")
        picked = phase + before + [lines[i]] + ([frame] if frame else [])
    else:
        picked = lines[-n:]
    return " | ".join(picked)[-width:]


def exit_reason(msg: P.Exited, phase: str, *, hint: bool = True) -> str:
    """The one-line reason for an :class:`~engine.protocol.Exited` in ``phase`` ("while
    loading", "during the warm-up answer"): a death by signal names the signal, the phase, the
    last lines the run logged and where to look next."""
    reason = f"{msg.reason} {phase}"
    if msg.code is not None and msg.code < 0:
        reason += f"; last log lines: {msg.log_tail}" if msg.log_tail else "; the run's log is empty"
        if hint:
            reason += f"; {DOCTOR_HINT}"
    return reason


class RunProcess:
    """One run in its own process: ``start()``, ``send(message)``, ``get(timeout)`` for the next
    reply (``queue.Empty`` after ``timeout``), ``stop()`` or ``kill()``; ``cancel`` (an event)
    asks the answer in flight to end early."""

    def __init__(self, run: RunSpec, model: ModelSpec, *, env: dict[str, str] | None = None, stream_text: bool = True):
        self.run = run
        self.inbox: queue.Queue[P.Message] = queue.Queue()
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
        self.log_path = (env or {}).get("QUANTARENA_RUN_LOG")
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
                data = self._parent.recv()
            except (EOFError, OSError):
                break
            try:
                self.inbox.put(P.decode(data))
            except ValueError:  # not from our worker: dropped, the run goes on
                continue
        self.proc.join(timeout=5)
        code = self.proc.exitcode
        self.inbox.put(P.Exited(code, describe_exit(code), log_tail(self.log_path) if code is not None and code < 0 else ""))

    def send(self, msg: P.Message) -> bool:
        """Send a message; False when the process is gone (its reader then posts ``Exited``)."""
        try:
            self._parent.send(P.encode(msg))
            return True
        except (BrokenPipeError, OSError):
            return False

    def get(self, timeout: float | None = None) -> P.Message:
        return self.inbox.get(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to free its backend and exit; kill it if it does not."""
        if self.proc.pid is None:
            return
        self.cancel.set()
        self.send(P.Stop())
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
