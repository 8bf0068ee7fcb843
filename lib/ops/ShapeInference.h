// Output types and shapes of every supported op from its inputs' types and shapes.
#pragma once

#include "ir/Graph.h"

namespace lowbit {

/// Sets dtype and (where the inputs allow) shape of \p n's outputs. Unknown dims (-1) are
/// propagated. Throws Error naming \p n for inconsistent inputs or unsupported attributes.
void inferNodeShapes(Node &n, int64_t opset);

/// Runs inferNodeShapes over \p g in order; with \p skipUnsupported, nodes of unsupported
/// ops are passed over (their outputs keep whatever the model declared).
void inferShapes(Graph &g, bool skipUnsupported = false);

}  // namespace lowbit
