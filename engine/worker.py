"""A run's own process: load one backend, answer the problems it is sent, time every token.

The parent (``engine.run_process.RunProcess``) starts this with the ``spawn`` method, so a backend's
library (torch, llama.cpp, bitsandbytes) lives and dies in this process alone: a segfault, an abort
or an out-of-memory here marks this run failed and nothing else.

Timing is done here, once, for every backend: ``t_submit`` just before ``backend.generate`` is
called and one ``perf_counter()`` the moment each token is yielded. The parent computes the metrics
from these (``engine.metrics.generation_metrics``).

Protocol over one duplex pipe (tuples):
  parent → child: ("generate", request_dict) | ("generate_batch", [request_dict, ...]) | ("stop",)
  child → parent: ("loaded", device, load_s, details) | ("load_failed", status, reason)
                  ("text", problem_id, delta, n_tokens, elapsed_s)     coalesced, ~30 per second
                  ("done", problem_id, result_dict) | ("gen_failed", problem_id, status, reason)

Scoring (the quality axis, ``engine.scoring``): ("score", request_dict) is answered by
("scored", problem_id, scored_dict) — ``engine.quality.Scored`` as a dict, with ``score_s`` the
backend's time — or ("score_failed", problem_id, status, reason); a failed score leaves the run
alive ("unsupported" when the backend cannot score at all).

A batch (throughput mode) answers every request in one ``backend.generate_batch`` call: each
sequence's tokens are timestamped as they are yielded, and each sequence gets its own "text" and
"done" messages; its result carries ``batch`` = {size, t_submit, t_end, tokens_out} of the whole
batch. A backend that cannot batch raises UnsupportedError, answered as ("batch_unsupported", reason).
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from typing import Any

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
    from engine.backends.base import GenerationRequest
    from engine.backends.registry import load_backend_class
    from engine.catalog import RunSpec

    run = RunSpec.from_dict(run_dict)
    _mark(log, f"loading {run.name}")
    backend = None
    try:
        cls = load_backend_class(run.backend)
        backend = cls(run, model)
        t0 = time.perf_counter()
        info = backend.load()
        load_s = time.perf_counter() - t0
    except BaseException as e:  # noqa: BLE001 - everything becomes a one-line reason
        status = _status_of(e)
        reason = _one_line(e)
        from engine.backends.base import BackendError

        if not isinstance(e, BackendError):
            reason = f"{type(e).__name__}: {reason}"
        _send(conn, ("load_failed", status, reason, traceback.format_exc(limit=8)))
        return
    _send(conn, ("loaded", info.device, load_s, info.details))

    perf = time.perf_counter
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == "stop":
            break
        if msg[0] == "score":
            _score(conn, backend, msg[1])
            continue
        if msg[0] == "generate_batch":
            if not _answer_batch(conn, backend, msg[1], cancel, stream_text):
                break
            continue
        if msg[0] != "generate":
            continue
        req = msg[1]
        pid = req["problem_id"]
        _mark(log, f"answering {pid}")
        request = GenerationRequest(
            messages=req["messages"], max_new_tokens=req["max_new_tokens"], seed=req.get("seed", 0),
            temperature=req.get("temperature", 0.0), min_new_tokens=req.get("min_new_tokens", 0),
        )
        cancel.clear()
        times: list[float] = []
        pieces: list[str] = []
        pending: list[str] = []
        skipped = False
        try:
            backend.reset_memory_stats()
            t_submit = perf()
            stream = backend.generate(request)
            last_send = t_submit
            for tok in stream:
                t = perf()
                times.append(t)
                pieces.append(tok.text)
                if stream_text:
                    pending.append(tok.text)
                    if t - last_send >= TEXT_INTERVAL_S:
                        conn.send(("text", pid, "".join(pending), len(times), t - times[0]))
                        pending.clear()
                        last_send = t
                if cancel.is_set():
                    skipped = True
                    stream.close()
                    break
            if stream_text and pending:
                conn.send(("text", pid, "".join(pending), len(times), (times[-1] - times[0]) if times else 0.0))
            result = {
                "t_submit": t_submit,
                "t_end": perf(),
                "token_times": times,
                "prompt_tokens": stream.prompt_tokens,
                "finish_reason": "skipped" if skipped else stream.finish_reason,
                "response": "".join(pieces),
                "memory": backend.memory_stats(),
                "tokens_out": stream.tokens_out,  # counted tokens when the yields were chunks
                "fields": dict(stream.fields),
            }
            _send(conn, ("done", pid, result))
        except BaseException as e:  # noqa: BLE001
            _send(conn, ("gen_failed", pid, _status_of(e), _one_line(e)))
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


def _score(conn: Any, backend: Any, req: dict[str, Any]) -> None:
    """One ``backend.score`` call, timed; its failure is reported and the run goes on."""
    from engine.backends.base import ScoreRequest

    pid = req["problem_id"]
    try:
        request = ScoreRequest(messages=req["messages"], completion=req["completion"], top_k=req.get("top_k", 0),
                               at_k=req.get("at_k", 0), at_ids=req.get("at_ids"))
        t0 = time.perf_counter()
        scored = backend.score(request)
        scored.score_s = time.perf_counter() - t0
        _send(conn, ("scored", pid, scored.to_dict()))
    except BaseException as e:  # noqa: BLE001 - a scoring failure costs the quality figure, not the run
        if isinstance(e, KeyboardInterrupt):
            raise
        _send(conn, ("score_failed", pid, _status_of(e), _one_line(e)))


def _request(req: dict[str, Any]) -> Any:
    from engine.backends.base import GenerationRequest

    return GenerationRequest(
        messages=req["messages"], max_new_tokens=req["max_new_tokens"], seed=req.get("seed", 0),
        temperature=req.get("temperature", 0.0), min_new_tokens=req.get("min_new_tokens", 0),
    )


def _answer_batch(conn: Any, backend: Any, reqs: list[dict[str, Any]], cancel: Any, stream_text: bool) -> bool:
    """One batch of requests through ``backend.generate_batch``; False when the process must end."""
    from engine.backends.base import UnsupportedError

    perf = time.perf_counter
    n = len(reqs)
    pids = [r["problem_id"] for r in reqs]
    _mark(os.environ.get("QUANTARENA_RUN_LOG"), f"answering a batch of {n} from {pids[0] if pids else '?'}")
    times: list[list[float]] = [[] for _ in range(n)]
    pieces: list[list[str]] = [[] for _ in range(n)]
    pending: list[list[str]] = [[] for _ in range(n)]
    last_send = [0.0] * n
    cancel.clear()
    skipped = False
    try:
        backend.reset_memory_stats()
        t_submit = perf()
        stream = backend.generate_batch([_request(r) for r in reqs])
        last_send = [t_submit] * n
        for i, tok in stream:
            t = perf()
            times[i].append(t)
            pieces[i].append(tok.text)
            if stream_text:
                pending[i].append(tok.text)
                if t - last_send[i] >= TEXT_INTERVAL_S:
                    conn.send(("text", pids[i], "".join(pending[i]), len(times[i]), t - times[i][0]))
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
                    conn.send(("text", pids[i], "".join(pending[i]), len(times[i]), times[i][-1] - times[i][0]))
        memory = backend.memory_stats()
        counted = [len(times[i]) if stream.tokens_out[i] is None else stream.tokens_out[i] for i in range(n)]
        batch = {"size": n, "t_submit": t_submit, "t_end": max((ts[-1] for ts in times if ts), default=t_end),
                 "tokens_out": sum(counted)}
        for i in range(n):
            _send(conn, ("done", pids[i], {
                "t_submit": t_submit, "t_end": t_end, "token_times": times[i],
                "prompt_tokens": stream.prompt_tokens[i],
                "finish_reason": "skipped" if skipped else stream.finish_reasons[i],
                "response": "".join(pieces[i]), "memory": memory, "batch": batch,
                "tokens_out": stream.tokens_out[i], "fields": dict(stream.fields[i]),
            }))
        return True
    except UnsupportedError as e:
        _send(conn, ("batch_unsupported", _one_line(e)))
        return True
    except BaseException as e:  # noqa: BLE001
        _send(conn, ("gen_failed", pids[0] if pids else "", _status_of(e), _one_line(e)))
        return False


def _send(conn: Any, msg: tuple[Any, ...]) -> None:
    try:
        conn.send(msg)
    except (BrokenPipeError, OSError):
        pass
