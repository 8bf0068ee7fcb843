// What the running CPU offers beyond the baseline build, for the few kernels that carry a
// hand-vectorized path beside their plain loop (which stays the reference they are tested
// against). Intrinsics live in functions marked with the matching target attribute.
#pragma once

namespace lowbit {

/// AVX-512 BW and VBMI: byte permutes across a whole register (vpermt2b), Ice Lake and later.
inline bool hostHasAvx512Vbmi() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw");
  return has;
#else
  return false;
#endif
}

}  // namespace lowbit
