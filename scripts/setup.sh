#!/usr/bin/env bash
# Installs everything lowbit needs on Debian 12, builds it in Release into build/ (the CLI is
# build/lowbit) and makes the Fashion-MNIST image folders under data/. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

packages=(
  cmake g++ make pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler        # ONNX protobuf schema, checker
  libdnnl-dev ocl-icd-opencl-dev                       # oneDNN (its CMake config needs OpenCL)
  libcli11-dev nlohmann-json3-dev catch2               # CLI, JSON reports, tests
  libjpeg-dev libpng-dev                               # image decoding (same pixels as PIL)
  libonnx-testdata                                     # ONNX backend node tests
  dataset-fashion-mnist python3-numpy python3-pil      # bundled default data
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for the comparison scripts (its install script downloads GPU binaries; the CPU
# library ships inside the package, so skipping the script is all that is needed).
if [ ! -d scripts/node_modules/onnxruntime-node ]; then
  (cd scripts && npm install --ignore-scripts --no-package-lock --no-audit --no-fund --loglevel=error)
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_WERROR=ON
cmake --build build -j"$(nproc)"

/usr/bin/python3 scripts/make_fashion_mnist_folders.py data/fashion-mnist
