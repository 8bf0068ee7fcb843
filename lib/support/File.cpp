#include "support/File.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "support/Error.h"

namespace lowbit {

std::string readFile(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(cat(path, ": no such file"));
  if (std::filesystem::is_directory(path, ec))
    throw Error(cat(path, ": is a folder, expected a file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(cat(path, ": cannot open (", std::strerror(errno), ")"));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(cat(path, ": read failed"));
  return bytes;
}

void writeFileAtomic(const std::string &path, const std::string &bytes) {
  std::string tmp = cat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(cat(path, ": cannot write (", std::strerror(errno), ")"));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(cat(path, ": write failed (disk full?)"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw Error(cat(path, ": cannot rename temporary file into place (", std::strerror(err), ")"));
  }
}

std::string parentDir(const std::string &path) {
  std::filesystem::path p(path);
  std::string dir = p.parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace lowbit
