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
  import_module  import this module at load (a library present but broken raises ImportError)
  segfault_at_load  kill the run process with SIGSEGV inside load() (a native crash at load)
  segfault_after  after this many generations, log a line as a native library would and kill the
                run process with SIGSEGV (a crash inside C code, as llama.cpp's AMX kernels do)
  load_s        sleep this long in load()
  load_steps    report this many load-progress steps during load() (fake shards of 1 GiB each)
  batching      false: the loaded run answers one request at a time (max_batch 1; default true:
                one step yields a token for every unfinished sequence, at tokens_per_s steps per second)
  max_batch     the loaded run answers at most this many requests at once (as a llama.cpp
                context made for that many sequences; the session sets it to --concurrency)
  memory_mib    reported as the torch allocator peak of each generation
  hang_after    after this many generations, the next one blocks for an hour before its first
                token, deaf to cancellation (a library stuck in C code)
  scoring       false: score() raises UnsupportedError (default true)
  score_vocab   size of the fake vocabulary score() works over (default 64)
  score_noise   standard deviation of seeded noise added to the fake logits (default 0: two
                runs with the same vocabulary score identically)
  score_fail    message: score() raises BackendError
  score_crash   true: score() kills the run process (os._exit)

Scoring (``score``) is as fake as generation: word pieces hashed into ``score_vocab`` ids, and
per position seeded random logits that favour the next piece; the numbers mean nothing, but two
runs differ exactly by their ``score_noise``, which is what the quality layer needs to be tested.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from engine.backends.base import (
    AnswerStream,
    Backend,
    BackendError,
    Capabilities,
    GenerationRequest,
    LoadInfo,
    ScoreRequest,
    Token,
    UnsupportedError,
)


class ScriptedFakeBackend(Backend):
    id = "fake"
    capabilities = Capabilities(gpu=False, multi_gpu=False, max_batch=None, synthetic=True, scoring=True)
    SETTINGS: ClassVar[dict[str, Any]] = {
        "answers": list,
        "tokens_per_s": (int, float),
        "ttft_s": (int, float),
        "fail_load": str,
        "unsupported": str,
        "fail_after": int,
        "crash_after": int,
        "load_s": (int, float),
        "load_steps": int,
        "batching": bool,
        "memory_mib": (int, float),
        "max_batch": int,
        "hang_after": int,
        "segfault_after": int,
        "import_module": str,
        "segfault_at_load": bool,
        "scoring": bool,
        "score_vocab": int,
        "score_noise": (int, float),
        "score_fail": str,
        "score_crash": bool,
    }

    def load(self) -> LoadInfo:
        s = self.run.settings
        if s.get("load_s"):
            time.sleep(float(s["load_s"]))
        steps = int(s.get("load_steps", 0))
        for k in range(1, steps + 1):
            self.report_load("reading shards", fraction=k / steps, bytes_read=k * 2**30, bytes_placed={"cpu": k * 2**30},
                             step=f"shard {k}/{steps}")
        if s.get("unsupported"):
            raise UnsupportedError(f"{self.run.name}: backend fake on {self.run.device}: {s['unsupported']}")
        if s.get("import_module"):
            import importlib

            importlib.import_module(s["import_module"])
        if s.get("segfault_at_load"):
            os.write(2, b"fake: llama_model_load: scripted native crash at load\n")
            os.kill(os.getpid(), signal.SIGSEGV)
        if s.get("fail_load"):
            raise BackendError(f"{self.run.name}: {s['fail_load']}")
        self._n = 0
        caps = None if s.get("batching", True) else replace(self.capabilities, max_batch=1)
        if s.get("batching", True) and "max_batch" in s:
            caps = replace(self.capabilities, max_batch=int(s["max_batch"]))
        return LoadInfo(device="cpu", details={"library": "fake (scripted, no inference)"}, capabilities=caps)

    def _script(self, request: GenerationRequest) -> tuple[list[str], str, int]:
        """The next scripted answer as token pieces, its finish reason and the prompt length."""
        s = self.run.settings
        answers = s.get("answers") or ["A resposta é \\boxed{A}."]
        text = answers[self._n % len(answers)]
        self._n += 1
        if "crash_after" in s and self._n > s["crash_after"]:
            os._exit(17)
        if "segfault_after" in s and self._n > s["segfault_after"]:
            os.write(2, b"fake: ggml_backend_amx_mul_mat: scripted native crash\n")
            os.kill(os.getpid(), signal.SIGSEGV)
        if "fail_after" in s and self._n > s["fail_after"]:
            raise BackendError(f"{self.run.name}: scripted failure on generation {self._n}")
        if "hang_after" in s and self._n > s["hang_after"]:
            time.sleep(3600)
        prompt = " ".join(m["content"] for m in request.messages)
        pieces = _split_tokens(text)
        n = min(len(pieces), request.max_new_tokens)
        return pieces[:n], ("stop" if n == len(pieces) else "length"), max(1, len(prompt.split()))

    def generate(self, requests: Sequence[GenerationRequest]) -> AnswerStream:
        limit = 1 if not self.run.settings.get("batching", True) else self.run.settings.get("max_batch")
        if limit is not None and len(requests) > limit:
            raise UnsupportedError(f"{self.run.name}: backend fake: a batch of {len(requests)}, scripted for at most {limit}")
        scripts = [self._script(r) for r in requests]
        return AnswerStream(len(requests), lambda out: self._steps(scripts, out), prompt_tokens=[n for _, _, n in scripts])

    def _steps(self, scripts: list[tuple[list[str], str, int]], out: AnswerStream) -> Iterator[tuple[int, Token]]:
        """One step yields a token for every unfinished sequence, at tokens_per_s steps per second."""
        s = self.run.settings
        delay = 1.0 / float(s.get("tokens_per_s", 500))
        time.sleep(float(s.get("ttft_s", 0.001)))
        longest = max((len(p) for p, _, _ in scripts), default=0)
        for step in range(longest):
            if step:
                time.sleep(delay)
            for i, (pieces, _, _) in enumerate(scripts):
                if step < len(pieces):
                    yield i, Token(pieces[step], step)
        for i, (_, finish, _) in enumerate(scripts):
            out.finish(i, finish)

    def score(self, request: ScoreRequest) -> Any:
        from engine.quality import Scored, prompt_digest

        s = self.run.settings
        if not s.get("scoring", True):
            raise UnsupportedError(f"{self.run.name}: backend fake: scripted without scoring")
        if s.get("score_fail"):
            raise BackendError(f"{self.run.name}: {s['score_fail']}")
        if s.get("score_crash"):
            os._exit(19)
        vocab = int(s.get("score_vocab", 64))
        noise = float(s.get("score_noise", 0.0))
        pieces = _split_tokens(request.completion)
        ids = [zlib.crc32(p.encode()) % vocab for p in pieces]
        out = Scored(tokens=ids, target_logprobs=array("f"), argmax=[], n_vocab=vocab,
                     text_bytes=len(request.completion.encode()), prompt_tokens=len(" ".join(m["content"] for m in request.messages).split()),
                     prompt_digest=prompt_digest([zlib.crc32(m["content"].encode()) & 0x7FFFFFFF for m in request.messages]),
                     top_k=min(request.top_k, vocab), at_k=request.at_k)
        for t, target in enumerate(ids):
            rng = random.Random(zlib.crc32(f"{t}|{ids[t - 1] if t else -1}".encode()))
            logits = [rng.gauss(0.0, 2.0) for _ in range(vocab)]
            logits[target] += 3.0
            if noise:
                nz = random.Random(zlib.crc32(f"noise|{t}".encode()))
                logits = [x + nz.gauss(0.0, noise) for x in logits]
            top = max(logits)
            lse = top + math.log(sum(math.exp(x - top) for x in logits))
            logp = [x - lse for x in logits]
            out.target_logprobs.append(logp[target])  # type: ignore[attr-defined]
            out.argmax.append(max(range(vocab), key=logp.__getitem__))
            if out.top_k:
                best = sorted(range(vocab), key=lambda i: -logp[i])[: out.top_k]
                out.top_ids.extend(best)  # type: ignore[attr-defined]
                out.top_logprobs.extend(logp[i] for i in best)  # type: ignore[attr-defined]
            if request.at_k and request.at_ids is not None and (t + 1) * request.at_k <= len(request.at_ids):
                want = request.at_ids[t * request.at_k : (t + 1) * request.at_k]
                out.at_logprobs.extend(logp[i] if 0 <= i < vocab else float("-inf") for i in want)  # type: ignore[attr-defined]
        return out

    def memory_stats(self) -> dict[str, float | None]:
        m = self.run.settings.get("memory_mib")
        return {"torch_peak_allocated_mib": float(m), "torch_peak_reserved_mib": float(m)} if m is not None else {}

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
