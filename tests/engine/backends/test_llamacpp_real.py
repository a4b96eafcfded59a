"""The real llama.cpp backend on the embedded model (SmolLM2-135M-Instruct Q4_1), on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from engine.backends.base import GenerationRequest, WeightsNotFoundError  # noqa: E402
from engine.backends.llamacpp import LlamaCppBackend  # noqa: E402
from engine.catalog import load_catalog  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.native]


@pytest.fixture(scope="module")
def backend():
    cat = load_catalog(ROOT / "models.toml")
    run = cat.runs["smollm2-135m/llama.cpp/q4_1"]
    b = LlamaCppBackend(run, cat.models[run.model])
    info = b.load()
    yield b, info
    b.close()


def test_load_reports_the_build_and_settings(backend) -> None:
    b, info = backend
    assert info.device == "cpu"
    d = info.details
    assert d["gpu_offload_supported"] in (True, False)
    assert d["n_gpu_layers"] == 0 and d["n_layers"] == 30 and d["n_ctx"] == 2048
    assert d["library"].startswith("llama-cpp-python") and d["chat_template"] == "gguf"


def test_chat_template_is_the_models_own(backend) -> None:
    b, _ = backend
    text = b.render_chat([{"role": "user", "content": "Olá"}])
    assert text.startswith("<|im_start|>user\nOlá<|im_end|>") and text.endswith("<|im_start|>assistant\n")


def test_generation_streams_one_token_per_step(backend) -> None:
    b, _ = backend
    req = GenerationRequest(messages=[{"role": "user", "content": "Quanto é 2 + 3? Responda com \\boxed{}."}], max_new_tokens=12, min_new_tokens=12)
    stream = b.generate([req])
    toks = [t for _, t in stream]
    assert len(toks) == 12 and stream.finish_reasons == ["length"]
    assert stream.prompt_tokens[0] > 5
    assert all(t.id >= 0 for t in toks)
    assert "".join(t.text for t in toks).strip()


def test_greedy_is_deterministic_and_stops_at_eos(backend) -> None:
    b, _ = backend
    req = GenerationRequest(messages=[{"role": "user", "content": "Diga apenas: olá."}], max_new_tokens=64)
    a = "".join(t.text for _, t in b.generate([req]))
    s = b.generate([req])
    bb = "".join(t.text for _, t in s)
    assert a == bb and a.strip()
    assert s.finish_reasons[0] in ("stop", "length")


def test_missing_gguf_is_weights_not_found() -> None:
    cat = load_catalog(ROOT / "models.toml")
    run = cat.runs["smollm2-135m/llama.cpp/q4_1"]
    from dataclasses import replace

    bad = replace(run, settings={**run.settings, "gguf_path": "/nowhere/x.gguf"})
    with pytest.raises(WeightsNotFoundError, match="/nowhere/x.gguf"):
        LlamaCppBackend(bad, cat.models[run.model]).load()


def test_batch_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "--batch", "--runs", "smollm2-135m/llama.cpp/*", "--limit", "2",
         "--max-new-tokens", "24", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    for ln in lines:
        assert ln["response"].strip()
        assert ln["verdict"] in ("correct", "incorrect", "unparsed", "ungraded")
        assert ln["ttft_s"] > 0 and ln["decode_tok_s"] > 0 and ln["tokens_out"] > 1
        assert ln["rss_mib"] > 0 and ln["peak_vram_mib"] is None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"][0]["details"]["api"].startswith("low-level")


def test_parallel_sequences_give_each_the_tokens_it_gets_alone() -> None:
    cat = load_catalog(ROOT / "models.toml")
    run = cat.runs["smollm2-135m/llama.cpp/q4_1"]
    from dataclasses import replace

    b = LlamaCppBackend(replace(run, settings={**run.settings, "max_batch": 3, "n_ctx": 512}), cat.models[run.model])
    info = b.load()
    try:
        assert info.details["n_seq_max"] == 3 and info.details["n_ctx"] == 512  # per sequence
        msgs = [[{"role": "user", "content": "Quanto é 12 + 30?"}], [{"role": "user", "content": "Olá"}],
                [{"role": "user", "content": "Resolva 3x + 5 = 20 e explique cada passo."}]]
        reqs = [GenerationRequest(messages=m, max_new_tokens=24) for m in msgs]
        alone = [[t.id for _, t in b.generate([r])] for r in reqs]
        stream = b.generate(reqs)
        together: list[list[int]] = [[] for _ in reqs]
        for i, tok in stream:
            together[i].append(tok.id)
        assert together == alone
        assert stream.prompt_tokens == [len(b.tokenize(b.render_chat(m))) for m in msgs]
        fixed = b.generate([GenerationRequest(messages=m, max_new_tokens=8, min_new_tokens=8) for m in msgs])
        counts = [0, 0, 0]
        for i, _ in fixed:
            counts[i] += 1
        assert counts == [8, 8, 8] and fixed.finish_reasons == ["length"] * 3
        with pytest.raises(Exception, match="max_batch >= 4"):
            b.generate([reqs[0]] * 4)
    finally:
        b.close()


def test_backend_sampling_gives_the_host_samplers_tokens() -> None:
    """llama.cpp's in-graph sampling (no logits row copied back) must not change a single token:
    single stream, parallel sequences, and a request that switches chains at min_new_tokens."""
    from dataclasses import replace

    cat = load_catalog(ROOT / "models.toml")
    run = cat.runs["smollm2-135m/llama.cpp/q4_1"]
    msgs = [[{"role": "user", "content": "Quanto é 12 + 30?"}], [{"role": "user", "content": "Olá"}]]
    outs = {}
    for on in (False, True):
        b = LlamaCppBackend(replace(run, settings={**run.settings, "max_batch": 2, "n_ctx": 512, "backend_sampling": on}), cat.models[run.model])
        info = b.load()
        try:
            assert info.details["sampling"].startswith("backend" if on else "host")
            single = [[t.id for _, t in b.generate([GenerationRequest(messages=m, max_new_tokens=20)])] for m in msgs]
            mixed = [t.id for _, t in b.generate([GenerationRequest(messages=msgs[1], max_new_tokens=20, min_new_tokens=10)])]
            together: list[list[int]] = [[], []]
            for i, tok in b.generate([GenerationRequest(messages=m, max_new_tokens=20) for m in msgs]):
                together[i].append(tok.id)
            again = [t.id for _, t in b.generate([GenerationRequest(messages=msgs[0], max_new_tokens=20)])]  # chains re-attach
            outs[on] = (single, mixed, together, again)
        finally:
            b.close()
    assert outs[True] == outs[False]
    assert outs[True][2] == outs[True][0] and outs[True][3] == outs[True][0][0]


@pytest.mark.parametrize("cpuinfo, setting, expected", [
    ("amx-xeon.txt", "auto", False),   # AMX and CPU weights: the crashing layouts are off
    ("epyc-avx512.txt", "auto", True),
    ("amx-xeon.txt", True, True),      # set by hand: the user's choice wins
    ("epyc-avx512.txt", False, False),
])
def test_extra_buffers_reach_llama_cpp_and_are_recorded(monkeypatch: pytest.MonkeyPatch, cpuinfo: str, setting, expected: bool) -> None:
    """The run setting ``extra_buffers`` sets llama_model_params.use_extra_bufts; its effective
    value and why are recorded in the load details. Faked CPUs: only the choice is faked, the model
    loads and generates for real (on an AMX CPU the ``True`` row is the one that may crash)."""
    from engine.catalog import RunSpec
    from engine.cpu import has_amx

    if expected and has_amx() and setting is True:
        pytest.skip("this CPU has AMX: forcing the extra buffer types on is the llama.cpp crash")
    monkeypatch.setenv("QUANTARENA_CPUINFO", str(ROOT / "tests" / "data" / "cpuinfo" / cpuinfo))
    cat = load_catalog(ROOT / "models.toml")
    base = cat.runs["smollm2-135m/llama.cpp/q4_1"]
    run = RunSpec(**{**base.to_dict(), "settings": {**base.settings, "n_ctx": 512, "extra_buffers": setting}})
    b = LlamaCppBackend(run, cat.models[run.model])
    try:
        info = b.load()
        assert info.details["extra_buffers"] is expected
        assert info.details["extra_buffers_reason"].startswith("auto" if setting == "auto" else "set in the run's settings")
        toks = list(b.generate([GenerationRequest(messages=[{"role": "user", "content": "Olá"}], max_new_tokens=4, min_new_tokens=4)]))
        assert len(toks) == 4
    finally:
        b.close()


def test_a_bad_extra_buffers_value_is_named() -> None:
    from engine.backends.registry import validate_settings

    with pytest.raises(ValueError, match="extra_buffers"):
        validate_settings("llama.cpp", {"extra_buffers": 3})
