"""Loading benchmark problems: the built-in set, a MATH-PT directory, or the Hugging Face hub.

``load_problems(source, ...)`` is the one entry point. ``source`` is

* ``"builtin"`` - the small original set shipped in ``engine/data`` (split ``builtin``);
* a directory holding MATH-PT's four files as published (``ptbr_multiple_choice_test.json``,
  ``ptbr_open_ended_test.json``, ``ptpt_multiple_choice_test.json``, ``ptpt_open_ended_test.json``);
  a split's name is its file stem without ``_test``;
* ``"hf"`` or ``"hf:<owner>/<name>"`` (default ``tiagoteixeira03/MATH-PT``) - the same files from
  the Hugging Face hub, downloaded with ``huggingface_hub`` (imported only then). Needs network.

A problem's id is ``<split>/<index>``, index being its position in the file's array (MATH-PT
items have no id field). ``variant`` comes from the split prefix (``ptbr`` -> pt-BR, ``ptpt`` ->
pt-PT), ``has_figure`` from ``question_has_figure`` when the file has it, else from the text
"Conteúdo referenciado:" (which the pt-BR files never contain). MC items keep their gold letter in
``answer``; MATH-PT open-ended items have ``answer=None`` (their gold is taken from the solution
at grading time, see :mod:`engine.grading.gold`).

Order and sampling: without ``limit`` the problems come split by split (in the order of
:data:`SPLITS`), each in file order. ``limit=N`` without ``seed`` takes the first N of a
round-robin over the selected splits (one from each split in turn, in file order), so a small
batch covers every split; ``limit=N`` with ``seed`` draws a reproducible random sample
(``random.Random(seed)``) and returns it in the canonical order. ``seed`` without ``limit`` has
no effect.

Errors: a missing directory, a requested split whose file is missing, malformed JSON or an item
with a missing/wrong field raise :class:`DatasetError`, a one-line message naming the file (and the
item's index). Files of splits that were *not* requested are still checked; their problems are
reported as :class:`DatasetWarning` through :mod:`warnings` and otherwise ignored.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.problems import Problem

#: MATH-PT split names, in canonical order
SPLITS = ("ptpt_multiple_choice", "ptpt_open_ended", "ptbr_multiple_choice", "ptbr_open_ended")
BUILTIN = "builtin"
HF_DEFAULT_REPO = "tiagoteixeira03/MATH-PT"
FIGURE_MARKER = "Conteúdo referenciado:"
LETTERS = ("A", "B", "C", "D", "E")


class DatasetError(ValueError):
    """A dataset that cannot be loaded; the message is one line naming the file (and item)."""


class DatasetWarning(UserWarning):
    """A problem with a split the caller did not ask for: reported, then skipped."""


def split_file_name(split: str) -> str:
    """The published file name of a MATH-PT split (``ptbr_open_ended`` -> ``ptbr_open_ended_test.json``)."""
    return f"{split}_test.json"


def split_variant(split: str) -> str:
    """pt-BR or pt-PT from a split name's prefix."""
    if split.startswith("ptbr"):
        return "pt-BR"
    if split.startswith("ptpt"):
        return "pt-PT"
    raise DatasetError(f"split {split!r}: cannot tell the variant (expected a ptbr_ or ptpt_ prefix)")


def split_kind(split: str) -> str:
    """multiple_choice or open_ended from a split name."""
    if split.endswith("multiple_choice"):
        return "multiple_choice"
    if split.endswith("open_ended"):
        return "open_ended"
    raise DatasetError(f"split {split!r}: cannot tell the kind (expected multiple_choice or open_ended)")


def _field(where: str, item: dict[str, Any], key: str, typ: type, required: bool = True) -> Any:
    if key not in item or item[key] is None:
        if required:
            raise DatasetError(f"{where}: missing field {key!r}")
        return None
    val = item[key]
    if typ is int and isinstance(val, bool):
        raise DatasetError(f"{where}: field {key!r} must be an integer, got {val!r}")
    if not isinstance(val, typ):
        raise DatasetError(f"{where}: field {key!r} must be {typ.__name__}, got {type(val).__name__}")
    return val


def row_to_problem(split: str, index: int, row: dict[str, Any], where: str = "") -> Problem:
    """One MATH-PT item (a JSON object or a hub row) as a Problem; DatasetError when malformed."""
    where = where or f"{split} item {index}"
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected an object, got {type(row).__name__}")
    variant = split_variant(split)
    kind = split_kind(split)
    text = _field(where, row, "problem", str)
    if not text.strip():
        raise DatasetError(f"{where}: field 'problem' is empty")
    level = _field(where, row, "level", int, required=False)
    solution = _field(where, row, "solution", str, required=(kind == "open_ended"))
    choices = None
    answer = None
    if kind == "multiple_choice":
        raw = _field(where, row, "choices", dict)
        missing = [k for k in LETTERS if k not in raw]
        if missing:
            raise DatasetError(f"{where}: field 'choices' lacks option(s) {', '.join(missing)}")
        choices = {k: str(raw[k]) for k in LETTERS}
        answer = _field(where, row, "answer", str).strip().upper()
        if answer not in LETTERS:
            raise DatasetError(f"{where}: field 'answer' must be a letter A-E, got {row['answer']!r}")
    elif row.get("answer") is not None:
        answer = str(row["answer"])  # an open-ended gold, when a source provides one
    flag = row.get("question_has_figure")
    has_figure = bool(flag) if isinstance(flag, bool) else FIGURE_MARKER in text
    return Problem(
        id=f"{split}/{index}", split=split, index=index, variant=variant, kind=kind, problem=text,
        choices=choices, answer=answer, solution=solution, level=level, has_figure=has_figure,
    )


def rows_to_problems(split: str, rows: Iterable[dict[str, Any]], source: str = "") -> list[Problem]:
    """Every row of one split as Problems, ids ``<split>/<position>``."""
    label = source or split
    return [row_to_problem(split, i, row, f"{label}: item {i}") for i, row in enumerate(rows)]


def _read_split_file(path: Path, split: str) -> list[Problem]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (split {split!r})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: not valid JSON: {e}") from None
    except (UnicodeDecodeError, OSError) as e:
        raise DatasetError(f"{path}: cannot read: {e}") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of items, got {type(data).__name__}")
    return rows_to_problems(split, data, str(path))


def _check_splits(splits: Sequence[str] | None, known: Sequence[str], source: str) -> list[str]:
    if splits is None:
        return list(known)
    if isinstance(splits, str):
        splits = [s for s in splits.split(",") if s.strip()]
    chosen = []
    for s in (x.strip() for x in splits):
        if s not in known:
            raise DatasetError(f"{source}: unknown split {s!r} (splits: {', '.join(known)})")
        if s not in chosen:
            chosen.append(s)
    return chosen


def _load_directory(directory: Path, splits: Sequence[str] | None) -> dict[str, list[Problem]]:
    if not directory.exists():
        raise DatasetError(f"{directory}: dataset directory not found")
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory (expected the folder holding the MATH-PT JSON files)")
    wanted = _check_splits(splits, SPLITS, str(directory))
    return _read_splits({split: directory / split_file_name(split) for split in SPLITS}, wanted)


def _read_splits(paths: dict[str, Path], wanted: Sequence[str]) -> dict[str, list[Problem]]:
    """Every split file is read (so a broken one is noticed); a broken file of a split that was
    not asked for is a warning, of one that was, the error."""
    out: dict[str, list[Problem]] = {}
    for split, path in paths.items():
        try:
            problems = _read_split_file(path, split)
        except DatasetError as e:
            if split in wanted:
                raise
            warnings.warn(DatasetWarning(f"{e} - skipped (split not requested)"), stacklevel=4)
            continue
        if split in wanted:
            out[split] = problems
    return out


def _hub_snapshot(repo_id: str) -> Path:
    """Download (or reuse the cache of) the dataset repo's JSON files; returns the local folder."""
    try:
        from huggingface_hub import snapshot_download  # lazy: only for hf sources
    except ImportError:
        raise DatasetError(
            f"hf:{repo_id}: the huggingface_hub package is not installed; pip install huggingface_hub, "
            "or pass the directory holding the MATH-PT JSON files"
        ) from None
    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset", allow_patterns=["*.json", "**/*.json"]))
    except Exception as e:  # offline, unknown repo, auth...
        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetError(
            f"hf:{repo_id}: cannot download from the Hugging Face hub ({line}); "
            "download the four JSON files and pass their directory instead"
        ) from None


def _load_hub(repo_id: str, splits: Sequence[str] | None) -> dict[str, list[Problem]]:
    root = _hub_snapshot(repo_id)
    wanted = _check_splits(splits, SPLITS, f"hf:{repo_id}")
    found: dict[str, Path] = {}
    for split in SPLITS:
        hits = sorted(root.rglob(split_file_name(split)))
        if hits:
            found[split] = hits[0]
    for split in wanted:
        if split not in found:
            raise DatasetError(f"hf:{repo_id}: no file {split_file_name(split)} in the hub snapshot at {root}")
    return _read_splits(found, wanted)


def _load_builtin(splits: Sequence[str] | None) -> dict[str, list[Problem]]:
    from engine.builtin import builtin_problems

    _check_splits(splits, (BUILTIN,), BUILTIN)
    return {BUILTIN: builtin_problems()}


def _round_robin(groups: list[list[Problem]]) -> list[Problem]:
    out: list[Problem] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        for g in groups:
            if i < len(g):
                out.append(g[i])
    return out


def load_problems(
    source: str | Path,
    *,
    splits: Sequence[str] | str | None = None,
    levels: Sequence[int] | None = None,
    has_figure: bool | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> list[Problem]:
    """Problems from ``source`` after the filters; see the module docstring for every rule."""
    if isinstance(source, Path):
        by_split = _load_directory(source, splits)
    elif source == BUILTIN:
        by_split = _load_builtin(splits)
    elif source == "hf" or source.startswith("hf:"):
        repo = source[3:].strip() if source.startswith("hf:") else ""
        by_split = _load_hub(repo or HF_DEFAULT_REPO, splits)
    else:
        by_split = _load_directory(Path(source).expanduser(), splits)
    if limit is not None and limit < 0:
        raise DatasetError(f"{source}: limit must be >= 0, got {limit}")
    level_set = set(levels) if levels is not None else None
    groups = []
    for split in by_split:
        g = [
            p for p in by_split[split]
            if (level_set is None or p.level in level_set) and (has_figure is None or p.has_figure == has_figure)
        ]
        groups.append(g)
    canonical = [p for g in groups for p in g]
    if limit is None:
        return canonical
    if seed is not None:
        rank = {p.id: i for i, p in enumerate(canonical)}
        sample = random.Random(seed).sample(canonical, min(limit, len(canonical)))
        return sorted(sample, key=lambda p: rank[p.id])
    return _round_robin(groups)[:limit]
