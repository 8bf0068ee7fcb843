// A node attribute: one of the ONNX attribute kinds lowbit accepts (no subgraphs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/Tensor.h"

namespace lowbit {

struct Attribute {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, TensorValue };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0.f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  std::shared_ptr<const Tensor> tensor;

  static Attribute ofInt(int64_t v) { Attribute a; a.kind = Kind::Int; a.i = v; return a; }
  static Attribute ofFloat(float v) { Attribute a; a.kind = Kind::Float; a.f = v; return a; }
  static Attribute ofString(std::string v) {
    Attribute a; a.kind = Kind::String; a.s = std::move(v); return a;
  }
  static Attribute ofInts(std::vector<int64_t> v) {
    Attribute a; a.kind = Kind::Ints; a.ints = std::move(v); return a;
  }
  static Attribute ofFloats(std::vector<float> v) {
    Attribute a; a.kind = Kind::Floats; a.floats = std::move(v); return a;
  }
  static Attribute ofTensor(Tensor t) {
    Attribute a; a.kind = Kind::TensorValue; a.tensor = std::make_shared<const Tensor>(std::move(t));
    return a;
  }
};

}  // namespace lowbit
