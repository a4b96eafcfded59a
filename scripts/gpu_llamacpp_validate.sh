#!/usr/bin/env bash
# On the lent GPU machine: llama.cpp with CUDA through `quantarena --batch` on synthetic
# Llama-3-8B / Mistral-7B GGUFs (Q4_0, Q8_0) answering real MATH-PT prompts, plus the harness
# overhead benchmark. Results go to $OUT/llamacpp.tgz. Needs .gpu/ (scripts/gpu_prepare.sh) with
# .gpu/mathpt holding the MATH-PT JSON files. Usage (device tool, carry [".gpu"]):
#   bash scripts/gpu_llamacpp_validate.sh
set -u
source scripts/gpu_setup.sh llama > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
tail -2 "$OUT/setup.log"
R=/root/res/llamacpp; mkdir -p "$R"
for m in llama3-8b mistral-7b; do for q in q4_0 q8_0; do
  python3 scripts/make_synthetic.py --model $m --quant $q --json > "$R/gguf-$m-$q.json" || exit 1
done; done
runs='llama3-8b/llama.cpp/q4_0,llama3-8b/llama.cpp/q8_0,mistral-7b/llama.cpp/q4_0,mistral-7b/llama.cpp/q8_0'
python3 -m cli.main --batch --synthetic --runs "$runs" --dataset .gpu/mathpt --split ptbr_multiple_choice \
    --limit 5 --max-new-tokens 256 --out "$R/batch" 2>&1 | tail -12
python3 scripts/bench_overhead_llamacpp.py --run llama3-8b/llama.cpp/q4_0 --synthetic --reps 5 --tokens 128 \
    --out "$R/overhead_llamacpp_gpu.json" 2>&1 | tail -3
nvidia-smi > "$R/nvidia-smi.txt"
tar czf "$OUT/llamacpp.tgz" -C /root/res llamacpp
