#!/usr/bin/env bash
# Lent-GPU command 3 of the third GPU session (carry .gpu/wheels .gpu/mathpt .gpu/cache).
#   1. quality: Llama-3-8B (synthetic) every PyTorch engine x quantization against bf16, on 3 pt-BR
#      open-ended reference solutions (the multiple-choice split has none), 16-token answers (quality only)
#   2. MiniMax-Text-01, a real-shape 2-layer slice: streaming packer against load-then-pack
#   3. torchao int4 @compiled (compile + the decode step in CUDA graphs), 3 x 256, no quality
set -u
source scripts/gpu/setup.sh > "$OUT/setup.log" 2>&1 || { tail -20 "$OUT/setup.log"; exit 1; }
SECONDS_MAX=190 bash benchmarks/pytorch-best/run.sh llama8b-quality 'llama3-8b/transformers/bf16@graphs,llama3-8b/quanto/int4@graphs,llama3-8b/quanto/int8@graphs,llama3-8b/bitsandbytes/nf4@graphs,llama3-8b/bitsandbytes/int8@graphs,llama3-8b/torchao/int4@graphs,llama3-8b/torchao/int8@graphs' 3 16 --split ptbr_open_ended | grep "│" | cut -c1-200
timeout 200 python3 scripts/gpu/minimax_streaming_check.py --layers 2 --dir /root/mm/ck --out "$OUT/minimax_streaming_2L_h200.json" 2> "$OUT/minimax.err" | cut -c1-900; tail -3 "$OUT/minimax.err"
SECONDS_MAX=120 bash benchmarks/pytorch-best/run.sh llama8b-ao4-compiled 'llama3-8b/torchao/int4@compiled' 3 256 --no-quality | grep "│" | cut -c1-200
