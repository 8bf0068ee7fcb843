// `lowbit inspect`: what a model is made of, what it costs and what lowbit cannot run yet.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace lowbit {

/// Facts about the model at \p path: inputs/outputs, op counts, parameters, per-layer FLOPs
/// at batch 1 (after float preparation), unsupported ops. Throws Error for unreadable files.
nlohmann::json inspectModel(const std::string &path);

/// Every supported op with what runs it: {"op", "float" (the float runner), "int8" (the int8
/// runner executes it on integer codes), "trainable" (the training engine has its gradient)}.
nlohmann::json opTable();
/// opTable() as aligned text, one op per line.
std::string formatOpTable(const nlohmann::json &table);

/// Human-readable rendering of inspectModel()'s result.
std::string formatInspection(const nlohmann::json &report);

}  // namespace lowbit
