"""A run's own process: load one backend, answer the problems it is sent, time every token.

The parent (``engine.run_process.RunProcess``) starts this with the ``spawn`` method, so a backend's
library (torch, llama.cpp, bitsandbytes) lives and dies in this process alone: a segfault, an abort
or an out-of-memory here marks this run failed and nothing else.

Timing is done here, once, for every backend: ``t_submit`` just before ``backend.generate`` is
called and one ``perf_counter()`` the moment each token is yielded. The parent computes the metrics
from these (``engine.metrics.generation_metrics``).

The messages (``engine.protocol``) go over one duplex pipe as plain data (``encode``/``decode``).
Every answer goes one way: an :class:`~engine.protocol.Answer` of n requests (one is a batch of
one) is one ``backend.generate`` call; each sequence's tokens are timestamped as they are yielded,
and each sequence gets its own ``TextDelta`` and ``Done`` messages. An answer that was one of
carries ``batch``: the size, submit time, last token and tokens of the whole call (the session
uses it in throughput mode).

Scoring (the quality axis, ``engine.scoring``): a ``Score`` is answered by ``ScoreDone`` (the
``engine.quality.Scored`` as a dict, with ``score_s`` the backend's time) or ``ScoreFailed``; a
failed score leaves the run alive ("unsupported" when the backend cannot score at all).
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from typing import Any

from engine import protocol as P

TEXT_INTERVAL_S = 0.03


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:500]


def _status_of(e: BaseException) -> str:
    from engine.backends.base import BackendError

    if isinstance(e, BackendError):
        return e.status
    if isinstance(e, MemoryError) or "OutOfMemoryError" in type(e).__name__:
        return "oom"
    return "failed"


def worker_main(conn: Any, run_dict: dict[str, Any], model: Any, env: dict[str, str], cancel: Any, stream_text: bool) -> None:
    """Entry point of the run process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.update(env)  # CUDA_VISIBLE_DEVICES etc. before any backend library is imported
    log = env.get("QUANTARENA_RUN_LOG")
    if log:  # the run's own output (library warnings, C-level logs) must not draw over a UI
        try:
            os.makedirs(os.path.dirname(log), exist_ok=True)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            log = None
    import faulthandler

    faulthandler.enable()  # a native crash leaves the Python stack in the run's log (fd 2)
    from engine.backends.base import BackendError
    from engine.backends.registry import load_backend_class
    from engine.catalog import RunSpec

    run = RunSpec.from_dict(run_dict)
    _mark(log, f"loading {run.name}")
    backend = None
    try:
        cls = load_backend_class(run.backend)
        backend = cls(run, model)
        backend.on_load_progress = lambda **kw: _send(conn, P.LoadProgress(**kw))
        t0 = time.perf_counter()
        info = backend.load()
        load_s = time.perf_counter() - t0
    except BaseException as e:  # noqa: BLE001 - everything becomes a one-line reason
        reason = _one_line(e)
        if not isinstance(e, BackendError):
            reason = f"{type(e).__name__}: {reason}"
        _send(conn, P.LoadFailed(_status_of(e), reason, traceback.format_exc(limit=8)))
        return
    _send(conn, P.Loaded(info.device, load_s, info.details, info.capabilities or backend.capabilities))

    while True:
        try:
            msg = P.decode(conn.recv())
        except (EOFError, OSError):
            break
        if isinstance(msg, P.Stop):
            break
        if isinstance(msg, P.Score):
            _score(conn, backend, msg)
        elif isinstance(msg, P.Answer):
            n, first = len(msg.problem_ids), msg.problem_ids[0] if msg.problem_ids else "?"
            _mark(log, f"answering {first}" if n == 1 else f"answering a batch of {n} from {first}")
            if not _answer(conn, backend, msg, cancel, stream_text):
                break
    try:
        backend.close()
    except Exception:
        pass


def _mark(log: str | None, what: str) -> None:
    """A phase line in the run's log, so the lines before a crash say what the run was doing."""
    if log:
        try:
            os.write(2, f"quantarena: {what}\n".encode())
        except OSError:
            pass


def _score(conn: Any, backend: Any, msg: P.Score) -> None:
    """One ``backend.score`` call, timed; its failure is reported and the run goes on."""
    try:
        t0 = time.perf_counter()
        scored = backend.score(msg.request)
        scored.score_s = time.perf_counter() - t0
        _send(conn, P.ScoreDone(msg.problem_id, scored.to_dict()))
    except BaseException as e:  # noqa: BLE001 - a scoring failure costs the quality figure, not the run
        if isinstance(e, KeyboardInterrupt):
            raise
        _send(conn, P.ScoreFailed(msg.problem_id, _status_of(e), _one_line(e)))


def _answer(conn: Any, backend: Any, msg: P.Answer, cancel: Any, stream_text: bool) -> bool:
    """One ``backend.generate`` call for every request of ``msg``, each token timestamped the
    moment it is yielded; a ``Done`` per answer. False when the process must end (it failed)."""
    perf = time.perf_counter
    pids = msg.problem_ids
    n = len(pids)
    times: list[list[float]] = [[] for _ in range(n)]
    pieces: list[list[str]] = [[] for _ in range(n)]
    pending: list[list[str]] = [[] for _ in range(n)]
    cancel.clear()
    skipped = False
    try:
        backend.reset_memory_stats()
        t_submit = perf()
        stream = backend.generate(msg.requests)
        last_send = [t_submit] * n
        for i, tok in stream:
            t = perf()
            times[i].append(t)
            pieces[i].append(tok.text)
            if stream_text:
                pending[i].append(tok.text)
                if t - last_send[i] >= TEXT_INTERVAL_S:
                    conn.send(P.encode(P.TextDelta(pids[i], "".join(pending[i]), len(times[i]), t - times[i][0])))
                    pending[i].clear()
                    last_send[i] = t
            if cancel.is_set():
                skipped = True
                stream.close()
                break
        t_end = perf()
        if stream_text:
            for i in range(n):
                if pending[i]:
                    conn.send(P.encode(P.TextDelta(pids[i], "".join(pending[i]), len(times[i]), times[i][-1] - times[i][0])))
        memory = backend.memory_stats()
        counted = [len(times[i]) if stream.tokens_out[i] is None else stream.tokens_out[i] for i in range(n)]
        batch = P.BatchFacts(size=n, t_submit=t_submit, t_end=max((ts[-1] for ts in times if ts), default=t_end),
                             tokens_out=sum(counted))
        for i in range(n):
            _send(conn, P.Done(pids[i], P.Answered(
                t_submit=t_submit, t_end=t_end, token_times=times[i], prompt_tokens=stream.prompt_tokens[i],
                finish_reason="skipped" if skipped else stream.finish_reasons[i], response="".join(pieces[i]),
                memory=memory, tokens_out=stream.tokens_out[i], fields=dict(stream.fields[i]), batch=batch,
            )))
        return True
    except BaseException as e:  # noqa: BLE001
        _send(conn, P.GenFailed(pids[0] if pids else "", _status_of(e), _one_line(e)))
        return False


def _send(conn: Any, msg: P.Message) -> None:
    try:
        conn.send(P.encode(msg))
    except (BrokenPipeError, OSError):
        pass
