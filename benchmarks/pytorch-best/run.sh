#!/usr/bin/env bash
# On the lent GPU machine: PyTorch engines as shipped and at their best (CUDA graphs, torchao,
# compile) on synthetic real-size models answering real MATH-PT prompts through `quantarena --batch`.
#   bash benchmarks/pytorch-best/run.sh NAME RUNS LIMIT TOKENS [more quantarena options]
# e.g.  bash benchmarks/pytorch-best/run.sh llama8b-graphs 'llama3-8b/quanto/int4@graphs' 5 256
# (here, first: bash scripts/gpu/prepare.sh; then `run` with carry [".gpu"]). Results: $OUT/NAME.tgz
# holding the session folder (results.jsonl, summary.json/.md, telemetry.jsonl, logs/).
set -u
NAME=$1; RUNS=$2; L=$3; N=$4; shift 4
source scripts/gpu/setup.sh > "$OUT/setup-$NAME.log" 2>&1 || { tail -20 "$OUT/setup-$NAME.log"; exit 1; }
R=/root/res/$NAME; mkdir -p /root/res
ds=builtin; [ -d .gpu/mathpt ] && ds=.gpu/mathpt
# SECONDS_MAX (default 540) bounds the session: Ctrl-C-like stop, the answers already written are kept
timeout -s INT "${SECONDS_MAX:-540}" python3 -m cli.main --batch --synthetic --quiet --runs "$RUNS" --dataset "$ds" \
    --split ptbr_multiple_choice --limit "$L" --max-new-tokens "$N" --out "$R" "$@" 2>&1 | tail -40
tar czf "$OUT/$NAME.tgz" -C /root/res "$NAME"
