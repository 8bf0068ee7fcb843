#include "runtime/Executor.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <thread>

#include "ops/OpParams.h"
#include "ops/ShapeInference.h"
#include "passes/PassManager.h"
#include "runtime/HostTarget.h"
#include "runtime/ImageByImage.h"
#include "runtime/PlanBuilder.h"
#include "runtime/StepThreads.h"
#include "support/Strings.h"

namespace lowbit {

void setNumThreads(int threads) {
  // Far more threads than the machine has only costs, and tens of thousands overflow
  // libgomp's stacks: refuse them with the machine's count.
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  const int most = std::max(16, 4 * hardware);
  if (threads > most)
    throw Error(cat("--threads ", threads, " is more than ", most, " (this machine has ", hardware, " hardware threads)"));
  if (threads > 0) omp_set_num_threads(threads);
}

struct Executor::Plan {
  std::unique_ptr<Graph> graph;           // specialised to the input shapes
  std::vector<PlanStep> steps;
  std::vector<dnnl::memory> buffers;      // owns every allocation the steps point into
  std::vector<dnnl::memory> inputs;       // per graph input; empty memory for fixed inputs
  std::vector<std::shared_ptr<const Tensor>> constOutputs;  // per graph output, if constant
  std::vector<dnnl::memory> outputs;      // per graph output, plain layout
  std::vector<std::shared_ptr<Tensor>> hostOutputs;  // per graph output held on the host (STRING)
  std::vector<int> containerSources;      // per graph output: the input a sequence/optional is, or -1
  std::vector<const Value *> tapValues;   // per tap
  std::vector<dnnl::memory> taps;         // per tap, plain layout (empty if constant)
  std::vector<double> stepMs;             // per step, summed over the profiled runs
  std::vector<LoweringDecision> lowering; // integer modes: per Conv/Gemm/MatMul
  int threads = 1;                        // OpenMP threads it was built under: the most a step gets
  int runs = 0;
  int profiledRuns = 0;                   // runs in stepMs: the first alone, then those after it
};

struct Executor::Impl {
  /// Per graph input: read only as a parameter (Resize's scales), so fixed per plan even as
  /// float data. The graph does not change: found once, not on every run.
  std::vector<bool> parameterOnly;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::vector<dnnl::stream> threadStreams;  // one per thread of an image-by-image group
  std::map<std::string, std::unique_ptr<Plan>> plans;
  Plan *last = nullptr;
};

Executor::Executor(const Graph &g, ExecutorOptions opts)
    : graph_(g.clone()), opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
  for (const std::string &name : opts_.taps)
    if (!graph_->findValue(name)) throw Error(cat("cannot observe '", name, "': no such value in the model"));
  for (const Value *v : graph_->inputs()) {
    const std::vector<Node *> users = graph_->users(v);
    impl_->parameterOnly.push_back(!users.empty() && std::all_of(users.begin(), users.end(), [&](const Node *n) {
      for (size_t i = 0; i < n->inputs().size(); ++i)
        if (n->input(i) == v && !isParameterInput(*n, i)) return false;
      return true;
    }));
  }
}
Executor::~Executor() = default;

std::string Executor::profileReport(bool perStep) const {
  const Plan *p = impl_->last;
  if (!p || p->stepMs.empty() || p->profiledRuns == 0) return "";
  const double runs = p->profiledRuns;
  if (perStep) {
    std::string out = cat("profile: ", p->steps.size(), " steps in plan order\n");
    for (size_t i = 0; i < p->steps.size(); ++i)
      out += cat("  ", p->stepMs[i] / runs, " ms  ", p->steps[i].threads, "T  ", p->steps[i].opType, "  ",
                 p->steps[i].label, "\n");
    return out;
  }
  std::map<std::string, std::pair<double, int>> byOp;
  double total = 0;
  for (size_t i = 0; i < p->steps.size(); ++i) {
    auto &e = byOp[p->steps[i].opType];
    e.first += p->stepMs[i] / runs;
    e.second += 1;
    total += p->stepMs[i] / runs;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto &[op, e] : byOp) rows.emplace_back(e.first, cat(op, " x", e.second));
  std::sort(rows.rbegin(), rows.rend());
  std::string out = cat("profile: ", total, " ms per run over ", p->steps.size(), " steps\n");
  for (const auto &[ms, what] : rows) out += cat("  ", ms, " ms  ", what, "\n");
  return out;
}

std::optional<IntegerMode> parseRunner(const std::string &name) {
  if (name == "float") return std::nullopt;
  if (name == "int8") return IntegerMode::Static;
  if (name == "int8-dynamic") return IntegerMode::Dynamic;
  throw Error(cat("unknown runner '", name, "' (float, int8, int8-dynamic)"));
}

std::string loweringSummary(const std::vector<LoweringDecision> &decisions) {
  if (decisions.empty()) return "";
  size_t integer = 0;
  for (const LoweringDecision &d : decisions) integer += d.integer;
  return cat(integer, " of ", decisions.size(), " Conv/Gemm/MatMul as integers");
}

const std::vector<LoweringDecision> &Executor::lowering() const {
  static const std::vector<LoweringDecision> none;
  return impl_->last ? impl_->last->lowering : none;
}

namespace {

// Float and 8-bit tensors of rank >= 1 are data; everything else (shapes, indices, scalar
// parameters such as Clip bounds given as inputs, float vectors read only as Resize's scales)
// is fixed per plan and folded into it.
bool isDataInput(const Tensor &t, bool parameterOnly) {
  return (t.dtype() == DType::Float32 || t.dtype() == DType::UInt8 || t.dtype() == DType::Int8) && t.rank() > 0 &&
         !parameterOnly;
}

std::string planKey(const std::vector<Tensor> &inputs, const std::vector<bool> &parameterOnly) {
  // oneDNN primitives split their work for the thread count they were created under.
  std::string key = cat("threads ", omp_get_max_threads(), ";");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor &t = inputs[i];
    key += cat(static_cast<int>(t.dtype()), shapeString(t.dims()), ";");
    if (t.dtype() == DType::String)
      for (const std::string &v : t.strings()) key += cat(v.size(), ":", v);
    else if (!isDataInput(t, i < parameterOnly.size() && parameterOnly[i]))
      key.append(static_cast<const char *>(t.raw()), t.byteSize());
  }
  return key;
}

}  // namespace

namespace {

// Checks \p inputs against the plan graph's inputs and binds them: data tensors give their
// shapes, shape/index tensors become constants of this plan; g's inputs become the data ones.
void bindInputs(Graph &g, const std::vector<Tensor> &inputs, const std::vector<bool> &parameterOnly) {
  if (inputs.size() != g.inputs().size())
    throw Error(cat("the model has ", g.inputs().size(), " inputs, got ", inputs.size()));
  std::vector<Value *> dataInputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value *v = g.inputs()[i];
    const Tensor &t = inputs[i];
    if (v->container) {  // passed on by runValues, never read as a tensor
      if (t.dtype() != DType::Undefined)
        throw Error(cat("input '", v->name(), "' is of type ", v->container->describe(),
                        ", not a tensor (use runValues)"));
      dataInputs.push_back(v);
      continue;
    }
    if (v->dtype() != DType::Undefined && v->dtype() != t.dtype())
      throw Error(cat("input '", v->name(), "' expects ", dtypeName(v->dtype()), ", got ", dtypeName(t.dtype())));
    if (v->hasShape() && !g.users(v).empty()) {  // an unread input cannot be wrong
      bool ok = v->dims().size() == t.dims().size();
      for (size_t d = 0; ok && d < t.dims().size(); ++d)
        ok = v->dims()[d] < 0 || v->dims()[d] == t.dims()[d];
      if (!ok) {
        // Only the batch differs: the graph needs its exported N (FreeFixedBatch could not free it).
        Dims want = v->dims(), got = t.dims();
        const bool batchOnly = !want.empty() && want.size() == got.size() && want[0] > 0 &&
                               (want[0] = got[0], std::equal(want.begin(), want.end(), got.begin(), got.end(),
                                                             [](int64_t a, int64_t b) { return a < 0 || a == b; }));
        throw Error(cat("input '", v->name(), "' expects shape ", shapeString(v->dims()), ", got ", shapeString(t.dims()),
                        batchOnly ? cat("; the model fixes its batch at ", v->dims()[0], ": pass --batch ", v->dims()[0]) : ""));
      }
    }
    if (isDataInput(t, parameterOnly[i])) {
      v->setShape(t.dims());
      dataInputs.push_back(v);
    } else {
      v->setConstant(std::make_shared<const Tensor>(t));  // shapes/indices: fixed for this plan
    }
  }
  g.inputs() = dataInputs;
}

// Undoes each fusion that would hide a tapped value: the outputs of a fused node and of the
// nodes fused into it, but the last, are no longer materialised.
void unfuseTapped(Graph &g, const std::vector<std::string> &taps) {
  std::set<std::string> tapped(taps.begin(), taps.end());
  std::map<const Node *, std::vector<Node *>> absorbedBy;
  for (Node *a : g.nodes())
    if (a->fusedInto) absorbedBy[a->fusedInto].push_back(a);
  for (Node *n : g.nodes()) {
    if (!n->fusedAdd && !n->fusedActivation) continue;
    const Node *last = n->fusedActivation ? n->fusedActivation : n->fusedAdd;
    const std::vector<Node *> &absorbed = absorbedBy[n];
    bool hides = tapped.count(n->output(0)->name()) != 0;
    for (const Node *a : absorbed) hides |= a != last && tapped.count(a->output(0)->name()) != 0;
    if (!hides) continue;
    for (Node *a : absorbed) a->fusedInto = nullptr;
    n->fusedAdd = n->fusedActivation = nullptr;
  }
}

}  // namespace

Executor::Plan &Executor::planFor(const std::vector<Tensor> &inputs) {
  std::string key = planKey(inputs, impl_->parameterOnly);
  auto it = impl_->plans.find(key);
  if (it != impl_->plans.end()) return *it->second;

  auto plan = std::make_unique<Plan>();
  plan->graph = graph_->clone();
  Graph &g = *plan->graph;
  bindInputs(g, inputs, impl_->parameterOnly);
  // Shape chains fold first (static shapes everywhere); quantized weights stay codes until the
  // integer lowering has read them.
  specializeShapes(g);
  // The float simulation convolves codes where it can (exact integer sums, see ConvInCodeUnits).
  if (opts_.integer) {
    PassContext lowering;
    lowering.integerTarget = hostIntegerTarget(*opts_.integer);
    lowering.loweringDecisions = &plan->lowering;
    runPasses(g, {"LowerToInteger"}, lowering);
  } else {
    runPasses(g, {"ConvInCodeUnits"});
  }
  runPasses(g, {"FoldDequantizeWeights", "DeadCodeElimination"});
  // A quantized model's float steps are the simulation other results are judged against:
  // direct sums there, one layer at a time; fast convolutions only in float models, and not
  // where a caller reads intermediate values.
  const std::vector<Node *> planNodes = g.nodes();
  const bool quantized = std::any_of(planNodes.begin(), planNodes.end(), [](const Node *n) {
    return n->opType() == "QuantizeLinear" || n->opType() == "DequantizeLinear" || n->opType() == "CodeConv";
  });
  const bool fast = opts_.fastConvolutions && !quantized && opts_.taps.empty();
  if (fast) runPasses(g, {"SplitConcatReaders"});
  // Fusion decisions are re-made on the static shapes of this plan; a fusion that would hide
  // a tapped intermediate value is undone.
  for (Node *n : g.nodes()) n->fusedAdd = n->fusedActivation = n->fusedInto = nullptr;
  runPasses(g, {"FuseResidualAdd", "FuseActivation"});
  unfuseTapped(g, opts_.taps);

  PlanBuilder b(g, impl_->engine);
  b.setAllowInPlace(opts_.taps.empty());
  b.setFastConvolutions(fast);
  std::set<const Value *> observed;
  for (const std::string &name : opts_.taps)
    if (const Value *v = g.findValue(name)) observed.insert(v);
  b.setObserved(std::move(observed));
  plan->threads = omp_get_max_threads();
  ThreadCount threads(plan->threads);
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value *v = graph_->inputs()[i];
    Value *sv = g.findValue(v->name());
    if (isDataInput(inputs[i], impl_->parameterOnly[i]) && sv && !sv->isConstant()) {
      dnnl::memory m = b.newMemory(plainDesc(inputs[i].dims(), dnnlType(inputs[i].dtype())));
      b.define(sv, m);
      plan->inputs.push_back(m);
    } else {
      plan->inputs.emplace_back();
    }
  }
  // Float plans as fast convolutions allow; integer plans give the same codes image by image
  // (exact sums, elementwise requantization).
  if (opts_.fastConvolutions && opts_.taps.empty() && (!quantized || opts_.integer))
    buildImageByImagePrefix(b, g, plan->threads);
  for (Node *n : g.nodes()) {
    if (n->opType() == "Identity" && n->input(0)->container) continue;  // resolved per output below
    for (Value *o : n->outputs())
      if (o && !o->shapeIsStatic())
        throw Error(cat(n->describe(), ": output '", o->name(), "' has no static shape for inputs ",
                        shapeString(inputs.empty() ? Dims{} : inputs[0].dims())));
    requireOutputsFitInMemory(*n);
    threads.set(stepThreads(*n, plan->threads));  // oneDNN sizes a primitive's work split when it is created
    buildNode(b, *n);
  }
  threads.set(plan->threads);  // output and tap reorders
  for (Value *out : g.outputs()) {
    plan->containerSources.push_back(-1);
    if (out->container) {  // a graph input handed on through Identity nodes
      const Value *v = out;
      while (v->producer() && v->producer()->opType() == "Identity") v = v->producer()->input(0);
      // Indexed among the caller's inputs (the plan's graph keeps only its run-time inputs).
      const std::vector<Value *> &given = graph_->inputs();
      auto source =
          std::find_if(given.begin(), given.end(), [&](const Value *in) { return in->name() == v->name(); });
      if (v->producer() || source == given.end())
        throw Error(cat("output '", out->name(), "' (", out->container->describe(),
                        ") is not a graph input passed through Identity"));
      plan->containerSources.back() = static_cast<int>(source - given.begin());
      plan->hostOutputs.push_back(nullptr);
      plan->constOutputs.push_back(nullptr);
      plan->outputs.emplace_back();
      continue;
    }
    plan->hostOutputs.push_back(b.findHostTensor(out));
    if (out->isConstant()) {
      plan->constOutputs.push_back(out->constant());
      plan->outputs.emplace_back();
    } else if (plan->hostOutputs.back()) {
      plan->constOutputs.push_back(nullptr);
      plan->outputs.emplace_back();
    } else {
      plan->constOutputs.push_back(nullptr);
      plan->outputs.push_back(b.plainMemoryOf(out));
    }
  }
  for (const std::string &name : opts_.taps) {
    const Value *v = g.findValue(name);
    if (!v) throw Error(cat("cannot observe '", name, "': it is not computed for these inputs"));
    plan->tapValues.push_back(v);
    plan->taps.push_back(v->isConstant() ? dnnl::memory() : b.plainMemoryOf(v));
  }
  plan->steps = b.takeSteps();
  plan->buffers = b.takeBuffers();
  Plan &ref = *plan;
  impl_->plans[key] = std::move(plan);
  return ref;
}

std::vector<Tensor> Executor::run(const std::vector<Tensor> &inputs, std::vector<Tensor> *taps) {
  std::vector<Tensor> outs = runTensors(inputs, taps);
  const Plan &plan = *impl_->last;
  for (size_t i = 0; i < outs.size(); ++i)
    if (plan.containerSources[i] >= 0)
      throw Error(cat("output '", plan.graph->outputs()[i]->name(), "' is of type ",
                      plan.graph->outputs()[i]->container->describe(), ", not a tensor (use runValues)"));
  return outs;
}

std::vector<RunValue> Executor::runValues(const std::vector<RunValue> &inputs) {
  if (inputs.size() != graph_->inputs().size())
    throw Error(cat("the model has ", graph_->inputs().size(), " inputs, got ", inputs.size()));
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value *v = graph_->inputs()[i];
    const bool isContainer = std::holds_alternative<Container>(inputs[i]);
    if (v->container && !isContainer)
      throw Error(cat("input '", v->name(), "' must be of type ", v->container->describe(), ", got a tensor"));
    if (!v->container && isContainer)
      throw Error(cat("input '", v->name(), "' is a tensor, got a sequence or optional value"));
    tensors.push_back(isContainer ? Tensor() : std::get<Tensor>(inputs[i]));
  }
  std::vector<Tensor> outs = runTensors(tensors, nullptr);
  const Plan &plan = *impl_->last;
  std::vector<RunValue> result;
  for (size_t i = 0; i < outs.size(); ++i) {
    const int source = plan.containerSources[i];
    if (source < 0) {
      result.emplace_back(std::move(outs[i]));
      continue;
    }
    result.emplace_back(std::get<Container>(inputs[static_cast<size_t>(source)]));
  }
  return result;
}

std::vector<Tensor> Executor::runTensors(const std::vector<Tensor> &inputs, std::vector<Tensor> *taps) {
  Plan &plan = planFor(inputs);
  impl_->last = &plan;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (plan.inputs[i] && inputs[i].byteSize() > 0) std::memcpy(plan.inputs[i].get_data_handle(), inputs[i].raw(), inputs[i].byteSize());
  dnnl::stream &s = impl_->stream;
  // A plan's first run faults in its fresh buffers' pages: once there is a second, profiles
  // average the runs after the first.
  const bool profiled = opts_.profile;
  if (profiled) {
    if (plan.runs == 1) plan.profiledRuns = 0;  // drops the first run's times
    if (plan.profiledRuns == 0) plan.stepMs.assign(plan.steps.size(), 0.0);
    ++plan.profiledRuns;
  }
  ++plan.runs;
  ThreadCount threads(plan.threads);
  auto runStep = [&](dnnl::stream &on, size_t i, size_t image) {
    PlanStep &step = plan.steps[i];
    auto t0 = std::chrono::steady_clock::now();
    if (step.fn) {
      on.wait();
      step.fn();
    } else if (step.kernel) {
      on.wait();
      step.kernel(step.chunkBuffers.empty() ? step.buffers.data() : step.chunkBuffers[image].data());
    } else {
      step.primitive.execute(on, step.chunkArgs.empty() ? step.args : step.chunkArgs[image]);
    }
    if (profiled) {
      on.wait();
      plan.stepMs[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  };
  for (size_t i = 0; i < plan.steps.size();) {
    const PlanStep &first = plan.steps[i];
    if (first.groupSize == 0) {
      threads.set(first.threads);
      runStep(s, i++, 0);
      continue;
    }
    // Copy t of the group on thread t, over its images; its steps were built for one thread
    // and oneDNN and the kernels run on one inside this region. A stream per thread; an error
    // leaves the region as a value (an exception may not cross it) and is thrown here.
    const size_t copies = first.groupCopies, len = first.groupSize / copies;
    s.wait();
    while (impl_->threadStreams.size() < copies) impl_->threadStreams.emplace_back(impl_->engine);
    std::vector<std::exception_ptr> failed(copies);
#pragma omp parallel num_threads(static_cast<int>(copies))
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num());
      omp_set_num_threads(1);  // for regions nested in this one, should nesting be enabled
      try {
        dnnl::stream &on = impl_->threadStreams[t];
        for (size_t image = t; image < first.groupImages; image += copies)
          for (size_t j = i + t * len; j < i + (t + 1) * len; ++j) runStep(on, j, image);
        on.wait();
      } catch (...) {
        failed[t] = std::current_exception();
      }
    }
    for (const std::exception_ptr &e : failed)
      if (e) std::rethrow_exception(e);
    i += first.groupSize;
  }
  s.wait();
  std::vector<Tensor> outs;
  for (size_t i = 0; i < plan.outputs.size(); ++i) {
    if (plan.constOutputs[i]) {
      outs.push_back(*plan.constOutputs[i]);
      continue;
    }
    if (plan.hostOutputs[i]) {
      outs.push_back(*plan.hostOutputs[i]);
      continue;
    }
    if (plan.containerSources[i] >= 0) {  // filled in by runValues
      outs.emplace_back();
      continue;
    }
    const Value *v = plan.graph->outputs()[i];
    Tensor t(v->dtype(), v->dims());
    if (t.byteSize()) std::memcpy(t.raw(), plan.outputs[i].get_data_handle(), t.byteSize());
    outs.push_back(std::move(t));
  }
  if (taps) {
    taps->clear();
    for (size_t i = 0; i < plan.tapValues.size(); ++i) {
      const Value *v = plan.tapValues[i];
      if (v->isConstant()) {
        taps->push_back(*v->constant());
        continue;
      }
      Tensor t(DType::Float32, v->dims());
      if (t.byteSize()) std::memcpy(t.raw(), plan.taps[i].get_data_handle(), t.byteSize());
      taps->push_back(std::move(t));
    }
  }
  return outs;
}

}  // namespace lowbit
