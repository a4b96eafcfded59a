#!/usr/bin/env bash
# Source at the start of every command on the lent GPU machine (after scripts/gpu/prepare.sh here):
#     source scripts/gpu/setup.sh            # installs the carried wheels, sets the environment
#     source scripts/gpu/setup.sh llama      # ...and builds llama-cpp-python with CUDA for this GPU
# The CUDA build targets the GPU's own architecture only (nvidia-smi's compute_cap: 90 on H100/H200),
# takes ~5-6 min on 16 cores, and is cached in /root/llama-cuda while the machine stays warm. A build
# brought back earlier can be carried in .gpu/llama-cuda.tar.gz to skip it.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export QUANTARENA_CACHE=${QUANTARENA_CACHE:-/root/qa-cache}
mkdir -p "$QUANTARENA_CACHE"
[ -d .gpu/cache ] && cp -rn .gpu/cache/. "$QUANTARENA_CACHE"/ 2>/dev/null
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/wheels/*.whl || return 1
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = llama ]; then
  if [ ! -d /root/llama-cuda/llama_cpp ] && [ -f .gpu/llama-cuda.tar.gz ]; then
    mkdir -p /root/llama-cuda && tar xzf .gpu/llama-cuda.tar.gz -C /root/llama-cuda
  fi
  if ! PYTHONPATH="/root/llama-cuda:$PYTHONPATH" python3 -c 'import llama_cpp,sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' 2>/dev/null; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
    echo "building llama-cpp-python with CUDA for sm_${arch} ..."
    t0=$(date +%s)
    rm -rf /root/lb /root/llama-cuda && mkdir -p /root/lb && tar xzf .gpu/llama_cpp_python-*-slim.tar.gz -C /root/lb
    ( cd /root/lb/llama_cpp_python-* && \
      CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${arch} -DGGML_NATIVE=on -DLLAMA_BUILD_TESTS=off -DLLAMA_BUILD_EXAMPLES=off" \
      CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      python3 -m pip install -q --no-deps --no-build-isolation --target /root/llama-cuda . ) > /root/lb/build.log 2>&1 \
      || { tail -30 /root/lb/build.log; return 1; }
    echo "llama-cpp-python CUDA build: $(( $(date +%s) - t0 )) s"
  fi
  export PYTHONPATH="/root/llama-cuda:$PYTHONPATH"
fi
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
