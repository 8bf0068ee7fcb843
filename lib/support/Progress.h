// Progress lines on stderr for long work (images done, rate, ETA).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lowbit {

/// Reports progress of \p total units of work on stderr. On a terminal the line is redrawn in
/// place; otherwise (CI logs) a line is printed at most every few seconds.
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "images");
  /// Adds \p n finished units and prints if due.
  void advance(int64_t n);
  /// Prints the final line (total time and rate).
  void finish();
  /// Text appended to each line (e.g. "loss 0.0123").
  void setNote(std::string note) { note_ = std::move(note); }
  /// Seconds since construction.
  double elapsedSeconds() const;

 private:
  void print(bool final);
  std::string label_, unit_, note_;
  int64_t total_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, lastPrint_;
};

}  // namespace lowbit
