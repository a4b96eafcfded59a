#!/usr/bin/env bash
# On the lent GPU machine: where llama.cpp's batch-1 decode time goes for the Llama-3-8B shape
# (benchmarks/llamacpp-gpu/decode_breakdown.py: host vs in-graph sampling, CUDA graphs off, bare decode) and
# llama.cpp's throughput mode (--concurrency 8, parallel sequences) on real MATH-PT prompts.
# Results land in $OUT/llamatune/ step by step (kept even if a later step runs out of time).
#   bash scripts/gpu/llamacpp_tune.sh [quant=q4_0] [concurrency=8]
set -u
Q=${1:-q4_0}; N=${2:-8}
R=$OUT/llamatune; mkdir -p "$R"
source scripts/gpu/setup.sh llama > "$R/setup.log" 2>&1 || { tail -20 "$R/setup.log"; exit 1; }
tail -2 "$R/setup.log"
timeout 120 python3 -m cli.main synth --model llama3-8b --quant "$Q" --json > "$R/gguf-$Q.json" || exit 1
timeout 150 python3 benchmarks/llamacpp-gpu/decode_breakdown.py --model llama3-8b --quant "$Q" --out "$R/breakdown-$Q.json"
timeout 150 python3 -m cli.main --batch --synthetic --runs "llama3-8b/llama.cpp/$Q" --dataset .gpu/mathpt \
    --split ptbr_multiple_choice --limit $((2 * N)) --concurrency "$N" --max-new-tokens 128 --out "$R/conc$N" 2>&1 | tail -7
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,power.limit --format=csv > "$R/gpu.csv"
