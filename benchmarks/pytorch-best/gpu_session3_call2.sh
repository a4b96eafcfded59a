#!/usr/bin/env bash
# Lent-GPU command 2 of the third GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache). Command 1
# showed that one slow load (torchao int8 @compiled: > 225 s compiling) holds every run of its wave
# before its timed answers, so the compiled runs get a session of their own (command 3).
#   1. the batched-graph token check with a fixed cuBLAS workspace (is cuBLAS's algorithm choice the cause?)
#   2. Llama-3-8B at its best + quanto int4's eager twin, quality on (reference bf16@graphs), 5 x 256
#   3. Mistral-7B at its best, 5 x 256
#   4. throughput: quanto int4 @graphs at --concurrency 8, 8 problems x 256
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
CUBLAS_WORKSPACE_CONFIG=:4096:8 VARIANTS=transformers/bf16,quanto/int4,bitsandbytes/nf4 timeout 70 python3 scripts/gpu/graphs_check.py > "$OUT/graphs_check_ws.jsonl" 2> "$OUT/graphs_check_ws.err"
grep -o '"variant": "[^"]*"\|"batch_same_tokens": [a-z]*\|"batch_first_divergence": [^]]*]' "$OUT/graphs_check_ws.jsonl" | paste -sd' '
SECONDS_MAX=200 bash benchmarks/pytorch-best/run.sh llama8b-best3 'llama3-8b/transformers/bf16@graphs,llama3-8b/quanto/int4@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/torchao/int4@graphs,llama3-8b/quanto/int4' 5 256 | grep -v "^$" | tail -28
SECONDS_MAX=140 bash benchmarks/pytorch-best/run.sh mistral7b-best3 'mistral-7b/transformers/bf16@graphs,mistral-7b/quanto/int4@graphs,mistral-7b/bitsandbytes/nf4@graphs,mistral-7b/torchao/int4@graphs' 5 256 | grep "│" | cut -c1-200
SECONDS_MAX=70 bash benchmarks/pytorch-best/run.sh llama8b-c8-graphs 'llama3-8b/quanto/int4@graphs' 8 256 --concurrency 8 --no-quality | grep "│" | cut -c1-220
