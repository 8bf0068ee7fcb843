#!/usr/bin/env bash
# Clean and adversarial top-1 of a CIFAR model from ../shared: float, plain W4A4 (rounding
# only), two-stage W4A4 (the fine-tune defaults) and the robustness-aware W4A4 (two-stage plus
# SRQ's terms, ROBUST_FLAGS), under FGSM at 1, 2, 4, 8 /255 and PGD-10 at 2/255, white-box (the
# attack's gradients through the evaluated model, quantized ones by the straight-through
# estimator) and transferred from the float model.
#   scripts/robustness_table.sh [resnet20|resnet32|shufflenetv2_x0_5]
# LIMIT=N evaluates a class-balanced N of the 10,000 test images (default all); OUT=dir keeps
# (and reuses) the models and reports; LOWBIT=path picks the binary; ROBUST_FLAGS overrides the
# robustness terms. Rows: model, attack source, clean, FGSM per budget, PGD-10.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet20}
source scripts/table_common.sh  # lowbit, shared, preprocessing, srq_terms
robust=(${ROBUST_FLAGS:-$srq_terms})
pre=($(preprocessing "$model"))
float=$shared/models/cifar10/$model.onnx
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")

quantize() {  # name flags...: quantizes W4A4 unless the file is there
  local name=$1
  shift
  [ -f "$out/$model-$name.onnx" ] && return
  "$lowbit" quantize "$float" --calib "$shared/data/cifar10/calib" "${pre[@]}" --wbits 4 --abits 4 \
    -o "$out/$model-$name.onnx" --report "$out/$model-$name.json" "$@" 2>"$out/$model-$name.log" >/dev/null
}
quantize plain
quantize twostage --finetune twostage
quantize robust --finetune twostage "${robust[@]}"

top1s() {  # model-file attack-flags...: clean top-1 then one per budget
  "$lowbit" eval "$1" --data "$shared/data/cifar10/test" "${pre[@]}" "${limit[@]}" --json "${@:2}" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(" ".join(["%.2f" % j["top1"]] + ["%.2f" % r["top1"] for r in j["attack"]["results"]]))'
}
printf "%-28s %-10s %6s %6s %6s %6s %6s %7s\n" model source clean fgsm1 fgsm2 fgsm4 fgsm8 pgd10@2
for m in float plain twostage robust; do
  file=$out/$model-$m.onnx
  [ "$m" = float ] && file=$float
  for source in white-box float; do
    [ "$m" = float ] && [ "$source" = float ] && continue
    from=()
    [ "$source" = float ] && from=(--attack-from "$float")
    fgsm=($(top1s "$file" --attack fgsm --eps 1/255,2/255,4/255,8/255 "${from[@]}"))
    pgd=($(top1s "$file" --attack pgd --eps 2/255 --attack-steps 10 --seed 0 "${from[@]}"))
    label="$model $m W4A4"
    [ "$m" = float ] && label="$model float"
    printf "%-28s %-10s %6s %6s %6s %6s %6s %7s\n" "$label" "$source" "${fgsm[@]}" "${pgd[1]}"
  done
done
