#include "runtime/StepThreads.h"

#include <algorithm>

#include "ir/DType.h"
#include "ops/OpParams.h"

namespace lowbit {

namespace {

// Single-core rates of oneDNN's kernels on AVX-512 (docs/RESULTS.md, "Threads per step"):
// multiply-adds per microsecond for float and for int8 (VNNI) convolutions and products,
// and bytes per microsecond that copies, pools and element-wise steps move.
constexpr double kFloatMacsPerMicro = 40e3;
constexpr double kInt8MacsPerMicro = 120e3;
constexpr double kBytesPerMicro = 20e3;
// Elements per microsecond that quantize, dequantize and rescale steps convert (a divide, a
// rounding and a clamp each, 4 to a vector in the baseline build): 8-bit codes in and out move
// few bytes for the work they do (49k codes rescaled: 120 us on one core).
constexpr double kConvertedPerMicro = 500.0;
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

// Multiply-adds of a convolution or matrix product (multiplyAccumulates); a transposed
// convolution multiplies each input element by its C_out / groups x kernel weights.
double multiplyAdds(const Node &n) {
  if (n.opType() != "ConvTranspose") return static_cast<double>(multiplyAccumulates(n));
  const Value *x = n.input(0), *w = n.inputs().size() > 1 ? n.input(1) : nullptr;
  if (!x || !w || !x->shapeIsStatic() || !w->shapeIsStatic() || x->dims().size() < 2 || w->dims().empty()) return 0;
  return elements(x) * elements(w) / std::max<double>(1, static_cast<double>(w->dims()[0]));
}

}  // namespace

double singleCoreMicros(const Node &n) {
  double moved = 0;
  for (const Value *v : n.inputs())
    if (v && !v->isConstant()) moved += bytes(v);
  for (const Value *v : n.outputs()) moved += bytes(v);
  const std::string &op = n.opType();
  const bool integer = op == "QConv" || op == "QGemm";
  // A QRescale of one operand is a table lookup (buildQRescale): bytes moved, nothing converted.
  const bool converts = (op == "QRescale" && n.inputs().size() > 1) || op == "QuantizeLinear" || op == "DequantizeLinear";
  const double converted = converts && !n.outputs().empty() && n.output(0) && n.output(0)->shapeIsStatic()
                               ? elements(n.output(0)) / kConvertedPerMicro
                               : 0.0;
  return multiplyAdds(n) / (integer ? kInt8MacsPerMicro : kFloatMacsPerMicro) + moved / kBytesPerMicro + converted;
}

int stepThreads(const Node &n, int maxThreads) {
  const double want = singleCoreMicros(n) / kMicrosPerThread;
  return std::clamp(static_cast<int>(want), 1, std::max(1, maxThreads));
}

}  // namespace lowbit
