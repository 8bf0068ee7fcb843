#!/usr/bin/env bash
# Prints top-1 of lowbit PTQ (plain rounding, no fine-tuning) on the CIFAR ResNets from
# ../shared for a list of settings: the seed paper's granularity table and the observer rows.
#   scripts/ptq_table.sh [granularity|equalize|observers] [resnet20 resnet32]
# Each row: model, setting, top-1 (10,000 test images; 1,000 calibration images).
# LOWBIT=path picks the binary (default ./build/lowbit).
set -euo pipefail
cd "$(dirname "$0")/.."
table=${1:-granularity}
shift || true
models=${*:-resnet20 resnet32}
shared=../shared
lowbit=${LOWBIT:-./build/lowbit}
pre=(--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # model label quantize-flags...
  local model=$1 label=$2
  shift 2
  "$lowbit" quantize "$shared/models/cifar10/$model.onnx" --calib "$shared/data/cifar10/calib" "${pre[@]}" \
    -o "$tmp/q.onnx" "$@" 2>/dev/null >/dev/null
  local top1
  top1=$("$lowbit" eval "$tmp/q.onnx" --data "$shared/data/cifar10/test" "${pre[@]}" --json 2>/dev/null |
    sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
  printf "%-9s %-40s %6.2f\n" "$model" "$label" "$top1"
}

for m in $models; do
  if [ "$table" = granularity ]; then
    for wb in 4 6; do
      run "$m" "W${wb}A8 per-channel" --wbits $wb --abits 8 --granularity channel
      run "$m" "W${wb}A8 per-layer" --wbits $wb --abits 8 --granularity layer
      run "$m" "W${wb}A8 per-layer + equalization" --wbits $wb --abits 8 --granularity layer --equalize
      for g in 2 4 8 16; do
        run "$m" "W${wb}A8 group:$g" --wbits $wb --abits 8 --granularity group:$g
      done
    done
  elif [ "$table" = equalize ]; then
    for wb in 4 6; do
      run "$m" "W${wb}A8 per-layer + equalization" --wbits $wb --abits 8 --granularity layer --equalize
    done
  else
    for setting in "W8A8:8:8" "W4A4:4:4" "W3A8:3:8" "W2A8:2:8"; do
      IFS=: read -r name wb ab <<<"$setting"
      for obs in minmax mse kl sqnr; do
        wobs=$([ $obs = mse ] || [ $obs = kl ] && echo mse || echo minmax)
        run "$m" "$name per-channel, w:$wobs a:$obs" --wbits "$wb" --abits "$ab" --granularity channel \
          --weight-observer "$wobs" --act-observer "$obs"
      done
    done
  fi
done
