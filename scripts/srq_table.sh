#!/usr/bin/env bash
# SRQ's table 1 on a CIFAR model from ../shared: the two-stage fine-tune (defaults, 1,000
# calibration images, MSE-optimal activation clips) with DoReFa or PACT quantizers, without and with SRQ's terms, at W/A 4/4,
# 3/3 and 2/2. DoReFa: tanh-normalised weights and clipped activations; PACT: DoReFa weights
# and a learned activation clip, as in the PACT paper. First and last layers stay 8-bit.
#   scripts/srq_table.sh [resnet20|resnet32|shufflenetv2_x0_5]
# OUT=dir keeps (and reuses) the models and reports; LOWBIT=path picks the binary; SRQ_FLAGS
# overrides the terms; ATTACK_LIMIT=N (default 2000, class-balanced) sizes the white-box FGSM
# 2/255 column (0: none); BITS="4 3 2" (the default) picks the columns, QUANTIZERS="dorefa pact
# dorefa+srq pact+srq" the rows.
# Each row: quantizer, bits, clean top-1 (10,000 test images), FGSM 2/255 top-1, quantize seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-resnet20}
source scripts/table_common.sh  # lowbit, shared, preprocessing, srq_table_terms
srq=(${SRQ_FLAGS:-$srq_table_terms})
attack_limit=${ATTACK_LIMIT:-2000}
pre=($(preprocessing "$model"))
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

top1() {  # file eval-flags... -> top-1
  "$lowbit" eval "$1" --data "$shared/data/cifar10/test" "${pre[@]}" --json "${@:2}" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.2f" % (j["attack"]["results"][0]["top1"] if "attack" in j else j["top1"]))'
}
printf "%-12s %-5s %7s %9s %8s\n" quantizer bits clean fgsm2/255 seconds
printf "%-12s %-5s %7s %9s %8s\n" float 32/32 "$(top1 "$shared/models/cifar10/$model.onnx")" \
  "$([ "$attack_limit" = 0 ] && echo - || top1 "$shared/models/cifar10/$model.onnx" --limit "$attack_limit" --attack fgsm --eps 2/255)" -
for bits in ${BITS:-4 3 2}; do
  for q in ${QUANTIZERS:-dorefa pact dorefa+srq pact+srq}; do
    name=$model-$q-w${bits}a$bits
    # MSE-optimal activation clips: min-max ones leave 2-bit codes almost all zero (and are the
    # fixed clips of DoReFa's activations, PACT's starting ones).
    flags=(--wbits "$bits" --abits "$bits" --first-last-bits 8 --finetune twostage --weight-quantizer dorefa
           --act-quantizer "${q%+srq}" --act-observer mse)
    [[ $q == *+srq ]] && flags+=("${srq[@]}")
    seconds=-
    if [ ! -f "$out/$name.onnx" ]; then
      start=$(date +%s)
      "$lowbit" quantize "$shared/models/cifar10/$model.onnx" --calib "$shared/data/cifar10/calib" "${pre[@]}" \
        "${flags[@]}" -o "$out/$name.onnx" --report "$out/$name.json" 2>"$out/$name.log" >/dev/null
      seconds=$(($(date +%s) - start))
    fi
    fgsm=-
    [ "$attack_limit" != 0 ] && fgsm=$(top1 "$out/$name.onnx" --limit "$attack_limit" --attack fgsm --eps 2/255)
    printf "%-12s %-5s %7s %9s %8s\n" "$q" "$bits/$bits" "$(top1 "$out/$name.onnx")" "$fgsm" "$seconds"
  done
done
