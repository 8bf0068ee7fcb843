#!/usr/bin/env bash
# The sanitizer job: an AddressSanitizer + UBSan build with clang (build-fuzz/, which also holds
# the libFuzzer targets), its unit and conformance tests, then each fuzz target for SECONDS
# (scripts/fuzz.sh). Any sanitizer report, leak or fuzz finding fails it. Installs clang's
# runtimes (Debian's clang, libclang-rt-14-dev, libomp-14-dev) when they are missing.
#   scripts/sanitize.sh [SECONDS per fuzz target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in clang libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWBIT_FUZZ=ON >/dev/null
fi
cmake --build build-fuzz -j"$(nproc)"
# Leaks count too; the tests' own child processes (the CLI) run sanitized as well.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir build-fuzz --output-on-failure -L 'unit|conformance' -j"$(nproc)"
FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "$seconds"
