#!/usr/bin/env bash
# Stage-2 training speed of two lowbit binaries in one run, alternating (A B A B ...), on the
# same fine-tune: ResNet20 W4A4 per-channel, first/last 8-bit, two-stage with a short budget.
# Prints each run's stage-2 images/s (the report's stage2_images_per_s) and the median per binary.
#   scripts/finetune_speed_ab.sh OLD_LOWBIT NEW_LOWBIT [ROUNDS=3]
# MODEL and PRE override the model and its preprocessing flags.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 rounds=${3:-3}
model=${MODEL:-../shared/models/cifar10/resnet20.onnx}
pre=(${PRE:---size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225})
out=$(mktemp -d)
declare -A speeds
for r in $(seq "$rounds"); do
  for bin in "$a" "$b"; do
    "$bin" quantize "$model" --calib ../shared/data/cifar10/calib "${pre[@]}" --wbits 4 --abits 4 \
      --granularity channel --first-last-bits 8 --finetune twostage --block-iters 20 --joint-epochs 3 \
      -o "$out/m.onnx" --report "$out/r.json" 2>/dev/null >/dev/null
    s=$(/usr/bin/python3 -c "import json; print(round(json.load(open('$out/r.json'))['finetune']['stage2_images_per_s'], 1))")
    echo "round $r  $bin  stage 2: $s images/s"
    speeds[$bin]="${speeds[$bin]:-} $s"
  done
done
for bin in "$a" "$b"; do
  echo "$bin median: $(printf "%s\n" ${speeds[$bin]} | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') images/s"
done
