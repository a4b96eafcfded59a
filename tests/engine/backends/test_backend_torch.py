"""The three PyTorch backends, for real on the embedded model (SmolLM2-135M) on the CPU.

Each (backend, quant) loads the derived checkpoint once per module and answers a Portuguese
prompt; the assertions are the backend contract: one Token per generated id, yielded as it is
produced, text that concatenates to ``tokenizer.decode(ids)``, finish reasons, prompt counts,
and quantized weights that take fewer bytes than the unquantized reference (counted from the
tensors' storage: packed data + scales, see ``torch_memory.weight_bytes``). Error paths and tiny
synthetic models close the file. About a minute on a 2-core CPU once the checkpoint exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from engine.backends.base import (  # noqa: E402
    GenerationRequest,
    OutOfMemoryError,
    UnsupportedError,
    WeightsNotFoundError,
)
from engine.backends.registry import load_backend_class, validate_settings  # noqa: E402
from engine.backends.torch_text import IncrementalDetokenizer  # noqa: E402
from engine.catalog import Architecture, ModelSpec, RunSpec, WeightSource, load_catalog  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.native]

ROOT = Path(__file__).resolve().parents[3]
THREADS = 2
MESSAGES = [{"role": "user", "content": "Quanto é 12 + 30? Explique a conta em português."}]
MAX_NEW = 12
RUNS = [
    ("transformers", "fp32"),
    ("quanto", "int8"),
    ("quanto", "int4"),
    ("bitsandbytes", "int8"),
    ("bitsandbytes", "nf4"),
    ("torchao", "int8"),
]
TINY = Architecture("llama", 0, 2, 64, 4, 2, 16, 128, 49152, 512, tie_embeddings=True)


def _run(backend: str, quant: str, *, model: str = "smollm2-135m", device: str = "cpu", weights: str = "real",
         **settings: Any) -> RunSpec:
    return RunSpec(
        name=f"{model}/{backend}/{quant}", model=model, backend=backend, quant=quant, device=device, weights=weights,
        settings={"torch_threads": THREADS, **settings},
    )


@pytest.fixture(scope="module")
def smollm2() -> ModelSpec:
    torch.set_num_threads(THREADS)
    model = load_catalog(ROOT / "models.toml").models["smollm2-135m"]
    from engine import checkpoints

    try:
        checkpoints.dense_checkpoint(model)  # derived once (about 20 s), then reused
    except WeightsNotFoundError as e:
        pytest.skip(str(e))
    return model


@pytest.fixture(scope="module")
def loaded(smollm2: ModelSpec) -> Iterator[dict[tuple[str, str], tuple[Any, Any]]]:
    """(backend, quant) -> (backend instance, LoadInfo), loaded on first use, closed at module end."""

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: tuple[str, str]) -> tuple[Any, Any]:
            b = load_backend_class(key[0])(_run(*key), smollm2)
            info = b.load()
            self[key] = (b, info)
            return self[key]

    lazy = Lazy()
    yield lazy
    for b, _ in lazy.values():
        b.close()


@pytest.mark.parametrize("backend,quant", RUNS, ids=[f"{b}-{q}" for b, q in RUNS])
def test_answers_a_portuguese_prompt_token_by_token(loaded: dict, backend: str, quant: str) -> None:
    b, info = loaded[(backend, quant)]
    assert info.device == "cpu"
    d = info.details
    assert d["weights"] == "real" and d["kernel_path"] and d["libraries"]["torch"] and d["libraries"]["transformers"]
    assert d["torch_threads"] == THREADS
    assert json.loads(json.dumps(d)) == d, "details must be plain JSON (they cross a pipe and land in results)"

    stream = b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=MAX_NEW)])
    tokens = [t for _, t in stream]
    ids = [t.id for t in tokens]
    text = "".join(t.text for t in tokens)
    assert 1 <= len(tokens) <= MAX_NEW
    assert all(isinstance(i, int) and i >= 0 for i in ids)
    assert text.strip(), f"empty answer from {backend}/{quant}"
    assert text == b.tokenizer.decode(ids)
    assert stream.prompt_tokens == [len(b.render_prompt(MESSAGES))] and stream.prompt_tokens[0] > 10
    assert stream.finish_reasons == ["length" if len(tokens) == MAX_NEW else "stop"]
    assert not set(ids) & set(d["stop_token_ids"]), "the end-of-sequence token is not part of the answer"
    assert b.memory_stats() == {"torch_peak_allocated_mib": None, "torch_peak_reserved_mib": None}


def test_quantized_weights_take_fewer_bytes_than_the_references(loaded: dict) -> None:
    size = {key: loaded[key][1].details["weight_bytes"] for key in RUNS}
    fp32 = size[("transformers", "fp32")]
    assert loaded[("transformers", "fp32")][1].details["weight_bytes_quantized"] == 0
    bf16 = fp32 // 2  # every tensor of the reference is float32: bf16 would take exactly half
    for key in RUNS[1:]:
        assert size[key] < bf16, f"{key}: {size[key]} bytes is not below bf16's {bf16}"
        assert loaded[key][1].details["weight_bytes_quantized"] > 0
    # 4-bit packs tighter than 8-bit
    assert size[("quanto", "int4")] < size[("quanto", "int8")]
    assert size[("bitsandbytes", "nf4")] < size[("bitsandbytes", "int8")]


def test_kernel_paths_are_recorded(loaded: dict) -> None:
    q8 = loaded[("quanto", "int8")][1].details
    assert q8["kernel_path"]["weight_classes"] == {"WeightQBytesTensor": 210}
    assert q8["quantization"]["quantizer"].startswith("transformers QuantoConfig")
    q4 = loaded[("quanto", "int4")][1].details["kernel_path"]["weight_classes"]
    assert sum(q4.values()) == 210 and set(q4) <= {"WeightQBitsTensor", "TinyGemmWeightQBitsTensor"}
    b8 = loaded[("bitsandbytes", "int8")][1].details["kernel_path"]
    assert b8["bnb_backend"] == "CPU" and b8["linear_classes"] == {"Linear8bitLt": 210}
    b4 = loaded[("bitsandbytes", "nf4")][1].details["kernel_path"]
    assert b4["linear_classes"] == {"Linear4bit": 210}
    ao = loaded[("torchao", "int8")][1].details
    assert ao["kernel_path"]["weight_tensors"] == {"Int8Tensor": 210, "Parameter": 1}  # the tied lm_head/embedding stays dense
    assert ao["quantization"]["quantizer"].startswith("transformers TorchAoConfig") and ao["libraries"]["torchao"]


def test_each_token_is_yielded_before_the_next_forward(loaded: dict) -> None:
    b, _ = loaded[("transformers", "fp32")]
    calls = []
    original = b._decode_forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    b._decode_forward = counting
    try:
        it = iter(b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=5, min_new_tokens=5)]))
        next(it)
        assert len(calls) == 0  # the first token comes from the prefill alone
        next(it)
        assert len(calls) == 1
        rest = list(it)
        assert len(rest) == 3 and len(calls) == 4  # no forward after the last token
    finally:
        b._decode_forward = original


def test_min_new_tokens_forces_a_fixed_length(loaded: dict) -> None:
    b, _ = loaded[("transformers", "fp32")]
    stream = b.generate([GenerationRequest(messages=[{"role": "user", "content": "Diga só: sim."}], max_new_tokens=20, min_new_tokens=20)])
    assert len(list(stream)) == 20 and stream.finish_reasons == ["length"]


def test_sampling_is_repeatable_with_a_seed(loaded: dict) -> None:
    b, _ = loaded[("transformers", "fp32")]

    def ids(seed: int) -> list[int]:
        return [t.id for _, t in b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=8, temperature=0.8, seed=seed)])]

    assert ids(7) == ids(7)


def test_multibyte_characters_split_over_tokens_come_out_whole(loaded: dict) -> None:
    tok = loaded[("transformers", "fp32")][0].tokenizer
    text = "Ação: π ≈ 3,14 🙂 e 日本 — fim."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.push(i, last=(k == len(ids) - 1)) for k, i in enumerate(ids)]
    assert "".join(pieces) == tok.decode(ids) == text
    assert "" in pieces, "expected at least one token ending inside a multi-byte character"
    assert not any("\ufffd" in p for p in pieces)


def test_running_out_of_memory_mid_answer_is_an_oom_with_figures(loaded: dict) -> None:
    b, _ = loaded[("transformers", "fp32")]
    original = b._decode_forward

    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError()

    b._decode_forward = exhausted
    try:
        it = iter(b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=4, min_new_tokens=4)]))
        next(it)  # the prefill still fits
        with pytest.raises(OutOfMemoryError) as e:
            next(it)
    finally:
        b._decode_forward = original
    msg = str(e.value)
    assert e.value.status == "oom"
    assert b.run.name in msg and "out of memory while generating" in msg and "RSS" in msg and "MiB" in msg


# ---- refusals ------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_unsupported(smollm2: ModelSpec) -> None:
    run = _run("transformers", "bf16", device="cuda")
    with pytest.raises(UnsupportedError) as e:
        load_backend_class("transformers")(run, smollm2).load()
    msg = str(e.value)
    assert run.name in msg and "backend transformers" in msg and "on cuda" in msg and "no CUDA device" in msg
    assert e.value.status == "unsupported"


def test_float8_on_cpu_is_unsupported(smollm2: ModelSpec) -> None:
    run = _run("quanto", "float8")
    with pytest.raises(UnsupportedError) as e:
        load_backend_class("quanto")(run, smollm2).load()
    msg = str(e.value)
    assert run.name in msg and "backend quanto" in msg and "on cpu" in msg and "float8" in msg and "FP8" in msg


@pytest.mark.parametrize("quant, why", [("int4", "no CPU kernel"), ("float8", "FP8")])
def test_torchao_schemes_without_a_cpu_kernel_are_unsupported(smollm2: ModelSpec, quant: str, why: str) -> None:
    run = _run("torchao", quant)
    with pytest.raises(UnsupportedError) as e:
        load_backend_class("torchao")(run, smollm2).load()
    msg = str(e.value)
    assert run.name in msg and "backend torchao" in msg and "on cpu" in msg and why in msg


def test_graphs_on_a_cpu_run_fall_back_to_eager_and_say_why() -> None:
    """``graphs = true`` needs a GPU: on the CPU the run decodes eagerly (static cache, as graphs
    would use) with the same greedy tokens, and the details say why graphs are off."""
    model = ModelSpec(name="tiny", display_name="tiny", arch=TINY)
    outs = []
    for settings in ({"cache": "static"}, {"graphs": True}):
        b = load_backend_class("transformers")(_run("transformers", "fp32", model="tiny", weights="synthetic", **settings), model)
        info = b.load()
        try:
            outs.append([t.id for _, t in b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=10)])])
            outs.append(info.details)
        finally:
            b.close()
    assert outs[0] == outs[2]
    assert outs[1]["graphs"] == "off" and outs[3]["graphs"] == "off: a CPU run (CUDA graphs need a GPU)"
    assert outs[3]["cache"] == "static"


def test_missing_safetensors_source_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    model = ModelSpec(name="ghost", display_name="ghost", arch=TINY, safetensors=WeightSource(path=str(missing)))
    with pytest.raises(WeightsNotFoundError, match=str(missing)):
        load_backend_class("bitsandbytes")(_run("bitsandbytes", "nf4", model="ghost"), model).load()


def test_bad_setting_values_are_named(smollm2: ModelSpec) -> None:
    with pytest.raises(Exception, match="cache = 'paged'"):
        load_backend_class("transformers")(_run("transformers", "fp32", cache="paged"), smollm2).load()
    validate_settings("quanto", {"activations": "int8", "compute_dtype": "bf16", "cache": "static", "max_memory": {"0": "70GiB"}})
    validate_settings("bitsandbytes", {"double_quant": False, "llm_int8_threshold": 4, "compute_dtype": "fp16"})
    with pytest.raises(ValueError, match="double_quant"):
        validate_settings("bitsandbytes", {"double_quant": "yes"})


@pytest.mark.parametrize(
    "device,n_gpus,settings,visible,want",
    [
        ("cuda", 2, {}, None, ("cuda:0", [0])),
        ("cuda", 2, {"max_memory": {"0": "70GiB", "1": "70GiB"}}, None, ("cuda:0,1", [0, 1])),
        ("cuda", 4, {"device_map": "auto"}, None, ("cuda:0,1,2,3", [0, 1, 2, 3])),
        ("auto", 1, {}, None, ("cuda:0", [0])),
        ("cuda:1", 2, {}, None, ("cuda:1", [1])),
        ("cuda:3", 1, {}, "GPU-6f1c", ("cuda:0", [0])),  # the session narrowed the view to the run's GPU
        ("cuda:3", 2, {}, "0,1", None),
    ],
)
def test_device_choice(smollm2: ModelSpec, monkeypatch: pytest.MonkeyPatch, device: str, n_gpus: int,
                       settings: dict, visible: str | None, want: tuple[str, list[int]] | None) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    b = load_backend_class("transformers")(_run("transformers", "bf16", device=device, **settings), smollm2)
    b._torch = torch
    if want is None:
        with pytest.raises(UnsupportedError, match=r"on cuda:3: only 2 CUDA device"):
            b._placement()
        return
    p = b._placement()
    assert (p.label, p.gpus) == want
    assert p.device_map == ("auto" if len(p.gpus) > 1 else {"": p.device})


# ---- synthetic weights -----------------------------------------------------------------------------


SYNTH = [("transformers", "bf16"), ("quanto", "int8"), ("quanto", "int4"), ("bitsandbytes", "int8"), ("bitsandbytes", "nf4"),
         ("torchao", "int8")]


@pytest.mark.parametrize("backend,quant", SYNTH, ids=[f"{b}-{q}" for b, q in SYNTH])
def test_a_tiny_synthetic_llama_builds_and_decodes_to_the_cap(backend: str, quant: str) -> None:
    model = ModelSpec(name="tiny", display_name="tiny", arch=TINY)  # no weight source at all
    b = load_backend_class(backend)(_run(backend, quant, model="tiny", weights="synthetic", warmup=False), model)
    info = b.load()
    try:
        assert info.details["weights"] == "synthetic" and info.details["checkpoint"].startswith("synthetic")
        stream = b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=10)])
        tokens = list(stream)
        assert len(tokens) == 10 and stream.finish_reasons == ["length"]  # synthetic runs ignore EOS
        assert stream.prompt_tokens[0] > 10
        if backend != "transformers":
            assert info.details["weight_bytes_quantized"] > 0
            assert "layer by layer" in info.details["quantization"]["quantizer"]
    finally:
        b.close()


def test_static_cache_and_a_failed_compile_give_the_same_tokens() -> None:
    model = ModelSpec(name="tiny", display_name="tiny", arch=TINY)
    outs = []
    for settings in ({}, {"cache": "static"}, {"cache": "static", "compile": True, "compile_mode": "no-such-mode"}):
        b = load_backend_class("transformers")(_run("transformers", "fp32", model="tiny", weights="synthetic", **settings), model)
        info = b.load()
        outs.append([t.id for _, t in b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=8)])])
        if settings.get("compile"):
            assert info.details["compile"].startswith("fallback to eager")
            assert any("torch.compile failed" in n for n in info.details["notes"])
        b.close()
    assert outs[0] == outs[1] == outs[2]


BATCH_MESSAGES = [
    MESSAGES,
    [{"role": "user", "content": "Olá"}],  # the shortest prompt: left-padded the most
    [{"role": "user", "content": "Explique em português o teorema de Pitágoras, com um exemplo numérico simples."}],
]


@pytest.mark.parametrize("settings", [{}, {"cache": "static"}], ids=["dynamic-cache", "static-cache"])
def test_a_batch_gives_each_sequence_the_tokens_it_gets_alone(loaded: dict, smollm2: ModelSpec, settings: dict) -> None:
    # fp32 on the CPU is batch-invariant enough for greedy decoding to agree token for token;
    # bf16 is not (rounding depends on the batch shape), which is why this checks fp32
    if settings:
        b = load_backend_class("transformers")(_run("transformers", "fp32", **settings), smollm2)
        b.load()
    else:
        b, _ = loaded[("transformers", "fp32")]
    try:
        reqs = [GenerationRequest(messages=m, max_new_tokens=10) for m in BATCH_MESSAGES]
        alone = [[t.id for _, t in b.generate([r])] for r in reqs]
        stream = b.generate(reqs)
        together: list[list[int]] = [[] for _ in reqs]
        order = []
        for i, tok in stream:
            together[i].append(tok.id)
            order.append(i)
        assert together == alone
        assert stream.prompt_tokens == [len(b.render_prompt(m)) for m in BATCH_MESSAGES]
        assert order[:3] == [0, 1, 2]  # one token per sequence per step, as produced
        assert all(f in ("stop", "length") for f in stream.finish_reasons)
    finally:
        if settings:
            b.close()


#: the embedded model ends its answers to the first two within a few tokens (greedy)
EARLY_STOP_MESSAGES = [[{"role": "user", "content": "Say only: yes"}], [{"role": "user", "content": "Hi"}], BATCH_MESSAGES[2]]


@pytest.mark.parametrize("temperature", [0.0, 0.8], ids=["greedy", "sampled"])
def test_looking_one_step_ahead_changes_no_token(smollm2: ModelSpec, temperature: float) -> None:
    """The static-cache loop queues the next step before reading this token (``lookahead``): the
    tokens, where each answer ends and why are the same as a loop that waits for every token, for
    one answer and a batch, greedy and sampled (the generator is drawn in the same order), with
    answers that stop early (before their 24-token cap) and one held to a minimum length."""
    got = {}
    for lookahead in (False, True):
        b = load_backend_class("transformers")(_run("transformers", "fp32", cache="static", lookahead=lookahead), smollm2)
        info = b.load()
        assert info.details["lookahead"] is lookahead
        try:
            reqs = [GenerationRequest(messages=m, max_new_tokens=24, min_new_tokens=12 if i == 1 else 0, temperature=temperature, seed=7)
                    for i, m in enumerate(EARLY_STOP_MESSAGES)]
            alone = []
            for r in reqs:
                stream = b.generate([r])
                alone.append(([t.id for _, t in stream], stream.finish_reasons))
            stream = b.generate(reqs)
            together: list[list[int]] = [[] for _ in reqs]
            for i, tok in stream:
                together[i].append(tok.id)
            got[lookahead] = (alone, together, stream.finish_reasons)
        finally:
            b.close()
    assert got[True] == got[False]
    alone, together, reasons = got[True]
    assert len(together[1]) >= 12
    if temperature == 0.0:
        assert "stop" in reasons + [r for _, rs in alone for r in rs]  # an early stop was exercised


def test_a_batch_honours_min_new_tokens_per_sequence(loaded: dict) -> None:
    b, _ = loaded[("transformers", "fp32")]
    reqs = [GenerationRequest(messages=m, max_new_tokens=6, min_new_tokens=6) for m in BATCH_MESSAGES[:2]]
    stream = b.generate(reqs)
    counts = [0, 0]
    for i, _ in stream:
        counts[i] += 1
    assert counts == [6, 6] and stream.finish_reasons == ["length", "length"]
