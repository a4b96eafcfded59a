"""The ``openai`` backend over a STUB OpenAI-compatible server on 127.0.0.1 (``tests/fakes/openai_stub.py``):
the request it sends, how it counts and times chunks, and every fault it must turn into a failed
run with a one-line reason. The real server (llama-cpp-python's) is in ``test_openai_real.py``."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import events as ev
from engine.backends.base import BackendError, GenerationRequest, UnsupportedError
from engine.backends.openai import OpenAIBackend
from engine.backends.openai.client import Endpoint
from engine.backends.openai.server import find_server
from engine.catalog import CatalogError, load_catalog
from engine.launch import LaunchRequest, prepare
from engine.metrics import generation_metrics
from engine.placement import GpuInfo, plan
from tests.conftest import write_fake_catalog
from tests.fakes.openai_stub import ANSWER, StubServer

ASK = [{"role": "user", "content": "Quanto é 2 + 3?"}]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as s:
        yield s


def _run_table(url: str, extra: str = "", tag: str = "") -> str:
    settings = f'base_url = "{url}", tokenizer = "none"' + (f", {extra}" if extra else "")
    return f'[[runs]]\nmodel = "tiny"\nbackend = "openai"\nquant = "stub"\n{tag}settings = {{ {settings} }}\n'


def _backend(tmp_path: Path, url: str, extra: str = "") -> OpenAIBackend:
    cat = load_catalog(write_fake_catalog(tmp_path, _run_table(url, extra)))
    run = next(iter(cat.runs.values()))
    return OpenAIBackend(run, cat.models[run.model])


def _loaded(tmp_path: Path, url: str, extra: str = "") -> OpenAIBackend:
    b = _backend(tmp_path, url, extra)
    b.load()
    return b


def _answer(b: OpenAIBackend, **kw: int | float) -> tuple[list[str], object]:
    stream = b.generate([GenerationRequest(messages=ASK, **{"max_new_tokens": 16, **kw})])  # type: ignore[arg-type]
    return [t.text for _, t in stream], stream


# ---- what it sends and what it makes of the stream --------------------------------------------


def test_one_token_per_chunk_with_usage(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("ok"))
    n0 = len(stub.requests)
    texts, s = _answer(b, max_new_tokens=16, temperature=0.7, seed=11)
    assert texts == ANSWER
    # the stub counts the stop token in usage as vLLM does (9); local engines never count it
    assert s.tokens_out[0] == len(ANSWER) and s.prompt_tokens[0] == 17 and s.finish_reasons[0] == "stop"
    assert s.fields[0]["token_count"] == "server usage, less the stop token" and s.fields[0]["server_completion_tokens"] == 9
    body = stub.requests[n0]
    assert body["model"] == "stub" and body["stream"] is True and body["messages"] == ASK
    assert body["max_tokens"] == 16 and body["temperature"] == 0.7 and body["seed"] == 11
    assert body["stream_options"] == {"include_usage": True}
    assert "min_tokens" not in body and "ignore_eos" not in body


def test_load_details(tmp_path: Path, stub: StubServer) -> None:
    b = _backend(tmp_path, stub.url("ok"))
    info = b.load()
    d = info.details
    assert info.device == "server" and d["served_model"] == "stub" and d["server_models"] == ["stub"]
    assert d["token_count"] == "server usage" and d["usage"].startswith("in the stream")
    assert d["sizing"].startswith("N/A")
    # the stub listens inside this test process: found by its port
    assert d["server_pid"] == os.getpid() and "listening on port" in d["telemetry"]
    assert b.capabilities.served and not b.capabilities.exact_token_times


def test_fixed_length_sends_min_tokens_and_ignore_eos(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("fixed"))
    n0 = len(stub.requests)
    texts, s = _answer(b, max_new_tokens=12, min_new_tokens=12)
    assert len(texts) == 12 and s.tokens_out[0] == 12 and s.finish_reasons[0] == "length"
    assert stub.requests[n0]["min_tokens"] == 12 and stub.requests[n0]["ignore_eos"] is True
    assert "fixed_length" not in s.fields[0]


def test_fixed_length_a_server_ignores_is_said(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("nofixed"), "fixed_length_fields = []")
    n0 = len(stub.requests)
    _, s = _answer(b, max_new_tokens=12, min_new_tokens=12)
    assert "min_tokens" not in stub.requests[n0] and "ignore_eos" not in stub.requests[n0]
    assert s.fields[0]["fixed_length"].startswith(f"not honoured by the server: stopped after {len(ANSWER)} of 12 tokens")


def test_chunks_of_several_tokens_give_per_chunk_metrics(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("multi"))
    texts, s = _answer(b, max_new_tokens=8)  # at the cap: no stop token in the server's count
    assert s.finish_reasons[0] == "length" and len(texts) == 4 and "".join(texts) == "".join(ANSWER)
    assert s.tokens_out[0] == 8 and s.fields[0]["stream_chunks"] == 4
    m = generation_metrics(0.0, [0.5, 0.6, 0.7, 0.8], s.prompt_tokens[0], s.tokens_out[0])
    assert m["tokens_out"] == 8 and m["token_timing"] == "per chunk"
    assert m["ttft_s"] == 0.5 and m["decode_tok_s"] == pytest.approx(7 / 0.3)  # (n_out - 1) / (t_last - t_first)
    assert m["itl_p50_ms"] is None and m["itl_p99_ms"] is None  # gaps between chunks are not between tokens


def test_without_usage_and_tokenizer_the_chunks_are_counted_and_said(tmp_path: Path, stub: StubServer) -> None:
    b = _backend(tmp_path, stub.url("nousage"))
    d = b.load().details
    assert d["usage"] == "asked for, not sent by this server" and d["token_count"].startswith("stream chunks")
    _, s = _answer(b)
    assert s.tokens_out[0] == len(ANSWER) and s.prompt_tokens[0] is None
    assert s.fields[0]["token_count"].startswith("stream chunks")


def test_a_server_refusing_stream_options_is_asked_without(tmp_path: Path, stub: StubServer) -> None:
    b = _backend(tmp_path, stub.url("refusesopts"))
    d = b.load().details
    assert d["usage"].startswith("refused") and "HTTP 400" in d["usage"]
    n0 = len(stub.requests)
    texts, _ = _answer(b)
    assert texts == ANSWER and "stream_options" not in stub.requests[n0]


def test_extra_body_and_api_key(tmp_path: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TEST_KEY", "sekret")
    b = _loaded(tmp_path, stub.url("ok"), 'api_key_env = "QA_TEST_KEY", extra_body = { top_k = 1 }')
    assert b._headers == {"Authorization": "Bearer sekret"}
    n0 = len(stub.requests)
    _answer(b)
    assert stub.requests[n0]["top_k"] == 1


def test_batch_sends_every_request_at_once(tmp_path: Path) -> None:
    with StubServer(token_delay_s=0.02) as slow:
        b = _loaded(tmp_path, slow.url("ok"))
        reqs = [GenerationRequest(messages=[{"role": "user", "content": f"p{i}"}], max_new_tokens=16) for i in range(3)]
        t0 = time.perf_counter()
        bs = b.generate(reqs)
        order = [i for i, _ in bs]
        wall = time.perf_counter() - t0
    assert sorted(order) == sorted([0, 1, 2] * len(ANSWER))
    assert order != sorted(order)  # the three streams interleave: they ran at the same time
    assert wall < 2.5 * len(ANSWER) * 0.02  # not one after the other (3 x 8 x 20 ms = 0.48 s)
    assert bs.tokens_out == [8, 8, 8] and bs.prompt_tokens == [17, 17, 17] and bs.finish_reasons == ["stop"] * 3


def test_synthetic_is_unsupported(tmp_path: Path, stub: StubServer) -> None:
    from dataclasses import replace

    b = _backend(tmp_path, stub.url("ok"))
    b.run = replace(b.run, weights="synthetic")
    with pytest.raises(UnsupportedError, match="no synthetic weights"):
        b.load()


# ---- faults: each a BackendError (run failed) with one line naming it ----------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_unreachable_server(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"is not reachable: connection refused") as e:
        _backend(tmp_path, f"http://127.0.0.1:{_closed_port()}/v1").load()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("mode, extra, match", [
    ("ok", 'served_model = "llama-70b"', r"does not serve model 'llama-70b' \(it serves: stub\)"),
    ("two", "", r"serves 2 models \(stub-a, stub-b\): set served_model"),
    ("http401", "", r"HTTP 401 Unauthorized from GET http://127.0.0.1:\d+/http401/v1/models: Invalid API key"),
    ("http500", "", r"HTTP 500 Internal Server Error from POST .*/chat/completions: CUDA out of memory"),
    ("malformed", "", r"malformed SSE data .* \(not JSON\)"),
    ("garbage", "", r"malformed SSE line .*'garbage here'"),
])
def test_faults_at_load(tmp_path: Path, stub: StubServer, mode: str, extra: str, match: str) -> None:
    with pytest.raises(BackendError, match=match) as e:
        _backend(tmp_path, stub.url(mode), extra).load()
    assert "\n" not in str(e.value)


def test_a_wrong_model_name_that_exists_twice_is_chosen(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("two"), 'served_model = "stub-b"')
    assert b.served_model == "stub-b"


@pytest.mark.parametrize("mode, extra, match", [
    ("http500-after0", "", r"HTTP 500 .*CUDA out of memory"),
    ("cut", "", r"stream cut after 3 chunks: the end of the response came before any finish_reason"),
    ("cutchunked", "", r"stream cut after 3 tokens: IncompleteRead"),
    ("early", "", r"stream cut after 8 chunks: \[DONE\] came before any finish_reason"),
    ("malformed-after0", "", r"malformed SSE data"),
    ("garbage-after0", "", r"malformed SSE line"),
    ("errorevent", "", r"server error in the stream after 2 tokens: engine died"),
    ("slowfirst", "first_token_timeout_s = 0.5", r"no token from .* within first_token_timeout_s=0.5"),
    ("slowbetween", "token_timeout_s = 0.5", r"no token from .* for token_timeout_s=0.5 after 2 tokens"),
])
def test_faults_mid_answer(tmp_path: Path, stub: StubServer, mode: str, extra: str, match: str) -> None:
    b = _loaded(tmp_path, stub.url(mode), extra)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=match) as e:
        _answer(b)
    assert "\n" not in str(e.value) and str(e.value).startswith("tiny/openai/stub: ")
    assert time.perf_counter() - t0 < 2.0  # pings every 0.1 s do not extend a timeout


def test_a_fault_in_one_request_of_a_batch_fails_the_batch(tmp_path: Path, stub: StubServer) -> None:
    b = _loaded(tmp_path, stub.url("cut"))
    reqs = [GenerationRequest(messages=ASK, max_new_tokens=16) for _ in range(2)]
    with pytest.raises(BackendError, match=r"stream cut after 3 chunks.*\(request [12] of 2\)"):
        list(b.generate(reqs))


def test_bad_settings_are_named(tmp_path: Path, stub: StubServer) -> None:
    with pytest.raises(BackendError, match="base_url 'ftp://x' must start with http"):
        _backend(tmp_path, "ftp://x").load()
    with pytest.raises(BackendError, match="token_timeout_s must be positive"):
        _backend(tmp_path, stub.url("ok"), "token_timeout_s = 0").load()
    with pytest.raises(BackendError, match="api_key_env QA_NOT_SET_ANYWHERE: that environment variable is not set"):
        _backend(tmp_path, stub.url("ok"), 'api_key_env = "QA_NOT_SET_ANYWHERE"').load()
    with pytest.raises(BackendError, match="server_pid 999999999: no such process"):
        _backend(tmp_path, stub.url("ok"), "server_pid = 999999999").load()


def test_catalog_checks_served_runs(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"\[runs\[0\] tiny/openai/q4.settings\] missing required key 'base_url'"):
        load_catalog(write_fake_catalog(tmp_path, '[[runs]]\nmodel = "tiny"\nbackend = "openai"\nquant = "q4"\n'))
    with pytest.raises(CatalogError, match=r"key 'quant': 'q 4' must be a non-empty label"):
        load_catalog(write_fake_catalog(tmp_path, _run_table("http://h/v1").replace('"stub"', '"q 4"')))
    with pytest.raises(CatalogError, match=r"unknown key 'basе_url'|unknown key 'timeout'"):
        load_catalog(write_fake_catalog(tmp_path, _run_table("http://h/v1", "timeout = 3")))
    cat = load_catalog(write_fake_catalog(tmp_path, _run_table("http://h/v1").replace('"stub"', '"awq-int4"')))
    assert list(cat.runs) == ["tiny/openai/awq-int4"]


# ---- where the server is, and the plan -----------------------------------------------------------


def test_find_server() -> None:
    assert find_server(Endpoint.parse("http://10.255.255.1:8000/v1"), None).note == "N/A: the server (10.255.255.1) is not on this machine"
    free = find_server(Endpoint.parse(f"http://127.0.0.1:{_closed_port()}/v1"), None)
    assert free.pid is None and free.note.startswith("N/A: no process visible here listens on port")
    mine = find_server(Endpoint.parse("http://10.255.255.1:8000/v1"), os.getpid())
    assert mine.pid == os.getpid() and mine.note.startswith(f"server_pid {os.getpid()}")


def test_a_served_run_takes_no_gpu_of_the_plan(tmp_path: Path) -> None:
    cat = load_catalog(write_fake_catalog(tmp_path, _run_table("http://h/v1")))
    run = next(iter(cat.runs.values()))
    p = plan([(run, None)], [GpuInfo(0, "H100", 80.0)])
    (pl,) = p.placements
    assert pl.device == "server" and pl.gpus == () and p.unplaceable == ()
    assert any("sizing N/A" in n for n in p.notes)


# ---- a session: failures keep results and let the other runs go on -------------------------------


def test_session_marks_faulty_served_runs_failed_and_keeps_results(tmp_path: Path, stub: StubServer) -> None:
    runs = (
        _run_table(stub.url("cut-after2"), tag='tag = "cut"\n')
        + _run_table(f"http://127.0.0.1:{_closed_port()}/v1", tag='tag = "down"\n')
        + _run_table(stub.url("ok"), tag='tag = "good"\n')
        + '[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n'
    )
    cat = write_fake_catalog(tmp_path, runs)
    p = prepare(LaunchRequest(models=str(cat), runs="*", dataset="builtin", limit=3, max_new_tokens=16, out=str(tmp_path / "out")))
    assert p.options.waves == [[r.name for r in p.runs]]  # CPU machine: one wave, runs take turns
    failed: list[ev.RunFailed] = []
    summary = p.session().run(lambda e: failed.append(e) if isinstance(e, ev.RunFailed) else None)
    rows = {r["run"]: r for r in summary["runs"]}
    assert rows["tiny/openai/stub@cut"]["status"] == "failed"
    assert "stream cut after 3 chunks" in rows["tiny/openai/stub@cut"]["reason"]
    assert rows["tiny/openai/stub@down"]["status"] == "failed" and "not reachable" in rows["tiny/openai/stub@down"]["reason"]
    assert rows["tiny/openai/stub@good"]["status"] == "ok" and rows["tiny/fake/fake"]["status"] == "ok"
    assert {e.run for e in failed} == {"tiny/openai/stub@cut", "tiny/openai/stub@down"}
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    by_run: dict[str, list[dict]] = {}
    for ln in lines:
        by_run.setdefault(ln["run"], []).append(ln)
    # (the warm-up answer was the stub's first request) the answer before the fault is kept;
    # the healthy runs answered everything
    assert [r["problem_id"] for r in by_run["tiny/openai/stub@cut"]] == ["builtin/0"]
    assert len(by_run["tiny/openai/stub@good"]) == 3 and len(by_run["tiny/fake/fake"]) == 3
    good = by_run["tiny/openai/stub@good"][0]
    assert good["tokens_out"] == len(ANSWER) and good["tokens_in"] == 17 and good["token_timing"] == "per token"
    assert good["token_count"] == "server usage, less the stop token" and good["stream_chunks"] == len(ANSWER)
    assert good["ttft_s"] > 0 and good["decode_tok_s"] > 0 and good["itl_p50_ms"] is not None
    assert good["verdict"] == "correct"  # builtin/0's answer is B, graded like any run
    assert good["rss_mib"] is not None  # the server's process (this test process) sampled
    assert rows["tiny/openai/stub@good"]["details"]["server_pid"] == os.getpid()


def test_a_served_runs_telemetry_is_the_servers_process_on_its_gpus(tmp_path: Path, stub: StubServer) -> None:
    """The stub "server" is this test process; a FAKE NVML puts it on GPU 1 with 5000 MiB."""
    from engine.gpu import NvmlSource, Sampler
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    gpus = [FakeGpu(uuid="GPU-0", used_mib=1000, util=5),
            FakeGpu(uuid="GPU-1", used_mib=20000, util=70, procs={os.getpid(): 5000 * 2**20})]
    cat = write_fake_catalog(tmp_path, _run_table(stub.url("ok")))
    p = prepare(LaunchRequest(models=str(cat), runs="*", dataset="builtin", limit=1, max_new_tokens=16, out=str(tmp_path / "out")))
    sampler = Sampler(interval_s=0.02, source=NvmlSource(FakeNvml(gpus))).start()
    try:
        loaded: list[ev.RunLoaded] = []
        summary = p.session(sampler=sampler).run(lambda e: loaded.append(e) if isinstance(e, ev.RunLoaded) else None)
    finally:
        sampler.stop()
    (rec,) = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert rec["peak_vram_process_mib"] == 5000.0  # the server's process tree on its GPU
    assert rec["peak_vram_mib"] == 20000.0 and rec["gpu_util_pct"] == 70.0  # GPU 1 only: the server's
    assert loaded[0].gpus == [1] and summary["runs"][0]["gpus"] == []  # no GPU of the plan
