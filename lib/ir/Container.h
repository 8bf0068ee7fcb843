// ONNX's value types other than tensors: sequence(T) and optional(T), nested, and their run-time
// values. lowbit computes tensors; these values only pass through a graph (Identity), so a
// Value carries the type for import and export and the runner hands the values on as they are.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/Tensor.h"

namespace lowbit {

struct ContainerType {
  enum class Kind { Sequence, Optional };
  Kind kind = Kind::Sequence;
  /// The element type: a nested container, or (null) a tensor of elemType, of elemDims if known.
  std::shared_ptr<const ContainerType> inner;
  DType elemType = DType::Undefined;
  std::optional<Dims> elemDims;

  /// "sequence(tensor(FLOAT))", "optional(sequence(tensor(FLOAT)))".
  std::string describe() const {
    const std::string element = inner ? inner->describe() : "tensor(" + dtypeName(elemType) + ")";
    return (kind == Kind::Sequence ? "sequence(" : "optional(") + element + ")";
  }
};

/// A run-time value of a ContainerType: a sequence holds any number of elements, an optional
/// none or one. The elements are tensors, or nested containers when the type's inner is set.
struct Container {
  ContainerType::Kind kind = ContainerType::Kind::Sequence;
  std::vector<Tensor> tensors;
  std::vector<Container> containers;
  bool operator==(const Container &o) const {
    return kind == o.kind && tensors == o.tensors && containers == o.containers;
  }
};

}  // namespace lowbit
