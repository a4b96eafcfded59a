#!/usr/bin/env bash
# On the lent GPU machine: llama.cpp with CUDA through `quantarena --batch` on synthetic
# Llama-3-8B / Mistral-7B GGUFs (Q4_0, Q8_0) answering real MATH-PT prompts, after checking that
# in-graph (backend) sampling picks the same tokens as host sampling on this GPU. Results land in
# $OUT/llamacpp/ step by step. Needs .gpu/ (scripts/gpu/prepare.sh) with .gpu/mathpt holding the
# MATH-PT JSON files. Usage (device tool, carry [".gpu"]):
#   bash scripts/gpu/llamacpp_validate.sh            # OVERHEAD=1 also runs the harness-overhead benchmark
set -u
R=$OUT/llamacpp; mkdir -p "$R"
source scripts/gpu/setup.sh llama > "$R/setup.log" 2>&1 || { tail -20 "$R/setup.log"; exit 1; }
tail -2 "$R/setup.log"
for m in llama3-8b mistral-7b; do for q in q4_0 q8_0; do
  timeout 120 python3 -m cli.main synth --model $m --quant $q --json > "$R/gguf-$m-$q.json" || exit 1
done; done
timeout 120 python3 scripts/gpu/llama_backend_sampling_check.py --model llama3-8b --quant q4_0 | tee "$R/backend_sampling_check.json"
runs='llama3-8b/llama.cpp/q4_0,llama3-8b/llama.cpp/q8_0,mistral-7b/llama.cpp/q4_0,mistral-7b/llama.cpp/q8_0'
timeout 200 python3 -m cli.main --batch --synthetic --runs "$runs" --dataset .gpu/mathpt --split ptbr_multiple_choice \
    --limit 5 --max-new-tokens 256 --out "$R/batch" 2>&1 | tail -12
if [ "${OVERHEAD:-0}" = 1 ]; then
  python3 benchmarks/overhead-llamacpp/bench.py --run llama3-8b/llama.cpp/q4_0 --synthetic --reps 5 --tokens 128 \
      --out "$R/overhead_llamacpp_gpu.json" 2>&1 | tail -3
fi
nvidia-smi > "$R/nvidia-smi.txt"
