"""Load a sharded safetensors checkpoint tensor by tensor, packing each MoE experts module as it completes.

``from_pretrained`` followed by packing needs every dense (bf16) expert in memory first: about
830 GiB for MiniMax-Text-01. :class:`StreamingLoader` instead

1. builds the model skeleton from the checkpoint's ``config.json`` with its parameters on the
   ``meta`` device (buffers real, computed by the modules themselves, as ``from_pretrained``
   does);
2. maps every checkpoint key to the model's names with transformers' own conversion mapping
   (:func:`transformers.conversion_mapping.get_model_conversion_mapping`): renamings such as
   MiniMax's ``block_sparse_moe`` -> ``mlp``, and the converters that fuse per-expert
   ``experts.<e>.w1/w3/w2`` tensors into ``experts.gate_up_proj`` / ``experts.down_proj``. So any
   MoE whose experts transformers fuses loads the same way, nothing here is MiniMax-specific;
3. reads the shards in order (``safetensors.safe_open``, one shard open at a time), each tensor
   cast to the compute dtype and placed on the device its decoder layer goes to;
4. calls ``on_experts(module)`` as soon as an experts module holds both its fused tensors (the
   quanto backend packs it to int8/int4 there, which frees the dense copy), and
   ``on_layer(layer, device)`` as soon as a decoder layer is complete (quanto quantizes and freezes
   its Linear layers).

Peak memory is therefore the packed model so far, plus the pieces of the one fused tensor being
collected (they span at most a layer's experts of one projection) and its fused copy: the
"host buffer" whose peak :class:`LoadProgress` reports.

Bad input raises :class:`~engine.backends.base.BackendError` naming the shard and the tensor (a
shard named by the index but absent, a tensor whose shape disagrees with the config, a read
error, a tensor the model needs that no shard holds); an allocation failure while placing raises
:class:`~engine.backends.base.OutOfMemoryError` with the memory figures taken at that moment. In
both cases the partly built model is dropped before the error leaves.

torch, transformers and safetensors are imported inside the functions only.
"""

from __future__ import annotations

import gc
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.backends.base import BackendError, OutOfMemoryError

GIB = 1024**3
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
#: "...layers.<n>." in a model name: the decoder layer a tensor belongs to
_LAYER = re.compile(r"^(.*?\blayers\.(\d+))\.")


@dataclass
class LoadProgress:
    """How far a streaming load got: shards, bytes read from disk, bytes placed per device."""

    shards_total: int = 0
    shards_done: int = 0
    tensors_read: int = 0
    bytes_read: int = 0
    placed: dict[str, int] = field(default_factory=dict)  # device -> bytes as stored now (packed after packing)
    experts_packed: int = 0
    layers_quantized: int = 0
    host_buffer_peak: int = 0  # the most bytes of pending (not yet fused) expert pieces at once
    largest_tensor: int = 0  # bytes of the largest tensor read from a shard
    seconds: float = 0.0

    def line(self) -> str:
        placed = ", ".join(f"{d} {b / GIB:.2f} GiB" for d, b in sorted(self.placed.items())) or "nothing"
        return (f"shard {self.shards_done}/{self.shards_total}, {self.bytes_read / GIB:.2f} GiB read, "
                f"placed {placed}, {self.experts_packed} experts module(s) packed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "shards": self.shards_total,
            "tensors_read": self.tensors_read,
            "gib_read": round(self.bytes_read / GIB, 3),
            "gib_placed": {d: round(b / GIB, 3) for d, b in sorted(self.placed.items())},
            "experts_modules_packed": self.experts_packed,
            "layers_quantized": self.layers_quantized,
            "host_buffer_peak_mib": round(self.host_buffer_peak / 2**20, 1),
            "largest_tensor_mib": round(self.largest_tensor / 2**20, 1),
            "seconds": round(self.seconds, 2),
        }


def checkpoint_shards(ckpt: Path) -> tuple[list[str], dict[str, str]]:
    """The shard file names of ``ckpt`` in order, and its weight map (checkpoint key -> shard)."""
    index = ckpt / INDEX
    if index.exists():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError) as e:
            raise BackendError(f"checkpoint {ckpt}: {INDEX} is unreadable ({e})") from None
        shards = sorted(set(weight_map.values()))
        return shards, dict(weight_map)
    if (ckpt / SINGLE).exists():
        from safetensors import safe_open

        with safe_open(str(ckpt / SINGLE), framework="pt") as f:
            return [SINGLE], dict.fromkeys(f.keys(), SINGLE)
    raise BackendError(f"checkpoint {ckpt}: neither {INDEX} nor {SINGLE}")


def layer_devices(n_layers: int, devices: list[str], weights: list[float] | None = None) -> list[str]:
    """Decoder layer i -> device: contiguous blocks, sized in proportion to ``weights`` (even by default)."""
    if not devices:
        raise ValueError("no device to place layers on")
    w = weights or [1.0] * len(devices)
    total = sum(w)
    out, acc = [], 0.0
    bounds = []
    for x in w:
        acc += x
        bounds.append(acc / total * n_layers)
    d = 0
    for i in range(n_layers):
        while d < len(devices) - 1 and i + 0.5 > bounds[d]:
            d += 1
        out.append(devices[d])
    return out


def dispatch_map(model: Any, layer_device: list[str], device: str) -> dict[str, str]:
    """An accelerate device map for ``model``: decoder layer i on ``layer_device[i]``, every other
    module (embeddings, final norm, rotary, LM head) on ``device``. Generic over the base model's
    attribute name: the child holding a ``layers`` ModuleList is expanded."""
    out: dict[str, str] = {}
    for name, child in model.named_children():
        layers = getattr(child, "layers", None)
        if layers is None or not hasattr(layers, "__len__"):
            out[name] = device
            continue
        for sub, _ in child.named_children():
            if sub == "layers":
                out.update({f"{name}.layers.{i}": layer_device[i] for i in range(len(layers))})
            else:
                out[f"{name}.{sub}"] = device
    return out


def _is_experts(module: Any) -> bool:
    import torch

    return all(isinstance(getattr(module, n, None), torch.Tensor) for n in ("gate_up_proj", "down_proj"))


class StreamingLoader:
    """One streaming load of ``ckpt`` (see the module docstring); :meth:`load` returns the model."""

    def __init__(self, ckpt: Path, *, dtype: Any, device: str = "cpu", layer_device: list[str] | None = None,
                 on_experts: Callable[[Any], Any] | None = None, on_layer: Callable[[Any, str], None] | None = None,
                 log: Callable[[str], None] | None = None, memory_now: Callable[[], str] | None = None,
                 attn_implementation: str | None = None, name: str = "",
                 on_progress: Callable[[LoadProgress], None] | None = None):
        self.ckpt = Path(ckpt)
        self.dtype = dtype
        self.device = device
        self.layer_device = layer_device
        self.on_experts = on_experts
        self.on_layer = on_layer
        self.log = log or (lambda _line: None)
        self.on_progress = on_progress or (lambda _p: None)  # after each shard: the session shows it
        self.memory_now = memory_now or (lambda: "no memory figures")
        self.attn_implementation = attn_implementation
        self.name = name or str(self.ckpt)
        self.progress = LoadProgress()
        self._model: Any = None
        self._pending: dict[str, Any] = {}  # fused target -> its converter copy collecting pieces
        self._pending_bytes = 0
        self._collected: dict[str, int] = {}
        self._pieces: dict[str, list[tuple[str, str, Any]]] = defaultdict(list)  # fused target -> (key, pattern, tensor)
        self._piece_shape: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = {}

    # ---- the skeleton -----------------------------------------------------------------------

    def _skeleton(self) -> Any:
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM

        try:
            config = AutoConfig.from_pretrained(str(self.ckpt))
        except (OSError, ValueError) as e:
            raise BackendError(f"{self.name}: config.json of {self.ckpt} is unreadable: {e}") from None
        extra = {"attn_implementation": self.attn_implementation} if self.attn_implementation else {}
        with init_empty_weights(include_buffers=False):
            model = AutoModelForCausalLM.from_config(config, dtype=self.dtype, **extra)
        return model

    def _device_of(self, name: str) -> str:
        m = _LAYER.match(name)
        if m and self.layer_device is not None:
            i = int(m.group(2))
            if i < len(self.layer_device):
                return self.layer_device[i]
        return self.device

    # ---- loading ----------------------------------------------------------------------------

    def load(self) -> Any:
        try:
            return self._load()
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        """Free whatever was placed (the model is not handed out)."""
        self._model = None
        self._pending = {}
        self._pieces = defaultdict(list)
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover - freeing is best effort
            pass

    def _load(self) -> Any:
        import torch
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

        t0 = time.perf_counter()
        _fix_mmap_threshold()
        shards, weight_map = checkpoint_shards(self.ckpt)
        for shard in shards:
            if not (self.ckpt / shard).exists():
                first = next(k for k, v in weight_map.items() if v == shard)
                raise BackendError(f"{self.name}: shard {shard} of {self.ckpt} is missing (it holds {first}, ...)")
        model = self._model = self._skeleton()
        expected = {n: tuple(t.shape) for n, t in [*model.named_parameters(), *model.named_buffers()]}
        meta_names = {n for n, t in model.named_parameters() if t.is_meta}
        transforms = get_model_conversion_mapping(model)
        renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
        converters = [t for t in transforms if isinstance(t, WeightConverter)]
        prefix = getattr(model, "base_model_prefix", None)
        meta_sd = dict.fromkeys(expected, True)

        # first pass, names only: where each checkpoint key goes, how many keys feed each fused target
        route: dict[str, tuple[str, str | None, Any]] = {}
        feeds: dict[str, int] = defaultdict(int)
        for key in weight_map:
            target, pattern = rename_source_key(key, renamings, converters, prefix, meta_sd)
            conv = None
            if pattern is not None:
                conv = next(c for c in converters if pattern in c.source_patterns)
                feeds[target] += 1
            route[key] = (target, pattern, conv)
        targets = {t for t, _, _ in route.values()}
        missing = sorted(n for n in meta_names if n not in targets)
        if missing:
            raise BackendError(f"{self.name}: no shard of {self.ckpt} holds {missing[0]}"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))

        # what each unit still waits for: experts modules (their fused tensors), decoder layers (every parameter)
        experts_left: dict[str, set[str]] = {}
        for mname, module in model.named_modules():
            if mname and _is_experts(module):
                experts_left[mname] = {f"{mname}.{p}" for p, _ in module.named_parameters(recurse=False)}
        layer_left: dict[str, set[str]] = defaultdict(set)
        for n in meta_names:
            m = _LAYER.match(n)
            if m:
                layer_left[m.group(1)].add(n)

        self.progress = LoadProgress(shards_total=len(shards))
        self._pending, self._pending_bytes, self._collected, self._piece_shape = {}, 0, {}, {}
        self._pieces = defaultdict(list)
        by_shard: dict[str, list[str]] = defaultdict(list)
        for key, shard in weight_map.items():
            by_shard[shard].append(key)
        self.log(f"streaming {self.ckpt}: {len(shards)} shard(s), {len(weight_map)} tensors")
        for shard in shards:
            path = self.ckpt / shard
            key = "(its header)"
            try:
                with ShardReader(path) as f:
                    for key in by_shard[shard]:
                        if key not in f.entries:
                            raise BackendError(f"{self.name}: shard {shard} lacks {key}, which the index puts there")
                        tensor = f.read(key)
                        self._take(model, shard, key, tensor, route[key], feeds, expected,
                                   experts_left, layer_left)
                        del tensor
            except (BackendError, OutOfMemoryError):
                raise
            except BaseException as e:
                if _is_oom(e):
                    figures = self.memory_now()
                    raise OutOfMemoryError(f"{self.name}: out of memory while placing {key} from {shard}: {figures}") from None
                if isinstance(e, (OSError, RuntimeError, ValueError, TypeError, KeyError)):
                    raise BackendError(f"{self.name}: reading {key} from shard {shard} failed: {_one_line(e)}") from None
                raise
            _trim()  # the shard's dense pieces were freed: hand the heap pages back before the next one
            self.progress.shards_done += 1
            self.progress.placed = _placed_bytes(model)
            self.log(f"loading: {self.progress.line()}")
            self.on_progress(self.progress)
        if self._pending:
            target = next(iter(self._pending))
            raise BackendError(f"{self.name}: {target} got only part of its pieces from {self.ckpt}")
        left = [n for n, t in model.named_parameters() if t.is_meta]
        if left:
            raise BackendError(f"{self.name}: no shard of {self.ckpt} filled {left[0]}")
        # buffers the checkpoint does not hold (rotary inv_freq, ...) follow their layer's device
        for mname, module in model.named_modules():
            for bname, buf in list(module._buffers.items()):
                if buf is None:
                    continue
                want = torch.device(self._device_of(f"{mname}.{bname}" if mname else bname))
                if buf.device != want:
                    module._buffers[bname] = buf.to(want)
        if getattr(model.config, "tie_word_embeddings", False):
            model.tie_weights()
        self.progress.seconds = time.perf_counter() - t0
        self.progress.placed = _placed_bytes(model)
        self.log(f"loaded: {self.progress.line()} in {self.progress.seconds:.1f} s")
        model.eval()
        self._model = None
        return model

    def _take(self, model: Any, shard: str, key: str, tensor: Any, route: tuple[str, str | None, Any],
              feeds: dict[str, int], expected: dict[str, tuple[int, ...]], experts_left: dict[str, set[str]],
              layer_left: dict[str, set[str]]) -> None:
        import copy

        p = self.progress
        nbytes = tensor.numel() * tensor.element_size()
        p.tensors_read += 1
        p.bytes_read += nbytes
        p.largest_tensor = max(p.largest_tensor, nbytes)
        target, pattern, conv = route
        if pattern is None:
            ready = {target: tensor}
        else:
            pend = self._pending.get(target)
            if pend is None:
                pend = self._pending[target] = copy.deepcopy(conv)
                self._collected[target] = 0
            first = self._piece_shape.setdefault((target, pattern), (key, tuple(tensor.shape)))
            if first[1] != tuple(tensor.shape):
                raise BackendError(f"{self.name}: shard {shard}: {key} has shape {list(tensor.shape)}, the other pieces "
                                   f"of {target} have {list(first[1])} (as {first[0]})")
            self._pieces[target].append((key, pattern, tensor))
            self._collected[target] += 1
            self._pending_bytes += nbytes
            p.host_buffer_peak = max(p.host_buffer_peak, self._pending_bytes)
            if self._collected[target] < feeds[target]:
                return
            # the pieces go to the converter in the order from_pretrained gives them: checkpoint
            # names sorted naturally (experts.2 before experts.10), not the order the shards
            # hold them in (an index sorts names as strings: experts.10 before experts.2), so
            # the fused tensor stacks the experts in the router's order
            for k, pat, t in sorted(self._pieces.pop(target), key=lambda piece: natural_key(piece[0])):
                pend.add_tensor(target, k, pat, _Ready(t))
            del self._pending[target], self._collected[target]
            try:
                ready = pend.convert(target, model=model, config=model.config)
            except (RuntimeError, ValueError) as e:
                if _is_oom(e):
                    raise
                raise BackendError(f"{self.name}: shard {shard}: fusing {target} (last piece {key}) failed: {_one_line(e)}") from None
            self._pending_bytes = sum(t.numel() * t.element_size() for pieces in self._pieces.values() for _, _, t in pieces)
            del pend
        for name, t in ready.items():
            self._place(model, shard, key, name, t, expected)
            m = _LAYER.match(name)
            for mname, left in list(experts_left.items()):
                if name in left:
                    left.discard(name)
                    if not left:
                        del experts_left[mname]
                        if self.on_experts is not None:  # gets the parent: packers replace children
                            parent = mname.rpartition(".")[0]
                            self.on_experts(model.get_submodule(parent) if parent else model)
                            p.experts_packed += 1
            if m and m.group(1) in layer_left:
                layer_left[m.group(1)].discard(name)
                if not layer_left[m.group(1)]:
                    del layer_left[m.group(1)]
                    if self.on_layer is not None:
                        self.on_layer(model.get_submodule(m.group(1)), self._device_of(name))
                        p.layers_quantized += 1

    def _place(self, model: Any, shard: str, key: str, name: str, tensor: Any, expected: dict[str, tuple[int, ...]]) -> None:
        import torch

        want = expected.get(name)
        if want is None:
            raise BackendError(f"{self.name}: shard {shard}: {key} maps to {name}, which the model (config.json) has not")
        if tuple(tensor.shape) != want:
            raise BackendError(f"{self.name}: shard {shard}: {key} has shape {list(tensor.shape)}, the config wants "
                               f"{list(want)} for {name}")
        mname, _, attr = name.rpartition(".")
        module = model.get_submodule(mname) if mname else model
        device = torch.device(self._device_of(name))
        if attr in module._parameters:
            old = module._parameters[attr]
            dtype = self.dtype if tensor.is_floating_point() else tensor.dtype
            data = tensor.to(device=device, dtype=dtype)  # read into its own memory: no copy when it stays
            module._parameters[attr] = torch.nn.Parameter(data, requires_grad=False) if old is not None else None
        else:  # a persistent buffer
            module._buffers[attr] = tensor.to(device=device)


#: safetensors dtype names -> torch dtype attribute names
_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64", "I32": "int32",
           "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn",
           "F8_E5M2": "float8_e5m2"}
#: the most a safetensors header may take (the format's own limit)
_MAX_HEADER = 100 * 2**20


class ShardReader:
    """One safetensors shard read tensor by tensor with plain reads into fresh memory.

    Not ``safe_open``: its tensors come from an mmap of the file, and every page touched stays in the
    process's RSS while any tensor of the shard lives (a kept norm weight holds the whole shard),
    which is what this loader bounds. The format is the documented one: an 8-byte little-endian
    header length, a JSON header (name -> dtype, shape, data_offsets), then the data.
    """

    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "rb")  # noqa: SIM115 - closed in __exit__
        try:
            raw = self._f.read(8)
            if len(raw) != 8:
                raise ValueError("shorter than a safetensors header")
            n = int.from_bytes(raw, "little")
            if n > _MAX_HEADER:
                raise ValueError(f"header of {n} bytes (not a safetensors file?)")
            header = json.loads(self._f.read(n))
            self._f.seek(0, 2)
            self.size = self._f.tell()
        except BaseException:
            self._f.close()
            raise
        self.data_start = 8 + n
        self.entries = {k: v for k, v in header.items() if k != "__metadata__"}

    def __enter__(self) -> ShardReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()

    def read(self, key: str) -> Any:
        import torch

        e = self.entries[key]
        begin, end = (int(x) for x in e["data_offsets"])
        dtype = getattr(torch, _DTYPES[e["dtype"]])
        shape = [int(x) for x in e["shape"]]
        if self.data_start + end > self.size:
            raise ValueError(f"file ends at byte {self.size}, the tensor at {self.data_start + end} (truncated?)")
        buf = torch.empty(end - begin, dtype=torch.uint8)
        self._f.seek(self.data_start + begin)
        if self._f.readinto(buf.numpy()) != end - begin:  # type: ignore[arg-type]
            raise ValueError("short read")
        return buf.view(dtype).reshape(shape)


class _Ready:
    """A tensor already read, shaped like the futures transformers' converters collect."""

    def __init__(self, tensor: Any):
        self._t = tensor

    def __call__(self) -> Any:
        return self._t


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A checkpoint name's sort key, part by part between dots: numbers by value (before words),
    words alphabetically (``layers.0.experts.2.w1`` before ``layers.0.experts.10.w1``)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in name.split("."))


def _placed_bytes(model: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    seen: set[int] = set()
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) in seen or t.is_meta:
            continue
        seen.add(id(t))
        out[str(t.device)] += t.numel() * t.element_size()
    return dict(out)


#: glibc's mallopt parameter number of the mmap threshold
_M_MMAP_THRESHOLD = -3


def _fix_mmap_threshold(nbytes: int = 2**20) -> None:
    """Serve every allocation of ``nbytes`` or more by its own mmap, returned to the OS when freed.

    glibc raises the threshold after each large free (up to 32 MiB), after which freed tensors
    stay in the heap: RSS would then grow with everything a shard freed, not with what is kept.
    Setting it once fixes it for the run's process (each run has its own). Not glibc: nothing.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, nbytes)
    except (OSError, AttributeError):
        pass


def _trim() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    msg = str(e)
    return type(e).__name__ == "OutOfMemoryError" or "DefaultCPUAllocator: can't allocate memory" in msg or \
        "out of memory" in msg.lower()[:200]


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__
