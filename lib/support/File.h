// Whole-file reads and all-or-nothing writes.
#pragma once

#include <string>

namespace lowbit {

/// Reads the whole file at \p path. Throws Error naming the path if it is missing or unreadable.
std::string readFile(const std::string &path);

/// Writes \p bytes to \p path through a temporary file in the same folder and a rename, so a
/// failure never leaves a half-written output. Throws Error naming the path.
void writeFileAtomic(const std::string &path, const std::string &bytes);

/// \returns the folder part of \p path ("." if there is none).
std::string parentDir(const std::string &path);

}  // namespace lowbit
