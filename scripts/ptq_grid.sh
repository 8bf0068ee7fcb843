#!/usr/bin/env bash
# W8A8 top-1 of one float ONNX classifier over a grid of lowbit post-training settings (80:
# activation mode x activation observer x bias correction x weight observer x cross-layer
# equalization, per-channel weights, int8 runner), each beside the output SQNR and top-1
# agreement against the float model on the calibration images (what a user can see without test
# labels), then the spread of test top-1 and how well the calibration figures predict it.
#   scripts/ptq_grid.sh MODEL.onnx CALIB_DIR TEST_DIR [preprocessing flags]
# LOWBIT=path picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/table_common.sh  # lowbit, ptq_args
ptq_args scripts/ptq_grid.sh "$@"
printf "%7s %9s %9s  %s\n" top1 calib_dB calib_agr setting
for am in symmetric asymmetric; do for ao in minmax percentile:99.99 percentile:99.999 mse sqnr; do
  for bc in "" --bias-correct; do for wo in minmax mse; do for eq in "" --equalize; do
    flags="--act-mode $am --act-observer $ao $bc --weight-observer $wo $eq"
    # shellcheck disable=SC2086
    "$lowbit" quantize "$model" --calib "$calib" "${pre[@]}" --wbits 8 --abits 8 --granularity channel $flags \
      -o "$tmp/q.onnx" >/dev/null 2>&1
    top1=$("$lowbit" eval "$tmp/q.onnx" --data "$test" "${pre[@]}" --runner int8 --json 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["top1"])')
    calib_fit=$("$lowbit" inspect --compare "$model" "$tmp/q.onnx" --data "$calib" "${pre[@]}" --limit 0 --json 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.2f %.2f" % (j["output_sqnr_db"], j["top1_agreement"]))')
    printf "%7s %9s %9s  %s\n" "$top1" $calib_fit "$(echo $flags | tr -s ' ')"
  done; done; done
done; done | tee "$tmp/grid.txt"
/usr/bin/python3 - "$tmp/grid.txt" <<'PY'
import statistics, sys
rows = [line.split(None, 3) for line in open(sys.argv[1]) if line.strip() and not line.lstrip().startswith("top1")]
top1 = [float(r[0]) for r in rows]; sqnr = [float(r[1]) for r in rows]; agree = [float(r[2]) for r in rows]
def corr(a, b):
    ma, mb = statistics.mean(a), statistics.mean(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return num / (sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b)) ** 0.5
print("settings %d: test top-1 %.2f..%.2f, mean %.2f, sd %.2f; correlation with calibration SQNR %.2f, agreement %.2f"
      % (len(rows), min(top1), max(top1), statistics.mean(top1), statistics.pstdev(top1), corr(top1, sqnr), corr(top1, agree)))
PY
