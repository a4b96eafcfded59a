#!/usr/bin/env bash
# Lent-GPU command 2 of the fourth GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache).
#   1. MiniMax-Text-01 2-layer real-shape slice, both load paths, with fingerprints (where do they part?)
#   2. torchao int8 @compiled alone (compile + coordinate-descent tuning + the decode step in CUDA
#      graphs), 3 x 256; dynamo's recompiles and graph breaks logged into the run's log
#   3. quanto int8 at its best: w8a16 against w8a8 (int8 activations, torch._int_mm), both @graphs, 3 x 64
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
MINIMAX_CHECK_DUMP=1 timeout 150 python3 scripts/gpu/minimax_streaming_check.py --layers 2 --dir /root/mm/ck \
    --out "$OUT/minimax_streaming_2L_fingerprint.json" 2> "$OUT/minimax.err" | cut -c1-2500; tail -3 "$OUT/minimax.err" | cut -c1-600
TORCH_LOGS=recompiles,graph_breaks SECONDS_MAX=270 bash benchmarks/pytorch-best/run.sh llama8b-ao8-compiled 'llama3-8b/torchao/int8@compiled' 3 256 --no-quality | grep "│" | cut -c1-220
grep -h -i -E "recompil|graph break" /root/res/llama8b-ao8-compiled/logs/*.log 2>/dev/null | cut -c1-250 | sort | uniq -c | sort -rn | head -8
SECONDS_MAX=100 bash benchmarks/pytorch-best/run.sh llama8b-q8-kernels 'llama3-8b/quanto/int8@graphs,llama3-8b/quanto/int8@w8a8-graphs' 3 64 --no-quality | grep "│" | cut -c1-220
