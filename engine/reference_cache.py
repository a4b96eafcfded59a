"""The reference's log-probs on disk, like llama-perplexity's ``--kl-divergence-base`` file.

A model's reference run scores each reference solution once; its per-position top-k log-probs
(:class:`engine.quality.Scored`) are kept under ``cache_dir()/quality/<model>/<reference key>/``,
one file per text. Later sessions read them, so a quantized run is compared with the reference
without loading the reference again.

* The **reference key** hashes what the reference's numbers depend on, as far as it is known
  without loading anything: the model's architecture and every weight source (for local files
  and packaged files also their size and modification time), the reference run's backend,
  quantization, settings and real/synthetic weights. Replacing a GGUF or a checkpoint folder gives
  a new key; a hub repo is keyed by its name (its revision is not known offline).
* The **text key** hashes the reference's chat messages (its own prompt), the solution text and k.

A file is JSON: the token ids, the target log-probs, the arg-max ids and the top-k ids and
log-probs (float32 / int32, little-endian, base64), plus what produced it (run, device, lineage,
date). It is written to a temporary name and renamed into place, so a crash never leaves half a
file; a file that cannot be read is treated as missing (and rewritten by the next reference run).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import sys
import tempfile
from array import array
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine.catalog import ModelSpec, RunSpec, WeightSource
from engine.quality import Scored

#: bump when the file layout or the scoring changes, so old files are not read
FORMAT_VERSION = 1


def _source_identity(src: WeightSource) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in asdict(src).items() if v is not None}
    path: Path | None = None
    try:
        if src.path:
            path = Path(os.path.expanduser(src.path)) / (src.file or "")
        elif src.package and src.file:
            from engine.weights import package_file

            path = package_file(src.package, src.file)
    except Exception:  # not installed / absent: keyed by the description alone
        path = None
    if path is not None and path.exists():
        target = path / "config.json" if path.is_dir() else path
        try:
            st = target.stat()
            out["stat"] = [st.st_size, st.st_mtime_ns]
        except OSError:
            pass
    return out


def reference_key(model: ModelSpec, ref: RunSpec) -> str:
    """The hash of what the reference's log-probs depend on (module docstring)."""
    doc = {
        "format": FORMAT_VERSION,
        "model": model.name,
        "arch": asdict(model.arch),
        "safetensors": _source_identity(model.safetensors) if model.safetensors else None,
        "gguf": {q: _source_identity(s) for q, s in sorted(model.gguf.items())},
        "chat_template": model.chat_template,
        "run": {"backend": ref.backend, "quant": ref.quant, "weights": ref.weights, "prompt": ref.prompt,
                "settings": {k: v for k, v in sorted(ref.settings.items()) if k not in ("max_batch",)}},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def text_key(messages: list[dict[str, str]], completion: str, top_k: int) -> str:
    doc = {"format": FORMAT_VERSION, "messages": messages, "completion": completion, "top_k": top_k}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


def _pack(values: Any, code: str) -> str:
    arr = values if isinstance(values, array) and values.typecode == code else array(code, values)
    if sys.byteorder != "little":
        arr = array(code, arr)
        arr.byteswap()
    return base64.b64encode(arr.tobytes()).decode("ascii")


def _unpack(text: str, code: str) -> array:
    arr = array(code)
    arr.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        arr.byteswap()
    return arr


class ReferenceCache:
    """Reference scorings on disk; ``root`` defaults to ``cache_dir()/quality``."""

    def __init__(self, root: Path | None = None):
        if root is None:
            from engine.weights import cache_dir

            root = cache_dir() / "quality"
        self.root = Path(root)

    def path(self, model: str, ref_key: str, txt_key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
        return self.root / safe / ref_key / f"{txt_key}.json"

    def get(self, model: str, ref_key: str, txt_key: str) -> tuple[Scored, dict[str, Any]] | None:
        """The cached scoring and its metadata, or None when absent or unreadable."""
        p = self.path(model, ref_key, txt_key)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT_VERSION:
                return None
            scored = Scored(
                tokens=list(_unpack(doc["tokens"], "i")), target_logprobs=_unpack(doc["target_logprobs"], "f"),
                argmax=list(_unpack(doc["argmax"], "i")), n_vocab=int(doc["n_vocab"]), text_bytes=int(doc["text_bytes"]),
                prompt_tokens=int(doc.get("prompt_tokens", 0)), prompt_digest=str(doc.get("prompt_digest", "")),
                top_k=int(doc["top_k"]),
                top_ids=_unpack(doc["top_ids"], "i"), top_logprobs=_unpack(doc["top_logprobs"], "f"),
            )
            n = len(scored.tokens)
            if len(scored.target_logprobs) != n or len(scored.argmax) != n or len(scored.top_logprobs) != n * scored.top_k:
                return None
            return scored, dict(doc.get("meta") or {})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, model: str, ref_key: str, txt_key: str, scored: Scored, meta: dict[str, Any]) -> Path:
        p = self.path(model, ref_key, txt_key)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT_VERSION,
            "meta": {**meta, "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
            "n_vocab": scored.n_vocab, "text_bytes": scored.text_bytes, "prompt_tokens": scored.prompt_tokens,
            "prompt_digest": scored.prompt_digest,
            "top_k": scored.top_k, "tokens": _pack(scored.tokens, "i"),
            "target_logprobs": _pack(scored.target_logprobs, "f"), "argmax": _pack(scored.argmax, "i"),
            "top_ids": _pack(scored.top_ids, "i"), "top_logprobs": _pack(scored.top_logprobs, "f"),
        }
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return p
