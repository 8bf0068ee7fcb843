// An edge of the graph: a named tensor with type, shape, optional constant data and, once
// quantization has run, its quantization parameters. Values of sequence or optional type carry
// a ContainerType instead of dtype and shape.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/Container.h"
#include "ir/QuantParams.h"
#include "ir/Tensor.h"

namespace lowbit {

class Node;

class Value {
 public:
  explicit Value(std::string name) : name_(std::move(name)) {}

  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  DType dtype() const { return dtype_; }
  void setDType(DType t) { dtype_ = t; }

  /// True when the rank is known. Individual dims may still be unknown (-1).
  bool hasShape() const { return hasShape_; }
  /// Dims; -1 marks an unknown (e.g. dynamic batch) dim. Only meaningful if hasShape().
  const Dims &dims() const { return dims_; }
  void setShape(Dims dims) { dims_ = std::move(dims); hasShape_ = true; }
  void clearShape() { dims_.clear(); hasShape_ = false; }
  /// True when the rank and every dim are known.
  bool shapeIsStatic() const {
    if (!hasShape_) return false;
    for (int64_t d : dims_) if (d < 0) return false;
    return true;
  }
  /// Symbolic names of dims (ONNX dim_param, e.g. "batch"); empty strings where none.
  const std::vector<std::string> &dimNames() const { return dimNames_; }
  void setDimNames(std::vector<std::string> names) { dimNames_ = std::move(names); }

  /// Constant data (initializer or folded result); null for runtime values.
  const std::shared_ptr<const Tensor> &constant() const { return constant_; }
  bool isConstant() const { return constant_ != nullptr; }
  /// Makes this value a constant holding \p t; type and shape follow \p t.
  void setConstant(std::shared_ptr<const Tensor> t) {
    constant_ = std::move(t);
    if (constant_) { dtype_ = constant_->dtype(); setShape(constant_->dims()); }
  }

  /// The node that computes this value; null for graph inputs and constants.
  Node *producer() const { return producer_; }
  void setProducer(Node *n) { producer_ = n; }

  /// How this value is (to be) quantized: set by the quantization passes on float weights and
  /// activations (and on the codes InsertQDQ writes), read by the passes after them.
  std::optional<QuantParams> quant;
  /// Set on a value that holds integer codes when the int8 runner executes the graph (made by
  /// LowerToInteger): the scale and zero point the codes stand for, in their container type.
  std::optional<QuantParams> codes;
  /// Set for a sequence or optional value (dtype and shape then stay unset).
  std::shared_ptr<const ContainerType> container;

 private:
  std::string name_;
  DType dtype_ = DType::Undefined;
  bool hasShape_ = false;
  Dims dims_;
  std::vector<std::string> dimNames_;
  std::shared_ptr<const Tensor> constant_;
  Node *producer_ = nullptr;
};

}  // namespace lowbit
