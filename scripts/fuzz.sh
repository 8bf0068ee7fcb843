#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in build-fuzz/), seeds their corpora from
# models/ and tests/data/ (plus QDQ exports, a report and recipes of the small test model made
# here) and runs each target for SECONDS, then prints executions, speed and findings per target.
#   [RUNS=N] scripts/fuzz.sh [SECONDS (default 60)] [model qdq image report]
# RUNS stops a target after N executions if that comes before SECONDS; FUZZ_SEED fixes
# libFuzzer's random seed (CI sets one, so a run can be repeated).
# Limits per input: 10 s, 1 GB of allocations at once, 2 GB resident. A finding (crash, leak,
# sanitizer report, timeout, exit 3) leaves its input in build-fuzz/artifacts/<target>/ and
# makes the script exit 1. Corpora grow in build-fuzz/corpus/<target>/ across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=${*:-model qdq image report}
build=build-fuzz
jobs=${JOBS:-$(nproc)}

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWBIT_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j"$jobs" --target lowbit $(for t in $targets; do echo "fuzz_$t"; done) >/dev/null

# Seeds: what is in the tree, and what lowbit itself writes from the small test model.
seeds=$build/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{model,qdq,image,report}
tiny=tests/data/good/tiny_convnet.onnx
cp models/*.onnx tests/data/good/*.onnx tests/data/bad/*.onnx "$seeds/model/"
# QOperator files (read as QDQ on import): ONNX's own node-test models of those ops.
for t in /usr/share/libonnx-testdata/data/node/test_{qlinear,convinteger,matmulinteger,dynamicquantize}*/; do
  [ -f "$t/model.onnx" ] && cp "$t/model.onnx" "$seeds/model/$(basename "$t").onnx"
done
cp tests/data/good/*.png tests/data/good/*.jpg tests/data/bad/*.jpg "$seeds/image/"
export ASAN_OPTIONS=detect_leaks=1
for setting in "--wbits 8 --abits 8 --granularity layer" "--wbits 4 --abits 4 --granularity channel" \
               "--wbits 4 --abits 8 --granularity group:2" "--wbits 8 --abits 8 --act-observer mse --bias-correct"; do
  name=$(echo "$setting" | tr -c 'A-Za-z0-9\n' _)
  "$build/lowbit" quantize "$tiny" --calib tests/data/good --size 8 $setting \
    -o "$seeds/qdq/$name.onnx" --report "$seeds/report/$name.json" 2>/dev/null >/dev/null
done
cp "$seeds"/qdq/*.onnx "$seeds/model/"
# The report target's first byte picks the mode: even, --calib-from a report; odd, --recipe.
for r in "$seeds"/report/*.json; do
  { printf '\x00'; cat "$r"; } >"$r.calib-from"
  { printf '\x01'; cat "$r"; } >"$r.recipe"
  rm "$r"
done
printf '\x01{"wbits": 4, "abits": 4, "granularity": "group:2", "finetune": {"mode": "twostage", "block_iters": 3, "lr": 1e-4, "ema": 0.99, "augment": true}}' \
  >"$seeds/report/finetune.recipe"

status=0
printf "%-8s %10s %9s %8s %s\n" target executions "exec/s" seconds finding
for t in $targets; do
  corpus=$build/corpus/$t
  artifacts=$build/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  log=$build/fuzz_$t.log
  set +e
  "$build/tests/fuzz/fuzz_$t" "$corpus" "$seeds/$t" -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=1024 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" ${RUNS:+-runs=$RUNS} ${FUZZ_SEED:+-seed=$FUZZ_SEED} >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  ran=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  finding=none
  if [ $rc -ne 0 ]; then
    finding="exit $rc: $(grep -m1 -E 'ERROR|SUMMARY|exited 3|deadly|timeout|out-of-memory' "$log" || echo 'see log') ($log)"
    status=1
  fi
  printf "%-8s %10s %9s %8s %s\n" "$t" "${execs:-?}" "${speed:-?}" "${ran:-$seconds}" "$finding"
done
exit $status
