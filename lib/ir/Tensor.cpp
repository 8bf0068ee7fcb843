#include "ir/Tensor.h"

#include <algorithm>

#include "kernels/Half.h"

#include <limits>
#include <type_traits>
#include "support/Strings.h"

namespace lowbit {

int64_t numElements(const Dims &dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t logitClasses(const Dims &dims) {
  if (dims.size() < 2 || std::any_of(dims.begin() + 2, dims.end(), [](int64_t d) { return d != 1; })) return -1;
  return dims[1];
}

std::optional<int64_t> checkedByteSize(const Dims &dims, size_t elementSize) {
  int64_t n = static_cast<int64_t>(elementSize);
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

Tensor::Tensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  for (int64_t d : dims_) LOWBIT_CHECK(d >= 0, "Tensor with a negative dimension");
  if (!checkedByteSize(dims_, std::max<size_t>(1, dtypeSize(dtype_))))
    throw Error(cat("a tensor of shape ", shapeString(dims_), " has more bytes than 64 bits count"));
  bytes_.assign(static_cast<size_t>(numElements(dims_)) * dtypeSize(dtype_), 0);
  if (dtype_ == DType::String) strings_.resize(static_cast<size_t>(numElements(dims_)));
}

Tensor Tensor::reshaped(const Dims &dims) const {
  LOWBIT_CHECK(numElements(dims) == numel(), "reshaped: element count differs");
  Tensor t = *this;
  t.dims_ = dims;
  return t;
}

namespace {
// A float as an integer type: NaN, infinities and values out of range are errors, not
// undefined behaviour (a shape, axis or code read from a hostile file's float tensor).
template <typename Out, typename In>
Out toNumber(In v) {
  if constexpr (std::is_integral_v<Out> && std::is_floating_point_v<In>) {
    static_assert(std::is_signed_v<Out>, "[min, -min) is the range of a signed integer");
    if (!(v >= static_cast<In>(std::numeric_limits<Out>::min()) && v < -static_cast<In>(std::numeric_limits<Out>::min())))
      throw Error(cat("the value ", v, " does not fit an integer"));
  }
  return static_cast<Out>(v);
}

template <typename Out>
std::vector<Out> convertAll(const Tensor &t) {
  std::vector<Out> out(static_cast<size_t>(t.numel()));
  const void *p = t.raw();
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype()) {
      case DType::Float32: out[i] = toNumber<Out>(static_cast<const float *>(p)[i]); break;
      case DType::Float64: out[i] = toNumber<Out>(static_cast<const double *>(p)[i]); break;
      case DType::Int64: out[i] = static_cast<Out>(static_cast<const int64_t *>(p)[i]); break;
      case DType::Int32: out[i] = static_cast<Out>(static_cast<const int32_t *>(p)[i]); break;
      case DType::Int16: out[i] = static_cast<Out>(static_cast<const int16_t *>(p)[i]); break;
      case DType::Int8: out[i] = static_cast<Out>(static_cast<const int8_t *>(p)[i]); break;
      case DType::UInt8: out[i] = static_cast<Out>(static_cast<const uint8_t *>(p)[i]); break;
      case DType::UInt16: out[i] = static_cast<Out>(static_cast<const uint16_t *>(p)[i]); break;
      case DType::UInt32: out[i] = static_cast<Out>(static_cast<const uint32_t *>(p)[i]); break;
      case DType::UInt64: out[i] = static_cast<Out>(static_cast<const uint64_t *>(p)[i]); break;
      case DType::Bool: out[i] = static_cast<Out>(static_cast<const uint8_t *>(p)[i] != 0); break;
      case DType::Float16:
        out[i] = toNumber<Out>(halfToFloat(static_cast<const uint16_t *>(p)[i]));
        break;
      case DType::BFloat16:
        out[i] = toNumber<Out>(bfloat16ToFloat(static_cast<const uint16_t *>(p)[i]));
        break;
      default: throw Error(cat("cannot convert a ", dtypeName(t.dtype()), " tensor to numbers"));
    }
  }
  return out;
}
}  // namespace

std::vector<int64_t> Tensor::toInt64s() const { return convertAll<int64_t>(*this); }
std::vector<float> Tensor::toFloats() const { return convertAll<float>(*this); }

}  // namespace lowbit
