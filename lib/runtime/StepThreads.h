// How many threads a plan step gets. Every parallel region costs a fork and a join (about
// 3 us per empty region on the 2-vCPU machine of docs/RESULTS.md, several times that for a
// oneDNN primitive's barriers), so layers a single core finishes in a few microseconds run
// faster on one thread: at batch 1 most steps of a CIFAR ShuffleNet are such layers.
#pragma once

#include <omp.h>

#include "ir/Node.h"

namespace lowbit {

/// Estimated time one core takes for \p n (static shapes), in microseconds: its multiply-adds
/// at a float or int8 rate plus the bytes it reads and writes at a memory rate.
double singleCoreMicros(const Node &n);

/// Threads for the steps of \p n: one per kMicrosPerThread of estimated single-core work,
/// at least 1 and at most \p maxThreads. Depends only on shapes, so a plan is reproducible.
int stepThreads(const Node &n, int maxThreads);

// Sets OpenMP's thread count for what follows and restores the caller's on the way out
// (errors included): steps are built for and run on their own counts (stepThreads). Constructed
// with the count in effect.
class ThreadCount {
 public:
  explicit ThreadCount(int restore) : restore_(restore), current_(restore) {}
  ~ThreadCount() { set(restore_); }
  ThreadCount(const ThreadCount &) = delete;
  ThreadCount &operator=(const ThreadCount &) = delete;
  void set(int threads) {
    if (threads != current_) omp_set_num_threads(threads);
    current_ = threads;
  }

 private:
  int restore_, current_;
};

}  // namespace lowbit
