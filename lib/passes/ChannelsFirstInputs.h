// The inverse of the ChannelsFirstInputs pass, for export: the model's interface is the file's.
#pragma once

#include "ir/Graph.h"

namespace lowbit {

/// Gives each input of Graph::channelsLastInputs back its stored [N, H, W, C] form under its
/// name, read by a Transpose(0, 3, 1, 2) into what the graph reads; clears the list.
void restoreChannelsLastInputs(Graph &g);

}  // namespace lowbit
