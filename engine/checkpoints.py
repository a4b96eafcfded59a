"""The dense checkpoint every PyTorch backend starts from: one directory of safetensors + tokenizer.

transformers, quanto and bitsandbytes all load a model with ``from_pretrained(directory)``; this
module says which directory. A model's ``safetensors`` source in models.toml is one of:

* ``path``: a local checkpoint directory (``config.json`` + ``*.safetensors`` + tokenizer files).
* ``repo``: a Hugging Face repo, fetched (or found in the HF cache) through ``engine.weights``.
* ``derive = "gguf"``: the model's GGUF, dequantized **once** by transformers into a float
  checkpoint under ``cache_dir()/checkpoints/<model>-<key>/`` and reused afterwards. transformers
  5.23 refuses ``quantization_config`` together with ``gguf_file``, so a quantizing backend cannot
  read the GGUF itself; going through this checkpoint also means every PyTorch backend quantizes
  the very same weights (those llama.cpp runs, unpacked).

The key hashes the GGUF's path, size and mtime (and the checkpoint dtype), so a replaced GGUF gets
a new checkpoint. The build writes into a temporary directory beside the final one and renames it
into place, under a lock file, so a crash never leaves a half-written checkpoint that looks
complete and two runs starting together build it once.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from engine.backends.base import BackendError, WeightsNotFoundError
from engine.backends.registry import BACKEND_QUANTS
from engine.catalog import ModelSpec
from engine.weights import cache_dir, gguf_path, hub_file, resolve

#: written last into a derived checkpoint; its presence marks the directory complete
MARKER = "quantarena-checkpoint.json"
#: GGUF quantizations to derive from, most precise first
DERIVE_PREFERENCE = tuple(reversed(BACKEND_QUANTS["llama.cpp"]))
#: models up to this many parameters are derived in float32 (exact for every GGUF block type);
#: larger ones in bfloat16 to halve the disk and load cost
FP32_MAX_PARAMS = 3_000_000_000


def dense_checkpoint(model: ModelSpec) -> Path:
    """The local directory of ``model``'s dense checkpoint, deriving it from the GGUF if needed.

    Raises WeightsNotFoundError naming the missing source (a path, a repo, the GGUF), or
    BackendError when a derivation fails.
    """
    src = model.safetensors
    if src is None:
        raise WeightsNotFoundError(
            f"model {model.name} has no safetensors source for the PyTorch backends "
            "(add safetensors = { path = ... } | { repo = ... } | { derive = \"gguf\" } to models.toml)"
        )
    if src.derive:
        if src.derive != "gguf":
            raise WeightsNotFoundError(f"model {model.name}: safetensors derive = {src.derive!r} is unknown (only \"gguf\")")
        return derived_from_gguf(model)
    if src.repo:
        return hub_file(src.repo, None)
    p = resolve(src, f"{model.name} safetensors")
    if p.is_file() and p.suffix == ".safetensors":
        p = p.parent
    if not (p / "config.json").exists():
        raise WeightsNotFoundError(f"{model.name} safetensors: {p} is not a checkpoint directory (no config.json)")
    return p


def _derive_source(model: ModelSpec) -> tuple[str, Path]:
    for quant in DERIVE_PREFERENCE:
        if quant in model.gguf:
            return quant, gguf_path(model, quant)
    raise WeightsNotFoundError(f"model {model.name}: safetensors derive = \"gguf\" but the model has no GGUF source")


def derived_dir(model: ModelSpec, gguf: Path, dtype: str) -> Path:
    """Where the checkpoint derived from ``gguf`` lives (whether or not it exists yet)."""
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}|{dtype}".encode()).hexdigest()[:16]
    return cache_dir() / "checkpoints" / f"{model.name}-{key}"


def derived_from_gguf(model: ModelSpec) -> Path:
    """The checkpoint dequantized from ``model``'s most precise GGUF; built on first use only."""
    quant, gguf = _derive_source(model)
    dtype = "float32" if (model.arch.params or 0) <= FP32_MAX_PARAMS else "bfloat16"
    final = derived_dir(model, gguf, dtype)
    if (final / MARKER).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _Lock(final.parent / f".{final.name}.lock"):
        if (final / MARKER).exists():  # another run built it while we waited
            return final
        if final.exists():  # no marker: an interrupted build of an older layout; start over
            shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
        try:
            _build_from_gguf(model, quant, gguf, dtype, tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def _build_from_gguf(model: ModelSpec, quant: str, gguf: Path, dtype: str, out: Path) -> None:
    """Dequantize ``gguf`` with transformers and save model + tokenizer (with its chat template)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as e:
        raise BackendError(f"{model.name}: deriving a checkpoint from the GGUF needs torch and transformers ({e})") from None
    t0 = time.perf_counter()
    try:
        dense = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True),
            dtype=getattr(torch, dtype), device_map=None,
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"{model.name}: transformers could not dequantize {gguf.name}: {msg}") from None
    # GgufConfig(dequantize=True) leaves plain nn.Linear layers; make sure no quantizer is attached,
    # or save_pretrained refuses ("quantized with gguf and is not serializable")
    quantizer = getattr(dense, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(dense)
    dense.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    n_params = sum(p.numel() for p in dense.parameters())
    del dense
    (out / MARKER).write_text(json.dumps({
        "model": model.name, "derived_from": str(gguf), "gguf_quant": quant, "gguf_bytes": gguf.stat().st_size,
        "dtype": dtype, "n_params": n_params, "chat_template": tokenizer.chat_template is not None,
        "transformers": _version("transformers"), "torch": _version("torch"),
        "build_s": round(time.perf_counter() - t0, 2),
    }, indent=2))


def checkpoint_info(path: Path) -> dict[str, object]:
    """The provenance a derived checkpoint recorded (empty for other checkpoints)."""
    try:
        return dict(json.loads((path / MARKER).read_text()))
    except (OSError, ValueError):
        return {}


def _version(dist: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class _Lock:
    """An exclusive lock file (``fcntl.flock``); a no-op where fcntl is missing (Windows)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> _Lock:
        try:
            import fcntl
        except ImportError:
            return self
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
