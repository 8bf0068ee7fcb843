// This CPU as an integer lowering target: the one place lowbit asks oneDNN which ISA it runs.
#pragma once

#include "passes/IntegerTarget.h"

namespace lowbit {

/// Whether this CPU's int8 kernels multiply full-range u8 codes exactly (VNNI, AMX); without
/// it oneDNN's vpmaddubsw pair sums saturate, so u8 codes around a zero point need |w| <= 64.
bool fullRangeU8IsExact();

/// This CPU (oneDNN's effective ISA) as the target of LowerToInteger in \p mode.
inline IntegerTarget hostIntegerTarget(IntegerMode mode) { return {mode, fullRangeU8IsExact()}; }

}  // namespace lowbit
