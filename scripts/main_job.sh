#!/usr/bin/env bash
# The README's main job on the bundled default model: quantize it (W8A8, per-channel weights)
# with its calibration folder, evaluate float, simulated-quantized and int8-runner accuracy side
# by side, then time the float runner against the int8 runner (static and dynamic scales).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fashion_resnet.onnx}
out=${2:-build/fashion_resnet.w8a8.onnx}
pre=(--mean 0.2860 --std 0.3530)
./build/lowbit quantize "$model" --calib data/fashion-mnist/calib "${pre[@]}" \
  --wbits 8 --abits 8 --granularity channel --act-observer percentile:99.99 -o "$out" --report "${out%.onnx}.json"
echo "float:          $(./build/lowbit eval "$model" --data data/fashion-mnist/test "${pre[@]}" 2>/dev/null)"
echo "quantized:      $(./build/lowbit eval "$out" --data data/fashion-mnist/test "${pre[@]}" 2>/dev/null)"
echo "int8 runner:    $(./build/lowbit eval "$out" --data data/fashion-mnist/test "${pre[@]}" --runner int8 2>/dev/null)"
./build/lowbit bench "$model" --int8 "$out" --batch 1,64 --warmup 3 --iters 20
