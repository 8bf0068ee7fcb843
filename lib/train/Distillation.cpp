#include "train/Distillation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "passes/PassManager.h"
#include "support/Progress.h"
#include "support/Strings.h"
#include "train/Adam.h"
#include "train/Augment.h"
#include "train/Network.h"

namespace lowbit::train {

FinetuneConfig::Mode FinetuneConfig::parseMode(const std::string &name) {
  if (name == "twostage") return Mode::TwoStage;
  if (name == "blockwise") return Mode::Blockwise;
  if (name == "global") return Mode::Global;
  throw Error(cat("--finetune '", name, "': expected twostage, blockwise or global"));
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
    hasLayer |= n->opType() == "Conv" || n->opType() == "Gemm" || n->opType() == "MatMul";
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
  for (Param *p : net.params()) {
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

// T^2 * KL(softmax(t/T) || softmax(s/T)) averaged over the batch, and its gradient in s.
double distillationLoss(const Tensor &s, const Tensor &t, float temperature, Tensor &ds) {
  const int64_t n = s.dims()[0], k = s.dims()[1];
  const double T = temperature;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
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
  }
  return total / static_cast<double>(n);
}

}  // namespace

nlohmann::json finetune(Graph &quantized, const Graph &teacher, const Tensor &images, const FinetuneConfig &cfg) {
  if (images.rank() != 4 || images.dims()[0] < 1) throw Error("finetune needs calibration images");
  const int batch = std::max(1, std::min<int>(cfg.batch, static_cast<int>(images.dims()[0])));
  std::mt19937 rng(cfg.seed);
  nlohmann::json report;
  report["mode"] = cfg.mode == FinetuneConfig::Mode::TwoStage ? "twostage"
                   : cfg.mode == FinetuneConfig::Mode::Blockwise ? "blockwise" : "global";
  // Blocks, subgraphs and networks all come from the graphs specialised to the training batch
  // (the graph the runner plans: shape chains folded), so no shape subgraph reaches the engine.
  Dims bd = images.dims();
  bd[0] = batch;
  const std::unique_ptr<Graph> student = specializedClone(quantized, {bd}, /*anyBatch=*/true);
  const std::unique_ptr<Graph> fixedTeacher = specializedClone(teacher, {bd}, /*anyBatch=*/true);
  const std::vector<Block> blocks = findBlocks(*fixedTeacher);
  report["blocks"] = blocks.size();
  report["activation_quantizer"] = activationQuantizerName(cfg.activations);
  if (cfg.augment) report["augment"] = {{"flip", true}, {"shift", cfg.augmentShift}};
  std::map<std::string, Tensor> cache = teacherBoundaries(*fixedTeacher, images, blocks, batch, cfg.progress);
  const int64_t n = images.dims()[0];

  if (cfg.mode != FinetuneConfig::Mode::Global) {
    Progress stageTimer("stage 1", 1);
    nlohmann::json stage = nlohmann::json::array();
    std::vector<std::unique_ptr<Network>> done;  // fine-tuned quantized blocks (quantized-input mode)
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Block &blk = blocks[b];
      std::unique_ptr<Graph> sub = extractSubgraph(*student, blk.input, blk.output);
      Dims inDims = cache.at(blk.input).dims();
      inDims[0] = batch;
      auto net = std::make_unique<Network>(*sub, inDims, cfg.activations);
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
      writeBack(*student, *net);
      writeBack(quantized, *net);
      stage.push_back({{"block", b + 1}, {"input", blk.input}, {"output", blk.output}, {"nodes", blk.nodes.size()},
                       {"first_mse", first}, {"last_mse", last}});
      done.push_back(std::move(net));
    }
    report["stage1_blockwise"] = stage;
    report["stage1_seconds"] = stageTimer.elapsedSeconds();
  }

  if (cfg.mode != FinetuneConfig::Mode::Blockwise) {
    Network net(*student, bd, cfg.activations);
    std::unique_ptr<Network> teacherNet;
    if (cfg.augment) teacherNet = std::make_unique<Network>(*fixedTeacher, bd);
    const int64_t stepsPerEpoch = std::max<int64_t>(1, n / batch);
    AdamConfig ac;
    ac.lr = cfg.lr;
    ac.totalSteps = stepsPerEpoch * cfg.jointEpochs;
    Adam adam(net.params(), ac);
    nlohmann::json epochs = nlohmann::json::array();
    Progress p("finetune stage 2: joint", ac.totalSteps, "steps");
    Tensor ds;
    // Intermediate feature matching: every block output but the last (the logits, which the
    // KL term already matches), each weighted featureWeight / count.
    std::vector<std::string> features;
    if (cfg.featureWeight > 0.f)
      for (size_t b = 0; b + 1 < blocks.size(); ++b) features.push_back(blocks[b].output);
    std::vector<Tensor> featureGrads(features.size());
    std::vector<ActivationGrad> seeds;
    for (int e = 0; e < cfg.jointEpochs; ++e) {
      std::vector<int64_t> perm(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
      std::shuffle(perm.begin(), perm.end(), rng);
      double sum = 0, featureSum = 0;
      for (int64_t s = 0; s < stepsPerEpoch; ++s) {
        std::vector<int64_t> idx(perm.begin() + s * batch, perm.begin() + std::min<int64_t>(n, (s + 1) * batch));
        while (static_cast<int>(idx.size()) < batch) idx.push_back(idx.back());  // fixed batch size
        Tensor x = gather(images, idx);
        // Targets: cached for the images as they are; the teacher runs again on augmented ones.
        // Each target is used before the next is asked for, so one gathered buffer serves.
        Tensor gathered;
        auto teacherOut = [&](const std::string &name) -> const Tensor & {
          if (teacherNet) return teacherNet->activation(name);
          gathered = gather(cache.at(name), idx);
          return gathered;
        };
        if (teacherNet) {
          x = flipAndShift(x, rng, cfg.augmentShift);
          teacherNet->forward(x);
        }
        const Tensor &y = net.forward(x);
        if (ds.dims() != y.dims()) ds = Tensor(DType::Float32, y.dims());
        sum += distillationLoss(y, teacherOut(blocks.back().output), cfg.temperature, ds);
        seeds.clear();
        for (size_t f = 0; f < features.size(); ++f) {
          const Tensor &a = net.activation(features[f]);
          Tensor &d = featureGrads[f];
          if (d.dims() != a.dims()) d = Tensor(DType::Float32, a.dims());
          featureSum += meanSquaredError(a, teacherOut(features[f]), d) / static_cast<double>(features.size());
          const float w = cfg.featureWeight / static_cast<float>(features.size());
          for (int64_t i = 0; i < d.numel(); ++i) d.data<float>()[i] *= w;
          seeds.push_back({features[f], &d});
        }
        net.zeroGrad();
        net.backward(ds, seeds);
        adam.step();
        if (cfg.progress) {
          std::string note = cat("epoch ", e + 1, "/", cfg.jointEpochs, ", kl ", sum / static_cast<double>(s + 1));
          if (!features.empty()) note += cat(", feature mse ", featureSum / static_cast<double>(s + 1));
          p.setNote(note);
          p.advance(1);
        }
      }
      nlohmann::json epoch = {{"epoch", e + 1}, {"mean_kl", sum / static_cast<double>(stepsPerEpoch)}};
      if (!features.empty()) epoch["mean_feature_mse"] = featureSum / static_cast<double>(stepsPerEpoch);
      epochs.push_back(epoch);
    }
    if (cfg.progress) p.finish();
    writeBack(quantized, net);
    report["stage2_joint"] = epochs;
    report["stage2_seconds"] = p.elapsedSeconds();
    report["stage2_images_per_s"] = static_cast<double>(ac.totalSteps * batch) / std::max(1e-9, p.elapsedSeconds());
  }
  return report;
}

}  // namespace lowbit::train
