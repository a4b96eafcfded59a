"""The session over the scripted FAKE backend: ordering, records, failures, crash, stop, skip."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine import events as ev
from engine.launch import LaunchRequest, prepare
from tests.conftest import write_fake_catalog

FIELDS = {
    "run", "problem_id", "response", "verdict", "strict_verdict", "ttft_s", "decode_tok_s", "tokens_out",
    "finish_reason", "peak_vram_mib", "gpu_util_pct", "rss_mib", "tokens_in", "e2e_tok_s", "itl_p50_ms",
}


def _runs(*tables: str) -> str:
    return "\n".join(f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n{t}\n' for t in tables)


def _session(tmp_path: Path, runs: str, limit: int = 3, **kw):
    cat = write_fake_catalog(tmp_path, runs)
    req = LaunchRequest(models=str(cat), dataset="builtin", limit=limit, max_new_tokens=32, out=str(tmp_path / "out"), **kw)
    return prepare(req)


def test_two_runs_every_answer_recorded_in_order(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('tag = "a"\nsettings = { answers = ["Logo \\\\boxed{B}."] }', 'tag = "b"\nsettings = { answers = ["\\\\boxed{C}"] }'))
    seen: list[ev.Event] = []
    summary = p.session().run(seen.append)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionFinished"
    assert kinds.index("RunLoaded") < kinds.index("ProblemStarted")
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert FIELDS <= set(lines[0])
    # problem-major order within the lane: both runs answer problem 0 before problem 1
    started = [(e.run, e.problem_id) for e in seen if isinstance(e, ev.ProblemStarted)]
    assert [pid for _, pid in started[:2]] == ["builtin/0", "builtin/0"]
    rows = {r["run"]: r for r in summary["runs"]}
    assert rows["tiny/fake/fake@a"]["status"] == "ok" and rows["tiny/fake/fake@a"]["problems"] == 3
    a = [ln for ln in lines if ln["run"] == "tiny/fake/fake@a"]
    assert all(ln["tokens_out"] > 0 and ln["ttft_s"] > 0 for ln in a)
    assert all(ln["peak_vram_mib"] is None for ln in lines)  # no GPU here: null, never 0
    assert {ln["verdict"] for ln in lines} <= {"correct", "incorrect", "unparsed", "ungraded"}
    assert (tmp_path / "out" / "summary.json").exists() and (tmp_path / "out" / "summary.md").exists()
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "tiny/fake/fake@a" in md and "Accuracy by split" in md


def test_failed_and_unsupported_runs_do_not_stop_others(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('tag = "bad"\nsettings = { fail_load = "weights are corrupt" }', 'tag = "nope"\nsettings = { unsupported = "no int4 kernel on cpu" }', 'tag = "good"'), limit=2)
    failed: list[ev.RunFailed] = []
    summary = p.session().run(lambda e: failed.append(e) if isinstance(e, ev.RunFailed) else None)
    rows = {r["run"]: r for r in summary["runs"]}
    assert rows["tiny/fake/fake@bad"]["status"] == "failed" and "weights are corrupt" in rows["tiny/fake/fake@bad"]["reason"]
    assert rows["tiny/fake/fake@nope"]["status"] == "unsupported" and "no int4 kernel" in rows["tiny/fake/fake@nope"]["reason"]
    assert rows["tiny/fake/fake@good"]["status"] == "ok" and rows["tiny/fake/fake@good"]["problems"] == 2
    assert {e.status for e in failed} == {"failed", "unsupported"}


def test_a_crashing_process_marks_only_that_run_failed(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('tag = "crash"\nsettings = { crash_after = 2 }  # the warm-up answer is generation 1', 'tag = "ok"'), limit=3)
    summary = p.session().run()
    rows = {r["run"]: r for r in summary["runs"]}
    crash = rows["tiny/fake/fake@crash"]
    assert crash["status"] == "failed" and "exited with code 17" in crash["reason"] and "builtin/1" in crash["reason"]
    assert crash["problems"] == 1  # the answer before the crash is kept
    assert rows["tiny/fake/fake@ok"]["problems"] == 3


def test_a_native_crash_names_the_signal_phase_and_last_log_lines(tmp_path: Path) -> None:
    """A run process killed by SIGSEGV mid-answer (as llama.cpp's AMX kernels do): that run is
    failed with the signal, the phase, the last lines its library logged and the doctor hint; the
    answers it finished are kept and the other run finishes."""
    p = _session(tmp_path, _runs('tag = "segv"\nsettings = { segfault_after = 2 }  # warm-up + builtin/0', 'tag = "ok"'), limit=3)
    summary = p.session().run()
    rows = {r["run"]: r for r in summary["runs"]}
    segv = rows["tiny/fake/fake@segv"]
    assert segv["status"] == "failed" and segv["problems"] == 1
    reason = segv["reason"]
    assert "killed by SIGSEGV while answering builtin/1" in reason, reason
    assert "ggml_backend_amx_mul_mat" in reason and "Fatal Python error: Segmentation fault" in reason, reason
    assert "quantarena: answering builtin/1" in reason and "quantarena doctor" in reason, reason
    assert rows["tiny/fake/fake@ok"]["status"] == "ok" and rows["tiny/fake/fake@ok"]["problems"] == 3
    kept = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in kept if r["run"] == "tiny/fake/fake@segv"] == ["builtin/0"]


def test_stop_keeps_complete_answers_and_marks_interrupted(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('settings = { tokens_per_s = 40, answers = ["um dois tres quatro cinco seis sete oito nove dez"] }'), limit=5)
    session = p.session()
    done = threading.Event()

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.ProblemFinished):
            session.stop()
        if isinstance(e, ev.SessionFinished):
            done.set()

    summary = session.run(on_event)
    assert summary["interrupted"] is True
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert 1 <= len(lines) < 5
    assert all(json.loads(x)["finish_reason"] != "skipped" for x in lines)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["interrupted"] is True


def test_skip_marks_answer_skipped_and_moves_on(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('settings = { tokens_per_s = 20, answers = ["a b c d e f g h i j k l m n o p q r s t"] }'), limit=2)
    session = p.session()
    skipped = threading.Event()

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.TokenText) and e.problem_id == "builtin/0" and not skipped.is_set():
            skipped.set()
            session.skip()

    session.run(on_event)
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    by = {ln["problem_id"]: ln for ln in lines}
    assert by["builtin/0"]["finish_reason"] == "skipped" and by["builtin/0"]["verdict"] == "skipped"
    assert by["builtin/1"]["finish_reason"] in ("stop", "length")


def test_prompt_override_bad_placeholder_fails_the_run(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('prompt = "Resolva {nao_existe}"'), limit=1)
    summary = p.session().run()
    row = summary["runs"][0]
    assert row["status"] == "failed" and "prompt" in row["reason"]


@pytest.mark.parametrize("synthetic", [True])
def test_synthetic_runs_are_not_graded(tmp_path: Path, synthetic: bool) -> None:
    p = _session(tmp_path, _runs(""), limit=2, synthetic=synthetic)
    summary = p.session().run()
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert {ln["verdict"] for ln in lines} == {"n/a"}
    assert summary["runs"][0]["accuracy"] is None and summary["runs"][0]["not_applicable"] == 2


# ---- throughput mode (--concurrency N) --------------------------------------------------------


def test_concurrency_answers_in_batches_and_reports_aggregate_beside_single_stream(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('settings = { tokens_per_s = 200, answers = ["um dois três quatro cinco seis \\\\boxed{B}"] }'), limit=5, concurrency=2)
    seen: list[ev.Event] = []
    summary = p.session().run(seen.append)
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(ln["problem_id"] for ln in lines) == [f"builtin/{i}" for i in range(5)]  # every problem once
    assert [ln["batch_size"] for ln in sorted(lines, key=lambda r: r["problem_id"])] == [2, 2, 2, 2, 1]
    assert {ln["batch_id"] for ln in lines} == {0, 1, 2}
    assert all(ln["tokens_out"] == 7 and ln["decode_tok_s"] and ln["roofline_pct"] is None for ln in lines)
    row = summary["runs"][0]
    assert row["status"] == "ok" and row["details"]["concurrency"] == 2
    assert row["concurrency"] == 2 and row["batches"] == 3
    ref = row["details"]["single_stream"]
    assert ref["tokens_out"] == 7 and ref["e2e_tok_s"] == row["single_stream_tok_s"] > 0
    # aggregate = all batches' tokens / all batches' wall time, each batch counted once
    walls = {ln["batch_id"]: (ln["batch_tokens_out"], ln["batch_wall_s"]) for ln in lines}
    assert sorted(n for n, _ in walls.values()) == [7, 14, 14]
    assert row["aggregate_tok_s"] == pytest.approx(sum(n for n, _ in walls.values()) / sum(w for _, w in walls.values()))
    # a fake step yields one token per sequence: two sequences per step ≈ twice the tokens per second
    assert row["aggregate_tok_s"] > 1.3 * row["single_stream_tok_s"]
    assert row["throughput_speedup"] == pytest.approx(row["aggregate_tok_s"] / row["single_stream_tok_s"])
    assert summary["settings"]["concurrency"] == 2
    assert "Throughput (batched generation)" in (tmp_path / "out" / "summary.md").read_text()
    # the warm-up batch and the reference answer are not results
    assert not any(ln["problem_id"].startswith("warmup") for ln in lines)


def test_concurrency_falls_back_to_one_at_a_time_when_a_backend_cannot_batch(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('tag = "serial"\nsettings = { batching = false }', 'tag = "batched"'), limit=3, concurrency=3)
    summary = p.session().run()
    rows = {r["run"]: r for r in summary["runs"]}
    serial, batched = rows["tiny/fake/fake@serial"], rows["tiny/fake/fake@batched"]
    assert serial["status"] == "ok" and serial["problems"] == 3
    assert serial["details"]["concurrency"] == 1 and "without batching" in serial["details"]["concurrency_fallback"]
    assert serial["aggregate_tok_s"] is None and serial["single_stream_tok_s"] is not None
    assert batched["concurrency"] == 3 and batched["batches"] == 1 and batched["aggregate_tok_s"]
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert all("batch_size" not in ln for ln in lines if ln["run"] == "tiny/fake/fake@serial")


def test_a_turn_is_answered_in_calls_of_at_most_the_loaded_max_batch(tmp_path: Path) -> None:
    """A backend loaded for 2 sequences in a session of --concurrency 3: each turn of 3 problems
    is a batch of 2 and a batch of 1, and the run says it batches at most 2."""
    p = _session(tmp_path, _runs('settings = { max_batch = 2 }'), limit=3, concurrency=3)
    summary = p.session().run()
    row = summary["runs"][0]
    assert row["status"] == "ok" and row["problems"] == 3
    assert row["details"]["concurrency"] == 2 and "at most 2 problems at once" in row["details"]["concurrency_fallback"]
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [(ln["problem_id"], ln["batch_id"], ln["batch_size"]) for ln in lines] == [
        ("builtin/0", 0, 2), ("builtin/1", 0, 2), ("builtin/2", 1, 1)]
    assert row["batches"] == 2 and row["concurrency"] == 2


def test_a_run_process_dying_mid_batch_fails_that_run_only(tmp_path: Path) -> None:
    # generations: 1 warm-up, 2 reference, 3-4 warm-up batch, 5-6 first timed batch, then the crash
    p = _session(tmp_path, _runs('tag = "dies"\nsettings = { crash_after = 6 }', 'tag = "lives"'), limit=4, concurrency=2)
    summary = p.session().run()
    rows = {r["run"]: r for r in summary["runs"]}
    assert rows["tiny/fake/fake@dies"]["status"] == "failed"
    assert "exited with code 17" in rows["tiny/fake/fake@dies"]["reason"] and "batch of 2" in rows["tiny/fake/fake@dies"]["reason"]
    assert rows["tiny/fake/fake@dies"]["problems"] == 2  # the first batch was kept
    assert rows["tiny/fake/fake@lives"]["status"] == "ok" and rows["tiny/fake/fake@lives"]["problems"] == 4


def test_backend_allocator_peak_is_recorded(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs("settings = { memory_mib = 1234.5 }"), limit=1)
    summary = p.session().run()
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert lines[0]["torch_peak_allocated_mib"] == 1234.5 and lines[0]["torch_peak_reserved_mib"] == 1234.5
    assert summary["runs"][0]["torch_peak_allocated_mib"] == 1234.5


def test_no_telemetry_file_without_gpus(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs(""), limit=1)
    p.session().run()
    assert (tmp_path / "out" / "results.jsonl").exists()
    assert not (tmp_path / "out" / "telemetry.jsonl").exists()  # the per-GPU series exists only with GPUs


def test_telemetry_file_has_each_gpu_and_its_runs(tmp_path: Path) -> None:
    """With a (FAKE) NVML GPU the session writes the per-GPU time series, naming the runs on it."""
    from engine.gpu import NvmlSource, Sampler
    from tests.fakes.fake_nvml import FakeGpu, FakeNvml

    p = _session(tmp_path, _runs("settings = { tokens_per_s = 100 }"), limit=2, gpus="none")
    p.options.telemetry_interval_s = 0.05
    p.options.assignments = {r.name: [0] for r in p.runs}  # as if the planner put the run on GPU 0
    sampler = Sampler(interval_s=0.02, source=NvmlSource(FakeNvml([FakeGpu()]))).start()
    try:
        p.session(sampler=sampler).run()
    finally:
        sampler.stop()
    lines = [json.loads(x) for x in (tmp_path / "out" / "telemetry.jsonl").read_text().splitlines()]
    assert lines and all(len(ln["gpus"]) == 1 for ln in lines)
    assert any(ln["gpus"][0]["runs"] == ["tiny/fake/fake"] for ln in lines)
    assert lines[0]["gpus"][0]["util_pct"] == 50 and lines[0]["gpus"][0]["label"]


def test_stop_kills_a_run_process_stuck_in_its_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import engine.session

    monkeypatch.setattr(engine.session, "STOP_GRACE_S", 1.0)
    # generation 1 is the warm-up, 2 the first answer, 3 hangs (ignores the cancel)
    p = _session(tmp_path, _runs("settings = { hang_after = 2 }"), limit=3)
    s = p.session()
    first = threading.Event()
    t0 = time.perf_counter()
    timer = threading.Thread(target=lambda: (first.wait(30), time.sleep(0.5), s.stop()), daemon=True)
    timer.start()
    summary = s.run(lambda e: first.set() if isinstance(e, ev.ProblemFinished) else None)
    assert time.perf_counter() - t0 < 20  # not the hour the library would take
    row = summary["runs"][0]
    assert row["status"] == "interrupted" and row["problems"] == 1 and summary["interrupted"]
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the finished answer is kept


def test_load_progress_reaches_the_front_ends_before_the_run_is_loaded(tmp_path: Path) -> None:
    p = _session(tmp_path, _runs('settings = { load_steps = 3 }'), limit=1)
    seen: list[ev.Event] = []
    p.session().run(seen.append)
    steps = [e for e in seen if isinstance(e, ev.RunLoadProgress)]
    assert [e.fraction for e in steps] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert steps[-1].bytes_read == 3 * 2**30 and steps[-1].bytes_placed == {"cpu": 3 * 2**30}
    assert steps[0].line == "reading shards shard 1/3 (33%): 1.0 GiB read, cpu 1.0 GiB"
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("RunLoading") < kinds.index("RunLoadProgress") < kinds.index("RunLoaded")
