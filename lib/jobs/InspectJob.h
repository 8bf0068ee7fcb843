// `lowbit inspect`: what a model is made of, what it costs and what lowbit cannot run yet.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace lowbit {

/// Facts about the model at \p path: inputs/outputs, op counts, parameters, per-layer FLOPs
/// at batch 1 (after float preparation), unsupported ops. Throws Error for unreadable files.
nlohmann::json inspectModel(const std::string &path);

/// Human-readable rendering of inspectModel()'s result.
std::string formatInspection(const nlohmann::json &report);

}  // namespace lowbit
