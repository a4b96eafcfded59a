"""The dataset loader: builtin, a MATH-PT directory, the hub path, filters, sampling, bad input."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from engine import dataset as ds
from engine.dataset import SPLITS, DatasetError, DatasetWarning, load_problems, row_to_problem, rows_to_problems

MATHPT = Path(__file__).resolve().parents[2].parent / "shared" / "mathpt"


@pytest.fixture(scope="module")
def mathpt() -> Path:
    if not all((MATHPT / f"{s}_test.json").is_file() for s in SPLITS):
        pytest.skip("shared/mathpt is not present")
    return MATHPT


@pytest.fixture()
def copy_of(tmp_path: Path, mathpt: Path):
    """A writable copy of chosen split files."""

    def make(*splits: str) -> Path:
        d = tmp_path / "mathpt"
        d.mkdir(exist_ok=True)
        for s in splits:
            shutil.copy(mathpt / f"{s}_test.json", d / f"{s}_test.json")
        return d

    return make


def test_builtin() -> None:
    ps = load_problems("builtin")
    assert len(ps) >= 32 and ps[0].id == "builtin/0" and {p.split for p in ps} == {"builtin"}
    assert load_problems("builtin", splits=["builtin"]) == ps
    with pytest.raises(DatasetError, match="unknown split 'ptbr_open_ended'"):
        load_problems("builtin", splits=["ptbr_open_ended"])


def test_mathpt_directory(mathpt: Path) -> None:
    ps = load_problems(mathpt)
    counts = {s: sum(p.split == s for p in ps) for s in SPLITS}
    assert counts == {"ptpt_multiple_choice": 419, "ptpt_open_ended": 544, "ptbr_multiple_choice": 638, "ptbr_open_ended": 128}
    by_id = {p.id: p for p in ps}
    assert len(by_id) == len(ps)
    p = by_id["ptbr_multiple_choice/0"]
    assert (p.variant, p.kind, p.answer, p.level, p.has_figure) == ("pt-BR", "multiple_choice", "D", 4, False)
    assert p.choices == {"A": "16 cm", "B": "14 cm", "C": "13 cm", "D": "12 cm", "E": "11 cm"}
    q = by_id["ptpt_open_ended/0"]
    assert (q.variant, q.kind, q.answer, q.index) == ("pt-PT", "open_ended", None, 0) and q.solution
    assert sum(p.has_figure for p in ps if p.split == "ptpt_multiple_choice") == 134
    assert sum(p.has_figure for p in ps if p.split == "ptpt_open_ended") == 182
    assert not any(p.has_figure for p in ps if p.split.startswith("ptbr"))
    assert all(p.answer in "ABCDE" for p in ps if p.is_multiple_choice)
    # the file order is kept: index i is the i-th item of the file
    raw = json.loads((mathpt / "ptpt_open_ended_test.json").read_text(encoding="utf-8"))
    assert by_id["ptpt_open_ended/17"].problem == raw[17]["problem"]


def test_filters(mathpt: Path) -> None:
    ps = load_problems(str(mathpt), splits=["ptpt_multiple_choice"], levels=[1], has_figure=True)
    assert ps and all(p.split == "ptpt_multiple_choice" and p.level == 1 and p.has_figure for p in ps)
    assert load_problems(mathpt, splits="ptbr_open_ended,ptbr_multiple_choice", levels=[5]) == [
        p for p in load_problems(mathpt, splits=["ptbr_multiple_choice"]) if p.level == 5
    ]
    assert load_problems(mathpt, splits=["ptbr_open_ended"], has_figure=True) == []


def test_limit_without_seed_round_robins_the_splits(mathpt: Path) -> None:
    ps = load_problems(mathpt, limit=8)
    assert [p.id for p in ps[:4]] == [f"{s}/0" for s in SPLITS]
    assert [p.id for p in ps[4:]] == [f"{s}/1" for s in SPLITS]
    assert [p.id for p in load_problems("builtin", limit=3)] == ["builtin/0", "builtin/1", "builtin/2"]
    assert load_problems(mathpt, limit=0) == []


def test_limit_with_seed_is_a_reproducible_sample(mathpt: Path) -> None:
    a = load_problems(mathpt, limit=20, seed=1)
    b = load_problems(mathpt, limit=20, seed=1)
    c = load_problems(mathpt, limit=20, seed=2)
    assert [p.id for p in a] == [p.id for p in b] and len(a) == 20
    assert [p.id for p in a] != [p.id for p in c]
    order = {p.id: i for i, p in enumerate(load_problems(mathpt))}
    assert [order[p.id] for p in a] == sorted(order[p.id] for p in a)  # canonical order
    assert len(load_problems(mathpt, splits=["ptbr_open_ended"], limit=500, seed=3)) == 128


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset directory not found") as e:
        load_problems(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value) and "\n" not in str(e.value)
    f = tmp_path / "file.json"
    f.write_text("[]")
    with pytest.raises(DatasetError, match="not a directory"):
        load_problems(f)


def test_missing_requested_file_is_an_error(copy_of) -> None:
    d = copy_of("ptbr_open_ended")
    with pytest.raises(DatasetError, match="ptpt_multiple_choice_test.json: file not found"):
        load_problems(d)


def test_missing_unrequested_files_are_skipped_with_a_warning(copy_of) -> None:
    d = copy_of("ptbr_open_ended")
    with pytest.warns(DatasetWarning) as caught:
        ps = load_problems(d, splits=["ptbr_open_ended"])
    assert len(ps) == 128
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3 and all("file not found" in m and "skipped" in m for m in messages)
    assert any("ptpt_open_ended_test.json" in m for m in messages)


def test_bad_unrequested_file_is_skipped_with_a_warning(copy_of) -> None:
    d = copy_of(*SPLITS)
    (d / "ptpt_open_ended_test.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(DatasetWarning, match="not valid JSON"):
        ps = load_problems(d, splits=["ptbr_open_ended"])
    assert {p.split for p in ps} == {"ptbr_open_ended"}


def _write(d: Path, split: str, items) -> None:
    d.mkdir(exist_ok=True)
    (d / f"{split}_test.json").write_text(json.dumps(items), encoding="utf-8")


@pytest.mark.parametrize(
    "split, items, message",
    [
        ("ptbr_open_ended", "{oops", "not valid JSON"),
        ("ptbr_open_ended", {"a": 1}, "expected a JSON array"),
        ("ptbr_open_ended", [{"problem": "x", "solution": "y", "level": 2}, {"problem": "x", "level": 2}], "item 1: missing field 'solution'"),
        ("ptbr_open_ended", [{"problem": 3, "solution": "y"}], "item 0: field 'problem' must be str"),
        ("ptbr_open_ended", [{"problem": "x", "solution": "y", "level": "2"}], "item 0: field 'level' must be int"),
        ("ptbr_multiple_choice", [{"problem": "x", "choices": {"A": "1"}, "answer": "A"}], "item 0: field 'choices' lacks option"),
        ("ptbr_multiple_choice", [{"problem": "x", "choices": dict.fromkeys("ABCDE", "1"), "answer": "F"}], "item 0: field 'answer' must be a letter"),
        ("ptbr_multiple_choice", [{"problem": "x", "choices": dict.fromkeys("ABCDE", "1")}], "item 0: missing field 'answer'"),
        ("ptbr_multiple_choice", ["just a string"], "item 0: expected an object"),
    ],
)
def test_malformed_items_name_file_and_index(tmp_path: Path, split: str, items, message: str) -> None:
    d = tmp_path / "bad"
    if isinstance(items, str):
        d.mkdir()
        (d / f"{split}_test.json").write_text(items, encoding="utf-8")
    else:
        _write(d, split, items)
    with pytest.warns(DatasetWarning):  # the other three files are missing (not requested)
        with pytest.raises(DatasetError) as e:
            load_problems(d, splits=[split])
    msg = str(e.value)
    assert f"{split}_test.json" in msg and message in msg and "\n" not in msg


def test_unknown_split(mathpt: Path) -> None:
    with pytest.raises(DatasetError, match="unknown split 'ptbr_mc'"):
        load_problems(mathpt, splits=["ptbr_mc"])


def test_row_conversion_for_hub_rows() -> None:
    rows = [{"problem": "Quanto?", "solution": "Logo $2$.", "level": 3, "question_has_figure": True, "solution_has_figure": False}]
    p = rows_to_problems("ptpt_open_ended", rows, "hf:x")[0]
    assert (p.id, p.variant, p.has_figure, p.level) == ("ptpt_open_ended/0", "pt-PT", True, 3)
    q = row_to_problem("ptbr_multiple_choice", 4, {"problem": "Conteúdo referenciado: ...", "choices": dict.fromkeys("ABCDE", "1"), "answer": "b"})
    assert (q.id, q.answer, q.has_figure) == ("ptbr_multiple_choice/4", "B", True)


def test_hub_source_uses_the_snapshot(monkeypatch, mathpt: Path) -> None:
    seen = []

    def fake_snapshot(repo_id: str) -> Path:
        seen.append(repo_id)
        return mathpt

    monkeypatch.setattr(ds, "_hub_snapshot", fake_snapshot)
    ps = load_problems("hf", splits=["ptbr_open_ended"], limit=3)
    assert [p.id for p in ps] == ["ptbr_open_ended/0", "ptbr_open_ended/1", "ptbr_open_ended/2"]
    load_problems("hf:someone/copy", splits=["ptbr_open_ended"])
    assert seen == ["tiagoteixeira03/MATH-PT", "someone/copy"]


def test_hub_without_network_is_a_dataset_error(monkeypatch) -> None:
    fake = types.ModuleType("huggingface_hub")

    def snapshot_download(**kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    fake.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    with pytest.raises(DatasetError, match="hf:tiagoteixeira03/MATH-PT: cannot download") as e:
        load_problems("hf")
    assert "pass their directory" in str(e.value)
