"""Synthetic GGUF files: a model's real tensor shapes filled with random quantized blocks.

llama.cpp reads GGUF only, and no real checkpoint reaches the lent GPU machines, so for speed and
memory figures we write a GGUF with the architecture's exact tensors (names, shapes, quantization
types as ``llama-quantize`` would choose them) and random contents. Its answers are noise; its
size, load time, prompt and decode speed are the real model's.

How the bytes are made. Quantizing full-size float arrays would take hours and hundreds of GB, so
blocks are written directly: a pool of ~16 MiB of random blocks per type is drawn once (numpy's
PCG64 ``bytes``), the fp16 scale field of every block is overwritten with a small fixed scale
(weights then have a standard deviation of about 0.02, like a fresh init, so activations stay
finite), and each tensor is the pool tiled from a random block offset. Norm weights are F32 ones,
Qwen2's q/k/v biases small F32 normals. Tensors stream to disk one at a time through
``GGUFWriter.write_tensor_data``, so memory stays at one tensor (plus the pool); a Qwen2.5-72B Q4_0
(~41 GB) writes at disk speed.

Quantization mix, as ``llama-quantize`` does for these file types: every 2-D weight in the chosen
type, except the output projection (``output``, or ``token_embd`` when embeddings are tied) which
q4_0/q4_1 store as Q6_K (Q8_0 when its row length is not a multiple of 256, as SmolLM2's). The K-quant
mixes (q4_k_s, q4_k_m, q5_k_m, q6_k) take each tensor's type from ``engine.sizing.schemes``'s
restatement of ``llama_tensor_get_type`` (Q6_K attn_v/ffn_down in the ``use_more_bits`` layers,
70B bumps, row-length fallbacks to Q5_0/Q8_0), so the file and the size estimate agree byte for
byte. The planned sizes match the public files (Meta-Llama-3-8B: Q8_0 8.54 GB, Q4_0 4.66 GB,
Q4_K_M 4.92 GB; Qwen2.5-72B Q4_K_M 47.4 GB).

Families: llama and mistral (GGUF architecture ``llama``), qwen2 (``qwen2``, with q/k/v biases).
MiniMax-Text-01 is refused with :class:`UnsupportedError`: llama.cpp has no lightning attention.

The vocabulary is :mod:`engine.synthetic_vocab` (SmolLM2's byte-level BPE fitted to the model's
vocabulary size, ChatML template, EOS = last id). numpy and gguf are imported inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.base import BackendError, UnsupportedError
from engine.catalog import Architecture
from engine.synthetic_vocab import synthetic_vocab

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: bump when the written bytes change, so cached files are rebuilt
FORMAT_VERSION = 1  # unchanged by the K-quant types: q4_0/q8_0 files are byte-identical

#: GGUF architecture name per catalog family
GGUF_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}

#: quant name -> (GGML type of 2-D weights, general.file_type (llama_ftype))
QUANTS: dict[str, tuple[str, int]] = {
    "q8_0": ("Q8_0", 7),
    "q4_0": ("Q4_0", 2),
    "q4_1": ("Q4_1", 3),
    "f16": ("F16", 1),
    # K-quant mixes: each tensor's type as llama-quantize picks it (engine.sizing.schemes)
    "q4_k_s": ("Q4_K", 14),
    "q4_k_m": ("Q4_K", 15),
    "q5_k_m": ("Q5_K", 17),
    "q6_k": ("Q6_K", 18),
}
#: quants whose per-tensor types come from llama.cpp's mix rules rather than one type for all
K_MIXES = frozenset({"q4_k_s", "q4_k_m", "q5_k_m", "q6_k"})

#: (weights per block, bytes per block) of the GGML types written here
BLOCK: dict[str, tuple[int, int]] = {
    "F32": (1, 4), "F16": (1, 2), "Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22),
    "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
}

ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT
TARGET_STD = 0.02  # standard deviation of the dequantized random weights
POOL_BYTES = 16 * 2**20


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor of a synthetic GGUF: name, shape in numpy order (rows, cols), GGML type, bytes."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str
    nbytes: int

    @property
    def n_weights(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFPlan:
    """Everything a synthetic GGUF will hold, and its exact size, computed without writing."""

    gguf_arch: str
    quant: str
    tensors: list[PlannedTensor]
    metadata_bytes: int  # header + key/values + tensor infos, padded to the alignment
    tensor_bytes: int  # tensor data, each tensor padded to the alignment
    vocab_source: str

    @property
    def total_bytes(self) -> int:
        return self.metadata_bytes + self.tensor_bytes

    @property
    def n_params(self) -> int:
        return sum(t.n_weights for t in self.tensors)

    def bytes_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.ggml_type] = out.get(t.ggml_type, 0) + t.nbytes
        return out


def _pad(n: int, align: int = ALIGNMENT) -> int:
    return (n + align - 1) // align * align


def _tensor_nbytes(shape: tuple[int, ...], ggml_type: str) -> int:
    per_block, block_bytes = BLOCK[ggml_type]
    if shape[-1] % per_block:
        raise ValueError(f"row length {shape[-1]} is not a multiple of {ggml_type}'s block of {per_block}")
    rows = 1
    for d in shape[:-1]:
        rows *= d
    return rows * (shape[-1] // per_block) * block_bytes


def _check(arch: Architecture, quant: str) -> None:
    if arch.family == "minimax":
        raise UnsupportedError(
            "llama.cpp cannot run MiniMax-Text-01 (no lightning attention in GGUF/llama.cpp): "
            "no synthetic GGUF for family minimax"
        )
    if arch.family not in GGUF_ARCH:
        raise UnsupportedError(f"no synthetic GGUF for architecture family {arch.family!r}")
    if quant not in QUANTS:
        raise UnsupportedError(f"synthetic GGUF supports {', '.join(QUANTS)}, not {quant!r}")


def _tensor_list(arch: Architecture, quant: str) -> list[PlannedTensor]:
    wtype = QUANTS[quant][0]
    h, q_dim, kv_dim = arch.hidden_size, arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    out_type = wtype
    if quant in ("q4_0", "q4_1"):
        out_type = "Q6_K" if h % 256 == 0 else "Q8_0"

    def t(name: str, shape: tuple[int, ...], ggml_type: str) -> PlannedTensor:
        if quant in K_MIXES and ggml_type != "F32":
            ggml_type = _mixed_type(arch, quant, name, shape)
        return PlannedTensor(name, shape, ggml_type, _tensor_nbytes(shape, ggml_type))

    tensors = [t("token_embd.weight", (arch.vocab_size, h), out_type if arch.tie_embeddings else wtype)]
    for i in range(arch.layers):
        b = f"blk.{i}."
        tensors += [
            t(b + "attn_norm.weight", (h,), "F32"),
            t(b + "attn_q.weight", (q_dim, h), wtype),
            t(b + "attn_k.weight", (kv_dim, h), wtype),
            t(b + "attn_v.weight", (kv_dim, h), wtype),
        ]
        if arch.family == "qwen2":
            tensors += [
                t(b + "attn_q.bias", (q_dim,), "F32"),
                t(b + "attn_k.bias", (kv_dim,), "F32"),
                t(b + "attn_v.bias", (kv_dim,), "F32"),
            ]
        tensors += [
            t(b + "attn_output.weight", (h, q_dim), wtype),
            t(b + "ffn_norm.weight", (h,), "F32"),
            t(b + "ffn_gate.weight", (arch.ffn_size, h), wtype),
            t(b + "ffn_up.weight", (arch.ffn_size, h), wtype),
            t(b + "ffn_down.weight", (h, arch.ffn_size), wtype),
        ]
    tensors.append(t("output_norm.weight", (h,), "F32"))
    if not arch.tie_embeddings:
        tensors.append(t("output.weight", (arch.vocab_size, h), out_type))
    return tensors


def _mixed_type(arch: Architecture, quant: str, name: str, shape: tuple[int, ...]) -> str:
    """The ggml type of one 2-D weight in a K-quant mix, by the sizing module's restatement of
    llama.cpp's ``llama_tensor_get_type`` (so the file and the size estimate agree)."""
    from engine.sizing.schemes import gguf_tensor_type
    from engine.sizing.tensors import TensorSpec

    parts = name.split(".")
    layer = int(parts[1]) if parts[0] == "blk" else -1
    category = parts[2] if parts[0] == "blk" else parts[0]
    return gguf_tensor_type(TensorSpec(name, category, layer, shape[0], shape[1]), quant, arch)


# metadata: (key, value, value type name, array item type name or None)
_Meta = list[tuple[str, Any, str, str | None]]


def _metadata(arch: Architecture, quant: str, n_ctx: int | None) -> _Meta:
    a = GGUF_ARCH[arch.family]
    vocab = synthetic_vocab(arch.vocab_size)
    return [
        ("general.architecture", a, "STRING", None),
        ("general.type", "model", "STRING", None),
        ("general.name", f"synthetic {arch.family} {arch.layers}L {arch.hidden_size}h (random weights)", "STRING", None),
        ("general.file_type", QUANTS[quant][1], "UINT32", None),
        ("general.quantization_version", 2, "UINT32", None),
        (f"{a}.vocab_size", arch.vocab_size, "UINT32", None),
        (f"{a}.context_length", n_ctx or arch.context_length, "UINT32", None),
        (f"{a}.embedding_length", arch.hidden_size, "UINT32", None),
        (f"{a}.block_count", arch.layers, "UINT32", None),
        (f"{a}.feed_forward_length", arch.ffn_size, "UINT32", None),
        (f"{a}.attention.head_count", arch.heads, "UINT32", None),
        (f"{a}.attention.head_count_kv", arch.kv_heads, "UINT32", None),
        (f"{a}.attention.key_length", arch.head_dim, "UINT32", None),
        (f"{a}.attention.value_length", arch.head_dim, "UINT32", None),
        (f"{a}.attention.layer_norm_rms_epsilon", float(arch.rms_norm_eps), "FLOAT32", None),
        (f"{a}.rope.dimension_count", arch.head_dim, "UINT32", None),
        (f"{a}.rope.freq_base", float(arch.rope_theta), "FLOAT32", None),
        ("tokenizer.ggml.model", "gpt2", "STRING", None),
        ("tokenizer.ggml.pre", vocab.pre_tokenizer, "STRING", None),
        ("tokenizer.ggml.tokens", vocab.tokens, "ARRAY", "STRING"),
        ("tokenizer.ggml.token_type", vocab.token_types, "ARRAY", "INT32"),
        ("tokenizer.ggml.merges", vocab.merges, "ARRAY", "STRING"),
        ("tokenizer.ggml.bos_token_id", vocab.bos_id, "UINT32", None),
        ("tokenizer.ggml.eos_token_id", vocab.eos_id, "UINT32", None),
        ("tokenizer.ggml.padding_token_id", vocab.pad_id, "UINT32", None),
        ("tokenizer.ggml.add_bos_token", False, "BOOL", None),
        ("tokenizer.ggml.add_space_prefix", False, "BOOL", None),
        ("tokenizer.chat_template", vocab.chat_template, "STRING", None),
    ]


_SCALAR_BYTES = {"UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "UINT32": 4, "INT32": 4, "FLOAT32": 4,
                 "UINT64": 8, "INT64": 8, "FLOAT64": 8, "BOOL": 1}


def _value_bytes(value: Any, vtype: str, item_type: str | None) -> int:
    if vtype == "STRING":
        return 8 + len(value.encode("utf-8"))
    if vtype == "ARRAY":
        assert item_type is not None
        return 4 + 8 + sum(_value_bytes(v, item_type, None) for v in value)
    return _SCALAR_BYTES[vtype]


def _metadata_nbytes(meta: _Meta, tensors: list[PlannedTensor]) -> int:
    """Bytes before the tensor data, by the GGUF v3 layout (magic, version, counts, KVs, infos)."""
    n = 4 + 4 + 8 + 8
    for key, value, vtype, item_type in meta:
        n += 8 + len(key.encode("utf-8")) + 4 + _value_bytes(value, vtype, item_type)
    for t in tensors:
        n += 8 + len(t.name.encode("utf-8")) + 4 + 8 * len(t.shape) + 4 + 8
    return _pad(n)


def plan_gguf(arch: Architecture, quant: str, *, n_ctx: int | None = None) -> GGUFPlan:
    """The tensors and exact byte size of ``synthetic_gguf(arch, quant)``, without writing anything.

    Raises :class:`UnsupportedError` for MiniMax and for quantizations not written here.
    """
    _check(arch, quant)
    tensors = _tensor_list(arch, quant)
    meta = _metadata(arch, quant, n_ctx)
    return GGUFPlan(
        gguf_arch=GGUF_ARCH[arch.family], quant=quant, tensors=tensors,
        metadata_bytes=_metadata_nbytes(meta, tensors), tensor_bytes=sum(_pad(t.nbytes) for t in tensors),
        vocab_source=synthetic_vocab(arch.vocab_size).source,
    )


def cache_key(arch: Architecture, quant: str, n_ctx: int | None = None) -> str:
    """``<family>-<hash of shape, vocabulary and format>-<quant>``: the cached file's stem."""
    facts = asdict(arch) | {"n_ctx": n_ctx, "format": FORMAT_VERSION, "vocab": synthetic_vocab(arch.vocab_size).source}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    return f"{arch.family}-{digest}-{quant}"


# ---------------------------------------------------------------------------------------------
# random blocks


def _fp16_bytes(x: float) -> bytes:
    return struct.pack("<e", x)


def _block_pool(ggml_type: str, rng: np.random.Generator) -> np.ndarray:
    """~POOL_BYTES of random blocks of ``ggml_type`` whose dequantized weights have std ~0.02."""
    import numpy as np

    per_block, block_bytes = BLOCK[ggml_type]
    if ggml_type == "F16":
        vals = (rng.standard_normal(POOL_BYTES // 2, dtype=np.float32) * TARGET_STD).astype(np.float16)
        return vals.view(np.uint8)
    n_blocks = POOL_BYTES // block_bytes
    pool = np.frombuffer(rng.bytes(n_blocks * block_bytes), dtype=np.uint8).reshape(n_blocks, block_bytes).copy()
    if ggml_type == "Q8_0":  # d (fp16) + 32 x int8: uniform int8 has std ~74
        pool[:, 0:2] = np.frombuffer(_fp16_bytes(TARGET_STD / 74.0), dtype=np.uint8)
    elif ggml_type == "Q4_0":  # d + 16 bytes of nibbles; w = d * (q - 8), std of q ~4.6
        pool[:, 0:2] = np.frombuffer(_fp16_bytes(TARGET_STD / 4.6), dtype=np.uint8)
    elif ggml_type == "Q4_1":  # d, m + nibbles; w = d * q + m, centred with m = -7.5 d
        d = TARGET_STD / 4.6
        pool[:, 0:2] = np.frombuffer(_fp16_bytes(d), dtype=np.uint8)
        pool[:, 2:4] = np.frombuffer(_fp16_bytes(-7.5 * d), dtype=np.uint8)
    elif ggml_type == "Q5_0":  # d + qh (4 bytes) + 16 bytes of nibbles; w = d * (q - 16), q in 0..31
        pool[:, 0:2] = np.frombuffer(_fp16_bytes(TARGET_STD / 9.2), dtype=np.uint8)
    elif ggml_type in ("Q4_K", "Q5_K"):
        # d, dmin (fp16), scales[12] (6-bit sub-block scales and mins), then the quants;
        # w = d * sc * q - dmin * m: every sc = m = 1, dmin centres q (0..15 or 0..31)
        levels, std_q = (16, 4.6) if ggml_type == "Q4_K" else (32, 9.2)
        d = TARGET_STD / std_q
        pool[:, 0:2] = np.frombuffer(_fp16_bytes(d), dtype=np.uint8)
        pool[:, 2:4] = np.frombuffer(_fp16_bytes(d * (levels - 1) / 2), dtype=np.uint8)
        pool[:, 4:8] = 1  # sc of sub-blocks 0-3
        pool[:, 8:12] = 1  # m of sub-blocks 0-3
        pool[:, 12:16] = 0x11  # sc (low nibble) and m (high nibble) of sub-blocks 4-7
    elif ggml_type == "Q6_K":  # ql[128] qh[64] scales[16] (int8) d (fp16); w = d * scale * (q - 32)
        pool[:, 192:208] = 1
        pool[:, 208:210] = np.frombuffer(_fp16_bytes(TARGET_STD / 18.5), dtype=np.uint8)
    else:
        raise ValueError(f"no random block pool for {ggml_type}")
    return pool.reshape(-1)


def _fill(buf: np.ndarray, pool: np.ndarray, block_bytes: int, rng: np.random.Generator) -> None:
    """Fill ``buf`` with ``pool`` tiled from a random block-aligned offset (fast memcpy)."""
    n, p = buf.size, pool.size
    start = int(rng.integers(0, p // block_bytes)) * block_bytes
    pos = 0
    while pos < n:
        chunk = min(p - start, n - pos)
        buf[pos:pos + chunk] = pool[start:start + chunk]
        pos += chunk
        start = 0


def _write(arch: Architecture, quant: str, plan: GGUFPlan, dest: Path, n_ctx: int | None, seed: int) -> None:
    import gguf
    import numpy as np

    free = shutil.disk_usage(dest.parent).free
    if free < plan.total_bytes:
        raise BackendError(
            f"not enough disk for a synthetic GGUF at {dest.parent}: needs {plan.total_bytes / 1e9:.2f} GB, "
            f"{free / 1e9:.2f} GB free"
        )
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(None, GGUF_ARCH[arch.family])
    vt = gguf.GGUFValueType
    for key, value, vtype, item_type in _metadata(arch, quant, n_ctx):
        if key in writer.kv_data[0]:
            continue  # general.architecture, added by the writer itself
        writer.add_key_value(key, value, vt[vtype], sub_type=vt[item_type] if item_type else None)
    for t in plan.tensors:
        if t.ggml_type == "F32":
            writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), t.nbytes)
        else:
            qtype = gguf.GGMLQuantizationType[t.ggml_type]
            byte_shape = (*t.shape[:-1], t.nbytes // (t.n_weights // t.shape[-1]))
            writer.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), t.nbytes, raw_dtype=qtype)

    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".partial")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        pools: dict[str, np.ndarray] = {}
        largest = max((t.nbytes for t in plan.tensors if t.ggml_type != "F32"), default=0)
        buf = np.empty(largest, dtype=np.uint8)
        for t in plan.tensors:
            if t.ggml_type == "F32":
                if t.name.endswith(".bias"):
                    data = (rng.standard_normal(t.shape, dtype=np.float32) * TARGET_STD).astype(np.float32)
                else:
                    data = np.ones(t.shape, dtype=np.float32)
                writer.write_tensor_data(data)
                continue
            if t.ggml_type not in pools:
                pools[t.ggml_type] = _block_pool(t.ggml_type, rng)
            view = buf[: t.nbytes]
            _fill(view, pools[t.ggml_type], BLOCK[t.ggml_type][1], rng)
            writer.write_tensor_data(view)
        writer.close()
        size = tmp.stat().st_size
        if size != plan.total_bytes:
            raise BackendError(f"synthetic GGUF {dest.name}: wrote {size} bytes, planned {plan.total_bytes}")
        os.replace(tmp, dest)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise


def gguf_destination(
    arch: Architecture, quant: str, *, path: str | Path | None = None, n_ctx: int | None = None
) -> Path:
    """Where :func:`synthetic_gguf` puts (or finds) the file: ``path`` itself when it names a
    file, ``path/<cache_key>.gguf`` when it is a directory, else ``cache_dir()/synthetic/``."""
    name = cache_key(arch, quant, n_ctx) + ".gguf"
    if path is None:
        from engine.weights import cache_dir

        return cache_dir() / "synthetic" / name
    p = Path(path).expanduser()
    return p / name if p.is_dir() or str(path).endswith(os.sep) else p


def is_complete(dest: Path, plan: GGUFPlan) -> bool:
    """A file at ``dest`` with exactly the planned size (writes are renamed into place when done)."""
    return dest.is_file() and dest.stat().st_size == plan.total_bytes


def synthetic_gguf(
    arch: Architecture, quant: str, *, path: str | Path | None = None, n_ctx: int | None = None, seed: int = 0
) -> Path:
    """A GGUF with ``arch``'s real tensors and random ``quant`` blocks; written once, then reused.

    ``path``: a file path, or a directory to hold ``<cache_key>.gguf``; default
    ``cache_dir()/synthetic``. An existing file is reused when its size is exactly the planned
    size (files are written under a temporary name and renamed when complete, so a crashed write
    never looks complete). ``n_ctx`` overrides the context length stored in the file. Raises
    :class:`UnsupportedError` for MiniMax and unknown quantizations, :class:`BackendError` when
    the disk is too small.
    """
    plan = plan_gguf(arch, quant, n_ctx=n_ctx)
    dest = gguf_destination(arch, quant, path=path, n_ctx=n_ctx)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_complete(dest, plan):
        return dest
    _write(arch, quant, plan, dest, n_ctx, seed)
    return dest


def describe_gguf(path: str | Path) -> dict[str, Any]:
    """What a GGUF file holds: architecture, tensor count, parameters, bytes by GGML type, sizes."""
    import gguf

    reader = gguf.GGUFReader(path)
    by_type: dict[str, int] = {}
    count_by_type: dict[str, int] = {}
    n_params = 0
    for t in reader.tensors:
        name = t.tensor_type.name
        by_type[name] = by_type.get(name, 0) + int(t.n_bytes)
        count_by_type[name] = count_by_type.get(name, 0) + 1
        n_params += int(t.n_elements)
    arch_field = reader.fields.get("general.architecture")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return {
        "path": str(path),
        "architecture": arch_field.contents() if arch_field is not None else None,
        "file_bytes": Path(path).stat().st_size,
        "data_offset": int(reader.data_offset),
        "tensor_count": len(reader.tensors),
        "n_params": n_params,
        "bytes_by_type": by_type,
        "tensors_by_type": count_by_type,
        "vocab_size": len(tokens.data) if tokens is not None else None,
    }

