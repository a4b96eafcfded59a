"""TUI test helpers: fake-backend sessions through the real ``prepare``/``Session``, and waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.launch import LaunchRequest, Prepared, prepare
from tests.conftest import write_fake_catalog

#: a quick run that answers B (correct on builtin/0) and 42 (correct on builtin/1)
QUICK = """
[[runs]]
model = "tiny"
backend = "fake"
quant = "fake"
tag = "{tag}"
settings = {{ tokens_per_s = {tps}, answers = ["O preço é 8 vezes 7, logo 56. A resposta é \\\\boxed{{B}}.", "Fica com \\\\boxed{{42}} berlindes."]{extra} }}
"""


def run_toml(tag: str, tps: float = 400, extra: str = "") -> str:
    return QUICK.format(tag=tag, tps=tps, extra=(", " + extra) if extra else "")


@pytest.fixture
def make_prepared(tmp_path: Path) -> Callable[..., Prepared]:
    """``make_prepared(runs_toml, limit=2, **request)``: a real prepared session over the fake backend."""

    def make(runs: str, limit: int = 2, warmup: bool = False, **kw: Any) -> Prepared:
        cat = write_fake_catalog(tmp_path, runs)
        req = LaunchRequest(models=str(cat), runs="*", dataset="builtin", limit=limit, out=str(tmp_path / "out"), **kw)
        prepared = prepare(req)
        # the fake replays its answers in order: an untimed warm-up answer would take the first one
        prepared.options.warmup = warmup
        return prepared

    return make


async def wait_for(pilot: Any, cond: Callable[[], bool], timeout: float = 20.0, step: float = 0.05) -> None:
    """Let the app run until ``cond()`` holds (fails the test after ``timeout`` seconds)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {cond}")
        await pilot.pause(step)


def run(coro: Awaitable[Any]) -> Any:
    """Run one async test body (no pytest-asyncio needed)."""
    return asyncio.run(coro)  # type: ignore[arg-type]
