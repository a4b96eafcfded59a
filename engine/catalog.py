"""The catalog: models and runs read from ``models.toml``, validated strictly.

A *model* is a set of weights plus the architecture facts that sizing needs. A *run* is one
(model, backend, quantization) with its settings; its stable name is
``<model>/<backend>/<quant>`` (``smollm2-135m/llama.cpp/q4_1``), or that name plus ``@tag`` when
the catalog holds two variants of the same triple.

Loading is strict: an unknown key, a wrong type, a duplicate run name or a missing required field
raises :class:`CatalogError` whose message names the file, the table and the key. Nothing here
imports a backend library.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# backend ids and quantizations belong to the registry's light table (it imports nothing of the catalog)
from engine.backends.registry import BACKEND_IDS, BACKEND_QUANTS, FAKE_BACKEND_ID, validate_settings

ARCH_FAMILIES = ("llama", "mistral", "qwen2", "minimax")


class CatalogError(ValueError):
    """A models.toml problem; the message names file, table and key."""


@dataclass(frozen=True)
class Architecture:
    """Public architecture facts of a model (what sizing and synthetic weights need)."""

    family: str  # llama | mistral | qwen2 | minimax
    params: int  # total parameters
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_size: int  # dense FFN intermediate size (per expert for MoE)
    vocab_size: int
    context_length: int
    tie_embeddings: bool = False
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    attention_bias: bool = False  # qkv bias (Qwen2)
    experts: int = 0  # MoE: experts per layer (0 = dense)
    experts_per_token: int = 0  # MoE: active experts per token
    active_params: int = 0  # MoE: parameters active per token (0 = same as params)
    #: MiniMax: layers using softmax attention (the rest use lightning/linear attention,
    #: which keeps a fixed-size state instead of a growing KV cache). 0 = all layers softmax.
    softmax_attention_layers: int = 0

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def kv_layers(self) -> int:
        """Layers that keep a KV cache growing with the context."""
        return self.softmax_attention_layers or self.layers


@dataclass(frozen=True)
class WeightSource:
    """Where one set of weights comes from: exactly one of path, repo(+file), package(+file)."""

    path: str | None = None
    repo: str | None = None
    file: str | None = None
    package: str | None = None
    derive: str | None = None  # "gguf": dequantize the model's GGUF once into a safetensors cache

    def describe(self) -> str:
        if self.path:
            return self.path
        if self.package:
            return f"package {self.package}:{self.file}"
        if self.repo:
            return f"hf://{self.repo}" + (f"/{self.file}" if self.file else "")
        if self.derive:
            return f"derived from the model's {self.derive}"
        return "?"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    display_name: str
    arch: Architecture
    #: gguf sources keyed by GGUF quantization name (q4_k_m, q8_0, ...)
    gguf: dict[str, WeightSource] = field(default_factory=dict)
    #: the dense checkpoint the PyTorch backends quantize (safetensors: local dir, hub repo, or derived)
    safetensors: WeightSource | None = None
    #: chat template source: "gguf" (embedded in the GGUF), "tokenizer" (HF tokenizer config),
    #: or a path to a Jinja template file
    chat_template: str = "gguf"
    license: str = ""
    #: the run whose log-probs the quality figures compare with (default: the highest-precision run)
    reference: str | None = None


@dataclass(frozen=True)
class RunSpec:
    name: str
    model: str
    backend: str
    quant: str
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    weights: str = "real"  # real | synthetic
    default: bool = True  # part of the default selection
    prompt: str | None = None  # prompt template override ({problem}, {choices} placeholders)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return self.weights == "synthetic"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model": self.model, "backend": self.backend, "quant": self.quant,
            "device": self.device, "weights": self.weights, "default": self.default,
            "prompt": self.prompt, "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(**d)


@dataclass(frozen=True)
class Catalog:
    path: Path
    models: dict[str, ModelSpec]
    runs: dict[str, RunSpec]
    defaults: dict[str, Any]

    def select(self, patterns: str | list[str] | None) -> list[RunSpec]:
        """Runs matching comma-separated globs (``*/llama.cpp/*``); the default set when None.

        A pattern matching nothing raises CatalogError listing the run names.
        """
        if not patterns:
            return [r for r in self.runs.values() if r.default]
        if isinstance(patterns, str):
            patterns = [p for p in patterns.split(",")]
        chosen: list[RunSpec] = []
        for pat in (p.strip() for p in patterns):
            if not pat:
                continue
            hits = [r for n, r in self.runs.items() if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                names = ", ".join(self.runs)
                raise CatalogError(f"{self.path}: run glob {pat!r} matches no run (runs: {names})")
            for r in hits:
                if r not in chosen:
                    chosen.append(r)
        return chosen


# ---------------------------------------------------------------------------------------------
# strict loading

_ARCH_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # key: (type, required)
    "family": (str, True), "params": (int, True), "layers": (int, True),
    "hidden_size": (int, True), "heads": (int, True), "kv_heads": (int, True),
    "head_dim": (int, True), "ffn_size": (int, True), "vocab_size": (int, True),
    "context_length": (int, True), "tie_embeddings": (bool, False),
    "rope_theta": ((int, float), False), "rms_norm_eps": ((int, float), False),
    "attention_bias": (bool, False), "experts": (int, False), "experts_per_token": (int, False),
    "active_params": (int, False), "softmax_attention_layers": (int, False),
}
_MODEL_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "display_name": (str, False), "chat_template": (str, False), "license": (str, False),
    "arch": (dict, True), "gguf": (dict, False), "safetensors": (dict, False), "reference": (str, False),
}
_SOURCE_FIELDS = {"path": str, "repo": str, "file": str, "package": str, "derive": str}
_RUN_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "model": (str, True), "backend": (str, True), "quant": (str, True), "tag": (str, False),
    "device": (str, False), "weights": (str, False), "default": (bool, False),
    "prompt": (str, False), "settings": (dict, False),
}
_DEFAULT_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "max_new_tokens": (int, False), "limit": (int, False), "seed": (int, False),
    "n_ctx": (int, False), "dataset": (str, False),
}


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return {"dict": "table", "str": "string", "int": "integer", "bool": "boolean"}.get(t.__name__, t.__name__)


def _check_table(path: Path, where: str, table: Any, spec: dict[str, tuple[Any, bool]]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise CatalogError(f"{path}: [{where}] must be a table, got {type(table).__name__}")
    for key in table:
        if key not in spec:
            raise CatalogError(f"{path}: [{where}] unknown key {key!r} (allowed: {', '.join(spec)})")
    for key, (typ, required) in spec.items():
        if key not in table:
            if required:
                raise CatalogError(f"{path}: [{where}] missing required key {key!r}")
            continue
        val = table[key]
        # bool is a subclass of int: refuse true/false where a number is expected
        bad_bool = isinstance(val, bool) and typ is not bool and (typ is int or (isinstance(typ, tuple) and bool not in typ))
        if bad_bool or not isinstance(val, typ):
            raise CatalogError(
                f"{path}: [{where}] key {key!r} must be {_type_name(typ)}, got {type(val).__name__} {val!r}"
            )
    return table


def _source(path: Path, where: str, table: Any) -> WeightSource:
    if not isinstance(table, dict):
        raise CatalogError(f"{path}: [{where}] must be a table, got {type(table).__name__}")
    for key, val in table.items():
        if key not in _SOURCE_FIELDS:
            raise CatalogError(f"{path}: [{where}] unknown key {key!r} (allowed: {', '.join(_SOURCE_FIELDS)})")
        if not isinstance(val, str):
            raise CatalogError(f"{path}: [{where}] key {key!r} must be string, got {type(val).__name__}")
    kinds = [k for k in ("path", "repo", "package", "derive") if k in table]
    if len(kinds) != 1:
        raise CatalogError(f"{path}: [{where}] needs exactly one of path, repo, package, derive (got {kinds or 'none'})")
    if "package" in table and "file" not in table:
        raise CatalogError(f"{path}: [{where}] missing required key 'file' (package sources name a file)")
    return WeightSource(**table)


def _model(path: Path, name: str, table: Any) -> ModelSpec:
    where = f"models.{name}"
    _check_table(path, where, table, _MODEL_FIELDS)
    arch_t = _check_table(path, f"{where}.arch", table["arch"], _ARCH_FIELDS)
    if arch_t["family"] not in ARCH_FAMILIES:
        raise CatalogError(
            f"{path}: [{where}.arch] key 'family' is {arch_t['family']!r}; known: {', '.join(ARCH_FAMILIES)}"
        )
    arch = Architecture(**arch_t)
    gguf: dict[str, WeightSource] = {}
    for quant, src in table.get("gguf", {}).items():
        if quant not in BACKEND_QUANTS["llama.cpp"]:
            raise CatalogError(
                f"{path}: [{where}.gguf] unknown GGUF quantization {quant!r} "
                f"(known: {', '.join(BACKEND_QUANTS['llama.cpp'])})"
            )
        gguf[quant] = _source(path, f"{where}.gguf.{quant}", src)
    st = _source(path, f"{where}.safetensors", table["safetensors"]) if "safetensors" in table else None
    return ModelSpec(
        name=name, display_name=table.get("display_name", name), arch=arch, gguf=gguf,
        safetensors=st, chat_template=table.get("chat_template", "gguf"), license=table.get("license", ""),
        reference=table.get("reference"),
    )


def _run(path: Path, i: int, table: Any, models: dict[str, ModelSpec], backend_ids: tuple[str, ...]) -> RunSpec:
    where = f"runs[{i}]"
    _check_table(path, where, table, _RUN_FIELDS)
    model, backend, quant = table["model"], table["backend"], table["quant"]
    where = f"runs[{i}] {model}/{backend}/{quant}"
    if model not in models:
        raise CatalogError(f"{path}: [{where}] key 'model': unknown model {model!r} (models: {', '.join(models)})")
    if backend not in backend_ids:
        raise CatalogError(
            f"{path}: [{where}] key 'backend': unknown backend {backend!r} (backends: {', '.join(BACKEND_IDS)})"
        )
    if not BACKEND_QUANTS[backend]:  # a free label (served runs): one word, usable in a run name
        if not quant or not all(c.isalnum() or c in "-_." for c in quant):
            raise CatalogError(
                f"{path}: [{where}] key 'quant': {quant!r} must be a non-empty label of letters, digits, '-', '_' or '.'"
            )
    elif quant not in BACKEND_QUANTS[backend]:
        raise CatalogError(
            f"{path}: [{where}] key 'quant': {quant!r} is not a {backend} quantization "
            f"(choose from {', '.join(BACKEND_QUANTS[backend])})"
        )
    weights = table.get("weights", "real")
    if weights not in ("real", "synthetic"):
        raise CatalogError(f"{path}: [{where}] key 'weights' must be 'real' or 'synthetic', got {weights!r}")
    device = table.get("device", "auto")
    if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise CatalogError(f"{path}: [{where}] key 'device' must be auto, cpu, cuda or cuda:N, got {device!r}")
    settings = dict(table.get("settings", {}))
    try:
        validate_settings(backend, settings)
    except ValueError as e:
        raise CatalogError(f"{path}: [{where}.settings] {e}") from None
    name = f"{model}/{backend}/{quant}" + (f"@{table['tag']}" if "tag" in table else "")
    return RunSpec(
        name=name, model=model, backend=backend, quant=quant, device=device, weights=weights,
        default=table.get("default", True), prompt=table.get("prompt"), settings=settings,
    )


def parse_catalog(data: dict[str, Any], path: Path, *, allow_fake: bool = True) -> Catalog:
    for key in data:
        if key not in ("defaults", "models", "runs"):
            raise CatalogError(f"{path}: unknown top-level key {key!r} (allowed: defaults, models, runs)")
    defaults = _check_table(path, "defaults", data.get("defaults", {}), _DEFAULT_FIELDS)
    models_t = data.get("models")
    if not isinstance(models_t, dict) or not models_t:
        raise CatalogError(f"{path}: missing required table [models] (at least one model)")
    models = {name: _model(path, name, t) for name, t in models_t.items()}
    runs_t = data.get("runs", [])
    if not isinstance(runs_t, list):
        raise CatalogError(f"{path}: 'runs' must be an array of tables ([[runs]]), got {type(runs_t).__name__}")
    backend_ids = BACKEND_IDS + ((FAKE_BACKEND_ID,) if allow_fake else ())
    runs: dict[str, RunSpec] = {}
    for i, t in enumerate(runs_t):
        run = _run(path, i, t, models, backend_ids)
        if run.name in runs:
            raise CatalogError(
                f"{path}: [runs[{i}]] duplicate run name {run.name!r}; give one of them a distinct 'tag'"
            )
        runs[run.name] = run
    for name, m in models.items():
        if m.reference is not None and (m.reference not in runs or runs[m.reference].model != name):
            mine = [r for r, spec in runs.items() if spec.model == name]
            raise CatalogError(
                f"{path}: [models.{name}] key 'reference': {m.reference!r} is not a run of this model "
                f"(runs: {', '.join(mine) or 'none'})"
            )
    return Catalog(path=path, models=models, runs=runs, defaults=dict(defaults))


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a models.toml; every problem is a CatalogError naming the file."""
    p = Path(path)
    if not p.exists():
        raise CatalogError(f"{p}: models file not found")
    if p.is_dir():
        raise CatalogError(f"{p}: is a directory, expected a models.toml file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{p}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise CatalogError(f"{p}: not UTF-8 text: {e}") from None
    return parse_catalog(data, p)


def default_catalog_path() -> Path:
    """``./models.toml`` when present, else the catalog shipped with the package."""
    here = Path.cwd() / "models.toml"
    if here.exists():
        return here
    return Path(__file__).resolve().parent.parent / "models.toml"
