#!/usr/bin/env bash
# Top-1 of every quantized CIFAR-10 model given (the .onnx files finetune_table.sh and
# ptq_table.sh keep with OUT=dir) on the 10,000 test images of ../shared, with the current
# binary: re-evaluates earlier runs after a change to the runner without re-training them.
#   scripts/eval_models.sh MODEL.onnx... [-- extra eval flags, e.g. --runner int8]
# LOWBIT=path picks the binary (default ./build/lowbit). Prints: top-1, file name.
set -euo pipefail
cd "$(dirname "$0")/.."
lowbit=${LOWBIT:-./build/lowbit}
models=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do models+=("$(realpath "$1")"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#models[@]} -gt 0 ] || { echo "usage: scripts/eval_models.sh MODEL.onnx... [-- eval flags]" >&2; exit 2; }
for m in "${models[@]}"; do
  top1=$("$lowbit" eval "$m" --data ../shared/data/cifar10/test --size 32 --mean 0.485,0.456,0.406 \
    --std 0.229,0.224,0.225 --json "$@" 2>/dev/null | sed -n 's/.*"top1": \([0-9.]*\).*/\1/p') || true
  if [ -z "$top1" ]; then echo "eval failed: $m (run lowbit eval on it to see why)" >&2; exit 1; fi
  printf "%6.2f  %s\n" "$top1" "$(basename "$m")"
done
