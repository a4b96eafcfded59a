"""``quantarena size`` through its argparse harness: text, --json, --all, --arch and bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli import size
from engine.catalog import Architecture, Catalog, ModelSpec
from engine.exits import ExitCode

ARCHS = {
    "smollm2-135m": Architecture("llama", 134_515_008, 30, 576, 9, 3, 64, 1536, 49152, 8192, tie_embeddings=True),
    "llama3-8b": Architecture("llama", 8_030_261_248, 32, 4096, 32, 8, 128, 14336, 128256, 8192),
    "qwen2.5-72b": Architecture("qwen2", 72_706_203_648, 80, 8192, 64, 8, 128, 29568, 152064, 32768,
                                attention_bias=True),
    "minimax-text-01": Architecture("minimax", 456_000_000_000, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_192,
                                    experts=32, experts_per_token=2, softmax_attention_layers=10),
}
CATALOG = Catalog(Path("test-models.toml"), {n: ModelSpec(n, n, a) for n, a in ARCHS.items()}, {}, {"n_ctx": 4096})

MODELS_TOML = """
[models.llama3-8b]
display_name = "Llama 3 8B Instruct"
[models.llama3-8b.arch]
family = "llama"
params = 8030261248
layers = 32
hidden_size = 4096
heads = 32
kv_heads = 8
head_dim = 128
ffn_size = 14336
vocab_size = 128256
context_length = 8192
"""


def call(argv: list[str], capsys: pytest.CaptureFixture[str], catalog: Catalog | None = CATALOG) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="quantarena size")
    size.add_arguments(parser)
    rc = size.run(parser.parse_args(argv), catalog=catalog)
    out, err = capsys.readouterr()
    return rc, out, err


def test_text_output_for_llama3_q4_k_m(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["llama3-8b", "--quant", "q4_k_m", "--ctx", "8192"], capsys)
    assert rc == ExitCode.OK
    assert "llama3-8b · llama.cpp q4_k_m · ctx 8192" in out
    assert "4.58" in out and "4.89 bits/weight" in out  # weights, as llama.cpp reports them
    assert "1.00" in out and "f16" in out  # KV cache
    assert "Q6_K" in out and "1 × H100-80GB" in out


def test_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["qwen2.5-72b", "--quant", "int4", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["backend"] == "quanto" and d["quant"] == "int4"
    for key in ("weights_gib", "kv_cache_gib", "state_gib", "activations_gib", "overhead_gib", "total_gib",
                "gpus_needed", "per_gpu", "breakdown"):
        assert key in d
    assert d["gpus_needed"] == 1 and d["per_gpu"][0]["layers"] == 80


def test_box_that_is_too_small_says_by_how_much(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["qwen2.5-72b", "--quant", "bf16", "--gpu", "1xH100-80GB"], capsys)
    assert rc == 0 and "does NOT fit 1 × H100-80GB" in out and "GiB short" in out
    rc, out, _ = call(["qwen2.5-72b", "--quant", "bf16", "--gpu", "1xH100-80GB", "--json"], capsys)
    d = json.loads(out)
    assert d["fits_box"] is False and d["shortfall_gib"] > 50 and d["gpus_needed"] == 2


def test_quant_picks_the_backend(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, backend in ((["--quant", "int8"], "quanto"), (["--quant", "int8", "--backend", "bitsandbytes"], "bitsandbytes"),
                          (["--quant", "nf4"], "bitsandbytes"), (["--quant", "Q8_0"], "llama.cpp"),
                          (["--quant", "bf16"], "transformers")):
        rc, out, _ = call(["llama3-8b", *argv, "--json"], capsys)
        assert rc == 0 and json.loads(out)["backend"] == backend


def test_all_lists_every_model_and_common_quantization(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = call(["--all", "--gpu", "8xH100-80GB", "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and len(d["rows"]) == len(ARCHS) * len(size.COMMON_SCHEMES)
    mm = {(r["backend"], r["quant"]): r for r in d["rows"] if r["model"] == "minimax-text-01"}
    assert mm[("transformers", "bf16")]["fits_box"] is False and mm[("transformers", "bf16")]["shortfall_gib"] > 200
    assert mm[("quanto", "int8")]["gpus_needed"] == 12 and mm[("quanto", "int8")]["fits_box"] is False  # bf16 experts
    rc, out, _ = call(["minimax-text-01", "--quant", "int8", "--gpu", "8xH100-80GB", "--quantize-experts", "--json"],
                      capsys)
    assert rc == 0 and json.loads(out)["gpus_needed"] == 8 and json.loads(out)["fits_box"] is True
    rc, out, _ = call(["--all", "--gpu", "H200-141GB"], capsys)
    assert rc == 0 and "GPUs needed on H200-141GB" in out and "minimax-text-01" in out


def test_arch_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    facts = "layers=32,hidden_size=4096,heads=32,kv_heads=8,head_dim=128,ffn_size=14336,vocab_size=128256"
    rc, out, _ = call(["--arch", facts, "--quant", "q8_0", "--ctx", "8192", "--json"], capsys, catalog=None)
    d = json.loads(out)
    assert rc == 0 and d["params"] == 8_030_261_248 and round(d["weights_gib"], 2) == 7.95
    assert d["kv_cache_gib"] == 1.0
    rc, out, _ = call(["my-model", "--arch", facts, "--quant", "q8_0", "--json"], capsys)
    assert rc == 0 and json.loads(out)["model"] == "my-model"  # not in the catalog: a label
    # overriding one fact of a catalog model
    rc, out, _ = call(["llama3-8b", "--arch", "context_length=16384", "--quant", "q8_0", "--ctx", "16384", "--json"], capsys)
    assert rc == 0 and json.loads(out)["kv_cache_gib"] == 2.0


def test_reads_a_models_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MODELS_TOML)
    rc, out, _ = call(["llama3-8b", "--quant", "q4_k_m", "--models", str(path), "--json"], capsys, catalog=None)
    assert rc == 0 and round(json.loads(out)["weights_gib"], 2) == 4.58


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["llama3-8b", "--quant", "q4km"], "unknown quantization 'q4km' (known: "),
        (["llama3-8b", "--quant", "nf4", "--backend", "quanto"], "'nf4' is not a quanto quantization (choose from int8, int4"),
        (["llama-9b", "--quant", "q8_0"], "unknown model 'llama-9b' (models in test-models.toml: smollm2-135m, llama3-8b"),
        (["llama3-8b", "--quant", "q8_0", "--ctx", "9000"], "ctx 9000 exceeds llama3-8b's context_length 8192"),
        (["llama3-8b", "--quant", "q8_0", "--gpu", "V100"], "unknown GPU 'V100' (known: H100-80GB"),
        (["llama3-8b"], "--quant is required"),
        (["--quant", "q8_0"], "give a MODEL"),
        (["--arch", "layers=2", "--quant", "q8_0"], "--arch: missing hidden_size"),
        (["--arch", "wings=2", "--quant", "q8_0"], "--arch: cannot read 'wings=2'"),
        (["llama3-8b", "--quant", "q8_0", "--batch", "0"], "--batch must be at least 1"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_choices(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = call(argv, capsys)
    assert rc == ExitCode.USAGE and out == ""
    assert message in err


def test_missing_models_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = call(["llama3-8b", "--quant", "q8_0", "--models", str(tmp_path / "nope.toml")], capsys, catalog=None)
    assert rc == ExitCode.USAGE and "models file not found" in err


ROOT = Path(__file__).resolve().parents[2]


def test_validate_reproduces_the_committed_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``quantarena size --validate benchmarks/gpu-runs`` recomputes every committed row (folders
    measured since then add rows)."""
    from engine.catalog import load_catalog

    committed = json.loads((ROOT / "benchmarks" / "sizing-validation" / "results.json").read_text())
    rc, out, _ = call(["--validate", str(ROOT / "benchmarks" / "gpu-runs"), "--out", str(tmp_path / "v")], capsys,
                      load_catalog(ROOT / "models.toml"))
    assert rc == ExitCode.OK and "runs within ±10% of the measured peak process memory" in out
    rows = json.loads((tmp_path / "v.json").read_text())
    assert committed and all(r in rows for r in committed)
    assert (tmp_path / "v.md").read_text() in out


def test_validate_a_folder_without_results_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = call(["--validate", str(tmp_path)], capsys)
    assert rc == ExitCode.USAGE and err.strip() == f"error: {tmp_path}: no results folder (*/summary.json) in it"
    rc, _, err = call(["--validate", str(tmp_path / "nope")], capsys)
    assert rc == ExitCode.USAGE and "not a folder of results folders" in err


def test_validate_sizes_a_graphed_batch_as_it_allocates(tmp_path: Path) -> None:
    """A ``--concurrency 8`` session with CUDA graphs: sized at batch 8 and at the static cache's
    1,024-token allocation (it was sized at batch 1 and prompt + cap, 12% under its peak)."""
    import shutil

    from engine.catalog import load_catalog
    from engine.sizing.validation import validation_rows

    shutil.copytree(ROOT / "benchmarks" / "gpu-runs" / "h200-s3-llama8b-c8-graphs", tmp_path / "c8")
    (row,) = validation_rows(load_catalog(ROOT / "models.toml"), tmp_path)
    assert (row["run"], row["ctx"], row["batch"]) == ("llama3-8b/quanto/int4@graphs", 1024, 8)
    assert abs(row["error_pct"]) <= 10
