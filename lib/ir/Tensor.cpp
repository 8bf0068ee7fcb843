#include "ir/Tensor.h"

#include "kernels/Half.h"

namespace lowbit {

int64_t numElements(const Dims &dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

Tensor::Tensor(DType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  for (int64_t d : dims_) LOWBIT_CHECK(d >= 0, "Tensor with a negative dimension");
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
template <typename Out>
std::vector<Out> convertAll(const Tensor &t) {
  std::vector<Out> out(static_cast<size_t>(t.numel()));
  const void *p = t.raw();
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype()) {
      case DType::Float32: out[i] = static_cast<Out>(static_cast<const float *>(p)[i]); break;
      case DType::Float64: out[i] = static_cast<Out>(static_cast<const double *>(p)[i]); break;
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
        out[i] = static_cast<Out>(halfToFloat(static_cast<const uint16_t *>(p)[i]));
        break;
      case DType::BFloat16:
        out[i] = static_cast<Out>(bfloat16ToFloat(static_cast<const uint16_t *>(p)[i]));
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
