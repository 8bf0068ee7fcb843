// What every fuzz target shares: bad input must end in lowbit::Error (the CLI's exit 1). Any
// other exception escapes to libFuzzer, which reports it as a crash and keeps the input, as it
// does for sanitizer reports, timeouts (-timeout) and allocations past -malloc_limit_mb.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "support/Error.h"

namespace lowbit::fuzz {

inline std::string bytesOf(const uint8_t *data, size_t size) { return std::string(reinterpret_cast<const char *>(data), size); }

/// Runs \p work; lowbit::Error (a stated error about the input) is the expected way to refuse.
/// LOWBIT_FUZZ_VERBOSE=1 prints the refusals (to check that seeds get far).
template <typename Work>
void refusesWithError(Work work) {
  try {
    work();
  } catch (const Error &e) {
    static const bool verbose = std::getenv("LOWBIT_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
  }
}

/// One input per graph input at the shapes a user would feed: dynamic dims become 1 (batch) or
/// 8, float inputs are filled with a ramp, others with zeros.
std::vector<Tensor> inputsFor(const Graph &g);

/// Multiply-adds (roughly: output elements times the weights behind each) of \p g specialised
/// to \p inputs; a mutated model may declare a layer that takes minutes, which is a valid model,
/// not a fault, so past a budget the targets prepare it but neither plan nor run it.
double estimatedWork(const Graph &g, const std::vector<Tensor> &inputs);

/// Prepares (floatPreparePipeline) \p g and, within the budget, plans and runs it on the float runner
/// or, with \p integer, lowered to integers (static and dynamic activation scales).
void prepareAndRun(Graph &g, bool integer);

}  // namespace lowbit::fuzz
