#include "jobs/InspectJob.h"

#include <algorithm>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "import/OnnxImporter.h"
#include "import/QOperatorImport.h"
#include "ops/OpParams.h"
#include "ops/OpSupport.h"
#include "ops/ShapeInference.h"
#include "passes/LowerToInteger.h"
#include "passes/PassManager.h"
#include "runtime/HostTarget.h"
#include "support/Strings.h"
#include "train/Network.h"

namespace lowbit {

nlohmann::json opTable() {
  nlohmann::json rows = nlohmann::json::array();
  const std::vector<std::string> &integer = integerOps();
  for (const std::string &op : supportedOps())
    rows.push_back({{"op", op},
                    {"float", true},
                    {"int8", std::binary_search(integer.begin(), integer.end(), op)},
                    {"trainable", train::isTrainableOp(op)}});
  // QOperator ops become DequantizeLinear -> float op -> QuantizeLinear on import: they run as
  // that float op does (a quantized model is not fine-tuned again).
  for (const std::string &name : opsImportedAsQdq()) {
    const size_t dot = name.rfind('.');
    const std::string domain = dot == std::string::npos ? "" : name.substr(0, dot), op = name.substr(dot + 1);
    const std::string floatOp = floatOpOf(op, domain);
    rows.push_back({{"op", name},
                    {"float", true},
                    {"int8", std::binary_search(integer.begin(), integer.end(), floatOp)},
                    {"trainable", false},
                    {"read_as", qdqFormOf(op, domain)}});
  }
  return rows;
}

std::string formatOpTable(const nlohmann::json &table) {
  constexpr int kOpWidth = 40;  // com.microsoft.QLinearGlobalAveragePool
  std::ostringstream os;
  os << std::left << std::setw(kOpWidth) << "op" << std::setw(7) << "float" << std::setw(6) << "int8" << "trainable\n";
  for (const auto &r : table) {
    auto mark = [&](const char *k) { return r.at(k).get<bool>() ? "yes" : "-"; };
    os << std::setw(kOpWidth) << r.at("op").get<std::string>() << std::setw(7) << mark("float") << std::setw(6) << mark("int8")
       << mark("trainable");
    if (r.contains("read_as")) os << "    read as " << r.at("read_as").get<std::string>();
    os << "\n";
  }
  return os.str();
}
namespace {

nlohmann::json valueJson(const Value *v) {
  nlohmann::json j;
  j["name"] = v->name();
  j["type"] = dtypeName(v->dtype());
  std::vector<nlohmann::json> dims;
  if (v->hasShape())
    for (size_t i = 0; i < v->dims().size(); ++i) {
      if (v->dims()[i] >= 0)
        dims.emplace_back(v->dims()[i]);
      else if (i < v->dimNames().size() && !v->dimNames()[i].empty())
        dims.emplace_back(v->dimNames()[i]);
      else
        dims.emplace_back("?");
    }
  j["shape"] = dims;
  return j;
}

}  // namespace

nlohmann::json inspectModel(const std::string &path) {
  ImportOptions opts;
  opts.allowUnsupported = true;
  std::unique_ptr<Graph> g = importOnnxFile(path, opts);
  nlohmann::json r;
  r["model"] = path;
  r["producer"] = g->producerName + (g->producerVersion.empty() ? "" : " " + g->producerVersion);
  r["opset"] = g->opset;
  for (const Value *v : g->inputs()) r["inputs"].push_back(valueJson(v));
  for (const Value *v : g->outputs()) r["outputs"].push_back(valueJson(v));
  std::map<std::string, int> ops;
  for (const Node *n : g->nodes()) ops[n->opType()]++;
  r["ops"] = ops;
  r["nodes"] = g->numNodes();
  std::vector<std::string> unsupported = unsupportedNodeLines(*g);
  r["unsupported"] = unsupported;
  int64_t params = 0;
  for (const Value *v : g->values())
    if (v->isConstant() && (v->dtype() == DType::Float32 || v->dtype() == DType::Float16 || v->dtype() == DType::BFloat16))
      params += v->constant()->numel();
  r["parameters"] = params;
  if (!unsupported.empty()) return r;

  // Per-layer cost at batch 1 after the float preparation passes.
  for (Value *in : g->inputs()) {
    Dims d = in->dims();
    for (int64_t &x : d)
      if (x < 0) x = 1;
    if (in->hasShape()) in->setShape(d);
  }
  inferShapes(*g);
  if (ops.count("QuantizeLinear") || ops.count("DequantizeLinear")) {
    // Which layers the int8 runner executes as integers, and why the others are not.
    // On the graph the int8 runner lowers: prepared, then specialised (constants folded).
    std::unique_ptr<Graph> lowered = g->clone();
    runPasses(*lowered, floatPreparePipeline());
    specializeShapes(*lowered);
    nlohmann::json rows = nlohmann::json::array();
    std::vector<LoweringDecision> decisions;
    PassContext lowering;
    lowering.integerTarget = hostIntegerTarget(IntegerMode::Static);
    lowering.loweringDecisions = &decisions;
    runPasses(*lowered, {"LowerToInteger"}, lowering);
    for (const LoweringDecision &d : decisions)
      rows.push_back({{"node", d.node}, {"op", d.opType}, {"integer", d.integer}, {"detail", d.detail}});
    r["int8_runner"] = rows;
  }
  runPasses(*g, floatPreparePipeline());
  int64_t total = 0;
  nlohmann::json layers = nlohmann::json::array();
  for (const Node *n : g->nodes()) {
    int64_t macs = multiplyAccumulates(*n);
    if (!macs) continue;
    total += macs;
    nlohmann::json l;
    l["node"] = n->name();
    l["op"] = n->opType();
    l["output_shape"] = n->output(0)->dims();
    l["flops"] = 2 * macs;
    std::string fused;
    if (n->fusedAdd) fused += "+" + n->fusedAdd->opType();
    if (const Node *act = n->fusedActivation) {
      const Node *gate = selfGate(*act);  // x * gate(x): h-swish or SiLU
      fused += "+" + (gate ? "x*" + gate->opType() + "(x)" : act->opType());
    }
    if (!fused.empty()) l["fused"] = fused.substr(1);
    layers.push_back(l);
  }
  r["layers"] = layers;
  r["flops_per_image"] = 2 * total;
  r["prepared_nodes"] = g->numNodes();
  r["channels_last_inputs"] = g->channelsLastInputs;
  r["widened_half_floats"] = g->widenedHalfFloats;
  return r;
}

std::string formatInspection(const nlohmann::json &r) {
  std::ostringstream os;
  os << "model     " << r["model"].get<std::string>() << "  (opset " << r["opset"] << ", "
     << r["producer"].get<std::string>() << ")\n";
  for (const auto &v : r["inputs"]) os << "input     " << v["name"].get<std::string>() << " " << v["type"].get<std::string>() << " " << v["shape"].dump() << "\n";
  for (const auto &v : r["outputs"]) os << "output    " << v["name"].get<std::string>() << " " << v["type"].get<std::string>() << " " << v["shape"].dump() << "\n";
  os << "params    " << r["parameters"] << "\n";
  os << "ops       " << r["nodes"] << " nodes:";
  for (const auto &[op, count] : r["ops"].items()) os << " " << op << "x" << count;
  os << "\n";
  if (!r["unsupported"].empty()) {
    os << "cannot run yet (" << r["unsupported"].size() << " nodes):\n";
    for (const auto &l : r["unsupported"]) os << "  " << l.get<std::string>() << "\n";
    return os.str();
  }
  os << "prepared  " << r["prepared_nodes"] << " nodes after folding and fusion";
  for (const auto &name : r["channels_last_inputs"]) os << "; " << name.get<std::string>() << " read channels first";
  if (r["widened_half_floats"].get<bool>()) os << "; half floats computed in float32";
  os << "\n";
  os << "layers (batch 1):\n";
  for (const auto &l : r["layers"]) {
    os << "  " << l["node"].get<std::string>() << " (" << l["op"].get<std::string>();
    if (l.contains("fused")) os << "+" << l["fused"].get<std::string>();
    os << ") -> " << shapeString(l["output_shape"].get<std::vector<int64_t>>()) << "  "
       << l["flops"].get<int64_t>() / 1e6 << " MFLOP\n";
  }
  os << "total     " << r["flops_per_image"].get<int64_t>() / 1e6 << " MFLOP per image\n";
  if (r.contains("int8_runner")) {
    size_t integer = 0;
    for (const auto &d : r["int8_runner"]) integer += d["integer"].get<bool>();
    os << "int8 runner: " << integer << " of " << r["int8_runner"].size() << " layers as integers\n";
    for (const auto &d : r["int8_runner"])
      os << "  " << (d["integer"].get<bool>() ? "int8   " : "float  ") << d["node"].get<std::string>() << " ("
         << d["op"].get<std::string>() << "): " << d["detail"].get<std::string>() << "\n";
  }
  return os.str();
}

}  // namespace lowbit
