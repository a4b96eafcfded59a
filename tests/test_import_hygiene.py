"""The engine is reachable without the UI or any backend library (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("textual", "torch", "llama_cpp", "bitsandbytes", "optimum.quanto", "transformers")


def _imported(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [m for m in r.stdout.strip().split(",") if m]


def test_import_engine_is_clean() -> None:
    assert _imported("import engine") == []


def test_engine_modules_import_no_heavy_library() -> None:
    mods = [
        "engine.catalog", "engine.session", "engine.launch", "engine.metrics", "engine.gpu", "engine.results",
        "engine.worker", "engine.run_process", "engine.backends.registry", "engine.backends.llamacpp",
        "engine.backends.fake", "engine.backends.openai", "engine.protocol", "engine.schedule", "engine.run_handle",
        "engine.records", "engine.telemetry", "engine.warmup", "engine.session_options", "engine.backends.llamacpp_scoring",
        "engine.backends.torch_common", "engine.backends.torch_decode", "engine.backends.torch_text",
        "engine.backends.torch_memory", "engine.backends.torch_scoring",
    ]
    for optional in ("engine.backends.hf", "engine.backends.quanto", "engine.backends.bnb", "engine.grading",
                     "engine.dataset", "engine.prompts", "engine.sizing", "engine.placement",
                     "engine.synthetic_gguf", "engine.synthetic_hf", "engine.quality", "engine.scoring",
                     "engine.reference_cache"):
        if (ROOT / (optional.replace(".", "/") + ".py")).exists() or (ROOT / optional.replace(".", "/")).is_dir():
            mods.append(optional)
    assert _imported("\n".join(f"import {m}" for m in mods)) == []


def test_catalog_loading_imports_no_backend_library() -> None:
    assert _imported("from engine.catalog import load_catalog; load_catalog('models.toml')") == []


def test_batch_cli_module_imports_no_textual() -> None:
    assert "textual" not in _imported("import cli.main, cli.batch")
