#include "kernels/DropoutMask.h"

#include <random>

namespace lowbit {

void dropoutMask(uint32_t seed, float ratio, int64_t n, uint8_t *keep) {
  std::mt19937 gen(seed);  // init_genrand, as numpy seeds from an integer
  for (int64_t i = 0; i < n; ++i) {
    // numpy's random_sample: 27 + 26 high bits of two draws.
    const uint32_t a = gen() >> 5, b = gen() >> 6;
    const double u = (a * 67108864.0 + b) / 9007199254740992.0;
    keep[i] = u >= static_cast<double>(ratio);
  }
}

}  // namespace lowbit
