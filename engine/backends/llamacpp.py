"""llama.cpp through llama-cpp-python's low-level C API: tokenize, decode, sample, one token at a time.

Why the low-level API and not ``llama_cpp.Llama``:

* **Exact per-token timing.** Each ``llama_decode`` + ``llama_sampler_sample`` produces one token and
  we yield it at once, so the engine timestamps tokens, not text chunks held back for stop strings.
* **The CUDA load crash.** On the lent H100 a CUDA build of llama-cpp-python 0.3.36 segfaulted inside
  ``Llama(...)`` while loading any GGUF, while ``llama_model_load_from_file`` with llama.cpp's own
  default model parameters loaded fine (see README, "llama.cpp on the GPU"). This module builds the
  model parameters from ``llama_model_default_params()`` and changes only what a run sets.

The same code runs the CPU build (CI, the embedded model) and the CUDA build (every layer
offloaded, flash attention, ``split_mode``/``tensor_split`` over several GPUs).
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from engine.backends.base import (
    AnswerStream,
    Backend,
    BackendError,
    Capabilities,
    GenerationRequest,
    LoadInfo,
    OutOfMemoryError,
    ScoreRequest,
    Token,
    UnsupportedError,
    WeightsNotFoundError,
)

_SPLIT_MODES = {"none": 0, "layer": 1, "row": 2}
_LOAD_MODES = {"auto": -1, "none": 0, "mmap": 1, "mlock": 2, "mmap_mlock": 3}
# ggml_type ids for the KV cache types users pick (ggml.h)
_KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30}

# llama.cpp's log goes here (a ring buffer), so a failed load can say why in one line
_LOG: deque[str] = deque(maxlen=200)
_LOG_LOCK = threading.Lock()
_log_callback_ref: Any = None


def _install_log_sink(llama_cpp: Any) -> None:
    global _log_callback_ref
    if _log_callback_ref is not None:
        return
    # in a run process fd 2 is the run's own log file: llama.cpp's lines go there too, so a native
    # crash leaves its last words in logs/<run>.log (the ring buffer dies with the process)
    verbose = os.environ.get("QUANTARENA_LLAMA_VERBOSE") == "1" or bool(os.environ.get("QUANTARENA_RUN_LOG"))

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def _sink(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        try:
            s = text.decode("utf-8", errors="replace")
        except Exception:  # never raise into C
            return
        with _LOG_LOCK:
            _LOG.append(s)
        if verbose:
            os.write(2, text)

    _log_callback_ref = _sink  # keep a reference: C holds only the pointer
    llama_cpp.llama_log_set(_sink, ctypes.c_void_p(0))


def _last_log_error() -> str:
    with _LOG_LOCK:
        lines = [ln.strip() for ln in _LOG if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "failed" in low or "out of memory" in low or "unable" in low:
            return ln
    return lines[-1] if lines else ""


def gpu_offload_supported() -> bool:
    """Whether the installed llama-cpp-python build can offload to a GPU (imports llama_cpp)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaCppBackend(Backend):
    id = "llama.cpp"
    capabilities = Capabilities(gpu=True, multi_gpu=True, max_batch=None, synthetic=True, exact_token_times=True, scoring=True)
    REQUIRES = ("llama_cpp",)
    DISTRIBUTION = "llama-cpp-python"
    EXTRA = "llamacpp"
    SETTINGS: ClassVar[dict[str, Any]] = {
        "n_ctx": int,  # context window (prompt + answer); default 4096
        "n_batch": int,  # logical batch for prompt processing; default 512
        "n_ubatch": int,  # physical batch; default 512
        "n_gpu_layers": int,  # -1 = all layers (default on GPU), 0 = CPU only
        "flash_attn": bool,  # default: on when offloaded to a GPU, llama.cpp's auto otherwise
        "split_mode": str,  # none | layer | row
        "tensor_split": list,  # fraction of the model per GPU, e.g. [0.5, 0.5]
        "main_gpu": int,
        "n_threads": int,  # default: physical cores (all cores when offloaded)
        "n_threads_batch": int,
        "load_mode": str,  # auto | none | mmap | mlock | mmap_mlock
        "kv_cache_type": str,  # f16 (default) | q8_0 | q4_0 | bf16 | f32
        "gguf_path": str,  # override the catalog's GGUF source with a file
        "max_batch": int,  # sequences decoded at once (throughput mode): n_seq_max; n_ctx is per sequence
        "backend_sampling": bool,  # sample inside the graph: no logits row copied back (default: on a GPU)
        "extra_buffers": (str, bool),  # llama.cpp's extra CPU buffer types (AMX/repacked weights): auto | true | false
    }

    def __init__(self, run: Any, model: Any, *, cache_dir: str | None = None):
        super().__init__(run, model, cache_dir=cache_dir)
        self._lib: Any = None
        self._model: Any = None
        self._ctx: Any = None
        self._vocab: Any = None
        self._sampler_greedy: Any = None
        self._template: str | None = None
        self._n_ctx = 0
        self._eog_ids: list[int] = []
        self._backend_sampling = False
        self._extra_buffers: dict[str, Any] = {}
        self.gguf_path: Path | None = None

    # ---- loading -----------------------------------------------------------------------------

    def _resolve_gguf(self) -> Path:
        s = self.run.settings
        if "gguf_path" in s:
            p = Path(os.path.expanduser(s["gguf_path"]))
            if not p.exists():
                raise WeightsNotFoundError(f"{self.run.name}: GGUF not found at {p}")
            return p
        if self.run.synthetic:
            from engine import synthetic_gguf

            return synthetic_gguf.synthetic_gguf(self.model.arch, self.run.quant)
        from engine.weights import gguf_path

        return gguf_path(self.model, self.run.quant)

    def _wants_gpu(self, has_offload: bool) -> bool:
        dev = self.run.device
        if dev.startswith("cuda"):
            if not has_offload:
                raise UnsupportedError(
                    f"{self.run.name}: backend llama.cpp on {dev}: this llama-cpp-python build has no GPU "
                    "offload (llama_supports_gpu_offload() is false); build it with CMAKE_ARGS=-DGGML_CUDA=on"
                )
            return True
        if dev == "cpu":
            return False
        return has_offload and _cuda_visible()

    def load(self) -> LoadInfo:
        try:
            import llama_cpp
        except ImportError as e:
            raise UnsupportedError(
                f"{self.run.name}: backend llama.cpp: llama-cpp-python is not installed ({e}); pip install 'quantarena[llamacpp]'"
            ) from None
        lib = self._lib = llama_cpp
        _install_log_sink(lib)
        path = self.gguf_path = self._resolve_gguf()
        s = self.run.settings
        lib.llama_backend_init()
        has_offload = bool(lib.llama_supports_gpu_offload())
        on_gpu = self._wants_gpu(has_offload)

        mp = lib.llama_model_default_params()
        n_gpu_layers = s.get("n_gpu_layers", -1 if on_gpu else 0)
        mp.n_gpu_layers = 0x7FFFFFFF if n_gpu_layers < 0 else n_gpu_layers
        if "split_mode" in s:
            if s["split_mode"] not in _SPLIT_MODES:
                raise BackendError(f"{self.run.name}: split_mode must be one of {', '.join(_SPLIT_MODES)}")
            mp.split_mode = _SPLIT_MODES[s["split_mode"]]
        if "main_gpu" in s:
            mp.main_gpu = s["main_gpu"]
        if self.run.device.startswith("cuda:") and "main_gpu" not in s:
            mp.main_gpu = 0  # CUDA_VISIBLE_DEVICES already narrows the view to the run's GPUs
        self._tensor_split = None
        if "tensor_split" in s:
            ts = [float(x) for x in s["tensor_split"]]
            n_max = int(lib.llama_max_devices())
            if len(ts) > n_max:
                raise BackendError(f"{self.run.name}: tensor_split has {len(ts)} entries; this build supports {n_max}")
            arr = (ctypes.c_float * n_max)(*ts)
            self._tensor_split = arr  # keep alive
            mp.tensor_split = arr
        if "load_mode" in s:
            if s["load_mode"] not in _LOAD_MODES:
                raise BackendError(f"{self.run.name}: load_mode must be one of {', '.join(_LOAD_MODES)}")
            mp.load_mode = _LOAD_MODES[s["load_mode"]]

        from engine.cpu import extra_buffers_choice

        try:
            extra_bufts, extra_why = extra_buffers_choice(s.get("extra_buffers", "auto"), weights_on_cpu=not on_gpu or n_gpu_layers >= 0)
        except ValueError as e:
            raise BackendError(f"{self.run.name}: {e}") from None
        if hasattr(mp, "use_extra_bufts"):
            mp.use_extra_bufts = extra_bufts
        else:
            extra_bufts, extra_why = False, "not in this llama-cpp-python build (no use_extra_bufts)"
        self._extra_buffers = {"extra_buffers": extra_bufts, "extra_buffers_reason": extra_why}

        model = lib.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            why = _last_log_error()
            if "out of memory" in why.lower() or "alloc" in why.lower():
                raise OutOfMemoryError(f"{self.run.name}: out of memory loading {path.name}: {why}")
            raise BackendError(f"{self.run.name}: llama.cpp could not load {path}: {why or 'unknown error'}")
        self._model = model
        self._vocab = lib.llama_model_get_vocab(model)

        cp = lib.llama_context_default_params()
        n_ctx = s.get("n_ctx", 4096)
        n_ctx_train = int(lib.llama_model_n_ctx_train(model))
        if n_ctx_train > 0:
            n_ctx = min(n_ctx, n_ctx_train)
        n_seq = max(1, int(s.get("max_batch", 1)))
        # every sequence gets its own n_ctx slots (llama.cpp splits n_ctx over n_seq_max)
        cp.n_ctx = n_ctx * n_seq
        cp.n_seq_max = n_seq
        self._n_seq = n_seq
        cp.n_batch = s.get("n_batch", 512)
        cp.n_ubatch = s.get("n_ubatch", min(512, cp.n_batch))
        cores = os.cpu_count() or 1
        physical = _physical_cores() or cores
        cp.n_threads = s.get("n_threads", physical if not on_gpu else min(physical, 8))
        cp.n_threads_batch = s.get("n_threads_batch", physical if not on_gpu else min(cores, 16))
        flash = s.get("flash_attn")
        if flash is None:
            cp.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if on_gpu else lib.LLAMA_FLASH_ATTN_TYPE_AUTO
        else:
            cp.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        kv = s.get("kv_cache_type", "f16")
        if kv not in _KV_TYPES:
            raise BackendError(f"{self.run.name}: kv_cache_type must be one of {', '.join(_KV_TYPES)}")
        cp.type_k = cp.type_v = _KV_TYPES[kv]
        cp.no_perf = True
        ctx = lib.llama_init_from_model(model, cp)
        if not ctx:
            why = _last_log_error()
            self.close()
            if "memory" in why.lower() or "alloc" in why.lower():
                raise OutOfMemoryError(f"{self.run.name}: out of memory creating a {n_ctx}-token context: {why}")
            raise BackendError(f"{self.run.name}: llama.cpp could not create a context: {why or 'unknown error'}")
        self._ctx = ctx
        self._n_ctx = int(lib.llama_n_ctx(ctx)) // n_seq  # per sequence

        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        self._sampler_greedy = chain
        # llama.cpp's backend sampling (experimental API): the sampler chain of a sequence runs in
        # the compute graph, so only the chosen token comes back instead of the whole logits row
        # (default on a GPU: +10% decode tok/s for Llama-3-8B Q4_0 on an H100, same tokens; see
        # benchmarks/README.md, "Where llama.cpp's decode time goes")
        self._backend_sampling = bool(s.get("backend_sampling", on_gpu)) and hasattr(lib, "llama_set_sampler")
        eog = {int(lib.llama_vocab_eos(self._vocab)), int(lib.llama_vocab_eot(self._vocab))}
        self._eog_ids = [t for t in eog if t >= 0]
        tmpl = lib.llama_model_chat_template(model, None)
        self._template = tmpl.decode("utf-8", errors="replace") if tmpl else None

        desc = ctypes.create_string_buffer(256)
        lib.llama_model_desc(model, desc, 256)
        version = _version("llama_cpp_python", "llama-cpp-python")
        details = {
            "library": f"llama-cpp-python {version}",
            "gguf": str(path),
            "gguf_bytes": path.stat().st_size,
            "model_desc": desc.value.decode(errors="replace"),
            "model_size_bytes": int(lib.llama_model_size(model)),
            "n_params": int(lib.llama_model_n_params(model)),
            "gpu_offload_supported": has_offload,
            "n_gpu_layers": n_gpu_layers if on_gpu else 0,
            "n_layers": int(lib.llama_model_n_layer(model)),
            "n_ctx": self._n_ctx,
            "n_seq_max": n_seq,
            "n_batch": int(cp.n_batch),
            "n_threads": int(cp.n_threads),
            "n_threads_batch": int(cp.n_threads_batch),
            "flash_attn": {1: "on", 0: "off", -1: "auto"}[int(cp.flash_attn_type)],
            "kv_cache_type": kv,
            "split_mode": s.get("split_mode", "layer"),
            "tensor_split": s.get("tensor_split"),
            "chat_template": "gguf" if self._template else "none",
            "weights": self.run.weights,
            "api": "low-level (llama_decode per token)",
            "sampling": "backend (in the graph)" if self._backend_sampling else "host (llama_sampler_sample on the logits)",
            "system_info": lib.llama_print_system_info().decode(errors="replace").strip(),
            **self._extra_buffers,
        }
        # the context holds n_seq sequences: at most that many answers at once
        caps = replace(self.capabilities, max_batch=n_seq, gpu=has_offload)
        return LoadInfo(device=_device_label(on_gpu), details=details, capabilities=caps)

    # ---- prompting ---------------------------------------------------------------------------

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The chat rendered with the model's template (llama.cpp's built-in, else Jinja)."""
        lib = self._lib
        if not self._template:
            return "".join(m["content"] + "\n" for m in messages)
        arr = (lib.llama_chat_message * len(messages))()
        keep = []
        for i, m in enumerate(messages):
            r, c = m["role"].encode(), m["content"].encode()
            keep += [r, c]
            arr[i].role = r
            arr[i].content = c
        tmpl = self._template.encode()
        size = max(4096, 2 * sum(len(x) for x in keep) + 1024)
        buf = ctypes.create_string_buffer(size)
        n = lib.llama_chat_apply_template(tmpl, arr, len(messages), True, buf, size)
        if n > size:
            buf = ctypes.create_string_buffer(n + 1)
            n = lib.llama_chat_apply_template(tmpl, arr, len(messages), True, buf, n + 1)
        if n >= 0:
            return buf.raw[:n].decode("utf-8", errors="replace")
        return self._render_jinja(messages)

    def _render_jinja(self, messages: list[dict[str, str]]) -> str:
        import jinja2.sandbox

        def raise_exception(msg: str) -> None:
            raise BackendError(f"{self.run.name}: chat template: {msg}")

        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        bos = self._token_text(self._lib.llama_vocab_bos(self._vocab))
        eos = self._token_text(self._lib.llama_vocab_eos(self._vocab))
        assert self._template is not None
        return env.from_string(self._template).render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )

    def _token_text(self, tok: int) -> str:
        if tok < 0:
            return ""
        t = self._lib.llama_vocab_get_text(self._vocab, tok)
        return t.decode("utf-8", errors="replace") if t else ""

    def tokenize(self, text: str) -> list[int]:
        lib = self._lib
        data = text.encode("utf-8")
        bos = int(lib.llama_vocab_bos(self._vocab))
        add_bos = bool(lib.llama_vocab_get_add_bos(self._vocab)) and not (bos >= 0 and text.startswith(self._token_text(bos)))
        return self._llama_tokenize(data, add_bos, True)

    def _llama_tokenize(self, data: bytes, add_bos: bool, special: bool) -> list[int]:
        """``llama_tokenize`` into a buffer that grows once when the first guess is too small."""
        lib = self._lib
        n_max = len(data) + 16
        toks = (lib.llama_token * n_max)()
        n = lib.llama_tokenize(self._vocab, data, len(data), toks, n_max, add_bos, special)
        if n < 0:
            n_max = -n
            toks = (lib.llama_token * n_max)()
            n = lib.llama_tokenize(self._vocab, data, len(data), toks, n_max, add_bos, special)
        return list(toks[:n])

    # ---- generation --------------------------------------------------------------------------

    def _make_sampler(self, request: GenerationRequest, ban_eog: bool) -> Any:
        lib = self._lib
        if request.temperature <= 0 and not ban_eog and not self._backend_sampling:
            return None  # the shared greedy chain (a backend-sampling chain is attached once, so never shared)
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if ban_eog and self._eog_ids:
            biases = (lib.llama_logit_bias * len(self._eog_ids))()
            for i, t in enumerate(self._eog_ids):
                biases[i].token = t
                biases[i].bias = float("-inf")
            n_vocab = int(lib.llama_vocab_n_tokens(self._vocab))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_logit_bias(n_vocab, len(self._eog_ids), biases))
        if request.temperature > 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(request.temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(request.seed))
        else:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        return chain

    def _samplers(self, request: GenerationRequest) -> tuple[Any, Any, list[Any]]:
        """(chain while min_new_tokens bans end-of-generation or None, chain afterwards, the chains
        to free when the answer ends)."""
        banned = self._make_sampler(request, ban_eog=True) if request.min_new_tokens > 0 else None
        free = self._make_sampler(request, ban_eog=False)
        return banned, free or self._sampler_greedy, [c for c in (banned, free) if c is not None]

    def _budget(self, n_prompt: int, request: GenerationRequest, which: str = "prompt") -> int:
        """Tokens this answer may generate in its sequence's context window."""
        if n_prompt >= self._n_ctx:
            raise BackendError(f"{self.run.name}: {which} of {n_prompt} tokens does not fit n_ctx={self._n_ctx}")
        return min(request.max_new_tokens, self._n_ctx - n_prompt)

    def _piece(self, tok: int, buf: Any, decoder: Any) -> str:
        """The text of one token (an incomplete UTF-8 sequence waits in ``decoder``)."""
        n = self._lib.llama_token_to_piece(self._vocab, tok, buf, 256, 0, False)
        return decoder.decode(buf.raw[:n] if n >= 0 else b"")

    def generate(self, requests: Sequence[GenerationRequest]) -> AnswerStream:
        """Each request in its own sequence of one context (as llama-server's slots /
        llama-batched-bench; one request is a batch of one): each prompt is prefilled into its
        sequence, then every step decodes one token for each unfinished sequence in a single
        ``llama_decode``."""
        if self._ctx is None:
            raise BackendError(f"{self.run.name}: generate() before load()")
        if len(requests) > self._n_seq:
            raise BackendError(f"{self.run.name}: a batch of {len(requests)} needs max_batch >= {len(requests)} (loaded with {self._n_seq})")
        prompts = [self.tokenize(self.render_chat(r.messages)) for r in requests]
        return AnswerStream(len(requests), lambda out: self._decode(prompts, list(requests), out),
                            prompt_tokens=[len(p) for p in prompts])

    def _decode(self, prompts: list[list[int]], requests: list[GenerationRequest], out: AnswerStream) -> Iterator[tuple[int, Token]]:
        lib, ctx, vocab = self._lib, self._ctx, self._vocab
        n = len(prompts)
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
        budgets = [self._budget(len(p), r, "prompt" if n == 1 else f"prompt {s}") for s, (r, p) in enumerate(zip(requests, prompts, strict=True))]
        chains: list[tuple[Any, Any]] = []
        owned: list[Any] = []
        for r in requests:
            banned, free, mine = self._samplers(r)
            lib.llama_sampler_reset(free)
            chains.append((banned, free))
            owned += mine
        n_batch = int(lib.llama_n_batch(ctx))
        batch = lib.llama_batch_init(max(n_batch, n), 0, 1)
        b_token, b_pos, b_n_seq, b_seq, b_logits = batch.token, batch.pos, batch.n_seq_id, batch.seq_id, batch.logits
        backend = self._backend_sampling
        attached: dict[int, Any] = {}
        n_out = [0] * n
        is_eog, sample, decode = lib.llama_vocab_is_eog, lib.llama_sampler_sample, lib.llama_decode

        def chain_of(s: int) -> Any:
            banned, free = chains[s]
            return banned if (banned is not None and n_out[s] < requests[s].min_new_tokens) else free

        def attach(s: int) -> None:
            chain = chain_of(s)
            if attached.get(s) is not chain:
                lib.llama_set_sampler(ctx, s, chain)
                attached[s] = chain

        def put(j: int, tok: int, pos: int, seq: int, want: bool) -> None:
            b_token[j] = tok
            b_pos[j] = pos
            b_n_seq[j] = 1
            b_seq[j][0] = seq
            b_logits[j] = want

        try:
            decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(n)]
            buf = ctypes.create_string_buffer(256)
            pos = [len(p) for p in prompts]
            active: list[int] = []
            pending: dict[int, int] = {}  # seq -> its last sampled token, the input of its next step

            def take(s: int, idx: int, going_on: list[int]) -> Token | None:
                """Sample sequence s from output row idx: its token, or None when it ended on an
                end-of-generation token; a sequence with budget left goes on to the next step."""
                tok = int(sample(chain_of(s), ctx, idx))
                if is_eog(vocab, tok):
                    out.finish(s, "stop")
                    return None
                n_out[s] += 1
                if n_out[s] < budgets[s]:
                    going_on.append(s)
                    pending[s] = tok
                return Token(self._piece(tok, buf, decoders[s]), tok)

            # prefill: each prompt into its own sequence, in chunks of n_batch; its first token at once
            for s, ids in enumerate(prompts):
                if budgets[s] <= 0:
                    continue
                if backend:
                    attach(s)
                for start in range(0, len(ids), n_batch):
                    chunk = ids[start : start + n_batch]
                    last = start + len(chunk) == len(ids)
                    for j, tok in enumerate(chunk):
                        put(j, tok, start + j, s, last and j == len(chunk) - 1)
                    batch.n_tokens = len(chunk)
                    self._check_decode(decode(ctx, batch))
                first = take(s, len(ids) - 1 - (len(ids) - 1) // n_batch * n_batch, active)
                if first is not None:
                    yield s, first
            # decode: one token for every active sequence per llama_decode
            while active:
                for j, s in enumerate(active):
                    if backend:
                        attach(s)
                    put(j, pending[s], pos[s], s, True)
                    pos[s] += 1
                batch.n_tokens = len(active)
                self._check_decode(decode(ctx, batch))
                still: list[int] = []
                for j, s in enumerate(active):
                    piece = take(s, j, still)
                    if piece is not None:
                        yield s, piece
                active = still
        finally:
            lib.llama_batch_free(batch)
            for s in attached:
                lib.llama_set_sampler(ctx, s, None)  # detach before the chains are freed
            for ch in owned:
                lib.llama_sampler_free(ch)

    # ---- scoring -----------------------------------------------------------------------------

    def _tokenize_text(self, text: str) -> list[int]:
        """Plain text as token ids: no BOS, special-token markup not parsed (a solution is text)."""
        return self._llama_tokenize(text.encode("utf-8"), False, False)

    def score(self, request: ScoreRequest) -> Any:
        """The completion teacher-forced after the rendered prompt (``engine.backends.llamacpp_scoring``)."""
        from engine.backends.llamacpp_scoring import score_teacher_forced

        return score_teacher_forced(self, request)

    def _check_decode(self, rc: int) -> None:
        if rc == 0:
            return
        why = _last_log_error()
        if rc == 1:
            raise BackendError(f"{self.run.name}: llama_decode found no KV slot (context full): {why}")
        if "memory" in why.lower() or "alloc" in why.lower():
            raise OutOfMemoryError(f"{self.run.name}: out of memory during decode: {why}")
        raise BackendError(f"{self.run.name}: llama_decode failed with code {rc}: {why}")

    def close(self) -> None:
        lib = self._lib
        if lib is None:
            return
        if self._sampler_greedy is not None:
            lib.llama_sampler_free(self._sampler_greedy)
            self._sampler_greedy = None
        if self._ctx is not None:
            lib.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            lib.llama_model_free(self._model)
            self._model = None


def _cuda_visible() -> bool:
    v = os.environ.get("CUDA_VISIBLE_DEVICES")
    return v is None or v.strip() not in ("", "-1")


def _device_label(on_gpu: bool) -> str:
    if not on_gpu:
        return "cpu"
    v = os.environ.get("CUDA_VISIBLE_DEVICES")
    if v:
        n = len([x for x in v.split(",") if x.strip()])
        return "cuda:" + ",".join(str(i) for i in range(n))
    return "cuda"


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:
        return None


def _version(*names: str) -> str:
    import importlib.metadata

    for n in names:
        try:
            return importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"
