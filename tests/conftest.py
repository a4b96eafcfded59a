"""Shared fixtures: paths, the real MATH-PT folder (skipped when absent), small catalogs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATHPT = ROOT.parent / "shared" / "mathpt"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def mathpt_dir() -> Path:
    if not (MATHPT / "ptbr_multiple_choice_test.json").exists():
        pytest.skip("../shared/mathpt is absent")
    return MATHPT


FAKE_MODEL = """
[models.tiny]
display_name = "tiny fake"
arch = { family = "llama", params = 1000, layers = 2, hidden_size = 64, heads = 4, kv_heads = 2, head_dim = 16, ffn_size = 128, vocab_size = 256, context_length = 2048 }
"""


def write_fake_catalog(tmp_path: Path, runs: str, defaults: str = "") -> Path:
    """A models.toml with one fake model and the given [[runs]] tables (fake backend)."""
    text = (textwrap.dedent(defaults) + "\n" if defaults else "") + FAKE_MODEL + textwrap.dedent(runs)
    p = tmp_path / "models.toml"
    p.write_text(text)
    return p
