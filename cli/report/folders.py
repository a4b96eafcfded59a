"""Results folders read back: ``results.jsonl`` (complete lines only), ``summary.json`` when present.

A results folder is what ``quantarena --batch`` or the TUI writes: ``results.jsonl`` with one line
per run × problem and, once the session ended, ``summary.json``. Folders from killed sessions
(a truncated last line, no summary) and from older versions (fields missing) are read as far as
they go, with a warning; a folder holding neither file is a :class:`ReportError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
#: how deep :func:`find_results_folders` looks below a folder that is not itself a results folder
SEARCH_DEPTH = 3


class ReportError(Exception):
    """Bad input for a report: the message names the folder or file."""


@dataclass
class ResultsFolder:
    """One session's results as read from disk."""

    path: Path
    label: str
    records: list[dict[str, Any]]
    summary: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return (self.summary or {}).get("settings") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return (self.summary or {}).get("environment") or {}

    @property
    def session(self) -> str | None:
        s = (self.summary or {}).get("session")
        if s:
            return str(s)
        return next((str(r["session"]) for r in self.records if r.get("session")), None)

    def run_rows(self) -> list[dict[str, Any]]:
        """The summary's run rows, plus a bare row for each run seen only in ``results.jsonl``."""
        rows = [dict(r) for r in (self.summary or {}).get("runs") or [] if isinstance(r, dict) and r.get("run")]
        known = {r["run"] for r in rows}
        for rec in self.records:
            name = rec.get("run")
            if name and name not in known:
                known.add(name)
                rows.append({k: rec.get(k) for k in ("run", "model", "backend", "quant", "weights", "device")}
                            | {"status": None, "reason": None})
        return rows

    def placement(self, run: str) -> dict[str, Any] | None:
        """The plan's placement of ``run`` (its sizing estimate), when the summary has one."""
        for p in ((self.settings.get("plan") or {}).get("placements") or []):
            if isinstance(p, dict) and p.get("run") == run:
                return p
        return None


def is_results_folder(path: Path) -> bool:
    return (path / RESULTS).is_file() or (path / SUMMARY).is_file()


def find_results_folders(root: Path, depth: int = SEARCH_DEPTH) -> list[Path]:
    """``root`` itself when it is a results folder, else the results folders below it (sorted)."""
    root = Path(root)
    if is_results_folder(root):
        return [root]
    found: list[Path] = []
    if depth > 0 and root.is_dir():
        for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found += find_results_folders(child, depth - 1)
    return found


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The complete JSON lines of a ``results.jsonl``, and a warning for each line that is not one."""
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad.append(n)
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad.append(n)
    warnings = []
    if bad:
        last = max(n for n, line in enumerate(lines, 1) if line.strip())
        what = "its last line is incomplete (a session killed mid-line?)" if bad == [last] else \
            f"line{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad[:5]))}{' …' if len(bad) > 5 else ''} not JSON"
        warnings.append(f"{path}: {what}; used the {len(records)} complete line{'s' if len(records) != 1 else ''}")
    return records, warnings


def load_folder(path: Path, label: str | None = None) -> ResultsFolder:
    """Read one results folder; :class:`ReportError` when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: no such folder")
    if not is_results_folder(path):
        raise ReportError(f"{path} is not a results folder (no {RESULTS} or {SUMMARY} in it)")
    warnings: list[str] = []
    records: list[dict[str, Any]] = []
    if (path / RESULTS).is_file():
        records, warnings = read_records(path / RESULTS)
    else:
        warnings.append(f"{path}: no {RESULTS}; runs from {SUMMARY} only, no per-answer figures")
    summary: dict[str, Any] | None = None
    if (path / SUMMARY).is_file():
        try:
            loaded = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                summary = loaded
            else:
                warnings.append(f"{path / SUMMARY}: not a JSON object; ignored")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            warnings.append(f"{path / SUMMARY}: not valid JSON ({e.msg if hasattr(e, 'msg') else e}); ignored")
    if summary is None and records:
        warnings.append(f"{path}: no {SUMMARY} (a session that did not finish, or an older one): "
                        "runs rebuilt from its answers; status, load time, plan and environment N/A")
    return ResultsFolder(path=path, label=label or path.name, records=records, summary=summary, warnings=warnings)


def folder_labels(paths: list[Path]) -> list[str]:
    """Short unique labels: each folder's name, or its path below the folders' common parent."""
    resolved = [Path(p).resolve() for p in paths]
    names = [p.name for p in resolved]
    if len(set(names)) == len(names):
        return names
    common = Path(*_common_parts(resolved))
    labels = []
    for p in resolved:
        try:
            labels.append(str(p.relative_to(common)) or p.name)
        except ValueError:
            labels.append(str(p))
    # still equal (the same folder twice): number them
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


def _common_parts(paths: list[Path]) -> list[str]:
    parts = [p.parent.parts for p in paths]
    common: list[str] = []
    for group in zip(*parts, strict=False):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    return common or ["/"]


def load_folders(dirs: list[Path]) -> list[ResultsFolder]:
    """Every results folder given (a folder of results folders stands for those below it)."""
    paths: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.exists():
            raise ReportError(f"{d}: no such folder")
        found = find_results_folders(d)
        if not found:
            raise ReportError(f"{d} is not a results folder (no {RESULTS} or {SUMMARY} in it or below it)")
        paths += [p for p in found if p not in paths]
    return [load_folder(p, label) for p, label in zip(paths, folder_labels(paths), strict=True)]
