#!/usr/bin/env bash
# Whether two lowbit binaries write byte-identical models for the same recipes (a rework that
# should not change behaviour): every quantization method on the bundled models, fine-tunes
# seeded. Prints one line per recipe and exits 1 if any model differs.
#   scripts/compare_models_ab.sh OLD/lowbit NEW/lowbit
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
out=$(mktemp -d)
calib=data/fashion-mnist/calib
pre=(--mean 0.2860 --std 0.3530 --num-calib 100)
recipes=(
  ""
  "--wbits 4 --granularity group:8 --equalize --bias-correct --act-observer percentile:99.9"
  "--wbits 3 --granularity layer --absorb-bias --weight-observer mse --act-observer kl"
  "--wbits 4 --abits 4 --first-last-bits 8 --granularity group:4 --group-order range --act-observer mse"
  "--wbits 4 --finetune twostage --block-iters 5 --joint-epochs 2 --lr 1e-3 --held-back 0 --bias-correct"
  "--wbits 4 --abits 4 --finetune global --joint-epochs 2 --act-quantizer pact"
  "--wbits 2 --finetune blockwise --block-iters 5 --block-input quantized --feature-loss 1"
)
status=0
for model in models/fashion_resnet.onnx models/fashion_mobilenet.onnx; do
  for i in "${!recipes[@]}"; do
    flags=(${recipes[$i]})
    for bin in old new; do
      exe=$old; [ $bin = new ] && exe=$new
      "$exe" quantize "$model" --calib "$calib" "${pre[@]}" "${flags[@]}" -o "$out/$bin.onnx" \
        --report "$out/$bin.json" >/dev/null 2>"$out/$bin.log" || { echo "$bin failed: $(tail -1 "$out/$bin.log")"; exit 1; }
    done
    if cmp -s "$out/old.onnx" "$out/new.onnx"; then verdict=identical; else verdict=DIFFERENT; status=1; fi
    printf "%-28s %-110s %s\n" "$(basename "$model")" "${recipes[$i]:-(defaults)}" "$verdict"
  done
  for bin in old new; do
    exe=$old; [ $bin = new ] && exe=$new
    "$exe" quantize "$model" --calib-from "$out/$bin.json" "${pre[@]}" -o "$out/$bin-from.onnx" >/dev/null 2>&1
  done
  if cmp -s "$out/old-from.onnx" "$out/new-from.onnx"; then verdict=identical; else verdict=DIFFERENT; status=1; fi
  printf "%-28s %-110s %s\n" "$(basename "$model")" "--calib-from the last report" "$verdict"
done
rm -rf "$out"
exit $status
