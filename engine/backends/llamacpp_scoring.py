"""Scoring a given text with the llama.cpp backend: the quality axis's teacher-forced log-probs.

One prefill of prompt + completion in chunks of ``n_batch``, logits kept (``batch.logits``) only
for the positions that predict the completion's tokens, each row log-softmaxed in numpy.
"""

from __future__ import annotations

import ctypes
from typing import Any

from engine.backends.base import BackendError, ScoreRequest


def score_teacher_forced(backend: Any, request: ScoreRequest) -> Any:
    """The completion teacher-forced after the rendered prompt: one prefill of prompt +
    completion in chunks of n_batch, with logits kept for the positions that predict the
    completion's tokens (``batch.logits``), each row log-softmaxed in numpy."""
    import numpy as np

    from engine.quality import Scored, prompt_digest

    if backend._ctx is None:
        raise BackendError(f"{backend.run.name}: score() before load()")
    lib, ctx = backend._lib, backend._ctx
    prompt = backend.tokenize(backend.render_chat(request.messages))
    full = backend._tokenize_text(request.completion)
    room = backend._n_ctx - len(prompt)
    if room <= 0:
        raise BackendError(f"{backend.run.name}: prompt of {len(prompt)} tokens does not fit n_ctx={backend._n_ctx}")
    comp = full[:room]
    n_vocab = int(lib.llama_vocab_n_tokens(backend._vocab))
    if len(comp) == len(full):
        text_bytes = len(request.completion.encode("utf-8"))
    else:  # the context window cut the solution: the bytes of the tokens scored
        buf = ctypes.create_string_buffer(256)
        text_bytes = sum(max(0, lib.llama_token_to_piece(backend._vocab, t, buf, 256, 0, False)) for t in comp)
    out = Scored(tokens=comp, target_logprobs=[], argmax=[], n_vocab=n_vocab, text_bytes=text_bytes,
                 prompt_tokens=len(prompt), top_k=min(request.top_k, n_vocab), at_k=request.at_k, prompt_digest=prompt_digest(prompt))
    at_ids = np.asarray(request.at_ids, dtype=np.int64) if request.at_k and request.at_ids is not None else None
    if at_ids is not None and (at_ids.size % request.at_k or (at_ids.size and (at_ids.min() < 0 or at_ids.max() >= n_vocab))):
        at_ids = None  # another vocabulary: the comparison reports it, no log-probs are made up
    parts: dict[str, list[Any]] = {"target": [], "argmax": [], "top_ids": [], "top_lp": [], "at_lp": []}
    ids = prompt + comp
    first = len(prompt) - 1  # the position whose logits predict comp[0]
    lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    n_batch = int(lib.llama_n_batch(ctx))
    batch = lib.llama_batch_init(n_batch, 0, 1)
    try:
        for start in range(0, len(ids), n_batch):
            chunk = ids[start : start + n_batch]
            batch.n_tokens = len(chunk)
            want: list[tuple[int, int]] = []  # (index in the batch, completion position)
            for j, tok in enumerate(chunk):
                pos = start + j
                batch.token[j] = tok
                batch.pos[j] = pos
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                keep = first <= pos < len(ids) - 1
                batch.logits[j] = keep
                if keep:
                    want.append((j, pos - first))
            backend._check_decode(lib.llama_decode(ctx, batch))
            if not want:
                continue
            rows = np.empty((len(want), n_vocab), dtype=np.float32)
            for r, (j, _) in enumerate(want):
                rows[r] = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, j), shape=(n_vocab,))
            positions = [p for _, p in want]
            sub = at_ids.reshape(-1, request.at_k) if at_ids is not None else None
            _row_figures(rows, [comp[p] for p in positions], out.top_k,
                         sub[[p for p in positions if p < len(sub)]] if sub is not None else None, parts)
    finally:
        lib.llama_batch_free(batch)
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    _fill_scored(out, parts)
    return out


def _row_figures(rows: Any, targets: list[int], top_k: int, at_ids: Any, parts: dict[str, list[Any]]) -> None:
    """Log-softmax a block of logits rows (float32, sums in float64) and collect per row the
    target's log-prob, the arg-max, the top_k ids/log-probs and the log-probs at ``at_ids``."""
    import numpy as np

    m = rows.max(axis=1, keepdims=True)
    lse = m[:, 0].astype(np.float64) + np.log(np.exp(rows - m).sum(axis=1, dtype=np.float64))
    logp = (rows - lse[:, None].astype(np.float32)).astype(np.float32)
    idx = np.arange(len(rows))
    parts["target"].append(logp[idx, np.asarray(targets)])
    parts["argmax"].append(rows.argmax(axis=1))
    if top_k:
        top = np.argpartition(-logp, top_k - 1, axis=1)[:, :top_k]
        vals = np.take_along_axis(logp, top, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        parts["top_ids"].append(np.take_along_axis(top, order, axis=1).astype(np.int32))
        parts["top_lp"].append(np.take_along_axis(vals, order, axis=1))
    if at_ids is not None and len(at_ids):
        parts["at_lp"].append(np.take_along_axis(logp[: len(at_ids)], at_ids, axis=1))


def _fill_scored(out: Any, parts: dict[str, list[Any]]) -> None:
    """Concatenate ``_row_figures``' blocks into the Scored's flat arrays."""
    from array import array

    import numpy as np

    def flat(key: str, dtype: Any) -> Any:
        return np.concatenate([p.reshape(-1) for p in parts[key]]).astype(dtype) if parts[key] else np.zeros(0, dtype)

    out.target_logprobs = array("f", flat("target", np.float32).tobytes())
    out.argmax = [int(x) for x in flat("argmax", np.int64)]
    out.top_ids = array("i", flat("top_ids", np.int32).tobytes())
    out.top_logprobs = array("f", flat("top_lp", np.float32).tobytes())
    out.at_logprobs = array("f", flat("at_lp", np.float32).tobytes())
