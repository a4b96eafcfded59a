"""The dense checkpoint the PyTorch backends load: derived once from the GGUF, reused, errors named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import checkpoints
from engine.backends.base import WeightsNotFoundError
from engine.catalog import Architecture, ModelSpec, WeightSource, load_catalog

ROOT = Path(__file__).resolve().parents[2]
TINY_ARCH = Architecture("llama", 1000, 2, 64, 4, 2, 16, 128, 256, 2048)


def _model(safetensors: WeightSource | None, gguf: dict[str, WeightSource] | None = None) -> ModelSpec:
    return ModelSpec(name="tiny", display_name="tiny", arch=TINY_ARCH, gguf=gguf or {}, safetensors=safetensors)


@pytest.fixture(scope="module")
def smollm2() -> ModelSpec:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    model = load_catalog(ROOT / "models.toml").models["smollm2-135m"]
    try:
        checkpoints.gguf_path(model, "q4_1")
    except WeightsNotFoundError as e:
        pytest.skip(str(e))
    return model


# ---- real derivation (slow the first time: ~20 s to dequantize and save 135M parameters) --------


@pytest.mark.slow
def test_derived_checkpoint_holds_weights_tokenizer_and_template(smollm2: ModelSpec) -> None:
    path = checkpoints.dense_checkpoint(smollm2)
    assert path.parent == checkpoints.cache_dir() / "checkpoints"
    assert path.name.startswith("smollm2-135m-")
    assert (path / "config.json").exists() and list(path.glob("*.safetensors"))
    assert (path / "tokenizer.json").exists()
    info = checkpoints.checkpoint_info(path)
    assert info["derived_from"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and info["gguf_quant"] == "q4_1"
    assert info["chat_template"] is True
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(path).num_hidden_layers == smollm2.arch.layers
    tok = AutoTokenizer.from_pretrained(path)
    rendered = tok.apply_chat_template([{"role": "user", "content": "Olá"}], add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>assistant" in rendered
    assert not list(path.parent.glob(f".{path.name}.tmp-*")), "a temporary build directory was left behind"


@pytest.mark.slow
def test_second_call_reuses_the_checkpoint_without_rebuilding(smollm2: ModelSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    first = checkpoints.dense_checkpoint(smollm2)
    marker = first / checkpoints.MARKER
    mtime = marker.stat().st_mtime_ns

    def no_rebuild(*a: object, **k: object) -> None:
        raise AssertionError("the checkpoint was rebuilt")

    monkeypatch.setattr(checkpoints, "_build_from_gguf", no_rebuild)
    assert checkpoints.dense_checkpoint(smollm2) == first
    assert marker.stat().st_mtime_ns == mtime


# ---- cheap: keys, atomicity, error messages --------------------------------------------------------


def test_the_key_follows_the_gguf_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTARENA_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    model = _model(WeightSource(derive="gguf"), {"q8_0": WeightSource(path=str(gguf))})
    a = checkpoints.derived_dir(model, gguf, "float32")
    os.utime(gguf, ns=(1_000_000_000, 1_000_000_000))
    b = checkpoints.derived_dir(model, gguf, "float32")
    assert a != b and a.name.startswith("tiny-") and b.name.startswith("tiny-")
    assert checkpoints.derived_dir(model, gguf, "bfloat16") != b


def test_a_failed_build_leaves_no_checkpoint_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTARENA_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    model = _model(WeightSource(derive="gguf"), {"q8_0": WeightSource(path=str(gguf))})
    calls = []

    def half_build(model: ModelSpec, quant: str, gguf: Path, dtype: str, out: Path) -> None:
        calls.append(quant)
        (out / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("killed mid-way")

    monkeypatch.setattr(checkpoints, "_build_from_gguf", half_build)
    with pytest.raises(RuntimeError, match="killed mid-way"):
        checkpoints.dense_checkpoint(model)
    root = tmp_path / "cache" / "checkpoints"
    assert calls == ["q8_0"]
    assert [p.name for p in root.iterdir() if p.is_dir()] == []  # neither the final nor a temp dir

    def good_build(model: ModelSpec, quant: str, gguf: Path, dtype: str, out: Path) -> None:
        (out / "config.json").write_text("{}")
        (out / checkpoints.MARKER).write_text(json.dumps({"derived_from": str(gguf)}))

    monkeypatch.setattr(checkpoints, "_build_from_gguf", good_build)
    path = checkpoints.dense_checkpoint(model)
    assert (path / "config.json").exists() and path.parent == root


def test_derive_prefers_the_most_precise_gguf(tmp_path: Path) -> None:
    files = {}
    for q in ("q4_k_m", "q8_0", "f16"):
        files[q] = tmp_path / f"{q}.gguf"
        files[q].write_bytes(b"GGUF")
    model = _model(WeightSource(derive="gguf"), {q: WeightSource(path=str(p)) for q, p in files.items()})
    assert checkpoints._derive_source(model) == ("f16", files["f16"])


def test_derive_without_a_gguf_names_the_model() -> None:
    with pytest.raises(WeightsNotFoundError, match="tiny.*no GGUF source"):
        checkpoints.dense_checkpoint(_model(WeightSource(derive="gguf")))


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ckpt"
    with pytest.raises(WeightsNotFoundError, match=str(missing)):
        checkpoints.dense_checkpoint(_model(WeightSource(path=str(missing))))


def test_a_directory_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(WeightsNotFoundError, match="no config.json"):
        checkpoints.dense_checkpoint(_model(WeightSource(path=str(tmp_path))))


def test_a_local_checkpoint_directory_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert checkpoints.dense_checkpoint(_model(WeightSource(path=str(tmp_path)))) == tmp_path


def test_no_safetensors_source_is_named() -> None:
    with pytest.raises(WeightsNotFoundError, match="model tiny has no safetensors source"):
        checkpoints.dense_checkpoint(_model(None))


def test_an_unreachable_repo_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match="hf://nobody/no-such-model"):
        checkpoints.dense_checkpoint(_model(WeightSource(repo="nobody/no-such-model")))


def test_importing_checkpoints_and_torch_common_loads_no_heavy_library() -> None:
    code = (
        "import engine.checkpoints, engine.backends.torch_common, engine.backends.hf, engine.backends.quanto, "
        "engine.backends.bnb, sys\n"
        "print(','.join(m for m in ('torch', 'transformers', 'bitsandbytes', 'optimum.quanto') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
