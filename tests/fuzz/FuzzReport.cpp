// JSON bytes -> the quantize command as a user runs it, through the CLI's own parsing: the first
// byte picks a recipe (`--recipe`, stopped before any work by an output folder that does not
// exist) or an earlier report (`--calib-from`: its activation ranges quantize and export the
// small test model). Exit 1 or 2 is a refusal; exit 3 (an internal error) is a finding.
// Seeds: a recipe and a report of tests/data/good/tiny_convnet.onnx (scripts/fuzz.sh).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "Commands.h"
#include "FuzzSupport.h"

namespace {

// Runs the CLI with stdout and stderr silenced (LOWBIT_FUZZ_VERBOSE=1 keeps them).
int runQuietly(std::vector<std::string> args) {
  static const bool verbose = std::getenv("LOWBIT_FUZZ_VERBOSE") != nullptr;
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  int saved[2] = {-1, -1};
  if (!verbose) {
    std::fflush(nullptr);
    const int devnull = ::open("/dev/null", O_WRONLY);
    for (int fd : {1, 2}) {
      saved[fd - 1] = ::dup(fd);
      ::dup2(devnull, fd);
    }
    ::close(devnull);
  }
  const int rc = lowbit::runCli(static_cast<int>(argv.size()), argv.data());
  if (!verbose) {
    std::fflush(nullptr);
    for (int fd : {1, 2}) {
      ::dup2(saved[fd - 1], fd);
      ::close(saved[fd - 1]);
    }
  }
  return rc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const std::string dir = [] {
    char tmpl[] = "/tmp/lowbit-fuzz-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  const std::string json = dir + "/in.json", model = LOWBIT_SOURCE_DIR "/tests/data/good/tiny_convnet.onnx";
  std::ofstream(json, std::ios::binary | std::ios::trunc) << lowbit::fuzz::bytesOf(data + 1, size - 1);
  std::vector<std::string> args = {"lowbit", "quantize", model};
  if (data[0] & 1)
    args.insert(args.end(), {"--recipe", json, "--calib", LOWBIT_SOURCE_DIR "/tests/data/good", "--size", "8", "-o",
                             dir + "/no-such-folder/out.onnx"});
  else
    args.insert(args.end(), {"--calib-from", json, "-o", dir + "/out.onnx", "--report", dir + "/out.json"});
  const int rc = runQuietly(args);
  if (rc == 3) {
    std::fprintf(stderr, "lowbit exited 3 (internal error) on this input; rerun with LOWBIT_FUZZ_VERBOSE=1\n");
    std::abort();
  }
  return 0;
}
