#include "runtime/FloatExecutor.h"

#include <omp.h>

#include <cstring>

#include "ops/ShapeInference.h"
#include "passes/PassManager.h"
#include "runtime/PlanBuilder.h"
#include "support/Strings.h"

namespace lowbit {

void setNumThreads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

struct FloatExecutor::Plan {
  std::unique_ptr<Graph> graph;           // specialised to the input shapes
  std::vector<PlanStep> steps;
  std::vector<dnnl::memory> buffers;      // owns every allocation the steps point into
  std::vector<dnnl::memory> inputs;       // per graph input; empty memory for fixed inputs
  std::vector<std::shared_ptr<const Tensor>> constOutputs;  // per graph output, if constant
  std::vector<dnnl::memory> outputs;      // per graph output, plain layout
};

struct FloatExecutor::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::string, std::unique_ptr<Plan>> plans;
  Plan *last = nullptr;
};

FloatExecutor::FloatExecutor(const Graph &g) : graph_(g.clone()), impl_(std::make_unique<Impl>()) {}
FloatExecutor::~FloatExecutor() = default;

size_t FloatExecutor::lastPlanSteps() const { return impl_->last ? impl_->last->steps.size() : 0; }

namespace {

// Float tensors of rank >= 1 are data; everything else (shapes, indices, scalar parameters
// such as Clip bounds given as inputs) is fixed per plan and folded into it.
bool isDataInput(const Tensor &t) { return t.dtype() == DType::Float32 && t.rank() > 0; }

std::string planKey(const std::vector<Tensor> &inputs) {
  std::string key;
  for (const Tensor &t : inputs) {
    key += cat(static_cast<int>(t.dtype()), shapeString(t.dims()), ";");
    if (!isDataInput(t))
      key.append(static_cast<const char *>(t.raw()), t.byteSize());
  }
  return key;
}

}  // namespace

FloatExecutor::Plan &FloatExecutor::planFor(const std::vector<Tensor> &inputs) {
  std::string key = planKey(inputs);
  auto it = impl_->plans.find(key);
  if (it != impl_->plans.end()) return *it->second;

  auto plan = std::make_unique<Plan>();
  plan->graph = graph_->clone();
  Graph &g = *plan->graph;
  if (inputs.size() != g.inputs().size())
    throw Error(cat("the model has ", g.inputs().size(), " inputs, got ", inputs.size()));
  std::vector<Value *> dataInputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value *v = g.inputs()[i];
    const Tensor &t = inputs[i];
    if (v->dtype() != DType::Undefined && v->dtype() != t.dtype())
      throw Error(cat("input '", v->name(), "' expects ", dtypeName(v->dtype()), ", got ", dtypeName(t.dtype())));
    if (v->hasShape() && !g.users(v).empty()) {  // an unread input cannot be wrong
      bool ok = v->dims().size() == t.dims().size();
      for (size_t d = 0; ok && d < t.dims().size(); ++d)
        ok = v->dims()[d] < 0 || v->dims()[d] == t.dims()[d];
      if (!ok)
        throw Error(cat("input '", v->name(), "' expects shape ", shapeString(v->dims()), ", got ",
                        shapeString(t.dims())));
    }
    if (isDataInput(t)) {
      v->setShape(t.dims());
      dataInputs.push_back(v);
    } else {
      v->setConstant(std::make_shared<const Tensor>(t));  // shapes/indices: fixed for this plan
    }
  }
  // Inference-mode Dropout masks are all true: constants, not run-time data.
  for (Node *n : g.nodes())
    if (n->opType() == "Dropout" && n->output(1)) {
      Value *mask = n->output(1);
      n->outputs().resize(1);
      mask->setProducer(nullptr);
      if (n->input(0)->hasShape()) {
        Tensor ones(DType::Bool, n->input(0)->dims());
        std::memset(ones.raw(), 1, ones.byteSize());
        mask->setConstant(std::make_shared<const Tensor>(std::move(ones)));
      }
    }
  g.inputs() = dataInputs;
  inferShapes(g);
  runPasses(g, {"ConstantFolding", "DeadCodeElimination"});

  PlanBuilder b(g, impl_->engine);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value *v = graph_->inputs()[i];
    Value *sv = g.findValue(v->name());
    if (isDataInput(inputs[i]) && sv && !sv->isConstant()) {
      dnnl::memory m = b.newMemory(plainDesc(inputs[i].dims()));
      b.define(sv, m);
      plan->inputs.push_back(m);
    } else {
      plan->inputs.emplace_back();
    }
  }
  for (Node *n : g.nodes()) {
    for (Value *o : n->outputs())
      if (o && !o->shapeIsStatic())
        throw Error(cat(n->describe(), ": output '", o->name(), "' has no static shape for inputs ",
                        shapeString(inputs.empty() ? Dims{} : inputs[0].dims())));
    buildNode(b, *n);
  }
  for (Value *out : g.outputs()) {
    if (out->isConstant()) {
      plan->constOutputs.push_back(out->constant());
      plan->outputs.emplace_back();
    } else {
      plan->constOutputs.push_back(nullptr);
      plan->outputs.push_back(b.plainMemoryOf(out));
    }
  }
  plan->steps = b.takeSteps();
  plan->buffers = b.takeBuffers();
  Plan &ref = *plan;
  impl_->plans[key] = std::move(plan);
  return ref;
}

std::vector<Tensor> FloatExecutor::run(const std::vector<Tensor> &inputs) {
  Plan &plan = planFor(inputs);
  impl_->last = &plan;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (plan.inputs[i]) std::memcpy(plan.inputs[i].get_data_handle(), inputs[i].raw(), inputs[i].byteSize());
  dnnl::stream &s = impl_->stream;
  for (PlanStep &step : plan.steps) {
    if (step.fn) {
      s.wait();
      step.fn();
    } else {
      step.primitive.execute(s, step.args);
    }
  }
  s.wait();
  std::vector<Tensor> outs;
  for (size_t i = 0; i < plan.outputs.size(); ++i) {
    if (plan.constOutputs[i]) {
      outs.push_back(*plan.constOutputs[i]);
      continue;
    }
    const Value *v = plan.graph->outputs()[i];
    Tensor t(v->dtype(), v->dims());
    std::memcpy(t.raw(), plan.outputs[i].get_data_handle(), t.byteSize());
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace lowbit
