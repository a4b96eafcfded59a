#!/usr/bin/env bash
# The second lent-GPU command, after the graph-pool fix: graphs vs eager tokens on a small model
# (four engines), then Llama-3-8B at its best, 3 MATH-PT prompts x 256 tokens.
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
VARIANTS=transformers/bf16,quanto/int4,torchao/int4,bitsandbytes/nf4 timeout 100 python3 scripts/gpu/graphs_check.py > "$OUT/graphs_check.jsonl" 2> "$OUT/graphs_check.err"
cut -c1-400 "$OUT/graphs_check.jsonl"
SECONDS_MAX=230 bash benchmarks/pytorch-best/run.sh llama8b-best2 'llama3-8b/quanto/int4@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/transformers/bf16@graphs,llama3-8b/torchao/int8@graphs,llama3-8b/torchao/int4@graphs,llama3-8b/torchao/float8@graphs' 3 256
