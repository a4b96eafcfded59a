"""Weight-only int8 / int4 packing of transformers' fused MoE experts (quanto backend's ``quantize_experts``).

transformers 5.x stores the experts of MiniMax (and of Mixtral, Qwen2-MoE, Qwen3-MoE, ...) as
one module per layer holding two fused 3-D ``nn.Parameter`` tensors, decorated by
``transformers.integrations.moe.use_experts_implementation``:

* ``gate_up_proj`` ``[experts, 2 * intermediate, hidden]`` (gate rows first, then up rows),
* ``down_proj`` ``[experts, hidden, intermediate]``,

and a forward ``(hidden_states [tokens, hidden], top_k_index [tokens, k], top_k_weights
[tokens, k]) -> [tokens, hidden]``: for each expert hit, ``act(x @ gate.T) * (x @ up.T)``, then
``@ down.T``, times the token's routing weight, summed over its k experts. These tensors are no
``nn.Linear``, so transformers' ``QuantoConfig`` and quanto's ``quantize()`` leave them in the
compute dtype (bf16).

:func:`pack_experts` replaces every such module under a root module by a :class:`PackedExperts`
(built by :func:`packed_experts_class`) holding, for each of the two projections:

* ``int8``: int8 weights ``[E, out, in]`` + one scale per expert output row ``[E, out]`` in the
  compute dtype (symmetric, ``scale = max|row| / 127``), the storage quanto's qint8 gives a
  Linear weight;
* ``int4``: unsigned 4-bit codes packed two per byte ``[E, out, in / 2]`` (even input column in
  the low nibble) + a scale and a shift (the group's minimum) per group of inputs, both in the
  compute dtype, groups as quanto's qint4 (:func:`engine.sizing.schemes.quanto_group_size`: 128,
  else 96/64/32, else one group per row): 4.25 bits per weight with groups of 128.

Those are the byte counts ``engine.sizing.estimate(..., quantize_experts=True)`` uses.
Quantization goes expert by expert (an fp32 copy of one expert's projection at a time), so
packing a layer never holds more than that layer's dense experts plus their packed copy. The
forward is the eager forward of transformers' experts, with one difference: each expert actually
routed to is dequantized (its rows of one projection, in the compute dtype) just before its
matmul and dropped after it, so the dense weights that exist at a time are one expert's slice of
one projection.

Only the standard layout is packed (``has_gate``, concatenated gate/up, not transposed, no
biases, no post-expert norm, transformers' default gate ``act(gate) * up``); other experts
modules (gpt-oss, Aria, ...) are left as they are and named in :class:`PackStats.skipped`.

torch and transformers are imported inside functions only (the registry imports quanto.py,
which imports this module).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

#: quants this module packs experts to
PACKED_QUANTS = ("int8", "int4")
#: the fused projections of a transformers experts module, in forward order
PROJECTIONS = ("gate_up_proj", "down_proj")
INT8_MAX = 127
INT4_LEVELS = 15


@dataclass
class PackStats:
    """What :func:`pack_experts` packed: modules, fused 3-D tensors, bytes before and after."""

    quant: str
    modules: int = 0  # experts modules replaced
    tensors: int = 0  # fused 3-D expert tensors packed (2 per module)
    experts: int = 0  # experts per module (the last one packed)
    bytes_before: int = 0  # the dense fused tensors as they were stored
    bytes_after: int = 0  # packed codes + scales (+ shifts)
    classes: dict[str, int] = field(default_factory=dict)  # experts class name -> modules packed
    skipped: list[str] = field(default_factory=list)  # "name (Class): reason"

    def to_dict(self) -> dict[str, Any]:
        return {
            "quant": self.quant,
            "modules": self.modules,
            "fused_tensors_packed": self.tensors,
            "experts_per_module": self.experts,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "ratio": round(self.bytes_after / self.bytes_before, 4) if self.bytes_before else None,
            "classes": dict(self.classes),
            "skipped": list(self.skipped),
            "storage": _STORAGE[self.quant],
            "forward": "eager loop over the experts hit; each one's rows are dequantized to the compute dtype "
                       "just before its matmul",
        }


_STORAGE = {
    "int8": "int8 [E, out, in] + one compute-dtype scale per expert output row (symmetric, absmax / 127)",
    "int4": "uint4 packed two per byte [E, out, in/2] + compute-dtype scale and shift (group minimum) per "
            "group of inputs (128, else 96/64/32, else the whole row)",
}


def int4_group_size(in_features: int) -> int:
    """The int4 group along the inputs: quanto's qint4 choice, the whole row when it has none."""
    from engine.sizing.schemes import quanto_group_size

    return quanto_group_size(in_features) or in_features


def unpackable_reason(module: Any) -> str | None:
    """Why ``module`` is not a fused experts module this packer handles; None when it is."""
    import torch

    params = [getattr(module, n, None) for n in PROJECTIONS]
    if not all(isinstance(p, torch.Tensor) and p.dim() == 3 for p in params):
        return "no 3-D gate_up_proj/down_proj parameters"
    gate_up, down = params
    assert gate_up is not None and down is not None
    if not (gate_up.is_floating_point() and down.is_floating_point()):
        return f"expert tensors are {gate_up.dtype}/{down.dtype}, not floating point (already quantized?)"
    if gate_up.is_meta or down.is_meta:
        return "expert tensors are on the meta device (offloaded by accelerate)"
    if not hasattr(module, "has_gate"):
        return "not a transformers experts module (no use_experts_implementation flags)"
    for flag, want, what in (("has_gate", True, "no gate projection"), ("has_bias", False, "expert biases"),
                             ("is_transposed", False, "transposed weights"),
                             ("is_concatenated", True, "interleaved gate/up rows"),
                             ("has_post_expert_norm", False, "a post-expert norm")):
        if bool(getattr(module, flag, want)) != want:
            return what
    try:
        from transformers.integrations.moe import _default_apply_gate
    except ImportError:  # pragma: no cover - an older transformers without the generic experts
        return "transformers has no generic experts implementation"
    if getattr(type(module), "_apply_gate", _default_apply_gate) is not _default_apply_gate:
        return "its own gating function"
    if not callable(getattr(module, "act_fn", None)):
        return "no act_fn"
    e, two_i, h = gate_up.shape
    if two_i % 2 or tuple(down.shape) != (e, h, two_i // 2):
        return f"unexpected shapes gate_up_proj {tuple(gate_up.shape)}, down_proj {tuple(down.shape)}"
    return None


def _quantize_int8(w3: Any, dtype: Any) -> dict[str, Any]:
    """Symmetric per-row int8 of a ``[E, out, in]`` tensor, one expert at a time."""
    import torch

    e_n, out, inn = w3.shape
    q = torch.empty((e_n, out, inn), dtype=torch.int8, device=w3.device)
    scale = torch.empty((e_n, out), dtype=dtype, device=w3.device)
    with torch.no_grad():
        for e in range(e_n):
            w = w3[e].detach().float()
            s = (w.abs().amax(dim=1) / INT8_MAX).to(dtype)
            s = torch.where(s == 0, torch.ones_like(s), s)
            q[e] = torch.round(w / s.float()[:, None]).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)
            scale[e] = s
            del w
    return {"q": q, "scale": scale}


def _quantize_int4(w3: Any, dtype: Any) -> dict[str, Any]:
    """Asymmetric grouped uint4 of a ``[E, out, in]`` tensor, two codes per byte, one expert at a time."""
    import torch

    e_n, out, inn = w3.shape
    if inn % 2:
        raise ValueError(f"int4 packing needs an even number of inputs, got {inn}")
    group = int4_group_size(inn)
    ng = inn // group
    q = torch.empty((e_n, out, inn // 2), dtype=torch.uint8, device=w3.device)
    scale = torch.empty((e_n, out, ng), dtype=dtype, device=w3.device)
    shift = torch.empty((e_n, out, ng), dtype=dtype, device=w3.device)
    with torch.no_grad():
        for e in range(e_n):
            w = w3[e].detach().float().reshape(out, ng, group)
            lo = w.amin(dim=-1).to(dtype)
            s = ((w.amax(dim=-1) - lo.float()) / INT4_LEVELS).to(dtype)
            s = torch.where(s == 0, torch.ones_like(s), s)
            codes = torch.round((w - lo.float()[..., None]) / s.float()[..., None]).clamp_(0, INT4_LEVELS)
            codes = codes.to(torch.uint8).reshape(out, inn)
            q[e] = codes[:, 0::2] | (codes[:, 1::2] << 4)
            scale[e] = s
            shift[e] = lo
            del w, codes
    return {"q": q, "scale": scale, "shift": shift}


@functools.cache
def packed_experts_class() -> type:
    """The :class:`PackedExperts` ``nn.Module`` class (defined on first use: torch imported late)."""
    import torch
    from torch import nn

    class PackedExperts(nn.Module):
        """A fused experts module with int8 or int4 weights; the forward of transformers' experts."""

        def __init__(self, source: Any, quant: str):
            super().__init__()
            if quant not in PACKED_QUANTS:
                raise ValueError(f"experts can be packed as {' or '.join(PACKED_QUANTS)}, not {quant!r}")
            reason = unpackable_reason(source)
            if reason is not None:
                raise ValueError(f"{type(source).__name__} cannot be packed: {reason}")
            gate_up = source.gate_up_proj
            self.quant = quant
            self.source_class = type(source).__name__
            self.num_experts = int(gate_up.shape[0])
            self.act_fn: Any = source.act_fn
            self.compute_dtype = gate_up.dtype
            self.shapes: dict[str, tuple[int, int, int]] = {}
            self.groups: dict[str, int] = {}
            self.bytes_before = 0
            quantize = _quantize_int8 if quant == "int8" else _quantize_int4
            for name in PROJECTIONS:
                w3 = getattr(source, name)
                self.shapes[name] = (int(w3.shape[0]), int(w3.shape[1]), int(w3.shape[2]))
                self.bytes_before += w3.numel() * w3.element_size()
                if quant == "int4":
                    self.groups[name] = int4_group_size(int(w3.shape[2]))
                for part, t in quantize(w3, w3.dtype).items():
                    self.register_buffer(f"{name}_{part}", t)

        @property
        def bytes_after(self) -> int:
            return sum(b.numel() * b.element_size() for b in self.buffers())

        def dequantize(self, name: str, expert: int | torch.Tensor) -> torch.Tensor:
            """Expert ``expert``'s ``[out, in]`` weight of projection ``name`` in the compute dtype."""
            q = getattr(self, f"{name}_q")[expert]
            scale = getattr(self, f"{name}_scale")[expert]
            if self.quant == "int8":
                return q.to(scale.dtype).mul_(scale[:, None])
            _, out, inn = self.shapes[name]
            group = self.groups[name]
            shift = getattr(self, f"{name}_shift")[expert]
            codes = torch.stack((q & 0xF, q >> 4), dim=-1).reshape(out, inn // group, group).to(scale.dtype)
            return codes.mul_(scale[..., None]).add_(shift[..., None]).reshape(out, inn)

        def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                    top_k_weights: torch.Tensor) -> torch.Tensor:
            final_hidden_states = torch.zeros_like(hidden_states)
            with torch.no_grad():
                expert_mask = nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1)
                expert_mask = expert_mask.permute(2, 1, 0)
                expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
            for hit in expert_hit:
                expert_idx = hit[0]
                if expert_idx == self.num_experts:  # transformers' marker for experts of another rank
                    continue
                top_k_pos, token_idx = torch.where(expert_mask[expert_idx])
                current_state = hidden_states[token_idx]
                w = self.dequantize("gate_up_proj", expert_idx)
                gate, up = nn.functional.linear(current_state, w).chunk(2, dim=-1)
                del w
                current_hidden_states = self.act_fn(gate) * up
                w = self.dequantize("down_proj", expert_idx)
                current_hidden_states = nn.functional.linear(current_hidden_states, w)
                del w
                current_hidden_states = current_hidden_states * top_k_weights[token_idx, top_k_pos, None]
                final_hidden_states.index_add_(0, token_idx, current_hidden_states.to(final_hidden_states.dtype))
            return final_hidden_states

        def extra_repr(self) -> str:
            e, two_i, h = self.shapes["gate_up_proj"]
            return f"{self.source_class} packed {self.quant}: experts={e}, hidden={h}, intermediate={two_i // 2}"

    return PackedExperts


def is_packed_experts(module: Any) -> bool:
    return type(module) is packed_experts_class()


def pack_experts(root: Any, quant: str, stats: PackStats | None = None) -> PackStats:
    """Replace every fused experts module under ``root`` (not ``root`` itself) by a packed one.

    One module at a time: its dense tensors are freed (when nothing else holds them) before the
    next one is packed. An accelerate hook on a replaced module moves to its replacement.
    ``stats`` accumulates over calls (a model packed layer by layer); returned.
    """
    import torch

    if quant not in PACKED_QUANTS:
        raise ValueError(f"experts can be packed as {' or '.join(PACKED_QUANTS)}, not {quant!r}")
    stats = stats if stats is not None else PackStats(quant)
    packed_cls = packed_experts_class()
    found = []
    for name, module in root.named_modules():
        if name and not isinstance(module, packed_cls) and isinstance(getattr(module, "gate_up_proj", None), torch.Tensor) \
                and isinstance(getattr(module, "down_proj", None), torch.Tensor):
            found.append(name)
    for name in found:
        parent_name, _, attr = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        module = getattr(parent, attr)
        reason = unpackable_reason(module)
        if reason is not None:
            stats.skipped.append(f"{name} ({type(module).__name__}): {reason}")
            continue
        new = packed_cls(module, quant)
        hook = getattr(module, "_hf_hook", None)
        if hook is not None:
            from accelerate.hooks import add_hook_to_module

            add_hook_to_module(new, hook)
        setattr(parent, attr, new)
        del module
        stats.modules += 1
        stats.tensors += len(PROJECTIONS)
        stats.experts = new.num_experts
        stats.bytes_before += new.bytes_before
        stats.bytes_after += new.bytes_after
        stats.classes[new.source_class] = stats.classes.get(new.source_class, 0) + 1
    return stats
