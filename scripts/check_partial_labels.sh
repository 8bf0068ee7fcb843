#!/usr/bin/env bash
# Partial labelled folders: evaluates a CIFAR-10 model on the full test folder (class names,
# sorted) and on a copy holding only some classes under integer folder names (3 = cat, ...),
# and on the same subset named by class with --labels. Prints each top-1 and the correct count
# the full run's logits give for those classes: all three counts must agree.
#   scripts/check_partial_labels.sh [MODEL] [CLASSES]   (default resnet20, "3 5 7")
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/cifar10/resnet20.onnx}
classes=${2:-3 5 7}
lowbit=${LOWBIT:-./build/lowbit}
data=../shared/data/cifar10/test
names=(airplane automobile bird cat deer dog frog horse ship truck)
pre=(--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "${names[@]}" >"$tmp/labels.txt"
for c in $classes; do
  ln -s "$(realpath "$data/${names[$c]}")" "$tmp/$(printf %04d "$c")"
  mkdir -p "$tmp/named"
  ln -s "$(realpath "$data/${names[$c]}")" "$tmp/named/${names[$c]}"
done
"$lowbit" eval "$model" --data "$data" "${pre[@]}" --dump "$tmp/full" --json 2>/dev/null >"$tmp/full.out"
/usr/bin/python3 - "$tmp/full" "$classes" <<'PY'
import json, sys, numpy as np
prefix, classes = sys.argv[1], [int(c) for c in sys.argv[2].split()]
meta = json.load(open(prefix + ".json"))
logits = np.fromfile(prefix + ".logits.f32", dtype=np.float32).reshape(meta["logits_shape"])
labels = np.array(meta["labels"])
keep = np.isin(labels, classes)
correct = int((logits[keep].argmax(1) == labels[keep]).sum())
print(f"full folder, logits of classes {classes}: {correct} of {int(keep.sum())} correct")
PY
for run in "integer folders:$tmp" "named folders --labels:$tmp/named --labels $tmp/labels.txt"; do
  label=${run%%:*}
  args=(${run#*:})
  "$lowbit" eval "$model" --data "${args[@]}" "${pre[@]}" --json 2>/dev/null |
    /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print(f'$label: top-1 {j[\"top1\"]:.2f} ({j[\"correct_top1\"]} of {j[\"images\"]}), labels: {j[\"labels\"]}')"
done
echo "named folders without --labels:"
"$lowbit" eval "$model" --data "$tmp/named" "${pre[@]}" 2>&1 | tail -1 | sed "s#$tmp#TMP#g" || true
