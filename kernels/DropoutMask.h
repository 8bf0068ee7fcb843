// Training-mode Dropout's keep mask. Drawn from MT19937 seeded with the node's seed and read as
// 53-bit doubles in [0, 1): the stream of numpy's legacy RandomState, so a seeded Dropout
// reproduces ONNX's reference (mask = uniform(0, 1) >= ratio).
#pragma once

#include <cstdint>

namespace lowbit {

/// keep[i] = 1 when element i survives dropout with probability 1 - \p ratio.
void dropoutMask(uint32_t seed, float ratio, int64_t n, uint8_t *keep);

}  // namespace lowbit
