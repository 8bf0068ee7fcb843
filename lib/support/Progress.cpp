#include "support/Progress.h"

#include <cstdio>
#include <unistd.h>

namespace lowbit {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()),
      lastPrint_(start_) {}

double Progress::elapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double sinceLast = std::chrono::duration<double>(now - lastPrint_).count();
  if ((tty_ && sinceLast > 0.2) || (!tty_ && sinceLast > 5.0)) {
    lastPrint_ = now;
    print(false);
  }
}

void Progress::finish() { print(true); }

void Progress::print(bool final) {
  double secs = elapsedSeconds();
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  if (final) {
    std::fprintf(stderr, "%s%s: %lld %s in %.1f s (%.0f %s/s)%s%s\n", tty_ ? "\r\033[K" : "",
                 label_.c_str(), static_cast<long long>(done_), unit_.c_str(), secs, rate,
                 unit_.c_str(), note_.empty() ? "" : ", ", note_.c_str());
    return;
  }
  double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  std::fprintf(stderr, "%s%s: %lld/%lld %s, %.0f %s/s, ETA %.0f s%s%s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
               unit_.c_str(), rate, unit_.c_str(), eta, note_.empty() ? "" : ", ", note_.c_str(),
               tty_ ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace lowbit
