#include "support/File.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "support/Error.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

// Calls \p io(offset) (one read or write of the rest) until \p size bytes have moved, an error or
// the end of the file; \returns the bytes moved (errno tells why when short).
template <typename Io>
size_t transferAll(size_t size, Io io) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = io(done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

// The same file: one inode under two names, or one path spelled two ways.
bool sameFile(const std::string &a, const std::string &b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace

std::string readFile(const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(cat(path, ": no such file"));
    throw Error(cat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  if (S_ISDIR(st.st_mode)) throw Error(cat(path, ": is a folder, expected a file"));
  if (!S_ISREG(st.st_mode)) throw Error(cat(path, ": is not a regular file (a FIFO, device or socket)"));
  // O_NONBLOCK: a file swapped for a FIFO after the stat still cannot block the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(cat(path, ": cannot open (", std::strerror(errno), ")"));
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode)) {
    ::close(fd);
    throw Error(cat(path, ": is not a regular file (a FIFO, device or socket)"));
  }
  // Reads the size the file has now, no more: a file that grows while read cannot run away.
  std::string bytes(static_cast<size_t>(opened.st_size), '\0');
  const size_t done =
      transferAll(bytes.size(), [&](size_t at) { return ::read(fd, bytes.data() + at, bytes.size() - at); });
  const int err = errno;
  ::close(fd);
  if (done != bytes.size())
    throw Error(cat(path, ": read failed after ", done, " of ", bytes.size(), " bytes (", std::strerror(err), ")"));
  return bytes;
}

OutputFiles::~OutputFiles() {
  for (const Entry &e : entries_)
    if (!e.tmp.empty()) std::remove(e.tmp.c_str());
}

void OutputFiles::add(const std::string &path, const std::vector<std::string> &inputs) {
  if (path.empty()) throw Error("an output path is empty");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(cat(path, ": is a folder; give a file name for the output"));
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))
    throw Error(cat(path, ": exists and is not a regular file; refusing to replace it"));
  for (const std::string &in : inputs)
    if (!in.empty() && sameFile(path, in))
      throw Error(cat(path, ": is also an input ('", in, "'); write the output to another file"));
  for (const Entry &e : entries_)
    if (sameFile(path, e.path)) throw Error(cat(path, ": is given for two outputs"));
  const std::string dir = parentDir(path);
  if (!fs::is_directory(dir, ec)) throw Error(cat(path, ": folder '", dir, "' does not exist"));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error(cat(path, ": folder '", dir, "' is not writable (", std::strerror(errno), ")"));
  entries_.push_back({path, ""});
}

void OutputFiles::write(const std::string &path, const std::string &bytes) {
  Entry *entry = nullptr;
  for (Entry &e : entries_)
    if (e.path == path) entry = &e;
  if (!entry) throw Error(cat(path, ": written before it was checked as an output"));
  if (!entry->tmp.empty()) std::remove(entry->tmp.c_str());
  std::string name = fs::path(path).filename().string();
  std::string tmpl = (fs::path(parentDir(path)) / ("." + name + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());  // O_CREAT | O_EXCL with a random name, mode 0600
  if (fd < 0) throw Error(cat(path, ": cannot create a temporary file (", std::strerror(errno), ")"));
  entry->tmp = tmpl;
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);  // the permissions an ordinary create would give
  const size_t done =
      transferAll(bytes.size(), [&](size_t at) { return ::write(fd, bytes.data() + at, bytes.size() - at); });
  const bool ok = done == bytes.size() && ::fsync(fd) == 0;
  const int err = errno;
  if (::close(fd) != 0 || !ok) {
    std::remove(entry->tmp.c_str());
    entry->tmp.clear();
    throw Error(cat(path, ": write failed (", std::strerror(err), ")"));
  }
}

void OutputFiles::commit() {
  for (Entry &e : entries_) {
    if (e.tmp.empty()) continue;
    if (std::rename(e.tmp.c_str(), e.path.c_str()) != 0) {
      const int err = errno;
      throw Error(cat(e.path, ": cannot rename the temporary file into place (", std::strerror(err), ")"));
    }
    e.tmp.clear();
  }
}

void writeFileAtomic(const std::string &path, const std::string &bytes) {
  OutputFiles out;
  out.add(path);
  out.write(path, bytes);
  out.commit();
}

std::string parentDir(const std::string &path) {
  fs::path p(path);
  std::string dir = p.parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace lowbit
