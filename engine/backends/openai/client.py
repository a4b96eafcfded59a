"""Talking to an OpenAI-compatible server over HTTP, with the standard library only.

:class:`Endpoint` is a parsed ``base_url``; :func:`get_json` asks for a JSON document (``/models``);
:class:`ChatStream` sends one ``/chat/completions`` request with ``stream: true`` and iterates the
JSON objects of its server-sent events (``data:`` lines) the moment each event is complete,
ending at ``data: [DONE]``.

Three timeouts, all in seconds: ``connect`` (the TCP connection), ``first`` (from sending the
request to the first token: the server's queue and prefill) and ``between`` (from one token to
the next). They are deadlines, not idle timers: SSE comments (the pings some servers send every
few seconds) do not extend them, only a token does (:meth:`ChatStream.token_arrived`).

Every failure is a :class:`ServerError` with a one-line message and a ``kind``: ``unreachable``,
``http``, ``timeout``, ``cut`` (the stream ended or broke before the answer finished),
``malformed`` (a line that is not SSE, or data that is not JSON) or ``server`` (an error object
inside the stream).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: SSE field names (https://html.spec.whatwg.org/multipage/server-sent-events.html)
_SSE_FIELDS = ("data", "event", "id", "retry")
_MAX_LINE = 1 << 20


class ServerError(Exception):
    """One line naming what went wrong with the server; ``kind`` says which kind of fault."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first: float = 120.0
    between: float = 30.0


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL (``http://127.0.0.1:8000/v1``) split into what a connection needs."""

    base_url: str
    scheme: str
    host: str
    port: int
    prefix: str  # path before /models, /chat/completions ("/v1")

    @classmethod
    def parse(cls, base_url: str) -> Endpoint:
        """Raises ValueError naming the problem for anything but an http(s) URL with a host."""
        u = urlsplit(base_url.strip())
        if u.scheme not in ("http", "https"):
            raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
        if not u.hostname:
            raise ValueError(f"base_url {base_url!r} has no host")
        try:
            port = u.port or (443 if u.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"base_url {base_url!r} has an invalid port") from None
        return cls(base_url.strip().rstrip("/"), u.scheme, u.hostname, port, u.path.rstrip("/"))

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def _connect(ep: Endpoint, timeouts: Timeouts) -> tuple[http.client.HTTPConnection, socket.socket]:
    conn = ep.connection(timeouts.connect)
    try:
        conn.connect()
    except ConnectionRefusedError:
        raise ServerError(f"server {ep.base_url} is not reachable: connection refused (is it running?)", "unreachable") from None
    except socket.gaierror as e:
        raise ServerError(f"server {ep.base_url} is not reachable: cannot resolve {ep.host} ({e.strerror or e})", "unreachable") from None
    except TimeoutError:
        raise ServerError(f"server {ep.base_url} is not reachable: no connection within connect_timeout_s={timeouts.connect:g}", "unreachable") from None
    except OSError as e:
        raise ServerError(f"server {ep.base_url} is not reachable: {e.strerror or e}", "unreachable") from None
    assert conn.sock is not None
    return conn, conn.sock


def _error_text(body: bytes) -> str:
    """The message of an error response: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300] or "(empty body)"
    msg: Any = obj
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg") or obj.get("detail") or err
        elif isinstance(err, str):
            msg = err
        if "detail" in obj and not isinstance(obj.get("error"), dict):
            msg = obj["detail"]
    if not isinstance(msg, str):
        msg = json.dumps(msg, ensure_ascii=False)
    return " ".join(msg.split())[:300]


def _http_error(method: str, url: str, resp: http.client.HTTPResponse) -> ServerError:
    try:
        body = resp.read(4096)
    except (OSError, http.client.HTTPException):
        body = b""
    return ServerError(f"HTTP {resp.status} {resp.reason} from {method} {url}: {_error_text(body)}", "http")


def get_json(ep: Endpoint, path: str, headers: dict[str, str], timeouts: Timeouts) -> Any:
    """GET ``base_url + path`` and parse its JSON body (the answer must come within ``timeouts.first``)."""
    url = ep.url(path)
    conn, sock = _connect(ep, timeouts)
    try:
        sock.settimeout(timeouts.first)
        try:
            conn.request("GET", ep.prefix + path, headers={"Accept": "application/json", **headers})
            resp = conn.getresponse()
            if resp.status >= 400:
                raise _http_error("GET", url, resp)
            body = resp.read()
        except TimeoutError:
            raise ServerError(f"GET {url}: no answer within first_token_timeout_s={timeouts.first:g}", "timeout") from None
        except (OSError, http.client.HTTPException) as e:
            raise ServerError(f"GET {url}: connection broke ({type(e).__name__}: {e})", "cut") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ServerError(f"GET {url}: the answer is not JSON: {body[:80]!r}", "malformed") from None
    finally:
        conn.close()


class ChatStream:
    """One streaming chat completion. :meth:`open` sends it; iterating yields each event's JSON
    object as soon as its blank line arrives; ``done`` is True once ``[DONE]`` was read."""

    def __init__(self, ep: Endpoint, body: dict[str, Any], headers: dict[str, str], timeouts: Timeouts):
        self.ep = ep
        self.body = body
        self.headers = headers
        self.timeouts = timeouts
        self.done = False
        self.tokens = 0  # tokens seen so far (token_arrived calls), for messages
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._deadline = 0.0
        self._closed = False

    @property
    def url(self) -> str:
        return self.ep.url("/chat/completions")

    def open(self) -> None:
        self._conn, self._sock = _connect(self.ep, self.timeouts)
        self._deadline = time.monotonic() + self.timeouts.first
        data = json.dumps(self.body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **self.headers}
        try:
            self._sock.settimeout(self.timeouts.first)
            self._conn.request("POST", self.ep.prefix + "/chat/completions", body=data, headers=headers)
            resp = self._conn.getresponse()
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, http.client.HTTPException) as e:
            raise ServerError(f"POST {self.url}: connection broke before an answer ({type(e).__name__}: {e})", "cut") from None
        if resp.status >= 400:
            raise _http_error("POST", self.url, resp)
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "text/event-stream":
            raise ServerError(f"POST {self.url}: the answer is {ctype or 'untyped'}, not an event stream (text/event-stream)", "malformed")
        self._resp = resp

    def token_arrived(self) -> None:
        """A token came: the next one is due within the between-token timeout."""
        self.tokens += 1
        self._deadline = time.monotonic() + self.timeouts.between

    def _timeout(self) -> ServerError:
        if self.tokens == 0:
            return ServerError(f"no token from {self.ep.base_url} within first_token_timeout_s={self.timeouts.first:g}", "timeout")
        return ServerError(f"no token from {self.ep.base_url} for token_timeout_s={self.timeouts.between:g} after {self.tokens} tokens", "timeout")

    def _readline(self) -> bytes:
        assert self._resp is not None and self._sock is not None
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise self._timeout()
        try:
            self._sock.settimeout(left)
            return self._resp.readline(_MAX_LINE)
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            if self._closed:
                return b""
            raise ServerError(f"stream cut after {self.tokens} tokens: {type(e).__name__}: {e}".rstrip(": "), "cut") from None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._resp is None:
            self.open()
        data: list[str] = []
        while True:
            raw = self._readline()
            if not raw:  # end of the body
                if data:
                    yield from self._dispatch(data)
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "":
                if data:
                    yield from self._dispatch(data)
                    data = []
                    if self.done:
                        return
                continue
            if line.startswith(":"):  # a comment: keep-alive ping
                continue
            name, sep, value = line.partition(":")
            if name not in _SSE_FIELDS:
                raise ServerError(f"malformed SSE line from {self.ep.base_url}: {line[:120]!r}", "malformed")
            if name == "data":
                data.append(value[1:] if value.startswith(" ") else value)

    def _dispatch(self, data: list[str]) -> Iterator[dict[str, Any]]:
        payload = "\n".join(data)
        if payload.strip() == "[DONE]":
            self.done = True
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            raise ServerError(f"malformed SSE data from {self.ep.base_url} (not JSON): {payload[:120]!r}", "malformed") from None
        if not isinstance(obj, dict):
            raise ServerError(f"malformed SSE data from {self.ep.base_url} (not a JSON object): {payload[:120]!r}", "malformed")
        yield obj

    def close(self) -> None:
        """Close the connection (from any thread: a read blocked in another thread returns)."""
        self._closed = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._conn is not None:
            self._conn.close()
        if self._resp is not None:
            try:
                self._resp.close()
            except Exception:
                pass
