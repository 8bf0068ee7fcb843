#include "train/Network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "ops/OpParams.h"
#include "passes/PassManager.h"
#include "quant/QuantRules.h"
#include "support/Strings.h"
#include "train/FakeQuantOp.h"
#include "train/Layer.h"

namespace lowbit::train {

namespace {

// Fake quantization of an activation with a learnable step (LSQ), or a fixed one (DoReFa).
class ActQuantLayer final : public Layer {
 public:
  ActQuantLayer(QuantRange r, Param *step, size_t x, size_t y, bool learnStep)
      : fq_(r, -1), step_(step), x_(x), y_(y), learnStep_(learnStep) {}
  void forward(std::vector<Tensor> &v) override { fq_.forward(v[x_], step_->value, v[y_]); }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    Tensor ds(DType::Float32, step_->value.dims());
    bool add = false;
    Tensor &dx = g.claim(x_, add);
    fq_.backward(v[x_], step_->value, g[y_], &dx, learnStep_ ? &ds : nullptr, add);
    if (learnStep_) accumulate(step_->grad, ds);
  }

 private:
  FakeQuantOp fq_;
  Param *step_;
  size_t x_, y_;
  bool learnStep_;
};

// DoReFa's weight transform (WeightQuantizer::Dorefa) of \p w over the units sharing a step
// (channels on \p axis, merged by \p groupOf; the whole tensor for axis -1): out = alpha *
// tanh(w) / m with m the unit's largest |tanh(w)|, so alpha * Q(L * tanh(w) / m) / L are the
// quantized weights, L the largest code of \p levels and Q its rounding; step[c] = alpha / L of
// c's unit. DoReFa's normalised weights lie in [-1, 1] and the BatchNormalization after the
// convolution gives each channel its scale; here that normalisation is folded into the weights,
// so alpha is the scale that fits the normalised levels u = Q(L tanh(w) / m) / L to w best,
// sum(w u) / sum(u u), as BatchNormalization's per-channel statistics would rescale them.
// \p gain, if given, receives d out / d w = alpha / m * (1 - tanh(w)^2) (alpha and m held).
void dorefaTransform(const Tensor &w, int axis, const std::vector<int32_t> &groupOf, const QuantParams &levels,
                     Tensor &out, Tensor &step, Tensor *gain = nullptr) {
  const ChannelView v = channelView(w.dims(), axis);
  const float *x = w.data<float>();
  const size_t channels = static_cast<size_t>(v.channels);
  // Unit of each channel: itself, or its group (the group's channels share m and alpha).
  LOWBIT_CHECK(groupOf.empty() || groupOf.size() == channels, "one group per channel");
  std::vector<size_t> unit(channels);
  for (size_t c = 0; c < channels; ++c) unit[c] = groupOf.empty() ? c : static_cast<size_t>(groupOf[c]);
  const size_t units = channels ? *std::max_element(unit.begin(), unit.end()) + 1 : 0;
  auto each = [&](auto &&f) {
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t c = 0; c < v.channels; ++c)
        for (int64_t i = 0; i < v.inner; ++i) {
          const int64_t at = (o * v.channels + c) * v.inner + i;
          f(unit[static_cast<size_t>(c)], at, static_cast<double>(x[at]));
        }
  };
  std::vector<double> m(units, 0.0), wu(units, 0.0), uu(units, 0.0);
  each([&](size_t u, int64_t, double e) { m[u] = std::max(m[u], std::fabs(std::tanh(e))); });
  QuantParams unitGrid = levels;  // levels of one unit, on [-1, 1]
  const float largest = largestCode(levels);
  unitGrid.granularity = QuantParams::Granularity::PerTensor;
  unitGrid.scale = {1.f / largest};
  unitGrid.zeroPoint = {0};
  each([&](size_t u, int64_t, double e) {
    if (m[u] == 0.0) return;
    const double q = dequantizeValue(quantizeCode(static_cast<float>(std::tanh(e) / m[u]), unitGrid, 0), unitGrid.scale[0], 0);
    wu[u] += e * q;
    uu[u] += q * q;
  });
  std::vector<double> alpha(units, 0.0);
  for (size_t u = 0; u < units; ++u) alpha[u] = uu[u] > 0.0 ? std::max(wu[u], 0.0) / uu[u] : 0.0;
  float *y = out.data<float>(), *gn = gain ? gain->data<float>() : nullptr;
  each([&](size_t u, int64_t at, double e) {
    const double k = m[u] > 0 ? alpha[u] / m[u] : 0.0, t = std::tanh(e);
    y[at] = static_cast<float>(k * t);
    if (gn) gn[at] = static_cast<float>(k * (1.0 - t * t));
  });
  for (size_t c = 0; c < channels; ++c) step.data<float>()[c] = static_cast<float>(std::max(alpha[unit[c]], 1e-12) / largest);
}

// PACT: clip at a learnable alpha, then quantize uniformly with step alpha / qmax. The input
// gradient passes straight through inside [0, alpha]; alpha collects the clipped elements'.
class PactQuantLayer final : public Layer {
 public:
  PactQuantLayer(QuantRange r, Param *alpha, size_t x, size_t y)
      : fq_(r, -1, false), alpha_(alpha), x_(x), y_(y), step_(DType::Float32, {1}) {}
  void forward(std::vector<Tensor> &v) override {
    step_.data<float>()[0] = alpha_->value.data<float>()[0] * alpha_->stepPerUnit;
    fq_.forward(v[x_], step_, v[y_]);
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    Tensor da(DType::Float32, {1});
    bool add = false;
    Tensor &dx = g.claim(x_, add);
    pact_.backward(v[x_], alpha_->value, g[y_], &dx, &da, add);
    accumulate(alpha_->grad, da);
  }

 private:
  FakeQuantOp fq_;
  PactClipOp pact_;
  Param *alpha_;
  size_t x_, y_;
  Tensor step_;
};

}  // namespace

ActivationQuantizer parseActivationQuantizer(const std::string &name) {
  if (name == "lsq") return ActivationQuantizer::Lsq;
  if (name == "pact") return ActivationQuantizer::Pact;
  if (name == "dorefa") return ActivationQuantizer::Dorefa;
  throw Error(cat("unknown activation quantizer '", name, "' (lsq, pact, dorefa)"));
}

const char *activationQuantizerName(ActivationQuantizer q) {
  return q == ActivationQuantizer::Pact ? "pact" : q == ActivationQuantizer::Dorefa ? "dorefa" : "lsq";
}

WeightQuantizer parseWeightQuantizer(const std::string &name) {
  if (name == "lsq") return WeightQuantizer::Lsq;
  if (name == "dorefa") return WeightQuantizer::Dorefa;
  throw Error(cat("unknown weight quantizer '", name, "' (lsq, dorefa)"));
}

const char *weightQuantizerName(WeightQuantizer q) {
  return q == WeightQuantizer::Dorefa ? "dorefa" : q == WeightQuantizer::Inq ? "inq" : "lsq";
}

const Tensor &QuantizedWeight::forward() {
  if (!fq) return weight->value;
  if (weight->derive) {
    weight->derive(weight->value, transformed, step->value, &gain);
    fq->forward(transformed, step->value, quantized);
    return quantized;
  }
  fq->forward(weight->value, step->value, quantized);
  return quantized;
}

void QuantizedWeight::backward(const Tensor &dw) {
  if (!fq) return accumulate(weight->grad, dw);
  if (weight->derive) {  // straight through the rounding (the grid holds every transformed value), then the transform
    Tensor dt(DType::Float32, weight->value.dims());
    fq->backward(transformed, step->value, dw, &dt, nullptr);
    float *d = dt.data<float>();
    for (int64_t i = 0; i < dt.numel(); ++i) d[i] *= gain.data<float>()[i];
    return accumulate(weight->grad, dt);
  }
  Tensor dx(DType::Float32, weight->value.dims()), ds(DType::Float32, step->value.dims());
  fq->backward(weight->value, step->value, dw, &dx, &ds);
  // The steps of a group start equal; giving them the group's summed gradient keeps them so.
  if (!groupOf.empty()) {
    std::map<int32_t, double> sum;
    float *d = ds.data<float>();
    for (size_t c = 0; c < groupOf.size(); ++c) sum[groupOf[c]] += d[c];
    for (size_t c = 0; c < groupOf.size(); ++c) d[c] = static_cast<float>(sum[groupOf[c]]);
  }
  accumulate(weight->grad, dx);
  accumulate(step->grad, ds);
}

NetworkBuilder::NetworkBuilder(Network &net, const Graph &g, ActivationQuantizer activations, WeightQuantizer weights)
    : net_(net), g_(g), activations_(activations), weights_(weights) {}

void NetworkBuilder::build() {
  if (g_.inputs().size() != 1 || g_.outputs().size() != 1)
    throw Error("the training engine takes models with one input and one output");
  const Value *in = g_.inputs()[0];
  net_.inputSlot_ = newSlot(in->name(), in->dims());
  slots_[in] = net_.inputSlot_;
  maybeQuantizeActivation(in);
  for (const Node *n : g_.nodes()) {
    const TrainableOp *e = n->domain().empty() ? findTrainableOp(n->opType()) : nullptr;
    if (!e)
      throw Error(cat(n->describe(), ": the training engine has no gradient for this op"));
    e->build(*this, *n);
    for (const Value *out : n->outputs())
      if (out) maybeQuantizeActivation(out);
  }
  const Value *out = g_.outputs()[0];
  if (out->isConstant() || !slots_.count(out)) throw Error(cat("output '", out->name(), "' is not computed from the input"));
  net_.outputSlot_ = quantized_.count(out) ? quantized_[out] : slots_[out];
}

Device &NetworkBuilder::device() { return net_.dev_; }

size_t NetworkBuilder::newSlot(const std::string &name, const Dims &dims) {
  net_.values_.emplace_back(DType::Float32, dims);
  net_.grads_.addSlot(dims);
  net_.slotNames_.push_back(name);
  return net_.values_.size() - 1;
}

size_t NetworkBuilder::input(const Node &n, const Value *v) {
  if (!v) throw Error(cat(n.describe(), ": a required input is missing"));
  if (auto q = quantized_.find(v); q != quantized_.end()) return q->second;
  if (auto it = slots_.find(v); it != slots_.end()) return it->second;
  if (!v->isConstant()) throw Error(cat(n.describe(), ": input '", v->name(), "' is not computed before it is read"));
  if (v->dtype() != DType::Float32)
    throw Error(cat(n.describe(), ": input '", v->name(), "' is ", dtypeName(v->dtype()), ", the training engine trains float data"));
  // A constant operand (a scale, h-swish's 3 and 6): filled once, never written by a layer.
  const size_t s = newSlot(v->name(), v->dims());
  std::memcpy(net_.values_[s].raw(), v->constant()->raw(), v->constant()->byteSize());
  slots_[v] = s;
  return s;
}

size_t NetworkBuilder::output(const Node &n, const Value *v) {
  if (!v->shapeIsStatic()) throw Error(cat(n.describe(), ": output '", v->name(), "' has no static shape"));
  if (v->dtype() != DType::Float32)
    throw Error(cat(n.describe(), ": output '", v->name(), "' is ", dtypeName(v->dtype()), ", the training engine trains float data"));
  const size_t s = newSlot(v->name(), v->dims());
  slots_[v] = s;
  return s;
}

Dims NetworkBuilder::dims(size_t slot) const { return net_.values_[slot].dims(); }

void NetworkBuilder::add(std::unique_ptr<Layer> layer) {
  layer->bindParameterGradients(&net_.paramGrads_);
  net_.layers_.push_back(std::move(layer));
}

Param *NetworkBuilder::newParam(const std::string &name, Tensor value, Param::Kind kind) {
  auto p = std::make_unique<Param>();
  p->name = name;
  p->grad = Tensor(DType::Float32, value.dims());
  p->value = std::move(value);
  p->kind = kind;
  net_.params_.push_back(std::move(p));
  paramsByName_[name] = net_.params_.back().get();
  return net_.params_.back().get();
}

Param *NetworkBuilder::param(const Value *v, Param::Kind kind) {
  if (auto it = paramsByName_.find(v->name()); it != paramsByName_.end()) return it->second;
  Tensor t(DType::Float32, v->dims());
  const std::vector<float> f = v->constant()->toFloats();
  std::memcpy(t.raw(), f.data(), f.size() * sizeof(float));
  return newParam(v->name(), std::move(t), kind);
}

QuantizedWeight NetworkBuilder::weight(const Node &n, const Value *w, int axis) {
  QuantizedWeight q;
  if (paramsByName_.count(w->name()))
    throw Error(cat(n.describe(), ": weight '", w->name(), "' is shared with another layer; the training engine trains a weight once"));
  q.weight = param(w, Param::Kind::Weight);
  if (w->quant && w->quant->state != QuantParams::State::FloatOnly && !w->quant->scale.empty()) {
    const QuantParams &p = *w->quant;
    for (int32_t z : p.zeroPoint)
      if (z != 0) throw Error(cat(n.describe(), ": weights with a zero point cannot be fine-tuned yet"));
    if (weights_ == WeightQuantizer::Inq) {  // float weights; frozen part by part onto p's levels
      q.weight->inq = p;
      return q;
    }
    if (p.scheme == QuantParams::Scheme::PowerOfTwo && weights_ == WeightQuantizer::Dorefa)
      throw Error(cat(n.describe(), ": DoReFa weights are uniform; power-of-two weights train with --weight-quantizer lsq"));
    const bool perTensor = p.granularity == QuantParams::Granularity::PerTensor;
    // Group-wise parameters repeat the group's scale per channel: trained per channel.
    Tensor steps = perTensor ? Tensor::fromVector<float>({1}, {p.scale[0]})
                             : Tensor::fromVector<float>({static_cast<int64_t>(p.scale.size())}, p.scale);
    q.step = newParam(w->name() + ".step", std::move(steps), Param::Kind::Step);
    q.fq = std::make_unique<FakeQuantOp>(FakeQuantOp::forWeights(p, perTensor ? -1 : axis));
    if (p.granularity == QuantParams::Granularity::PerGroup) q.groupOf = p.groupOf;
    q.quantized = Tensor(DType::Float32, w->dims());
    if (weights_ == WeightQuantizer::Dorefa) {
      q.transformed = Tensor(DType::Float32, w->dims());
      q.gain = Tensor(DType::Float32, w->dims());
      q.weight->derive = [axis = perTensor ? -1 : axis, groupOf = q.groupOf, p](const Tensor &value, Tensor &out,
                                                                              Tensor &step, Tensor *gain) {
        dorefaTransform(value, axis, groupOf, p, out, step, gain);
      };
      q.weight->derivedStep = q.step;
    }
  }
  return q;
}

void NetworkBuilder::maybeQuantizeActivation(const Value *v) {
  if (v->isConstant() || !v->quant || v->quant->scale.size() != 1 || v->quant->state == QuantParams::State::FloatOnly) return;
  const QuantParams &p = *v->quant;
  if (p.zeroPoint.at(0) != 0) throw Error(cat("activation '", v->name(), "' has a zero point; only symmetric ones train"));
  const QuantRange range = quantRange(p.bits, p.isSigned, p.narrowRange);
  const bool pact = activations_ == ActivationQuantizer::Pact && range.qmin == 0;
  // Parameters shared with another activation (--share-concat-scales) train as one step, so
  // the exported codes still flow through unchanged. Without that activation in this network
  // (a block after the Concat's), the step is held where the Concat's block left it.
  const Value *source = p.sharedFrom.empty() ? nullptr : g_.findValue(p.sharedFrom);
  Param *step = nullptr;
  if (auto shared = source ? activationSteps_.find(source) : activationSteps_.end(); shared != activationSteps_.end()) {
    step = shared->second;  // written back to the source; writeBack copies it to v
  } else {
    step = pact ? newParam(v->name() + ".alpha", Tensor::fromVector<float>({1}, {p.scale[0] * static_cast<float>(range.qmax)}),
                           Param::Kind::Clip)
                : newParam(v->name() + ".step", Tensor::fromVector<float>({1}, {p.scale[0]}), Param::Kind::Step);
    if (pact) step->stepPerUnit = 1.f / static_cast<float>(range.qmax);
    if (!p.sharedFrom.empty()) step->frozen = {1};
  }
  activationSteps_[v] = step;
  const size_t from = slots_.at(v);
  const Dims d = dims(from);  // a copy: adding the slot moves the tensors
  const size_t to = newSlot(v->name() + " (fake-quantized)", d);
  if (pact)
    add(std::make_unique<PactQuantLayer>(range, step, from, to));
  else
    add(std::make_unique<ActQuantLayer>(range, step, from, to, activations_ != ActivationQuantizer::Dorefa));
  quantized_[v] = to;
}

std::string exposeLogits(Graph &g) {
  if (g.outputs().empty()) return "";
  const Node *n = g.outputs()[0]->producer();
  if (!n || (n->opType() != "Softmax" && n->opType() != "LogSoftmax") || !n->domain().empty()) return "";
  Value *x = n->input(0);
  if (!x || !x->hasShape() || logitClasses(x->dims()) < 1) return "";
  // Over the classes: axis 1, alone (opset 13) or with the unit dims after it (before 13).
  if (softmaxAxis(*n, static_cast<int64_t>(x->dims().size()), g.opset) != 1) return "";
  const std::string op = n->opType();
  g.outputs()[0] = x;
  g.removeDeadCode();
  return op;
}

Network::Network(const Graph &g, const Dims &inputDims, ActivationQuantizer activations, WeightQuantizer weights) {
  if (g.inputs().size() != 1) throw Error("the training engine takes models with one input and one output");
  const std::unique_ptr<Graph> specialised = specializedClone(g, {inputDims}, /*anyBatch=*/true);
  // A QDQ file's weights: their float values as the float runner reads them.
  runPasses(*specialised, {"FoldDequantizeWeights", "DeadCodeElimination"});
  NetworkBuilder(*this, *specialised, activations, weights).build();
}
Network::~Network() = default;

const Tensor &Network::forward(const Tensor &input) {
  if (input.dims() != values_[inputSlot_].dims())
    throw Error(cat("the network was built for input ", shapeString(values_[inputSlot_].dims()), ", got ",
                    shapeString(input.dims())));
  std::memcpy(values_[inputSlot_].raw(), input.raw(), input.byteSize());
  for (auto &l : layers_) l->forward(values_);
  return values_[outputSlot_];
}

const Tensor &Network::backward(const Tensor &dOutput, const std::vector<ActivationGrad> &extra) {
  LOWBIT_CHECK(dOutput.dims() == values_[outputSlot_].dims(), "output gradient has the wrong dims");
  grads_.reset();
  grads_.contribute(outputSlot_, dOutput);
  // Layers add into their input slots in reverse order, so a seed is complete before the
  // layer that produced the activation runs.
  for (const ActivationGrad &e : extra) {
    const size_t slot = slotOf(e.name);
    if (e.grad->dims() != values_[slot].dims())
      throw Error(cat("gradient for activation '", e.name, "' has the wrong dims"));
    grads_.contribute(slot, *e.grad);
  }
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) (*it)->backward(values_, grads_);
  return grads_[inputSlot_];
}

void Network::zeroGrad() {
  for (auto &p : params_) std::memset(p->grad.raw(), 0, p->grad.byteSize());
}

std::vector<Param *> Network::params() {
  std::vector<Param *> out;
  for (auto &p : params_) out.push_back(p.get());
  return out;
}

size_t Network::slotOf(const std::string &name) const {
  for (size_t i = 0; i < slotNames_.size(); ++i)
    if (slotNames_[i] == name) return i;
  throw Error(cat("the network has no activation '", name, "'"));
}

bool Network::hasActivation(const std::string &name) const {
  return std::find(slotNames_.begin(), slotNames_.end(), name) != slotNames_.end();
}

const Tensor &Network::activation(const std::string &name) const { return values_[slotOf(name)]; }

}  // namespace lowbit::train
