"""The decode step of a PyTorch backend captured in CUDA graphs, replayed once per token.

Eager decode on a fast GPU is bound by Python and kernel launches, not by the GPU: a Llama-3-8B
step is ~300 kernel launches, and quanto's int4 TinyGemm step ran at 26.9 tok/s eager against
157.6 tok/s with the same kernels in one graph on an H200 (see README, "PyTorch engines at their
best"). A graph holds one step's kernels with their arguments baked in, so the step's inputs live
in static buffers: the token ids, their positions, the KV-cache slot (``cache_position``) and, for
a left-padded batch, the attention mask. The KV cache must be static (transformers' StaticCache:
its tensors keep their addresses between steps and answers).

One graph per (batch size, static-cache length) bucket, captured lazily at the first step that
needs it after a few warm-up steps on a side stream (what torch.cuda.graphs documents), sharing
one memory pool. The graph ends at the logits: picking the token (argmax, or a seeded sample at a
temperature) stays on the device outside the graph, so sampling and fixed-length decoding work
unchanged. Prefill stays eager (its shape changes with every prompt).

A capture that fails (a quantizer that syncs to the host inside its forward, an op that cannot be
captured) turns graphs off for the run; ``reason`` says why and decode goes on eagerly.

The cache's own length counters. transformers' static cache layers (5.x) do not write the slot
passed as ``cache_position``: each layer keeps ``cumulative_length``, a device tensor advanced in
place by every forward (and a Python twin, ``cumulative_length_int``, for sliding windows). The
warm-up steps before a capture are real forwards, so without care they advance it: the replays
then write every later K/V a few slots too far and the step's token is attended several times.
Single answers never showed it (their graph is captured in the load's warm-up), but a capture in
the middle of an answer — a batch's first step, a new cache-length bucket — changed the greedy
tokens. So the counters are saved before the warm-up and put back after the capture; the replay
that follows then writes the step's slot, as an eager step would.

torch is passed in: nothing here imports it at module import.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: eager steps run on a side stream before a capture (lazy inits, autotuning, allocator warm-up)
WARMUP_STEPS = 2


@dataclass
class _Graph:
    graph: Any
    tokens: Any  # [n, 1] long
    positions: Any  # [n, 1] long
    cache_position: Any  # [1] long
    mask: Any | None  # [n, L] long (batches), None for one sequence
    logits: Any  # [n, vocab] output buffer


class DecodeGraphs:
    """Captured decode steps of one model; ``step`` replays (capturing first when needed)."""

    def __init__(self, torch: Any, forward: Callable[..., Any]):
        self.torch = torch
        self.forward = forward
        self.graphs: dict[tuple[int, int, bool], _Graph] = {}
        self.pool = torch.cuda.graph_pool_handle()
        self.reason: str | None = None  # set when capture failed: graphs are off from then on
        self.captures = 0
        self.capture_s = 0.0
        self.replays = 0

    @property
    def active(self) -> bool:
        return self.reason is None

    def reset(self) -> None:
        """Forget every graph (the static cache they point into was replaced). Their memory pool
        goes with them: a capture into a pool whose graphs were all freed trips the caching
        allocator's ``use_count > 0`` assert (seen with torch 2.11 on an H200), so a fresh one."""
        self.graphs.clear()
        self.pool = self.torch.cuda.graph_pool_handle()

    def describe(self) -> str:
        if self.reason is not None:
            return f"fallback to eager ({self.reason})"
        return f"on (decode step in CUDA graphs: {self.captures} captured in {self.capture_s:.2f} s)"

    def _call(self, cache: Any, tokens: Any, positions: Any, cache_position: Any, mask: Any | None) -> Any:
        out = self.forward(input_ids=tokens, attention_mask=mask, position_ids=positions, cache_position=cache_position,
                           past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]

    def step(self, cache: Any, cache_len: int, tokens: Any, positions: Any, cache_position: Any, mask: Any | None) -> Any | None:
        """The logits of one decode step through a graph, or None when graphs are off (the caller
        then runs the step eagerly). The returned tensor is the graph's output buffer: valid
        until the next replay."""
        if self.reason is not None:
            return None
        key = (int(tokens.shape[0]), int(cache_len), mask is not None)
        g = self.graphs.get(key)
        if g is None:
            g = self._capture(key, cache, tokens, positions, cache_position, mask)
            if g is None:
                return None
        g.tokens.copy_(tokens)
        g.positions.copy_(positions)
        g.cache_position.copy_(cache_position)
        if mask is not None and g.mask is not None:
            g.mask.copy_(mask)
        g.graph.replay()
        self.replays += 1
        return g.logits

    def _capture(self, key: tuple[int, int, bool], cache: Any, tokens: Any, positions: Any, cache_position: Any, mask: Any | None) -> _Graph | None:
        torch = self.torch
        t0 = time.perf_counter()
        s_tokens, s_positions, s_cpos = tokens.clone(), positions.clone(), cache_position.clone()
        s_mask = mask.clone() if mask is not None else None
        counters = _cache_counters(cache)
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                # the warm-up steps write this step's own K/V into this step's own cache slot:
                # the replay that follows writes the same values there again
                for _ in range(WARMUP_STEPS):
                    self._call(cache, s_tokens, s_positions, s_cpos, s_mask)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                logits = self._call(cache, s_tokens, s_positions, s_cpos, s_mask)
        except Exception as e:  # capture unsupported: eager from now on, and say why
            self.reason = f"{type(e).__name__}: {_one_line(e)}"
            self.graphs.clear()
            try:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()  # the failed capture's pool blocks go back to the driver
            except Exception:
                pass
            _restore_counters(counters)
            return None
        _restore_counters(counters)
        self.captures += 1
        self.capture_s += time.perf_counter() - t0
        g = _Graph(graph, s_tokens, s_positions, s_cpos, s_mask, logits)
        self.graphs[key] = g
        return g


#: per-layer length counters of transformers' cache layers (tensor, and the Python int of sliding windows)
_COUNTERS = ("cumulative_length", "cumulative_length_int")


def _cache_counters(cache: Any) -> list[tuple[Any, str, Any]]:
    """(layer, attribute, saved value) for every length counter of the cache's layers."""
    saved: list[tuple[Any, str, Any]] = []
    for layer in getattr(cache, "layers", None) or ():
        for name in _COUNTERS:
            value: Any = getattr(layer, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                saved.append((layer, name, value))
            elif hasattr(value, "clone") and hasattr(value, "copy_"):
                saved.append((layer, name, value.clone()))
    return saved


def _restore_counters(saved: list[tuple[Any, str, Any]]) -> None:
    """Put the counters back in place (tensors by copy: a captured graph holds their address)."""
    for layer, name, value in saved:
        if isinstance(value, int):
            setattr(layer, name, value)
        else:
            getattr(layer, name).copy_(value)


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:300]
