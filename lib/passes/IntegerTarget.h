// What integer lowering is told about the machine that will run the graph, and what it reports
// back per layer. The passes never ask the CPU; runtime/HostTarget.h asks oneDNN for this one.
#pragma once

#include <string>

namespace lowbit {

/// Static: calibrated activation scales, codes between layers. Dynamic: float activations
/// quantized per batch at each integer layer.
enum class IntegerMode { Static, Dynamic };

/// The machine the lowered graph will run on, as far as lowering decisions go.
struct IntegerTarget {
  IntegerMode mode = IntegerMode::Static;
  bool fullRangeU8 = true;  ///< full-range u8 codes multiply exactly (VNNI, AMX)
};

/// How one Conv/Gemm/MatMul of the float model runs after lowering.
struct LoweringDecision {
  std::string node;    ///< the original node name
  std::string opType;  ///< original op type
  bool integer = false;
  std::string detail;  ///< integer: "u8 in, u8 out (+residual, relu)"; float: the reason
};

}  // namespace lowbit
