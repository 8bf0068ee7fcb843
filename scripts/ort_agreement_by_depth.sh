#!/usr/bin/env bash
# Where lowbit's simulation and ONNX Runtime (QDQ as written, no graph optimisation) part:
# the QDQ model is cut after quantized activations K... and, per cut, prints how many
# activation codes differ between the two on the first N test images.
#   scripts/ort_agreement_by_depth.sh QUANT.onnx [N] [K ...]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
n=${2:-200}
shift 2 || shift $#
cuts=${*:-0 1 2 6 10 19}
pre=(--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 scripts/truncate_qdq.py "$model" "$tmp" $cuts
for k in $cuts; do
  ./build/lowbit eval "$tmp/cut$k.onnx" --data ../shared/data/cifar10/test "${pre[@]}" --limit "$n" \
    --dump "$tmp/d$k" >/dev/null 2>&1
  printf "cut %-3s " "$k"
  node scripts/compare_ort.mjs "$tmp/cut$k.onnx" "$tmp/d$k" --optimization disabled | head -1 | sed 's/.*max |logit difference|/max |difference|/'
done
