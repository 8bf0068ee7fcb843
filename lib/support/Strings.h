// Small string helpers shared by messages and reports.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace lowbit {

/// Joins \p items with \p sep using operator<<.
template <typename Container>
std::string join(const Container &items, const std::string &sep) {
  std::ostringstream os;
  bool first = true;
  for (const auto &item : items) {
    if (!first) os << sep;
    os << item;
    first = false;
  }
  return os.str();
}

/// Formats a shape as `[1,3,32,32]`, with `?` for unknown (negative) dims.
inline std::string shapeString(const std::vector<int64_t> &dims) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) os << ',';
    if (dims[i] < 0)
      os << '?';
    else
      os << dims[i];
  }
  os << ']';
  return os.str();
}

/// Splits \p text at \p sep; empty pieces are kept.
std::vector<std::string> split(const std::string &text, char sep);

/// Parses a comma-separated list of floats such as `0.485,0.456,0.406`.
/// Throws Error naming \p what on a malformed item.
std::vector<float> parseFloatList(const std::string &text, const std::string &what);

/// Parses a comma-separated list of positive integers such as `1,64`.
std::vector<int64_t> parseIntList(const std::string &text, const std::string &what);

/// Lower-cases ASCII letters.
std::string toLower(std::string text);

}  // namespace lowbit
