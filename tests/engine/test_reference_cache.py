"""The reference's log-probs on disk: round trip, keys, unreadable files."""

from __future__ import annotations

import os
from array import array
from dataclasses import replace
from pathlib import Path

from engine.catalog import ModelSpec, WeightSource, load_catalog
from engine.quality import Scored
from engine.reference_cache import ReferenceCache, reference_key, text_key
from tests.conftest import ROOT


def _scored() -> Scored:
    return Scored(tokens=[5, 7], target_logprobs=array("f", [-0.5, -1.25]), argmax=[5, 2], n_vocab=10, text_bytes=6,
                  prompt_tokens=12, prompt_digest="abc", top_k=3, top_ids=array("i", [5, 1, 2, 2, 7, 0]),
                  top_logprobs=array("f", [-0.5, -1.5, -2.0, -0.25, -1.25, -3.0]))


def test_round_trip(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    key = text_key([{"role": "user", "content": "q"}], "solução", 3)
    path = cache.put("m/odd name", "ref1", key, _scored(), {"run": "m/transformers/fp32", "lineage": "real"})
    assert path.exists() and path.parent.parent.name == "m_odd_name"
    got = cache.get("m/odd name", "ref1", key)
    assert got is not None
    s, meta = got
    assert s.tokens == [5, 7] and list(s.top_ids) == [5, 1, 2, 2, 7, 0] and list(s.target_logprobs) == [-0.5, -1.25]
    assert s.top_k == 3 and s.n_vocab == 10 and s.prompt_digest == "abc"
    assert meta["run"] == "m/transformers/fp32" and "written" in meta
    assert cache.get("m/odd name", "ref2", key) is None


def test_an_unreadable_or_truncated_file_counts_as_missing(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    path = cache.put("m", "r", "t", _scored(), {})
    path.write_text("{not json")
    assert cache.get("m", "r", "t") is None
    bad = _scored()
    bad.top_logprobs = array("f", [-1.0])  # fewer values than positions x k
    cache.put("m", "r", "t", bad, {})
    assert cache.get("m", "r", "t") is None


def test_keys_follow_the_text_and_the_weights(tmp_path: Path) -> None:
    msgs = [{"role": "user", "content": "q"}]
    assert text_key(msgs, "a", 1024) != text_key(msgs, "b", 1024) != text_key(msgs, "a", 512)
    cat = load_catalog(ROOT / "models.toml")
    model, ref = cat.models["smollm2-135m"], cat.runs["smollm2-135m/transformers/fp32"]
    k = reference_key(model, ref)
    assert k == reference_key(model, ref)
    assert k != reference_key(model, replace(ref, weights="synthetic"))
    assert k != reference_key(model, cat.runs["smollm2-135m/transformers/bf16"])
    # a local GGUF replaced in place (new size or mtime) gives a new key
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x" * 10)
    local = ModelSpec(name="m", display_name="m", arch=model.arch, gguf={"q4_1": WeightSource(path=str(gguf))},
                      safetensors=WeightSource(derive="gguf"))
    before = reference_key(local, ref)
    gguf.write_bytes(b"y" * 11)
    os.utime(gguf, ns=(1, 1))
    assert reference_key(local, ref) != before
