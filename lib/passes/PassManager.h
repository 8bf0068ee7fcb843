// Runs an ordered list of passes, verifying and dumping between them as asked.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "passes/Pass.h"

namespace lowbit {

/// The float preparation pipeline every command runs after import.
const std::vector<std::string> &floatPreparePipeline();

/// Specialises \p g, whose graph inputs now carry static shapes, to those shapes: Dropout masks
/// that drop nothing become constants, shapes are inferred and shape chains fold
/// (ConstantFolding). The runner plans and the training engine's networks start from this, so
/// both see the same graph.
void specializeShapes(Graph &g);
/// A copy of \p g specialised (specializeShapes) to inputs of dims \p inputDims, one per input.
/// \p anyBatch: a static first dim of an input may differ (training runs its own batch size on
/// models exported with a fixed one); a shape constant that bakes the old batch in then fails
/// shape inference naming its node.
std::unique_ptr<Graph> specializedClone(const Graph &g, const std::vector<Dims> &inputDims, bool anyBatch = false);

/// Runs \p passNames on \p g in order. \returns the names of the passes that changed \p g.
std::vector<std::string> runPasses(Graph &g, const std::vector<std::string> &passNames,
                                   const PassContext &ctx = {});

/// Writes a readable listing of \p g (one line per node with shapes) to a string.
std::string dumpGraph(const Graph &g);

}  // namespace lowbit
