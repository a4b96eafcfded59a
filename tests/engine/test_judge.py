"""The LLM judge wired to a run, over the scripted FAKE backend: verdict parsing, the records'
judge fields, accuracy three ways, agreement, the cache, a judge that fails to load, the CLIs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.catalog import load_catalog
from engine.dataset import load_problems
from engine.judge import build_judge_messages, parse_judge_verdict
from engine.judging import (
    JudgeCache,
    JudgeError,
    apply_verdicts,
    combined_verdict,
    judge_counts,
    judge_results_dir,
    plan_requests,
    resolve_judge,
    run_judge,
)
from engine.launch import LaunchRequest, prepare
from engine.problems import Problem
from engine.results import read_results, summary_markdown
from tests.conftest import write_fake_catalog

ROOT = Path(__file__).resolve().parents[2]


def _run(tag: str, settings: str, default: bool = True) -> str:
    return (f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\ntag = "{tag}"\n'
            f'default = {"true" if default else "false"}\nsettings = {{ {settings} }}\n')


#: the answering run: right on builtin/1 (42), wrong on builtin/3 (81), no answer on builtin/5
ANSWERS = 'answers = ["warm-up", "\\\\boxed{B}", "Logo \\\\boxed{42}.", "\\\\boxed{D}", "\\\\boxed{80}", "\\\\boxed{A}", "Não sei."]'


def _catalog(tmp_path: Path, judge_settings: str) -> Path:
    return write_fake_catalog(tmp_path, _run("ans", ANSWERS) + _run("judge", judge_settings, default=False))


def _answer(tmp_path: Path, cat: Path, out: Path) -> list[dict]:
    prepared = prepare(LaunchRequest(models=str(cat), runs="*@ans", dataset="builtin", limit=6, out=str(out)))
    prepared.session().run()
    return read_results(out / "results.jsonl")


# --- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "reply, verdict",
    [
        ('{"score": 1, "explanation": "iguais"}', "correct"),
        ('```json\n{\n  "score": 0,\n  "explanation": "5 ≠ 6"\n}\n```', "incorrect"),
        ("score: 1", "correct"),
        ('{"score": 0 ou 1, "explanation": "..."}', None),  # the instruction echoed back is no verdict
        ('{"score": 1}\n...afinal...\n{"score": 0}', "incorrect"),  # the last one counts
        ("Veredicto: CORRETO", "correct"),
        ("Não sei avaliar.", None),
    ],
)
def test_judge_verdict_parsing(reply: str, verdict: str | None) -> None:
    assert parse_judge_verdict(reply) == verdict


def test_judge_prompt_is_the_papers_in_the_problems_variant() -> None:
    br = Problem(id="t/0", split="t", index=0, variant="pt-BR", kind="open_ended", problem="Quanto é 2+2?")
    pt = Problem(id="t/1", split="t", index=1, variant="pt-PT", kind="open_ended", problem="Quanto é 2+2?")
    m_br = build_judge_messages(br, "Logo $4$.", "\\boxed{4}")[0]["content"]
    m_pt = build_judge_messages(pt, "Logo $4$.", "\\boxed{4}")[0]["content"]
    m_en = build_judge_messages(br, "Logo $4$.", "\\boxed{4}", style="paper-en")[0]["content"]
    assert "Você é um avaliador imparcial" in m_br and "Dê agora o seu julgamento" in m_br and '"score": 0 ou 1' in m_br
    assert "És um avaliador imparcial" in m_pt and "Dá agora o teu julgamento" in m_pt
    assert m_en.startswith("You are an impartial judge") and "[Golden Answer]: Logo $4$." in m_en and "[Model Answer]: \\boxed{4}" in m_en
    with pytest.raises(ValueError, match="judge prompt style"):
        build_judge_messages(br, "s", "r", style="klingon")


def test_counts_three_ways_and_agreement() -> None:
    recs = [
        {"run": "r", "verdict": "correct", "judge_verdict": "correct"},    # both: agree
        {"run": "r", "verdict": "incorrect", "judge_verdict": "correct"},  # both: disagree
        {"run": "r", "verdict": "ungraded", "judge_verdict": "correct"},   # judge decides
        {"run": "r", "verdict": "ungraded", "judge_verdict": "unparsed"},  # nobody decides
        {"run": "r", "verdict": "unparsed", "judge_verdict": "incorrect"},
        {"run": "r", "verdict": "correct"},                                # not judged
    ]
    c = judge_counts(recs)
    assert c["grader"] == {"correct": 2, "graded": 3, "accuracy": 2 / 3}
    assert (c["judge"]["correct"], c["judge"]["graded"], c["judge"]["judged"]) == (3, 4, 5)
    assert c["combined"] == {"correct": 3, "graded": 5, "accuracy": 3 / 5}
    assert c["judge_unparsed"] == 1
    assert c["agreement"] == {"both": 2, "agree": 1, "rate": 0.5}
    assert [combined_verdict(r) for r in recs] == ["correct", "incorrect", "correct", "ungraded", "incorrect", "correct"]


# --- over the fake backend ---------------------------------------------------------------------------

def test_judge_pass_records_verdicts_and_uses_the_cache(tmp_path: Path) -> None:
    # the judge's warm-up answer comes first, then one reply per answer judged
    cat = _catalog(tmp_path, 'answers = ["warm-up", "{\\"score\\": 1}", "{\\"score\\": 1}", "não sei"]')
    out = tmp_path / "out"
    _answer(tmp_path, cat, out)
    problems = load_problems("builtin")
    judge = resolve_judge(load_catalog(cat), "*@judge")
    cache = JudgeCache(tmp_path / "cache" / "judge.jsonl")
    block = judge_results_dir(load_catalog(cat), out, problems, judge, judge_all=True, cache=cache, gpus="none")
    assert block["status"] == "ok", block
    recs = read_results(out / "results.jsonl")
    judged = [r for r in recs if "judge_verdict" in r]
    assert [r["problem_id"] for r in judged] == ["builtin/1", "builtin/3", "builtin/5"]
    assert [r["judge_verdict"] for r in judged] == ["correct", "correct", "unparsed"]
    assert all(r["judge_run"] == "tiny/fake/fake@judge" and r["judge_reply"] and r["judge_cached"] is False for r in judged)
    overall = block["overall"]
    assert overall["grader"]["correct"] == 1 and overall["grader"]["graded"] == 2  # 42 right, 80 wrong, one unparsed
    assert (overall["judge"]["correct"], overall["judge"]["graded"], overall["judge_unparsed"]) == (2, 2, 1)
    assert overall["combined"] == {"correct": 1, "graded": 2, "accuracy": 0.5}
    assert overall["agreement"] == {"both": 2, "agree": 1, "rate": 0.5}
    assert (out / "judge" / "results.jsonl").is_file() and (out / "judge" / "summary.json").is_file()
    # a second pass computes nothing: every (judge, problem, response) is in the cache
    again = judge_results_dir(load_catalog(cat), out, problems, judge, judge_all=True, cache=JudgeCache(cache.path), gpus="none")
    assert (again["computed"], again["cached"]) == (0, 3)
    assert all(r["judge_cached"] for r in read_results(out / "results.jsonl") if "judge_verdict" in r)


def test_by_default_only_answers_without_a_usable_gold_are_judged(tmp_path: Path) -> None:
    cat = _catalog(tmp_path, 'answers = ["{\\"score\\": 1}"]')
    out = tmp_path / "out"
    recs = _answer(tmp_path, cat, out)
    problems = {p.id: p for p in load_problems("builtin")}
    judge = resolve_judge(load_catalog(cat), "*@judge")
    assert plan_requests(recs, problems, judge) == []  # the built-in set has a gold for every item
    vague = "Fazendo as contas com cuidado chega-se ao resultado pedido."  # a solution without a value
    nogold = {k: Problem(**{**p.to_dict(), "answer": None, "solution": vague}) if not p.is_multiple_choice else p
              for k, p in problems.items()}
    reqs = plan_requests(recs, nogold, judge)
    assert [r.problem.id for r in reqs] == ["builtin/1", "builtin/3", "builtin/5"]


def test_a_judge_that_fails_to_load_leaves_the_graders_verdicts(tmp_path: Path) -> None:
    cat = _catalog(tmp_path, 'fail_load = "weights are corrupt"')
    out = tmp_path / "out"
    before = _answer(tmp_path, cat, out)
    judge = resolve_judge(load_catalog(cat), "*@judge")
    block = judge_results_dir(load_catalog(cat), out, load_problems("builtin"), judge, judge_all=True,
                              cache=JudgeCache(None), gpus="none")
    assert block["status"] == "failed" and "weights are corrupt" in block["reason"]
    after = read_results(out / "results.jsonl")
    assert [r["verdict"] for r in after] == [r["verdict"] for r in before]
    assert not any("judge_verdict" in r for r in after)
    md = summary_markdown({"runs": [], "settings": {}, "judge": block, "environment": {}})
    assert "The judge did not complete (failed)" in md and "weights are corrupt" in md


def test_unknown_judge_run_is_one_line(tmp_path: Path) -> None:
    cat = load_catalog(_catalog(tmp_path, 'answers = ["x"]'))
    with pytest.raises(JudgeError, match="no such run"):
        resolve_judge(cat, "nope/llama.cpp/q4_1")
    with pytest.raises(JudgeError, match="matches 2 runs"):
        resolve_judge(cat, "tiny/*")


def test_identical_answers_are_judged_once(tmp_path: Path) -> None:
    cat = load_catalog(_catalog(tmp_path, 'answers = ["warm-up", "{\\"score\\": 0}"]'))
    judge = resolve_judge(cat, "*@judge")
    p = next(x for x in load_problems("builtin") if x.id == "builtin/1")
    recs = [{"run": "a", "problem_id": p.id, "response": "\\boxed{41}", "verdict": "incorrect"},
            {"run": "b", "problem_id": p.id, "response": "\\boxed{41}", "verdict": "incorrect"}]
    reqs = plan_requests(recs, {p.id: p}, judge, judge_all=True)
    outcome = run_judge(cat, judge, reqs, out_dir=tmp_path / "j", cache=JudgeCache(None), gpus="none")
    assert outcome.computed == 1 and outcome.status == "ok"
    apply_verdicts(recs, reqs, outcome)
    assert [r["judge_verdict"] for r in recs] == ["incorrect", "incorrect"]


# --- the command lines ---------------------------------------------------------------------------

def qa(*args: str, env_dir: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "QUANTARENA_CACHE_DIR": str(env_dir)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)


def test_batch_and_grade_with_judge(tmp_path: Path) -> None:
    cat = _catalog(tmp_path, 'answers = ["warm-up", "{\\"score\\": 1}"]')
    out = tmp_path / "out"
    r = qa("--batch", "--quiet", "--models", str(cat), "--runs", "*@ans", "--limit", "6", "--out", str(out),
           "--judge", "tiny/fake/fake@judge", "--judge-all", env_dir=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "judge tiny/fake/fake@judge: ok" in r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"]["overall"]["judge"]["judged"] == 3
    assert "## LLM judge" in (out / "summary.md").read_text()
    graded = tmp_path / "graded.jsonl"
    r = qa("grade", str(out / "results.jsonl"), "--models", str(cat), "--judge", "tiny/fake/fake@judge", "--judge-all",
           "--out", str(graded), env_dir=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "3 from the cache" in r.stderr and "agreement" in r.stderr
    lines = [json.loads(x) for x in graded.read_text().splitlines()]
    assert sum(1 for ln in lines if ln.get("judge_cached")) == 3 and all("combined_verdict" in ln for ln in lines)
    # a failing judge: grader's verdicts written, exit 3, the reason on stderr
    bad = _catalog(tmp_path / "bad", 'fail_load = "no weights"') if (tmp_path / "bad").mkdir() is None else None
    assert bad is not None
    r = qa("grade", str(out / "results.jsonl"), "--models", str(bad), "--judge", "tiny/fake/fake@judge", "--judge-all",
           "--judge-cache", "none", "--out", str(graded), env_dir=tmp_path / "cache")
    assert r.returncode == 3 and "no weights" in r.stderr, r.stderr
    assert len(graded.read_text().splitlines()) == 6
    r = qa("grade", str(out / "results.jsonl"), "--models", str(cat), "--judge", "nope", env_dir=tmp_path / "cache")
    assert r.returncode == 2 and "no such run" in r.stderr
    r = qa("--judge", "x", env_dir=tmp_path / "cache")
    assert r.returncode == 2 and "--batch option" in r.stderr
