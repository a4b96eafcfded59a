"""The embedded model (SmolLM2-135M, llama.cpp Q4_1) through --executor ray on a local Ray (2 CPUs):
the same records as a local session, and the same greedy answers and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.launch import LaunchRequest, prepare
from tests.conftest import ROOT

ray = pytest.importorskip("ray")
RUN = "smollm2-135m/llama.cpp/q4_1"


def _session(out: Path, **kw):
    req = LaunchRequest(models=str(ROOT / "models.toml"), runs=RUN, dataset="builtin", limit=2, max_new_tokens=48,
                        out=str(out), quality=False, **kw)
    p = prepare(req)
    try:
        return p.session().run()
    finally:
        if p.options.executor is not None:
            p.options.executor.close()


@pytest.mark.slow
def test_embedded_model_through_ray_matches_a_local_session(tmp_path: Path, ray_cluster: str) -> None:
    local = _session(tmp_path / "local")
    remote = _session(tmp_path / "ray", executor="ray")
    a = [json.loads(x) for x in (tmp_path / "local" / "results.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()]
    assert len(a) == len(b) == 2
    assert [set(r) for r in a] == [set(r) for r in b]
    # greedy decoding: the same tokens, so the same answers and verdicts wherever the run lives
    assert [(r["problem_id"], r["response"], r["verdict"], r["tokens_out"]) for r in a] == \
        [(r["problem_id"], r["response"], r["verdict"], r["tokens_out"]) for r in b]
    assert all(r["decode_tok_s"] and r["rss_mib"] for r in b)
    assert remote["runs"][0]["status"] == local["runs"][0]["status"] == "ok"
    assert remote["environment"]["executor"]["runs"][RUN]["hostname"]
