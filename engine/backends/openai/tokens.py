"""Counting a served answer's tokens when the server does not say (no ``usage`` in its stream).

The count comes from the model's own tokenizer, loaded in the run's process:

* ``gguf`` — the vocabulary of the model's GGUF through llama.cpp (``vocab_only``: no weights),
  the same tokenizer the llama.cpp backend uses;
* a Hugging Face tokenizer (``transformers.AutoTokenizer``) from a local folder or a hub repo.

:func:`load_tokenizer` picks one from the run's ``tokenizer`` setting: ``auto`` (the default) takes
the model's GGUF when one is on this machine (a path or a package file: nothing is downloaded),
else its safetensors source's tokenizer; ``gguf``, a ``.gguf`` path, a folder or a hub repo id
choose; ``none`` counts nothing (the run then reports stream chunks).

Prompt tokens are counted on the chat rendered with the model's Jinja template, as servers render
it (vLLM, SGLang, llama-cpp-python and llama-server with ``--jinja`` all apply the template that
ships with the model); a server with its own template can differ by a few tokens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

from engine.catalog import ModelSpec


class Tokenizer(Protocol):
    name: str

    def count(self, text: str) -> int:
        """Tokens of a generated text (no special tokens added)."""

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens of the chat rendered with the model's template and the generation prompt."""


class GgufTokenizer:
    """A GGUF's vocabulary and chat template through llama.cpp, without its weights."""

    def __init__(self, path: Path, run_name: str):
        import llama_cpp

        from engine.backends.llamacpp import _install_log_sink

        _install_log_sink(llama_cpp)  # llama.cpp's log into the ring buffer, not the terminal
        lib = self._lib = llama_cpp
        lib.llama_backend_init()
        mp = lib.llama_model_default_params()
        mp.vocab_only = True
        model = lib.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            raise ValueError(f"llama.cpp could not read the vocabulary of {path}")
        self._model = model
        self._vocab = lib.llama_model_get_vocab(model)
        tmpl = lib.llama_model_chat_template(model, None)
        self._template = tmpl.decode("utf-8", errors="replace") if tmpl else None
        self._lock = threading.Lock()
        self.name = f"gguf vocabulary of {path.name}"
        self.run_name = run_name

    def _tokenize(self, text: str, add_special: bool) -> int:
        lib = self._lib
        data = text.encode("utf-8")
        n_max = len(data) + 16
        with self._lock:
            toks = (lib.llama_token * n_max)()
            n = lib.llama_tokenize(self._vocab, data, len(data), toks, n_max, add_special, True)
            if n < 0:
                n_max = -n
                toks = (lib.llama_token * n_max)()
                n = lib.llama_tokenize(self._vocab, data, len(data), toks, n_max, add_special, True)
        return max(0, int(n))

    def count(self, text: str) -> int:
        return self._tokenize(text, False) if text else 0

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        if not self._template:
            return None
        import jinja2.sandbox

        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(msg: str) -> None:
            raise ValueError(msg)

        env.globals["raise_exception"] = raise_exception
        lib, vocab = self._lib, self._vocab

        def text_of(tok: int) -> str:
            t = lib.llama_vocab_get_text(vocab, tok) if tok >= 0 else None
            return t.decode("utf-8", errors="replace") if t else ""

        try:
            text = env.from_string(self._template).render(
                messages=messages, add_generation_prompt=True,
                bos_token=text_of(int(lib.llama_vocab_bos(vocab))), eos_token=text_of(int(lib.llama_vocab_eos(vocab))),
            )
        except Exception:
            return None
        bos = text_of(int(lib.llama_vocab_bos(vocab)))
        add_bos = bool(lib.llama_vocab_get_add_bos(vocab)) and not (bos and text.startswith(bos))
        return self._tokenize(text, add_bos)

    def close(self) -> None:
        if self._model:
            self._lib.llama_model_free(self._model)
            self._model = None


class HfTokenizer:
    """A Hugging Face tokenizer (``transformers.AutoTokenizer``) from a folder or a hub repo."""

    def __init__(self, source: str):
        from transformers import AutoTokenizer

        self._tok: Any = AutoTokenizer.from_pretrained(source)
        self._lock = threading.Lock()
        self.name = f"tokenizer of {source}"

    def count(self, text: str) -> int:
        with self._lock:
            return len(self._tok.encode(text, add_special_tokens=False)) if text else 0

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        try:
            with self._lock:
                ids = self._tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        except Exception:
            return None
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    def close(self) -> None:
        pass


def _local_gguf(model: ModelSpec) -> Path | None:
    """A GGUF of the model already on this machine (a path or a package file), any quantization."""
    from engine.backends.base import WeightsNotFoundError
    from engine.weights import resolve

    for quant, src in model.gguf.items():
        if src.path or src.package:
            try:
                return resolve(src, f"{model.name} GGUF {quant}")
            except WeightsNotFoundError:
                continue
    return None


def load_tokenizer(setting: str, model: ModelSpec, run_name: str) -> tuple[Tokenizer | None, str]:
    """The tokenizer a ``tokenizer`` setting names, and a note saying which (or why none).

    Raises ValueError when an explicitly named tokenizer cannot be loaded; ``auto`` never raises.
    """
    s = setting.strip()
    if s == "none":
        return None, "none (tokenizer = none)"
    if s == "auto":
        path = _local_gguf(model)
        if path is not None:
            try:
                tok = GgufTokenizer(path, run_name)
                return tok, tok.name
            except Exception as e:
                why = f"{path.name}: {e}"
        else:
            why = "no GGUF of the model on this machine"
        src = model.safetensors
        if src is not None and (src.path or src.repo):
            name = os.path.expanduser(src.path) if src.path else str(src.repo)
            try:
                hf = HfTokenizer(name)
                return hf, hf.name
            except Exception as e:
                why += f"; {name}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
        return None, f"none ({why})"
    if s == "gguf":
        path = _local_gguf(model)
        if path is None:
            from engine.weights import gguf_path

            if not model.gguf:
                raise ValueError(f"tokenizer = gguf: model {model.name} has no GGUF source")
            path = gguf_path(model, next(iter(model.gguf)))
        tok = GgufTokenizer(path, run_name)
        return tok, tok.name
    if s.endswith(".gguf"):
        p = Path(os.path.expanduser(s))
        if not p.exists():
            raise ValueError(f"tokenizer {s!r}: no such file")
        tok = GgufTokenizer(p, run_name)
        return tok, tok.name
    try:
        hf = HfTokenizer(os.path.expanduser(s) if os.path.exists(os.path.expanduser(s)) else s)
    except Exception as e:
        raise ValueError(f"tokenizer {s!r}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None
    return hf, hf.name
