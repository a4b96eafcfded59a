"""optimum-quanto: int8, int4 or float8 weights, optionally int8 activations (backend id ``quanto``).

Two ways in, both recorded in ``details["quantization"]["quantizer"]``:

* weights only (the default): transformers' ``QuantoConfig`` quantizes each linear layer while
  ``from_pretrained`` loads it, so the dense model never sits in memory whole;
* ``activations = "int8"``: transformers 5.23 refuses activation quantization in ``QuantoConfig``,
  so the dense checkpoint is loaded and quanto's own ``quantize`` + ``freeze`` pack it, then a
  ``Calibration`` pass over a few Portuguese prompts sets the activation scales.

Synthetic runs quantize and freeze each decoder layer as soon as it is built. The LM head (tied to
the embeddings on small models) stays in the compute dtype, as quanto's transformers integration
does.

``quantize_experts = true`` (int8 or int4 only; default false) also packs the fused 3-D MoE expert
tensors that neither ``QuantoConfig`` nor ``quantize()`` touch (MiniMax, Mixtral, Qwen-MoE in
transformers 5.x): :mod:`engine.backends.packed_experts`, layer by layer while a synthetic model is
built, and for a checkpoint while it streams in (:mod:`engine.streaming_load`: shard by shard, each
experts module packed as soon as its fused tensors are read, each decoder layer's Linears quantized
and frozen as soon as it is complete, so the dense experts never sit in memory together).
``pack_after_load = true`` keeps the older path: ``from_pretrained`` with ``QuantoConfig``, then
packing (the experts loaded in the compute dtype first). ``details["quantization"]["experts"]``
says what was packed and the bytes before/after; ``["streaming_load"]`` the shards, GiB read,
GiB placed per device and the peak host buffer.

Which kernel a weight uses is quanto's choice at freeze time, by device, dtype and shape; the
run's ``details["kernel_path"]`` counts the weight classes it ended up with and names the matmul
each one takes. On this project's machines: int8 with bf16 activations on a CPU takes
``torch._weight_int8pack_mm`` (with fp32 activations quanto dequantizes every weight at every
matmul: ~30x slower, hence the bf16 default); int4 takes TinyGemm (``_weight_int4pack_mm``) only
for bf16 weights whose input size is a multiple of 128, and unpacks + dequantizes otherwise;
float8 needs CUDA (Marlin FP8 kernel, compiled on first use from quanto's CUDA extension).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from engine.backends.packed_experts import PACKED_QUANTS, PackStats, is_packed_experts, pack_experts
from engine.backends.torch_common import DTYPES, TORCH_SETTINGS, Placement, TorchBackend

#: quant name -> quanto qtype name
WEIGHT_QTYPES = {"int8": "qint8", "int4": "qint4", "float8": "qfloat8"}
ACTIVATIONS = ("none", "int8")
#: float8 runs only where the GPU has FP8 (compute capability 8.9: Ada, Hopper and later)
FLOAT8_MIN_CAPABILITY = (8, 9)
CALIBRATION_PROMPTS = [
    "Quanto é 12 + 30? Responda com a letra em \\boxed{}.",
    "Um triângulo tem lados 3, 4 e 5. Qual é a sua área?",
    "Resolva a equação 2x + 7 = 19 e explique cada passo.",
]

#: how each quanto weight class multiplies, by device type
_MATMUL = {
    "WeightQBytesTensor": {
        "cpu": "torch._weight_int8pack_mm with bf16 activations, else dequantize + matmul",
        "cuda": "dequantize + matmul (torch._int_mm with int8 activations and > 16 tokens)",
    },
    "MarlinF8QBytesTensor": {"cuda": "Marlin FP8 GEMM (quanto_cuda extension)"},
    "TinyGemmWeightQBitsTensor": {"cpu": "torch._weight_int4pack_mm_for_cpu (TinyGemm)", "cuda": "torch._weight_int4pack_mm (TinyGemm)"},
    "AWQWeightQBitsTensor": {"cuda": "AWQ int4 GEMM/GEMV (quanto_cuda extension)"},
    "MarlinInt4WeightQBitsTensor": {"cuda": "Marlin int4 GEMM (quanto_cuda extension)"},
    "WeightQBitsTensor": {"cpu": "unpack + dequantize + matmul", "cuda": "unpack + dequantize + matmul"},
}


class QuantoBackend(TorchBackend):
    id = "quanto"
    LIBRARIES = ("torch", "transformers", "accelerate", "optimum-quanto")
    REQUIRES = ("torch", "transformers", "accelerate", "optimum.quanto")
    DISTRIBUTION = "optimum-quanto"
    EXTRA = "quanto"
    SETTINGS: ClassVar[dict[str, Any]] = {
        **TORCH_SETTINGS,
        "compute_dtype": str,  # bf16 (default) | fp16 | fp32: activations and unquantized weights
        "activations": str,  # none (default) | int8 (quanto quantize + calibration)
        "quantize_experts": bool,  # pack fused 3-D MoE experts too (int8/int4; default false: they stay bf16)
        "pack_after_load": bool,  # with quantize_experts on a checkpoint: from_pretrained, then pack (needs the dense experts)
    }

    def __init__(self, run: Any, model: Any, *, cache_dir: str | None = None):
        super().__init__(run, model, cache_dir=cache_dir)
        self._expert_stats: PackStats | None = None
        self._stream_progress: dict[str, Any] | None = None

    def compute_dtype(self) -> str:
        return self.choice("compute_dtype", tuple(DTYPES), "bf16")

    def _activations(self) -> str:
        return self.choice("activations", ACTIVATIONS, "none")

    def _quantize_experts(self) -> bool:
        return bool(self.run.settings.get("quantize_experts", False))

    def _pack_experts(self, module: Any) -> None:
        if self._expert_stats is None:
            self._expert_stats = PackStats(self.run.quant)
        pack_experts(module, self.run.quant, self._expert_stats)

    def _qtypes(self) -> tuple[Any, Any]:
        from optimum.quanto import qtypes

        act = self._activations()
        return qtypes[WEIGHT_QTYPES[self.run.quant]], (qtypes["qint8"] if act == "int8" else None)

    def check_supported(self, placement: Placement) -> None:
        quant = self.run.quant
        if quant not in WEIGHT_QTYPES:
            raise self.unsupported(placement.label, f"quant {quant!r} is not a quanto weight type (int8, int4, float8)")
        try:
            import optimum.quanto  # noqa: F401
        except ImportError as e:
            raise self.unsupported(placement.label, f"optimum-quanto is not installed ({e}); pip install 'quantarena[quanto]'") from None
        self._activations()
        if self._quantize_experts() and quant not in PACKED_QUANTS:
            raise self.unsupported(
                placement.label, f"quantize_experts packs MoE experts as {' or '.join(PACKED_QUANTS)} only, not {quant}"
            )
        if quant == "float8":
            if not placement.is_cuda:
                raise self.unsupported(
                    placement.label,
                    "float8 weights need a GPU with FP8 (compute capability >= 8.9); quanto has no float8 kernel on the CPU",
                )
            torch = self._torch
            for g in placement.gpus:
                cap = torch.cuda.get_device_capability(g)
                if cap < FLOAT8_MIN_CAPABILITY:
                    raise self.unsupported(
                        f"cuda:{g}", f"{torch.cuda.get_device_name(g)} (compute capability {cap[0]}.{cap[1]}) has no FP8; needs >= 8.9"
                    )
        if placement.label == "cpu" and self.compute_dtype() == "fp32":
            self.notes.append("quanto with fp32 activations on CPU has no packed kernel: every matmul dequantizes its weight (slow)")

    def quantization_config(self) -> Any:
        if self._activations() != "none":
            return None  # quantized after loading, with calibration (transformers refuses activations)
        from transformers import QuantoConfig

        return QuantoConfig(weights=self.run.quant)

    def layer_quantizer(self) -> Any:
        from optimum.quanto import freeze, quantize

        weights, activations = self._qtypes()

        experts = self._quantize_experts()

        def pack(layer: Any, device: str) -> None:
            if experts:  # first: the layer's dense experts are freed before quanto packs its Linears
                self._pack_experts(layer)
            quantize(layer, weights=weights, activations=activations)
            freeze(layer)

        return pack

    def _streams(self) -> bool:
        """A checkpoint with quantize_experts (weights-only) loads through the streaming packer."""
        return self._quantize_experts() and not self.run.synthetic and self._activations() == "none" \
            and not self.run.settings.get("pack_after_load", False)

    def _load_checkpoint(self, placement: Placement) -> tuple[Any, Any, str]:
        if not self._streams():
            return super()._load_checkpoint(placement)
        from transformers import AutoTokenizer

        from engine.checkpoints import dense_checkpoint
        from engine.streaming_load import StreamingLoader, dispatch_map, layer_devices

        ckpt = dense_checkpoint(self.model)
        layer_device = None
        if placement.multi_gpu:
            mm = self._max_memory() or {}
            weights = [float(_bytes(mm.get(g, 1))) for g in placement.gpus]
            layer_device = layer_devices(self.model.arch.layers or _config_layers(ckpt), [f"cuda:{g}" for g in placement.gpus], weights)
            self.notes.append(f"streaming load: decoder layers split over cuda:{','.join(map(str, placement.gpus))} "
                              "in proportion to max_memory")
        def on_layer(layer: Any, device: str) -> None:
            from optimum.quanto import freeze, quantize

            w, a = self._qtypes()
            quantize(layer, weights=w, activations=a)
            freeze(layer)

        loader = StreamingLoader(
            ckpt, dtype=self._dtype, device=placement.device, layer_device=layer_device,
            on_experts=self._pack_experts, on_layer=on_layer, log=_log_line, memory_now=self.memory_now,
            attn_implementation=self.run.settings.get("attn_implementation"), name=self.run.name,
            on_progress=lambda p: self.report_load(
                "reading shards", fraction=p.shards_done / p.shards_total if p.shards_total else None, bytes_read=p.bytes_read,
                bytes_placed=p.placed, step=f"shard {p.shards_done}/{p.shards_total}"),
        )
        model = loader.load()
        self._stream_progress = loader.progress.to_dict()
        if layer_device is not None:
            from accelerate import dispatch_model

            model = dispatch_model(model, device_map=dispatch_map(model, layer_device, placement.device))
        tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
        self._apply_chat_template_source(tokenizer)
        return model, tokenizer, str(ckpt)

    def after_load(self, model: Any, placement: Placement) -> Any:
        if self._quantize_experts() and not self.run.synthetic and not self._streams():
            self._pack_experts(model)  # one experts module at a time, on the device it was loaded to
        if self._quantize_experts():
            stats = self._expert_stats
            if stats is None or not stats.modules:
                self.notes.append("quantize_experts: this model has no fused MoE experts module to pack")
            if stats is not None and stats.skipped:
                self.notes.append(f"quantize_experts: {len(stats.skipped)} experts module(s) left unpacked: {stats.skipped[0]}")
            if self._activations() == "int8":
                self.notes.append("quantize_experts: packed experts take activations in the compute dtype (no int8 activations)")
        if self._activations() == "none":
            return model
        from optimum.quanto import Calibration, freeze, quantize

        if not self.run.synthetic:
            weights, activations = self._qtypes()
            quantize(model, weights=weights, activations=activations, exclude=["lm_head"])
            freeze(model)
        torch = self._torch
        device = model.get_input_embeddings().weight.device
        with torch.no_grad(), Calibration(momentum=0.9):
            for prompt in CALIBRATION_PROMPTS:
                ids = self.render_prompt([{"role": "user", "content": prompt}])
                model(input_ids=torch.tensor([ids], device=device))
        return model

    def quantization_details(self) -> dict[str, Any]:
        act = self._activations()
        if self.run.synthetic:
            quantizer = "optimum.quanto quantize + freeze, layer by layer while building"
        elif self._streams():
            quantizer = "optimum.quanto quantize + freeze per decoder layer, while streaming the shards (engine.streaming_load)"
        elif act == "none":
            quantizer = "transformers QuantoConfig (quantized while loading)"
        else:
            quantizer = "optimum.quanto quantize + freeze after loading (transformers refuses activations)"
        d: dict[str, Any] = {
            "method": "optimum-quanto",
            "weights": WEIGHT_QTYPES[self.run.quant],
            "activations": "qint8" if act == "int8" else None,
            "compute_dtype": self.compute_dtype(),
            "quantizer": quantizer,
            "not_quantized": ["lm_head", "embeddings", "norms"],
        }
        if act == "int8":
            d["calibration"] = f"{len(CALIBRATION_PROMPTS)} prompts, momentum 0.9"
        if self._quantize_experts():
            stats = self._expert_stats or PackStats(self.run.quant)
            d["experts"] = stats.to_dict() | {
                "packer": "engine.backends.packed_experts (quantize_experts = true)",
                "when": "each decoder layer as it is built" if self.run.synthetic else
                        "while loading: each experts module as soon as its fused tensors are read, shard by shard"
                        if self._streams() else
                        "after from_pretrained, one experts module at a time (loaded in the compute dtype first)",
            }
            if self._stream_progress is not None:
                d["streaming_load"] = self._stream_progress
        elif self.model.arch.is_moe:
            d["not_quantized"].append("MoE experts (fused 3-D parameters; quantize_experts = true packs them)")
        return d

    def kernel_path(self, model: Any, placement: Placement) -> dict[str, Any]:
        classes: Counter[str] = Counter()
        act_classes: Counter[str] = Counter()
        for m in model.modules():
            w = getattr(m, "weight", None)
            if w is not None and type(w).__name__ not in ("Parameter", "Tensor"):
                classes[type(w).__name__] += 1
            if getattr(m, "activation_qtype", None) is not None:
                act_classes[str(m.activation_qtype)] += 1
        dev = "cuda" if placement.is_cuda else "cpu"
        matmul = {c: _MATMUL.get(c, {}).get(dev, "unknown") for c in classes}
        if act_classes and "WeightQBytesTensor" in matmul:
            matmul["WeightQBytesTensor"] = "int8 activations x int8 weights: torch._int_mm" + (" (> 16 tokens, else dequantize + matmul)" if dev == "cuda" else "")
        packed = sum(1 for m in model.modules() if is_packed_experts(m))
        if packed:
            classes[f"PackedExperts ({self.run.quant})"] = packed
            matmul[f"PackedExperts ({self.run.quant})"] = (
                "per routed expert: dequantize its rows to the compute dtype, then F.linear (eager loop over the experts hit)"
            )
        return {
            "weight_classes": dict(classes),
            "matmul": matmul,
            "activation_qtypes": dict(act_classes) or None,
            "extensions": _extension_state(),
        }


def _log_line(line: str) -> None:
    """A progress line in the run's log (the run process's stderr is its log file)."""
    import sys

    print(f"quantarena: {line}", file=sys.stderr, flush=True)


def _bytes(v: Any) -> int:
    """A max_memory value (bytes, or "70GiB" / "80GB") in bytes."""
    if isinstance(v, (int, float)):
        return int(v)
    m = str(v).strip().upper()
    for suffix, mult in (("GIB", 2**30), ("MIB", 2**20), ("GB", 10**9), ("MB", 10**6)):
        if m.endswith(suffix):
            return int(float(m[: -len(suffix)]) * mult)
    return int(float(m))


def _config_layers(ckpt: Any) -> int:
    import json
    from pathlib import Path

    return int(json.loads((Path(ckpt) / "config.json").read_text())["num_hidden_layers"])


def _extension_state() -> dict[str, str]:
    """quanto's C++/CUDA extensions: registered here, and whether this process built/loaded them."""
    try:
        from optimum.quanto.library.extensions import extension as ext
    except ImportError:
        return {}
    out = {}
    for name, e in getattr(ext, "_extensions", {}).items():
        out[name] = "loaded" if getattr(e, "_lib", None) is not None else "registered, not loaded (unused so far)"
    return out
