#!/usr/bin/env bash
# W8A8 post-training quantization of one float ONNX classifier by lowbit (per-channel weights,
# several observer settings) and by PyTorch 1.13 FX (oneDNN backend, per-channel:
# scripts/fx_ptq_reference.py), on the same calibration folder and test folder.
#   scripts/ptq_vs_fx.sh MODEL.onnx CALIB_DIR TEST_DIR [preprocessing flags, e.g. --size 32 --mean .. --std ..]
# LOWBIT=path picks the binary. Each row: quantizer and setting, float top-1, W8A8 top-1 (lowbit:
# its int8 runner), drop.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/table_common.sh  # lowbit, ptq_args
ptq_args scripts/ptq_vs_fx.sh "$@"

top1() {  # file [eval flags] -> top-1 on the test folder
  "$lowbit" eval "$1" --data "$test" "${pre[@]}" "${@:2}" --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["top1"])'
}
row() { printf "%-56s %7s %7s %6s\n" "$1" "$2" "$3" "$(/usr/bin/python3 -c "print('%.2f' % ($2 - $3))")"; }

printf "%-56s %7s %7s %6s\n" quantizer float w8a8 drop
fx=$(/usr/bin/python3 scripts/fx_ptq_reference.py "$model" --calib "$calib" --data "$test" "${pre[@]}" 2>/dev/null | tail -1)
row "PyTorch FX (onednn, per-channel)" \
  $(/usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["float_top1"], j["int8_top1"])' "$fx")
float=$(top1 "$model")
for flags in "" "--no-share-concat-scales" "--act-observer mse" "--weight-observer mse" "--bias-correct" "--act-mode asymmetric" \
             "--act-mode asymmetric --act-observer percentile:99.99" "--act-mode asymmetric --act-observer mse" \
             "--act-mode asymmetric --bias-correct" "--act-observer sqnr" "--act-observer sqnr --bias-correct" \
             "--act-mode asymmetric --act-observer sqnr" "--act-mode asymmetric --bias-correct --weight-observer mse" \
             "--act-mode asymmetric --bias-correct --equalize"; do
  "$lowbit" quantize "$model" --calib "$calib" "${pre[@]}" --wbits 8 --abits 8 --granularity channel \
    $flags -o "$tmp/q.onnx" >/dev/null 2>&1
  row "lowbit ${flags:-defaults (min-max, Concat scales shared)}" "$float" "$(top1 "$tmp/q.onnx" --runner int8)"
done
