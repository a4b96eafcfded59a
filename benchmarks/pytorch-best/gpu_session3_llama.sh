#!/usr/bin/env bash
# Lent-GPU command 1 of the third GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache): the graphs
# token check after the cache-counter fix, then Llama-3-8B (synthetic) at its best with the quality
# axis on (reference: bf16@graphs), 5 MATH-PT prompts x 256 tokens, and quanto int4's eager twin
# (the reference must be in the session: its cache key holds its settings).
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
VARIANTS=transformers/bf16,quanto/int4,torchao/int4,bitsandbytes/nf4 timeout 90 python3 scripts/gpu/graphs_check.py > "$OUT/graphs_check.jsonl" 2> "$OUT/graphs_check.err"
cut -c1-300 "$OUT/graphs_check.jsonl"; grep -o '"single_same_tokens": [a-z]*, "batch_same_tokens": [a-z]*' "$OUT/graphs_check.jsonl"
SECONDS_MAX=${S1:-400} bash benchmarks/pytorch-best/run.sh llama8b-best3 'llama3-8b/transformers/bf16@graphs,llama3-8b/quanto/int4@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/torchao/int4@graphs,llama3-8b/torchao/int4@compiled,llama3-8b/torchao/int8@compiled,llama3-8b/quanto/int4' 5 256
