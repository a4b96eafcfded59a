"""engine.backends.cuda_graphs without a GPU: a scripted stand-in for torch's CUDA-graph API (a
fake, named as one) and a real CPU tensor as the cache layer's length counter."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from engine.backends.cuda_graphs import WARMUP_STEPS, DecodeGraphs  # noqa: E402


class FakeCudaGraph:
    """Records the forward called under capture; ``replay`` runs it again (as a graph would)."""

    recorded: Any = None

    def replay(self) -> None:
        self.recorded()


class FakeCuda:
    def __init__(self) -> None:
        self.capturing: FakeCudaGraph | None = None

    def graph_pool_handle(self) -> object:
        return object()

    def Stream(self) -> Any:  # noqa: N802 - torch's name
        return SimpleNamespace(wait_stream=lambda other: None)

    def current_stream(self) -> Any:
        return SimpleNamespace(wait_stream=lambda other: None)

    def stream(self, s: Any) -> Any:
        return contextlib.nullcontext()

    def CUDAGraph(self) -> FakeCudaGraph:  # noqa: N802
        return FakeCudaGraph()

    @contextlib.contextmanager
    def graph(self, g: FakeCudaGraph, pool: Any = None) -> Any:
        self.capturing = g
        yield
        self.capturing = None

    def synchronize(self) -> None:
        pass

    def empty_cache(self) -> None:
        pass


class FakeTorch:
    """torch for the CPU parts, a scripted ``cuda`` namespace (FakeCuda) for the graph API."""

    def __init__(self) -> None:
        self.cuda = FakeCuda()


def test_a_capture_leaves_the_cache_length_counters_as_they_were() -> None:
    # transformers' StaticLayer advances ``cumulative_length`` (a tensor, in place) at every forward
    # and writes K/V there; the warm-up steps before a capture are real forwards. Without the
    # restore, the first replay would write its K/V WARMUP_STEPS slots too far.
    layer = SimpleNamespace(cumulative_length=torch.tensor(7), cumulative_length_int=7)
    cache = SimpleNamespace(layers=[layer])
    fake = FakeTorch()
    written: list[int] = []

    def forward(**kw: Any) -> Any:
        def step() -> None:  # what the kernels do: write the slot the counter names, advance it
            written.append(int(layer.cumulative_length))
            layer.cumulative_length.add_(1)

        if fake.cuda.capturing is not None:  # under capture kernels are recorded, not run ...
            fake.cuda.capturing.recorded = step
            layer.cumulative_length_int += 1  # ... but Python runs
        else:
            step()
            layer.cumulative_length_int += 1
        return SimpleNamespace(logits=torch.zeros(1, 1, 4))

    graphs = DecodeGraphs(fake, forward)
    tok = torch.zeros(1, 1, dtype=torch.long)
    logits = graphs.step(cache, 1024, tok, tok.clone(), torch.tensor([7]), None)
    assert logits is not None and graphs.captures == 1 and graphs.reason is None
    # the warm-ups wrote slots 7, 8 (masked, overwritten by the next step); the first replay writes 7
    assert written == list(range(7, 7 + WARMUP_STEPS)) + [7]
    assert int(layer.cumulative_length) == 8 and layer.cumulative_length_int == 7
    graphs.step(cache, 1024, tok, tok.clone(), torch.tensor([8]), None)  # a replay, no new capture
    assert written[-1] == 8 and graphs.captures == 1 and graphs.replays == 2


def test_a_failed_capture_also_puts_the_counters_back() -> None:
    layer = SimpleNamespace(cumulative_length=torch.tensor(3))
    cache = SimpleNamespace(layers=[layer])
    fake = FakeTorch()

    def forward(**kw: Any) -> Any:
        if fake.cuda.capturing is not None:
            raise RuntimeError("operation not permitted when stream is capturing")
        layer.cumulative_length.add_(1)
        return SimpleNamespace(logits=torch.zeros(1, 1, 4))

    graphs = DecodeGraphs(fake, forward)
    tok = torch.zeros(1, 1, dtype=torch.long)
    assert graphs.step(cache, 1024, tok, tok.clone(), torch.tensor([3]), None) is None
    assert graphs.reason is not None and "capturing" in graphs.reason
    assert int(layer.cumulative_length) == 3  # the eager step that follows writes slot 3
