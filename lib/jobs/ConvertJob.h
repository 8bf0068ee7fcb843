// `lowbit convert`: a model another tool wrote, as the ONNX QDQ file lowbit writes (QOperator
// ops become DequantizeLinear -> op -> QuantizeLinear, constants such as DQ(Q(constant)) and
// bias scales x_scale * w_scale fold), so any QDQ reader (ONNX Runtime, TensorRT, lowbit's own
// passes) takes it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lowbit {

struct ConvertConfig {
  std::string inputPath, outputPath;
};

/// Converts and writes outputPath all or nothing. \returns {"model", "output", "ops_in",
/// "ops_out"} (op counts before and after). Throws Error naming the file or node at fault.
nlohmann::json runConvert(const ConvertConfig &cfg);

}  // namespace lowbit
