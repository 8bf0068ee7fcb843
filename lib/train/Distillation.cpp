#include "train/Distillation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>

#include "data/Preprocess.h"
#include "passes/PassManager.h"
#include "quant/QuantRules.h"
#include "support/Progress.h"
#include "support/Strings.h"
#include "train/Adam.h"
#include "train/Attack.h"
#include "train/Augment.h"
#include "train/Network.h"
#include "train/RobustLosses.h"

namespace lowbit::train {

FinetuneConfig::Mode FinetuneConfig::parseMode(const std::string &name) {
  if (name == "twostage") return Mode::TwoStage;
  if (name == "blockwise") return Mode::Blockwise;
  if (name == "global") return Mode::Global;
  if (name == "inq") return Mode::Inq;
  throw Error(cat("--finetune '", name, "': expected twostage, blockwise, global or inq"));
}

std::vector<Block> findBlocks(const Graph &g) {
  const std::vector<Node *> order = g.nodes();
  std::map<const Value *, size_t> lastUse;
  for (size_t i = 0; i < order.size(); ++i)
    for (const Value *in : order[i]->inputs())
      if (in && !in->isConstant()) lastUse[in] = i;
  std::vector<Block> blocks;
  Block cur;
  cur.input = g.inputs().at(0)->name();
  bool hasLayer = false;
  std::set<const Value *> live = {g.inputs()[0]};
  for (size_t i = 0; i < order.size(); ++i) {
    const Node *n = order[i];
    cur.nodes.push_back(n->name());
    hasLayer |= isWeightLayer(*n);
    for (const Value *o : n->outputs())
      if (o) live.insert(o);
    for (auto it = live.begin(); it != live.end();)
      it = lastUse.count(*it) && lastUse[*it] > i ? std::next(it) : live.erase(it);
    const Value *out = n->output(0);
    if (i + 1 == order.size()) {
      cur.output = g.outputs().at(0)->name();
      if (!hasLayer && !blocks.empty()) {  // a tail without layers joins the last block
        blocks.back().nodes.insert(blocks.back().nodes.end(), cur.nodes.begin(), cur.nodes.end());
        blocks.back().output = cur.output;
      } else {
        blocks.push_back(cur);
      }
      break;
    }
    const std::vector<Node *> readers = g.users(out);
    const bool activationNext = readers.size() == 1 && (readers[0]->opType() == "Relu" || readers[0]->opType() == "Clip");
    if (live.size() == 1 && *live.begin() == out && hasLayer && !activationNext) {
      cur.output = out->name();
      blocks.push_back(cur);
      cur = Block{};
      cur.input = out->name();
      hasLayer = false;
    }
  }
  return blocks;
}

std::unique_ptr<Graph> extractSubgraph(const Graph &g, const std::string &input, const std::string &output) {
  const Value *in = g.findValue(input), *out = g.findValue(output);
  if (!in || !out) throw Error(cat("no value '", in ? output : input, "' to cut a block at"));
  // Nodes on paths from the input to the output.
  std::set<const Node *> needed;
  std::vector<const Value *> stack = {out};
  while (!stack.empty()) {
    const Value *v = stack.back();
    stack.pop_back();
    if (v == in || v->isConstant() || !v->producer() || needed.count(v->producer())) continue;
    needed.insert(v->producer());
    for (const Value *x : v->producer()->inputs())
      if (x) stack.push_back(x);
  }
  auto sub = std::make_unique<Graph>();
  sub->opset = g.opset;
  std::map<const Value *, Value *> map;
  auto copyValue = [&](const Value *v) {
    Value *c = v->isConstant() ? sub->addConstant(v->name(), *v->constant()) : sub->addValue(v->name());
    if (!v->isConstant()) {
      c->setDType(v->dtype());
      if (v->hasShape()) c->setShape(v->dims());
    }
    c->quant = v->quant;
    map[v] = c;
    return c;
  };
  sub->inputs().push_back(copyValue(in));
  for (const Node *n : g.nodes()) {
    if (!needed.count(n)) continue;
    std::vector<Value *> ins, outs;
    for (const Value *x : n->inputs()) {
      if (!x) {
        ins.push_back(nullptr);
        continue;
      }
      auto it = map.find(x);
      if (it != map.end()) {
        ins.push_back(it->second);
      } else if (x->isConstant()) {
        ins.push_back(copyValue(x));
      } else {
        throw Error(cat("block '", input, "' -> '", output, "' reads '", x->name(), "' from outside"));
      }
    }
    for (const Value *o : n->outputs()) outs.push_back(o ? copyValue(o) : nullptr);
    Node *c = sub->addNode(n->name(), n->opType(), ins, outs);
    for (const auto &[name, a] : n->attrs()) c->setAttr(name, a);
  }
  if (!map.count(out)) throw Error(cat("block output '", output, "' is not computed from '", input, "'"));
  sub->outputs().push_back(map[out]);
  return sub;
}

namespace {

// Rows \p idx of \p all ([N, ...]) as one batch.
Tensor gather(const Tensor &all, const std::vector<int64_t> &idx) {
  Dims d = all.dims();
  const size_t row = static_cast<size_t>(all.numel() / d[0]) * sizeof(float);
  d[0] = static_cast<int64_t>(idx.size());
  Tensor out(DType::Float32, d);
  for (size_t i = 0; i < idx.size(); ++i)
    std::memcpy(static_cast<char *>(out.raw()) + i * row, static_cast<const char *>(all.raw()) + static_cast<size_t>(idx[i]) * row, row);
  return out;
}

std::vector<int64_t> randomBatch(std::mt19937 &rng, int64_t n, int batch) {
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  std::vector<int64_t> idx(static_cast<size_t>(batch));
  for (int64_t &i : idx) i = pick(rng);
  return idx;
}

// Teacher activations at the block boundaries for every image, computed once.
std::map<std::string, Tensor> teacherBoundaries(const Graph &teacher, const Tensor &images, const std::vector<Block> &blocks,
                                                int batch, bool progress) {
  std::set<std::string> names;
  for (const Block &b : blocks) {
    names.insert(b.input);
    names.insert(b.output);
  }
  const int64_t n = images.dims()[0];
  Dims bd = images.dims();
  bd[0] = batch;
  Network net(teacher, bd);
  std::map<std::string, Tensor> out;
  Progress p("finetune: float teacher", n);
  for (int64_t start = 0; start < n; start += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < start + batch; ++i) idx.push_back(std::min(i, n - 1));  // pad the last batch
    net.forward(gather(images, idx));
    for (const std::string &name : names) {
      const Tensor &a = net.activation(name);
      if (!out.count(name)) {
        Dims d = a.dims();
        d[0] = n;
        if (static_cast<double>(numElements(d)) * 4 > 8e9)
          throw Error(cat("finetune: caching the float model's '", name, "' for ", n, " images needs over 8 GB; use fewer images"));
        out.emplace(name, Tensor(DType::Float32, d));
      }
      const size_t row = static_cast<size_t>(a.numel() / batch) * sizeof(float);
      const int64_t count = std::min<int64_t>(batch, n - start);
      std::memcpy(static_cast<char *>(out[name].raw()) + static_cast<size_t>(start) * row, a.raw(), static_cast<size_t>(count) * row);
    }
    if (progress) p.advance(std::min<int64_t>(batch, n - start));
  }
  if (progress) p.finish();
  return out;
}

// Copies trained values into the IR: weights and biases by value name, steps into QuantParams.
void writeBack(Graph &g, Network &net) {
  // Transformed weights (DoReFa) first: their steps follow from the values written.
  for (Param *p : net.params())
    if (p->derive) {
      Tensor out(DType::Float32, p->value.dims());
      p->derive(p->value, out, p->derivedStep->value, nullptr);
      Value *v = g.findValue(p->name);
      if (!v || !v->isConstant()) throw Error(cat("finetune: no constant '", p->name, "' to write back"));
      v->setConstant(std::make_shared<const Tensor>(std::move(out)));
    }
  for (Param *p : net.params()) {
    if (p->derive) continue;
    if (p->kind == Param::Kind::Step || p->kind == Param::Kind::Clip) {
      const size_t suffix = std::string(p->kind == Param::Kind::Step ? ".step" : ".alpha").size();
      const std::string name = p->name.substr(0, p->name.size() - suffix);
      Value *v = g.findValue(name);
      if (!v || !v->quant) throw Error(cat("finetune: no quantized value '", name, "' to write a step to"));
      std::vector<float> s = p->value.toFloats();
      for (float &x : s) x *= p->stepPerUnit;
      if (s.size() == 1) {
        std::fill(v->quant->scale.begin(), v->quant->scale.end(), s[0]);
      } else {
        v->quant->scale = s;
      }
    } else {
      Value *v = g.findValue(p->name);
      if (!v || !v->isConstant()) throw Error(cat("finetune: no constant '", p->name, "' to write back"));
      v->setConstant(std::make_shared<const Tensor>(p->value));
    }
  }
  // Shared parameters follow their activation's (one step trained here, or in an earlier block).
  for (Value *v : g.values())
    if (v->quant && !v->quant->sharedFrom.empty())
      if (const Value *from = g.findValue(v->quant->sharedFrom); from && from->quant) v->quant->scale = from->quant->scale;
}

double meanSquaredError(const Tensor &y, const Tensor &t, Tensor &dy) {
  const float *a = y.data<float>(), *b = t.data<float>();
  float *d = dy.data<float>();
  const double n = static_cast<double>(y.numel());
  double sum = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double e = static_cast<double>(a[i]) - b[i];
    sum += e * e;
    d[i] = static_cast<float>(2.0 * e / n);
  }
  return sum / n;
}

// T^2 * KL(softmax(t/T) || softmax(s/T)) averaged over the batch, and its gradient in s;
// \p perRow, if given, receives each row's loss.
double distillationLoss(const Tensor &s, const Tensor &t, float temperature, Tensor &ds,
                        std::vector<double> *perRow = nullptr) {
  const int64_t n = s.dims()[0], k = s.dims()[1];
  const double T = temperature;
  double total = 0;
  if (perRow) perRow->assign(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double before = total;
    const float *a = s.data<float>() + i * k, *b = t.data<float>() + i * k;
    std::vector<double> ps(static_cast<size_t>(k)), pt(static_cast<size_t>(k));
    double ms = -1e300, mt = -1e300;
    for (int64_t j = 0; j < k; ++j) {
      ms = std::max(ms, a[j] / T);
      mt = std::max(mt, b[j] / T);
    }
    double zs = 0, zt = 0;
    for (int64_t j = 0; j < k; ++j) {
      zs += ps[static_cast<size_t>(j)] = std::exp(a[j] / T - ms);
      zt += pt[static_cast<size_t>(j)] = std::exp(b[j] / T - mt);
    }
    for (int64_t j = 0; j < k; ++j) {
      const double p = pt[static_cast<size_t>(j)] / zt, q = ps[static_cast<size_t>(j)] / zs;
      if (p > 0) total += T * T * p * (std::log(p) - std::log(std::max(q, 1e-300)));
      ds.data<float>()[i * k + j] = static_cast<float>(T * (q - p) / static_cast<double>(n));
    }
    if (perRow) (*perRow)[static_cast<size_t>(i)] = total - before;
  }
  return total / static_cast<double>(n);
}

// Stage 1: each block, in order, fits the float block's output on the training images.
nlohmann::json runBlockwise(Graph &quantized, Graph &student, const std::vector<Block> &blocks,
                            const std::map<std::string, Tensor> &cache, const Tensor &images,
                            const std::vector<int64_t> &trainIdx, const FinetuneConfig &cfg, int batch, std::mt19937 &rng) {
  nlohmann::json stage = nlohmann::json::array();
  std::vector<std::unique_ptr<Network>> done;  // fine-tuned quantized blocks (quantized-input mode)
  const int64_t n = static_cast<int64_t>(trainIdx.size());
  for (size_t b = 0; b < blocks.size(); ++b) {
    const Block &blk = blocks[b];
    std::unique_ptr<Graph> sub = extractSubgraph(student, blk.input, blk.output);
    Dims inDims = cache.at(blk.input).dims();
    inDims[0] = batch;
    auto net = std::make_unique<Network>(*sub, inDims, cfg.activations, cfg.weightQuantizer);
    AdamConfig ac;
    ac.lr = cfg.blockLr;
    ac.totalSteps = cfg.blockIters;
    Adam adam(net->params(), ac);
    Tensor dy;
    double first = 0, last = 0, windowSum = 0;
    int window = 0;
    Progress p(cat("finetune stage 1: block ", b + 1, "/", blocks.size()), cfg.blockIters, "steps");
    for (int it = 0; it < cfg.blockIters; ++it) {
      std::vector<int64_t> idx = randomBatch(rng, n, batch);
      for (int64_t &i : idx) i = trainIdx[static_cast<size_t>(i)];
      Tensor in;
      if (cfg.blockInputFromFloat || b == 0) {
        in = gather(cache.at(blk.input), idx);
      } else {  // through the quantized blocks already fine-tuned
        in = gather(images, idx);
        for (auto &prev : done) in = prev->forward(in);
      }
      const Tensor &y = net->forward(in);
      Tensor target = gather(cache.at(blk.output), idx);
      if (dy.dims() != y.dims()) dy = Tensor(DType::Float32, y.dims());
      const double loss = meanSquaredError(y, target, dy);
      windowSum += loss;
      ++window;
      net->zeroGrad();
      net->backward(dy);
      adam.step();
      // Losses averaged over windows of 10 steps (single batches are noisy): the first window's
      // mean is first_mse, the last one's last_mse.
      if (window == 10 || it + 1 == cfg.blockIters) {
        last = windowSum / window;
        if (it < 10) first = last;
        windowSum = 0;
        window = 0;
      }
      if (cfg.progress) {
        p.setNote(cat("mse ", last > 0 ? last : loss));
        p.advance(1);
      }
    }
    if (cfg.progress) p.finish();
    writeBack(student, *net);
    writeBack(quantized, *net);
    stage.push_back({{"block", b + 1}, {"input", blk.input}, {"output", blk.output}, {"nodes", blk.nodes.size()},
                     {"first_mse", first}, {"last_mse", last}});
    done.push_back(std::move(net));
  }
  return stage;
}

// Stage 2: the whole quantized network against the float model's softened outputs, optionally
// plus the block outputs' MSE; epochs over the training images and a KL on the held-back ones.
class JointStage {
 public:
  JointStage(const Graph &student, const Graph &teacher, const Dims &batchDims, const std::vector<Block> &blocks,
             const std::map<std::string, Tensor> &cache, const Tensor &images, const FinetuneConfig &cfg)
      : net_(student, batchDims, cfg.activations, cfg.weightQuantizer), cache_(cache), images_(images), cfg_(cfg),
        batch_(static_cast<int>(batchDims[0])), logits_(blocks.back().output) {
    if (cfg.augment || cfg.mixup > 0.f) teacher_ = std::make_unique<Network>(teacher, batchDims);
    // Intermediate feature matching: every block output but the last (the logits, which the
    // KL term already matches), each weighted featureWeight / count.
    if (cfg.featureWeight > 0.f)
      for (size_t b = 0; b + 1 < blocks.size(); ++b) features_.push_back(blocks[b].output);
    featureGrads_.resize(features_.size());
    structure_ = blocks.size() >= 2 ? blocks[blocks.size() - 2].output : blocks.back().output;
  }

  Network &net() { return net_; }

  struct Loss {
    double kl = 0, featureMse = 0, structure = 0, lipschitz = 0, perturbation = 0, spectral = 0;
    void add(const Loss &o) {
      kl += o.kl;
      featureMse += o.featureMse;
      structure += o.structure;
      lipschitz += o.lipschitz;
      perturbation += o.perturbation;
      spectral += o.spectral;
    }
    Loss scaled(double f) const { return {kl * f, featureMse * f, structure * f, lipschitz * f, perturbation * f, spectral * f}; }
  };

  // One pass over \p trainIdx in a random order; \returns the mean losses.
  Loss epoch(const std::vector<int64_t> &trainIdx, Adam &adam, std::mt19937 &rng, Progress *p, const std::string &label) {
    std::vector<int64_t> perm = trainIdx;
    std::shuffle(perm.begin(), perm.end(), rng);
    const int64_t steps = stepsPerEpoch(trainIdx.size());
    Loss sum;
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<int64_t> idx(perm.begin() + s * batch_, perm.begin() + std::min<int64_t>(perm.size(), (s + 1) * batch_));
      while (static_cast<int>(idx.size()) < batch_) idx.push_back(idx.back());  // fixed batch size
      sum.add(step(idx, adam, rng));
      if (p) {
        const Loss m = sum.scaled(1.0 / static_cast<double>(s + 1));
        std::string note = cat(label, ", kl ", m.kl);
        if (!features_.empty()) note += cat(", feature mse ", m.featureMse);
        if (cfg_.structureWeight > 0.f) note += cat(", structure ", m.structure);
        if (cfg_.lipschitzWeight > 0.f) note += cat(", lipschitz ", m.lipschitz);
        if (cfg_.perturbWeight > 0.f) note += cat(", perturbation ", m.perturbation);
        if (cfg_.spectralWeight > 0.f) note += cat(", spectral ", m.spectral);
        p->setNote(note);
        p->advance(1);
      }
    }
    return sum.scaled(1.0 / static_cast<double>(steps));
  }

  // Mean T^2 KL against the float model on the held-back images (no update), of the current
  // parameters or (\p averaged, when one is kept) of their moving average; \p perImage, if
  // given, receives each held-back image's KL.
  double heldBackKl(const std::vector<int64_t> &heldIdx, bool averaged = false, std::vector<double> *perImage = nullptr) {
    std::vector<Tensor> live;
    if (averaged && !average_.empty()) {
      live = snapshot();
      restore(average_);
    }
    double total = 0;
    if (perImage) perImage->clear();
    for (size_t start = 0; start < heldIdx.size(); start += static_cast<size_t>(batch_)) {
      std::vector<int64_t> idx(heldIdx.begin() + static_cast<std::ptrdiff_t>(start),
                               heldIdx.begin() + static_cast<std::ptrdiff_t>(std::min(heldIdx.size(), start + batch_)));
      const Tensor t = gather(cache_.at(logits_), idx);  // the real rows only
      const size_t real = idx.size();
      while (static_cast<int>(idx.size()) < batch_) idx.push_back(idx.back());  // pad; padded rows not counted
      const Tensor &y = net_.forward(gather(images_, idx));
      Tensor ys(DType::Float32, t.dims()), ds(DType::Float32, t.dims());
      std::memcpy(ys.raw(), y.raw(), ys.byteSize());
      std::vector<double> rows;
      total += distillationLoss(ys, t, cfg_.temperature, ds, &rows) * static_cast<double>(real);
      if (perImage) perImage->insert(perImage->end(), rows.begin(), rows.end());
    }
    if (!live.empty()) restore(live);
    return total / static_cast<double>(heldIdx.size());
  }

  // The same KL for a student that predicts a constant (equal logits: the uniform distribution)
  // on every held-back image: what a fine-tune that learned nothing of the inputs reaches.
  double constantHeldBackKl(const std::vector<int64_t> &heldIdx) const {
    const Tensor t = gather(cache_.at(logits_), heldIdx);
    Tensor constant(DType::Float32, t.dims()), ds(DType::Float32, t.dims());
    std::fill(constant.data<float>(), constant.data<float>() + constant.numel(), 0.f);
    return distillationLoss(constant, t, cfg_.temperature, ds);
  }

  // Starts the parameters' moving average (cfg.ema > 0) from their current values.
  void startAverage() {
    if (cfg_.ema > 0.f) average_ = snapshot();
    averaged_ = 0;
  }
  bool averaging() const { return !average_.empty(); }
  const std::vector<Tensor> &average() const { return average_; }

  std::vector<Tensor> snapshot() {
    std::vector<Tensor> s;
    for (const Param *p : net_.params()) s.push_back(p->value);
    return s;
  }
  void restore(const std::vector<Tensor> &s) {
    std::vector<Param *> ps = net_.params();
    for (size_t i = 0; i < ps.size(); ++i) ps[i]->value = s[i];
  }

  int64_t stepsPerEpoch(size_t images) const { return std::max<int64_t>(1, static_cast<int64_t>(images) / batch_); }
  bool hasFeatures() const { return !features_.empty(); }

 private:
  Loss step(const std::vector<int64_t> &idx, Adam &adam, std::mt19937 &rng) {
    Tensor x = gather(images_, idx);
    // Targets: cached for the images as they are; the teacher runs again on augmented ones.
    // Each target is used before the next is asked for, so one gathered buffer serves.
    Tensor gathered;
    auto teacherOut = [&](const std::string &name) -> const Tensor & {
      if (teacher_) return teacher_->activation(name);
      gathered = gather(cache_.at(name), idx);
      return gathered;
    };
    if (teacher_) {
      if (cfg_.augment) x = flipAndShift(x, rng, cfg_.augmentShift);
      if (cfg_.mixup > 0.f) x = mixPairs(x, rng, cfg_.mixup);
      teacher_->forward(x);
    }
    const Tensor &y = net_.forward(x);
    if (ds_.dims() != y.dims()) ds_ = Tensor(DType::Float32, y.dims());
    Loss l;
    l.kl = distillationLoss(y, teacherOut(logits_), cfg_.temperature, ds_);
    std::vector<ActivationGrad> seeds;
    for (size_t f = 0; f < features_.size(); ++f) {
      const Tensor &a = net_.activation(features_[f]);
      Tensor &d = featureGrads_[f];
      if (d.dims() != a.dims()) d = Tensor(DType::Float32, a.dims());
      l.featureMse += meanSquaredError(a, teacherOut(features_[f]), d) / static_cast<double>(features_.size());
      const float w = cfg_.featureWeight / static_cast<float>(features_.size());
      for (int64_t i = 0; i < d.numel(); ++i) d.data<float>()[i] *= w;
      seeds.push_back({features_[f], &d});
    }
    // SRQ's structure terms on the penultimate features, one seed for both.
    if (cfg_.structureWeight > 0.f || cfg_.lipschitzWeight > 0.f) {
      const Tensor &a = net_.activation(structure_);
      const Tensor &t = teacherOut(structure_);
      if (structureGrad_.dims() != a.dims()) structureGrad_ = Tensor(DType::Float32, a.dims());
      Tensor d(DType::Float32, a.dims());
      std::fill(structureGrad_.data<float>(), structureGrad_.data<float>() + structureGrad_.numel(), 0.f);
      auto addScaled = [&](float w) {
        for (int64_t i = 0; i < d.numel(); ++i) structureGrad_.data<float>()[i] += w * d.data<float>()[i];
      };
      if (cfg_.structureWeight > 0.f) {
        l.structure = structureLoss(a, t, d);
        addScaled(cfg_.structureWeight);
      }
      if (cfg_.lipschitzWeight > 0.f) {
        l.lipschitz = lipschitzLoss(a, t, cfg_.lipschitzBound, d);
        addScaled(cfg_.lipschitzWeight);
      }
      seeds.push_back({structure_, &structureGrad_});
    }
    const Tensor clean = cfg_.perturbWeight > 0.f ? y : Tensor();  // y is overwritten by the next forward
    net_.zeroGrad();
    const Tensor &dx = net_.backward(ds_, seeds);
    if (cfg_.perturbWeight > 0.f) l.perturbation = perturbationStep(x, dx, clean);
    if (cfg_.spectralWeight > 0.f)
      for (Param *p : net_.params())
        if (p->kind == Param::Kind::Weight && p->value.rank() >= 2)
          l.spectral += spectral_.penalty(p->name, p->value, p->grad, cfg_.spectralWeight);
    adam.step();
    if (!average_.empty()) updateAverage();
    return l;
  }

  // The perturbation term: the batch moved by perturbEps pixels along the sign of the input
  // gradient of this step's loss, its logits pulled towards the clean ones (held fixed);
  // parameter gradients add to the step's. \returns the term's value.
  double perturbationStep(const Tensor &x, const Tensor &dx, const Tensor &clean) {
    Tensor moved = x;
    const int64_t c = x.dims()[1], plane = x.numel() / (x.dims()[0] * c);
    const float *g = dx.data<float>();
    float *m = moved.data<float>();
    for (int64_t i = 0; i < moved.numel(); ++i) {
      m[i] += cfg_.perturbEps / channelSetting(cfg_.pixelStd, (i / plane) % c, 1.f) * signOf(g[i]);
    }
    const Tensor &y = net_.forward(moved);
    Tensor dy(DType::Float32, y.dims());
    const double loss = perturbationLoss(y, clean, dy);
    for (int64_t i = 0; i < dy.numel(); ++i) dy.data<float>()[i] *= cfg_.perturbWeight;
    net_.backward(dy);
    return loss;
  }

  // average = d * average + (1 - d) * value, d warmed up so early steps do not pin the start.
  void updateAverage() {
    ++averaged_;
    const float d = std::min(cfg_.ema, static_cast<float>(1 + averaged_) / static_cast<float>(10 + averaged_));
    std::vector<Param *> ps = net_.params();
    for (size_t i = 0; i < ps.size(); ++i) {
      float *a = average_[i].data<float>();
      const float *v = ps[i]->value.data<float>();
      for (int64_t k = 0; k < average_[i].numel(); ++k) a[k] = d * a[k] + (1.f - d) * v[k];
    }
  }

  Network net_;
  std::unique_ptr<Network> teacher_;
  const std::map<std::string, Tensor> &cache_;
  const Tensor &images_;
  const FinetuneConfig &cfg_;
  int batch_;
  std::string logits_;
  std::vector<std::string> features_;
  std::vector<Tensor> featureGrads_;
  std::string structure_;  // the value the structure terms compare
  Tensor structureGrad_;
  SpectralNorm spectral_;
  Tensor ds_;
  std::vector<Tensor> average_;  // the parameters' moving average (empty: none kept)
  int64_t averaged_ = 0;
};

// The learning-rate search: from the same start and seed, a short cosine run at each candidate.
// Short trials favour small rates (a larger one pays its early noise back later in a long
// schedule), so the largest rate ending within lrTolerance of the lowest held-back KL wins.
float searchLearningRate(JointStage &stage, const std::vector<int64_t> &trainIdx, const std::vector<int64_t> &heldIdx,
                         const FinetuneConfig &cfg, const std::mt19937 &rng, nlohmann::json &report) {
  const std::vector<Tensor> start = stage.snapshot();
  std::vector<double> kls;
  Progress p("finetune stage 2: learning-rate search",
             stage.stepsPerEpoch(trainIdx.size()) * cfg.lrTrialEpochs * static_cast<int64_t>(cfg.lrCandidates.size()), "steps");
  for (float lr : cfg.lrCandidates) {
    stage.restore(start);
    std::mt19937 trialRng = rng;
    AdamConfig ac;
    ac.lr = lr;
    ac.totalSteps = stage.stepsPerEpoch(trainIdx.size()) * cfg.lrTrialEpochs;
    Adam adam(stage.net().params(), ac);
    for (int e = 0; e < cfg.lrTrialEpochs; ++e) stage.epoch(trainIdx, adam, trialRng, cfg.progress ? &p : nullptr, cat("lr ", lr));
    const double kl = stage.heldBackKl(heldIdx);
    report.push_back({{"lr", lr}, {"held_back_kl", kl}});
    kls.push_back(kl);
  }
  if (cfg.progress) p.finish();
  stage.restore(start);
  const double lowest = *std::min_element(kls.begin(), kls.end());
  float chosen = 0.f;
  for (size_t i = 0; i < kls.size(); ++i)
    if (kls[i] <= lowest * (1.0 + cfg.lrTolerance)) chosen = std::max(chosen, cfg.lrCandidates[i]);
  return chosen;
}

// The standard error of the mean of a[i] - b[i]: how far apart two candidates' held-back KL
// can be by the luck of which images were held back.
double pairedStandardError(const std::vector<double> &a, const std::vector<double> &b) {
  const size_t n = a.size();
  if (n < 2 || b.size() != n) return 0;
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += a[i] - b[i];
  mean /= static_cast<double>(n);
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += (a[i] - b[i] - mean) * (a[i] - b[i] - mean);
  return std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n));
}

// Stage 2 at a known learning rate, with the stopping rule when images are held back.
nlohmann::json runJoint(JointStage &stage, const std::vector<int64_t> &trainIdx, const std::vector<int64_t> &heldIdx,
                        float lr, int maxEpochs, const FinetuneConfig &cfg, std::mt19937 &rng, int64_t *steps) {
  AdamConfig ac;
  ac.lr = lr;
  ac.totalSteps = stage.stepsPerEpoch(trainIdx.size()) * maxEpochs;
  Adam adam(stage.net().params(), ac);
  stage.startAverage();
  // Under the cosine schedule the held-back KL wanders while the rate is high and settles as it
  // decays, so only half a budget without a new best (divergence, overfitting) stops the stage.
  const int patience = cfg.patience > 0 ? cfg.patience : std::max(3, (maxEpochs + 1) / 2);
  nlohmann::json epochs = nlohmann::json::array();
  Progress p("finetune stage 2: joint", ac.totalSteps, "steps");
  // The lowest held-back KL so far (it resets the patience), and the candidate kept.
  double lowestKl = 0;
  int lowestEpoch = 0;
  std::vector<double> lowestPerImage;
  std::vector<Tensor> kept;
  double keptKl = 0;
  int keptEpoch = 0;
  bool keptFromAverage = false;
  for (int e = 0; e < maxEpochs; ++e) {
    const JointStage::Loss l = stage.epoch(trainIdx, adam, rng, cfg.progress ? &p : nullptr, cat("epoch ", e + 1, "/", maxEpochs));
    nlohmann::json epoch = {{"epoch", e + 1}, {"mean_kl", l.kl}};
    if (stage.hasFeatures()) epoch["mean_feature_mse"] = l.featureMse;
    if (cfg.structureWeight > 0.f) epoch["mean_structure"] = l.structure;
    if (cfg.lipschitzWeight > 0.f) epoch["mean_lipschitz"] = l.lipschitz;
    if (cfg.perturbWeight > 0.f) epoch["mean_perturbation"] = l.perturbation;
    if (cfg.spectralWeight > 0.f) epoch["mean_spectral"] = l.spectral;
    if (!heldIdx.empty()) {
      // The epoch's candidate is whichever of the current parameters and their moving average
      // does better on the held-back images: the average smooths the walk a high rate takes,
      // but lags where the current parameters are still improving fast.
      std::vector<double> perImage, perImageAverage;
      const double kl = stage.heldBackKl(heldIdx, false, &perImage);
      epoch["held_back_kl"] = kl;
      double candidateKl = kl;
      bool fromAverage = false;
      if (stage.averaging()) {
        const double avgKl = stage.heldBackKl(heldIdx, /*averaged=*/true, &perImageAverage);
        epoch["held_back_kl_average"] = avgKl;
        fromAverage = avgKl < kl;
        candidateKl = std::min(kl, avgKl);
      }
      if (fromAverage) perImage.swap(perImageAverage);
      // A new lowest must beat the old by 0.1 %: noise-level wiggles do not reset the patience.
      const bool lowest = lowestEpoch == 0 || candidateKl < lowestKl * (1.0 - 1e-3);
      // The lowest of many noisy estimates favours an epoch that was lucky on the few held-back
      // images. So the candidate kept is the latest within keepWithin standard errors (of the
      // per-image differences) of the lowest: a later one has had more of the decaying schedule
      // and the average, and one really worse (overfitting, divergence) is further away.
      const double se = lowest ? 0.0 : pairedStandardError(perImage, lowestPerImage);
      if (!lowest) epoch["standard_error_to_lowest"] = se;
      if (lowest || (cfg.keepWithin > 0.f && candidateKl <= lowestKl + cfg.keepWithin * se)) {
        kept = fromAverage ? stage.average() : stage.snapshot();
        keptKl = candidateKl;
        keptEpoch = e + 1;
        keptFromAverage = fromAverage;
        epoch["kept"] = true;
      }
      if (lowest) {
        lowestKl = candidateKl;
        lowestEpoch = e + 1;
        lowestPerImage = perImage;
      }
    }
    epochs.push_back(epoch);
    if (!heldIdx.empty() && e + 1 - lowestEpoch >= patience) break;
  }
  if (cfg.progress) p.finish();
  *steps = adam.steps();
  nlohmann::json out = {{"epochs", epochs}, {"max_epochs", maxEpochs}, {"lr", lr}};
  if (cfg.ema > 0.f) out["ema"] = cfg.ema;
  if (heldIdx.empty() && stage.averaging()) stage.restore(stage.average());  // nothing to judge by: the average
  if (!heldIdx.empty()) {
    stage.restore(kept);
    out["kept_epoch"] = keptEpoch;
    out["kept_held_back_kl"] = keptKl;
    out["kept_parameters"] = keptFromAverage ? "average" : "current";
    out["lowest_held_back_kl"] = lowestKl;
    out["lowest_kl_epoch"] = lowestEpoch;
    out["keep_within"] = cfg.keepWithin;
    out["patience"] = patience;
    out["held_back_kl_constant_prediction"] = stage.constantHeldBackKl(heldIdx);
  }
  return out;
}

// INQ's partition: in each quantized weight of \p net, the largest weights not
// yet frozen are set to their levels and frozen until \p share of the weight is. \returns the
// weights frozen in all.
int64_t freezeLargest(Network &net, float share) {
  int64_t total = 0;
  for (Param *p : net.params()) {
    if (!p->inq) continue;
    const QuantParams &q = *p->inq;
    const int64_t n = p->value.numel();
    if (p->frozen.empty()) p->frozen.assign(static_cast<size_t>(n), 0);
    float *w = p->value.data<float>();
    std::vector<int64_t> free;
    for (int64_t i = 0; i < n; ++i)
      if (!p->frozen[static_cast<size_t>(i)]) free.push_back(i);
    const int64_t target = std::min<int64_t>(n, std::llround(static_cast<double>(share) * static_cast<double>(n)));
    const int64_t take = std::clamp<int64_t>(target - (n - static_cast<int64_t>(free.size())), 0, static_cast<int64_t>(free.size()));
    // Largest magnitude first; the index breaks ties, so the partition is the same every run.
    std::partial_sort(free.begin(), free.begin() + take, free.end(), [&](int64_t a, int64_t b) {
      return std::fabs(w[a]) != std::fabs(w[b]) ? std::fabs(w[a]) > std::fabs(w[b]) : a < b;
    });
    const ChannelView v = channelView(p->value.dims(), q);
    for (int64_t k = 0; k < take; ++k) {
      const int64_t i = free[static_cast<size_t>(k)];
      const size_t c = static_cast<size_t>((i / v.inner) % v.channels);
      w[i] = dequantizeValue(quantizeCode(w[i], q, c), q.scale[c], 0);
      p->frozen[static_cast<size_t>(i)] = 1;
    }
    for (uint8_t f : p->frozen) total += f;
  }
  return total;
}

// INQ: freeze, retrain, freeze ... (FinetuneConfig::Mode::Inq).
nlohmann::json runInq(JointStage &stage, const std::vector<int64_t> &trainIdx, const std::vector<int64_t> &heldIdx,
                      int epochsPerStep, const FinetuneConfig &cfg, std::mt19937 &rng, int64_t *steps) {
  nlohmann::json out = nlohmann::json::array();
  int64_t weights = 0;
  for (const Param *p : stage.net().params())
    if (p->inq) weights += p->value.numel();
  if (weights == 0) throw Error("finetune inq: no quantized weights to freeze");
  float lr = cfg.lr;
  for (size_t k = 0; k < cfg.inqSteps.size(); ++k) {
    const float share = cfg.inqSteps[k];
    const int64_t frozen = freezeLargest(stage.net(), share);
    nlohmann::json row = {{"share", share}, {"frozen_weights", frozen}, {"weights", weights},
                          {"held_back_kl_after_freezing", heldIdx.empty() ? nlohmann::json() : nlohmann::json(stage.heldBackKl(heldIdx))}};
    if (share < 1.f) {  // the last partition has nothing left to retrain
      if (lr <= 0.f) {
        nlohmann::json trials = nlohmann::json::array();
        lr = searchLearningRate(stage, trainIdx, heldIdx, cfg, rng, trials);
        row["lr_search"] = trials;
      }
      int64_t s = 0;
      row["retrain"] = runJoint(stage, trainIdx, heldIdx, lr, epochsPerStep, cfg, rng, &s);
      *steps += s;
    }
    out.push_back(row);
  }
  return out;
}

}  // namespace

std::vector<int64_t> heldBackImages(int64_t n, float share, uint32_t seed) {
  LOWBIT_CHECK(n >= 0 && share >= 0.f && share <= 1.f, "heldBackImages: share outside 0..1");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::mt19937 rng(seed ^ 0x9e3779b9u);  // its own stream: the split leaves the training order alone
  std::shuffle(perm.begin(), perm.end(), rng);
  perm.resize(static_cast<size_t>(std::floor(static_cast<double>(n) * share)));
  std::sort(perm.begin(), perm.end());
  return perm;
}

int defaultJointEpochs(int weightLayers) { return std::clamp(static_cast<int>(std::ceil(0.75 * weightLayers)), 15, 45); }

nlohmann::json finetune(Graph &quantized, const Graph &teacher, const Tensor &images, const FinetuneConfig &cfg) {
  if (images.rank() != 4 || images.dims()[0] < 1) throw Error("finetune needs calibration images");
  // A recipe can carry any number: each setting's range is checked here, not only by its flag.
  if (!(cfg.heldBack >= 0.f && cfg.heldBack <= 0.5f))
    throw Error(cat("finetune: held-back share ", cfg.heldBack, " is outside 0..0.5"));
  if (!(cfg.temperature > 0.f) || !(cfg.lr >= 0.f) || !(cfg.blockLr > 0.f) || !(cfg.featureWeight >= 0.f) ||
      cfg.blockIters < 1 || cfg.jointEpochs < 0 || cfg.augmentShift < 0 || !(cfg.mixup >= 0.f) ||
      !(cfg.ema >= 0.f && cfg.ema < 1.f) || !(cfg.keepWithin >= 0.f && cfg.keepWithin <= 10.f) ||
      !(cfg.structureWeight >= 0.f) || !(cfg.lipschitzWeight >= 0.f) || !(cfg.lipschitzBound > 0.f) ||
      !(cfg.perturbWeight >= 0.f) || !(cfg.perturbEps >= 0.f && cfg.perturbEps <= 1.f) || !(cfg.spectralWeight >= 0.f))
    throw Error(cat("finetune: a setting is out of range (temperature ", cfg.temperature, ", lr ", cfg.lr, ", block lr ",
                    cfg.blockLr, ", feature weight ", cfg.featureWeight, ", block iters ", cfg.blockIters,
                    ", joint epochs ", cfg.jointEpochs, ", augment shift ", cfg.augmentShift, ", mixup ", cfg.mixup,
                    ", ema ", cfg.ema, ", keep within ", cfg.keepWithin, ")"));
  const bool joint = cfg.mode != FinetuneConfig::Mode::Blockwise;
  const bool inq = cfg.mode == FinetuneConfig::Mode::Inq;
  for (size_t k = 0; inq && k < cfg.inqSteps.size(); ++k)
    if (!(cfg.inqSteps[k] > (k ? cfg.inqSteps[k - 1] : 0.f)) || cfg.inqSteps[k] > 1.f || (k + 1 == cfg.inqSteps.size() && cfg.inqSteps[k] != 1.f))
      throw Error("finetune inq: the shares must rise within (0, 1] and end at 1, e.g. 0.5,0.75,0.875,1");
  if (inq && cfg.inqSteps.empty()) throw Error("finetune inq: no shares given");
  const int64_t n = images.dims()[0];
  std::mt19937 rng(cfg.seed);
  const std::vector<int64_t> heldIdx = heldBackImages(n, joint ? cfg.heldBack : 0.f, cfg.seed);
  std::vector<int64_t> all(static_cast<size_t>(n)), trainIdx;  // the rest train
  std::iota(all.begin(), all.end(), int64_t{0});
  std::set_difference(all.begin(), all.end(), heldIdx.begin(), heldIdx.end(), std::back_inserter(trainIdx));
  if (joint && heldIdx.empty() && (cfg.lr <= 0.f || cfg.jointEpochs <= 0))
    throw Error(cat("finetune: with no images held back (", n, " images, share ", cfg.heldBack,
                    ") give the stage-2 learning rate and epochs (--lr, --joint-epochs)"));
  if (trainIdx.empty()) throw Error("finetune: every image is held back; lower --held-back");
  const int batch = std::max(1, std::min<int>(cfg.batch, static_cast<int>(trainIdx.size())));
  nlohmann::json report;
  report["mode"] = cfg.mode == FinetuneConfig::Mode::TwoStage    ? "twostage"
                   : cfg.mode == FinetuneConfig::Mode::Blockwise ? "blockwise"
                   : inq                                         ? "inq"
                                                                 : "global";
  report["train_images"] = trainIdx.size();
  report["held_back_images"] = heldIdx.size();
  // Blocks, subgraphs and networks all come from the graphs specialised to the training batch
  // (the graph the runner plans: shape chains folded), so no shape subgraph reaches the engine.
  Dims bd = images.dims();
  bd[0] = batch;
  const std::unique_ptr<Graph> student = specializedClone(quantized, {bd}, /*anyBatch=*/true);
  const std::unique_ptr<Graph> fixedTeacher = specializedClone(teacher, {bd}, /*anyBatch=*/true);
  // The softened KL is of logits: a final Softmax is left out of both networks.
  const std::string head = exposeLogits(*student);
  if (exposeLogits(*fixedTeacher) != head)
    throw Error("finetune: the quantized model and the float one do not end in the same op over the classes");
  if (!head.empty()) report["logits"] = "the input of the final " + head;
  const std::vector<Block> blocks = findBlocks(*fixedTeacher);
  int weightLayers = 0;
  for (const Node *node : fixedTeacher->nodes())
    weightLayers += isWeightLayer(*node);
  report["blocks"] = blocks.size();
  report["weight_layers"] = weightLayers;
  report["activation_quantizer"] = activationQuantizerName(cfg.activations);
  report["weight_quantizer"] = weightQuantizerName(cfg.weightQuantizer);
  if (cfg.augment) report["augment"] = {{"flip", true}, {"shift", cfg.augmentShift}};
  if (cfg.mixup > 0.f) report["mixup"] = cfg.mixup;
  if (cfg.robust()) {
    nlohmann::json r = {{"structure_weight", cfg.structureWeight}, {"lipschitz_weight", cfg.lipschitzWeight},
                        {"lipschitz_bound", cfg.lipschitzBound}, {"perturb_weight", cfg.perturbWeight},
                        {"perturb_eps", cfg.perturbEps}, {"spectral_weight", cfg.spectralWeight}};
    report["robustness_terms"] = r;
  }
  std::map<std::string, Tensor> cache = teacherBoundaries(*fixedTeacher, images, blocks, batch, cfg.progress);

  if (inq) {  // float power-of-two weights frozen part by part; no moving average of frozen values
    FinetuneConfig c = cfg;
    c.weightQuantizer = WeightQuantizer::Inq;
    c.ema = 0.f;
    Progress stageTimer("inq", 1);
    report["weight_quantizer"] = weightQuantizerName(c.weightQuantizer);
    JointStage stage(*student, *fixedTeacher, bd, blocks, cache, images, c);
    // The stage-2 budget spread over the retraining steps.
    const int retrains = static_cast<int>(cfg.inqSteps.size()) - 1;
    const int total = cfg.jointEpochs > 0 ? cfg.jointEpochs : defaultJointEpochs(weightLayers);
    const int perStep = std::max(1, retrains > 0 ? total / retrains : total);
    int64_t steps = 0;
    report["inq"] = runInq(stage, trainIdx, heldIdx, perStep, c, rng, &steps);
    report["inq_epochs_per_step"] = perStep;
    writeBack(quantized, stage.net());
    report["inq_seconds"] = stageTimer.elapsedSeconds();
    return report;
  }
  if (cfg.mode != FinetuneConfig::Mode::Global) {
    Progress stageTimer("stage 1", 1);
    report["stage1_blockwise"] = runBlockwise(quantized, *student, blocks, cache, images, trainIdx, cfg, batch, rng);
    report["stage1_seconds"] = stageTimer.elapsedSeconds();
  }
  if (joint) {
    Progress stageTimer("stage 2", 1);
    JointStage stage(*student, *fixedTeacher, bd, blocks, cache, images, cfg);
    float lr = cfg.lr;
    if (lr <= 0.f) {
      nlohmann::json trials = nlohmann::json::array();
      lr = searchLearningRate(stage, trainIdx, heldIdx, cfg, rng, trials);
      report["lr_search"] = {{"trial_epochs", cfg.lrTrialEpochs}, {"trials", trials}, {"chosen", lr},
                             {"seconds", stageTimer.elapsedSeconds()}};
    }
    const int maxEpochs = cfg.jointEpochs > 0 ? cfg.jointEpochs : defaultJointEpochs(weightLayers);
    const double before = stageTimer.elapsedSeconds();
    int64_t steps = 0;
    nlohmann::json joint2 = runJoint(stage, trainIdx, heldIdx, lr, maxEpochs, cfg, rng, &steps);
    const double seconds = stageTimer.elapsedSeconds() - before;
    writeBack(quantized, stage.net());
    report["stage2_joint"] = joint2["epochs"];
    joint2.erase("epochs");
    report["stage2"] = joint2;
    report["stage2_seconds"] = stageTimer.elapsedSeconds();
    report["stage2_images_per_s"] = static_cast<double>(steps * batch) / std::max(1e-9, seconds);
  }
  return report;
}

}  // namespace lowbit::train
