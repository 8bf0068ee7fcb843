#!/usr/bin/env bash
# Every command on torchvision-zoo classifiers (random weights) as a user would run them: float
# eval against ONNX Runtime, W8A8 quantize, the QDQ file's simulation against ONNX Runtime, the
# int8 runner against the simulation. One row per model: the largest logit difference and
# top-1 agreement of each comparison (random weights make top-1 itself meaningless).
#   /usr/bin/python3 models/make_torchvision_models.py --only mobilenet_v3_large,...
#   scripts/zoo_check.sh [MODEL ...]        (default: the zoo families and export settings)
# IMAGES=N (default 32) images of ../shared/data/cifar10/calib, resized to 224.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/table_common.sh  # lowbit, shared
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobilenet_v3_large efficientnet_b0 mnasnet0_5 regnet_x_400mf regnet_y_400mf googlenet
                                   densenet121 shufflenet_v2_x0_5_opset11 mobilenet_v2_opset17 squeezenet1_0_opset9 resnet18_batch1
                                   convnext_tiny convnext_tiny_opset17 resnext50_32x4d efficientnet_v2_s
                                   mobilenet_v2_channels_last squeezenet1_1_opset7 densenet121_opset7)
images=${IMAGES:-32}
pre=(--size 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 1000 output names: the CIFAR-10 folders first, so the folders are classes 0..9.
{ ls "$shared/data/cifar10/calib"; for i in $(seq 10 999); do echo "class$i"; done; } > "$work/labels.txt"
field() {  # json-line key -> value
  /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("%.3g / %.1f" % (j[sys.argv[1]], j[sys.argv[2]]))' "$@"
}
printf "%-28s %-24s %-24s %-24s\n" model "float vs ORT" "W8A8 sim vs ORT" "int8 runner vs sim"
for m in "${models[@]}"; do
  f=models/generated/$m.onnx q=$work/$m.q.onnx
  ev=(--data "$shared/data/cifar10/calib" "${pre[@]}" --limit "$images" --batch "$images" --labels "$work/labels.txt")
  "$lowbit" eval "$f" "${ev[@]}" --dump "$work/f" >/dev/null 2>&1
  "$lowbit" quantize "$f" --calib "$shared/data/cifar10/calib" --num-calib "$images" "${pre[@]}" -o "$q" >/dev/null 2>&1
  "$lowbit" eval "$q" "${ev[@]}" --dump "$work/s" >/dev/null 2>&1
  "$lowbit" eval "$q" "${ev[@]}" --runner int8 --dump "$work/i" >/dev/null 2>&1
  printf "%-28s %-24s %-24s %-24s\n" "$m" \
    "$(node scripts/compare_ort.mjs "$f" "$work/f" 2>/dev/null | field max_abs_diff top1_agreement)" \
    "$(node scripts/compare_ort.mjs "$q" "$work/s" 2>/dev/null | field max_abs_diff top1_agreement)" \
    "$(node scripts/compare_dumps.mjs "$work/s" "$work/i" 2>/dev/null | field max_abs_diff top1_agreement)"
done
