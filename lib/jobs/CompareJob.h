// `lowbit inspect --compare`: where a quantized model departs from its float original.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "data/Preprocess.h"

namespace lowbit {

struct CompareConfig {
  std::string floatPath, quantPath, dataDir;
  PreprocessConfig preprocess;
  int size = 0;
  int64_t limit = 256;  ///< images (class-balanced); 0 = all
  int batch = 64;
};

/// Runs both models on the same images and returns, for every tensor computed by a Conv, Gemm,
/// MatMul, Add, pooling or activation node in the float model that the quantized model also
/// computes (same name), the SQNR in dB of the quantized tensor against the float one,
/// worst first, plus the SQNR and top-1 agreement of the outputs.
nlohmann::json compareModels(const CompareConfig &cfg);

/// Human-readable table of compareModels()'s result.
std::string formatComparison(const nlohmann::json &r);

}  // namespace lowbit
