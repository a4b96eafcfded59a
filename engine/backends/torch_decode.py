"""The decode loop of the PyTorch backends: one path for one answer and for a batch of them.

Our own loop, not ``model.generate`` with a streamer: one prefill forward over the prompts, then
one forward per token with the KV cache; each token is yielded the moment it is picked, so the
engine's timestamps are per token. Several requests are left-padded into one batch (static
batching: the batch steps until its longest answer ends; sequences that finished are still
computed but yield nothing); one request is a batch of one, with no padding and no mask.

Greedy by default; temperature sampling with a seeded ``torch.Generator``; stop at EOS (not
yielded: it ends the answer) or the token cap; end-of-sequence is masked out until
``min_new_tokens`` (synthetic runs always decode to the cap). Text comes from
:class:`~engine.backends.torch_text.IncrementalDetokenizer`.

KV cache: ``dynamic`` (the model grows one) or ``static`` (a ``StaticCache`` sized for prompt +
cap in steps, reused between answers); with a static cache a decode step has no host sync and,
with ``graphs = true``, replays a captured CUDA graph (``engine.backends.cuda_graphs``). It also
looks one step ahead (``lookahead``, on by default): the next step is queued on the GPU before
the host reads this step's token, so the host's per-token work (the stop check, detokenizing, the
engine's timestamps) overlaps the GPU's step instead of idling it. The tokens are the same; a
sequence that stops early costs one discarded step.

torch and transformers are imported inside the methods only.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

from engine.backends.base import AnswerStream, GenerationRequest, OutOfMemoryError, Token
from engine.backends.torch_text import IncrementalDetokenizer

#: static caches are sized in steps of this many tokens, so nearby lengths reuse one cache
STATIC_CACHE_STEP = 256
#: ... and in steps of this many with ``graphs = true`` (MATH-PT prompt + answer fits one: one capture)
GRAPHS_CACHE_STEP = 1024


class TorchDecoding:
    """The decode loop, its KV cache and its sampling; mixed into ``TorchBackend``, which sets
    these attributes in ``load()``."""

    run: Any
    hf_model: Any
    tokenizer: Any
    _torch: Any
    _stop_ids: frozenset[int]
    _stop_index: dict[str, Any]
    _input_device: Any
    _decode_forward: Any
    _static_cache: Any
    _static_len: int
    _static_batch: int
    _cache_kind: str
    _graphs: Any

    def _is_oom(self, e: BaseException) -> bool:
        raise NotImplementedError

    def _oom_message(self, what: str) -> str:
        raise NotImplementedError

    def _decode(self, prompts: list[list[int]], requests: list[GenerationRequest], out: AnswerStream) -> Iterator[tuple[int, Token]]:
        torch = self._torch
        model = self.hf_model
        n = len(prompts)
        caps = [r.max_new_tokens for r in requests]
        mins = [c if self.run.synthetic else min(r.min_new_tokens, c) for r, c in zip(requests, caps, strict=True)]
        if n == 0 or max(caps) <= 0:
            return
        temperature = float(requests[0].temperature)
        dev = self._input_device
        stop_ids = self._stop_ids
        detoks = [IncrementalDetokenizer(self.tokenizer) for _ in range(n)]
        longest = max(len(p) for p in prompts)
        padded = n > 1  # one sequence needs no padding and no attention mask
        generator = None
        try:
            with torch.no_grad():
                cache = self._new_cache(longest + max(caps), self._cache_kind, batch=n)
                static = cache is not None
                pad = self._pad_id()
                ids = torch.tensor([[pad] * (longest - len(p)) + p for p in prompts], dtype=torch.long, device=dev)
                mask: Any = None
                if padded:
                    prompt_mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long, device=dev)
                    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
                    if static:
                        # one fixed-shape mask for the whole answer (the causal mask hides future
                        # slots), so a compiled decode step sees the same shapes every step
                        mask = torch.ones((n, self._static_len), dtype=torch.long, device=dev)
                        mask[:, :longest] = prompt_mask
                    else:
                        mask = prompt_mask
                else:
                    positions = torch.arange(longest, device=dev).unsqueeze(0)
                fwd = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache = fwd.past_key_values
                logits = fwd.logits[:, -1, :]
                del fwd
                if temperature > 0:
                    generator = torch.Generator(device=logits.device)
                    generator.manual_seed(int(requests[0].seed))
                tokens = self._pick(logits, [0 < m for m in mins], temperature, generator)
                position = torch.tensor([[len(p)] for p in prompts], dtype=torch.long, device=dev)
                # the static cache's slot for the next token (left-padded: every row writes the same
                # slot at each step; None: a dynamic cache appends)
                slot = torch.full((1,), longest, dtype=torch.long, device=dev) if static else None
            n_out = [0] * n
            done = [False] * n
            # with a static cache a step has no host sync, so the next one is launched before the
            # host reads this one's token ids (their copy is queued first): the GPU decodes while
            # the host hands the token on. Without it the GPU idles for that host work every step.
            lookahead = static and self.run.settings.get("lookahead", True)
            while True:
                reader = _TokenReader(torch, tokens)
                ahead = None
                if lookahead and not all(done[i] or n_out[i] + 1 >= caps[i] for i in range(n)):
                    # the same bans the step after this token would get: rows still below min_new_tokens
                    ahead = self._step_and_pick(cache, tokens, position, slot, mask, [n_out[i] + 1 < mins[i] for i in range(n)],
                                                temperature, generator)
                ids_now = reader.ids()
                for i in range(n):
                    if done[i]:
                        continue
                    tid = int(ids_now[i])
                    if tid in stop_ids and n_out[i] >= mins[i]:
                        done[i] = True
                        out.finish(i, "stop")
                        continue
                    n_out[i] += 1
                    last = n_out[i] >= caps[i]
                    yield i, Token(detoks[i].push(tid, last), tid)
                    if last:
                        done[i] = True
                if all(done):
                    return
                if ahead is not None:
                    tokens = ahead
                    continue
                with torch.no_grad():
                    if padded and not static:
                        mask = torch.cat([mask, mask.new_ones((n, 1))], dim=1)
                tokens = self._step_and_pick(cache, tokens, position, slot, mask, [n_out[i] < mins[i] for i in range(n)], temperature, generator)
        except BaseException as e:
            if self._is_oom(e):
                what = f"generating ({longest} prompt tokens)" if n == 1 else f"generating a batch of {n} (longest prompt {longest} tokens)"
                raise OutOfMemoryError(self._oom_message(what)) from None
            raise

    def _step_and_pick(self, cache: Any, tokens: Any, position: Any, slot: Any, mask: Any, ban_stop: list[bool],
                       temperature: float, generator: Any) -> Any:
        """One decode step after ``tokens`` and the pick of the next ids (all on the device)."""
        n = int(tokens.shape[0])
        with self._torch.no_grad():
            logits = self._decode_step(cache, tokens.view(n, 1).to(self._input_device), position, slot, mask)
            position.add_(1)
            if slot is not None:
                slot.add_(1)
            return self._pick(logits, ban_stop, temperature, generator)

    def _new_cache(self, needed: int, cache_kind: str, batch: int = 1) -> Any:
        """None for a dynamic cache (the model makes one); a reset StaticCache big enough (for
        ``batch`` sequences: its tensors are sized by the first batch written) otherwise."""
        if cache_kind != "static":
            return None
        if self._static_cache is None or needed > self._static_len or batch != self._static_batch:
            from transformers import StaticCache

            # with CUDA graphs, larger steps: a new cache length is a new capture
            step = GRAPHS_CACHE_STEP if self._graphs is not None else STATIC_CACHE_STEP
            size = -(-needed // step) * step
            self._static_cache = None
            if self._graphs is not None:
                self._graphs.reset()  # they point into the old cache's tensors
            gc.collect()
            self._static_cache = StaticCache(config=self.hf_model.config, max_cache_len=size)
            self._static_len = size
            self._static_batch = batch
        else:
            self._static_cache.reset()
        return self._static_cache

    def _pad_id(self) -> int:
        for v in (getattr(self.tokenizer, "pad_token_id", None), getattr(self.tokenizer, "eos_token_id", None), *sorted(self._stop_ids)):
            if isinstance(v, int) and v >= 0:
                return v
        return 0

    def _decode_step(self, cache: Any, tokens: Any, positions: Any, slot: Any, mask: Any) -> Any:
        """One decode step for ``tokens`` [n, 1] at ``positions`` [n, 1]; the logits [n, vocab].

        With a static cache, ``slot`` [1] is the cache slot written (``cache_position``): the step
        then has no host sync, and with ``graphs = true`` it replays a captured CUDA graph."""
        if self._graphs is not None and slot is not None:
            logits = self._graphs.step(cache, self._static_len, tokens, positions, slot, mask)
            if logits is not None:
                return logits
        fwd = self._decode_forward(input_ids=tokens, attention_mask=mask, position_ids=positions, cache_position=slot,
                                   past_key_values=cache, use_cache=True, logits_to_keep=1)
        return fwd.logits[:, -1, :]

    def _stop_index_on(self, device: Any) -> Any:
        key = str(device)
        idx = self._stop_index.get(key)
        if idx is None:
            idx = self._stop_index[key] = self._torch.tensor(sorted(self._stop_ids), dtype=self._torch.long, device=device)
        return idx

    def _pick(self, logits: Any, ban_stop: bool | list[bool], temperature: float, generator: Any) -> Any:
        """The next token id of each row ([n] tensor): argmax, or a seeded sample at ``temperature``.

        ``ban_stop`` (for every row, or a list with one flag per row) keeps rows from picking a
        stop token (fixed-length decoding). The logits are this step's own output: masking in
        place is safe.
        """
        torch = self._torch
        rows = [ban_stop] * logits.shape[0] if isinstance(ban_stop, bool) else ban_stop
        if self._stop_ids and any(rows):
            idx = self._stop_index_on(logits.device)
            if all(rows):
                logits.index_fill_(-1, idx, float("-inf"))
            else:
                which = torch.tensor([i for i, b in enumerate(rows) if b], dtype=torch.long, device=logits.device)
                logits.index_copy_(0, which, logits.index_select(0, which).index_fill_(-1, idx, float("-inf")))
        if temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).view(-1)


class _TokenReader:
    """This step's token ids on their way to the host: on a GPU, copied into pinned memory behind
    an event queued now, so reading them later waits for this step only, not for the step
    launched after it; on the CPU, read when asked."""

    def __init__(self, torch: Any, tokens: Any):
        self._tokens = tokens
        self._event = None
        if tokens.device.type == "cuda":
            self._host = torch.empty(tokens.shape, dtype=tokens.dtype, pin_memory=True)
            self._host.copy_(tokens, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()

    def ids(self) -> list[int]:
        if self._event is None:
            return [int(t) for t in self._tokens.tolist()]
        self._event.synchronize()
        return [int(t) for t in self._host.tolist()]
