"""The unquantized reference: transformers in bf16, fp16 or fp32 (backend id ``transformers``).

Everything but the dtype is :class:`engine.backends.torch_common.TorchBackend`: the same
checkpoint, decode loop, cache and compile settings as the quantized PyTorch backends, so the
differences between them are the quantization's. On a CPU fp32 is the reference (bf16 and fp16
run, usually slower: the run's details say so).
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.backends.torch_common import TORCH_SETTINGS, Placement, TorchBackend

#: quant name -> dtype name
QUANT_DTYPES = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}


class TransformersBackend(TorchBackend):
    id = "transformers"
    SETTINGS: ClassVar[dict[str, Any]] = dict(TORCH_SETTINGS)

    def compute_dtype(self) -> str:
        return QUANT_DTYPES[self.run.quant]

    def check_supported(self, placement: Placement) -> None:
        if self.run.quant not in QUANT_DTYPES:
            raise self.unsupported(placement.label, f"quant {self.run.quant!r} is not a transformers dtype (bf16, fp16, fp32)")
        if not placement.is_cuda and self.run.quant != "fp32":
            self.notes.append(f"{self.run.quant} on CPU: runs as asked, usually slower than fp32 (few CPUs multiply half floats natively)")
        if self.run.quant == "bf16":
            torch = self._torch
            for g in placement.gpus:
                major, minor = torch.cuda.get_device_capability(g)
                if major < 8:
                    raise self.unsupported(
                        f"cuda:{g}", f"{torch.cuda.get_device_name(g)} (compute capability {major}.{minor}) has no native bf16; use fp16"
                    )

    def quantization_details(self) -> dict[str, Any]:
        return {"method": "none", "dtype": self.compute_dtype()}

    def kernel_path(self, model: Any, placement: Placement) -> dict[str, Any]:
        torch = self._torch
        if placement.is_cuda:
            matmul = f"cuBLAS {self.compute_dtype()} (torch {torch.__version__})"
        else:
            matmul = f"torch CPU {self.compute_dtype()} matmul ({torch.backends.cpu.get_cpu_capability()}, mkldnn={torch.backends.mkldnn.is_available()})"
        linear = sorted({type(m).__name__ for m in model.modules() if type(m).__name__.endswith("Linear")})
        return {"linear": linear, "matmul": matmul}

