#!/usr/bin/env bash
# lowbit against ONNX Runtime on quantized CIFAR-10 files, in the two like-for-like pairings:
# lowbit's QDQ simulation (float arithmetic) against ONNX Runtime running the graph as written
# (--optimization disabled), and lowbit's int8 runner against ONNX Runtime's default
# optimisation (QDQ fused into its integer kernels). Both sides of a pairing see the same
# dumped inputs (node scripts/compare_ort.mjs).
#   scripts/ort_agreement.sh resnet20|shufflenetv2_x0_5|... FILE.onnx...
# The first argument picks the preprocessing (scripts/table_common.sh); LOWBIT=path the binary.
# Each row: lowbit simulation, ORT as written, their top-1 agreement %, lowbit int8, ORT fused,
# their agreement %, file name; top-1 on the 10,000 test images of ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/ort_agreement.sh MODEL_NAME FILE.onnx..." >&2; exit 2; }
source scripts/table_common.sh  # lowbit, shared, preprocessing
pre=($(preprocessing "$1"))
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pair() {  # file runner ort-optimization -> lowbit top-1, ORT top-1, agreement
  "$lowbit" eval "$1" --data "$shared/data/cifar10/test" "${pre[@]}" --runner "$2" --dump "$tmp/d" \
    >/dev/null 2>&1 || { echo "lowbit eval failed on $1" >&2; exit 1; }
  local out
  out=$(node scripts/compare_ort.mjs "$1" "$tmp/d" --optimization "$3" | tail -1) ||
    { echo "ONNX Runtime failed on $1 (npm install --ignore-scripts in scripts/?)" >&2; exit 1; }
  /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.2f %.2f %.2f" % (j["lowbit_top1"], j["ort_top1"], j["top1_agreement"]))' "$out"
}
printf "%8s %8s %7s %8s %8s %7s  %s\n" sim ort-qdq agree% int8 ort-int8 agree% file
for f in "$@"; do
  qdq=$(pair "$f" float disabled) && fused=$(pair "$f" int8 all) || exit 1
  printf "%8s %8s %7s %8s %8s %7s  %s\n" $qdq $fused "$(basename "$f")"
done
