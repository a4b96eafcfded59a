#!/usr/bin/env bash
# Lent-GPU command 1 of the fourth GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache).
#   1. graphs check with MARGINS=1: why a batch's greedy tokens part late (ties or a wrong step?)
#   2. MiniMax-Text-01 2-layer real-shape slice, both load paths, with fingerprints (where do they part?)
#   3. Llama-3-8B at its best with the lookahead decode loop: bf16, quanto int4, nf4, torchao int4 @graphs, 5 x 256
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
python3 -c "import torch, transformers, torchao; print(torch.__version__, transformers.__version__, torchao.__version__)"
MARGINS=1 VARIANTS=transformers/bf16,quanto/int4,bitsandbytes/nf4,torchao/int4 timeout 150 python3 scripts/gpu/graphs_check.py \
    > "$OUT/graphs-check-margins.jsonl" 2> "$OUT/graphs-check.err"; cut -c1-1500 "$OUT/graphs-check-margins.jsonl"; tail -3 "$OUT/graphs-check.err"
MINIMAX_CHECK_DUMP=1 timeout 170 python3 scripts/gpu/minimax_streaming_check.py --layers 2 --dir /root/mm/ck \
    --out "$OUT/minimax_streaming_2L_fingerprint.json" 2> "$OUT/minimax.err" | cut -c1-3000; tail -3 "$OUT/minimax.err"
SECONDS_MAX=200 bash benchmarks/pytorch-best/run.sh llama8b-lookahead 'llama3-8b/transformers/bf16@graphs,llama3-8b/quanto/int4@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/torchao/int4@graphs' 5 256 --no-quality | grep "│" | cut -c1-220
