"""From a catalog run to what :func:`engine.sizing.estimate` needs: the one sizing path of
``quantarena plan`` and of ``--batch``/the TUI (``engine.launch``).

A run's memory depends on more than its model, backend and quantization: the context
(``--ctx``, else the run's ``n_ctx`` setting, else the catalog's ``defaults.n_ctx``, else
:data:`DEFAULT_CTX`; never above the model's context length), the sequences held at once
(``--concurrency``) and the settings each backend declares in the registry's table
(``BackendEntry.sizing_settings``: llama.cpp's ``flash_attn``, ``n_ubatch``, ``kv_cache_type``;
the PyTorch backends' ``attn_implementation``, bitsandbytes' ``double_quant``, quanto's
``quantize_experts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.backends.registry import backend_entry
from engine.catalog import Architecture, Catalog, RunSpec
from engine.sizing.errors import SizingError
from engine.sizing.estimate import SIZED_QUANTS, Estimate, estimate

#: context sized when neither --ctx, the run's n_ctx nor the catalog's defaults.n_ctx says
DEFAULT_CTX = 4096

#: estimate() keyword -> the type a setting's value must have to be passed
_KEYWORD_TYPES: dict[str, type] = {
    "flash_attn": bool, "n_ubatch": int, "kv_dtype": str, "double_quant": bool, "quantize_experts": bool,
    "attn_implementation": str,
}


def run_ctx(run: RunSpec, arch: Architecture, defaults: Mapping[str, Any], ctx: int | None = None) -> int:
    """The context a run is sized for (see the module docstring); an explicit ``ctx`` above the
    model's context length is a SizingError."""
    limit = arch.context_length
    if ctx is not None:
        if ctx > limit:
            raise SizingError(f"--ctx {ctx} exceeds {run.model}'s context_length {limit} (run {run.name})")
        return int(ctx)
    for key in ("n_ctx", "ctx"):
        val = run.settings.get(key)
        if isinstance(val, int) and not isinstance(val, bool) and val > 0:
            return min(val, limit)
    return min(int(defaults.get("n_ctx", DEFAULT_CTX)), limit)


def settings_to_estimate(run: RunSpec) -> dict[str, Any]:
    """The run settings that change its memory, as :func:`engine.sizing.estimate` keywords (the
    backend's ``sizing_settings``; a value of the wrong type is left out: the catalog reports it).
    ``attn_implementation`` other than ``eager`` sizes as SDPA; quanto's ``quantize_experts``
    defaults to false."""
    entry = backend_entry(run.backend)
    kw: dict[str, Any] = {}
    for setting, keyword in (entry.sizing_settings if entry else {}).items():
        val = run.settings.get(setting)
        if keyword == "quantize_experts":
            kw[keyword] = bool(val)
        elif keyword == "attn_implementation":
            if val == "eager":
                kw[keyword] = "eager"
        else:
            typ = _KEYWORD_TYPES[keyword]
            if isinstance(val, typ) and (typ is bool or not isinstance(val, bool)):  # true is no n_ubatch
                kw[keyword] = val
    return kw


def estimate_run(catalog: Catalog, run: RunSpec, *, ctx: int | None = None, batch: int = 1,
                 gpu: Any = None) -> Estimate | None:
    """The run's :class:`Estimate`; None for a backend sizing does not know (the test fake, a served
    run: the server holds the weights). Raises SizingError for an unknown model or quantization."""
    if run.backend not in SIZED_QUANTS:
        return None
    try:
        model = catalog.models[run.model]
    except KeyError:
        raise SizingError(f"unknown model {run.model!r} (models in {catalog.path}: {', '.join(catalog.models)})") from None
    kw: dict[str, Any] = {"gpu": gpu} if gpu is not None else {}
    return estimate(model.arch, run.backend, run.quant, ctx=run_ctx(run, model.arch, catalog.defaults, ctx),
                    batch=max(1, int(batch)), model=run.model, **settings_to_estimate(run), **kw)


def estimates_for(catalog: Catalog, runs: Sequence[RunSpec], *, ctx: int | None = None, batch: int = 1,
                  strict: bool = True) -> list[tuple[RunSpec, Estimate | None]]:
    """Each run with its estimate, as :func:`engine.placement.plan` takes them. ``strict``: a
    SizingError propagates (``quantarena plan`` reports it); otherwise that run gets None and the
    planner gives it the CPU (a session still runs it)."""
    out: list[tuple[RunSpec, Estimate | None]] = []
    for r in runs:
        try:
            out.append((r, estimate_run(catalog, r, ctx=ctx, batch=batch)))
        except SizingError:
            if strict:
                raise
            out.append((r, None))
    return out
