// A stable 64-bit hash (FNV-1a) for stamping artifacts with the model they were made from.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace lowbit {

inline uint64_t fnv1a64(const std::string &bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

/// `0x` followed by 16 hex digits.
inline std::string hashString(uint64_t h) {
  char buf[19];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace lowbit
