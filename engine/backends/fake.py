"""A scripted FAKE backend for testing the layers above an engine (session, CLI, TUI).

It performs no inference: it replays a script of answers with configurable per-token delays, and
can be told to fail at load or mid-generation, or to crash its process. It is registered in the
real registry under the id ``fake`` so tests exercise the real process, timing and grading path.
Never use it for figures.

Settings (``[runs.settings]`` in a test models.toml):
  answers       list of answer texts, used in turn (default: one boxed "A")
  tokens_per_s  generation speed (default 500)
  ttft_s        delay before the first token (default 0.001)
  fail_load     message: raise at load
  unsupported   message: raise UnsupportedError at load
  fail_after    fail with BackendError after this many generations
  crash_after   kill the run process (os._exit) after this many generations
  load_s        sleep this long in load()
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from engine.backends.base import (
    Backend,
    BackendError,
    Capabilities,
    GenerationRequest,
    LoadInfo,
    Token,
    TokenStream,
    UnsupportedError,
)


class ScriptedFakeBackend(Backend):
    id = "fake"
    capabilities = Capabilities(gpu=False, multi_gpu=False, batching=False, synthetic=True)
    SETTINGS: ClassVar[dict[str, Any]] = {
        "answers": list,
        "tokens_per_s": (int, float),
        "ttft_s": (int, float),
        "fail_load": str,
        "unsupported": str,
        "fail_after": int,
        "crash_after": int,
        "load_s": (int, float),
    }

    def load(self) -> LoadInfo:
        s = self.run.settings
        if s.get("load_s"):
            time.sleep(float(s["load_s"]))
        if s.get("unsupported"):
            raise UnsupportedError(f"{self.run.name}: backend fake on {self.run.device}: {s['unsupported']}")
        if s.get("fail_load"):
            raise BackendError(f"{self.run.name}: {s['fail_load']}")
        self._n = 0
        return LoadInfo(device="cpu", details={"library": "fake (scripted, no inference)"})

    def generate(self, request: GenerationRequest) -> TokenStream:
        s = self.run.settings
        answers = s.get("answers") or ["A resposta é \\boxed{A}."]
        text = answers[self._n % len(answers)]
        self._n += 1
        if "crash_after" in s and self._n > s["crash_after"]:
            os._exit(17)
        if "fail_after" in s and self._n > s["fail_after"]:
            raise BackendError(f"{self.run.name}: scripted failure on generation {self._n}")
        prompt = " ".join(m["content"] for m in request.messages)
        stream = TokenStream(iter(()))
        stream.prompt_tokens = max(1, len(prompt.split()))
        stream._tokens = self._tokens(text, request, stream)
        return stream

    def _tokens(self, text: str, request: GenerationRequest, stream: TokenStream) -> Iterator[Token]:
        s = self.run.settings
        delay = 1.0 / float(s.get("tokens_per_s", 500))
        time.sleep(float(s.get("ttft_s", 0.001)))
        pieces = _split_tokens(text)
        n = min(len(pieces), request.max_new_tokens)
        for i in range(n):
            if i:
                time.sleep(delay)
            yield Token(pieces[i], i)
        stream.finish_reason = "stop" if n == len(pieces) else "length"

    def close(self) -> None:
        pass


def _split_tokens(text: str) -> list[str]:
    """Word-ish pieces that concatenate back to the text."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if ch == " " and cur:
            out.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out
