// Whole-file reads and all-or-nothing writes.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

/// Reads the whole file at \p path. Throws Error naming the path if it is missing, unreadable
/// or not a regular file (a FIFO or a device would block or never end).
std::string readFile(const std::string &path);

/// The outputs of one command, all or nothing. Each path is checked when it is added, before
/// the work starts: its folder exists and is writable, it is not a folder, not one of the
/// command's inputs (even under another name) and not another output. write() puts the bytes
/// in a temporary created exclusively beside the target (mkstemp: a name nobody can plant a
/// link at), synced to disk; commit() renames every temporary into place, so a failure before
/// commit leaves every existing output as it was. Temporaries not committed are removed.
class OutputFiles {
 public:
  OutputFiles() = default;
  OutputFiles(const OutputFiles &) = delete;
  OutputFiles &operator=(const OutputFiles &) = delete;
  ~OutputFiles();

  /// Registers \p path; \p inputs are the files the command reads. Throws Error naming \p path.
  void add(const std::string &path, const std::vector<std::string> &inputs = {});
  /// Writes \p bytes for \p path (added before) to a new temporary. Throws Error naming \p path.
  void write(const std::string &path, const std::string &bytes);
  /// Renames every written temporary into place, in the order added.
  void commit();

 private:
  struct Entry {
    std::string path, tmp;
  };
  std::vector<Entry> entries_;
};

/// One output written through OutputFiles: checked, written to an exclusive temporary, renamed.
void writeFileAtomic(const std::string &path, const std::string &bytes);

/// \returns the folder part of \p path ("." if there is none).
std::string parentDir(const std::string &path);

}  // namespace lowbit
