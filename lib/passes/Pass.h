// A graph-to-graph transformation with a stated contract, run by the PassManager.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Graph.h"
#include "passes/IntegerTarget.h"

namespace lowbit {

/// Options every pass can read.
struct PassContext {
  bool verifyEach = false;     ///< run verifyGraph after every pass (always on in debug builds)
  bool verbose = false;        ///< print one line per pass to stderr
  std::string dumpAfter;       ///< pass name after which to print the graph to stderr
  /// The machine LowerToInteger lowers for; unset, that pass refuses to run.
  std::optional<IntegerTarget> integerTarget;
  /// Where LowerToInteger appends one decision per Conv/Gemm/MatMul (may be null).
  std::vector<LoweringDecision> *loweringDecisions = nullptr;
};

class Pass {
 public:
  virtual ~Pass() = default;
  /// The pass name as written in Passes.def, logs and --dump-after.
  virtual std::string_view name() const = 0;
  /// Runs on \p g. \returns true if \p g changed. Throws Error on bad input.
  virtual bool run(Graph &g, const PassContext &ctx) = 0;
};

/// Creates the pass called \p name; throws Error listing the known names if there is none.
std::unique_ptr<Pass> createPass(const std::string &name);
/// Names of all passes, in Passes.def order.
std::vector<std::string> allPassNames();

}  // namespace lowbit
