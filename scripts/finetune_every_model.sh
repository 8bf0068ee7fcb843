#!/usr/bin/env bash
# Runs each fine-tune mode for a few steps on every model it is given (default: the CIFAR models
# of ../shared, the bundled models and the architectures models/make_torchvision_models.py
# writes to GEN, default models/generated) and prints, per model and mode, the first and last
# loss of each stage from the report: stage 1's MSE summed over blocks, stage 2's mean KL of
# the first and last epoch. W4A8 per-channel, NUM_CALIB images (default 64) of ../shared's
# CIFAR-10 calibration set, resized for the 224x224 models.
#   scripts/finetune_every_model.sh [MODEL.onnx ...]
# LOWBIT=path picks the binary (default ./build/lowbit); BLOCK_ITERS / EPOCHS set the budget.
set -euo pipefail
cd "$(dirname "$0")/.."
lowbit=${LOWBIT:-./build/lowbit}
gen=${GEN:-models/generated}
calib=../shared/data/cifar10/calib
out=$(mktemp -d)
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(../shared/models/cifar10/*.onnx models/*.onnx)
  [ -d "$gen" ] && models+=("$gen"/*.onnx)
fi
printf "%-26s %-9s %8s %22s %22s %7s\n" model mode blocks "stage 1 mse first>last" "stage 2 kl first>last" seconds
for m in "${models[@]}"; do
  name=$(basename "$m" .onnx)
  case "$name" in
    resnet50) continue ;;  # ResNet18 stands for the ResNets at 224; ResNet50's 1000-image cache needs >8 GB
  esac
  pre=(--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
  case "$name" in
    shufflenetv2*) pre=(--size 32 --mean 0.4914,0.4822,0.4465 --std 0.2023,0.1994,0.2010) ;;
    fashion*) pre=(--size 28 --mean 0.286 --std 0.353) ;;
  esac
  size=$("$lowbit" inspect "$m" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["shape"][2])')
  [ "$size" -gt 32 ] && pre=(--resize "$size" --crop "$size")
  data=$calib
  case "$name" in fashion*) data=data/fashion-mnist/calib ;; esac
  for mode in twostage blockwise global; do
    start=$(date +%s)
    if ! "$lowbit" quantize "$m" --calib "$data" "${pre[@]}" --num-calib "${NUM_CALIB:-64}" --wbits 4 --abits 8 \
        --granularity channel --finetune "$mode" --block-iters "${BLOCK_ITERS:-10}" --joint-epochs "${EPOCHS:-3}" \
        --held-back 0 --lr 1e-4 \
        --batch 16 -o "$out/$name-$mode.onnx" --report "$out/$name-$mode.json" 2>"$out/$name-$mode.log" >/dev/null; then
      printf "%-26s %-9s FAILED: %s\n" "$name" "$mode" "$(grep error: "$out/$name-$mode.log" | head -1)"
      continue
    fi
    /usr/bin/python3 - "$out/$name-$mode.json" "$name" "$mode" $(($(date +%s) - start)) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["finetune"]
s1 = r.get("stage1_blockwise", [])
s2 = r.get("stage2_joint", [])
a = f"{sum(b['first_mse'] for b in s1):.4g} > {sum(b['last_mse'] for b in s1):.4g}" if s1 else "-"
b = f"{s2[0]['mean_kl']:.4g} > {s2[-1]['mean_kl']:.4g}" if s2 else "-"
print(f"{sys.argv[2]:<26} {sys.argv[3]:<9} {r['blocks']:>8} {a:>22} {b:>22} {sys.argv[4]:>7}")
PY
  done
done
