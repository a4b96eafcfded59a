#!/usr/bin/env bash
# On the lent GPU machine: PyTorch backends on synthetic real-size models answering real MATH-PT
# prompts through `quantarena --batch`. Results: $OUT/<name>.tgz.
#   bash scripts/gpu/torch_validate.sh NAME RUNS [limit] [max_new_tokens]
# e.g. NAME=torch8b RUNS='llama3-8b/transformers/bf16,llama3-8b/quanto/int8'
set -u
NAME=$1; RUNS=$2; L=${3:-2}; N=${4:-128}
source scripts/gpu/setup.sh > "$OUT/setup-$NAME.log" 2>&1 || { tail -20 "$OUT/setup-$NAME.log"; exit 1; }
R=/root/res/$NAME; mkdir -p "$R"
python3 -m cli.main --batch --synthetic --runs "$RUNS" --dataset .gpu/mathpt --split ptbr_multiple_choice \
    --limit "$L" --max-new-tokens "$N" --out "$R/batch" 2>&1 | tail -16
tar czf "$OUT/$NAME.tgz" -C /root/res "$NAME"
