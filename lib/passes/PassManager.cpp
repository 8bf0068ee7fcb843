#include "passes/PassManager.h"

#include <cstdio>
#include <cstring>
#include <sstream>

#include "ir/Verifier.h"
#include "ops/OpParams.h"
#include "ops/ShapeInference.h"
#include "passes/Passes.h"
#include "support/Strings.h"

namespace lowbit {

std::unique_ptr<Pass> createPass(const std::string &name) {
#define LOWBIT_PASS(Name) \
  if (name == #Name) return create##Name();
#include "passes/Passes.def"
#undef LOWBIT_PASS
  throw Error(cat("unknown pass '", name, "' (known: ", join(allPassNames(), " "), ")"));
}

std::vector<std::string> allPassNames() {
  return {
#define LOWBIT_PASS(Name) #Name,
#include "passes/Passes.def"
#undef LOWBIT_PASS
  };
}

const std::vector<std::string> &floatPreparePipeline() {
  static const std::vector<std::string> pipeline = {
      "WidenHalfFloats",      // a float16 file computes in float32, the runners' arithmetic
      "ChannelsFirstInputs",  // a TensorFlow-style [N,H,W,C] image input read as [N,C,H,W]
      "FreeFixedBatch",       // an export without dynamic axes (N = 1) runs batches when nothing needs N
      "ConstantFolding",      // shape chains and the CIFAR shortcut pads become constants
      "EliminateIdentity",    // Identity/Dropout would block the fusions below
      "FoldBatchNorm",        // before any quantization: BN is not a quantized op
      "FuseResidualAdd",      // mark Conv+Add for the runner's sum post-op (graph unchanged)
      "FuseActivation",       // then Conv(+Add)+Relu/Clip as an eltwise post-op
      "DeadCodeElimination",  // drop the shape subgraphs folding left behind
  };
  return pipeline;
}

void specializeShapes(Graph &g) {
  // Masks of Dropouts that drop nothing are all true: constants, not run-time data.
  for (Node *n : g.nodes())
    if (n->opType() == "Dropout" && n->output(1) && !dropoutDrops(*n)) {
      Value *mask = n->output(1);
      n->outputs().resize(1);
      mask->setProducer(nullptr);
      if (n->input(0)->hasShape()) {
        Tensor ones(DType::Bool, n->input(0)->dims());
        std::memset(ones.raw(), 1, ones.byteSize());
        mask->setConstant(std::make_shared<const Tensor>(std::move(ones)));
      }
    }
  inferShapes(g);
  runPasses(g, {"ConstantFolding"});
}

std::unique_ptr<Graph> specializedClone(const Graph &g, const std::vector<Dims> &inputDims, bool anyBatch) {
  if (inputDims.size() != g.inputs().size())
    throw Error(cat("the model has ", g.inputs().size(), " inputs, got shapes for ", inputDims.size()));
  std::unique_ptr<Graph> s = g.clone();
  for (size_t i = 0; i < inputDims.size(); ++i) {
    Value *v = s->inputs()[i];
    if (v->hasShape()) {
      bool ok = v->dims().size() == inputDims[i].size();
      for (size_t d = anyBatch ? 1 : 0; ok && d < inputDims[i].size(); ++d)
        ok = v->dims()[d] < 0 || v->dims()[d] == inputDims[i][d];
      if (!ok)
        throw Error(cat("input '", v->name(), "' expects shape ", shapeString(v->dims()), ", got ",
                        shapeString(inputDims[i])));
    }
    v->setShape(inputDims[i]);
  }
  specializeShapes(*s);
  return s;
}

std::string dumpGraph(const Graph &g) {
  std::ostringstream os;
  auto valueStr = [](const Value *v) {
    if (!v) return std::string("<none>");
    std::string s = cat("%", v->name(), ":", dtypeName(v->dtype()));
    if (v->hasShape()) s += shapeString(v->dims());
    if (v->isConstant()) s += "(const)";
    return s;
  };
  os << "graph '" << g.graphName << "' opset " << g.opset << "\n";
  for (const Value *v : g.inputs()) os << "  input " << valueStr(v) << "\n";
  for (const Node *n : g.nodes()) {
    os << "  ";
    for (size_t i = 0; i < n->outputs().size(); ++i) os << (i ? ", " : "") << valueStr(n->output(i));
    os << " = " << n->opType() << "[" << n->name() << "](";
    for (size_t i = 0; i < n->inputs().size(); ++i) os << (i ? ", " : "") << valueStr(n->input(i));
    os << ")";
    if (n->fusedAdd) os << " +fused " << n->fusedAdd->opType();
    if (n->fusedActivation) os << " +fused " << n->fusedActivation->opType();
    if (n->fusedInto) os << " (fused into " << n->fusedInto->name() << ")";
    os << "\n";
  }
  for (const Value *v : g.outputs()) os << "  output " << valueStr(v) << "\n";
  return os.str();
}

std::vector<std::string> runPasses(Graph &g, const std::vector<std::string> &passNames,
                                   const PassContext &ctx) {
#ifndef NDEBUG
  const bool verify = true;
#else
  const bool verify = ctx.verifyEach;
#endif
  std::vector<std::string> changed;
  for (const std::string &name : passNames) {
    std::unique_ptr<Pass> pass = createPass(name);
    size_t before = g.numNodes();
    bool didChange = pass->run(g, ctx);
    if (didChange) changed.push_back(name);
    if (ctx.verbose)
      std::fprintf(stderr, "pass %s: %s (%zu -> %zu nodes)\n", name.c_str(),
                   didChange ? "changed" : "no change", before, g.numNodes());
    if (verify) {
      try {
        verifyGraph(g);
      } catch (const Error &e) {
        throw Error(cat("graph is invalid after pass ", name, ": ", e.what()));
      }
    }
    if (ctx.dumpAfter == name) std::fprintf(stderr, "%s", dumpGraph(g).c_str());
  }
  return changed;
}

}  // namespace lowbit
