#!/usr/bin/env bash
# Lent GPU (carry .gpu/wheels): a real-shape 1-layer MiniMax-Text-01 slice (32 experts of 9216 x 6144,
# the real 200,064-token embeddings) written as a sharded checkpoint, loaded by the streaming packer
# and by load-then-pack, each in its own process.
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
timeout 170 python3 scripts/gpu/minimax_streaming_check.py --layers 1 --dir /root/mm/ck --out "$OUT/minimax_streaming_1L_h200.json" 2> "$OUT/minimax.err" | cut -c1-1200; grep -v "Writing model\|SyntaxWarning\|Configuration class" "$OUT/minimax.err" | tail -3
