"""What the three PyTorch backends (transformers, quanto, bitsandbytes) share: one code path.

:class:`TorchBackend` does everything but the quantization itself:

* **Device choice.** ``auto`` → ``cuda:0`` when torch sees a GPU, else ``cpu``; ``cuda:N``; ``cuda``
  with ``device_map = "auto"`` (or balanced/sequential) splits the model over every visible GPU
  through accelerate, capped by ``max_memory``.
* **Weights.** Real runs load :func:`engine.checkpoints.dense_checkpoint` (the same dense weights
  for every backend; a GGUF-only model is dequantized once) with ``from_pretrained`` and the
  subclass's ``quantization_config``. Synthetic runs build the model's real architecture with
  random weights on the target device (:func:`engine.synthetic_hf.build_random_model`), and the
  subclass's ``layer_quantizer`` packs each decoder layer right after it is built, so a large
  model never exists in bf16 all at once.
* **Prompting.** The chat is rendered with the tokenizer's template
  (``apply_chat_template(..., add_generation_prompt=True)``) and tokenized without extra specials.
* **The decode loop** (:mod:`engine.backends.torch_decode`, mixed in): one loop for one answer
  and for a left-padded batch, our own rather than ``model.generate``; each token yielded the
  moment it is picked. Text from :mod:`engine.backends.torch_text`, teacher-forced scoring in
  :mod:`engine.backends.torch_scoring`.
* **KV cache and compile.** ``cache = "dynamic"`` (default) or ``"static"`` (a ``StaticCache``
  sized for prompt + cap, reused between problems); ``compile = true`` compiles the decode
  step with ``torch.compile``, exercised during ``load()``'s warm-up; when that fails the run
  goes on eagerly and ``details["compile"]`` says why; ``graphs = true`` replays the decode
  step in CUDA graphs (:mod:`engine.backends.cuda_graphs`).
* **Memory.** ``torch.cuda.OutOfMemoryError``, ``MemoryError`` and the CPU allocator's failure
  become :class:`OutOfMemoryError` with the figures at that moment; ``memory_stats()`` gives the
  allocator peaks (MiB) on CUDA and ``None`` on the CPU, where the allocator is not torch's
  (:mod:`engine.backends.torch_memory`).
* **Details.** Library versions, dtype, device, the quantization as applied, the kernel path the
  weights actually take, real/synthetic, and the bytes the weights occupy (counted from the
  tensors' storage, packed data and quantization scales included).

torch and transformers are imported inside methods only (the registry imports this module to
read ``SETTINGS``).
"""

from __future__ import annotations

import gc
import importlib.metadata
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine.backends.base import (
    AnswerStream,
    Backend,
    BackendError,
    Capabilities,
    GenerationRequest,
    LoadInfo,
    OutOfMemoryError,
    ScoreRequest,
    UnsupportedError,
)
from engine.backends.torch_decode import TorchDecoding
from engine.backends.torch_memory import MIB, is_oom, memory_now, peak_stats, release_freed_memory, weight_bytes
from engine.backends.torch_scoring import score_teacher_forced
from engine.backends.torch_text import render_prompt

#: run settings every PyTorch backend accepts (subclasses add their own)
TORCH_SETTINGS: dict[str, Any] = {
    "device_map": str,  # auto | balanced | balanced_low_0 | sequential: split over the visible GPUs
    "max_memory": dict,  # with device_map: per-device caps, e.g. {"0": "70GiB", "1": "70GiB"}
    "cache": str,  # dynamic (default) | static
    "compile": bool,  # torch.compile the decode step (default false; a failure falls back, recorded)
    "compile_mode": str,  # torch.compile mode: default | reduce-overhead | max-autotune
    "graphs": bool,  # capture the decode step in CUDA graphs (static cache; a failed capture falls back, recorded)
    "lookahead": bool,  # static cache: queue the next step before reading this token (default true)
    "coordinate_descent_tuning": bool,  # compile: inductor's coordinate-descent tuning; turns a batch-1 matmul into a fused reduction
    "attn_implementation": str,  # eager | sdpa | flash_attention_2 | ... (default: transformers')
    "torch_threads": int,  # torch.set_num_threads for this run (default: torch's own)
    "warmup": bool,  # a 4-token generation inside load(): kernels build, compile runs (default true)
    "max_batch": int,  # sequences generated at once in throughput mode (set by --concurrency)
}

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
CACHES = ("dynamic", "static")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
#: the warm-up prompt and length
WARMUP_MESSAGES = [{"role": "user", "content": "Quanto é 2 + 2?"}]
WARMUP_TOKENS = 4


@dataclass
class Placement:
    """Where a run's model lives."""

    label: str  # "cpu", "cuda:0", "cuda:0,1"
    device: str  # the device of the inputs and of a single-device model
    device_map: Any  # what from_pretrained gets
    gpus: list[int] = field(default_factory=list)  # CUDA ordinals used

    @property
    def is_cuda(self) -> bool:
        return bool(self.gpus)

    @property
    def multi_gpu(self) -> bool:
        return len(self.gpus) > 1


class TorchBackend(TorchDecoding, Backend):
    """The shared PyTorch backend; subclasses say which dtype and how to quantize."""

    capabilities = Capabilities(gpu=True, multi_gpu=True, max_batch=None, graphs=True, synthetic=True, exact_token_times=True, scoring=True)
    SETTINGS: ClassVar[dict[str, Any]] = dict(TORCH_SETTINGS)
    #: distributions whose versions go into details["libraries"]
    LIBRARIES: ClassVar[tuple[str, ...]] = ("torch", "transformers", "accelerate", "safetensors")
    REQUIRES: ClassVar[tuple[str, ...]] = ("torch", "transformers", "accelerate", "safetensors")
    DISTRIBUTION: ClassVar[str | None] = "transformers"
    EXTRA: ClassVar[str | None] = "transformers"

    def __init__(self, run: Any, model: Any, *, cache_dir: str | None = None):
        super().__init__(run, model, cache_dir=cache_dir)
        self.hf_model: Any = None
        self.tokenizer: Any = None
        self.placement: Placement | None = None
        self.notes: list[str] = []
        self._torch: Any = None
        self._dtype: Any = None
        self._stop_ids: frozenset[int] = frozenset()
        self._stop_index: dict[str, Any] = {}
        self._input_device: Any = None
        self._decode_forward: Any = None
        self._static_cache: Any = None
        self._static_len = 0
        self._static_batch = 1
        self._last_warmup_s: float | None = None
        self._cache_kind = "dynamic"
        self._graphs: Any = None  # DecodeGraphs when graphs = true on a GPU

    # ---- what subclasses provide ------------------------------------------------------------

    def compute_dtype(self) -> str:
        """The dtype name (bf16 | fp16 | fp32) of activations and unquantized weights."""
        raise NotImplementedError

    def check_supported(self, placement: Placement) -> None:
        """Raise UnsupportedError (through :meth:`unsupported`) when this quant cannot run there."""

    def quantization_config(self) -> Any:
        """The transformers quantization config for ``from_pretrained``; None loads dense."""
        return None

    def layer_quantizer(self) -> Callable[[Any, str], Any] | None:
        """For synthetic runs: ``pack(layer, device)`` packs one freshly built decoder layer that
        sits on ``device``, in place (returning None) or by returning a replacement."""
        return None

    def after_load(self, model: Any, placement: Placement) -> Any:
        """A last step on the loaded model (quantizing it in place, calibrating); returns the model."""
        return model

    def quantization_details(self) -> dict[str, Any]:
        """The quantization as applied (config values, quantizer used)."""
        return {}

    def kernel_path(self, model: Any, placement: Placement) -> dict[str, Any]:
        """Which kernels the weights go through on this device (after the warm-up ran)."""
        return {}

    # ---- helpers for subclasses -------------------------------------------------------------

    def unsupported(self, device: str, reason: str) -> UnsupportedError:
        """The error for a quant/device this backend cannot run: names run, backend, device, reason."""
        return UnsupportedError(f"{self.run.name}: backend {self.id} on {device}: {reason}")

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        """A string setting restricted to ``allowed``; BackendError naming the key otherwise."""
        val = self.run.settings.get(key, default)
        if val not in allowed:
            raise BackendError(f"{self.run.name}: setting {key} = {val!r}; choose from {', '.join(allowed)}")
        return str(val)

    def torch_dtype(self) -> Any:
        return getattr(self._torch, DTYPES[self.compute_dtype()])

    # ---- loading ------------------------------------------------------------------------------

    def _import(self) -> Any:
        try:
            import torch
            import transformers
        except ImportError as e:
            raise UnsupportedError(
                f"{self.run.name}: backend {self.id}: {e.name or e} is not installed; pip install 'quantarena[{self.id}]'"
            ) from None
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        return torch

    def _placement(self) -> Placement:
        """The run's device(s). Several GPUs only when asked: a ``device_map`` setting, or a
        ``max_memory`` naming more than one GPU (what the session's planner passes to a run it
        spread over several GPUs; the run's process then sees exactly those as cuda:0..n-1)."""
        torch = self._torch
        dev = self.run.device
        device_map = self.run.settings.get("device_map")
        if device_map is not None:
            self.choice("device_map", DEVICE_MAPS, "auto")
        has_cuda = torch.cuda.is_available()
        n = torch.cuda.device_count() if has_cuda else 0
        if dev == "auto":
            dev = "cuda" if has_cuda else "cpu"
        if dev == "cpu":
            if device_map is not None:
                self.notes.append(f"device_map={device_map!r} ignored: the run's device is cpu")
            return Placement("cpu", "cpu", {"": "cpu"})
        if not has_cuda:
            raise self.unsupported(dev, f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is false)")
        mm = self._max_memory() or {}
        mm_gpus = sorted(k for k in mm if isinstance(k, int) and k < n)
        if dev == "cuda" and n > 1 and (device_map is not None or len(mm_gpus) > 1):
            gpus = mm_gpus if len(mm_gpus) > 1 else list(range(n))
            return Placement("cuda:" + ",".join(map(str, gpus)), f"cuda:{gpus[0]}", device_map or "auto", gpus)
        if device_map is not None:
            self.notes.append(f"device_map={device_map!r} ignored: the run uses one GPU")
        idx = 0 if dev == "cuda" else int(dev.split(":", 1)[1])
        if idx >= n:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            if not (visible and n == 1):
                raise self.unsupported(dev, f"only {n} CUDA device(s) visible (CUDA_VISIBLE_DEVICES={visible!r})")
            self.notes.append(f"{dev} is cuda:0 in this process (CUDA_VISIBLE_DEVICES={visible})")
            idx = 0
        return Placement(f"cuda:{idx}", f"cuda:{idx}", {"": f"cuda:{idx}"}, [idx])

    def _max_memory(self) -> dict[Any, Any] | None:
        mm = self.run.settings.get("max_memory")
        if mm is None:
            return None
        return {int(k) if str(k).isdigit() else k: v for k, v in mm.items()}

    def load(self) -> LoadInfo:
        torch = self._torch = self._import()
        threads = self.run.settings.get("torch_threads")
        if threads:
            torch.set_num_threads(int(threads))
        cache_kind = self.choice("cache", CACHES, "dynamic")
        placement = self.placement = self._placement()
        graphs_wanted = bool(self.run.settings.get("graphs"))
        if graphs_wanted and cache_kind != "static":
            if "cache" in self.run.settings:
                self.notes.append(f"cache={cache_kind!r} replaced by 'static': CUDA graphs need a static KV cache")
            cache_kind = "static"
        self._cache_kind = cache_kind
        self.check_supported(placement)
        self._dtype = self.torch_dtype()

        source = ""
        try:
            if self.run.synthetic:
                model, tokenizer = self._build_synthetic(placement)
                source = f"synthetic: random weights, {self.model.arch.family} architecture, built on {placement.label}"
            else:
                model, tokenizer, source = self._load_checkpoint(placement)
            self.tokenizer = tokenizer  # after_load may render prompts (calibration)
            model.eval()
            model = self.after_load(model, placement)
        except BackendError:
            raise
        except BaseException as e:
            if self._is_oom(e):
                raise OutOfMemoryError(self._oom_message("loading the weights")) from None
            raise
        self.hf_model = model
        release_freed_memory()  # quantizing freed the dense weights; let RSS show it
        self._input_device = model.get_input_embeddings().weight.device
        self._stop_ids = self._find_stop_ids(model, tokenizer)
        self._decode_forward = model.forward

        compile_state = "off"
        graphs_state = self._setup_graphs(placement) if graphs_wanted else "off"
        warmup_s = None
        if self.run.settings.get("compile"):
            compile_state = self._compile(cache_kind)
            warmup_s = self._last_warmup_s
        elif self.run.settings.get("warmup", True):
            warmup_s = self._warmup()
        if self._graphs is not None:
            graphs_state = self._graphs.describe()  # the warm-up captured the first bucket (or failed to)
        details = self._details(model, placement, source, cache_kind, compile_state, warmup_s)
        details["graphs"] = graphs_state
        return LoadInfo(device=placement.label, details=details)

    def _setup_graphs(self, placement: Placement) -> str:
        """CUDA graphs for the decode step where they can run; the reason where they cannot."""
        if not placement.is_cuda:
            return "off: a CPU run (CUDA graphs need a GPU)"
        if placement.multi_gpu:
            return "off: the model spans several GPUs (one graph per device is not implemented)"
        from engine.backends.cuda_graphs import DecodeGraphs

        self._graphs = DecodeGraphs(self._torch, lambda **kw: self._decode_forward(**kw))
        return "on"

    def _load_checkpoint(self, placement: Placement) -> tuple[Any, Any, str]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from engine.checkpoints import dense_checkpoint

        ckpt = dense_checkpoint(self.model)
        kwargs: dict[str, Any] = {"dtype": self._dtype, "device_map": placement.device_map}
        mm = self._max_memory()
        if mm is not None:
            if not placement.multi_gpu:
                self.notes.append("max_memory ignored: the model is on one device")
            else:
                kwargs["max_memory"] = mm
        qc = self.quantization_config()
        if qc is not None:
            kwargs["quantization_config"] = qc
        attn = self.run.settings.get("attn_implementation")
        if attn:
            kwargs["attn_implementation"] = attn
        try:
            model = AutoModelForCausalLM.from_pretrained(str(ckpt), **kwargs)
        except (ValueError, ImportError, OSError) as e:
            if self._is_oom(e):
                raise
            raise BackendError(f"{self.run.name}: loading {ckpt} failed: {_one_line(e)}") from None
        tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
        self._apply_chat_template_source(tokenizer)
        return model, tokenizer, str(ckpt)

    def _apply_chat_template_source(self, tokenizer: Any) -> None:
        """A models.toml ``chat_template`` naming a file replaces the tokenizer's template."""
        src = self.model.chat_template
        if src not in ("gguf", "tokenizer"):
            path = os.path.expanduser(src)
            if not os.path.exists(path):
                raise BackendError(f"{self.run.name}: chat template file {path} not found")
            with open(path, encoding="utf-8") as f:
                tokenizer.chat_template = f.read()

    def _build_synthetic(self, placement: Placement) -> tuple[Any, Any]:
        from engine.synthetic_hf import build_random_model, synthetic_tokenizer

        arch = self.model.arch
        quantize = self.layer_quantizer()
        layer_gpu: list[int] = []
        if placement.multi_gpu:  # an even split of the decoder layers over the GPUs
            n = len(placement.gpus)
            layer_gpu = [placement.gpus[i * n // arch.layers] for i in range(arch.layers)]
        counter = itertools.count()

        def hook(layer: Any) -> Any:
            # built on placement.device; moved to its own GPU before packing, so every quantizer
            # state (scales, bitsandbytes' CB/SCB) is created where the layer runs
            i = next(counter)
            device = placement.device
            if layer_gpu:
                device = f"cuda:{layer_gpu[i]}"
                layer = layer.to(device)
            replacement = quantize(layer, device) if quantize is not None else None
            if replacement is None and layer_gpu:
                return layer
            return replacement

        use_hook = quantize is not None or bool(layer_gpu)
        model = build_random_model(arch, placement.device, self._dtype, quantize_layer=hook if use_hook else None)
        if layer_gpu:
            model = self._dispatch_layers(model, placement, layer_gpu)
        if self.run.settings.get("attn_implementation"):
            model.set_attn_implementation(self.run.settings["attn_implementation"])
        return model, synthetic_tokenizer(arch)

    def _dispatch_layers(self, model: Any, placement: Placement, layer_gpu: list[int]) -> Any:
        """Hook a synthetic model whose layers sit on several GPUs so activations follow them."""
        from accelerate import dispatch_model

        first, last = placement.gpus[0], placement.gpus[-1]
        tied = self.model.arch.tie_embeddings
        head = first if tied else last
        model.model.norm.to(f"cuda:{last}")
        if not tied:
            model.lm_head.to(f"cuda:{head}")
        device_map = {"model.embed_tokens": first, "model.rotary_emb": first, "model.norm": last, "lm_head": head}
        device_map.update({f"model.layers.{i}": g for i, g in enumerate(layer_gpu)})
        self.notes.append(f"synthetic layers split evenly over cuda:{','.join(map(str, placement.gpus))}")
        return dispatch_model(model, device_map=device_map)

    def _find_stop_ids(self, model: Any, tokenizer: Any) -> frozenset[int]:
        ids: set[int] = set()
        for src in (getattr(model, "generation_config", None), model.config, tokenizer):
            val = getattr(src, "eos_token_id", None)
            if isinstance(val, int):
                ids.add(val)
            elif isinstance(val, (list, tuple)):
                ids.update(int(v) for v in val)
        return frozenset(ids)

    # ---- compile and warm-up ----------------------------------------------------------------

    def _warmup(self) -> float:
        t0 = time.perf_counter()
        req = GenerationRequest(messages=WARMUP_MESSAGES, max_new_tokens=WARMUP_TOKENS, min_new_tokens=WARMUP_TOKENS)
        for _ in self.generate([req]):
            pass
        self._last_warmup_s = round(time.perf_counter() - t0, 3)
        return self._last_warmup_s

    def _compile(self, cache_kind: str) -> str:
        torch = self._torch
        mode = self.run.settings.get("compile_mode") or None
        eager = self.hf_model.forward
        tuning = bool(self.run.settings.get("coordinate_descent_tuning"))
        try:
            if tuning:
                # inductor then decomposes a one-row matmul into a reduction it generates itself,
                # so a weight-only int8/float8 weight's cast to bf16 fuses into the read of the
                # weight (what gpt-fast and torchao's own benchmarks set); without it the cast
                # writes a full bf16 copy of every weight each step before cuBLAS reads it again
                import torch._inductor.config as inductor_config

                inductor_config.coordinate_descent_tuning = True
            self._decode_forward = torch.compile(eager, mode=mode if mode != "default" else None)
            self._warmup()  # compiles: a prefill (eager) and the decode steps (compiled)
            return f"on (torch.compile mode={mode or 'default'}, decode step{', coordinate-descent tuning' if tuning else ''})"
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt) or self._is_oom(e):
                raise
            self._decode_forward = eager
            self._static_cache = None
            if self._graphs is not None:
                self._graphs.reset()
            reason = f"{type(e).__name__}: {_one_line(e)}"
            self.notes.append(f"torch.compile failed, running eagerly: {reason}")
            self._warmup()
            return f"fallback to eager ({reason})"

    # ---- generation ---------------------------------------------------------------------------

    def render_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat rendered with the model's template, as token ids (no specials added twice)."""
        return render_prompt(self.tokenizer, messages)

    def generate(self, requests: Sequence[GenerationRequest]) -> AnswerStream:
        """The answers in one decode loop (``engine.backends.torch_decode``): one request alone,
        several left-padded into one batch with one forward pass per step for all of them."""
        if self.hf_model is None:
            raise BackendError(f"{self.run.name}: generate() before load()")
        prompts = [self.render_prompt(r.messages) for r in requests]
        return AnswerStream(len(requests), lambda out: self._decode(prompts, list(requests), out),
                            prompt_tokens=[len(p) for p in prompts])

    def score(self, request: ScoreRequest) -> Any:
        """The completion teacher-forced after the rendered prompt (``engine.backends.torch_scoring``)."""
        return score_teacher_forced(self, request)

    # ---- memory -------------------------------------------------------------------------------

    def _cuda_devices(self) -> list[int]:
        return self.placement.gpus if self.placement is not None else []

    def memory_stats(self) -> dict[str, float | None]:
        return peak_stats(self._torch, self._cuda_devices())

    def reset_memory_stats(self) -> None:
        torch = self._torch
        for g in self._cuda_devices():
            torch.cuda.reset_peak_memory_stats(g)

    def _is_oom(self, e: BaseException) -> bool:
        return is_oom(self._torch, e)

    def _oom_message(self, what: str) -> str:
        return f"{self.run.name}: out of memory while {what} on {self.placement.label if self.placement else self.run.device}: {self.memory_now()}"

    def memory_now(self) -> str:
        """Memory figures at this moment: per GPU allocator and driver view, or process RSS."""
        return memory_now(self._torch, self._cuda_devices())

    # ---- details ------------------------------------------------------------------------------

    def _details(self, model: Any, placement: Placement, source: str, cache_kind: str, compile_state: str, warmup_s: float | None) -> dict[str, Any]:
        torch = self._torch
        versions = {d: _version(d) for d in self.LIBRARIES}
        weights = weight_bytes(model)
        gpu_names = [torch.cuda.get_device_name(g) for g in placement.gpus]
        details: dict[str, Any] = {
            "library": " + ".join(f"{d} {v}" for d, v in versions.items() if v and d in ("transformers", "torch", "optimum-quanto", "bitsandbytes")),
            "libraries": versions,
            "quant": self.run.quant,
            "dtype": str(self._dtype).removeprefix("torch."),
            "device": placement.label,
            "device_map": placement.device_map if placement.multi_gpu else None,
            "hf_device_map": getattr(model, "hf_device_map", None) if placement.multi_gpu else None,
            "gpu_names": gpu_names,
            "torch_cuda": torch.version.cuda,
            "torch_cuda_available": bool(torch.cuda.is_available()),
            "torch_cuda_devices": int(torch.cuda.device_count()) if torch.cuda.is_available() else 0,
            "torch_cpu_capability": _cpu_capability(torch),
            "weights": self.run.weights,
            "checkpoint": source,
            "quantization": self.quantization_details(),
            "kernel_path": self.kernel_path(model, placement),
            "weight_bytes": weights["total"],
            "weight_mib": round(weights["total"] / MIB, 1),
            "weight_bytes_quantized": weights["quantized"],
            "weight_bytes_dense": weights["dense"],
            "weight_bytes_note": "bytes of every parameter and buffer as stored (packed data + scales for quantized ones), tied weights once",
            "cache": cache_kind,
            "compile": compile_state,
            "lookahead": cache_kind == "static" and bool(self.run.settings.get("lookahead", True)),
            "attn_implementation": getattr(model.config, "_attn_implementation", None),
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "stop_token_ids": sorted(self._stop_ids),
            "warmup_s": warmup_s,
            "api": "own decode loop: prefill, then one forward per token with the KV cache (not model.generate)",
            "notes": list(self.notes),
        }
        qc = getattr(model.config, "quantization_config", None)
        if qc is not None:  # what transformers applied, as it serializes it
            details["quantization"]["transformers_config"] = json.loads(json.dumps(qc.to_dict() if hasattr(qc, "to_dict") else qc, default=str))
        if not self.run.synthetic:
            from engine.checkpoints import checkpoint_info

            info = checkpoint_info(Path(source))
            if info:
                details["checkpoint_derived_from"] = info.get("derived_from")
                details["checkpoint_dtype"] = info.get("dtype")
        if placement.is_cuda:
            details["torch_allocated_after_load_mib"] = round(sum(torch.cuda.memory_allocated(g) for g in placement.gpus) / MIB, 1)
        try:
            import psutil

            details["rss_mib_after_load"] = round(psutil.Process().memory_info().rss / MIB, 1)
        except Exception:
            pass
        return details

    # ---- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        self.hf_model = None
        self.tokenizer = None
        self._decode_forward = None
        self._static_cache = None
        self._stop_index = {}
        gc.collect()
        torch = self._torch
        if torch is not None and self._cuda_devices():
            torch.cuda.empty_cache()


def _cpu_capability(torch: Any) -> str | None:
    """The CPU kernel level torch dispatches to (``DEFAULT``, ``AVX2``, ``AVX512``...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch
        return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:300]
