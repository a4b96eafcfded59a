"""torchao: PyTorch-native int8/int4/float8 weight quantization (backend id ``torchao``).

torchao is the quantization library current PyTorch LLM stacks use (gpt-fast, torchtune, vLLM's
torchao path). ``quantize_(model, config)`` swaps each ``nn.Linear`` weight for a tensor subclass
whose matmul runs torchao's kernel:

* ``int8``: ``Int8WeightOnlyConfig`` — int8 weights, one scale per output row;
* ``int4``: ``Int4WeightOnlyConfig(group_size=128)`` packed ``tile_packed_to_4d`` for the TinyGemm
  CUDA kernel (bf16 activations); torchao 0.18 has no CPU kernel for it (``unsupported``);
* ``float8``: ``Float8WeightOnlyConfig`` — e4m3 weights, one scale per row; needs a GPU with FP8
  (compute capability >= 8.9: H100/H200).

It is made for ``torch.compile`` (``compile = true``) and runs in CUDA graphs (``graphs = true``).
Real runs load the dense checkpoint through transformers' ``TorchAoConfig`` (each Linear quantized
as it loads); synthetic runs quantize each decoder layer as it is built. The LM head and embeddings stay in the compute dtype, as for the
other backends. ``group_size`` (int4: 32, 64, 128 or 256) is a setting.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from engine.backends.torch_common import DTYPES, TORCH_SETTINGS, Placement, TorchBackend

QUANTS = ("int8", "int4", "float8")
FLOAT8_MIN_CAPABILITY = (8, 9)
INT4_GROUP_SIZES = (32, 64, 128, 256)


def _not_lm_head(module: Any, fqn: str) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear) and not fqn.endswith("lm_head")


class TorchAOBackend(TorchBackend):
    id = "torchao"
    LIBRARIES = ("torch", "transformers", "accelerate", "torchao")
    REQUIRES = ("torch", "transformers", "accelerate", "torchao")
    DISTRIBUTION = "torchao"
    EXTRA = "torchao"
    SETTINGS: ClassVar[dict[str, Any]] = {
        **TORCH_SETTINGS,
        "compute_dtype": str,  # bf16 (default) | fp16 | fp32 (int4 TinyGemm needs bf16)
        "group_size": int,  # int4: weights per scale/zero group (default 128)
    }

    def compute_dtype(self) -> str:
        return self.choice("compute_dtype", tuple(DTYPES), "bf16")

    def _group_size(self) -> int:
        g = int(self.run.settings.get("group_size", 128))
        if g not in INT4_GROUP_SIZES:
            raise self.unsupported(self.run.device, f"group_size must be one of {', '.join(map(str, INT4_GROUP_SIZES))}, got {g}")
        return g

    def check_supported(self, placement: Placement) -> None:
        quant = self.run.quant
        if quant not in QUANTS:
            raise self.unsupported(placement.label, f"quant {quant!r} is not a torchao scheme here (int8, int4, float8)")
        try:
            import torchao  # noqa: F401
        except Exception as e:  # ImportError, or a build that does not match this torch
            raise self.unsupported(placement.label, f"torchao cannot be imported ({type(e).__name__}: {e}); pip install 'quantarena[torchao]'") from None
        torch = self._torch
        if quant == "int4":
            self._group_size()
            if not placement.is_cuda:
                raise self.unsupported(placement.label, "torchao int4 weight-only has no CPU kernel in this build (TinyGemm is CUDA-only)")
            if self.compute_dtype() != "bf16":
                raise self.unsupported(placement.label, "torchao int4 (TinyGemm) needs bf16 activations (compute_dtype = \"bf16\")")
        if quant == "float8":
            if not placement.is_cuda:
                raise self.unsupported(placement.label, "float8 weights need a GPU with FP8 (compute capability >= 8.9)")
            for g in placement.gpus:
                cap = torch.cuda.get_device_capability(g)
                if cap < FLOAT8_MIN_CAPABILITY:
                    raise self.unsupported(
                        f"cuda:{g}", f"{torch.cuda.get_device_name(g)} (compute capability {cap[0]}.{cap[1]}) has no FP8; needs >= 8.9"
                    )

    def _config(self) -> Any:
        from torchao.quantization import Float8WeightOnlyConfig, Int4WeightOnlyConfig, Int8WeightOnlyConfig

        if self.run.quant == "int8":
            return Int8WeightOnlyConfig()
        if self.run.quant == "int4":
            return Int4WeightOnlyConfig(group_size=self._group_size(), int4_packing_format="tile_packed_to_4d")
        return Float8WeightOnlyConfig()

    def layer_quantizer(self) -> Any:
        from torchao.quantization import quantize_

        config = self._config()

        def pack(layer: Any, device: str) -> None:
            quantize_(layer, config, filter_fn=_not_lm_head, device=device)

        return pack

    def quantization_config(self) -> Any:
        """Real checkpoints: transformers' TorchAoConfig quantizes each Linear as it loads."""
        from transformers import TorchAoConfig

        return TorchAoConfig(quant_type=self._config(), modules_to_not_convert=["lm_head"])

    def quantization_details(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": "torchao", "compute_dtype": self.compute_dtype()}
        if self.run.quant == "int8":
            d["scheme"] = "int8 weight-only, per output row (Int8WeightOnlyConfig)"
        elif self.run.quant == "int4":
            d["scheme"] = f"int4 weight-only, group {self._group_size()}, tile_packed_to_4d (TinyGemm)"
        else:
            d["scheme"] = "float8 e4m3 weight-only, per row (Float8WeightOnlyConfig)"
        d["quantizer"] = "torchao quantize_, layer by layer while building" if self.run.synthetic else "transformers TorchAoConfig (quantized while loading)"
        d["not_quantized"] = ["lm_head", "embeddings", "norms"]
        return d

    def kernel_path(self, model: Any, placement: Placement) -> dict[str, Any]:
        import torchao

        kinds: Counter[str] = Counter()
        for m in model.modules():
            w = getattr(m, "weight", None)
            if w is not None and type(m).__name__ == "Linear":
                kinds[type(w).__name__] += 1
        out: dict[str, Any] = {"torchao": torchao.__version__, "weight_tensors": dict(kinds)}
        compiled = bool(self.run.settings.get("compile"))
        if self.run.quant == "int4":
            out["matmul"] = "TinyGemm int4 (aten._weight_int4pack_mm)"
        elif self.run.quant == "int8":
            out["matmul"] = ("int8 weight cast to the compute dtype and scaled inside torch.mm: "
                             + ("fused into the matmul by inductor (compiled)" if compiled else "a full-size cast per weight per step (eager)"))
        else:
            out["matmul"] = "float8 weight dequantized, then a bf16 matmul" + (" (fused by inductor)" if compiled else " (eager)")
        return out
