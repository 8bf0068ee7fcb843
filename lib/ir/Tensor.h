// A dense, row-major tensor that owns its bytes: initializers, folded constants, runner I/O.
// STRING tensors hold one std::string per element instead of bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ir/DType.h"
#include "support/Error.h"

namespace lowbit {

using Dims = std::vector<int64_t>;

/// Product of \p dims (1 for a scalar).
int64_t numElements(const Dims &dims);
/// The class count of classifier logits [N, K], or of [N, K, 1, ..., 1] (a head left
/// unflattened, as Caffe2 and some ONNX model zoo files end): the same [N, K] in memory.
/// -1 for any other shape.
int64_t logitClasses(const Dims &dims);
/// Bytes a tensor of \p dims and element size \p elementSize takes; nullopt when a dim is
/// negative or the count overflows (dims a hostile file declares: check before allocating).
std::optional<int64_t> checkedByteSize(const Dims &dims, size_t elementSize);

class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled tensor of \p dtype and \p dims.
  Tensor(DType dtype, Dims dims);

  /// Builds a tensor of \p dims from \p values (sizes must agree).
  template <typename T>
  static Tensor fromVector(const Dims &dims, const std::vector<T> &values) {
    Tensor t(DTypeOf<T>::value, dims);
    LOWBIT_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "fromVector size mismatch");
    if (!values.empty()) std::memcpy(t.bytes_.data(), values.data(), t.bytes_.size());
    return t;
  }
  /// A STRING tensor of \p dims holding \p values.
  static Tensor fromStrings(const Dims &dims, std::vector<std::string> values) {
    Tensor t(DType::String, dims);
    LOWBIT_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "fromStrings size mismatch");
    t.strings_ = std::move(values);
    return t;
  }
  /// A rank-0 tensor holding \p v.
  template <typename T>
  static Tensor scalar(T v) {
    return fromVector<T>({}, {v});
  }

  DType dtype() const { return dtype_; }
  const Dims &dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const { return numElements(dims_); }
  size_t byteSize() const { return bytes_.size(); }

  void *raw() { return bytes_.data(); }
  const void *raw() const { return bytes_.data(); }
  template <typename T>
  T *data() {
    LOWBIT_CHECK(DTypeOf<T>::value == dtype_, "Tensor::data<T> with wrong type");
    return reinterpret_cast<T *>(bytes_.data());
  }
  template <typename T>
  const T *data() const {
    LOWBIT_CHECK(DTypeOf<T>::value == dtype_, "Tensor::data<T> with wrong type");
    return reinterpret_cast<const T *>(bytes_.data());
  }

  /// The elements of a STRING tensor.
  std::vector<std::string> &strings() {
    LOWBIT_CHECK(dtype_ == DType::String, "Tensor::strings of a numeric tensor");
    return strings_;
  }
  const std::vector<std::string> &strings() const {
    LOWBIT_CHECK(dtype_ == DType::String, "Tensor::strings of a numeric tensor");
    return strings_;
  }

  /// Same bytes, new \p dims with the same element count.
  Tensor reshaped(const Dims &dims) const;
  /// Integer contents (Int64, Int32, Int8, UInt8, ...) widened to int64, e.g. shapes and axes.
  std::vector<int64_t> toInt64s() const;
  /// Contents converted to float (any numeric type).
  std::vector<float> toFloats() const;
  /// Bitwise equality of type, dims and bytes (strings for STRING tensors).
  bool operator==(const Tensor &o) const {
    return dtype_ == o.dtype_ && dims_ == o.dims_ && bytes_ == o.bytes_ && strings_ == o.strings_;
  }

 private:
  DType dtype_ = DType::Undefined;
  Dims dims_;
  std::vector<uint8_t> bytes_;
  std::vector<std::string> strings_;  ///< STRING only
};

}  // namespace lowbit
