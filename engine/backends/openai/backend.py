"""The ``openai`` backend: a model served by any OpenAI-compatible server, measured like a local engine.

vLLM, SGLang, TGI, llama-server, llama-cpp-python's server and anything else that speaks
``POST /v1/chat/completions`` with ``stream: true``. The run sends the same chat messages as
every other run (the server applies its chat template); each server-sent chunk that carries text
is yielded as a :class:`~engine.backends.base.Token` the moment it is parsed, so the engine's own
clock (``engine.worker``) times it exactly as it times a local engine's tokens.

A chunk may hold more than one token (servers batch their stream, or hold text back for stop
strings), hence ``exact_token_times=False``. After the answer the backend counts its tokens — the
server's ``usage`` (asked for with ``stream_options.include_usage``), else the model's tokenizer
(``engine.backends.openai.tokens``), else the chunks — and says which (``token_count``). When the
count equals the chunks the times are per token; otherwise the engine computes the metrics per
chunk (no ITL percentiles; ``engine.metrics.generation_metrics``).

``--concurrency N`` sends N requests at once, one thread each; the server batches them as it
does for any clients, and the session reports aggregate tok/s as for a local batch.

Nothing is loaded here: ``load()`` checks the server (its model list, one 1-token answer), finds
its process when it runs on this machine (telemetry) and, when the server gives no usage, loads
the tokenizer.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.backends.base import (
    AnswerStream,
    Backend,
    BackendError,
    Capabilities,
    GenerationRequest,
    LoadInfo,
    Token,
    UnsupportedError,
)
from engine.backends.openai.client import ChatStream, Endpoint, ServerError, Timeouts, get_json

#: finish reasons servers send that mean the model ended its answer / hit the token cap
_STOP = {"stop", "eos", "end_turn", "stop_sequence", "eos_token", "tool_calls", "function_call"}
_LENGTH = {"length", "max_tokens", "max_length"}
#: the fields that ask a server for a fixed-length decode: vLLM/SGLang honour both,
#: llama-cpp-python min_tokens, llama-server ignore_eos; unknown fields are ignored by these servers
DEFAULT_FIXED_LENGTH_FIELDS = ["min_tokens", "ignore_eos"]
_PROBE = [{"role": "user", "content": "Olá"}]


@dataclass
class _Outcome:
    """What one answer leaves behind once its stream ended."""

    prompt_tokens: int | None = None
    finish_reason: str = "length"
    tokens_out: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class OpenAIBackend(Backend):
    id = "openai"
    capabilities = Capabilities(gpu=False, multi_gpu=False, max_batch=None, synthetic=False,
                                exact_token_times=False, served=True)
    SETTINGS: ClassVar[dict[str, Any]] = {
        "base_url": str,  # the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 (required)
        "served_model": str,  # the model name the server serves (default: the only one it lists)
        "api_key_env": str,  # environment variable holding the API key (sent as a Bearer token)
        "server_pid": int,  # the server's process on this machine (default: found by the URL's port)
        "connect_timeout_s": (int, float),  # TCP connection (default 5)
        "first_token_timeout_s": (int, float),  # request sent -> first token: queue + prefill (default 120)
        "token_timeout_s": (int, float),  # between two tokens (default 30)
        "tokenizer": str,  # counting tokens without usage: auto | gguf | none | FILE.gguf | folder | hub repo
        "usage": bool,  # ask for usage in the stream (stream_options.include_usage; default true)
        "fixed_length_fields": list,  # request fields for --fixed-length (default min_tokens, ignore_eos; [] = none)
        "extra_body": dict,  # merged into every request (top_k, repetition_penalty, chat_template_kwargs, ...)
        "max_batch": int,  # requests in flight at once (set by --concurrency)
    }
    REQUIRED_SETTINGS: ClassVar[tuple[str, ...]] = ("base_url",)

    def __init__(self, run: Any, model: Any, *, cache_dir: str | None = None):
        super().__init__(run, model, cache_dir=cache_dir)
        self.endpoint: Endpoint | None = None
        self.timeouts = Timeouts()
        self.served_model = ""
        self._headers: dict[str, str] = {}
        self._usage = True  # the server is asked for usage and does not refuse it
        self._tokenizer: Any = None
        self._token_note = ""
        self._fixed_fields: list[str] = list(DEFAULT_FIXED_LENGTH_FIELDS)
        self._extra: dict[str, Any] = {}

    def _fail(self, msg: str) -> BackendError:
        return BackendError(f"{self.run.name}: {msg}")

    # ---- loading -----------------------------------------------------------------------------

    def load(self) -> LoadInfo:
        s = self.run.settings
        if self.run.synthetic:
            raise UnsupportedError(f"{self.run.name}: a served model has no synthetic weights (the server holds the weights)")
        try:
            ep = self.endpoint = Endpoint.parse(str(s.get("base_url", "")))
        except ValueError as e:
            raise self._fail(str(e)) from None
        t = {k: float(s[k]) for k in ("connect_timeout_s", "first_token_timeout_s", "token_timeout_s") if k in s}
        for k, v in t.items():
            if v <= 0:
                raise self._fail(f"{k} must be positive, got {v:g}")
        self.timeouts = Timeouts(connect=t.get("connect_timeout_s", 5.0), first=t.get("first_token_timeout_s", 120.0),
                                 between=t.get("token_timeout_s", 30.0))
        if "api_key_env" in s:
            key = os.environ.get(s["api_key_env"])
            if not key:
                raise self._fail(f"api_key_env {s['api_key_env']}: that environment variable is not set")
            self._headers = {"Authorization": f"Bearer {key}"}
        fields = s.get("fixed_length_fields", DEFAULT_FIXED_LENGTH_FIELDS)
        if not all(isinstance(f, str) for f in fields):
            raise self._fail(f"fixed_length_fields must be a list of field names, got {fields!r}")
        self._fixed_fields = list(fields)
        self._extra = dict(s.get("extra_body", {}))

        try:
            listing = get_json(ep, "/models", self._headers, self.timeouts)
        except ServerError as e:
            raise self._fail(str(e)) from None
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise self._fail(f"GET {ep.url('/models')}: not a model list: {str(listing)[:120]}")
        models = [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id") is not None]
        if "served_model" in s:
            if s["served_model"] not in models:
                raise self._fail(f"server {ep.base_url} does not serve model {s['served_model']!r} "
                                 f"(it serves: {', '.join(models) or 'nothing'})")
            self.served_model = s["served_model"]
        elif len(models) == 1:
            self.served_model = models[0]
        else:
            raise self._fail(f"server {ep.base_url} serves {len(models)} models ({', '.join(models) or 'none'}): "
                             "set served_model to one of them")

        self._usage = bool(s.get("usage", True))
        t0 = time.perf_counter()
        probe, usage_note = self._probe()
        probe_s = time.perf_counter() - t0
        gives_usage = "server_completion_tokens" in probe.fields
        if not gives_usage:
            from engine.backends.openai.tokens import load_tokenizer

            try:
                self._tokenizer, self._token_note = load_tokenizer(str(s.get("tokenizer", "auto")), self.model, self.run.name)
            except ValueError as e:
                raise self._fail(str(e)) from None

        from engine.backends.openai.server import find_server

        try:
            server = find_server(ep, s.get("server_pid"))
        except ValueError as e:
            raise self._fail(str(e)) from None
        details: dict[str, Any] = {
            "library": "openai-compatible server (HTTP + server-sent events, Python stdlib client)",
            "base_url": ep.base_url,
            "served_model": self.served_model,
            "server_models": models,
            "token_count": "server usage" if gives_usage else (
                f"tokenizer: {self._tokenizer.name}" if self._tokenizer else f"stream chunks ({self._token_note})"),
            "usage": usage_note,
            "fixed_length_fields": self._fixed_fields or "none (this server has no fixed-length option)",
            "extra_body": self._extra or None,
            "timeouts_s": {"connect": self.timeouts.connect, "first_token": self.timeouts.first,
                           "between_tokens": self.timeouts.between},
            "probe_s": round(probe_s, 4),
            "telemetry": f"server process tree: {server.note}" if server.pid else server.note,
            "sizing": "N/A (served: the server holds the weights)",
            "weights": "served",
        }
        if server.pid:
            details["server_pid"] = server.pid
            details["server_command"] = server.command
        return LoadInfo(device="server", details=details)

    def _probe(self) -> tuple[_Outcome, str]:
        """A 1-token answer: the chat endpoint works for this model, and whether usage comes back.

        A server that refuses ``stream_options`` (HTTP 400/422) is asked again without it."""
        req = GenerationRequest(messages=_PROBE, max_new_tokens=1)
        if not self._usage:
            out = self._run_probe(req)
            return out, "not asked (usage = false)"
        try:
            out = self._run_probe(req)
        except BackendError as e:
            if " HTTP 400 " not in f" {e} " and " HTTP 422 " not in f" {e} ":
                raise
            self._usage = False
            try:
                out = self._run_probe(req)
            except BackendError:
                raise e from None
            return out, f"refused: the server rejects stream_options ({str(e)[:160]})"
        gives = "server_completion_tokens" in out.fields
        return out, "in the stream (stream_options.include_usage)" if gives else "asked for, not sent by this server"

    def _run_probe(self, req: GenerationRequest) -> _Outcome:
        out = _Outcome()
        for _ in self._answer(req, out, count=False):
            pass
        return out

    # ---- one answer --------------------------------------------------------------------------

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": request.messages,
            "stream": True,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        if self._usage:
            body["stream_options"] = {"include_usage": True}
        if request.min_new_tokens > 0:
            for f in self._fixed_fields:
                body[f] = True if f == "ignore_eos" else request.min_new_tokens
        body.update(self._extra)
        return body

    def _answer(self, request: GenerationRequest, out: _Outcome, *, count: bool = True,
                opened: list[ChatStream] | None = None) -> Iterator[Token]:
        """Stream one answer: a Token per chunk with text, then ``out`` filled (counts, finish)."""
        assert self.endpoint is not None
        chat = ChatStream(self.endpoint, self._body(request), self._headers, self.timeouts)
        if opened is not None:
            opened.append(chat)
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] | None = None
        thinking = False
        try:
            try:
                chat.open()
                for obj in chat:
                    if "error" in obj:
                        err = obj["error"]
                        msg = err.get("message", err) if isinstance(err, dict) else err
                        raise ServerError(f"server error in the stream after {chat.tokens} tokens: {str(msg)[:200]}", "server")
                    if isinstance(obj.get("usage"), dict):
                        usage = obj["usage"]
                    choices = obj.get("choices")
                    if not isinstance(choices, list):
                        if "usage" in obj:
                            continue
                        raise ServerError(f"malformed SSE data from {self.endpoint.base_url} (no choices): {str(obj)[:120]}", "malformed")
                    for ch in choices:
                        if not isinstance(ch, dict) or ch.get("index", 0) != 0:
                            continue
                        delta = ch.get("delta") or {}
                        if not isinstance(delta, dict):
                            raise ServerError(f"malformed SSE data from {self.endpoint.base_url} (delta): {str(ch)[:120]}", "malformed")
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                        text = delta.get("content")
                        piece = ""
                        if isinstance(reasoning, str) and reasoning:
                            piece += ("" if thinking else "<think>") + reasoning
                            thinking = True
                        if isinstance(text, str) and text:
                            piece += ("</think>" if thinking else "") + text
                            thinking = False
                        if piece:
                            chat.token_arrived()
                            pieces.append(piece)
                            yield Token(piece)
                        if ch.get("finish_reason"):
                            finish = str(ch["finish_reason"])
            except ServerError as e:
                raise self._fail(str(e)) from None
            if finish is None:
                how = "[DONE]" if chat.done else "the end of the response"
                raise self._fail(f"stream cut after {len(pieces)} chunks: {how} came before any finish_reason "
                                 f"(the server ended or interrupted the answer)")
        finally:
            chat.close()
        self._finish(request, out, pieces, finish, usage, count)

    def _finish(self, request: GenerationRequest, out: _Outcome, pieces: list[str], finish: str,
                usage: dict[str, Any] | None, count: bool) -> None:
        if finish in ("abort", "error", "cancelled"):
            raise self._fail(f"the server ended the answer with finish_reason {finish!r} after {len(pieces)} chunks")
        f: dict[str, Any] = {}
        out.finish_reason = "length" if finish in _LENGTH else "stop"
        if finish not in _LENGTH and finish not in ("stop",):
            f["server_finish_reason"] = finish
        n_chunks = len(pieces)
        comp = usage.get("completion_tokens") if usage else None
        prompt = usage.get("prompt_tokens") if usage else None
        if isinstance(comp, int) and not isinstance(comp, bool):
            f["server_completion_tokens"] = comp
            counted = comp
            f["token_count"] = "server usage"
            if out.finish_reason == "stop" and comp == n_chunks + 1:
                counted = n_chunks  # the end-of-sequence token: counted by vLLM/SGLang/llama-server, never by a local engine
                f["token_count"] = "server usage, less the stop token"
        elif count and self._tokenizer is not None:
            # every chunk with text holds at least one token, and a model's own tokens can be finer
            # than the tokenizer's re-encoding of the text ("\n", "\n" against "\n\n")
            f["tokenizer_tokens"] = self._tokenizer.count("".join(pieces))
            counted = max(f["tokenizer_tokens"], n_chunks)
            f["token_count"] = f"tokenizer: {self._tokenizer.name}"
        else:
            counted = n_chunks
            f["token_count"] = f"stream chunks ({self._token_note or 'not counted'})"
        if isinstance(prompt, int) and not isinstance(prompt, bool):
            out.prompt_tokens = prompt
        elif count and self._tokenizer is not None:
            out.prompt_tokens = self._tokenizer.prompt_tokens(request.messages)
            f["prompt_token_count"] = f"tokenizer on the model's chat template: {self._tokenizer.name}"
        else:
            out.prompt_tokens = None
        f["stream_chunks"] = n_chunks
        if request.min_new_tokens > 0 and out.finish_reason == "stop" and counted < request.min_new_tokens:
            sent = ", ".join(self._fixed_fields) or "no fixed-length field"
            f["fixed_length"] = f"not honoured by the server: stopped after {counted} of {request.min_new_tokens} tokens (sent {sent})"
        out.tokens_out = counted
        out.fields = f

    def generate(self, requests: Sequence[GenerationRequest]) -> AnswerStream:
        """Every request sent at once (one is a batch of one), each streamed by its own thread
        when there are several; chunks are yielded in the order they arrive (the server batches
        the requests as it batches any clients')."""
        if self.endpoint is None:
            raise BackendError(f"{self.run.name}: generate() before load()")
        return AnswerStream(len(requests), lambda out: self._stream(list(requests), out))

    def _stream(self, requests: list[GenerationRequest], stream: AnswerStream) -> Iterator[tuple[int, Token]]:
        n = len(requests)
        outcomes = [_Outcome() for _ in range(n)]

        def ended(i: int) -> None:
            o = outcomes[i]
            stream.set_prompt_tokens(i, o.prompt_tokens)
            stream.finish(i, o.finish_reason)
            stream.count(i, o.tokens_out)
            stream.note(i, o.fields)

        if n == 1:  # one answer streams in this thread: no hand-over between threads per chunk
            for tok in self._answer(requests[0], outcomes[0]):
                yield 0, tok
            ended(0)
            return
        inbox: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        stop = threading.Event()
        opened: list[ChatStream] = []
        end = object()

        def run(i: int) -> None:
            try:
                for tok in self._answer(requests[i], outcomes[i], opened=opened):
                    if stop.is_set():
                        return
                    inbox.put((i, tok))
                inbox.put((i, end))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                inbox.put((i, e))

        threads = [threading.Thread(target=run, args=(i,), name=f"openai-request-{i}", daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        try:
            left = n
            while left:
                i, item = inbox.get()
                if item is end:
                    left -= 1
                    ended(i)
                elif isinstance(item, BaseException):
                    if isinstance(item, BackendError):
                        raise BackendError(f"{item} (request {i + 1} of {n})")
                    raise item
                else:
                    yield i, item
        finally:
            stop.set()
            for chat in list(opened):
                chat.close()
            for t in threads:
                t.join(timeout=2)

    def close(self) -> None:
        if self._tokenizer is not None:
            self._tokenizer.close()
            self._tokenizer = None
