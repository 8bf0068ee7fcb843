#!/usr/bin/env bash
# Power-of-two (shift-add) weights against uniform weights at the same bits, on a CIFAR model
# from ../shared: plain rounding and fine-tuned (INQ with 8-bit activations, two-stage at W4A4),
# per-channel weights, 1,000 calibration images, the fine-tune defaults. 2-bit weights
# (ternary) keep the first and last layers at 8 bits; their levels, {0, +-1} times the scale,
# are the same in both schemes, with min-max and with MSE-optimal scales (which of the two a
# fine-tune needs differs: INQ freezes onto the calibrated scale, two-stage learns it).
#   scripts/pot_table.sh [resnet20|resnet32|shufflenetv2_x0_5]
# OUT=dir keeps (and reuses) the models and reports; LOWBIT=path picks the binary; EXTRA adds
# quantize flags to every row.
# Each row: setting, method, uniform top-1, POT top-1 (10,000 test images), then ONNX Runtime's
# top-1 on the POT file and its agreement with lowbit's (node scripts/compare_ort.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet20}
source scripts/table_common.sh  # lowbit, shared, preprocessing, srq_terms
pre=($(preprocessing "$model"))
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

quantize() {  # name flags...: unless the file is there
  local name=$1
  shift
  [ -f "$out/$name.onnx" ] && return
  "$lowbit" quantize "$shared/models/cifar10/$model.onnx" --calib "$shared/data/cifar10/calib" "${pre[@]}" \
    -o "$out/$name.onnx" --report "$out/$name.json" "$@" ${EXTRA:-} 2>"$out/$name.log" >/dev/null
}
top1() {  # name [eval flags...] -> lowbit's top-1
  "$lowbit" eval "$out/$1.onnx" --data "$shared/data/cifar10/test" "${pre[@]}" --json "${@:2}" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["top1"])'
}
ort() {  # name -> ONNX Runtime's top-1 and its top-1 agreement with lowbit, on the dumped inputs
  node scripts/compare_ort.mjs "$out/$1.onnx" "$out/$1.dump" 2>/dev/null | tail -1 |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.2f %.2f" % (j["ort_top1"], j["top1_agreement"]))'
  rm -f "$out/$1".dump.*
}

printf "%-28s %-10s %8s %8s %8s %9s\n" setting method uniform pot ort-pot agree%
row() {  # setting method flags...
  local setting=$1 method=$2
  shift 2
  local acc=()
  for scheme in uniform pot; do
    # 2-bit levels are {0, +-1} times the scale in both schemes: one model for the two columns.
    if [ "$scheme" = uniform ] && [[ $setting == w2* ]]; then acc+=("(same)"); continue; fi
    quantize "$model-$scheme-$setting-$method" --weight-scheme "$scheme" "$@"
    dump=()
    [ "$scheme" = pot ] && dump=(--dump "$out/$model-$scheme-$setting-$method.dump")
    acc+=("$(top1 "$model-$scheme-$setting-$method" "${dump[@]}")")
  done
  printf "%-28s %-10s %8s %8s %8s %9s\n" "$setting" "$method" "${acc[@]}" $(ort "$model-pot-$setting-$method")
}
for b in 4 3; do
  row "w${b}a8" plain --wbits $b --abits 8
  row "w${b}a8" inq --wbits $b --abits 8 --finetune inq
done
two=(--wbits 2 --abits 8 --first-last-bits 8)
for observer in minmax mse; do
  row "w2a8-first-last-8-$observer" plain "${two[@]}" --weight-observer $observer
  row "w2a8-first-last-8-$observer" inq "${two[@]}" --weight-observer $observer --finetune inq
  row "w2a8-first-last-8-$observer" twostage "${two[@]}" --weight-observer $observer --finetune twostage
done
row w4a4 plain --wbits 4 --abits 4
row w4a4 twostage --wbits 4 --abits 4 --finetune twostage
