#include "support/Strings.h"

#include <cctype>
#include <cstdlib>

#include "support/Error.h"

namespace lowbit {

std::vector<std::string> split(const std::string &text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<float> parseFloatList(const std::string &text, const std::string &what) {
  std::vector<float> out;
  for (const std::string &item : split(text, ',')) {
    char *end = nullptr;
    float v = std::strtof(item.c_str(), &end);
    if (item.empty() || *end != '\0')
      throw Error(cat(what, ": '", item, "' is not a number (expected e.g. 0.485,0.456,0.406)"));
    out.push_back(v);
  }
  return out;
}

std::vector<int64_t> parseIntList(const std::string &text, const std::string &what) {
  std::vector<int64_t> out;
  for (const std::string &item : split(text, ',')) {
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0)
      throw Error(cat(what, ": '", item, "' is not a positive integer (expected e.g. 1,64)"));
    out.push_back(v);
  }
  return out;
}

std::string toLower(std::string text) {
  for (char &c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace lowbit
