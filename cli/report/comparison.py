"""Two sessions side by side: which runs got faster or slower beyond their own spread, which answers
changed verdict, and which settings differ.

Which sessions are compared: every pair of the report's folders that share a run at the same
concurrency (a batch-8 per-sequence speed is not a batch-1 speed), older session first.

A run is *faster* when the slow end of its new spread beats the fast end of its old one
(new decode tok/s p10 > old p90), *slower* in the mirror case (new p90 < old p10), and *within
spread* otherwise: the p10–p90 ranges overlap, so the sessions' own answer-to-answer variation
covers the difference. With fewer than two answers on a side the spread is unknown and the run
is not classified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cli.report.folders import ResultsFolder

FASTER, SLOWER, WITHIN, UNKNOWN = "faster", "slower", "within spread", "spread unknown"


@dataclass
class RunChange:
    run: str
    before: dict[str, Any]
    after: dict[str, Any]
    change: str
    delta_pct: float | None


@dataclass
class VerdictChange:
    run: str
    problem_id: str
    before: str | None
    after: str | None
    before_extracted: Any
    after_extracted: Any


@dataclass
class Comparison:
    before: str
    after: str
    runs: list[RunChange] = field(default_factory=list)
    verdicts: list[VerdictChange] = field(default_factory=list)
    answers_compared: int = 0
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)
    setting_differences: list[str] = field(default_factory=list)

    def count(self, change: str) -> int:
        return sum(1 for r in self.runs if r.change == change)


def classify(before: dict[str, Any], after: dict[str, Any]) -> str:
    """FASTER / SLOWER / WITHIN / UNKNOWN from two rows' decode tok/s p10, p90 and answer counts."""
    keys = ("decode_tok_s_p10", "decode_tok_s_p90")
    if any(before.get(k) is None or after.get(k) is None for k in keys):
        return UNKNOWN
    if (before.get("_n") or 0) < 2 or (after.get("_n") or 0) < 2:
        return UNKNOWN
    if after["decode_tok_s_p10"] > before["decode_tok_s_p90"]:
        return FASTER
    if after["decode_tok_s_p90"] < before["decode_tok_s_p10"]:
        return SLOWER
    return WITHIN


def _answers(folder: ResultsFolder) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(r.get("run")), str(r.get("problem_id"))): r for r in folder.records
            if r.get("finish_reason") != "skipped"}


def _setting_differences(a: ResultsFolder, b: ResultsFolder) -> list[str]:
    out = []
    for key in ("dataset", "problems", "max_new_tokens", "temperature", "fixed_length", "concurrency"):
        va, vb = a.settings.get(key), b.settings.get(key)
        if va != vb:
            out.append(f"{key}: {va if va is not None else 'N/A'} → {vb if vb is not None else 'N/A'}")
    ga = sorted(str(g.get("name")) for g in a.environment.get("gpus") or [])
    gb = sorted(str(g.get("name")) for g in b.environment.get("gpus") or [])
    if ga != gb and (a.environment or b.environment):
        out.append(f"GPUs: {', '.join(ga) or 'none/N/A'} → {', '.join(gb) or 'none/N/A'}")
    la = a.environment.get("libraries") or {}
    lb = b.environment.get("libraries") or {}
    for lib in sorted(set(la) | set(lb)):
        if la.get(lib) != lb.get(lib) and la.get(lib) and lb.get(lib):
            out.append(f"{lib}: {la[lib]} → {lb[lib]}")
    return out


def compare(a: ResultsFolder, b: ResultsFolder, rows: list[dict[str, Any]]) -> Comparison:
    """``b`` against ``a`` (before → after), from the report's run rows of both folders."""
    ra = {r["run"]: r for r in rows if r["folder"] == a.label}
    rb = {r["run"]: r for r in rows if r["folder"] == b.label}
    aa, ab = _answers(a), _answers(b)
    cmp = Comparison(before=a.label, after=b.label, setting_differences=_setting_differences(a, b))
    for run in [r for r in ra if r in rb]:
        before = dict(ra[run], _n=sum(1 for k in aa if k[0] == run and aa[k].get("decode_tok_s") is not None))
        after = dict(rb[run], _n=sum(1 for k in ab if k[0] == run and ab[k].get("decode_tok_s") is not None))
        p0, p1 = before.get("decode_tok_s_p50"), after.get("decode_tok_s_p50")
        delta = 100.0 * (p1 - p0) / p0 if p0 and p1 is not None else None
        cmp.runs.append(RunChange(run, before, after, classify(before, after), delta))
    cmp.only_before = [r for r in ra if r not in rb]
    cmp.only_after = [r for r in rb if r not in ra]
    for key in [k for k in aa if k in ab]:
        cmp.answers_compared += 1
        va, vb = aa[key].get("verdict"), ab[key].get("verdict")
        if va != vb:
            cmp.verdicts.append(VerdictChange(key[0], key[1], va, vb, aa[key].get("extracted"), ab[key].get("extracted")))
    return cmp


def _concurrency(folder: ResultsFolder) -> int:
    return int(folder.settings.get("concurrency") or 1)


def comparisons(folders: list[ResultsFolder], rows: list[dict[str, Any]],
                pairs: list[tuple[str, str]] | None = None, limit: int = 12) -> list[Comparison]:
    """The given (before, after) folder-label pairs; by default every pair of folders that share a
    run at the same concurrency, older session first (session ids start with their date)."""
    by_label = {f.label: f for f in folders}
    if pairs is None:
        runs = {f.label: {r["run"] for r in rows if r["folder"] == f.label} for f in folders}
        ordered = sorted(folders, key=lambda f: (f.session or "~", folders.index(f)))
        pairs = [(a.label, b.label) for i, a in enumerate(ordered) for b in ordered[i + 1:]
                 if runs[a.label] & runs[b.label] and _concurrency(a) == _concurrency(b)][:limit]
    return [compare(by_label[a], by_label[b], rows) for a, b in pairs if a in by_label and b in by_label]
