#include "jobs/ConvertJob.h"

#include <map>
#include <onnx/onnx_pb.h>

#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "passes/PassManager.h"
#include "support/File.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

// Op counts of the file as written ("com.microsoft.QLinearAdd" for other domains).
nlohmann::json opCounts(const std::string &bytes) {
  onnx::ModelProto m;
  std::map<std::string, int> counts;
  if (m.ParseFromString(bytes))
    for (const auto &n : m.graph().node()) ++counts[n.domain().empty() ? n.op_type() : cat(n.domain(), ".", n.op_type())];
  return counts;
}

}  // namespace

nlohmann::json runConvert(const ConvertConfig &cfg) {
  OutputFiles out;
  out.add(cfg.outputPath, {cfg.inputPath});  // checked before the work
  const std::string in = readFile(cfg.inputPath);
  std::unique_ptr<Graph> g = importOnnxBytes(in, cfg.inputPath, parentDir(cfg.inputPath));
  try {
    runPasses(*g, {"ConstantFolding", "DeadCodeElimination"});
  } catch (const Error &e) {
    throw Error(cat(cfg.inputPath, ": ", e.what()));
  }
  const std::string bytes = exportOnnxBytes(*g, cfg.outputPath);
  out.write(cfg.outputPath, bytes);
  out.commit();
  return {{"model", cfg.inputPath}, {"output", cfg.outputPath}, {"ops_in", opCounts(in)}, {"ops_out", opCounts(bytes)}};
}

}  // namespace lowbit
