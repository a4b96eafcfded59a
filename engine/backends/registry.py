"""The backend registry: names to classes, importing only the backend asked for.

``load_backend_class("llama.cpp")`` imports ``engine.backends.llamacpp`` and nothing else; the
module itself imports llama_cpp only inside ``load()``. An unknown name lists the known ones.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.catalog import BACKEND_IDS, FAKE_BACKEND_ID

#: backend id -> "module:Class"
BACKENDS: dict[str, str] = {
    "llama.cpp": "engine.backends.llamacpp:LlamaCppBackend",
    "transformers": "engine.backends.hf:TransformersBackend",
    "quanto": "engine.backends.quanto:QuantoBackend",
    "bitsandbytes": "engine.backends.bnb:BitsAndBytesBackend",
    "torchao": "engine.backends.torchao:TorchAOBackend",
    "openai": "engine.backends.openai:OpenAIBackend",
    FAKE_BACKEND_ID: "engine.backends.fake:ScriptedFakeBackend",
}

assert set(BACKEND_IDS) <= set(BACKENDS)


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
        from engine.backends.base import Capabilities

        return Capabilities()


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
