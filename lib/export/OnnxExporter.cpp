#include "export/OnnxExporter.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <unordered_set>

#include "import/OnnxTensor.h"
#include "passes/ChannelsFirstInputs.h"
#include "support/File.h"

namespace lowbit {
namespace {

void writeContainerType(const ContainerType &c, onnx::TypeProto *t) {
  onnx::TypeProto *elem = c.kind == ContainerType::Kind::Sequence ? t->mutable_sequence_type()->mutable_elem_type()
                                                                  : t->mutable_optional_type()->mutable_elem_type();
  if (c.inner) return writeContainerType(*c.inner, elem);
  auto *tt = elem->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(c.elemType));
  if (c.elemDims)
    for (int64_t d : *c.elemDims) {
      auto *dim = tt->mutable_shape()->add_dim();
      if (d >= 0) dim->set_dim_value(d);
    }
}

void writeValueInfo(const Value *v, onnx::ValueInfoProto *info) {
  info->set_name(v->name());
  if (v->container) return writeContainerType(*v->container, info->mutable_type());
  auto *tt = info->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v->dtype()));
  auto *shape = tt->mutable_shape();  // the 1.12 checker wants the field even when unknown
  if (!v->hasShape()) return;
  for (size_t i = 0; i < v->dims().size(); ++i) {
    auto *d = shape->add_dim();
    if (v->dims()[i] >= 0)
      d->set_dim_value(v->dims()[i]);
    else if (i < v->dimNames().size() && !v->dimNames()[i].empty())
      d->set_dim_param(v->dimNames()[i]);
  }
}

void writeAttribute(const std::string &name, const Attribute &a, onnx::AttributeProto *p) {
  p->set_name(name);
  switch (a.kind) {
    case Attribute::Kind::Int: p->set_type(onnx::AttributeProto::INT); p->set_i(a.i); break;
    case Attribute::Kind::Float: p->set_type(onnx::AttributeProto::FLOAT); p->set_f(a.f); break;
    case Attribute::Kind::String: p->set_type(onnx::AttributeProto::STRING); p->set_s(a.s); break;
    case Attribute::Kind::Ints:
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case Attribute::Kind::Floats:
      p->set_type(onnx::AttributeProto::FLOATS);
      for (float v : a.floats) p->add_floats(v);
      break;
    case Attribute::Kind::Strings:
      p->set_type(onnx::AttributeProto::STRINGS);
      for (const auto &v : a.strings) p->add_strings(v);
      break;
    case Attribute::Kind::TensorValue:
      p->set_type(onnx::AttributeProto::TENSOR);
      tensorToProto(*a.tensor, "", p->mutable_t());
      break;
  }
}

}  // namespace

void exportToProto(const Graph &g, onnx::ModelProto *model) {
  if (!g.channelsLastInputs.empty()) {  // the interface is the file's
    std::unique_ptr<Graph> stored = g.clone();
    restoreChannelsLastInputs(*stored);
    exportToProto(*stored, model);
    return;
  }
  model->set_ir_version(std::min<int64_t>(g.irVersion > 0 ? g.irVersion : 8, onnx::IR_VERSION));
  if (model->ir_version() < 7) model->set_ir_version(7);
  model->set_producer_name("lowbit");
  model->set_producer_version(LOWBIT_VERSION);
  if (!g.docString.empty()) model->set_doc_string(g.docString);
  auto *op = model->add_opset_import();
  op->set_domain("");
  op->set_version(g.opset);
  for (const auto &[dom, ver] : g.otherOpsets) {
    auto *o = model->add_opset_import();
    o->set_domain(dom);
    o->set_version(ver);
  }
  for (const auto &[k, v] : g.metadata) {
    auto *kv = model->add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  onnx::GraphProto *gp = model->mutable_graph();
  gp->set_name(g.graphName);
  for (const Value *v : g.inputs()) writeValueInfo(v, gp->add_input());
  for (const Value *v : g.outputs()) writeValueInfo(v, gp->add_output());

  std::unordered_set<const Value *> written;
  auto writeConstant = [&](const Value *v) {
    if (!v || !v->isConstant() || !written.insert(v).second) return;
    tensorToProto(*v->constant(), v->name(), gp->add_initializer());
  };
  for (const Node *n : g.nodes()) {
    for (const Value *in : n->inputs()) writeConstant(in);
    onnx::NodeProto *np = gp->add_node();
    np->set_name(n->name());
    np->set_op_type(n->opType());
    if (!n->domain().empty()) np->set_domain(n->domain());
    for (const Value *in : n->inputs()) np->add_input(in ? in->name() : "");
    for (const Value *out : n->outputs()) np->add_output(out ? out->name() : "");
    for (const auto &[name, a] : n->attrs()) writeAttribute(name, a, np->add_attribute());
    for (const Value *out : n->outputs())
      // An unknown shape is left out: an empty shape field would claim a scalar.
      if (out && !g.isGraphOutput(out) && out->dtype() != DType::Undefined && out->hasShape())
        writeValueInfo(out, gp->add_value_info());
  }
  for (const Value *v : g.outputs()) writeConstant(v);
}

std::string exportOnnxBytes(const Graph &g, const std::string &path) {
  onnx::ModelProto model;
  exportToProto(g, &model);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    throw Error(cat(path, ": the exported model fails onnx::checker (", e.what(),
                    "); nothing was written"));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error(cat(path, ": serialization failed"));
  return bytes;
}

void exportOnnxFile(const Graph &g, const std::string &path) { writeFileAtomic(path, exportOnnxBytes(g, path)); }

}  // namespace lowbit
