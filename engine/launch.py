"""From what a user asked for (runs, dataset, limits) to a ready ``Session``.

Both front ends call ``prepare``: the batch CLI from its arguments, the TUI from its arguments or
its start screen. Bad input raises ``LaunchError`` with one line naming the thing and the exit code
the batch CLI returns for it (2: usage or configuration).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.catalog import Catalog, CatalogError, RunSpec, default_catalog_path, load_catalog
from engine.problems import Problem
from engine.session import Session, SessionOptions


class LaunchError(Exception):
    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class LaunchRequest:
    models: str | None = None
    runs: str | None = None
    dataset: str | None = None
    split: str | None = None
    level: str | None = None
    figures: str = "any"
    limit: int | None = None
    seed: int | None = None
    sample: bool = False
    max_new_tokens: int | None = None
    temperature: float = 0.0
    fixed_length: bool = False
    synthetic: bool = False
    gpus: str = "auto"
    out: str | None = None
    stream_text: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Any) -> LaunchRequest:
        names = [f for f in cls.__dataclass_fields__ if f not in ("extra", "stream_text")]
        return cls(**{n: getattr(args, n.replace("-", "_"), None) for n in names if getattr(args, n, None) is not None})


@dataclass
class Prepared:
    catalog: Catalog
    runs: list[RunSpec]
    problems: list[Problem]
    options: SessionOptions
    plan: Any = None

    def session(self, **kw: Any) -> Session:
        return Session(self.catalog, self.runs, self.problems, self.options, **kw)


def _csv(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def load_problems_for(req: LaunchRequest, defaults: dict[str, Any]) -> tuple[str, list[Problem]]:
    from engine.dataset import DatasetError, load_problems

    source = req.dataset or defaults.get("dataset") or "builtin"
    levels = None
    if req.level:
        try:
            levels = [int(x) for x in _csv(req.level) or []]
        except ValueError:
            raise LaunchError(f"--level: expected numbers like 2,3; got {req.level!r}") from None
    has_figure = {"only": True, "none": False}.get(req.figures or "any")
    limit = req.limit if req.limit is not None else defaults.get("limit")
    if limit is not None and limit <= 0:
        raise LaunchError(f"--limit must be positive, got {limit}")
    seed = req.seed if req.seed is not None else defaults.get("seed", 0)
    try:
        problems = load_problems(
            source, splits=_csv(req.split), levels=levels, has_figure=has_figure, limit=limit,
            seed=seed if req.sample else None,
        )
    except DatasetError as e:
        raise LaunchError(str(e)) from None
    if not problems:
        raise LaunchError(f"dataset {source}: no problem matches the filters (split={req.split}, level={req.level}, figures={req.figures})")
    return source, problems


def prepare(req: LaunchRequest) -> Prepared:
    try:
        catalog = load_catalog(req.models or default_catalog_path())
        runs = catalog.select(req.runs)
    except CatalogError as e:
        raise LaunchError(str(e)) from None
    if not runs:
        raise LaunchError(f"{catalog.path}: no runs selected (the catalog has no default runs; use --runs)")
    if req.synthetic:
        runs = [replace(r, weights="synthetic") for r in runs]
    source, problems = load_problems_for(req, catalog.defaults)
    defaults = catalog.defaults
    max_new = req.max_new_tokens if req.max_new_tokens is not None else defaults.get("max_new_tokens", 256)
    if max_new <= 0:
        raise LaunchError(f"--max-new-tokens must be positive, got {max_new}")
    out = Path(req.out) if req.out else Path("results") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise LaunchError(f"--out {out}: exists and is not a folder")
    if out.exists() and (out / "results.jsonl").exists():
        raise LaunchError(f"--out {out}: already holds results.jsonl; choose a new folder")
    options = SessionOptions(
        out_dir=out, dataset=str(source), max_new_tokens=max_new,
        seed=req.seed if req.seed is not None else defaults.get("seed", 0),
        temperature=req.temperature or 0.0, fixed_length=req.fixed_length, stream_text=req.stream_text,
        extra={"catalog": str(catalog.path), "runs_selector": req.runs, **req.extra},
    )
    plan = _place(catalog, runs, req, options)
    return Prepared(catalog=catalog, runs=runs, problems=problems, options=options, plan=plan)


def _place(catalog: Catalog, runs: list[RunSpec], req: LaunchRequest, options: SessionOptions) -> Any:
    """Waves and GPU assignments from the placement planner (GPUs present or described)."""
    try:
        from engine import placement
    except ImportError:
        return None
    fn = getattr(placement, "plan_for_session", None)
    return fn(catalog, runs, req.gpus, options) if fn else None
