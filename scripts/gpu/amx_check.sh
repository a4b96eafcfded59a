#!/usr/bin/env bash
# On the lent GPU machine's host CPU (an AMX Xeon): llama.cpp's AMX crash and quantarena's answer to it.
# Builds a CPU-only llama-cpp-python there (GGML_NATIVE: the AMX kernels are compiled in when the CPU
# has AMX), then, with CUDA hidden:
#   1. a --batch session of synthetic SmolLM2-shape runs with extra_buffers auto / true / false:
#      auto and false answer, true dies by SIGSEGV and is reported with the signal, phase and log;
#   2. the native llama.cpp tests, once as this CPU is (auto -> off) and once with a faked non-AMX
#      /proc/cpuinfo (auto -> on: the crash), where the child-process isolation fails only the tests
#      that crash and the suite reports;
#   3. quantarena doctor.
# Carry: .gpu/llama_cpp_python-*-slim.tar.gz .gpu/wheels-amx (gguf, diskcache, pytest) .gpu/cache
set -u
export PYTHONUNBUFFERED=1 CUDA_VISIBLE_DEVICES= QUANTARENA_CACHE=/root/qa-cache
mkdir -p "$QUANTARENA_CACHE" && cp -rn .gpu/cache/. "$QUANTARENA_CACHE"/ 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels-amx/*.whl || exit 1
if [ ! -d /root/llama-cpu/llama_cpp ]; then
  t0=$(date +%s); rm -rf /root/lb && mkdir -p /root/lb && tar xzf .gpu/llama_cpp_python-*-slim.tar.gz -C /root/lb
  ( cd /root/lb/llama_cpp_python-* && CMAKE_ARGS="-DGGML_NATIVE=on -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) python3 -m pip install -q --no-deps --no-build-isolation --target /root/llama-cpu . ) \
    > /root/lb/build.log 2>&1 || { tail -30 /root/lb/build.log; exit 1; }
  echo "CPU llama-cpp-python build: $(( $(date +%s) - t0 )) s"
fi
# This image's llama.cpp build segfaults at load inside std::regex (libstdc++'s locale facets:
# scripts/gpu/llama_load_diag.sh has the backtrace) unless torch is imported first (docs: "import
# llama_cpp before import torch aborts"). Every process here, run processes included, imports
# torch first through a sitecustomize on the path: an image fault, not the AMX bug checked below.
mkdir -p /root/pre && echo "import torch  # noqa" > /root/pre/sitecustomize.py
export PYTHONPATH="/root/pre:$PWD:/root/llama-cpu:/tmp/site"
lscpu | grep -m1 "Model name"; echo "cpu features: $(grep -o 'amx_int8\|amx_tile\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
python3 -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode())'
cat > /root/amx.toml <<TOML
$(python3 - <<'PY'
t = open("models.toml").read(); s = t.index("[models.smollm2-135m]"); print(t[s:t.index("# ----", s)])
for q in ("q4_0", "q8_0"):
    for eb in ("auto", "true", "false"):
        v = '"auto"' if eb == "auto" else eb
        print(f'[[runs]]\nmodel = "smollm2-135m"\nbackend = "llama.cpp"\nquant = "{q}"\nweights = "synthetic"\ntag = "extra-{eb}"\ndevice = "cpu"\nsettings = {{ n_ctx = 512, extra_buffers = {v} }}\n')
PY
)
TOML
echo "== 1. --batch with extra_buffers auto/true/false"
python3 -m cli.main --batch --quiet --models /root/amx.toml --limit 2 --max-new-tokens 16 --out /root/amx-batch 2>&1 | tail -30
cp /root/amx-batch/summary.json "$OUT/amx-batch-summary.json"
echo "== 2a. native llama.cpp tests, this CPU as it is"
python3 -m pytest -q -p no:cacheprovider tests/engine/test_synthetic_gguf.py -k "llama_cpp" tests/engine/test_cpu.py 2>&1 | tail -6
echo "== 2b. the same with a faked non-AMX cpuinfo (extra buffers on: the crash)"
QUANTARENA_CPUINFO=tests/data/cpuinfo/epyc-avx512.txt python3 -m pytest -q -p no:cacheprovider tests/engine/test_synthetic_gguf.py -k "llama_cpp_loads" 2>&1 | grep -E "passed|failed|SIGSEGV|died" | head -12
echo "== 2c. native backtrace of a forced extra_buffers=true decode"
G=$(python3 -c 'from engine.catalog import load_catalog; from engine import synthetic_gguf as s; print(s.synthetic_gguf(load_catalog("models.toml").models["smollm2-135m"].arch, "q4_0"))' | tail -1)
cat > /root/dec.py <<'PY'
import sys, faulthandler; faulthandler.enable()
import torch  # noqa: F401  (the image's libstdc++ order, see above)
import llama_cpp as L
L.llama_backend_init()
mp = L.llama_model_default_params(); mp.n_gpu_layers = 0; mp.use_extra_bufts = sys.argv[2] == "1"
m = L.llama_model_load_from_file(sys.argv[1].encode(), mp); print("loaded", bool(m), flush=True)
cp = L.llama_context_default_params(); cp.n_ctx = 256; cp.n_threads = 4; cp.n_threads_batch = 4
ctx = L.llama_init_from_model(m, cp)
toks = (L.llama_token * 8)(*range(100, 108))
print("decode", L.llama_decode(ctx, L.llama_batch_get_one(toks, 8)), flush=True)
chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params()); L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
for i in range(8):
    t = L.llama_sampler_sample(chain, ctx, -1); assert L.llama_decode(ctx, L.llama_batch_get_one((L.llama_token * 1)(t), 1)) == 0
print("generated 8 tokens OK (use_extra_bufts=%s)" % sys.argv[2], flush=True)
PY
python3 /root/dec.py "$G" 0 2>&1 | grep -E "loaded|decode|generated|Fatal|File" | head -4
timeout 200 cuda-gdb -q -batch -ex run -ex bt --args python3 /root/dec.py "$G" 1 2>&1 | grep -E "^#[0-9]+ |generated|Fatal" | head -12
echo "== 3. doctor"
python3 -m cli.main doctor --backend llama.cpp --json --models /root/amx.toml 2>&1 | tail -30
