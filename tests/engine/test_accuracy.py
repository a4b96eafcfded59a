"""Accuracy tables from result records."""

from __future__ import annotations

from engine.accuracy import accuracy_table, accuracy_tables, render_markdown


def rec(run: str, split: str, verdict: str, strict: str | None = None, level: int = 1, fig: bool = False,
        finish: str = "stop") -> dict:
    return {"run": run, "problem_id": f"{split}/0", "split": split, "level": level, "has_figure": fig,
            "verdict": verdict, "strict_verdict": strict or verdict, "finish_reason": finish}


RECORDS = [
    rec("a", "ptpt_multiple_choice", "correct", level=1),
    rec("a", "ptpt_multiple_choice", "correct", "unparsed", level=2, fig=True),
    rec("a", "ptpt_multiple_choice", "incorrect", level=2),
    rec("a", "ptpt_multiple_choice", "unparsed", level=3, finish="length"),
    rec("a", "ptpt_open_ended", "ungraded", level=3),
    rec("a", "ptpt_open_ended", "ungraded", level=3, finish="length"),
    rec("b", "ptpt_multiple_choice", "correct", level=1),
]


def test_cells_count_every_kind_of_outcome() -> None:
    t = accuracy_table(RECORDS, "split")
    c = t.cell("a", "ptpt_multiple_choice")
    assert c is not None
    assert (c.n, c.correct, c.graded, c.unparsed, c.ungraded, c.truncated) == (4, 2, 3, 1, 0, 1)
    assert c.accuracy == 2 / 3
    assert c.strict_accuracy == 1 / 4  # the paper's: unreadable counts as wrong
    o = t.cell("a", "ptpt_open_ended")
    assert o is not None and o.graded == 0 and o.accuracy is None and o.strict_accuracy is None and o.truncated == 1
    a = t.cell("a", "all")
    assert a is not None and (a.n, a.correct, a.ungraded) == (6, 2, 2)
    assert t.runs == ["a", "b"] and t.groups == ["ptpt_multiple_choice", "ptpt_open_ended", "all"]
    assert t.cell("b", "ptpt_open_ended") is None


def test_by_level_and_figure() -> None:
    tables = accuracy_tables(RECORDS)
    lv = tables["level"]
    assert lv.groups == ["1", "2", "3", "all"]
    two = lv.cell("a", "2")
    assert two is not None and (two.n, two.correct, two.accuracy) == (2, 1, 0.5)
    fig = tables["figure"]
    f = fig.cell("a", "figure")
    nf = fig.cell("a", "no figure")
    assert f is not None and nf is not None and (f.n, nf.n) == (1, 5)


def test_split_falls_back_to_the_problem_id() -> None:
    r = rec("a", "x", "correct")
    del r["split"]
    r["problem_id"] = "ptbr_open_ended/3"
    assert accuracy_table([r], "split").cell("a", "ptbr_open_ended") is not None


def test_markdown() -> None:
    md = render_markdown(accuracy_tables(RECORDS))
    assert "### Accuracy by split" in md and "### Accuracy by level" in md and "### Accuracy by figure" in md
    assert "| a | ptpt_multiple_choice | 4 | 2 | 3 | 66.7% | 25.0% | 1 | 0 | 1 |" in md
    assert "| a | ptpt_open_ended | 2 | 0 | 0 | – | – | 0 | 2 | 1 |" in md
