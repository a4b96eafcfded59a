#!/usr/bin/env bash
# One lent-GPU command (carry .gpu/wheels .gpu/mathpt .gpu/cache): graphs vs eager token check on a
# small model, then Llama-3-8B (synthetic) through each PyTorch engine at its best, 5 MATH-PT
# prompts x 256 tokens, and the eager twins (2 prompts x 256: eager is slow).
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
timeout 150 python3 scripts/gpu/graphs_check.py > "$OUT/graphs_check.jsonl" 2> "$OUT/graphs_check.err"; tail -3 "$OUT/graphs_check.err"
cat "$OUT/graphs_check.jsonl"
SECONDS_MAX=250 bash benchmarks/pytorch-best/run.sh llama8b-best 'llama3-8b/quanto/int4@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/transformers/bf16@graphs,llama3-8b/torchao/int8@graphs,llama3-8b/torchao/int4@graphs,llama3-8b/torchao/float8@graphs' 5 256
SECONDS_MAX=150 bash benchmarks/pytorch-best/run.sh llama8b-eager 'llama3-8b/quanto/int4,llama3-8b/torchao/int4,llama3-8b/torchao/int8' 2 256
