// Structural checks of a graph, run after import and (in debug or --verify-each) every pass.
#pragma once

#include "ir/Graph.h"

namespace lowbit {

/// Checks that node and value names are unique, every input is defined before it is read,
/// every output has one producer and graph outputs are computed. Throws Error naming the
/// first offending node or value.
/// Also checks every QuantParams: a state other than Unset; FloatOnly without scales;
/// Calibrated and Frozen with 2..8 bits, one zero point per scale, finite positive scales, one
/// scale per tensor or one per channel along an axis inside the tensor's rank (group-wise: each
/// channel's group below G).
void verifyGraph(const Graph &g);

}  // namespace lowbit
