#include "runtime/StepThreads.h"

#include <algorithm>

#include "ir/DType.h"

namespace lowbit {

namespace {

// Single-core rates of oneDNN's kernels on AVX-512 (docs/RESULTS.md, "Threads per step"):
// multiply-adds per microsecond for float and for int8 (VNNI) convolutions and products,
// and bytes per microsecond that copies, pools and element-wise steps move.
constexpr double kFloatMacsPerMicro = 40e3;
constexpr double kInt8MacsPerMicro = 120e3;
constexpr double kBytesPerMicro = 20e3;
// Below this much estimated work per thread, another thread's fork and join cost more than
// it saves: measured per step (1 against 2 threads), 2 threads lose below about 20 us of
// single-core time and win from about 25 us.
constexpr double kMicrosPerThread = 12.0;

double elements(const Value *v) {
  double n = 1;
  for (int64_t d : v->dims()) n *= static_cast<double>(std::max<int64_t>(d, 0));
  return n;
}

double bytes(const Value *v) {
  if (!v || !v->shapeIsStatic() || v->dtype() == DType::Undefined || v->dtype() == DType::String) return 0;
  return elements(v) * static_cast<double>(dtypeSize(v->dtype()));
}

// Multiply-adds of a convolution or matrix product: each output element sums K products.
double multiplyAdds(const Node &n) {
  const std::string &op = n.opType();
  const bool convLike = op == "Conv" || op == "QConv" || op == "CodeConv" || op == "ConvTranspose";
  const bool gemmLike = op == "Gemm" || op == "QGemm" || op == "MatMul";
  if ((!convLike && !gemmLike) || n.inputs().size() < 2 || n.outputs().empty()) return 0;
  const Value *x = n.input(0), *w = n.input(1), *y = n.output(0);
  if (!x || !w || !y || !x->shapeIsStatic() || !w->shapeIsStatic() || !y->shapeIsStatic()) return 0;
  if (op == "MatMul") return x->dims().empty() ? 0 : elements(y) * static_cast<double>(x->dims().back());
  if (op == "ConvTranspose") return elements(x) * elements(w) / std::max<double>(1, x->dims().size() > 1 ? x->dims()[1] : 1);
  // Conv weights [O, I/g, k...] and Gemm weights [K, N] or [N, K]: K is what one output reads.
  const double outChannels = convLike ? (w->dims().empty() ? 1 : w->dims()[0])
                                      : (y->dims().empty() ? 1 : y->dims().back());
  return elements(y) * elements(w) / std::max(1.0, outChannels);
}

}  // namespace

double singleCoreMicros(const Node &n) {
  double moved = 0;
  for (const Value *v : n.inputs())
    if (v && !v->isConstant()) moved += bytes(v);
  for (const Value *v : n.outputs()) moved += bytes(v);
  const bool integer = n.opType() == "QConv" || n.opType() == "QGemm";
  return multiplyAdds(n) / (integer ? kInt8MacsPerMicro : kFloatMacsPerMicro) + moved / kBytesPerMicro;
}

int stepThreads(const Node &n, int maxThreads) {
  const double want = singleCoreMicros(n) / kMicrosPerThread;
  return std::clamp(static_cast<int>(want), 1, std::max(1, maxThreads));
}

}  // namespace lowbit
