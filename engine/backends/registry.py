"""The backend registry: every backend's id, quantizations and placement facts, and the class
behind each id, importing only the backend asked for.

The table below is light: it imports no backend module (nor anything else of quantarena), so the
catalog, sizing and the placement planner read backend ids and quantizations from here, and the
registry never imports them back. ``load_backend_class("llama.cpp")`` imports
``engine.backends.llamacpp`` and nothing else; the module itself imports llama_cpp only inside
``load()``. An unknown name lists the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the test fake; accepted by the loader so engine, CLI and TUI tests can use the real registry
FAKE_BACKEND_ID = "fake"


@dataclass(frozen=True)
class BackendEntry:
    """What the engine knows about a backend without importing it."""

    #: ``"module:Class"`` of the Backend subclass
    target: str
    #: quantization names the backend accepts, as users know them; empty: a free label (served runs)
    quants: tuple[str, ...]
    #: how a run spread over several GPUs is told its share of each: ``"tensor_split"`` (fractions
    #: of the layers, llama.cpp), ``"max_memory"`` (GiB per GPU, accelerate's device map) or None
    #: (the backend runs on one device)
    multi_gpu_split: str | None = None
    #: run settings that change the run's memory: setting name -> :func:`engine.sizing.estimate`
    #: keyword (the value is passed when it has the keyword's type)
    sizing_settings: Mapping[str, str] = field(default_factory=dict)


_TORCH_SIZING = {"attn_implementation": "attn_implementation"}
_TORCH_SPLIT = "max_memory"

#: backend id -> entry, in the order front ends list them
BACKEND_TABLE: dict[str, BackendEntry] = {
    "llama.cpp": BackendEntry(
        "engine.backends.llamacpp:LlamaCppBackend",
        ("q2_k", "q3_k_m", "q4_0", "q4_1", "q4_k_s", "q4_k_m", "q5_0", "q5_1", "q5_k_m",
         "q6_k", "q8_0", "f16", "bf16", "f32"),
        multi_gpu_split="tensor_split",
        sizing_settings={"flash_attn": "flash_attn", "n_ubatch": "n_ubatch", "kv_cache_type": "kv_dtype"},
    ),
    "quanto": BackendEntry(
        "engine.backends.quanto:QuantoBackend", ("int8", "int4", "float8"), multi_gpu_split=_TORCH_SPLIT,
        sizing_settings={**_TORCH_SIZING, "quantize_experts": "quantize_experts"},
    ),
    "bitsandbytes": BackendEntry(
        "engine.backends.bnb:BitsAndBytesBackend", ("int8", "nf4", "fp4"), multi_gpu_split=_TORCH_SPLIT,
        sizing_settings={**_TORCH_SIZING, "double_quant": "double_quant"},
    ),
    "torchao": BackendEntry(
        "engine.backends.torchao:TorchAOBackend", ("int8", "int4", "float8"), multi_gpu_split=_TORCH_SPLIT,
        sizing_settings=_TORCH_SIZING,
    ),
    "transformers": BackendEntry(
        "engine.backends.hf:TransformersBackend", ("bf16", "fp16", "fp32"), multi_gpu_split=_TORCH_SPLIT,
        sizing_settings=_TORCH_SIZING,
    ),
    # a served run's quant is a label: what the server serves, as the user names it
    "openai": BackendEntry("engine.backends.openai:OpenAIBackend", ()),
    FAKE_BACKEND_ID: BackendEntry("engine.backends.fake:ScriptedFakeBackend", ("fake",)),
}

#: the real backends' ids (the fake is not among them)
BACKEND_IDS: tuple[str, ...] = ("llama.cpp", "quanto", "bitsandbytes", "torchao", "transformers", "openai")
#: quantization names each backend accepts, as users know them
BACKEND_QUANTS: dict[str, tuple[str, ...]] = {b: e.quants for b, e in BACKEND_TABLE.items()}
#: backend id -> "module:Class"
BACKENDS: dict[str, str] = {b: e.target for b, e in BACKEND_TABLE.items()}

assert set(BACKEND_IDS) <= set(BACKENDS)


def backend_entry(backend_id: str) -> BackendEntry | None:
    """The table's entry for an id; None for an unknown one."""
    return BACKEND_TABLE.get(backend_id)


def multi_gpu_split(backend_id: str) -> str | None:
    """``"tensor_split"``, ``"max_memory"`` or None: see :attr:`BackendEntry.multi_gpu_split`."""
    e = BACKEND_TABLE.get(backend_id)
    return e.multi_gpu_split if e else None


class UnknownBackendError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


def load_backend_class(backend_id: str) -> Any:
    """The Backend subclass for an id; imports exactly that backend's module."""
    try:
        target = BACKENDS[backend_id]
    except KeyError:
        raise UnknownBackendError(
            f"unknown backend {backend_id!r} (known: {', '.join(b for b in BACKENDS if b != FAKE_BACKEND_ID)})"
        ) from None
    module_name, _, cls_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name)


def backend_capabilities(backend_id: str) -> Any:
    """The :class:`~engine.backends.base.Capabilities` of a backend id (imports its module, not its
    library); the defaults for an unknown id."""
    try:
        return load_backend_class(backend_id).capabilities
    except UnknownBackendError:
        # by name, like the backend classes: the table imports no quantarena module statically
        return importlib.import_module("engine.backends.base").Capabilities()


def is_served(backend_id: str) -> bool:
    """Whether runs of this backend are answered by a server outside quantarena (no GPU of the
    plan, no sizing)."""
    return bool(backend_capabilities(backend_id).served)


def validate_settings(backend_id: str, settings: dict[str, Any]) -> None:
    """Raise ValueError naming the key when a run setting is unknown or of the wrong type."""
    cls = load_backend_class(backend_id)
    allowed: dict[str, Any] = cls.SETTINGS
    for key in getattr(cls, "REQUIRED_SETTINGS", ()):
        if key not in settings:
            raise ValueError(f"missing required key {key!r} for backend {backend_id}")
    for key, val in settings.items():
        if key not in allowed:
            raise ValueError(f"unknown key {key!r} for backend {backend_id} (allowed: {', '.join(sorted(allowed))})")
        typ = allowed[key]
        types = typ if isinstance(typ, tuple) else (typ,)
        if isinstance(val, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(val, types) or (float in types and isinstance(val, int) and not isinstance(val, bool))
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            raise ValueError(f"key {key!r} must be {names}, got {type(val).__name__} {val!r}")
