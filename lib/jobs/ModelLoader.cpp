#include "jobs/ModelLoader.h"

#include <algorithm>

#include "import/OnnxImporter.h"
#include "passes/PassManager.h"
#include "support/Strings.h"

namespace lowbit {

std::unique_ptr<Graph> loadPreparedModel(const std::string &path, const PassContext &ctx) {
  std::unique_ptr<Graph> g = importOnnxFile(path);
  try {
    runPasses(*g, floatPreparePipeline(), ctx);
  } catch (const Error &e) {
    throw Error(cat(path, ": ", e.what()));
  }
  return g;
}

ImageInputInfo imageInputOf(const Graph &g, const std::string &path) {
  if (g.inputs().empty()) throw Error(cat(path, ": the model has no inputs"));
  const Value *in = g.inputs()[0];
  if (in->dtype() != DType::Float32 || !in->hasShape() || in->dims().size() != 4)
    throw Error(cat(path, ": input '", in->name(), "' is ", dtypeName(in->dtype()),
                    in->hasShape() ? shapeString(in->dims()) : "[?]",
                    "; lowbit feeds images to a FLOAT [N,C,H,W] input (or [N,H,W,C] that a Transpose takes to [N,C,H,W])"));
  if (in->dims()[1] <= 0)
    throw Error(cat(path, ": input '", in->name(), "' has an unknown channel count"));
  ImageInputInfo info;
  info.name = in->name();
  info.channels = static_cast<int>(in->dims()[1]);
  info.height = static_cast<int>(in->dims()[2]);
  info.width = static_cast<int>(in->dims()[3]);
  info.channelsLast = std::count(g.channelsLastInputs.begin(), g.channelsLastInputs.end(), in->name()) > 0;
  return info;
}

}  // namespace lowbit
