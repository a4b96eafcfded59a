"""``quantarena grade``: re-grading JSONL files, bad lines, exit codes, speed."""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import pytest

from cli.grade import add_arguments, run
from engine.exits import ExitCode

MATHPT = Path(__file__).resolve().parents[2].parent / "shared" / "mathpt"


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_regrades_and_keeps_extra_fields(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "results.jsonl", [
        {"run": "m/llama.cpp/q4_1", "problem_id": "builtin/0", "response": "\\boxed{B}", "tokens_out": 7,
         "verdict": "incorrect", "finish_reason": "stop"},
        {"run": "m/llama.cpp/q4_1", "problem_id": "builtin/1", "response": "Logo $\\boxed{42}$.", "finish_reason": "length"},
        {"run": "m/llama.cpp/q4_1", "problem_id": "builtin/2", "response": "nada"},
    ])
    out_file = tmp_path / "graded.jsonl"
    err = io.StringIO()
    rc = run(parse(str(src), "--dataset", "builtin", "--out", str(out_file)), err=err)
    assert rc == ExitCode.OK
    rows = [json.loads(x) for x in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["verdict"] for r in rows] == ["correct", "correct", "unparsed"]
    assert rows[0]["tokens_out"] == 7 and rows[0]["run"] == "m/llama.cpp/q4_1"  # extra fields kept
    assert rows[0]["extracted"] == "B" and rows[0]["gold"] == "B" and rows[0]["strict_verdict"] == "correct"
    assert rows[1]["gold"] == "42" and rows[1]["extracted"] == "42"
    assert all("grader" in r for r in rows)
    summary = err.getvalue()
    assert "Accuracy by split" in summary and "builtin" in summary and "m/llama.cpp/q4_1" in summary


def test_bad_lines_are_reported_counted_and_skipped(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "r.jsonl", [
        {"problem_id": "builtin/0", "response": "\\boxed{B}"},
        "not json at all",
        {"response": "\\boxed{B}"},
        {"problem_id": "ptbr_open_ended/0", "response": "x"},
        {"problem_id": "builtin/0"},
        "[1, 2]",
        {"problem_id": "builtin/3", "response": "\\boxed{81}"},
    ])
    out, err = io.StringIO(), io.StringIO()
    rc = run(parse(str(src)), out=out, err=err)
    assert rc == ExitCode.OK
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["problem_id"] for r in rows] == ["builtin/0", "builtin/3"]
    e = err.getvalue()
    for lineno, reason in [(2, "not JSON"), (3, "no 'problem_id'"), (4, "unknown problem_id 'ptbr_open_ended/0'"),
                           (5, "no 'response'"), (6, "expected a JSON object")]:
        assert f"{src}:{lineno}: {reason}" in e
    assert "5 line(s) skipped" in e


def test_exit_codes_for_bad_usage(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(parse(str(tmp_path / "missing.jsonl")), err=err) == ExitCode.USAGE
    assert "responses file not found" in err.getvalue()
    src = write_jsonl(tmp_path / "r.jsonl", [{"problem_id": "builtin/0", "response": "x"}])
    err = io.StringIO()
    assert run(parse(str(src), "--dataset", str(tmp_path / "no_such_dir")), err=err) == ExitCode.USAGE
    assert "dataset directory not found" in err.getvalue()
    bad = write_jsonl(tmp_path / "bad.jsonl", ["garbage", "{}"])
    err = io.StringIO()
    assert run(parse(str(bad)), out=io.StringIO(), err=err) == ExitCode.USAGE
    assert "none of the 2 line(s) could be graded" in err.getvalue()


def test_empty_file_is_fine(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "r.jsonl", [])
    out = io.StringIO()
    assert run(parse(str(src), "--quiet"), out=out, err=io.StringIO()) == ExitCode.OK
    assert out.getvalue() == ""


def test_published_answers_regrade_fast(tmp_path: Path) -> None:
    """1,000 real answers (MC and a few open-ended) in well under the 60 s budget."""
    pub = MATHPT / "published" / "mc_responses.jsonl"
    if not pub.exists():
        pytest.skip("shared/mathpt is not present")
    lines = []
    for line in pub.read_text(encoding="utf-8").splitlines()[:1000]:
        r = json.loads(line)
        lines.append({"run": r["model"], "problem_id": r["problem_id"], "response": r["response"]})
    src = write_jsonl(tmp_path / "r.jsonl", lines)
    out = io.StringIO()
    t0 = time.perf_counter()
    rc = run(parse(str(src), "--dataset", str(MATHPT), "--quiet"), out=out, err=io.StringIO())
    elapsed = time.perf_counter() - t0
    assert rc == ExitCode.OK and len(out.getvalue().splitlines()) == 1000
    assert elapsed < 20, elapsed
