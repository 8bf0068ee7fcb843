#include "import/OnnxImporter.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <set>

#include "import/OnnxTensor.h"
#include "import/QOperatorImport.h"
#include "ir/Verifier.h"
#include "ops/OpSupport.h"
#include "ops/OpTable.h"
#include "ops/ShapeInference.h"
#include "support/File.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

constexpr int64_t kMinOpset = 1, kMaxOpset = 17;

// The type of a sequence or optional value; Error naming \p where for maps and sparse tensors.
std::shared_ptr<const ContainerType> containerType(const onnx::TypeProto &t, const std::string &where) {
  auto c = std::make_shared<ContainerType>();
  const onnx::TypeProto *elem = nullptr;
  if (t.has_sequence_type()) {
    c->kind = ContainerType::Kind::Sequence;
    elem = &t.sequence_type().elem_type();
  } else if (t.has_optional_type()) {
    c->kind = ContainerType::Kind::Optional;
    elem = &t.optional_type().elem_type();
  } else {
    throw Error(cat(where, " is not a tensor, sequence or optional (maps and sparse tensors are not supported)"));
  }
  if (elem->has_tensor_type()) {
    c->elemType = static_cast<DType>(elem->tensor_type().elem_type());
    if (elem->tensor_type().has_shape()) {
      Dims dims;
      for (const auto &d : elem->tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      c->elemDims = dims;
    }
  } else {
    c->inner = containerType(*elem, where);
  }
  return c;
}

void applyValueInfo(Value *v, const onnx::ValueInfoProto &info) {
  if (!info.type().has_tensor_type()) return;
  const auto &tt = info.type().tensor_type();
  if (tt.elem_type() != 0) v->setDType(static_cast<DType>(tt.elem_type()));
  if (!tt.has_shape()) return;
  Dims dims;
  std::vector<std::string> names;
  for (const auto &d : tt.shape().dim()) {
    dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    names.push_back(d.has_dim_param() ? d.dim_param() : "");
  }
  v->setShape(dims);
  v->setDimNames(names);
}

Attribute convertAttribute(const onnx::AttributeProto &a, const std::string &where,
                           const std::string &baseDir) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return Attribute::ofInt(a.i());
    case onnx::AttributeProto::FLOAT: return Attribute::ofFloat(a.f());
    case onnx::AttributeProto::STRING: return Attribute::ofString(a.s());
    case onnx::AttributeProto::INTS: return Attribute::ofInts({a.ints().begin(), a.ints().end()});
    case onnx::AttributeProto::FLOATS:
      return Attribute::ofFloats({a.floats().begin(), a.floats().end()});
    case onnx::AttributeProto::STRINGS: {
      Attribute r;
      r.kind = Attribute::Kind::Strings;
      r.strings.assign(a.strings().begin(), a.strings().end());
      return r;
    }
    case onnx::AttributeProto::TENSOR:
      return Attribute::ofTensor(tensorFromProto(a.t(), baseDir, cat(where, " attribute '", a.name(), "'")));
    default:
      throw Error(cat(where, ": attribute '", a.name(), "' has a kind lowbit does not support (",
                      onnx::AttributeProto::AttributeType_Name(a.type()), ")"));
  }
}

// A Constant node's single attribute as a tensor.
Tensor constantNodeTensor(const onnx::NodeProto &np, const std::string &where,
                          const std::string &baseDir) {
  if (np.attribute_size() != 1) throw Error(cat(where, ": Constant needs exactly one attribute"));
  const auto &a = np.attribute(0);
  if (a.name() == "value") return tensorFromProto(a.t(), baseDir, where);
  if (a.name() == "value_float") return Tensor::scalar<float>(a.f());
  if (a.name() == "value_int") return Tensor::scalar<int64_t>(a.i());
  if (a.name() == "value_floats")
    return Tensor::fromVector<float>({a.floats_size()}, {a.floats().begin(), a.floats().end()});
  if (a.name() == "value_ints")
    return Tensor::fromVector<int64_t>({a.ints_size()}, {a.ints().begin(), a.ints().end()});
  throw Error(cat(where, ": Constant with attribute '", a.name(), "' is not supported"));
}

// A Graph carrying \p model's header: IR version, producer, metadata and opsets (checked).
std::unique_ptr<Graph> graphOf(const onnx::ModelProto &model, const std::string &file) {
  auto g = std::make_unique<Graph>();
  g->irVersion = model.ir_version();
  g->producerName = model.producer_name();
  g->producerVersion = model.producer_version();
  g->docString = model.doc_string();
  for (const auto &kv : model.metadata_props()) g->metadata.emplace_back(kv.key(), kv.value());
  bool haveDefault = false;
  for (const auto &op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      g->opset = op.version();
      haveDefault = true;
    } else {
      g->otherOpsets[op.domain()] = op.version();
    }
  }
  if (!haveDefault) throw Error(cat(file, ": the model imports no default-domain opset"));
  if (g->opset < kMinOpset || g->opset > kMaxOpset)
    throw Error(cat(file, ": opset ", g->opset, " is not supported (lowbit reads opsets ",
                    kMinOpset, " to ", kMaxOpset, "; convert the model with onnx.version_converter)"));

  return g;
}

// The nodes of \p gp into \p g (Constant nodes become constants); every unsupported op is
// collected into one error listing them all.
void importNodes(Graph &g, const onnx::GraphProto &gp, const std::string &file, const std::string &baseDir,
                 const ImportOptions &opts) {
  std::set<std::string> nodeNames;
  std::vector<std::string> unsupported;
  int index = 0;
  for (const auto &np : gp.node()) {
    std::string name = np.name().empty() ? cat(np.op_type(), "_", index) : np.name();
    std::string where = cat(file, ": node '", name, "' (", np.op_type(), ", #", index, ")");
    ++index;
    if (!nodeNames.insert(name).second)
      throw Error(cat(where, ": another node already has this name"));
    const bool defaultDomain = np.domain().empty() || np.domain() == "ai.onnx";
    if (!opts.allowUnsupported && !isSupportedOp(np.op_type(), defaultDomain ? "" : np.domain()) &&
        !isImportedAsQdq(np.op_type(), defaultDomain ? "" : np.domain())) {
      std::string dom = defaultDomain ? cat("opset ", g.opset) : cat("domain ", np.domain());
      unsupported.push_back(cat("node '", name, "' (", np.op_type(), ", ", dom, ", #", index - 1, ")"));
      // Still define outputs so later nodes can be checked for more unsupported ops.
      for (const auto &o : np.output())
        if (!o.empty() && !g.findValue(o)) g.addValue(o);
      continue;
    }
    if (const OpInfo *info = defaultDomain ? findOp(np.op_type()) : nullptr; info && g.opset < info->minOpset)
      throw Error(cat(where, ": lowbit reads ", np.op_type(), " from opset ", info->minOpset,
                      " on; this model uses opset ", g.opset,
                      " (convert it with onnx.version_converter)"));
    if (np.op_type() == "Constant") {
      if (np.output_size() != 1) throw Error(cat(where, ": Constant needs one output"));
      if (g.findValue(np.output(0)))
        throw Error(cat(where, ": output '", np.output(0), "' is defined twice"));
      g.addConstant(np.output(0), constantNodeTensor(np, where, baseDir));
      continue;
    }
    std::vector<Value *> ins, outs;
    for (const auto &i : np.input()) {
      if (i.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      Value *v = g.findValue(i);
      if (!v) {
        // Might be produced by a later node (graph not sorted): create it, verify later.
        v = g.addValue(i);
      }
      ins.push_back(v);
    }
    for (const auto &o : np.output()) {
      if (o.empty()) {
        outs.push_back(nullptr);
        continue;
      }
      Value *v = g.findValue(o);
      if (v && (v->producer() || v->isConstant() || g.isGraphInput(v)))
        throw Error(cat(where, ": output '", o, "' is defined twice"));
      outs.push_back(v ? v : g.addValue(o));
    }
    Node *n = g.addNode(name, np.op_type(), ins, outs, defaultDomain ? "" : np.domain());
    for (const auto &a : np.attribute()) n->setAttr(a.name(), convertAttribute(a, where, baseDir));
  }
  if (!unsupported.empty()) {
    std::string msg = cat(file, ": ", unsupported.size(), " node", unsupported.size() > 1 ? "s use" : " uses",
                          " unsupported ops:");
    for (const auto &l : unsupported) msg += "\n         " + l;
    msg += cat("\n       supported: ", join(supportedOps(), " "), "; read as QDQ: ", join(opsImportedAsQdq(), " "),
               " (lowbit inspect --list-ops)");
    throw Error(msg);
  }
}

}  // namespace

std::unique_ptr<Graph> importOnnxBytes(const std::string &bytes, const std::string &file,
                                       const std::string &baseDir, const ImportOptions &opts) {
  onnx::ModelProto model;
  {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t *>(bytes.data()),
                                             static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(INT32_MAX);
    if (!model.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      throw Error(cat(file, ": not a valid ONNX ModelProto (protobuf parse failed; ", bytes.size(),
                      " bytes; truncated or not an .onnx file?)"));
  }
  if (!model.has_graph() || model.graph().output_size() == 0)
    throw Error(cat(file, ": not a valid ONNX model (it has no graph or no outputs)"));

  std::unique_ptr<Graph> g = graphOf(model, file);
  const onnx::GraphProto &gp = model.graph();
  g->graphName = gp.name().empty() ? "lowbit" : gp.name();

  // Initializers first: constants.
  for (const auto &init : gp.initializer()) {
    if (g->findValue(init.name()))
      throw Error(cat(file, ": initializer '", init.name(), "' is defined twice"));
    g->addConstant(init.name(),
                   tensorFromProto(init, baseDir, cat(file, ": initializer '", init.name(), "'")));
  }
  // Graph inputs that are not initializers.
  for (const auto &in : gp.input()) {
    if (Value *v = g->findValue(in.name())) {
      if (v->isConstant()) continue;  // IR < 4 lists initializers as inputs too
      throw Error(cat(file, ": graph input '", in.name(), "' is listed twice"));
    }
    Value *v = g->addValue(in.name());
    if (!in.type().has_tensor_type())
      v->container = containerType(in.type(), cat(file, ": graph input '", in.name(), "'"));
    applyValueInfo(v, in);
    g->inputs().push_back(v);
  }

  importNodes(*g, model.graph(), file, baseDir, opts);
  for (const auto &out : gp.output()) {
    Value *v = g->findValue(out.name());
    if (!v) throw Error(cat(file, ": graph output '", out.name(), "' is never computed"));
    if (!out.type().has_tensor_type() && out.has_type())
      v->container = containerType(out.type(), cat(file, ": graph output '", out.name(), "'"));
    applyValueInfo(v, out);
    g->outputs().push_back(v);
  }
  for (const auto &info : gp.value_info())
    if (Value *v = g->findValue(info.name()); v && !v->isConstant()) applyValueInfo(v, info);

  try {
    expandQOperators(*g);
    g->topoSort();
    verifyGraph(*g);
    inferShapes(*g, opts.allowUnsupported);
  } catch (const Error &e) {
    throw Error(cat(file, ": ", e.what()));
  }
  return g;
}

std::unique_ptr<Graph> importOnnxFile(const std::string &path, const ImportOptions &opts) {
  std::string bytes = readFile(path);
  return importOnnxBytes(bytes, path, parentDir(path), opts);
}

}  // namespace lowbit
