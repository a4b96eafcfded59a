"""What a session is asked to do: where it writes, how many tokens, the order and placement of runs, the modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.backends.base import GenerationRequest
from engine.catalog import RunSpec
from engine.problems import Problem


@dataclass
class SessionOptions:
    out_dir: Path
    dataset: str = "builtin"
    max_new_tokens: int = 256
    seed: int = 0
    temperature: float = 0.0
    stream_text: bool = True
    sample_interval_s: float = 0.1
    telemetry_interval_s: float = 0.5
    #: fixed-length decode for every run (min_new_tokens = max_new_tokens), as benchmarks do;
    #: synthetic runs always decode to the cap
    fixed_length: bool = False
    #: waves of run names; None = one wave with every run
    waves: list[list[str]] | None = None
    #: run name -> NVML GPU indices; None = derived from each run's device
    assignments: dict[str, list[int]] | None = None
    #: run name -> extra settings for its process (e.g. tensor_split from the plan)
    settings_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a warm-up answer per run before the timed ones (first problem; not recorded): kernels
    #: build, caches allocate, torch.compile specializes. GPU runs warm up with the real token
    #: cap (static caches are sized by it), CPU runs with 8 tokens. 0 disables.
    warmup: bool = True
    #: throughput mode: each run answers this many problems at once (one batched generation);
    #: 1 = one answer at a time (latency mode, the default)
    concurrency: int = 1
    #: NVML index -> GPU UUID (CUDA_VISIBLE_DEVICES for run processes, robust to the parent's own)
    gpu_uuids: dict[int, str] = field(default_factory=dict)
    #: score each problem's reference solution with every run and compare with the model's
    #: reference run (``engine.scoring``); False = --no-quality
    quality: bool = True
    #: reference tokens kept per position (``engine.quality``)
    quality_top_k: int = 1024
    #: where reference log-probs are cached (None = cache_dir()/quality)
    quality_cache: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: where run processes live: None = this machine (RunProcess); else an executor whose
    #: ``process(run, model, env=, stream_text=)`` gives a RunProcess-like object and whose
    #: ``describe()`` is the environment's ``executor`` entry (``engine.executors``)
    executor: Any = None

    def summary_settings(self, problems: list[Problem]) -> dict[str, Any]:
        """The ``settings`` block of ``summary.json``."""
        return {
            "dataset": self.dataset, "problems": len(problems), "problem_ids": [p.id for p in problems],
            "max_new_tokens": self.max_new_tokens, "seed": self.seed, "temperature": self.temperature,
            "fixed_length": self.fixed_length, "waves": self.waves, "concurrency": self.concurrency,
            "quality": self.quality, "quality_top_k": self.quality_top_k if self.quality else None,
            **self.extra,
        }

    def process_run(self, run: RunSpec) -> RunSpec:
        """The run as its process gets it: the plan's extra settings (tensor_split, ...) and, in
        throughput mode, ``max_batch`` (caches and KV slots for ``concurrency`` sequences)."""
        extra = dict(self.settings_overrides.get(run.name, {}))
        if self.concurrency > 1 and "max_batch" not in run.settings:
            extra["max_batch"] = self.concurrency
        return RunSpec(**{**run.to_dict(), "settings": {**run.settings, **extra}}) if extra else run

    def request(self, problem: Problem, run: RunSpec, *, cap: int | None = None) -> GenerationRequest:
        """The generation request for one problem (raises ValueError/KeyError on a bad prompt template)."""
        from engine.prompts import build_messages

        cap = self.max_new_tokens if cap is None else cap
        fixed = self.fixed_length or run.synthetic
        return GenerationRequest(messages=build_messages(problem, run.prompt), max_new_tokens=cap,
                                 min_new_tokens=cap if fixed else 0, seed=self.seed, temperature=self.temperature)
