"""Accuracy tables from result records: per run x split, x level, x figure. Pure functions.

A record is a dict with at least ``run``, ``problem_id``, ``split``, ``level``, ``has_figure``,
``verdict``, ``strict_verdict`` and ``finish_reason`` (a results.jsonl line). Each table cell
counts:

``n``          answers;
``correct``    verdict correct; ``graded`` = correct + incorrect;
``unparsed``   no final answer found; ``ungraded`` no reliable gold (or the check timed out);
``truncated``  ``finish_reason == "length"`` (the answer hit the token cap);
``accuracy``   correct / graded, None when nothing was graded (lm-eval style: unparsed and
               ungraded are shown apart, not counted as wrong);
``strict_accuracy``  the MATH-PT paper's: strict correct / (n - strict ungraded); an answer the
               paper's regex cannot read counts as wrong, so for MC this is exactly the paper's
               correct/total.

Each table also has a row ``"all"`` per run (every split together).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL = "all"


@dataclass
class Cell:
    """The counts of one (run, group) cell."""

    n: int = 0
    correct: int = 0
    incorrect: int = 0
    unparsed: int = 0
    ungraded: int = 0
    truncated: int = 0
    strict_correct: int = 0
    strict_ungraded: int = 0

    @property
    def graded(self) -> int:
        return self.correct + self.incorrect

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None

    @property
    def strict_accuracy(self) -> float | None:
        denom = self.n - self.strict_ungraded
        return self.strict_correct / denom if denom else None

    def add(self, record: Mapping[str, Any]) -> None:
        self.n += 1
        verdict = record.get("verdict")
        if verdict == "correct":
            self.correct += 1
        elif verdict == "incorrect":
            self.incorrect += 1
        elif verdict == "unparsed":
            self.unparsed += 1
        else:
            self.ungraded += 1
        strict = record.get("strict_verdict", verdict)
        if strict == "correct":
            self.strict_correct += 1
        elif strict not in ("incorrect", "unparsed"):
            self.strict_ungraded += 1
        if record.get("finish_reason") == "length":
            self.truncated += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "correct": self.correct, "graded": self.graded, "unparsed": self.unparsed,
            "ungraded": self.ungraded, "truncated": self.truncated, "accuracy": self.accuracy,
            "strict_correct": self.strict_correct, "strict_accuracy": self.strict_accuracy,
        }


@dataclass
class AccuracyTable:
    """Cells keyed by (run, group); ``title`` names the grouping (split, level, figure)."""

    title: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def runs(self) -> list[str]:
        return list(dict.fromkeys(r for r, _ in self.cells))

    @property
    def groups(self) -> list[str]:
        gs = list(dict.fromkeys(g for _, g in self.cells if g != ALL))
        return sorted(gs, key=_group_sort_key) + [ALL]

    def cell(self, run: str, group: str) -> Cell | None:
        return self.cells.get((run, group))

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "cells": [{"run": r, self.title: g, **c.to_dict()} for (r, g), c in self.cells.items()]}


def _group_sort_key(g: str) -> tuple[int, str]:
    return (0, f"{int(g):08d}") if g.isdigit() else (1, g)


def _group_of(record: Mapping[str, Any], by: str) -> str:
    if by == "split":
        split = record.get("split")
        if split is None:
            split = str(record.get("problem_id", "?")).split("/")[0]
        return str(split)
    if by == "level":
        level = record.get("level")
        return "?" if level is None else str(level)
    if by == "figure":
        return "figure" if record.get("has_figure") else "no figure"
    raise ValueError(f"unknown grouping {by!r} (split, level, figure)")


def accuracy_table(records: Iterable[Mapping[str, Any]], by: str) -> AccuracyTable:
    """One table: run x ``by`` (split | level | figure), plus an ``all`` group per run."""
    table = AccuracyTable(by)
    for rec in records:
        run = str(rec.get("run") or "-")
        for group in (_group_of(rec, by), ALL):
            table.cells.setdefault((run, group), Cell()).add(rec)
    return table


def accuracy_tables(records: Iterable[Mapping[str, Any]]) -> dict[str, AccuracyTable]:
    """The three tables: ``split``, ``level`` and ``figure``."""
    recs = list(records)
    return {by: accuracy_table(recs, by) for by in ("split", "level", "figure")}


def format_pct(x: float | None) -> str:
    """``73.5%``, or an en dash when there is nothing to divide."""
    return "–" if x is None else f"{100.0 * x:.1f}%"


def render_markdown(tables: Mapping[str, AccuracyTable] | AccuracyTable) -> str:
    """The tables as GitHub markdown, one section per grouping."""
    if isinstance(tables, AccuracyTable):
        tables = {tables.title: tables}
    parts = []
    for by, table in tables.items():
        parts.append(f"### Accuracy by {by}\n")
        parts.append(f"| run | {by} | n | correct | graded | accuracy | strict accuracy | unparsed | ungraded | truncated |")
        parts.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for run in table.runs:
            for group in table.groups:
                c = table.cell(run, group)
                if c is None:
                    continue
                parts.append(
                    f"| {run} | {group} | {c.n} | {c.correct} | {c.graded} | {format_pct(c.accuracy)} | "
                    f"{format_pct(c.strict_accuracy)} | {c.unparsed} | {c.ungraded} | {c.truncated} |"
                )
        parts.append("")
    parts.append(
        "accuracy = correct / graded (unparsed and ungraded shown apart); strict accuracy = the MATH-PT "
        "paper's: strict correct / answers with a gold (an unreadable answer counts as wrong)."
    )
    return "\n".join(parts) + "\n"
