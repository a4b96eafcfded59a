#!/usr/bin/env bash
# Stage what the lent GPU machine needs into .gpu/ (git-ignored), on THIS machine (it has PyPI):
#   .gpu/wheels/                        optimum-quanto, bitsandbytes, gguf, diskcache, textual (py3.12 wheels;
#                                       the GPU image already has torch, transformers, accelerate, pynvml, psutil)
#   .gpu/llama_cpp_python-<v>-slim.tar.gz  llama-cpp-python's sdist without git pack, vocab models and docs
#                                       (76 MB -> ~12 MB) so it fits the 64 MiB transfer limit
#   .gpu/cache/                         quantarena's cache seed: the synthetic tokenizer vocabulary
# Then every GPU command starts with:  source scripts/gpu/setup.sh [llama]
# Usage: scripts/gpu/prepare.sh [extra wheel names...]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .git/info && { grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude; }
mkdir -p .gpu/wheels .gpu/cache
plat=(--only-binary=:all: --python-version 3.12 --implementation cp
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
python3 -m pip download -q --no-deps "${plat[@]}" -d .gpu/wheels \
    optimum-quanto==0.2.7 bitsandbytes==0.50.2 gguf==0.19.0 diskcache==5.6.3 torchao==0.18.0 "$@"
v=$(python3 -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || echo 0.3.36)
if [ ! -f ".gpu/llama_cpp_python-$v-slim.tar.gz" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary=:all: -d "$tmp" "llama-cpp-python==$v"
  tar xzf "$tmp"/llama_cpp_python-"$v".tar.gz -C "$tmp"
  src="$tmp/llama_cpp_python-$v"
  rm -rf "$src/.git" "$src/vendor/llama.cpp/models" "$src/vendor/llama.cpp/docs" "$src/vendor/llama.cpp/media" \
         "$src/vendor/llama.cpp/benches" "$src/vendor/llama.cpp/.github" "$src/examples/notebooks"
  mkdir -p "$src/vendor/llama.cpp/models"
  tar czf ".gpu/llama_cpp_python-$v-slim.tar.gz" -C "$tmp" "llama_cpp_python-$v"
  rm -rf "$tmp"
fi
# the real MATH-PT prompts for GPU runs (a MATH-PT folder: $MATHPT, else ../shared/mathpt beside the checkout)
mp=${MATHPT:-$root/../shared/mathpt}
if [ -f "$mp/ptbr_multiple_choice_test.json" ]; then
  mkdir -p .gpu/mathpt && cp "$mp"/*_test.json .gpu/mathpt/
else
  echo "no MATH-PT folder at $mp (set MATHPT=DIR): GPU runs will use --dataset builtin" >&2
fi
# seed the synthetic tokenizer vocabulary (read from the embedded GGUF, which does not travel)
QUANTARENA_CACHE="$root/.gpu/cache" python3 -c 'from engine.synthetic_vocab import reference_vocab; reference_vocab()' || true
du -sh .gpu
echo "staged .gpu/; start each GPU command with: source scripts/gpu/setup.sh llama   (carry: [\".gpu\"])"
