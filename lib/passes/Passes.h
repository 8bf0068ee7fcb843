// Factory declarations for every pass in Passes.def.
#pragma once

#include "passes/Pass.h"

namespace lowbit {
#define LOWBIT_PASS(Name) std::unique_ptr<Pass> create##Name();
#include "passes/Passes.def"
#undef LOWBIT_PASS
}  // namespace lowbit
