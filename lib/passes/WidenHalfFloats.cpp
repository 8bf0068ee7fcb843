// WidenHalfFloats
//   Requires: nothing (the importer's types).
//   Produces: a graph that computes in float16 or bfloat16 (what float16 converters write:
//             half weights, Casts to half after the input and back before the output, or half
//             inputs and outputs) computes in float32: half constants and ConstantOfShape values
//             are widened, Casts to a half type cast to FLOAT (EliminateIdentity then drops
//             those reading FLOAT), and every half value, graph inputs and outputs included,
//             becomes FLOAT. Graph::widenedHalfFloats records it for the reports: the runners'
//             kernels are float32 ones, so the file's rounding to half at every op is not
//             reproduced (its outputs differ from float32's by about half's epsilon).
//   Leaves untouched: graphs whose Conv, ConvTranspose, Gemm and MatMul read no half tensor
//             (a Cast to float16 alone keeps its rounding, as ONNX defines it). A node that makes
//             a half tensor from a dtype attribute other than Cast's and ConstantOfShape's is an
//             error naming it.
// Runs before everything that reads types or folds constants.
#include "ops/Evaluate.h"
#include "passes/Pass.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

bool isHalf(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// A network computing in half: a weight layer reads a half tensor.
bool computesInHalf(const Graph &g) {
  for (const Node *n : g.nodes()) {
    const std::string &op = n->opType();
    if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") continue;
    for (const Value *in : n->inputs())
      if (in && isHalf(in->dtype())) return true;
  }
  return false;
}

class WidenHalfFloats final : public Pass {
 public:
  std::string_view name() const override { return "WidenHalfFloats"; }
  bool run(Graph &g, const PassContext &) override {
    if (!computesInHalf(g)) return false;
    for (Node *n : g.nodes()) {
      if (n->opType() == "Cast" && isHalf(static_cast<DType>(n->attrInt("to", 0)))) {
        n->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float32)));
      } else if (n->opType() == "ConstantOfShape" && n->hasAttr("value") && n->attrs().at("value").tensor &&
                 isHalf(n->attrs().at("value").tensor->dtype())) {
        n->setAttr("value", Attribute::ofTensor(castTensor(*n->attrs().at("value").tensor, DType::Float32)));
      } else {
        for (const char *attr : {"dtype", "to"})
          if (n->hasAttr(attr) && n->attrs().at(attr).kind == Attribute::Kind::Int && isHalf(static_cast<DType>(n->attrInt(attr, 0))))
            throw Error(cat(n->describe(), ": makes ", dtypeName(static_cast<DType>(n->attrInt(attr, 0))),
                            " tensors, which lowbit widens to float32 only for Cast and ConstantOfShape"));
      }
    }
    for (Value *v : g.values()) {
      if (!isHalf(v->dtype())) continue;
      if (v->isConstant()) v->setConstant(std::make_shared<const Tensor>(castTensor(*v->constant(), DType::Float32)));
      v->setDType(DType::Float32);
    }
    g.widenedHalfFloats = true;
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> createWidenHalfFloats() { return std::make_unique<WidenHalfFloats>(); }

}  // namespace lowbit
