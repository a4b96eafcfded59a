"""The streaming packer (``engine.streaming_load``): a real sharded MiniMax checkpoint, packed while it loads.

The checkpoints here are written by transformers' own ``save_pretrained(max_shard_size=...)`` from
a tiny MiniMax built with random weights, so they hold the tensor names a hub checkpoint has
(``model.layers.<n>.block_sparse_moe.experts.<e>.w1/w2/w3.weight``: transformers 5.x fuses them into
``mlp.experts.gate_up_proj`` / ``down_proj`` only in memory) over several shards. They load through
the quanto backend with ``quantize_experts = true`` and are checked against the load-then-pack
path (``pack_after_load = true``): the same greedy tokens, and a peak RSS under packed size + one
shard that the load-then-pack path exceeds (measured in child processes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("optimum.quanto")

from engine.backends.base import BackendError, GenerationRequest  # noqa: E402
from engine.backends.registry import load_backend_class  # noqa: E402
from engine.catalog import Architecture, ModelSpec, RunSpec, WeightSource  # noqa: E402
from engine.streaming_load import LoadProgress, StreamingLoader, checkpoint_shards, layer_devices  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: 2 layers (one lightning, one softmax), 12 experts, top-2: the correctness checkpoint. More than
#: ten experts, so the index's string order (experts.10, experts.11, experts.2, ...) is not their order
SMALL = Architecture("minimax", 0, 2, 64, 4, 2, 16, 128, 2048, 512, experts=12, experts_per_token=2,
                     softmax_attention_layers=1)
#: 8 layers of 16 experts (hidden 512, intermediate 512): ~200 MB of bf16 experts, ~100 MB at int8
BIG = Architecture("minimax", 0, 8, 512, 4, 2, 128, 512, 2048, 512, experts=16, experts_per_token=2,
                   softmax_attention_layers=2)
MESSAGES = [{"role": "user", "content": "Quanto é 12 + 30? Explique a conta em português."}]


def write_checkpoint(arch: Architecture, path: Path, max_shard_size: str) -> Path:
    from engine.synthetic_hf import build_random_model, synthetic_tokenizer

    build_random_model(arch, "cpu", "bfloat16", block_size=8).save_pretrained(path, max_shard_size=max_shard_size)
    synthetic_tokenizer(arch).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(SMALL, tmp_path_factory.mktemp("small") / "ckpt", "200KB")


def _model(arch: Architecture, path: Path) -> ModelSpec:
    return ModelSpec(name="tiny-minimax", display_name="tiny MiniMax", arch=arch, safetensors=WeightSource(path=str(path)))


def _run(quant: str = "int8", **settings: Any) -> RunSpec:
    return RunSpec(name=f"tiny-minimax/quanto/{quant}", model="tiny-minimax", backend="quanto", quant=quant,
                   device="cpu", weights="real",
                   settings={"torch_threads": 2, "warmup": False, "quantize_experts": True, **settings})


def _greedy(b: Any, n: int = 12) -> list[int]:
    return [t.id for _, t in b.generate([GenerationRequest(messages=MESSAGES, max_new_tokens=n)])]


def test_the_checkpoint_is_sharded_with_the_hub_names(small_ckpt: Path) -> None:
    shards, weight_map = checkpoint_shards(small_ckpt)
    assert len(shards) >= 3
    assert "model.layers.0.block_sparse_moe.experts.3.w1.weight" in weight_map
    assert not any("gate_up_proj" in k for k in weight_map)  # fused only in memory


@pytest.mark.native
@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_streaming_load_generates_the_tokens_of_load_then_pack(small_ckpt: Path, quant: str) -> None:
    tokens, details = {}, {}
    for after in (False, True):
        b = load_backend_class("quanto")(_run(quant, pack_after_load=after), _model(SMALL, small_ckpt))
        info = b.load()
        try:
            tokens[after] = _greedy(b)
            details[after] = info.details
        finally:
            b.close()
    assert tokens[False] == tokens[True] and len(tokens[False]) == 12
    q = details[False]["quantization"]
    assert q["experts"]["when"].startswith("while loading")
    assert q["experts"]["modules"] == 2 and q["experts"]["classes"] == {"MiniMaxExperts": 2}
    s = q["streaming_load"]
    assert s["shards"] == len(checkpoint_shards(small_ckpt)[0]) and s["experts_modules_packed"] == 2
    assert s["layers_quantized"] == 2 and s["gib_placed"]["cpu"] > 0
    assert details[False]["kernel_path"]["weight_classes"] == details[True]["kernel_path"]["weight_classes"]
    # the same bytes, within a few non-persistent buffers
    assert abs(details[False]["weight_bytes"] - details[True]["weight_bytes"]) < 1024


def test_the_fused_experts_are_stacked_in_the_order_from_pretrained_stacks_them(small_ckpt: Path) -> None:
    """Every tensor the streaming loader builds, the fused experts included, is bit for bit what
    ``from_pretrained`` builds from the same shards: the pieces of a fused tensor are stacked in
    the experts' own order (2 before 10), not in the order the index lists their names. (With the
    names' string order, the experts were permuted against the router: the greedy tokens of the
    two load paths differed on a 32-expert MiniMax slice on an H200.)"""
    from transformers import AutoModelForCausalLM

    _, weight_map = checkpoint_shards(small_ckpt)
    names = [k for k in weight_map if ".experts." in k and k.endswith(".w1.weight") and ".layers.0." in k]
    assert names != sorted(names, key=lambda k: int(k.split(".experts.")[1].split(".")[0]))  # the trap is there
    streamed = dict(_loader(small_ckpt).load().state_dict())
    reference = dict(AutoModelForCausalLM.from_pretrained(str(small_ckpt), dtype=torch.bfloat16).state_dict())
    assert streamed.keys() == reference.keys()
    fused = [n for n in reference if n.endswith(("gate_up_proj", "down_proj"))]
    assert len(fused) == 4
    differ = [n for n in reference if not torch.equal(streamed[n], reference[n])]
    assert differ == []


def _loader(path: Path, log: list[str] | None = None) -> StreamingLoader:
    return StreamingLoader(path, dtype=torch.bfloat16, log=(log.append if log is not None else None), name="t")


def test_progress_lines_name_shards_bytes_and_devices(small_ckpt: Path) -> None:
    lines: list[str] = []
    model = _loader(small_ckpt, lines).load()
    n = len(checkpoint_shards(small_ckpt)[0])
    assert lines[0].startswith(f"streaming {small_ckpt}: {n} shard(s)")
    assert f"shard {n}/{n}" in lines[-1] and "GiB read" in lines[-1] and "placed cpu" in lines[-1]
    assert not [k for k, t in model.state_dict().items() if t.is_meta]
    assert model.model.layers[0].mlp.experts.gate_up_proj.shape == (12, 256, 64)  # fused, dense (no packer given)


def test_the_backend_reports_each_shard_as_load_progress(small_ckpt: Path) -> None:
    """What the run process sends to the session while loading: one step per shard, bytes read
    growing, bytes placed per device, the fraction reaching 1."""
    b = load_backend_class("quanto")(_run("int8"), _model(SMALL, small_ckpt))
    steps: list[dict[str, Any]] = []
    b.on_load_progress = lambda **kw: steps.append(kw)
    b.load()
    b.close()
    n = len(checkpoint_shards(small_ckpt)[0])
    assert [s["step"] for s in steps] == [f"shard {k}/{n}" for k in range(1, n + 1)]
    assert {s["phase"] for s in steps} == {"reading shards"} and steps[-1]["fraction"] == 1.0
    assert all(a["bytes_read"] < b["bytes_read"] for a, b in zip(steps, steps[1:], strict=False))
    assert steps[-1]["bytes_placed"]["cpu"] > 0


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_missing_shard_is_named_before_anything_is_read(small_ckpt: Path, tmp_path: Path) -> None:
    ck = _copy(small_ckpt, tmp_path / "ck")
    shard = checkpoint_shards(ck)[0][2]
    (ck / shard).unlink()
    with pytest.raises(BackendError, match=f"shard {shard} of .* is missing"):
        _loader(ck).load()


def test_a_tensor_whose_shape_disagrees_with_the_config_names_shard_and_tensor(small_ckpt: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    ck = _copy(small_ckpt, tmp_path / "ck")
    shards, weight_map = checkpoint_shards(ck)
    key = "model.layers.1.block_sparse_moe.experts.2.w2.weight"
    shard = weight_map[key]
    tensors = load_file(str(ck / shard))
    tensors[key] = tensors[key][:, :-1].contiguous()
    save_file(tensors, str(ck / shard), metadata={"format": "pt"})
    loader = _loader(ck)
    with pytest.raises(BackendError, match=rf"shard {shard}: {key} has shape \[64, 127\], the other pieces of .*experts\.down_proj") as e:
        loader.load()
    assert "\n" not in str(e.value)
    assert loader._model is None  # nothing kept


def test_a_truncated_shard_is_a_read_error_naming_the_shard(small_ckpt: Path, tmp_path: Path) -> None:
    ck = _copy(small_ckpt, tmp_path / "ck")
    shard = checkpoint_shards(ck)[0][1]
    data = (ck / shard).read_bytes()
    (ck / shard).write_bytes(data[: len(data) // 2])
    with pytest.raises(BackendError, match=f"shard {shard}"):
        _loader(ck).load()


def test_an_out_of_memory_while_placing_is_oom_with_the_figures(small_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.backends.base import OutOfMemoryError

    loader = StreamingLoader(small_ckpt, dtype=torch.bfloat16, name="t", memory_now=lambda: "RSS 1 MiB, available 0 of 8 MiB",
                             on_experts=lambda m: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(OutOfMemoryError, match=r"out of memory while placing .*experts.* from model-.*: RSS 1 MiB"):
        loader.load()
    assert loader._model is None


def test_layers_split_over_devices_in_proportion() -> None:
    assert layer_devices(4, ["a"]) == ["a"] * 4
    assert layer_devices(8, ["a", "b"]) == ["a"] * 4 + ["b"] * 4
    assert layer_devices(80, [f"cuda:{i}" for i in range(8)]).count("cuda:7") == 10
    split = layer_devices(9, ["a", "b", "c"], [2.0, 1.0, 0.0])
    assert split == ["a"] * 6 + ["b"] * 3
    assert LoadProgress(shards_total=3).line().startswith("shard 0/3, 0.00 GiB read, placed nothing")


_CHILD = r"""
import json, resource, sys  # argv[1]: the checkout, the cwd (python -c imports its engine)
from pathlib import Path
from engine.backends.registry import load_backend_class
from engine.catalog import Architecture, ModelSpec, RunSpec, WeightSource
import optimum.quanto, safetensors, transformers, torch
from transformers import AutoTokenizer
from transformers.models.minimax import modeling_minimax
def spec(path, arch):
    return ModelSpec(name="m", display_name="m", arch=Architecture(**json.loads(arch)), safetensors=WeightSource(path=path))
run = RunSpec(name="m/quanto/int8", model="m", backend="quanto", quant="int8", device="cpu", weights="real",
              settings={"torch_threads": 1, "warmup": False, "quantize_experts": True,
                        "pack_after_load": sys.argv[4] == "after"})
from engine.backends.torch_common import release_freed_memory
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
release_freed_memory()
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the RSS now
    f.write("5")
b = load_backend_class("quanto")(run, spec(sys.argv[5], sys.argv[6]))  # warm: every import and first-use cost
b.load()
b.close()
del b
release_freed_memory()
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the RSS now
    f.write("5")
before = status("VmRSS")
info = load_backend_class("quanto")(run, spec(sys.argv[2], sys.argv[3])).load()
peak = status("VmHWM")
print(json.dumps({"before": before, "peak": peak, "weight_bytes": info.details["weight_bytes"]}))
"""


def _peak(ckpt: Path, mode: str, warm: Path) -> dict[str, int]:
    import dataclasses

    arch, small = json.dumps(dataclasses.asdict(BIG)), json.dumps(dataclasses.asdict(SMALL))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(ckpt), arch, mode, str(warm), small],
                         capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.native
def test_peak_rss_stays_under_packed_size_plus_one_shard(tmp_path: Path, small_ckpt: Path) -> None:
    ck = write_checkpoint(BIG, tmp_path / "big", "100MB")
    shards, _ = checkpoint_shards(ck)
    largest_shard = max((ck / s).stat().st_size for s in shards)
    dense = sum((ck / s).stat().st_size for s in shards)
    stream, after = _peak(ck, "stream", small_ckpt), _peak(ck, "after", small_ckpt)
    bound = stream["weight_bytes"] + largest_shard
    grew = {k: v["peak"] - v["before"] for k, v in (("stream", stream), ("after", after))}
    msg = f"bound {bound / 2**20:.0f} MiB (packed {stream['weight_bytes'] / 2**20:.0f} + shard {largest_shard / 2**20:.0f}), " \
          f"checkpoint {dense / 2**20:.0f} MiB, peak growth {({k: round(v / 2**20) for k, v in grew.items()})} MiB"
    assert grew["stream"] < bound, msg
    assert grew["after"] > bound, msg  # the test tells the two paths apart


def test_sizing_states_the_peak_while_loading_beside_the_peak_while_running() -> None:
    from engine.sizing import estimate

    big = Architecture("minimax", 0, 80, 6144, 64, 8, 128, 9216, 200064, 1_000_000, experts=32, experts_per_token=2,
                       softmax_attention_layers=10)
    packed = estimate(big, "quanto", "int8", ctx=4096, quantize_experts=True)
    fused = 32 * 2 * 9216 * 6144 * 2  # one layer's gate_up_proj in bf16
    # while it packs, the GPU holds the dense tensor and its int8 form (half its bytes): measured on
    # an H200 (benchmarks/minimax/streaming-load-h200.md)
    assert packed.load_peak_gib == pytest.approx(packed.weights_gib + 1.5 * fused / 2**30 + packed.overhead_gib)
    assert packed.load_host_gib == pytest.approx(2 * fused / 2**30)
    assert packed.load_how.startswith("streaming packer")
    assert packed.load_peak_gib < packed.total_gib  # this box fits the load if it fits the run
    stock = estimate(big, "quanto", "int8", ctx=4096)
    assert stock.load_how.startswith("from_pretrained") and stock.load_host_gib == 0
    d = packed.to_dict()
    assert d["load_peak_gib"] == round(packed.load_peak_gib, 3) and d["load_host_gib"] > 0


def test_size_and_plan_print_the_load_peak(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["size", "minimax-text-01", "--quant", "int8", "--backend", "quanto", "--quantize-experts",
                 "--ctx", "4096"]) == 0
    out = capsys.readouterr().out
    assert "peak while loading" in out and "peak while running" in out
    assert main(["plan", "--gpus", "8xH100-80GB", "--json", "--runs", "minimax-text-01/quanto/int8"]) == 0
    peaks = json.loads(capsys.readouterr().out)["peaks"]
    p = peaks["minimax-text-01/quanto/int8"]
    assert 0 < p["load_gib"] < p["run_gib"] and p["load_host_gib"] > 0


def test_a_layer_split_dispatches_to_the_same_logits(small_ckpt: Path) -> None:
    from accelerate import dispatch_model

    from engine.streaming_load import dispatch_map

    model = _loader(small_ckpt).load()
    dmap = dispatch_map(model, ["cpu", "cpu"], "cpu")
    assert dmap == {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "cpu", "model.norm": "cpu",
                    "model.rotary_emb": "cpu", "lm_head": "cpu"}
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        out = dispatch_model(model, device_map=dmap)(input_ids=ids).logits
    assert torch.equal(ref, out)


def test_a_dense_tensor_whose_shape_disagrees_names_shard_and_tensor(small_ckpt: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    ck = _copy(small_ckpt, tmp_path / "ck")
    key = "model.layers.1.self_attn.q_proj.weight"
    shard = checkpoint_shards(ck)[1][key]
    tensors = load_file(str(ck / shard))
    tensors[key] = tensors[key][:-1].contiguous()
    save_file(tensors, str(ck / shard), metadata={"format": "pt"})
    with pytest.raises(BackendError, match=rf"shard {shard}: {key} has shape \[63, 64\], the config wants \[64, 64\]"):
        _loader(ck).load()


def test_a_bad_checkpoint_fails_the_backend_load_in_one_line(small_ckpt: Path, tmp_path: Path) -> None:
    ck = _copy(small_ckpt, tmp_path / "ck")
    shard = checkpoint_shards(ck)[0][-1]
    (ck / shard).unlink()
    b = load_backend_class("quanto")(_run("int8"), _model(SMALL, ck))
    with pytest.raises(BackendError, match=f"tiny-minimax/quanto/int8: shard {shard} of .* is missing") as e:
        b.load()
    assert "\n" not in str(e.value) and b.hf_model is None
