"""bitsandbytes: LLM.int8 and 4-bit NF4/FP4 weights (backend id ``bitsandbytes``).

Real runs pass transformers' ``BitsAndBytesConfig`` to ``from_pretrained`` (each linear layer is
quantized as it loads); synthetic runs swap each freshly built decoder layer's ``nn.Linear``
modules for ``Linear8bitLt`` / ``Linear4bit`` and quantize them on the spot. The LM head stays in
the compute dtype (transformers' default).

Settings: ``llm_int8_threshold`` (int8 outlier threshold, default 6.0; 0 disables the fp16
outlier path), ``double_quant`` (4-bit: quantize the absmax statistics too, default true),
``compute_dtype`` (bf16 default | fp16 | fp32: activations, 4-bit matmul dtype and every weight
left unquantized).

bitsandbytes 0.50 runs on the CPU too: its native CPU library does the blockwise (de)quantization;
int8 matmuls take ``torch._int_mm`` where torch reports AVX-512, 4-bit matmuls a packed AVX-512-BF16
kernel where the CPU has it and dequantize + matmul otherwise. ``details["kernel_path"]`` records
which, and which native library loaded. A build with no usable native library for a GPU is
reported as unsupported.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, ClassVar

from engine.backends.torch_common import DTYPES, TORCH_SETTINGS, Placement, TorchBackend

QUANTS = ("int8", "nf4", "fp4")
#: the first bitsandbytes with a CPU backend for 8-bit and 4-bit
MIN_CPU_VERSION = (0, 45)


class BitsAndBytesBackend(TorchBackend):
    id = "bitsandbytes"
    LIBRARIES = ("torch", "transformers", "accelerate", "bitsandbytes")
    REQUIRES = ("torch", "transformers", "accelerate", "bitsandbytes")
    DISTRIBUTION = "bitsandbytes"
    EXTRA = "bitsandbytes"
    SETTINGS: ClassVar[dict[str, Any]] = {
        **TORCH_SETTINGS,
        "compute_dtype": str,  # bf16 (default) | fp16 | fp32
        "double_quant": bool,  # 4-bit: nested quantization of the statistics (default true)
        "llm_int8_threshold": (int, float),  # int8: outlier threshold (default 6.0)
    }

    def compute_dtype(self) -> str:
        return self.choice("compute_dtype", tuple(DTYPES), "bf16")

    def _threshold(self) -> float:
        return float(self.run.settings.get("llm_int8_threshold", 6.0))

    def _double_quant(self) -> bool:
        return bool(self.run.settings.get("double_quant", True))

    def check_supported(self, placement: Placement) -> None:
        quant = self.run.quant
        # bitsandbytes logs "MatMul8bitLt: inputs will be cast ... to float16" at every int8 matmul
        # with bf16/fp32 activations; the cast is recorded once in the details instead
        logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
        if quant == "int8" and self.compute_dtype() != "fp16":
            self.notes.append(f"LLM.int8 casts {self.compute_dtype()} activations to fp16 to quantize them (bitsandbytes)")
        if quant not in QUANTS:
            raise self.unsupported(placement.label, f"quant {quant!r} is not a bitsandbytes type (int8, nf4, fp4)")
        try:
            import bitsandbytes as bnb
            from bitsandbytes import cextension
        except Exception as e:  # ImportError, or a broken native library raising at import
            raise self.unsupported(placement.label, f"bitsandbytes cannot be imported ({type(e).__name__}: {e})") from None
        native_missing = type(cextension.lib).__name__ == "ErrorHandlerMockBNBNativeLibrary"
        if placement.is_cuda:
            if native_missing:
                why = getattr(cextension.lib, "formatted_error", "") or "no native library"
                first = next((ln.strip() for ln in str(why).splitlines() if ln.strip()), "no native library")
                raise self.unsupported(placement.label, f"bitsandbytes {bnb.__version__} has no usable CUDA library: {first}")
        else:
            version = tuple(int(x) for x in bnb.__version__.split(".")[:2] if x.isdigit())
            if version < MIN_CPU_VERSION:
                raise self.unsupported(
                    placement.label, f"bitsandbytes {bnb.__version__} has no CPU backend (needs >= {'.'.join(map(str, MIN_CPU_VERSION))})"
                )
            if native_missing:
                self.notes.append("bitsandbytes CPU native library not loaded: pure-torch fallbacks")

    def quantization_config(self) -> Any:
        from transformers import BitsAndBytesConfig

        if self.run.quant == "int8":
            return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=self._threshold())
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.run.quant,
            bnb_4bit_use_double_quant=self._double_quant(),
            bnb_4bit_compute_dtype=self.torch_dtype(),
        )

    def layer_quantizer(self) -> Any:
        import bitsandbytes as bnb
        import torch

        quant = self.run.quant
        threshold, double_quant, compute = self._threshold(), self._double_quant(), self.torch_dtype()

        def swap(lin: Any, device: str) -> Any:
            bias = lin.bias is not None
            new: Any
            if quant == "int8":
                new = bnb.nn.Linear8bitLt(
                    lin.in_features, lin.out_features, bias=bias, has_fp16_weights=False, threshold=threshold, device="meta"
                )
                new.weight = bnb.nn.Int8Params(lin.weight.data, requires_grad=False, has_fp16_weights=False)._quantize(device)
            else:
                new = bnb.nn.Linear4bit(
                    lin.in_features, lin.out_features, bias=bias, compute_dtype=compute,
                    compress_statistics=double_quant, quant_type=quant, device="meta",
                )
                new.weight = bnb.nn.Params4bit(
                    lin.weight.data, requires_grad=False, compress_statistics=double_quant, quant_type=quant, module=new
                )._quantize(device)
            if bias:
                new.bias = torch.nn.Parameter(lin.bias.data, requires_grad=False)
            return new

        def pack(layer: Any, device: str) -> None:
            targets = [(name, m) for name, m in layer.named_modules() if type(m) is torch.nn.Linear]
            for name, lin in targets:
                parent_name, _, child = name.rpartition(".")
                parent = layer.get_submodule(parent_name) if parent_name else layer
                setattr(parent, child, swap(lin, device))
                del lin

        return pack

    def quantization_details(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": "bitsandbytes", "compute_dtype": self.compute_dtype()}
        if self.run.quant == "int8":
            d.update(scheme="LLM.int8 (row-wise absmax int8, fp16 outlier columns)", llm_int8_threshold=self._threshold())
        else:
            d.update(scheme=f"4-bit {self.run.quant} blockwise (blocksize 64)", double_quant=self._double_quant())
        d["quantizer"] = (
            "bitsandbytes Linear swap, layer by layer while building" if self.run.synthetic
            else "transformers BitsAndBytesConfig (quantized while loading)"
        )
        d["not_quantized"] = ["lm_head", "embeddings", "norms"]
        return d

    def kernel_path(self, model: Any, placement: Placement) -> dict[str, Any]:
        import bitsandbytes as bnb
        import torch
        from bitsandbytes import cextension

        linear: Counter[str] = Counter(type(m).__name__ for m in model.modules() if type(m).__name__ in ("Linear8bitLt", "Linear4bit"))
        lib = cextension.lib
        dll = getattr(lib, "_lib", None)
        out: dict[str, Any] = {
            "bitsandbytes": bnb.__version__,
            "bnb_backend": cextension.BNB_BACKEND,
            "native_library": getattr(dll, "_name", None) or type(lib).__name__,
            "linear_classes": dict(linear),
        }
        if placement.is_cuda:
            out["matmul"] = "int8: bitsandbytes CUDA int8 matmul (LLM.int8)" if self.run.quant == "int8" else "4-bit: bitsandbytes CUDA gemv_4bit (1 token) / dequantize + matmul"
            return out
        avx512 = torch.backends.cpu.get_cpu_capability() == "AVX512"
        if self.run.quant == "int8":
            out["matmul"] = "torch._int_mm (AVX-512)" if avx512 else "dequantize + matmul (no AVX-512: torch._int_mm would be scalar)"
        else:
            packed = any(getattr(getattr(m.weight, "quant_state", None), "packing_format_for_cpu", False)
                         for m in model.modules() if type(m).__name__ == "Linear4bit")
            out["matmul"] = (
                "gemv_4bit on AVX-512-BF16 packed weights" if packed
                else "dequantize_4bit (native CPU library) + matmul (no AVX-512-BF16)"
            )
        try:
            from bitsandbytes.functional import has_avx512bf16

            out["cpu_avx512bf16"] = bool(has_avx512bf16())
        except ImportError:
            pass
        return out
