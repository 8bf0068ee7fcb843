#!/usr/bin/env bash
# The README's main job on the bundled default model: quantize it (W8A8, per-channel weights)
# with its calibration folder, then evaluate float and quantized side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fashion_resnet.onnx}
out=${2:-build/fashion_resnet.w8a8.onnx}
pre=(--mean 0.2860 --std 0.3530)
./build/lowbit quantize "$model" --calib data/fashion-mnist/calib "${pre[@]}" \
  --wbits 8 --abits 8 --granularity channel --act-observer percentile:99.99 -o "$out" --report "${out%.onnx}.json"
echo "float:     $(./build/lowbit eval "$model" --data data/fashion-mnist/test "${pre[@]}" 2>/dev/null)"
echo "quantized: $(./build/lowbit eval "$out" --data data/fashion-mnist/test "${pre[@]}" 2>/dev/null)"
