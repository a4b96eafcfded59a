"""``quantarena report``: real sessions (scripted fake backend) read back into the HTML page, CSV and
Parquet tables, a comparison of two sessions; bad and older folders; the findings generator over
the committed GPU results; the page in headless Chromium when it is installed."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_fake_catalog

ROOT = Path(__file__).resolve().parents[2]
GPU_RUNS = ROOT / "benchmarks" / "gpu-runs"
FILLER = " ".join(["passo"] * 24)


def qa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def _session(tmp: Path, name: str, fast_tok_s: int, fast_letter: str) -> Path:
    """Two fake runs × the first 4 built-in problems (golds B, 42, D, 81); each run boxes one letter
    in every answer, so its verdicts do not depend on which scripted answer goes to which problem."""
    answers = {tag: json.dumps([FILLER + " \\boxed{" + letter + "}"]) for tag, letter in (("fast", fast_letter), ("slow", "B"))}
    runs = "".join(
        f'[[runs]]\nmodel = "tiny"\nbackend = "fake"\nquant = "fake"\ntag = "{tag}"\n'
        f'settings = {{ tokens_per_s = {tok_s}, answers = {answers[tag]} }}\n'
        for tag, tok_s in (("fast", fast_tok_s), ("slow", 60))
    )
    (tmp / name).mkdir()
    cat = write_fake_catalog(tmp / name, runs)
    out = tmp / name / "results"
    r = qa("--batch", "--quiet", "--models", str(cat), "--limit", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real sessions of two runs × 4 built-in problems: in the second the fast run is 12× slower
    and answers D instead of B (builtin/0 turns incorrect, builtin/2 correct)."""
    tmp = tmp_path_factory.mktemp("sessions")
    return _session(tmp, "a", 1200, "B"), _session(tmp, "b", 100, "D")


@pytest.fixture(scope="module")
def report(sessions: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``quantarena report A B --out r.html --csv runs.csv --parquet pq`` as a user runs it."""
    out = tmp_path_factory.mktemp("report")
    r = qa("report", str(sessions[0]), str(sessions[1]), "--out", str(out / "r.html"), "--csv", str(out / "runs.csv"),
           "--parquet", str(out / "pq"))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "Traceback" not in r.stderr
    return out


def report_main(*args: str) -> int:
    """The report command in this process (no interpreter start-up, no second altair import)."""
    from cli.main import main

    return main(["report", *args])


# --- the page and the tables ------------------------------------------------------------------

def test_report_is_one_self_contained_page_with_every_run(report: Path) -> None:
    page = (report / "r.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"(src|href)=[\"']?https?:", page)
    assert "vegaEmbed" in page and "const SPECS" in page
    for label in ("a", "b"):  # folder labels: the sessions' folders are both named results -> a/results, b/results
        for run in ("tiny/fake/fake@fast", "tiny/fake/fake@slow"):
            assert f"{label}/results · {run}" in page
    for cid in ("c-pareto-acc", "c-speed", "c-ttft", "c-verdicts", "c-cmp-0"):
        assert f"id='{cid}'" in page
    assert "1 slower" in page.replace("<b>", "").replace("</b>", "")


def test_csv_one_row_per_run_and_per_answer_loads_into_pandas(report: Path) -> None:
    pd = pytest.importorskip("pandas")
    from cli.report.tables import ANSWER_COLUMNS, RUN_COLUMNS

    tmp_path = report
    runs = pd.read_csv(tmp_path / "runs.csv")
    answers = pd.read_csv(tmp_path / "runs-answers.csv")
    assert list(runs.columns) == [c.name for c in RUN_COLUMNS] and len(runs) == 4
    assert list(answers.columns) == [c.name for c in ANSWER_COLUMNS] and len(answers) == 16
    assert runs["decode_tok_s_p50"].dtype == float and runs["decode_tok_s_p50"].notna().all()
    fast_a = runs[runs.key == "a/results · tiny/fake/fake@fast"].iloc[0]
    assert fast_a.accuracy == pytest.approx(0.25) and fast_a.graded == 4
    assert runs["peak_vram_mib"].isna().all()  # CPU: N/A, never 0
    assert set(answers.verdict) == {"correct", "incorrect"}
    pytest.importorskip("pyarrow")
    prq = pd.read_parquet(tmp_path / "pq" / "runs.parquet")
    assert len(prq) == 4 and prq["decode_tok_s_p50"].tolist() == pytest.approx(runs["decode_tok_s_p50"].tolist())
    assert len(pd.read_parquet(tmp_path / "pq" / "answers.parquet")) == 16


def test_comparison_finds_the_slower_run_and_the_changed_verdict(sessions: tuple[Path, Path]) -> None:
    from cli.report.comparison import SLOWER, WITHIN, comparisons
    from cli.report.folders import load_folders
    from cli.report.tables import run_rows

    folders = load_folders(list(sessions))
    cmps = comparisons(folders, run_rows(folders))
    assert len(cmps) == 1
    cmp = cmps[0]
    change = {rc.run: rc.change for rc in cmp.runs}
    assert change["tiny/fake/fake@fast"] == SLOWER
    assert change["tiny/fake/fake@slow"] in (WITHIN, "faster", SLOWER)  # same script: whatever the machine did
    assert sorted((v.run, v.problem_id, v.before, v.after) for v in cmp.verdicts) == [
        ("tiny/fake/fake@fast", "builtin/0", "correct", "incorrect"), ("tiny/fake/fake@fast", "builtin/2", "incorrect", "correct")]
    assert cmp.answers_compared == 8


@pytest.mark.parametrize(
    "before, after, expected",
    [
        ((10, 12), (13, 14), "faster"),
        ((10, 12), (5, 9), "slower"),
        ((10, 12), (11, 13), "within spread"),
        ((10, 12), (None, 13), "spread unknown"),
    ],
)
def test_classify(before: tuple, after: tuple, expected: str) -> None:
    from cli.report.comparison import classify

    def row(p: tuple) -> dict:
        return {"decode_tok_s_p10": p[0], "decode_tok_s_p90": p[1], "_n": 4}

    assert classify(row(before), row(after)) == expected
    assert classify(dict(row(before), _n=1), row(after)) == "spread unknown"


@pytest.mark.parametrize(
    "points, front",
    [
        ([("a", 10, 50), ("b", 20, 40), ("c", 5, 30)], ["a", "b"]),
        ([("a", 10, 50), ("b", 10, 50)], ["a", "b"]),
        ([("a", 10, 50), ("b", 20, 60)], ["b"]),
        ([("a", 1, 1)], ["a"]),
    ],
)
def test_pareto_front(points: list, front: list) -> None:
    from cli.report.charts import pareto_front

    assert pareto_front(points) == front


# --- bad and older input ------------------------------------------------------------------------

def test_not_a_results_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "nowhere"):
        assert report_main(str(target), "--out", str(tmp_path / "x.html")) == 2
        err = capsys.readouterr().err
        assert str(target) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_truncated_results_jsonl_uses_the_complete_lines(sessions: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    killed = tmp_path / "killed"
    killed.mkdir()
    text = (sessions[0] / "results.jsonl").read_text(encoding="utf-8")
    lines = text.splitlines()
    (killed / "results.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][: len(lines[5]) // 2], encoding="utf-8")
    assert report_main(str(killed), "--out", str(tmp_path / "k.html"), "--csv", str(tmp_path / "k.csv")) == 0
    err = capsys.readouterr().err
    assert "last line is incomplete" in err and "used the 5 complete lines" in err
    assert "no summary.json" in err
    with (tmp_path / "k-answers.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 5
    assert "last line is incomplete" in (tmp_path / "k.html").read_text(encoding="utf-8")


def test_summary_only_and_malformed_summary_folders(sessions: tuple[Path, Path], tmp_path: Path) -> None:
    from cli.report.folders import load_folder
    from cli.report.tables import run_rows

    only = tmp_path / "only-summary"
    only.mkdir()
    shutil.copy(sessions[0] / "summary.json", only / "summary.json")
    folder = load_folder(only)
    assert any("no results.jsonl" in w for w in folder.warnings)
    rows = run_rows([folder])
    assert len(rows) == 2 and all(r["decode_tok_s_p50"] is not None and r["decode_tok_s_p10"] is None for r in rows)
    bad = tmp_path / "bad-summary"
    shutil.copytree(sessions[0], bad)
    (bad / "summary.json").write_text('{"runs": [')
    folder = load_folder(bad)
    assert any("summary.json: not valid JSON" in w for w in folder.warnings) and len(run_rows([folder])) == 2


def test_older_folder_shows_missing_fields_as_na(sessions: tuple[Path, Path], tmp_path: Path) -> None:
    from cli.report.folders import load_folder
    from cli.report.page import runs_table
    from cli.report.tables import run_rows

    old = tmp_path / "old"
    old.mkdir()
    keep = ("run", "problem_id", "response", "verdict", "tokens_out", "finish_reason")
    recs = [json.loads(x) for x in (sessions[0] / "results.jsonl").read_text().splitlines()]
    (old / "results.jsonl").write_text("\n".join(json.dumps({k: r.get(k) for k in keep}) for r in recs) + "\n")
    summary = json.loads((sessions[0] / "summary.json").read_text())
    (old / "summary.json").write_text(json.dumps({"runs": [{"run": r["run"], "status": "ok"} for r in summary["runs"]]}))
    folder = load_folder(old)
    rows = run_rows([folder])
    assert len(rows) == 2 and all(r["decode_tok_s_p50"] is None and r["ttft_s_p50"] is None for r in rows)
    assert [r["accuracy"] for r in rows] == [pytest.approx(0.25)] * 2
    assert "N/A" in runs_table(rows, [r["key"] for r in rows])
    assert report_main(str(old), "--out", str(tmp_path / "o.html")) == 0
    assert "No run has decode tok/s" in (tmp_path / "o.html").read_text(encoding="utf-8")


def test_quality_block_is_shown_when_present(sessions: tuple[Path, Path], tmp_path: Path) -> None:
    from cli.report.folders import load_folder
    from cli.report.page import build_page
    from cli.report.tables import answer_rows, run_rows

    q = tmp_path / "q"
    shutil.copytree(sessions[0], q)
    summary = json.loads((q / "summary.json").read_text())
    summary["runs"][0]["quality"] = {"reference": "tiny/fake/fake@slow", "ppl": 3.2, "kld_mean": 0.012,
                                     "kld_p99": 0.2, "top1_pct": 97.5, "tokens": 400}
    (q / "summary.json").write_text(json.dumps(summary))
    folders = [load_folder(q)]
    rows = run_rows(folders)
    with_q = [r for r in rows if r["quality_kld_mean"] is not None]
    assert len(with_q) == 1 and with_q[0]["quality_top1_pct"] == 97.5 and with_q[0]["quality_tokens"] == 400
    from cli.report import charts

    charts.VALIDATE = True  # every spec against the Vega-Lite schema, once
    try:
        page = build_page(folders, rows, answer_rows(folders), [])
    finally:
        charts.VALIDATE = False
    assert "id='c-pareto-q'" in page and "0.0120 / 97.5" in page


# --- the committed study ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog():
    from engine.catalog import load_catalog

    return load_catalog(ROOT / "models.toml")


def test_findings_cover_every_committed_folder_and_say_what_is_missing(catalog) -> None:
    from cli.report.findings import build_study, findings_markdown, study_folders
    from cli.report.tables import run_rows

    folders = study_folders(GPU_RUNS)
    assert len(folders) >= 10
    rows = run_rows(folders)
    cells = build_study(folders, rows, catalog)
    md = findings_markdown(folders, rows, cells)
    for f in folders:
        assert f"`{f.label}`" in md or f.label not in {r["folder"] for r in rows if r.get("model") in ("qwen2.5-72b", "mistral-7b", "llama3-8b")}
    for c in cells:
        if c.best is None:
            assert f"`{c.run}`" in md  # listed under Missing figures
    assert {c.model for c in cells} == {"qwen2.5-72b", "mistral-7b", "llama3-8b"}
    assert "Qwen2.5-72B decodes" in md and "GPUs on H100-80GB" in md and "arXiv:2604.25926" in md


def test_findings_pick_up_a_new_results_folder(catalog, tmp_path: Path) -> None:
    """A folder added later (here: the Llama-3-8B Q4_K_M folder relabelled as a Qwen2.5-72B run, test
    data only) fills its cell and leaves Missing figures."""
    from cli.report.findings import build_study, findings_markdown, study_folders
    from cli.report.tables import run_rows

    root = tmp_path / "gpu-runs"
    shutil.copytree(GPU_RUNS / "qwen72b-int4-h100", root / "qwen72b-int4-h100")
    new = root / "new-engine"
    new.mkdir(parents=True)
    src = GPU_RUNS / "llamacpp-q4km-h100"
    rename = {"llama3-8b/llama.cpp/q4_k_m": "qwen2.5-72b/llama.cpp/q4_k_m"}
    recs = [json.loads(x) for x in (src / "results.jsonl").read_text().splitlines() if x.strip()]
    recs = [dict(r, run=rename[r["run"]], model="qwen2.5-72b") for r in recs if r["run"] in rename]
    (new / "results.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    folders = study_folders(root)
    rows = run_rows(folders)
    cells = {c.run: c for c in build_study(folders, rows, catalog)}
    assert cells["qwen2.5-72b/llama.cpp/q4_k_m"].best is not None
    assert cells["qwen2.5-72b/llama.cpp/q4_k_m"].best["folder"] == "new-engine"
    md = findings_markdown(folders, rows, list(cells.values()))
    assert "| `qwen2.5-72b/llama.cpp/q4_k_m` |" not in md and "| `qwen2.5-72b/llama.cpp/q8_0` |" in md


def test_committed_findings_are_current(catalog) -> None:
    """docs/findings.md is what `python scripts/findings.py` writes from the committed folders."""
    import os

    from cli.report.findings import build_study, findings_markdown, study_folders
    from cli.report.tables import run_rows

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        folders = study_folders(GPU_RUNS)
        rows = run_rows(folders)
        md = findings_markdown(folders, rows, build_study(folders, rows, catalog))
    finally:
        os.chdir(cwd)
    assert (ROOT / "docs" / "findings.md").read_text(encoding="utf-8") == md, "run: python scripts/findings.py"


def test_published_counts_are_the_ones_the_grader_reproduces() -> None:
    from cli.report.findings import PUBLISHED_MC
    from tests.engine.grading.test_grading_mc import PAPER_STRICT

    table = {m: (pt, br) for m, pt, br, _ in PUBLISHED_MC}
    for (model, split), correct in PAPER_STRICT.items():
        assert table[model][0 if split == "ptpt" else 1].startswith(f"{correct}/")


def test_column_reference_is_documented() -> None:
    from cli.report.tables import columns_markdown

    assert columns_markdown() in (ROOT / "docs" / "report.md").read_text(encoding="utf-8")


def test_cli_imports_no_charting_library() -> None:
    code = "import cli.main, cli.report.command, cli.report.tables, sys; print([m for m in ('altair', 'vl_convert', 'pyarrow') if m in sys.modules])"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


# --- a real browser ----------------------------------------------------------------------------

def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from cli.report.browser import find_chromium, render

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    result = render(report / "r.html", tmp_path / "shot.png", height=1600, fragment="answer-0")
    assert result.ok(), result.summary()
    assert "passo passo" in result.answer_text and "\\boxed{" in result.answer_text  # the panel opened answer 0
    assert result.charts_total >= 5 and result.svg_marks >= result.charts_total
    assert result.coloured_pixels > 2000, result.summary()  # drawn, coloured marks; a blank page has none
