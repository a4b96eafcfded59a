"""models.toml: strict loading with messages that name file, table and key; run selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import CatalogError, load_catalog

DATA = Path(__file__).resolve().parents[1] / "data" / "catalog"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name, must_contain",
    [
        ("not_toml.toml", ["not_toml.toml", "not valid TOML"]),
        ("extra_key.toml", ["extra_key.toml", "[models.m]", "unknown key 'colour'"]),
        ("wrong_type.toml", ["wrong_type.toml", "[models.m.arch]", "'params'", "integer"]),
        ("missing_field.toml", ["missing_field.toml", "[models.m.arch]", "missing required key 'layers'"]),
        ("duplicate_run.toml", ["duplicate_run.toml", "runs[1]", "duplicate run name 'm/llama.cpp/q4_0'"]),
        ("unknown_backend.toml", ["unknown_backend.toml", "'backend'", "unknown backend 'vllm'", "llama.cpp"]),
        ("bad_setting.toml", ["bad_setting.toml", "settings", "'n_ctx'", "int"]),
    ],
)
def test_bad_catalogs_name_file_table_and_key(name: str, must_contain: list[str]) -> None:
    with pytest.raises(CatalogError) as exc:
        load_catalog(DATA / name)
    msg = str(exc.value)
    assert "\n" not in msg
    for part in must_contain:
        assert part in msg, (part, msg)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="models file not found"):
        load_catalog(tmp_path / "nope.toml")
    with pytest.raises(CatalogError, match="is a directory"):
        load_catalog(tmp_path)


def test_shipped_catalog_loads_with_required_models_and_runs() -> None:
    cat = load_catalog(ROOT / "models.toml")
    for m in ("smollm2-135m", "qwen2.5-72b", "mistral-7b", "llama3-8b", "minimax-text-01"):
        assert m in cat.models
    assert cat.models["minimax-text-01"].arch.experts == 32
    assert cat.models["minimax-text-01"].arch.kv_layers == 10
    assert "smollm2-135m/llama.cpp/q4_1" in cat.runs
    defaults = [r.name for r in cat.select(None)]
    assert defaults[0] == "smollm2-135m/llama.cpp/q4_1"
    assert {r.backend for r in cat.select(None)} == {"llama.cpp", "transformers", "quanto", "bitsandbytes"}
    assert all(r.model == "smollm2-135m" for r in cat.select(None))
    # every real model has a dense source and GGUF sources for the common quantizations
    for m in ("qwen2.5-72b", "mistral-7b", "llama3-8b"):
        assert cat.models[m].safetensors is not None and cat.models[m].safetensors.repo
        assert {"q4_k_m", "q8_0"} <= set(cat.models[m].gguf)


def test_select_globs_and_unknown_glob() -> None:
    cat = load_catalog(ROOT / "models.toml")
    names = [r.name for r in cat.select("*/llama.cpp/*")]
    assert names and all("/llama.cpp/" in n for n in names)
    both = cat.select("smollm2-135m/quanto/*,llama3-8b/quanto/int8")
    assert [r.name for r in both] == ["smollm2-135m/quanto/int8", "smollm2-135m/quanto/int4", "llama3-8b/quanto/int8"]
    with pytest.raises(CatalogError, match="matches no run"):
        cat.select("nothing/*")


def test_tag_makes_distinct_names(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text((DATA / "duplicate_run.toml").read_text().rstrip() + '\ntag = "big-ctx"\n')
    cat = load_catalog(p)
    assert set(cat.runs) == {"m/llama.cpp/q4_0", "m/llama.cpp/q4_0@big-ctx"}


def test_quant_must_belong_to_backend(tmp_path: Path) -> None:
    p = tmp_path / "m.toml"
    p.write_text((DATA / "unknown_backend.toml").read_text().replace('"vllm"', '"bitsandbytes"').replace('"int8"', '"q4_k_m"'))
    with pytest.raises(CatalogError, match="not a bitsandbytes quantization"):
        load_catalog(p)
