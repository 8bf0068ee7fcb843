// `lowbit quantize`: load and prepare the model, pick the calibration images, run the
// quantization pipeline (pipeline/QuantizePasses.def), export QDQ ONNX and the report.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/QuantizeConfig.h"

namespace lowbit {

/// Runs the whole flow and writes outPath (and reportPath if set) atomically.
/// \returns the report. Throws Error naming the model, folder, image or node at fault.
nlohmann::json runQuantize(const QuantizeConfig &cfg);

}  // namespace lowbit
