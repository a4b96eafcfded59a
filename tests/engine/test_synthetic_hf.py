"""Random-weight transformers models on tiny shapes: right shapes, finite logits, hook order, tokenizer."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from engine.catalog import Architecture  # noqa: E402
from engine.synthetic_hf import (  # noqa: E402
    build_random_model,
    hf_config,
    minimax_layer_types,
    synthetic_tokenizer,
)
from engine.synthetic_vocab import EOS_TEXT, synthetic_vocab  # noqa: E402

TINY = {
    "llama": Architecture("llama", 0, 2, 64, 4, 2, 16, 128, 49152 + 300, 256, rope_theta=5e5),
    "llama-tied": Architecture("llama", 0, 2, 64, 4, 2, 16, 128, 49152, 256, tie_embeddings=True),
    "mistral": Architecture("mistral", 0, 2, 64, 4, 2, 32, 128, 32768, 256, rope_theta=1e6),
    "qwen2": Architecture("qwen2", 0, 2, 64, 4, 2, 16, 128, 50000, 256, attention_bias=True, rms_norm_eps=1e-6),
    "minimax": Architecture(
        "minimax", 0, 4, 64, 4, 2, 32, 64, 50000, 256, experts=2, experts_per_token=1, softmax_attention_layers=1
    ),
}
MESSAGES = [{"role": "user", "content": "Quanto é 12 + 30? Responda com a letra em \\boxed{}."}]


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    torch.manual_seed(0)
    return {name: build_random_model(a, "cpu", "float32", block_size=8) for name, a in TINY.items()}


@pytest.mark.parametrize("name", list(TINY))
def test_shapes_match_a_from_config_reference(models: dict, name: str) -> None:
    from transformers import AutoModelForCausalLM

    arch = TINY[name]
    with torch.device("meta"):
        ref = AutoModelForCausalLM.from_config(hf_config(arch, dtype="float32", block_size=8))
    got = {k: tuple(v.shape) for k, v in models[name].state_dict().items()}
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert got == want
    assert not any(p.is_meta for p in models[name].parameters())
    assert not models[name].training


@pytest.mark.parametrize("name", list(TINY))
def test_forward_gives_finite_non_degenerate_logits(models: dict, name: str) -> None:
    arch = TINY[name]
    tok = synthetic_tokenizer(arch)
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    assert int(ids.max()) < arch.vocab_size
    with torch.no_grad():
        logits = models[name](ids).logits
    assert logits.shape == (1, ids.shape[1], arch.vocab_size)
    assert torch.isfinite(logits).all()
    assert logits.std() > 1e-3  # random weights, not zeros


def test_generate_runs_to_the_cap(models: dict) -> None:
    arch = TINY["minimax"]  # lightning attention + MoE + its own cache
    tok = synthetic_tokenizer(arch)
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    out = models["minimax"].generate(ids, max_new_tokens=12, min_new_tokens=12, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 12


def test_tied_embeddings_share_storage(models: dict) -> None:
    m = models["llama-tied"]
    assert m.lm_head.weight.data_ptr() == m.model.embed_tokens.weight.data_ptr()
    assert models["llama"].lm_head.weight.data_ptr() != models["llama"].model.embed_tokens.weight.data_ptr()


def test_weights_look_like_normal_init(models: dict) -> None:
    m = models["llama"]
    w = m.model.layers[0].self_attn.q_proj.weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.004
    assert torch.equal(m.model.layers[0].input_layernorm.weight, torch.ones(64))
    assert (models["qwen2"].model.layers[0].self_attn.q_proj.bias is not None)


def test_quantize_layer_hook_sees_each_layer_after_materializing() -> None:
    arch = TINY["llama"]
    seen: list[int] = []

    class Marker(torch.nn.Module):
        """A replacement layer, to check that a returned module takes the layer's place."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: object, **kwargs: object) -> object:
            return self.inner(*args, **kwargs)

    def hook(layer: torch.nn.Module) -> torch.nn.Module | None:
        assert not any(p.is_meta for p in layer.parameters())
        seen.append(layer.self_attn.layer_idx)
        return Marker(layer) if layer.self_attn.layer_idx == 1 else None

    m = build_random_model(arch, "cpu", "float32", quantize_layer=hook)
    assert seen == [0, 1]
    assert isinstance(m.model.layers[1], Marker)
    with torch.no_grad():
        assert torch.isfinite(m(torch.tensor([[1, 2, 3]])).logits).all()


def test_same_seed_same_weights() -> None:
    arch = TINY["mistral"]
    a = build_random_model(arch, "cpu", "float32", seed=3)
    b = build_random_model(arch, "cpu", "float32", seed=3)
    assert torch.equal(a.model.layers[1].mlp.down_proj.weight, b.model.layers[1].mlp.down_proj.weight)


def test_bf16_build() -> None:
    m = build_random_model(TINY["qwen2"], "cpu", "bfloat16", attn_implementation="eager")
    assert m.config._attn_implementation == "eager"
    assert m.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    with torch.no_grad():
        assert torch.isfinite(m(torch.tensor([[1, 2, 3]])).logits.float()).all()


def test_hf_config_real_shapes() -> None:
    qwen = Architecture(
        "qwen2", 72_700_000_000, 80, 8192, 64, 8, 128, 29568, 152064, 32768,
        rope_theta=1e6, rms_norm_eps=1e-6, attention_bias=True,
    )
    c = hf_config(qwen)
    assert (c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.vocab_size) == (80, 8192, 29568, 152064)
    assert c.rope_parameters["rope_theta"] == 1e6 and c.num_key_value_heads == 8
    mm = Architecture(
        "minimax", 456_000_000_000, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_000,
        rope_theta=1e7, experts=32, experts_per_token=2, softmax_attention_layers=10,
    )
    c = hf_config(mm)
    assert c.num_local_experts == 32 and c.num_experts_per_tok == 2 and c.head_dim == 128
    full = [i for i, t in enumerate(c.layer_types) if t == "full_attention"]
    assert full == [7, 15, 23, 31, 39, 47, 55, 63, 71, 79]  # MiniMax-Text-01's attn_type_list
    assert abs(c.mlp_alpha_factor - 3.5565588) < 1e-6  # (2 * 80) ** 0.25, as its config
    with pytest.raises(ValueError, match="family"):
        hf_config(Architecture("gpt9", 0, 1, 8, 1, 1, 8, 8, 300, 8))


def test_minimax_layer_types_spread() -> None:
    def arch(layers: int, soft: int) -> Architecture:
        return Architecture("minimax", 0, layers, 8, 1, 1, 8, 8, 300, 8, experts=2, experts_per_token=1,
                            softmax_attention_layers=soft)

    assert minimax_layer_types(arch(4, 0)) == ["full_attention"] * 4
    assert minimax_layer_types(arch(4, 1)) == ["linear_attention"] * 3 + ["full_attention"]
    assert minimax_layer_types(arch(6, 2)).count("full_attention") == 2


def test_tokenizer_ids_fit_and_template() -> None:
    for vocab in (32768, 49152, 152064):
        arch = Architecture("llama", 0, 1, 8, 1, 1, 8, 8, vocab, 4096)
        tok = synthetic_tokenizer(arch)
        assert len(tok) == vocab
        text = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
        assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")
        ids = tok(text).input_ids
        assert max(ids) < vocab
        assert tok.eos_token == EOS_TEXT and tok.eos_token_id == vocab - 1
        assert tok.decode(ids) == text
    # a truncated vocabulary cuts Portuguese into only a few percent more tokens
    sample = "O pai de Carolina mediu o comprimento da mesa da sala com sua mão e contou 8 palmos. " * 4
    full = len(synthetic_tokenizer(Architecture("llama", 0, 1, 8, 1, 1, 8, 8, 49152, 64)).encode(sample))
    cut = len(synthetic_tokenizer(Architecture("llama", 0, 1, 8, 1, 1, 8, 8, 32768, 64)).encode(sample))
    assert full <= cut <= full * 1.15
    assert synthetic_vocab(32768).source in ("smollm2", "bytes")


def test_layer_devices_place_each_layer() -> None:
    arch = TINY["llama"]
    m = build_random_model(arch, "cpu", "float32", layer_devices=["cpu", torch.device("cpu")])
    assert all(p.device.type == "cpu" for p in m.parameters())
    with pytest.raises(ValueError, match="2 layers"):
        build_random_model(arch, "cpu", "float32", layer_devices=["cpu"])
    with pytest.raises(RuntimeError, match="meta"):  # nothing may stay unallocated
        build_random_model(arch, "cpu", "float32", layer_devices=["cpu", "meta"])
