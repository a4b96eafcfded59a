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
from engine.exits import ExitCode
from engine.problems import Problem
from engine.session import Session, SessionOptions


class LaunchError(Exception):
    def __init__(self, message: str, code: int = ExitCode.USAGE):
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
    exclusive: bool = False  # one run per GPU at a time (no sharing): cleanest timings
    concurrency: int = 1  # throughput mode: problems answered at once per run (batched decode)
    out: str | None = None
    quality: bool = True  # score the reference solutions against each model's reference (--no-quality: off)
    stream_text: bool = True
    executor: str = "local"  # where runs live: local (this machine) or ray (a Ray cluster)
    ray_address: str | None = None  # --executor ray: the cluster (else RAY_ADDRESS, else a local Ray)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Any) -> LaunchRequest:
        names = [f for f in cls.__dataclass_fields__ if f not in ("extra", "stream_text")]
        given: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
        if getattr(args, "no_quality", False):
            given["quality"] = False
        return cls(**given)


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
    if req.concurrency < 1 or req.concurrency > 256:
        raise LaunchError(f"--concurrency must be between 1 and 256, got {req.concurrency}")
    out = Path(req.out) if req.out else Path("results") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise LaunchError(f"--out {out}: exists and is not a folder")
    if out.exists() and (out / "results.jsonl").exists():
        raise LaunchError(f"--out {out}: already holds results.jsonl; choose a new folder")
    options = SessionOptions(
        out_dir=out, dataset=str(source), max_new_tokens=max_new,
        seed=req.seed if req.seed is not None else defaults.get("seed", 0),
        temperature=req.temperature or 0.0, fixed_length=req.fixed_length, stream_text=req.stream_text,
        concurrency=req.concurrency, quality=req.quality,
        extra={"catalog": str(catalog.path), "runs_selector": req.runs, **req.extra},
    )
    if req.executor == "ray":
        options.executor = _ray_executor(req)
    elif req.executor != "local":
        raise LaunchError(f"--executor {req.executor}: expected local or ray")
    try:
        plan = _place(catalog, runs, req, options)
    except LaunchError:
        if options.executor is not None:
            options.executor.close()
        raise
    return Prepared(catalog=catalog, runs=runs, problems=problems, options=options, plan=plan)


def _ray_executor(req: LaunchRequest) -> Any:
    """The ray executor (engine.executors.ray_executor); an unreachable cluster is exit 2."""
    from engine.executors.ray_cluster import ClusterError

    try:
        from engine.executors.ray_executor import connect_executor

        return connect_executor(req.ray_address)
    except ImportError as e:
        raise LaunchError(f"--executor ray needs Ray: pip install 'quantarena[ray]' ({e})") from None
    except ClusterError as e:
        raise LaunchError(str(e)) from None


def _machine_gpus() -> list[Any]:
    """GpuInfo for every GPU this process may use, by CUDA ordinal (:func:`engine.gpu.visible_gpus`,
    the reader ``quantarena plan`` uses too)."""
    from engine.gpu import visible_gpus

    return visible_gpus()[0]


def _place(catalog: Catalog, runs: list[RunSpec], req: LaunchRequest, options: SessionOptions) -> Any:
    """Waves, GPU assignments and split settings from the placement planner.

    ``--gpus auto`` uses the GPUs present (NVML), ``none`` the CPU only; a described box such as
    ``2x80GiB`` plans for that box but must not ask for more GPUs than exist here.
    Runs that cannot fit are reported before anything loads and left out of the session.
    """
    from engine import placement
    from engine.backends.registry import multi_gpu_split
    from engine.sizing import SizingError
    from engine.sizing.runs import estimates_for

    spec = (req.gpus or "auto").strip()
    cluster = options.executor
    if cluster is not None and spec not in ("auto", "none"):
        raise LaunchError(f"--gpus {spec}: with --executor ray the cluster's GPUs are planned (use auto or none)")
    present = _machine_gpus() if cluster is None else []
    if cluster is not None:  # a Ray cluster: every node's GPUs, under global ids
        gpus = [] if spec == "none" else list(cluster.plan([]).plan.gpus)
    elif spec == "auto":
        gpus = present
    elif spec == "none":
        gpus = []
    else:
        try:
            described = placement.parse_gpus(spec)
        except (SizingError, ValueError) as e:
            raise LaunchError(f"--gpus {spec}: {e}") from None
        if len(described) > len(present):
            raise LaunchError(
                f"--gpus {spec}: asks for {len(described)} GPUs but this machine has {len(present)} "
                f"(use `quantarena plan --gpus {spec}` to plan a box without running)"
            )
        gpus = [replace(present[i], total_gib=g.total_gib) for i, g in enumerate(described)]
    # sized as `quantarena plan` sizes them; a run sizing cannot size (unknown scheme) gets the CPU's
    # wave instead of failing the session. Throughput mode holds --concurrency sequences' KV caches.
    pairs = estimates_for(catalog, runs, batch=max(1, getattr(req, "concurrency", 1)), strict=False)
    if not gpus:
        # CPU only: one wave, the runs take turns answering problem by problem (see Session)
        options.waves = [[r.name for r in runs]]
        options.assignments = {r.name: [] for r in runs}
        return None
    if cluster is not None:
        plan = cluster.plan(pairs).plan  # whole GPUs per run, one node each (engine.executors.cluster)
    else:
        plan = placement.plan(pairs, gpus, allow_sharing=not req.exclusive)
    if plan.unplaceable:
        bad = {u.run for u in plan.unplaceable}
        options.extra["unplaceable"] = [u.to_dict() for u in plan.unplaceable]
        runs[:] = [r for r in runs if r.name not in bad]
        if not runs:
            raise LaunchError("no run fits this machine: " + "; ".join(f"{u.run}: {u.reason}" for u in plan.unplaceable))
    options.waves = [[p.run for p in wave] for wave in plan.waves if any(p.run in {r.name for r in runs} for p in wave)]
    # the plan counts GPUs by position (CUDA ordinal); the session names them by NVML index, which
    # the run process's CUDA_VISIBLE_DEVICES gets as a UUID (robust to this process's own view)
    if cluster is not None:  # global GPU ids across the cluster's nodes; each actor maps them on its node
        options.assignments = {p.run: list(p.gpus) for p in plan.placements}
        options.gpu_uuids = {}
    else:
        nvml = [g.index if g.nvml_index is None else g.nvml_index for g in gpus]
        options.assignments = {p.run: [nvml[i] for i in p.gpus] for p in plan.placements}
        options.gpu_uuids = {n: g.uuid for n, g in zip(nvml, gpus, strict=True) if g.uuid}
    by_name = {r.name: r for r in runs}
    for p in plan.placements:
        found = by_name.get(p.run)
        if found is None or len(p.gpus) < 2:
            continue
        run = found
        split = multi_gpu_split(run.backend)
        if split == "tensor_split" and "tensor_split" not in run.settings and p.tensor_split:
            options.settings_overrides[run.name] = {"tensor_split": list(p.tensor_split)}
        elif split == "max_memory" and "max_memory" not in run.settings and p.max_memory:
            # the run's process sees its GPUs as cuda:0..n-1
            options.settings_overrides[run.name] = {"max_memory": {str(i): v for i, v in enumerate(p.max_memory.values())}}
    options.extra["plan"] = plan.to_dict()
    return plan
