// QOperator models (the ONNX model zoo's int8 classifiers, ONNX Runtime's QOperator quantizer
// output): each QLinear*/ *Integer op is imported as the DequantizeLinear -> float op ->
// QuantizeLinear it is defined as, so every pass, both runners and the exporter see the QDQ
// form lowbit already runs, and `lowbit convert` writes it out as QDQ.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace lowbit {

/// True if the importer reads \p opType of \p domain ("" or "com.microsoft") as QDQ.
bool isImportedAsQdq(const std::string &opType, const std::string &domain);
/// The float op such an op computes between its DequantizeLinear and QuantizeLinear ("Conv"
/// for QLinearConv), or "" when \p opType is not one.
std::string floatOpOf(const std::string &opType, const std::string &domain);
/// How such an op is read, e.g. "DequantizeLinear -> Conv -> QuantizeLinear"; "" if not one.
std::string qdqFormOf(const std::string &opType, const std::string &domain);
/// Those ops, as "QLinearConv" or "com.microsoft.QLinearAdd", sorted.
std::vector<std::string> opsImportedAsQdq();
/// Replaces every such node of \p g by its QDQ form (the node's name prefixes the new nodes').
/// Throws Error naming the node for forms lowbit does not read (channels_last, missing inputs).
void expandQOperators(Graph &g);

}  // namespace lowbit
