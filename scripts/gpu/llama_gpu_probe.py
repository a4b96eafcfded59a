"""Find where llama-cpp-python's CUDA build crashes at model load, one variant per process.

Background (see README, "llama.cpp on the GPU"): on the lent H100, ``llama_cpp.Llama(...)`` of a
CUDA build of llama-cpp-python 0.3.36 segfaulted while loading any GGUF, while
``llama_model_load_from_file`` with default parameters worked. Each variant below changes one thing
between those two paths and runs in its own ``python3 -X faulthandler`` process, so a segfault only
ends that variant; the exit code and the tail of its output say what happened.

    python3 scripts/gpu/llama_gpu_probe.py [--gguf FILE] [--json OUT]

Without --gguf it writes a tiny synthetic GGUF (2 layers) with engine.synthetic_gguf.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOW_LEVEL = r"""
import ctypes, sys, llama_cpp as L
L.llama_backend_init()
mp = L.llama_model_default_params()
{tweak}
m = L.llama_model_load_from_file({path!r}.encode(), mp)
assert m, "load returned NULL"
v = L.llama_model_get_vocab(m)
print("n_vocab", L.llama_vocab_n_tokens(v), "load_mode", mp.load_mode, "split_mode", mp.split_mode, "main_gpu", mp.main_gpu, "n_gpu_layers", mp.n_gpu_layers)
"""

HIGH_LEVEL = r"""
import llama_cpp as L
llm = L.Llama(model_path={path!r}, n_ctx=256, n_gpu_layers={ngl}, verbose={verbose}{extra})
out = llm.create_completion("Hello", max_tokens=4)
print("generated", repr(out["choices"][0]["text"]))
"""

BACKEND = r"""
from engine.catalog import Architecture, ModelSpec, RunSpec
from engine.backends.llamacpp import LlamaCppBackend
from engine.backends.base import GenerationRequest
arch = Architecture(family="llama", params=0, layers=2, hidden_size=256, heads=4, kv_heads=2, head_dim=64, ffn_size=512, vocab_size=512, context_length=2048)
run = RunSpec(name="probe/llama.cpp/q8_0", model="probe", backend="llama.cpp", quant="q8_0", device="{device}", settings={{"gguf_path": {path!r}, "n_ctx": 512}})
b = LlamaCppBackend(run, ModelSpec(name="probe", display_name="probe", arch=arch))
info = b.load()
s = b.generate([GenerationRequest(messages=[{{"role": "user", "content": "Quanto é 2+2?"}}], max_new_tokens=8, min_new_tokens=8)])
toks = list(s)
print("device", info.device, "offload", info.details["gpu_offload_supported"], "layers", info.details["n_gpu_layers"], "tokens", len(toks))
"""

VARIANTS = {
    "low-level defaults": ("low", ""),
    "low-level n_gpu_layers=all": ("low", "mp.n_gpu_layers = 0x7FFFFFFF"),
    "low-level load_mode=MMAP (Llama's default)": ("low", "mp.load_mode = L.LLAMA_LOAD_MODE_MMAP"),
    "low-level split_mode=LAYER, main_gpu=0": ("low", "mp.split_mode = L.LLAMA_SPLIT_MODE_LAYER; mp.main_gpu = 0"),
    "low-level all of Llama's model params": ("low", "mp.n_gpu_layers = 0; mp.split_mode = L.LLAMA_SPLIT_MODE_LAYER; mp.main_gpu = 0; mp.load_mode = L.LLAMA_LOAD_MODE_MMAP; mp.vocab_only = False"),
    "Llama(verbose=True, n_gpu_layers=0)": ("high", dict(ngl=0, verbose=True, extra="")),
    "Llama(verbose=False, n_gpu_layers=0)": ("high", dict(ngl=0, verbose=False, extra="")),
    "Llama(verbose=True, n_gpu_layers=-1)": ("high", dict(ngl=-1, verbose=True, extra="")),
    "Llama(verbose=True, use_mmap=False)": ("high", dict(ngl=-1, verbose=True, extra=", use_mmap=False")),
    "quantarena backend, cuda": ("backend", dict(device="cuda")),
    "quantarena backend, cpu": ("backend", dict(device="cpu")),
}


def tiny_gguf(dest: Path) -> Path:
    from engine.catalog import Architecture
    from engine.synthetic_gguf import synthetic_gguf

    arch = Architecture(family="llama", params=0, layers=2, hidden_size=256, heads=4, kv_heads=2, head_dim=64,
                        ffn_size=512, vocab_size=512, context_length=2048)
    return synthetic_gguf(arch, "q8_0", path=dest / "tiny-q8_0.gguf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gguf")
    ap.add_argument("--json")
    ap.add_argument("--only", help="comma-separated substrings of variant names")
    args = ap.parse_args()
    path = Path(args.gguf) if args.gguf else tiny_gguf(Path(tempfile.mkdtemp()))
    results = []
    for name, (kind, arg) in VARIANTS.items():
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        if kind == "low":
            code = LOW_LEVEL.format(tweak=arg, path=str(path))
        elif kind == "high":
            code = HIGH_LEVEL.format(path=str(path), **arg)
        else:
            code = BACKEND.format(path=str(path), **arg)
        t0 = time.time()
        r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
        tail = (r.stdout + r.stderr).strip().splitlines()[-12:]
        entry = {"variant": name, "exit_code": r.returncode, "seconds": round(time.time() - t0, 2), "tail": tail}
        if r.returncode < 0 and shutil.which("cuda-gdb") and not any(e.get("backtrace") for e in results):
            g = subprocess.run(["cuda-gdb", "-batch", "-ex", "run", "-ex", "bt 30", "--args", sys.executable, "-c", code],
                               capture_output=True, text=True, cwd=ROOT, timeout=400)
            entry["backtrace"] = [ln for ln in (g.stdout + g.stderr).splitlines() if ln.startswith("#") or "signal" in ln.lower()][:40]
            print("    backtrace:\n      " + "\n      ".join(entry["backtrace"][:25]))
        results.append(entry)
        print(f"[{'ok' if r.returncode == 0 else 'EXIT ' + str(r.returncode)}] {name}")
        for ln in tail[-6:]:
            print("    " + ln)
    if args.json:
        Path(args.json).write_text(json.dumps({"gguf": str(path), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
