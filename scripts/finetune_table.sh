#!/usr/bin/env bash
# Prints top-1 of lowbit's distillation fine-tune on the CIFAR models from ../shared (resnet20,
# resnet32, shufflenetv2_x0_5 with its own mean/std) or the Fashion-MNIST ResNets of
# models/make_fashion_deep_resnets.py (fashion_resnet44, ...): the fine-tune rows and the seed paper's ablation table (plain rounding, global supervision only,
# blockwise supervision only, two-stage) at 4-bit weights.
#   scripts/finetune_table.sh [ablation|ablation-a4|w4a8|w4a4|w2a4|limited|defaults|defaults-w4a8] [resnet20 resnet32]
# w4a4 and w2a4 take BLOCK_ITERS (stage 1 steps per block, default 300) and EPOCHS (stage 2,
# default 15) from the environment; EXTRA adds quantize flags to every row and FT_EXTRA to the
# fine-tuned rows (both show in the label).
# Each row: model, setting, method, top-1 (10,000 test images), wall seconds of `quantize`.
# LOWBIT=path picks the binary (default ./build/lowbit); OUT=dir keeps the models and reports.
set -euo pipefail
cd "$(dirname "$0")/.."
table=${1:-ablation}
shift || true
models=${*:-resnet20 resnet32}
source scripts/table_common.sh  # lowbit, shared, preprocessing, srq_terms
# model -> its file, calibration and test folders: the CIFAR models of ../shared, or the
# Fashion-MNIST ResNets models/make_fashion_deep_resnets.py writes to models/generated.
model_file() { case "$1" in fashion_*) echo "models/generated/$1.onnx" ;; *) echo "$shared/models/cifar10/$1.onnx" ;; esac; }
calib_dir() { case "$1" in fashion_*) echo "data/fashion-mnist/calib" ;; *) echo "$shared/data/cifar10/calib" ;; esac; }
test_dir() { case "$1" in fashion_*) echo "data/fashion-mnist/test" ;; *) echo "$shared/data/cifar10/test" ;; esac; }
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

run() {  # model setting method quantize-flags...
  local model=$1 setting=$2 method=$3
  shift 3
  local extra=(${EXTRA:-})
  if [[ " $* " == *" --finetune "* ]]; then
    extra+=(${FT_EXTRA:-})
    # A row with a budget trains on every image for exactly that budget at LR (default 1e-4)
    # and returns the last parameters (no moving average) unless FT_EXTRA names its own; the
    # defaults row holds images back and searches.
    if [[ " $* " == *" --joint-epochs "* || " $* " == *" --finetune blockwise "* ]]; then
      fixed=(--held-back 0)
      [[ " ${FT_EXTRA:-} " == *" --lr "* ]] || fixed+=(--lr "${LR:-1e-4}")
      [[ " ${FT_EXTRA:-} " == *" --ema "* ]] || fixed+=(--ema 0)
      set -- "$@" "${fixed[@]}"
    fi
  fi
  [ ${#extra[@]} -gt 0 ] && method="$method ${extra[*]}"
  local name="$model-${setting// /_}-$method"
  name=${name//[^A-Za-z0-9_.-]/_}
  local start end top1
  local pre=($(preprocessing "$model"))
  start=$(date +%s)
  "$lowbit" quantize "$(model_file "$model")" --calib "$(calib_dir "$model")" "${pre[@]}" \
    -o "$out/$name.onnx" --report "$out/$name.json" "$@" "${extra[@]}" 2>"$out/$name.log" >/dev/null
  end=$(date +%s)
  top1=$("$lowbit" eval "$out/$name.onnx" --data "$(test_dir "$model")" "${pre[@]}" --json 2>/dev/null |
    sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
  printf "%-9s %-34s %-40s %6.2f %6ds\n" "$model" "$setting" "$method" "$top1" $((end - start))
}

# The fine-tune methods at one budget: stage 1 runs 300 steps per block, stage 2 15 epochs over
# the images. Global-only gets 25 epochs: stage 1's 300 steps of batch 32 through every block
# cost about as much as 10 epochs of the whole network, so its budget equals two-stage's.
methods() {  # model setting quantize-flags...
  local model=$1 setting=$2
  shift 2
  run "$model" "$setting" "plain rounding" "$@"
  run "$model" "$setting" "global, 25 epochs" "$@" --finetune global --joint-epochs 25
  run "$model" "$setting" "blockwise, 300 steps" "$@" --finetune blockwise --block-iters 300
  run "$model" "$setting" "two-stage, 300 + 15" "$@" --finetune twostage --block-iters 300 --joint-epochs 15
}

for m in $models; do
  case "$table" in
    ablation)
      methods "$m" "W4A8 per-channel" --wbits 4 --abits 8 --granularity channel
      methods "$m" "W4A8 group:8" --wbits 4 --abits 8 --granularity group:8
      ;;
    ablation-a4)  # the same at 4-bit activations, first and last layers 8-bit
      methods "$m" "W4A4 per-channel, first/last 8" --wbits 4 --abits 4 --granularity channel --first-last-bits 8
      methods "$m" "W4A4 group:8, first/last 8" --wbits 4 --abits 4 --granularity group:8 --first-last-bits 8
      ;;
    w4a8)
      for gran in channel group:8; do
        run "$m" "W4A8 $gran" "plain rounding" --wbits 4 --abits 8 --granularity $gran
        run "$m" "W4A8 $gran" "two-stage, 300 + 15" --wbits 4 --abits 8 --granularity $gran \
          --finetune twostage --block-iters 300 --joint-epochs 15
      done
      ;;
    w4a4)
      run "$m" "W4A4 per-channel, first/last 8" "plain rounding" --wbits 4 --abits 4 --granularity channel --first-last-bits 8
      run "$m" "W4A4 per-channel, first/last 8" "two-stage, ${BLOCK_ITERS:-300} + ${EPOCHS:-15}" --wbits 4 --abits 4 \
        --granularity channel --first-last-bits 8 --finetune twostage --block-iters "${BLOCK_ITERS:-300}" \
        --joint-epochs "${EPOCHS:-15}"
      ;;
    w2a4)
      run "$m" "W2A4 per-channel, first/last 8" "plain rounding" --wbits 2 --abits 4 --granularity channel --first-last-bits 8
      run "$m" "W2A4 per-channel, first/last 8" "two-stage, ${BLOCK_ITERS:-300} + ${EPOCHS:-15}" --wbits 2 --abits 4 \
        --granularity channel --first-last-bits 8 --finetune twostage --block-iters "${BLOCK_ITERS:-300}" \
        --joint-epochs "${EPOCHS:-15}"
      ;;
    limited)
      run "$m" "W4A8 per-channel, 100 images" "plain rounding" --wbits 4 --abits 8 --granularity channel --num-calib 100
      # 150 epochs over 100 images take as many steps as 15 over 1,000.
      run "$m" "W4A8 per-channel, 100 images" "two-stage, 300 + 150" --wbits 4 --abits 8 --granularity channel \
        --num-calib 100 --finetune twostage --block-iters 300 --joint-epochs 150
      ;;
    defaults)  # no fine-tune flag but --finetune: the budget, learning rate and stopping rule as a user gets them
      run "$m" "W4A4 per-channel, first/last 8" "plain rounding" --wbits 4 --abits 4 --granularity channel --first-last-bits 8
      run "$m" "W4A4 per-channel, first/last 8" "two-stage, defaults" --wbits 4 --abits 4 --granularity channel \
        --first-last-bits 8 --finetune twostage
      ;;
    defaults-w4a8)
      run "$m" "W4A8 per-channel" "two-stage, defaults" --wbits 4 --abits 8 --granularity channel --finetune twostage
      ;;
    *) echo "unknown table '$table' (ablation, ablation-a4, w4a8, w4a4, w2a4, limited, defaults, defaults-w4a8)" >&2; exit 2 ;;
  esac
done
