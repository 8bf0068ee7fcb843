#!/usr/bin/env bash
# Accuracy control (quantize --max-drop) on a CIFAR model from ../shared: for each limit, the
# layers kept in float, the drop measured on the 1,000 calibration images (the control set),
# and top-1 on the 10,000 test images, which the control never saw.
#   scripts/max_drop_table.sh MODEL "QUANTIZE FLAGS" [D ...]     e.g. resnet20 "--wbits 4 --abits 4" 0.5 1 2
# Each row: max drop, layers in float of all, control drop, test top-1, test drop, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/table_common.sh
[ $# -ge 2 ] || { echo "usage: scripts/max_drop_table.sh MODEL \"QUANTIZE FLAGS\" [D ...]" >&2; exit 2; }
model=$1 flags=$2
shift 2
read -r -a pre <<<"$(preprocessing "$model")"
read -r -a qflags <<<"$flags"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
onnx=$shared/models/cifar10/$model.onnx
top1() { "$lowbit" eval "$1" --data "$shared/data/cifar10/test" "${pre[@]}" --runner int8 --json 2>/dev/null |
  /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["top1"])'; }
float=$(top1 "$onnx")
echo "$model $flags, float top-1 $float"
printf "%-8s %-14s %-13s %-9s %-9s %s\n" max_drop float_layers control_drop test_top1 test_drop seconds
for d in none "$@"; do
  extra=()
  [ "$d" = none ] || extra=(--max-drop "$d")
  start=$(date +%s.%N)
  "$lowbit" quantize "$onnx" --calib "$shared/data/cifar10/calib" "${pre[@]}" "${qflags[@]}" "${extra[@]}" \
    -o "$tmp/q.onnx" --report "$tmp/r.json" >/dev/null 2>&1
  secs=$(/usr/bin/python3 -c "import time; print('%.0f' % (time.time() - $start))")
  q=$(top1 "$tmp/q.onnx")
  /usr/bin/python3 - "$tmp/r.json" "$d" "$q" "$float" "$secs" <<'PY'
import json, sys
r, d, q, f, secs = json.load(open(sys.argv[1])), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
a = r.get("accuracy_control")
total = len(r["weights"]) + (len(a["float_layers"]) if a else 0)
kept = "%d of %d" % (len(a["float_layers"]), total) if a else "0 of %d" % total
ctl = "%.2f -> %.2f" % (a["drop_before"], a["drop_after"]) if a else "-"
print("%-8s %-14s %-13s %-9.2f %-9.2f %s" % (d, kept, ctl, q, f - q, secs))
PY
done
