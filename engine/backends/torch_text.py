"""Text in and out of a PyTorch backend: the chat rendered as token ids, and ids back to text pieces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The chat rendered with the model's template, as token ids (no specials added twice)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "".join(m["content"] + "\n" for m in messages)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class IncrementalDetokenizer:
    """Token ids in, text pieces out, one piece per id; the pieces concatenate to ``decode(ids)``.

    Each new piece is the decode of a short window (from the start of the previous piece) minus
    the decode of that window without the new id, as TGI and vLLM do: a window that starts at a
    piece boundary decodes to the same leading text both times, so SentencePiece's leading spaces
    come out right. While the newest ids end inside a multi-byte UTF-8 character (the decode ends
    in U+FFFD) the piece is empty and the bytes wait for the next id. The last id flushes:
    its piece is whatever the full decode holds beyond what was emitted.
    """

    def __init__(self, tokenizer: Any):
        backend = getattr(tokenizer, "_tokenizer", None)  # the Rust tokenizer: no Python wrappers
        if backend is not None and hasattr(backend, "decode") and not getattr(tokenizer, "clean_up_tokenization_spaces", False):
            self._decode: Callable[[list[int]], str] = lambda ids: backend.decode(ids, skip_special_tokens=False)
        else:
            self._decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)
        self.ids: list[int] = []
        self._pieces: list[str] = []
        self._prefix = 0
        self._read = 0

    def push(self, token_id: int, last: bool = False) -> str:
        ids = self.ids
        ids.append(token_id)
        if last:
            full = self._decode(ids)
            emitted = "".join(self._pieces)
            if full.startswith(emitted):
                piece = full[len(emitted):]
                self._pieces.append(piece)
                return piece
        prefix_text = self._decode(ids[self._prefix : self._read])
        new_text = self._decode(ids[self._prefix :])
        if len(new_text) > len(prefix_text) and not new_text.endswith("\ufffd"):
            piece = new_text[len(prefix_text) :]
            self._prefix, self._read = self._read, len(ids)
        else:
            piece = ""
        self._pieces.append(piece)
        return piece

    @property
    def text(self) -> str:
        return "".join(self._pieces)
