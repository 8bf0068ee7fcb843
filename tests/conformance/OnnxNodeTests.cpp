// Runs ONNX's own backend node tests (Debian's libonnx-testdata) for every op lowbit claims (a
// test of one op whose inputs come from Constant nodes counts for that op):
// import -> float preparation passes -> oneDNN float runner, compared with the expected
// outputs; and import -> export -> import round trip, which must give identical outputs and
// pass onnx::checker. Prints passed/failed counts per op; exits 1 on any failure.
//
// usage: onnx_node_tests [DATA_DIR] [--filter SUBSTRING] [--verbose]
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <type_traits>
#include <variant>

#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "import/OnnxTensor.h"
#include "import/QOperatorImport.h"
#include "ops/OpSupport.h"
#include "passes/PassManager.h"
#include "runtime/Executor.h"
#include "support/File.h"
#include "support/Strings.h"

namespace fs = std::filesystem;
using namespace lowbit;

namespace {

// ONNX backend test defaults.
constexpr double kRtol = 1e-3, kAtol = 1e-7;
// oneDNN's vectorised exp/logistic and reassociated sums differ from numpy in the last bits;
// a float32 absolute floor keeps |a-b| <= atol + rtol*|b| meaningful near zero.
constexpr double kFloatAtol = 1e-5;

// Tests lowbit refuses on purpose, each with the reason printed in the summary.
const std::map<std::string, std::string> kRefused = {
};

Tensor readTensorPb(const fs::path &p) {
  onnx::TensorProto proto;
  std::string bytes = readFile(p.string());
  if (!proto.ParseFromString(bytes)) throw Error(cat(p.string(), ": not a TensorProto"));
  return tensorFromProto(proto, p.parent_path().string(), p.string());
}

std::vector<fs::path> sortedFiles(const fs::path &dir, const std::string &prefix) {
  std::vector<fs::path> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path &a, const fs::path &b) {
    auto num = [](const fs::path &p) {
      std::string s = p.stem().string();
      return std::stoi(s.substr(s.find('_') + 1));
    };
    return num(a) < num(b);
  });
  return out;
}

// ONNX 1.12's test data stores BFLOAT16 tensors with data_type UINT16; reinterpret them.
Tensor fixBfloat16(const Tensor &t, DType expected) {
  if (expected != DType::BFloat16 || t.dtype() != DType::UInt16) return t;
  Tensor out(DType::BFloat16, t.dims());
  std::memcpy(out.raw(), t.raw(), t.byteSize());
  return out;
}

// A SequenceProto / OptionalProto (as the test data stores sequence and optional values) of
// type \p t; elements are tensors or nested containers.
Container containerFrom(const onnx::SequenceProto &p, const ContainerType &t, const std::string &where);
Container containerFrom(const onnx::OptionalProto &p, const ContainerType &t, const std::string &where);

template <typename Proto>
void addElement(Container &c, const ContainerType &t, const Proto &elem, const std::string &where) {
  if constexpr (std::is_same_v<Proto, onnx::TensorProto>) {
    if (t.inner) throw Error(cat(where, ": a tensor where the type says ", t.inner->describe()));
    c.tensors.push_back(tensorFromProto(elem, ".", where));
  } else {
    if (!t.inner) throw Error(cat(where, ": a nested container where the type says tensor elements"));
    c.containers.push_back(containerFrom(elem, *t.inner, where));
  }
}

Container containerFrom(const onnx::SequenceProto &p, const ContainerType &t, const std::string &where) {
  if (t.kind != ContainerType::Kind::Sequence) throw Error(cat(where, ": a sequence where the type says ", t.describe()));
  Container c;
  for (const auto &e : p.tensor_values()) addElement(c, t, e, where);
  for (const auto &e : p.sequence_values()) addElement(c, t, e, where);
  for (const auto &e : p.optional_values()) addElement(c, t, e, where);
  return c;
}

Container containerFrom(const onnx::OptionalProto &p, const ContainerType &t, const std::string &where) {
  if (t.kind != ContainerType::Kind::Optional) throw Error(cat(where, ": an optional where the type says ", t.describe()));
  Container c;
  c.kind = ContainerType::Kind::Optional;
  if (p.has_tensor_value()) addElement(c, t, p.tensor_value(), where);
  if (p.has_sequence_value()) addElement(c, t, p.sequence_value(), where);
  if (p.has_optional_value()) addElement(c, t, p.optional_value(), where);
  return c;
}

// A test data file as the value \p v of the graph takes it: a tensor, sequence or optional.
RunValue readValuePb(const fs::path &p, const Value &v) {
  if (!v.container) return fixBfloat16(readTensorPb(p), v.dtype());
  const std::string bytes = readFile(p.string());
  if (v.container->kind == ContainerType::Kind::Sequence) {
    onnx::SequenceProto proto;
    if (!proto.ParseFromString(bytes)) throw Error(cat(p.string(), ": not a SequenceProto"));
    return containerFrom(proto, *v.container, p.string());
  }
  onnx::OptionalProto proto;
  if (!proto.ParseFromString(bytes)) throw Error(cat(p.string(), ": not an OptionalProto"));
  return containerFrom(proto, *v.container, p.string());
}

// \returns an empty string when \p got matches \p want, else a description of the mismatch.
std::string compare(const Tensor &got, const Tensor &want, bool exact) {
  if (got.dims() != want.dims())
    return cat("shape ", shapeString(got.dims()), " vs expected ", shapeString(want.dims()));
  if (got.dtype() != want.dtype())
    return cat("type ", dtypeName(got.dtype()), " vs expected ", dtypeName(want.dtype()));
  if (got == want) return "";
  if (want.dtype() == DType::String) {
    size_t bad = 0, first = 0;
    for (size_t i = want.strings().size(); i-- > 0;)
      if (got.strings()[i] != want.strings()[i]) ++bad, first = i;
    return cat(bad, " of ", want.strings().size(), " strings differ; first at ", first, ": got '", got.strings()[first],
               "' expected '", want.strings()[first], "'");
  }
  std::vector<float> g = got.toFloats(), w = want.toFloats();
  size_t bad = 0;
  double worst = 0;
  const bool isFloat = want.dtype() == DType::Float32 || want.dtype() == DType::Float64 ||
                       want.dtype() == DType::Float16 || want.dtype() == DType::BFloat16;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    double diff = std::fabs(static_cast<double>(g[i]) - w[i]);
    double tol = exact || !isFloat ? 0.0 : kAtol + kFloatAtol + kRtol * std::fabs(w[i]);
    if (!(diff <= tol)) {
      ++bad;
      worst = std::max(worst, diff);
    }
  }
  if (bad == 0) return "";
  std::string msg = cat(bad, " of ", g.size(), " values differ (max abs diff ", worst, ")");
  if (g.size() <= 16) msg += cat(": got ", join(g, ","), " expected ", join(w, ","));
  return msg;
}

// Containers: the same kind and number of elements, each element matching.
std::string compare(const Container &got, const Container &want, bool exact) {
  if (got.kind != want.kind || got.tensors.size() != want.tensors.size() || got.containers.size() != want.containers.size())
    return cat("a container of ", got.tensors.size() + got.containers.size(), " elements, expected ",
               want.tensors.size() + want.containers.size());
  for (size_t i = 0; i < want.tensors.size(); ++i)
    if (std::string d = compare(got.tensors[i], want.tensors[i], exact); !d.empty()) return cat("element ", i, ": ", d);
  for (size_t i = 0; i < want.containers.size(); ++i)
    if (std::string d = compare(got.containers[i], want.containers[i], exact); !d.empty()) return cat("element ", i, ": ", d);
  return "";
}

std::string compare(const RunValue &got, const RunValue &want, bool exact) {
  if (got.index() != want.index()) return "a tensor where a sequence/optional was expected, or the reverse";
  if (std::holds_alternative<Tensor>(want)) return compare(std::get<Tensor>(got), std::get<Tensor>(want), exact);
  return compare(std::get<Container>(got), std::get<Container>(want), exact);
}

struct OpCount {
  int passed = 0, failed = 0, refused = 0;
};

}  // namespace

int main(int argc, char **argv) {
  std::string dataDir = "/usr/share/libonnx-testdata/data/node", filter;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--verbose") verbose = true;
    else dataDir = a;
  }
  if (!fs::is_directory(dataDir)) {
    std::fprintf(stderr, "error: %s: no such folder (install libonnx-testdata)\n", dataDir.c_str());
    return 1;
  }
  std::vector<fs::path> tests;
  for (const auto &e : fs::directory_iterator(dataDir))
    if (e.is_directory()) tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());

  std::map<std::string, OpCount> counts;
  std::vector<std::string> failures, refusals;
  for (const fs::path &dir : tests) {
    const std::string name = dir.filename().string();
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    onnx::ModelProto proto;
    if (!proto.ParseFromString(readFile((dir / "model.onnx").string()))) continue;
    // One op under test, its attribute-free inputs possibly given by Constant nodes.
    int under = -1, others = 0;
    for (int k = 0; k < proto.graph().node_size(); ++k) {
      if (proto.graph().node(k).op_type() == "Constant" && proto.graph().node_size() > 1) continue;
      under = k;
      ++others;
    }
    if (others != 1) continue;
    const std::string op = proto.graph().node(under).op_type();
    const std::string domain = proto.graph().node(under).domain();
    if (!isSupportedOp(op, domain) && !isImportedAsQdq(op, domain)) continue;  // only ops lowbit claims
    OpCount &c = counts[op];
    std::string problem;
    try {
      std::unique_ptr<Graph> g = importOnnxFile((dir / "model.onnx").string());
      // Round trip through the exporter: identical graph semantics, passes the checker.
      onnx::ModelProto exported;
      exportToProto(*g, &exported);
      onnx::checker::check_model(exported);
      std::string bytes;
      exported.SerializeToString(&bytes);
      std::unique_ptr<Graph> back = importOnnxBytes(bytes, name + " (exported)", dir.string());
      runPasses(*g, floatPreparePipeline());
      runPasses(*back, floatPreparePipeline());
      Executor exec(*g), execBack(*back);
      for (const fs::path &set : sortedFiles(dir, "test_data_set_")) {
        std::vector<RunValue> ins, wants;
        for (const fs::path &p : sortedFiles(set, "input_")) ins.push_back(readValuePb(p, *g->inputs()[ins.size()]));
        for (const fs::path &p : sortedFiles(set, "output_")) wants.push_back(readValuePb(p, *g->outputs()[wants.size()]));
        std::vector<RunValue> outs = exec.runValues(ins), outsBack = execBack.runValues(ins);
        if (outs.size() != wants.size()) {
          problem = cat(outs.size(), " outputs, expected ", wants.size());
          break;
        }
        for (size_t i = 0; i < outs.size() && problem.empty(); ++i) {
          std::string diff = compare(outs[i], wants[i], false);
          if (!diff.empty()) problem = cat(set.filename().string(), " output ", i, ": ", diff);
          std::string rt = compare(outsBack[i], outs[i], true);
          if (problem.empty() && !rt.empty())
            problem = cat(set.filename().string(), " output ", i, " after export round trip: ", rt);
        }
        if (!problem.empty()) break;
      }
    } catch (const std::exception &e) {
      problem = e.what();
      if (kRefused.count(name)) {
        ++c.refused;
        refusals.push_back(cat(name, ": ", kRefused.at(name), " [lowbit: ", problem, "]"));
        continue;
      }
    }
    if (problem.empty() && kRefused.count(name)) {
      problem = "passes now: remove it from the refused list";
    }
    if (problem.empty()) {
      ++c.passed;
      if (verbose) std::printf("PASS %s\n", name.c_str());
    } else {
      ++c.failed;
      failures.push_back(cat(name, ": ", problem));
    }
  }

  int passed = 0, failed = 0, refused = 0;
  std::printf("ONNX node tests per op (passed / failed / refused on purpose):\n");
  for (const auto &[op, c] : counts) {
    std::printf("  %-20s %3d / %d / %d\n", op.c_str(), c.passed, c.failed, c.refused);
    passed += c.passed;
    failed += c.failed;
    refused += c.refused;
  }
  for (const auto &r : refusals) std::printf("refused: %s\n", r.c_str());
  for (const auto &f : failures) std::printf("FAILED: %s\n", f.c_str());
  std::printf("%d passed, %d failed, %d refused (ops claimed: %zu, ops with tests: %zu)\n", passed,
              failed, refused, supportedOps().size() + opsImportedAsQdq().size(), counts.size());
  return failed == 0 ? 0 : 1;
}
