// Runs an ordered list of passes, verifying and dumping between them as asked.
#pragma once

#include <string>
#include <vector>

#include "passes/Pass.h"

namespace lowbit {

/// The float preparation pipeline every command runs after import.
const std::vector<std::string> &floatPreparePipeline();

/// Runs \p passNames on \p g in order. \returns the names of the passes that changed \p g.
std::vector<std::string> runPasses(Graph &g, const std::vector<std::string> &passNames,
                                   const PassContext &ctx = {});

/// Writes a readable listing of \p g (one line per node with shapes) to a string.
std::string dumpGraph(const Graph &g);

}  // namespace lowbit
