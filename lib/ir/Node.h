// An operation: ONNX op type, attributes, input and output values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/Attribute.h"
#include "ir/Value.h"

namespace lowbit {

class Node {
 public:
  Node(std::string name, std::string opType, std::string domain = "")
      : name_(std::move(name)), opType_(std::move(opType)), domain_(std::move(domain)) {}

  const std::string &name() const { return name_; }
  const std::string &opType() const { return opType_; }
  const std::string &domain() const { return domain_; }
  /// `'name' (OpType)` for messages.
  std::string describe() const;

  /// Inputs in ONNX order; a null entry is an omitted optional input.
  std::vector<Value *> &inputs() { return inputs_; }
  const std::vector<Value *> &inputs() const { return inputs_; }
  std::vector<Value *> &outputs() { return outputs_; }
  const std::vector<Value *> &outputs() const { return outputs_; }
  /// Input \p i or null when absent/omitted.
  Value *input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value *output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }

  std::map<std::string, Attribute> &attrs() { return attrs_; }
  const std::map<std::string, Attribute> &attrs() const { return attrs_; }
  bool hasAttr(const std::string &n) const { return attrs_.count(n) != 0; }
  void setAttr(const std::string &n, Attribute a) { attrs_[n] = std::move(a); }

  /// Typed attribute getters; the default is returned when absent. A present attribute of the
  /// wrong kind throws Error naming the node.
  int64_t attrInt(const std::string &n, int64_t dflt) const;
  float attrFloat(const std::string &n, float dflt) const;
  std::string attrString(const std::string &n, const std::string &dflt) const;
  std::vector<int64_t> attrInts(const std::string &n, std::vector<int64_t> dflt = {}) const;
  std::vector<float> attrFloats(const std::string &n, std::vector<float> dflt = {}) const;

  /// Marks set by FuseResidualAdd: this Conv accumulates into the other input of this Add
  /// (oneDNN sum post-op) and so computes the Add's output.
  Node *fusedAdd = nullptr;
  /// With fusedAdd: the Add's other operand (the shortcut this Conv accumulates into).
  Value *residualOperand() const {
    return fusedAdd->input(0) == output(0) ? fusedAdd->input(1) : fusedAdd->input(0);
  }
  /// Marks set by FuseActivation: this Conv/Gemm also applies this Relu/Clip at run time.
  Node *fusedActivation = nullptr;
  /// Set on the absorbed activation node: the node that computes it.
  Node *fusedInto = nullptr;

 private:
  const Attribute &attrOfKind(const std::string &n, Attribute::Kind k) const;
  std::string name_, opType_, domain_;
  std::vector<Value *> inputs_, outputs_;
  std::map<std::string, Attribute> attrs_;
};

}  // namespace lowbit
