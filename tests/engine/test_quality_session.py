"""The quality axis through the real session and run processes, over the scripted FAKE backend.

The fake scores with seeded fake logits (``score_noise`` perturbs them), so these tests check the
layers above the engines: which run is the reference, its ordering and cache, the records, the
summary, and every kind of bad input. Real figures come from the real backends
(tests/engine/test_quality_real.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine import events as ev
from engine.catalog import CatalogError, load_catalog
from engine.launch import LaunchRequest, prepare
from engine.problems import Problem
from engine.scoring import NO_SOLUTION, SessionQuality, choose_reference, lineage
from engine.session import Session, SessionOptions
from tests.conftest import ROOT, write_fake_catalog

REF = "tiny/fake/fake@ref"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Reference log-probs go to a folder of this test (the run processes inherit the variable)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QUANTARENA_CACHE", str(cache))
    return cache


def _runs(*tables: str) -> str:
    return "\n".join(f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\n{t}\n' for t in tables)


def _catalog(tmp_path: Path, runs: str, reference: str | None = REF) -> Path:
    cat = write_fake_catalog(tmp_path, runs)
    if reference:
        cat.write_text(cat.read_text().replace("[models.tiny]", f'[models.tiny]\nreference = "{reference}"'))
    return cat


def _run(tmp_path: Path, runs: str, *, out: str = "out", select: str | None = None, reference: str | None = REF,
         limit: int = 3, **kw: object) -> tuple[dict, list[ev.Event]]:
    cat = _catalog(tmp_path, runs, reference)
    kw.setdefault("dataset", "builtin")
    p = prepare(LaunchRequest(models=str(cat), runs=select, limit=limit, max_new_tokens=8, out=str(tmp_path / out), **kw))  # type: ignore[arg-type]
    seen: list[ev.Event] = []
    return p.session().run(seen.append), seen


THREE = _runs('tag = "noisier"\nsettings = { score_noise = 1.5 }', 'tag = "noisy"\nsettings = { score_noise = 0.4 }', 'tag = "ref"')


def test_reference_first_kld_ordering_records_and_summary(tmp_path: Path) -> None:
    summary, seen = _run(tmp_path, THREE)
    q = {r["run"]: r["quality"] for r in summary["runs"]}
    assert q[REF]["kld_mean"] == 0.0 and q[REF]["top1_pct"] == 100.0 and q[REF]["reference_source"] == "this session"
    assert q["tiny/fake/fake@noisier"]["kld_mean"] > q["tiny/fake/fake@noisy"]["kld_mean"] > 0
    for row in q.values():
        assert {"reference", "ppl", "kld_mean", "kld_p99", "top1_pct", "tokens"} <= set(row)
        assert row["reference"] == REF and row["tokens"] > 0 and row["problems_scored"] == 3 and row["reason"] is None
    # the reference is listed last but loads (and scores) first
    assert [e.run for e in seen if isinstance(e, ev.RunLoading)][0] == REF
    scored = [e for e in seen if isinstance(e, ev.QualityScored)]
    assert len(scored) == 3 and scored[0].run == REF
    # per problem in results.jsonl; pooled over the problems in summary.json
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    noisy = [ln["quality"] for ln in lines if ln["run"] == "tiny/fake/fake@noisy"]
    assert len(noisy) == 3 and all(x["kld_mean"] > 0 and x["tokens"] > 0 for x in noisy)
    assert sum(x["tokens"] for x in noisy) == q["tiny/fake/fake@noisy"]["tokens"]
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "Quality against the reference" in md and "mean KLD" in md and "same top p" in md
    assert summary["settings"]["quality"] is True and summary["wall_s"] > 0


def test_a_later_session_reuses_the_cached_reference(tmp_path: Path, _cache: Path) -> None:
    first, _ = _run(tmp_path, THREE, out="one")
    assert list(_cache.glob("quality/tiny/*/*.json"))  # one file per solution
    second, seen = _run(tmp_path, THREE, out="two", select="tiny/fake/fake@noisy")  # the reference is not selected
    before = next(r for r in first["runs"] if r["run"] == "tiny/fake/fake@noisy")["quality"]
    after = second["runs"][0]["quality"]
    assert [e.run for e in seen if isinstance(e, ev.RunLoading)] == ["tiny/fake/fake@noisy"]
    assert after["reference_source"].startswith("cache") and after["reason"] is None
    assert after["kld_mean"] == pytest.approx(before["kld_mean"]) and after["top1_pct"] == before["top1_pct"]


def test_a_failed_reference_without_cache_gives_na_with_the_reason_and_ppl(tmp_path: Path) -> None:
    runs = _runs('tag = "ref"\nsettings = { fail_load = "weights are corrupt" }', 'tag = "q"\nsettings = { score_noise = 0.4 }')
    summary, _ = _run(tmp_path, runs)
    rows = {r["run"]: r for r in summary["runs"]}
    q = rows["tiny/fake/fake@q"]["quality"]
    assert rows[REF]["status"] == "failed" and rows[REF]["quality"] is None
    assert q["kld_mean"] is None and q["top1_pct"] is None and q["ppl"] is not None and q["ppl"] > 1
    assert "reference tiny/fake/fake@ref failed (tiny/fake/fake@ref: weights are corrupt)" in q["reason"]


def test_no_reference_at_all_says_why(tmp_path: Path) -> None:
    summary, _ = _run(tmp_path, _runs(""), reference=None)
    q = summary["runs"][0]["quality"]
    assert q["reference"] is None and q["kld_mean"] is None and q["ppl"] is not None
    assert "no fp32/bf16/fp16 run and models.toml declares none" in q["reason"]


def test_problems_without_a_solution_are_skipped_and_counted(tmp_path: Path) -> None:
    cat = load_catalog(_catalog(tmp_path, THREE))
    base = dict(split="ptbr_multiple_choice", variant="pt-BR", kind="multiple_choice", choices={"A": "1", "B": "2"}, answer="A")
    problems = [Problem(id="ptbr_multiple_choice/0", index=0, problem="Quanto é 1 + 0?", **base),
                Problem(id="ptbr_open_ended/3", split="ptbr_open_ended", index=3, variant="pt-BR", kind="open_ended",
                        problem="Quanto é 2 + 2?", solution="Temos $2 + 2 = 4$. A resposta é $4$.")]
    runs = [cat.runs[REF], cat.runs["tiny/fake/fake@noisy"]]
    summary = Session(cat, runs, problems, SessionOptions(out_dir=tmp_path / "out", max_new_tokens=4)).run()
    q = summary["runs"][1]["quality"]
    assert q["no_solution"] == 1 and q["problems_scored"] == 1 and q["kld_mean"] > 0 and q["reason"] is None
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    mc = [ln["quality"] for ln in lines if ln["problem_id"] == "ptbr_multiple_choice/0"]
    assert mc and all(x == {"reason": NO_SOLUTION, "tokens": 0} for x in mc)


def test_runs_that_cannot_score_or_fail_to_score_keep_their_answers(tmp_path: Path) -> None:
    runs = _runs('tag = "ref"', 'tag = "mute"\nsettings = { scoring = false }', 'tag = "flaky"\nsettings = { score_fail = "logits came back NaN" }',
                 'tag = "wide"\nsettings = { score_vocab = 80 }', 'tag = "crash"\nsettings = { score_crash = true }')
    summary, _ = _run(tmp_path, runs, limit=2)
    rows = {r["run"]: r for r in summary["runs"]}
    assert rows["tiny/fake/fake@mute"]["status"] == "ok" and rows["tiny/fake/fake@mute"]["problems"] == 2
    assert "scripted without scoring" in rows["tiny/fake/fake@mute"]["quality"]["reason"]
    flaky = rows["tiny/fake/fake@flaky"]
    assert flaky["status"] == "ok" and "scoring failed" in flaky["quality"]["reason"] and "NaN" in flaky["quality"]["reason"]
    wide = rows["tiny/fake/fake@wide"]["quality"]
    assert wide["kld_mean"] is None and "vocabularies differ (run 80 tokens, reference 64)" in wide["reason"] and wide["ppl_byte"]
    crash = rows["tiny/fake/fake@crash"]
    assert crash["status"] == "failed" and "exited with code 19 while scoring the reference solutions" in crash["reason"]
    assert rows[REF]["status"] == "ok" and rows[REF]["problems"] == 2


def test_no_quality_flag_skips_scoring(tmp_path: Path) -> None:
    summary, seen = _run(tmp_path, THREE, quality=False)
    assert all(r["quality"] is None for r in summary["runs"]) and summary["settings"]["quality"] is False
    assert not any(isinstance(e, ev.QualityScored) for e in seen)
    lines = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert all(ln["quality"] is None for ln in lines)


def test_no_quality_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    cat = _catalog(tmp_path, THREE)
    r = subprocess.run([sys.executable, "-m", "cli.main", "--batch", "--models", str(cat), "--limit", "1", "--out", str(tmp_path / "a")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "quality against the reference" in r.stderr and "same top p" in r.stderr
    r = subprocess.run([sys.executable, "-m", "cli.main", "--batch", "--no-quality", "--models", str(cat), "--limit", "1",
                        "--out", str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "quality against the reference" not in r.stderr
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["runs"][0]["quality"] is None


def test_synthetic_fake_runs_are_labelled(tmp_path: Path) -> None:
    summary, _ = _run(tmp_path, THREE, synthetic=True)
    q = {r["run"]: r["quality"] for r in summary["runs"]}
    assert all(x["synthetic"] for x in q.values())
    assert q[REF]["kld_mean"] == 0.0 and q["tiny/fake/fake@noisy"]["kld_mean"] > 0


# ---- the plan, without processes ----------------------------------------------------------------

def test_the_reference_is_the_highest_precision_run_or_the_declared_one(tmp_path: Path) -> None:
    cat = load_catalog(ROOT / "models.toml")
    default = cat.select(None)
    ref, why = choose_reference(cat, "smollm2-135m", default)
    assert why is None and ref is not None and ref.name == "smollm2-135m/transformers/fp32"
    # a quantized run alone still knows its reference (then read from the cache)
    ref, _ = choose_reference(cat, "smollm2-135m", [cat.runs["smollm2-135m/quanto/int8"]])
    assert ref is not None and ref.name == "smollm2-135m/transformers/fp32"
    # among equals (two bf16 runs) the one in the session
    ref, _ = choose_reference(cat, "llama3-8b", [cat.runs["llama3-8b/transformers/bf16@compiled"], cat.runs["llama3-8b/quanto/int4"]])
    assert ref is not None and ref.name == "llama3-8b/transformers/bf16@compiled"
    ref, _ = choose_reference(cat, "llama3-8b", [cat.runs["llama3-8b/quanto/int4"]])
    assert ref is not None and ref.name == "llama3-8b/transformers/bf16"
    # synthetic sessions compare with the synthetic reference
    syn = [replace(cat.runs["llama3-8b/quanto/int4"], weights="synthetic")]
    ref, _ = choose_reference(cat, "llama3-8b", syn)
    assert ref is not None and ref.synthetic
    declared = load_catalog(_catalog(tmp_path, THREE))
    assert choose_reference(declared, "tiny", declared.select(None))[0].name == REF  # type: ignore[union-attr]


def test_waves_holding_a_reference_go_first() -> None:
    cat = load_catalog(ROOT / "models.toml")
    runs = [cat.runs[n] for n in ("llama3-8b/quanto/int4", "llama3-8b/transformers/bf16", "llama3-8b/llama.cpp/q4_0")]
    plan = SessionQuality(cat, runs, [])
    assert plan.order_waves([["llama3-8b/quanto/int4"], ["llama3-8b/llama.cpp/q4_0", "llama3-8b/transformers/bf16"]]) == [
        ["llama3-8b/llama.cpp/q4_0", "llama3-8b/transformers/bf16"], ["llama3-8b/quanto/int4"]]


def test_synthetic_weights_compare_only_within_one_lineage() -> None:
    cat = load_catalog(ROOT / "models.toml")
    q = replace(cat.runs["llama3-8b/quanto/int8"], weights="synthetic")
    bf16 = replace(cat.runs["llama3-8b/transformers/bf16"], weights="synthetic")
    gguf = replace(cat.runs["llama3-8b/llama.cpp/q4_0"], weights="synthetic")
    assert lineage(q, "cuda:0") == lineage(bf16, "cuda:1") != lineage(bf16, "cpu")
    assert lineage(gguf, "cuda:0") != lineage(bf16, "cuda:0")
    assert lineage(cat.runs["llama3-8b/llama.cpp/q4_0"], "cuda:0") == lineage(cat.runs["llama3-8b/transformers/bf16"], "cpu") == "real"


def test_a_reference_that_is_not_a_run_of_the_model_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"\[models.tiny\] key 'reference': 'tiny/fake/fake@nope' is not a run of this model"):
        load_catalog(_catalog(tmp_path, THREE, reference="tiny/fake/fake@nope"))


def test_real_mathpt_solutions_are_scored_and_pt_br_multiple_choice_is_counted(tmp_path: Path, mathpt_dir: Path) -> None:
    # MATH-PT's pt-BR multiple-choice items have no solution field; the pt-PT open-ended ones do
    summary, _ = _run(tmp_path, THREE, limit=4, dataset=str(mathpt_dir), split="ptbr_multiple_choice,ptpt_open_ended")
    q = next(r for r in summary["runs"] if r["run"] == "tiny/fake/fake@noisy")["quality"]
    assert q["no_solution"] == 2 and q["problems_scored"] == 2 and q["kld_mean"] > 0 and q["tokens"] > 20
