// Import + float preparation, the first step of every command.
#pragma once

#include <memory>
#include <string>

#include "ir/Graph.h"
#include "passes/Pass.h"

namespace lowbit {

/// Imports \p path and runs floatPreparePipeline() on it. Errors name \p path.
std::unique_ptr<Graph> loadPreparedModel(const std::string &path, const PassContext &ctx = {});

/// The model's image input: the first graph input, which must be 4-D [N, C, H, W].
struct ImageInputInfo {
  std::string name;
  int channels = 0, height = -1, width = -1;  ///< -1 when dynamic
  /// The file stores the input as [N, H, W, C]; the prepared graph reads [N, C, H, W]
  /// (ChannelsFirstInputs), so images go in channels first either way.
  bool channelsLast = false;
  const char *layout() const { return channelsLast ? "NHWC" : "NCHW"; }
};
/// Throws Error naming \p path if the first input is not an NCHW float tensor (after
/// ChannelsFirstInputs).
ImageInputInfo imageInputOf(const Graph &g, const std::string &path);

}  // namespace lowbit
