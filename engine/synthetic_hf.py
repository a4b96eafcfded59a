"""Real architectures with random weights, for the PyTorch backends (transformers, quanto, bitsandbytes).

No checkpoint reaches the lent GPU machines, so a large model is built from its public config
facts (:class:`engine.catalog.Architecture`) with random weights: true speed and memory, no
meaningful answers (correctness shows as n/a).

- :func:`hf_config` turns an ``Architecture`` into the transformers config of its family.
- :func:`synthetic_tokenizer` is a fast tokenizer over the shared synthetic vocabulary
  (:mod:`engine.synthetic_vocab`: SmolLM2's BPE fitted to the model's vocabulary size, ChatML
  template), so prompt token counts stay realistic and every id is below ``vocab_size``.
- :func:`build_random_model` builds the model on the ``meta`` device (no memory), then
  materializes it piece by piece on the target device with the family's own init (normal,
  std 0.02; norms 1; rotary and lightning-attention buffers recomputed). After each decoder layer
  a ``quantize_layer`` hook may pack it, so a quantized backend never holds the whole model in
  bf16: Qwen2.5-72B at int4 fits one 80 GB GPU, MiniMax-Text-01 can be built one 11 GB layer at
  a time.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine.catalog import Architecture
from engine.synthetic_vocab import BOS_TEXT, EOS_TEXT, synthetic_vocab

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

#: random init scale, transformers' ``initializer_range`` default
INIT_STD = 0.02


def minimax_layer_types(arch: Architecture) -> list[str]:
    """Which MiniMax layers use softmax ("full_attention") and which lightning ("linear_attention").

    MiniMax-Text-01 puts one softmax layer after every seven lightning layers (layers 7, 15, ...,
    79: ``attn_type_list`` in its config). ``softmax_attention_layers`` = n spreads n softmax layers
    the same way: layer i is softmax when ``(i + 1) * n // layers`` steps up. 0 means all softmax.
    """
    n, total = arch.softmax_attention_layers, arch.layers
    if n <= 0 or n >= total:
        return ["full_attention"] * total
    return [
        "full_attention" if (i + 1) * n // total > i * n // total else "linear_attention"
        for i in range(total)
    ]


def hf_config(arch: Architecture, *, dtype: str = "bfloat16", block_size: int | None = None) -> PretrainedConfig:
    """The transformers config object of ``arch``'s family, with the synthetic vocabulary's ids.

    llama -> ``LlamaConfig``, mistral -> ``MistralConfig`` (no sliding window, as v0.3),
    qwen2 -> ``Qwen2Config`` (q/k/v biases are built in), minimax -> ``MiniMaxConfig``
    (``layer_types`` from :func:`minimax_layer_types`, DeepNorm residual factors
    ``alpha = (2 * layers) ** 0.25`` as in MiniMax-Text-01; ``block_size`` for lightning attention
    defaults to 256). Plain RoPE with ``rope_theta`` (Llama 3's frequency scaling is left out: it
    changes no shapes and no speed). MiniMax-Text-01 rotates only half of each head (rotary_dim
    64); transformers' MiniMax rotates the full head, which costs the same bandwidth.
    """
    import transformers

    vocab = synthetic_vocab(arch.vocab_size)
    common: dict[str, Any] = dict(
        vocab_size=arch.vocab_size, hidden_size=arch.hidden_size, intermediate_size=arch.ffn_size,
        num_hidden_layers=arch.layers, num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads, max_position_embeddings=arch.context_length,
        rms_norm_eps=arch.rms_norm_eps, tie_word_embeddings=arch.tie_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": float(arch.rope_theta)},
        bos_token_id=vocab.bos_id, eos_token_id=vocab.eos_id, pad_token_id=vocab.pad_id,
        initializer_range=INIT_STD, head_dim=arch.head_dim, dtype=dtype,
    )
    family = arch.family
    if family == "llama":
        return transformers.LlamaConfig(attention_bias=arch.attention_bias, **common)
    if family == "mistral":
        return transformers.MistralConfig(sliding_window=None, **common)
    if family == "qwen2":
        return transformers.Qwen2Config(use_sliding_window=False, **common)
    if family == "minimax":
        if not arch.is_moe:
            raise ValueError("minimax architecture needs experts and experts_per_token")
        alpha = (2 * arch.layers) ** 0.25
        return transformers.MiniMaxConfig(
            num_local_experts=arch.experts, num_experts_per_tok=arch.experts_per_token,
            layer_types=minimax_layer_types(arch), block_size=block_size or 256,
            full_attn_alpha_factor=alpha, full_attn_beta_factor=1.0,
            linear_attn_alpha_factor=alpha, linear_attn_beta_factor=1.0,
            mlp_alpha_factor=alpha, mlp_beta_factor=1.0, **common,
        )
    raise ValueError(f"no transformers config for architecture family {family!r}")


def synthetic_tokenizer(arch: Architecture) -> PreTrainedTokenizerBase:
    """A fast tokenizer over the synthetic vocabulary of ``arch.vocab_size`` ids, with ChatML.

    Same tokens, merges and pre-tokenization (digits split one by one, then GPT-2 byte-level
    regex) as the synthetic GGUF's, so the PyTorch and llama.cpp backends see the same prompt
    lengths. Ids are < ``arch.vocab_size`` by construction (the vocabulary is cut or padded, not
    remapped). No BOS is added automatically, like SmolLM2.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = synthetic_vocab(arch.vocab_size)
    bpe = models.BPE(
        vocab={t: i for i, t in enumerate(vocab.tokens)},
        merges=[(a, b) for a, b in (m.split(" ", 1) for m in vocab.merges)],
        fuse_unk=False, byte_fallback=False,
    )
    tok = Tokenizer(bpe)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if vocab.pre_tokenizer == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in vocab.special_tokens])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS_TEXT, eos_token=EOS_TEXT, pad_token=EOS_TEXT,
        chat_template=vocab.chat_template, model_max_length=arch.context_length,
    )
    return fast


def _materialize(model: PreTrainedModel, module: torch.nn.Module, device: torch.device) -> None:
    """Allocate ``module``'s meta tensors on ``device`` and fill them with the family's init."""
    import torch

    module.to_empty(device=device, recurse=True)
    with torch.no_grad():
        for sub in module.modules():
            model._init_weights(sub)


def build_random_model(
    arch: Architecture,
    device: str | torch.device,
    dtype: str | torch.dtype = "bfloat16",
    *,
    quantize_layer: Callable[[torch.nn.Module], torch.nn.Module | None] | None = None,
    block_size: int | None = None,
    attn_implementation: str | None = None,
    layer_devices: Sequence[str | torch.device] | None = None,
    seed: int = 0,
) -> PreTrainedModel:
    """``arch`` as a ``*ForCausalLM`` on ``device`` with random weights, in eval mode.

    Built on ``meta``, then materialized in order: embeddings, each decoder layer, final norm,
    rotary embedding, LM head (re-tied to the embeddings when ``tie_embeddings``). Right after a
    decoder layer is materialized, ``quantize_layer(layer)`` is called when given; it may
    quantize in place (quanto ``quantize`` + ``freeze``) or return a replacement module
    (bitsandbytes linear swaps). Embeddings and LM head are never passed to it, as quantizers
    usually skip them. Peak device memory is therefore the packed layers so far plus one layer
    in ``dtype``. ``attn_implementation`` ("sdpa", "eager", ...) goes to ``from_config``
    (transformers' default when None); ``block_size`` is MiniMax's lightning-attention block.
    ``layer_devices[i]``, when given, is where decoder layer ``i`` is built instead of ``device``
    (a multi-GPU split without a copy through the first GPU; embeddings, final norm, rotary and LM
    head stay on ``device``, moving them is the caller's placement). ``seed`` seeds torch's
    generators for repeatable weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    dev = torch.device(device)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    config = hf_config(arch, dtype=str(torch_dtype).removeprefix("torch."), block_size=block_size)
    torch.manual_seed(seed)
    with torch.device("meta"):
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype, **extra)
    base = model.model
    if layer_devices is not None and len(layer_devices) != len(base.layers):
        raise ValueError(f"layer_devices names {len(layer_devices)} devices for {len(base.layers)} layers")
    _materialize(model, base.embed_tokens, dev)
    for i in range(len(base.layers)):
        _materialize(model, base.layers[i], torch.device(layer_devices[i]) if layer_devices else dev)
        if quantize_layer is not None:
            replacement = quantize_layer(base.layers[i])
            if replacement is not None:
                base.layers[i] = replacement
    _materialize(model, base.norm, dev)
    _materialize(model, base.rotary_emb, dev)
    if arch.tie_embeddings:
        model.lm_head.weight = base.embed_tokens.weight
    else:
        _materialize(model, model.lm_head, dev)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"synthetic model left tensors on meta: {', '.join(leftover[:5])}")
    model.eval()
    return model
