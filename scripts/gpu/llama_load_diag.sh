#!/usr/bin/env bash
# Why llama.cpp's CPU-only build segfaults at load on the GPU host's Xeon (AMX): a native backtrace
# (cuda-gdb debugs CPU programs too) and the same load on builds without the native/AMX kernels.
# Carry: .gpu/llama_cpp_python-*-slim.tar.gz .gpu/wheels-amx .gpu/cache
set -u
export PYTHONUNBUFFERED=1 CUDA_VISIBLE_DEVICES= QUANTARENA_CACHE=/root/qa-cache
mkdir -p "$QUANTARENA_CACHE" && cp -rn .gpu/cache/. "$QUANTARENA_CACHE"/ 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels-amx/*.whl || exit 1
build() {  # build DIR CMAKE_ARGS
  [ -d "$1/llama_cpp" ] && return 0
  t0=$(date +%s); rm -rf /root/lb && mkdir -p /root/lb && tar xzf .gpu/llama_cpp_python-*-slim.tar.gz -C /root/lb
  ( cd /root/lb/llama_cpp_python-* && CMAKE_ARGS="$2 -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) python3 -m pip install -q --no-deps --no-build-isolation --target "$1" . ) > /root/lb/build.log 2>&1 \
    || { tail -20 /root/lb/build.log; return 1; }
  echo "built $1 ($2): $(( $(date +%s) - t0 )) s"
}
export PYTHONPATH="$PWD:/tmp/site"
python3 -c 'from engine.catalog import load_catalog; from engine import synthetic_gguf as s; m=load_catalog("models.toml").models["smollm2-135m"]; print(s.synthetic_gguf(m.arch, "q4_0"))' > /root/gguf.txt
G=$(tail -1 /root/gguf.txt); echo "gguf: $G"
cat > /root/load.py <<'PY'
import ctypes, sys, faulthandler; faulthandler.enable()
import llama_cpp as L
extra = sys.argv[2] == "1"
L.llama_backend_init()
mp = L.llama_model_default_params(); mp.n_gpu_layers = 0; mp.use_extra_bufts = extra
m = L.llama_model_load_from_file(sys.argv[1].encode(), mp)
print("loaded", bool(m), flush=True)
cp = L.llama_context_default_params(); cp.n_ctx = 256; cp.n_threads = 4; cp.n_threads_batch = 4
ctx = L.llama_init_from_model(m, cp); v = L.llama_model_get_vocab(m)
toks = (L.llama_token * 8)(*range(100, 108)); b = L.llama_batch_get_one(toks, 8)
print("decode prompt", L.llama_decode(ctx, b), flush=True)
chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params()); L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
for i in range(8):
    t = L.llama_sampler_sample(chain, ctx, -1); one = (L.llama_token * 1)(t)
    assert L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) == 0
print("generated 8 tokens OK", flush=True)
PY
build /root/llama-native "-DGGML_NATIVE=on" || exit 1
for extra in 0 1; do
  echo "== native build, use_extra_bufts=$extra"
  PYTHONPATH="/root/llama-native:$PYTHONPATH" timeout 120 python3 /root/load.py "$G" $extra 2>&1 | grep -v "^llama_model_loader: - kv\|^load: control token" | tail -6
done
echo "== native build, stack unlimited"
( ulimit -s unlimited; PYTHONPATH="/root/llama-native:$PYTHONPATH" timeout 120 python3 /root/load.py "$G" 0 2>&1 | tail -3 )
echo "== native build under cuda-gdb (backtrace)"
PYTHONPATH="/root/llama-native:$PYTHONPATH" timeout 200 cuda-gdb -q -batch -ex run -ex bt -ex "info registers rip" -ex "x/3i \$pc" --args python3 /root/load.py "$G" 0 2>&1 | grep -v "^\[New Thread\|^\[Thread\|^llama_model_loader\|^load: control" | tail -30
build /root/llama-avx2 "-DGGML_NATIVE=off -DGGML_AVX2=on -DGGML_AVX512=off -DGGML_AMX_INT8=off" || exit 1
for extra in 0 1; do
  echo "== AVX2 build (no AVX-512/AMX), use_extra_bufts=$extra"
  PYTHONPATH="/root/llama-avx2:$PYTHONPATH" timeout 120 python3 /root/load.py "$G" $extra 2>&1 | tail -3
done
