#!/usr/bin/env bash
# Lent-GPU command 3 of the fourth GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache).
#   1. MiniMax-Text-01 2-layer slice, both load paths (load-then-pack twice), bit-exact fingerprints
#   2. Qwen2.5-72B at its best on one H200: quanto int4, nf4, torchao int4 @graphs, 3 x 256
#   3. throughput: quanto int4 eager at --concurrency 8 (the twin of session 3's @graphs batch), 8 x 128
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
MINIMAX_CHECK_DUMP=1 timeout 200 python3 scripts/gpu/minimax_streaming_check.py --layers 2 --dir /root/mm/ck \
    --out "$OUT/minimax_streaming_2L_fingerprint.json" 2> "$OUT/minimax.err" | grep -v '"fingerprint"' | cut -c1-2500
python3 -c "import json; d=json.load(open('$OUT/minimax_streaming_2L_fingerprint.json')); print(json.dumps(d[-1])[:2500])"
tail -2 "$OUT/minimax.err" | cut -c1-400; rm -rf /root/mm
SECONDS_MAX=210 bash benchmarks/pytorch-best/run.sh qwen72b-graphs 'qwen2.5-72b/quanto/int4@graphs,qwen2.5-72b/bitsandbytes/nf4@graphs,qwen2.5-72b/torchao/int4@graphs' 3 256 --no-quality | grep "│" | cut -c1-220
SECONDS_MAX=75 bash benchmarks/pytorch-best/run.sh llama8b-c8-eager 'llama3-8b/quanto/int4' 8 128 --no-quality --concurrency 8 | grep "│" | cut -c1-220
