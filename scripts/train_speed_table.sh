#!/usr/bin/env bash
# Stage-2 fine-tune images/s of lowbit against PyTorch running the same step on the same ONNX
# model (scripts/train_speed_vs_torch.py --onnx), alternating lowbit and PyTorch for ROUNDS
# rounds per model and batch; prints each round and the medians' ratio.
#   scripts/train_speed_table.sh [ROUNDS=3]        # LOWBIT=path THREADS=2 BATCHES="32 64"
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
lowbit=${LOWBIT:-./build/lowbit}
threads=${THREADS:-2}
models=(resnet20 shufflenetv2_x0_5)
declare -A pre=([resnet20]="--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225"
                [shufflenetv2_x0_5]="--size 32 --mean 0.4914,0.4822,0.4465 --std 0.2023,0.1994,0.2010")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "isa: $(grep -o -m1 -w 'avx512_vnni\|amx_tile\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')threads $threads"
printf "%-20s %5s %12s %12s %7s\n" model batch lowbit pytorch ratio
for m in "${models[@]}"; do
  model=../shared/models/cifar10/$m.onnx
  for batch in ${BATCHES:-32 64}; do
    l=() t=()
    for r in $(seq "$rounds"); do
      OMP_NUM_THREADS=$threads "$lowbit" quantize "$model" --calib ../shared/data/cifar10/calib ${pre[$m]} \
        --wbits 4 --abits 4 --granularity channel --first-last-bits 8 --finetune twostage --block-iters 20 \
        --joint-epochs 3 --batch "$batch" --threads "$threads" -o "$out/m.onnx" --report "$out/r.json" >/dev/null 2>&1
      line=$(/usr/bin/python3 scripts/train_speed_vs_torch.py "$out/r.json" --onnx "$model" --threads "$threads" \
        --batch "$batch")
      l+=("$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["lowbit_images_per_s"])')")
      t+=("$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["torch_images_per_s"])')")
      echo "  round $r: $m batch $batch lowbit ${l[-1]} pytorch ${t[-1]}" >&2
    done
    lm=$(median "${l[@]}") tm=$(median "${t[@]}")
    printf "%-20s %5s %12s %12s %6.2fx\n" "$m" "$batch" "$lm" "$tm" "$(echo "$lm / $tm" | bc -l)"
  done
done
