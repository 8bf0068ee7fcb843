// What the running CPU offers beyond the baseline build, for the few kernels that carry a
// hand-vectorized path beside their plain loop (which stays the reference they are tested
// against). Intrinsics live in functions marked with the matching target attribute.
#pragma once

// x86-64 with GCC or Clang: target attributes, __builtin_cpu_supports and the intrinsics.
#if defined(__x86_64__) && defined(__GNUC__)
#define LOWBIT_X86_TARGETS 1
#include <immintrin.h>
#endif

namespace lowbit {

/// AVX-512 BW and VBMI: byte permutes across a whole register (vpermt2b), Ice Lake and later.
inline bool hostHasAvx512Vbmi() {
#ifdef LOWBIT_X86_TARGETS
  static const bool has = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
  return has;
#else
  return false;
#endif
}

}  // namespace lowbit
