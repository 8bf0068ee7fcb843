// Structural checks of a graph, run after import and (in debug or --verify-each) every pass.
#pragma once

#include "ir/Graph.h"

namespace lowbit {

/// Checks that node and value names are unique, every input is defined before it is read,
/// every output has one producer and graph outputs are computed. Throws Error naming the
/// first offending node or value.
void verifyGraph(const Graph &g);

}  // namespace lowbit
