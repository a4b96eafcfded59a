"""The quality axis for real, on the embedded model (SmolLM2-135M) on the CPU, through the session.

llama.cpp Q4_1, transformers fp32 (the reference: the same Q4_1 weights dequantized), quanto int8
and int4 score the four default built-in solutions. Pinned: the reference has KLD 0 and top-1
100%; quanto int4 drifts further from it than int8, and int8 further than nothing; int8 agrees on
the arg-max at >= 90% of the positions; llama.cpp and the HF tokenizer cut the solutions into the
same tokens, so llama.cpp is compared token by token. A fresh session then reads the reference
from the cache and scores int8 alone: the same figures. About a minute on a 2-core CPU once the
derived checkpoint exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optimum.quanto")
pytest.importorskip("llama_cpp")

from engine.builtin import builtin_problems  # noqa: E402
from engine.catalog import load_catalog  # noqa: E402
from engine.session import Session, SessionOptions  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RUNS = ["smollm2-135m/llama.cpp/q4_1", "smollm2-135m/transformers/fp32", "smollm2-135m/quanto/int8", "smollm2-135m/quanto/int4"]


def _session(tmp_path: Path, names: list[str], out: str) -> dict:
    cat = load_catalog(ROOT / "models.toml")
    opts = SessionOptions(out_dir=tmp_path / out, max_new_tokens=1, warmup=False, quality_cache=tmp_path / "quality")
    return Session(cat, [cat.runs[n] for n in names], builtin_problems()[:4], opts).run()


def test_kld_orders_the_quantizations_and_the_cache_serves_a_later_session(tmp_path: Path) -> None:
    summary = _session(tmp_path, RUNS, "one")
    rows = {r["run"]: r for r in summary["runs"]}
    assert all(r["status"] == "ok" for r in rows.values()), {n: r.get("reason") for n, r in rows.items()}
    q = {n: r["quality"] for n, r in rows.items()}
    ref, int8, int4, gguf = (q[n] for n in ("smollm2-135m/transformers/fp32", "smollm2-135m/quanto/int8",
                                             "smollm2-135m/quanto/int4", "smollm2-135m/llama.cpp/q4_1"))
    assert ref["kld_mean"] == 0.0 and ref["top1_pct"] == 100.0 and ref["tokens"] > 100
    assert int4["kld_mean"] > int8["kld_mean"] > 0
    assert int8["top1_pct"] >= 90
    assert int4["ppl"] > int8["ppl"]
    # llama.cpp's GGUF vocabulary and the HF tokenizer agree: compared token by token
    assert gguf["tokens_compared"] == ref["tokens"] and gguf["kld_mean"] > 0 and gguf["reason"] is None
    # a later session: the reference is not loaded, its cached log-probs serve
    again = _session(tmp_path, ["smollm2-135m/quanto/int8"], "two")["runs"][0]["quality"]
    assert again["reference_source"].startswith("cache")
    assert again["kld_mean"] == pytest.approx(int8["kld_mean"], rel=1e-4) and again["top1_pct"] == int8["top1_pct"]
