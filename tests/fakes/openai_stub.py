"""A STUB OpenAI-compatible server on 127.0.0.1 for testing the ``openai`` backend's fault handling.

It performs no inference: it streams scripted chunks, and misbehaves on purpose in the way the
path names. A run's ``base_url`` is ``http://127.0.0.1:PORT/<mode>/v1``; modes:

  ok            one token per chunk, usage in the stream (counting the stop token, as vLLM does)
  nousage       the same without usage (llama-cpp-python's server sends none)
  multi         two tokens per chunk (usage says so)
  fixed         honours min_tokens/ignore_eos: streams max_tokens tokens; nofixed ignores them
  two           lists two models
  http401       GET /models answers 401; http500: chat answers 500 with an OpenAI error object
  cut           three chunks, then the connection closes (no finish_reason, no [DONE])
  cutchunked    the same inside chunked transfer encoding, closed mid-chunk
  early         [DONE] before any finish_reason (llama-cpp-python's interrupted answer)
  malformed     a data line that is not JSON; garbage: a line that is not SSE at all
  errorevent    two tokens, then an error object inside the stream
  slowfirst     pings for 3 s before the first token; slowbetween: two tokens, then pings for 3 s
  refusesopts   answers 400 to any request with stream_options

``<mode>-after<N>`` answers the first N real requests (max_tokens > 1; the backend's 1-token probe
does not count) as ``ok`` and misbehaves from then on. ``requests`` keeps every chat body received.
Never use it for figures.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = ["A", " resposta", " é", " \\", "boxed", "{", "B", "}."]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StubServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _mode(self) -> tuple[str, str]:
        m = re.match(r"^/([a-z0-9-]+)/v1(/.*)$", self.path)
        if not m:
            return "", self.path
        return m.group(1), m.group(2)

    def _json(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        mode, rest = self._mode()
        if rest != "/models":
            self._json(404, {"detail": "Not Found"})
        elif mode.startswith("http401"):
            self._json(401, {"error": {"message": "Invalid API key", "type": "auth"}})
        else:
            names = ["stub-a", "stub-b"] if mode == "two" else ["stub"]
            self._json(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    def do_POST(self) -> None:  # noqa: N802
        mode, rest = self._mode()
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        with self.server.lock:
            self.server.requests.append({"mode": mode, **body})
            real = body.get("max_tokens", 0) > 1
            key = mode
            count = self.server.counts.get(key, 0) + (1 if real else 0)
            self.server.counts[key] = count
        if rest != "/chat/completions":
            self._json(404, {"detail": "Not Found"})
            return
        m = re.match(r"^(.*)-after(\d+)$", mode)
        if m:
            mode = m.group(1) if real and count > int(m.group(2)) else "ok"
        if not real and mode not in ("http500", "refusesopts", "two", "malformed", "garbage"):
            mode = "nousage" if mode in ("nousage",) else "ok"  # the probe: a well-behaved 1-token answer
        if mode == "refusesopts" and "stream_options" in body:
            self._json(400, {"error": {"message": "Unknown field stream_options"}})
            return
        if mode == "http500":
            self._json(500, {"error": {"message": "CUDA out of memory", "type": "server_error"}})
            return
        self._stream(mode, body)

    # ---- streaming ------------------------------------------------------------------------

    def _event(self, obj: Any) -> None:
        self._write(("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode())

    def _write(self, data: bytes) -> None:
        if self._chunked:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, text: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
        return {"id": "stub", "object": "chat.completion.chunk", "model": "stub",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def _stream(self, mode: str, body: dict[str, Any]) -> None:
        self._chunked = mode == "cutchunked"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        if self._chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cap = int(body.get("max_tokens") or 16)
        delay = self.server.token_delay_s
        usage = "stream_options" in body and mode not in ("nousage",)
        self._event(self._chunk(None, role=True))
        if mode == "garbage":
            self._write(b"garbage here\n\n")
            return
        if mode == "malformed":
            self._write(b'data: {"choices": [{"index": 0, "delta": {"content": "A"\n\n')
            return
        if mode == "slowfirst":
            for _ in range(30):
                self._write(b": ping\n\n")
                time.sleep(0.1)
        if mode == "fixed" and body.get("min_tokens"):
            pieces = [" x"] * cap
        else:
            pieces = ANSWER[:cap]
        step = 2 if mode == "multi" else 1
        sent = 0
        for i in range(0, len(pieces), step):
            text = "".join(pieces[i : i + step])
            self._event(self._chunk(text))
            sent += 1
            if delay:
                time.sleep(delay)
            if mode in ("cut", "cutchunked") and sent == 3:
                if self._chunked:
                    self.wfile.write(b"40\r\ndata: {\"cho")  # a chunk announced, never finished
                    self.wfile.flush()
                self.connection.shutdown(2)
                return
            if mode == "errorevent" and sent == 2:
                self._event({"error": {"message": "engine died", "code": 500}})
                return
            if mode == "slowbetween" and sent == 2:
                for _ in range(30):
                    self._write(b": ping\n\n")
                    time.sleep(0.1)
                return
        if mode == "early":
            self._event("[DONE]")
            return
        n_tokens = len(pieces)
        finish = "length" if n_tokens >= cap else "stop"
        self._event(self._chunk("", finish=finish))
        if usage:
            completion = n_tokens + (1 if finish == "stop" else 0)
            self._event({"id": "stub", "object": "chat.completion.chunk", "choices": [],
                         "usage": {"prompt_tokens": 17, "completion_tokens": completion, "total_tokens": 17 + completion}})
        self._event("[DONE]")
        if self._chunked:
            self.wfile.write(b"0\r\n\r\n")


class StubServer(ThreadingHTTPServer):
    """``with StubServer() as s: s.url("cut")`` -> ``http://127.0.0.1:PORT/cut/v1``."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-stream (the backend's timeouts) is expected here

    def __init__(self, token_delay_s: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.token_delay_s = token_delay_s
        self._thread = threading.Thread(target=self.serve_forever, name="openai-stub", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
