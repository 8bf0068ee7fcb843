# Sourced by the table scripts (after they cd to the checkout): the binary (LOWBIT overrides)
# and ../shared beside the checkout.
lowbit=${LOWBIT:-./build/lowbit}
shared=../shared
# preprocessing MODEL prints the quantize/eval flags of a model (../shared/README.md:
# ShuffleNetV2 has its own mean/std; the Fashion-MNIST ResNets of
# models/make_fashion_deep_resnets.py take one channel).
preprocessing() {
  case "$1" in
    shufflenetv2*) echo "--size 32 --mean 0.4914,0.4822,0.4465 --std 0.2023,0.1994,0.2010" ;;
    fashion_*) echo "--mean 0.2860 --std 0.3530" ;;
    *) echo "--size 32 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225" ;;
  esac
}
# SRQ's robustness terms as the tables run them (README: the formula of each term).
srq_terms="--structure-loss 10 --lipschitz-loss 10 --perturb-loss 0.01 --spectral-loss 1e-4"
# SRQ's table judges clean accuracy first: a lighter perturbation weight (0.003 raised clean
# accuracy on ResNet20 W4A4, where 0.01 trades some of it for robustness).
srq_table_terms="--structure-loss 10 --lipschitz-loss 10 --perturb-loss 0.003 --spectral-loss 1e-4"
# ptq_args SCRIPT "$@": the MODEL.onnx CALIB_DIR TEST_DIR [preprocessing flags] of the
# post-training comparison scripts into model, calib, test and pre, and a scratch folder tmp
# removed on exit.
ptq_args() {
  local script=$1
  shift
  [ $# -ge 3 ] || { echo "usage: $script MODEL.onnx CALIB_DIR TEST_DIR [preprocessing flags]" >&2; exit 2; }
  model=$1 calib=$2 test=$3
  shift 3
  pre=("$@")
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
}
