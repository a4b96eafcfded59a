"""Packed MoE experts (``engine.backends.packed_experts``) and the quanto backend's ``quantize_experts``.

transformers 5.x builds MiniMax's experts as fused 3-D parameters that QuantoConfig leaves bf16;
these tests pack them with transformers' own MiniMax (and Mixtral / Qwen-MoE) classes on tiny
shapes, on the CPU: the forward against the original, the bytes against the sizing estimate,
that only the experts routed to are dequantized, the backend end to end (synthetic build and a
saved checkpoint), and the planner's use of the setting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from engine.backends.base import GenerationRequest, UnsupportedError  # noqa: E402
from engine.backends.packed_experts import (  # noqa: E402
    PACKED_QUANTS,
    int4_group_size,
    pack_experts,
    packed_experts_class,
    unpackable_reason,
)
from engine.backends.registry import load_backend_class, validate_settings  # noqa: E402
from engine.catalog import Architecture, ModelSpec, RunSpec, WeightSource, load_catalog  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
THREADS = 2
#: hidden 64, 2 layers (one lightning, one softmax), 4 experts, top-2
TINY_MINIMAX = Architecture("minimax", 0, 2, 64, 4, 2, 16, 128, 49152, 512, experts=4, experts_per_token=2,
                            softmax_attention_layers=1)
MESSAGES = [{"role": "user", "content": "Quanto é 12 + 30? Explique a conta em português."}]


def _rel(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def _experts(hidden: int, inter: int, n: int = 4, dtype: Any = torch.float32, seed: int = 0) -> Any:
    """A standalone ``MiniMaxExperts`` with normal(0, 0.02) weights, as MiniMax's ``_init_weights``."""
    from transformers.models.minimax.modeling_minimax import MiniMaxExperts

    cfg = transformers.MiniMaxConfig(hidden_size=hidden, intermediate_size=inter, num_local_experts=n)
    cfg._experts_implementation = "eager"
    ex = MiniMaxExperts(cfg).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (ex.gate_up_proj, ex.down_proj):
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return ex


def _routing(tokens: int, hidden: int, n: int, k: int = 2, seed: int = 1) -> tuple[Any, Any, Any]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, hidden, generator=g)
    logits = torch.randn(tokens, n, generator=g)
    w, idx = torch.topk(logits.softmax(-1), k, dim=-1)
    return x, idx, w / w.sum(-1, keepdim=True)


def _dense_copy(packed: Any, source: Any) -> Any:
    """``source`` with its weights replaced by the packed module's dequantized ones."""
    import copy

    ref = copy.deepcopy(source)
    with torch.no_grad():
        for name in ("gate_up_proj", "down_proj"):
            getattr(ref, name).copy_(torch.stack([packed.dequantize(name, e) for e in range(packed.num_experts)]))
    return ref


def test_packer_module_imports_no_heavy_library() -> None:
    probe = ("import engine.backends.packed_experts, engine.backends.quanto, sys; "
             "print([m for m in ('torch', 'transformers', 'optimum.quanto') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# ---- the packed module ----------------------------------------------------------------------


@pytest.mark.parametrize("hidden,inter", [(64, 128), (256, 192)])
def test_int8_forward_matches_the_original_within_int8_error(hidden: int, inter: int) -> None:
    ex = _experts(hidden, inter)
    x, idx, w = _routing(24, hidden, 4)
    with torch.no_grad():
        want = ex(x, idx, w)
        packed = packed_experts_class()(ex, "int8")
        got = packed(x, idx, w)
        # the forward is exactly the original's, on the dequantized weights
        assert torch.allclose(got, _dense_copy(packed, ex)(x, idx, w), rtol=1e-5, atol=1e-7)
    # symmetric per-row int8: every weight within half a step of the original
    for name in ("gate_up_proj", "down_proj"):
        dense = getattr(ex, name).detach()
        deq = torch.stack([packed.dequantize(name, e) for e in range(4)])
        step = getattr(packed, f"{name}_scale")[..., None]
        assert ((deq - dense).abs() <= step / 2 + 1e-7).all()
        assert getattr(packed, f"{name}_q").dtype == torch.int8
        assert getattr(packed, f"{name}_q").shape == dense.shape
        assert getattr(packed, f"{name}_scale").shape == dense.shape[:2]
    assert _rel(got, want) < 0.02


@pytest.mark.parametrize("hidden,inter", [(64, 128), (256, 192)])
def test_int4_forward_is_the_original_on_grouped_4_bit_weights(hidden: int, inter: int) -> None:
    ex = _experts(hidden, inter)
    x, idx, w = _routing(24, hidden, 4)
    with torch.no_grad():
        want = ex(x, idx, w)
        packed = packed_experts_class()(ex, "int4")
        got = packed(x, idx, w)
        assert torch.allclose(got, _dense_copy(packed, ex)(x, idx, w), rtol=1e-5, atol=1e-7)
    for name, inn in (("gate_up_proj", hidden), ("down_proj", inter)):
        group = int4_group_size(inn)
        assert group == {64: 64, 128: 128, 256: 128, 192: 96}[inn]  # quanto's qint4 groups, whole row if <= 128
        dense = getattr(ex, name).detach()
        deq = torch.stack([packed.dequantize(name, e) for e in range(4)])
        scale = getattr(packed, f"{name}_scale")
        assert scale.shape == (*dense.shape[:2], inn // group)
        step = scale.repeat_interleave(group, dim=-1)
        assert ((deq - dense).abs() <= step / 2 + 1e-6).all()
    # 16 levels per row/group: coarse, but far from noise
    assert _rel(got, want) < 0.25


@pytest.mark.parametrize("quant", PACKED_QUANTS)
def test_packed_bytes_are_what_the_sizing_estimate_counts(quant: str) -> None:
    from engine.sizing.schemes import torch_scheme
    from engine.sizing.tensors import TensorSpec

    n, hidden, inter = 4, 256, 192
    ex = _experts(hidden, inter, n, dtype=torch.bfloat16)
    packed = packed_experts_class()(ex, quant)
    dense = sum(p.numel() * p.element_size() for p in ex.parameters())
    assert packed.bytes_before == dense
    # sizing's MiniMax expert tensors: gate [E, inter, hidden], up [E, inter, hidden], down [E, hidden, inter]
    scheme = torch_scheme("quanto", quant)
    specs = [TensorSpec("gate", "ffn_gate_exps", 0, inter, hidden, n), TensorSpec("up", "ffn_up_exps", 0, inter, hidden, n),
             TensorSpec("down", "ffn_down_exps", 0, hidden, inter, n)]
    assert packed.bytes_after == sum(scheme.nbytes(t) for t in specs)
    weights = n * 3 * hidden * inter
    if quant == "int8":  # int8 + one bf16 scale per expert output row: about half of bf16
        assert packed.bytes_after == weights + n * (2 * inter + hidden) * 2
        assert 0.5 < packed.bytes_after / dense < 0.51
    else:  # two codes per byte + bf16 scale and shift per group: about a quarter
        assert 0.25 < packed.bytes_after / dense < 0.27


def test_only_the_experts_routed_to_are_dequantized(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = _experts(64, 128, n=8)
    packed = packed_experts_class()(ex, "int8")
    calls: list[tuple[str, int]] = []
    real = packed.dequantize

    def spy(name: str, expert: Any) -> Any:
        calls.append((name, int(expert)))
        return real(name, expert)

    monkeypatch.setattr(packed, "dequantize", spy)
    x, _, w = _routing(6, 64, 8)
    idx = torch.tensor([[1, 6]] * 3 + [[6, 1]] * 3)
    with torch.no_grad():
        got = packed(x, idx, w)
        want = ex(x, idx, w)
    assert sorted(calls) == [("down_proj", 1), ("down_proj", 6), ("gate_up_proj", 1), ("gate_up_proj", 6)]
    assert _rel(got, want) < 0.02


def test_pack_experts_replaces_every_layer_of_a_tiny_minimax() -> None:
    from engine.synthetic_hf import build_random_model

    model = build_random_model(TINY_MINIMAX, "cpu", "float32", block_size=8)
    ids = torch.randint(0, 1000, (1, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mlp_in = torch.randn(1, 20, 64, generator=torch.Generator().manual_seed(1))
        want_mlp = model.model.layers[1].mlp(mlp_in)
        want = model(ids).logits
    stats = pack_experts(model, "int8")
    assert stats.modules == 2 and stats.tensors == 4 and stats.experts == 4 and not stats.skipped
    assert stats.classes == {"MiniMaxExperts": 2}
    assert stats.bytes_before == 2 * 4 * 3 * 64 * 128 * 4  # fp32
    assert stats.bytes_after == 2 * (4 * 3 * 64 * 128 + 4 * (2 * 128 + 64) * 4)  # int8 + fp32 row scales
    assert not [n for n, p in model.named_parameters() if p.dim() == 3], "a fused expert tensor is left dense"
    assert all(type(layer.mlp.experts).__name__ == "PackedExperts" for layer in model.model.layers)
    with torch.no_grad():
        assert _rel(model.model.layers[1].mlp(mlp_in), want_mlp) < 0.02
        assert _rel(model(ids).logits, want) < 0.02
    again = pack_experts(model, "int8")  # nothing left to pack
    assert again.modules == 0 and not again.skipped


@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe", "qwen3_moe"])
def test_the_same_generic_experts_of_other_moe_families_are_packed(family: str) -> None:
    common = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, num_experts_per_tok=2)
    if family == "mixtral":
        cfg = transformers.MixtralConfig(num_local_experts=4, **common)
    elif family == "qwen2_moe":
        cfg = transformers.Qwen2MoeConfig(num_experts=4, moe_intermediate_size=48, shared_expert_intermediate_size=96,
                                          **common)
    else:
        cfg = transformers.Qwen3MoeConfig(num_experts=4, moe_intermediate_size=48, head_dim=16, **common)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    ids = torch.randint(0, 128, (1, 12))
    with torch.no_grad():
        want = model(ids).logits
    stats = pack_experts(model, "int8")
    assert stats.modules == 2 and not stats.skipped
    with torch.no_grad():
        assert _rel(model(ids).logits, want) < 0.02


def test_other_expert_layouts_are_left_alone_and_named() -> None:
    cfg = transformers.GptOssConfig(vocab_size=128, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                                    num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
                                    num_experts_per_tok=2, head_dim=16, layer_types=["full_attention"])
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    stats = pack_experts(model, "int8")
    assert stats.modules == 0
    assert stats.skipped == ["model.layers.0.mlp.experts (GptOssExperts): expert biases"]
    assert unpackable_reason(model.model.layers[0].self_attn) is not None
    with pytest.raises(ValueError, match="not 'float8'"):
        pack_experts(model, "float8")


# ---- the quanto backend -----------------------------------------------------------------------


def _run(quant: str = "int8", *, weights: str = "synthetic", **settings: Any) -> RunSpec:
    return RunSpec(name=f"tiny-minimax/quanto/{quant}", model="tiny-minimax", backend="quanto", quant=quant,
                   device="cpu", weights=weights, settings={"torch_threads": THREADS, "warmup": False, **settings})


def _generate(b: Any, n: int = 8) -> list[Any]:
    stream = b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=n)])
    return [t for _, t in stream]


@pytest.mark.native
@pytest.mark.parametrize("quant", PACKED_QUANTS)
def test_quanto_backend_packs_a_synthetic_minimax_and_generates(quant: str) -> None:
    model = ModelSpec(name="tiny-minimax", display_name="tiny MiniMax", arch=TINY_MINIMAX)
    sizes = {}
    for packed in (False, True):
        b = load_backend_class("quanto")(_run(quant, quantize_experts=packed), model)
        info = b.load()
        try:
            tokens = _generate(b)
            assert len(tokens) == 8 and all(t.id >= 0 for t in tokens)
            d = info.details
            sizes[packed] = d["weight_bytes"]
            q = d["quantization"]
            if not packed:
                assert "experts" not in q and any("MoE experts" in n for n in q["not_quantized"])
                assert not any("PackedExperts" in c for c in d["kernel_path"]["weight_classes"])
                continue
            e = q["experts"]
            assert e["modules"] == 2 and e["fused_tensors_packed"] == 4 and e["experts_per_module"] == 4
            assert e["quant"] == quant and e["classes"] == {"MiniMaxExperts": 2} and not e["skipped"]
            assert e["bytes_before"] == 2 * 4 * 3 * 64 * 128 * 2  # bf16
            assert e["bytes_after"] < (0.52 if quant == "int8" else 0.3) * e["bytes_before"]
            assert e["when"] == "each decoder layer as it is built"
            assert d["kernel_path"]["weight_classes"][f"PackedExperts ({quant})"] == 2
            assert not any("MoE experts" in n for n in q["not_quantized"])
            assert not [n for n, p in b.hf_model.named_parameters() if p.dim() == 3]
        finally:
            b.close()
    # the model shrinks by exactly what packing the experts saved
    assert sizes[False] - sizes[True] == e["bytes_before"] - e["bytes_after"]


@pytest.mark.native
def test_quanto_backend_packs_a_checkpoints_experts_after_loading(tmp_path: Path) -> None:
    from engine.synthetic_hf import build_random_model, synthetic_tokenizer

    build_random_model(TINY_MINIMAX, "cpu", "bfloat16", block_size=8).save_pretrained(tmp_path)
    synthetic_tokenizer(TINY_MINIMAX).save_pretrained(tmp_path)
    model = ModelSpec(name="tiny-minimax", display_name="tiny MiniMax", arch=TINY_MINIMAX,
                      safetensors=WeightSource(path=str(tmp_path)))
    # pack_after_load: from_pretrained, then pack (the streaming packer is tests/engine/test_streaming_load.py)
    b = load_backend_class("quanto")(_run("int8", weights="real", quantize_experts=True, pack_after_load=True), model)
    info = b.load()
    try:
        assert len(_generate(b)) >= 1
        q = info.details["quantization"]
        assert q["quantizer"] == "transformers QuantoConfig (quantized while loading)"
        assert q["experts"]["modules"] == 2 and q["experts"]["when"].startswith("after from_pretrained")
        assert info.details["kernel_path"]["weight_classes"]["PackedExperts (int8)"] == 2
        assert info.details["kernel_path"]["weight_classes"]["WeightQBytesTensor"] > 0  # Linear layers by QuantoConfig
    finally:
        b.close()


def test_quantize_experts_with_another_quant_is_unsupported_in_one_line() -> None:
    model = ModelSpec(name="tiny-minimax", display_name="tiny MiniMax", arch=TINY_MINIMAX)
    run = _run("float8", quantize_experts=True)
    with pytest.raises(UnsupportedError) as e:
        load_backend_class("quanto")(run, model).load()
    msg = str(e.value)
    assert "\n" not in msg and e.value.status == "unsupported"
    assert run.name in msg and "backend quanto" in msg and "quantize_experts" in msg and "float8" in msg


def test_quantize_experts_is_a_boolean_setting() -> None:
    validate_settings("quanto", {"quantize_experts": True})
    with pytest.raises(ValueError, match="quantize_experts"):
        validate_settings("quanto", {"quantize_experts": "yes"})
    with pytest.raises(ValueError, match="quantize_experts"):
        validate_settings("bitsandbytes", {"quantize_experts": True})


# ---- catalog and placement ------------------------------------------------------------------


def test_the_catalogs_minimax_int8_run_packs_its_experts() -> None:
    cat = load_catalog(ROOT / "models.toml")
    [run] = [r for r in cat.runs.values() if r.model == "minimax-text-01" and r.backend == "quanto" and r.quant == "int8"]
    assert run.settings.get("quantize_experts") is True


def test_a_session_sizes_a_quantize_experts_run_as_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import launch
    from engine.placement import GpuInfo

    gpus = [GpuInfo(index=i, name="H100", total_gib=80.0, free_gib=80.0) for i in range(8)]
    monkeypatch.setattr(launch, "_machine_gpus", lambda: gpus)
    catalog = load_catalog(ROOT / "models.toml")
    packed = catalog.runs["minimax-text-01/quanto/int8"]
    stock = RunSpec("minimax-text-01/quanto/int8@stock", "minimax-text-01", "quanto", "int8")
    runs = [packed, stock]
    options = SimpleNamespace(extra={}, settings_overrides={}, executor=None)
    launch._place(catalog, runs, SimpleNamespace(gpus="auto", exclusive=False), options)  # type: ignore[arg-type]
    assert [r.name for r in runs] == ["minimax-text-01/quanto/int8"]  # the stock run left out before loading
    assert [u["run"] for u in options.extra["unplaceable"]] == ["minimax-text-01/quanto/int8@stock"]
    assert options.assignments["minimax-text-01/quanto/int8"] == list(range(7))
    assert len(options.settings_overrides["minimax-text-01/quanto/int8"]["max_memory"]) == 7
