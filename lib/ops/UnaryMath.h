// Elementwise one-input ops as math: each op's value and derivative in one row. The reference
// evaluator (constant folding), the float runner's host kernel for ops oneDNN has no algorithm
// for, and the training engine's UnaryLayer all read these rows, so an activation's definition
// has one home.
#pragma once

#include <string>

#include "ir/Node.h"

namespace lowbit {

/// An op's attributes with the ONNX defaults filled in (alpha, beta, gamma as each op names them).
struct UnaryParams {
  float alpha = 0.f, beta = 0.f, gamma = 0.f;
};

struct UnaryMath {
  const char *opType;
  float (*value)(float x, const UnaryParams &p);
  /// dy/dx at x, given y = value(x) (some slopes are cheapest from y).
  float (*slope)(float x, float y, const UnaryParams &p);
  UnaryParams (*params)(const Node &n);
};

/// The row of \p opType, or null when it is not an elementwise one-input op of this table.
const UnaryMath *findUnaryMath(const std::string &opType);

}  // namespace lowbit
