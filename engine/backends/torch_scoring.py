"""Scoring a given text with a PyTorch backend: the quality axis's teacher-forced log-probs."""

from __future__ import annotations

from typing import Any

from engine.backends.base import BackendError, OutOfMemoryError, ScoreRequest


def score_teacher_forced(backend: Any, request: ScoreRequest) -> Any:
    """The completion teacher-forced after the rendered prompt: one forward pass over prompt +
    completion without a cache, logits kept for the positions that predict the completion
    (``logits_to_keep``), log-softmaxed in float32 on the model's device."""
    from array import array

    from engine.quality import Scored, prompt_digest

    if backend.hf_model is None:
        raise BackendError(f"{backend.run.name}: score() before load()")
    torch = backend._torch
    prompt = backend.render_prompt(request.messages)
    full = list(backend.tokenizer(request.completion, add_special_tokens=False)["input_ids"])
    limit = int(getattr(backend.hf_model.config, "max_position_embeddings", 0) or 0) or len(prompt) + len(full)
    comp = full[: max(0, limit - len(prompt))]
    text_bytes = len(request.completion.encode("utf-8")) if len(comp) == len(full) else len(backend.tokenizer.decode(comp).encode("utf-8"))
    dev = backend._input_device
    try:
        with torch.no_grad():
            ids = torch.tensor([prompt + comp], dtype=torch.long, device=dev)
            positions = torch.arange(ids.shape[1], device=dev).unsqueeze(0)
            out = backend.hf_model(input_ids=ids, position_ids=positions, use_cache=False, logits_to_keep=len(comp) + 1)
            logits = out.logits[0, :-1].float()  # row t predicts comp[t]
            del out
            n_vocab = int(logits.shape[-1])
            logp = torch.log_softmax(logits, dim=-1)
            target = torch.tensor(comp, dtype=torch.long, device=logp.device)
            scored = Scored(tokens=comp, target_logprobs=array("f", logp.gather(1, target[:, None])[:, 0].cpu().numpy().tobytes()),
                            argmax=[int(x) for x in logits.argmax(dim=-1).tolist()], n_vocab=n_vocab, text_bytes=text_bytes,
                            prompt_tokens=len(prompt), top_k=min(request.top_k, n_vocab), at_k=request.at_k, prompt_digest=prompt_digest(prompt))
            if scored.top_k:
                vals, top = torch.topk(logp, scored.top_k, dim=-1, sorted=True)
                scored.top_ids = array("i", top.to(torch.int32).cpu().numpy().tobytes())
                scored.top_logprobs = array("f", vals.cpu().numpy().tobytes())
            if request.at_k and request.at_ids is not None and len(request.at_ids) % request.at_k == 0:
                import numpy as np

                at = torch.from_numpy(np.asarray(request.at_ids, dtype=np.int64)).view(-1, request.at_k)[: len(comp)]
                if len(at) and int(at.min()) >= 0 and int(at.max()) < n_vocab:
                    got = logp[: len(at)].gather(1, at.to(logp.device))
                    scored.at_logprobs = array("f", got.cpu().numpy().tobytes())
            del logits, logp
        return scored
    except BaseException as e:
        if backend._is_oom(e):
            raise OutOfMemoryError(backend._oom_message(f"scoring ({len(prompt)} + {len(comp)} tokens)")) from None
        raise
