// Errors a user can cause (bad model, bad image, bad flag) and internal invariants.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace lowbit {

/// An error caused by bad input. The CLI catches it once, prints `error: <what>` and exits 1.
/// Messages name the file, node or image at fault.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string &what) : std::runtime_error(what) {}
};

/// A flag or setting whose value is malformed (`--granularity group:0`, an unknown observer):
/// bad usage, which the CLI reports with exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string &what) : Error(what) {}
};

/// Concatenates \p parts with operator<< into one string.
template <typename... Parts>
std::string cat(const Parts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

[[noreturn]] inline void checkFailed(const char *cond, const char *file, int line,
                                     const std::string &msg) {
  std::fprintf(stderr, "lowbit: internal error at %s:%d: %s (%s)\n", file, line, msg.c_str(),
               cond);
  std::abort();
}

}  // namespace lowbit

/// Internal invariant: aborts with file:line. Never use it for user input; throw Error instead.
#define LOWBIT_CHECK(cond, msg)                                           \
  do {                                                                    \
    if (!(cond)) ::lowbit::checkFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
