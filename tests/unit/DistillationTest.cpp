// Two-stage distillation: how graphs are cut into blocks, that a block cut out computes what it
// computed inside the model, and that fine-tuning lowers the losses it reports, writes its
// result back into the IR and repeats exactly with the same seed.
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "kernels/QuantizeRef.h"
#include "passes/PassManager.h"
#include "quant/QuantRules.h"
#include "train/Distillation.h"
#include "train/Network.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

Node *setInts(Node *n, const std::string &attr, std::vector<int64_t> v) {
  n->setAttr(attr, Attribute::ofInts(std::move(v)));
  return n;
}

// conv-relu unit, one residual block, GAP, flatten, Gemm.
std::unique_ptr<Graph> smallResNet() {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "x", {4, 3, 6, 6});
  Node *c1 = setInts(addOp(*g, "Conv", {x, g->addConstant("w1", randomTensor({8, 3, 3, 3}, 1, -0.4f, 0.4f))}, "c1"), "pads", {1, 1, 1, 1});
  Node *r1 = addOp(*g, "Relu", {c1->output(0)}, "r1");
  Node *c2 = setInts(addOp(*g, "Conv", {r1->output(0), g->addConstant("w2", randomTensor({8, 8, 3, 3}, 2, -0.2f, 0.2f))}, "c2"), "pads", {1, 1, 1, 1});
  Node *r2 = addOp(*g, "Relu", {c2->output(0)}, "r2");
  Node *c3 = setInts(addOp(*g, "Conv", {r2->output(0), g->addConstant("w3", randomTensor({8, 8, 3, 3}, 3, -0.2f, 0.2f))}, "c3"), "pads", {1, 1, 1, 1});
  Node *add = addOp(*g, "Add", {c3->output(0), r1->output(0)}, "add");
  Node *r3 = addOp(*g, "Relu", {add->output(0)}, "r3");
  Node *gap = addOp(*g, "GlobalAveragePool", {r3->output(0)}, "gap");
  Node *fl = addOp(*g, "Flatten", {gap->output(0)}, "fl");
  Node *fc = addOp(*g, "Gemm", {fl->output(0), g->addConstant("wf", randomTensor({5, 8}, 4)), g->addConstant("bf", randomTensor({5}, 5))}, "fc");
  fc->setAttr("transB", Attribute::ofInt(1));
  g->outputs().push_back(fc->output(0));
  runPasses(*g, {"ConstantFolding"});
  return g;
}

// 2-bit per-channel weights (min-max scales) and 4-bit unsigned activations on every conv input.
void quantize(Graph &g) {
  for (const char *name : {"w1", "w2", "w3", "wf"}) {
    Value *w = g.findValue(name);
    QuantParams p;
    p.granularity = QuantParams::Granularity::PerChannel;
    p.axis = 0;
    p.bits = 2;
    p.state = QuantParams::State::Calibrated;
    const Tensor &t = *w->constant();
    const int64_t oc = t.dims()[0], per = t.numel() / oc;
    for (int64_t c = 0; c < oc; ++c) {
      float m = 0;
      for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(t.data<float>()[c * per + i]));
      p.scale.push_back(m / 1.f);  // 2-bit signed: qmax 1
      p.zeroPoint.push_back(0);
    }
    w->quant = p;
  }
  for (const char *name : {"r1", "r2"}) {
    QuantParams a;
    a.bits = 4;
    a.isSigned = false;
    a.state = QuantParams::State::Calibrated;
    a.scale = {0.1f};
    a.zeroPoint = {0};
    g.findValue(name)->quant = a;
  }
}

// The joint stage alone, small and fast: 8-image batches, lr 5e-3, seed 3, no progress.
train::FinetuneConfig quickJointConfig(int epochs) {
  train::FinetuneConfig cfg;
  cfg.mode = train::FinetuneConfig::Mode::Global;
  cfg.jointEpochs = epochs;
  cfg.lr = 5e-3f;
  cfg.batch = 8;
  cfg.seed = 3;
  cfg.progress = false;
  return cfg;
}

// The joint stage for 15 epochs on the quantized small ResNet against its float self, with the
// settings \p set changes; \returns the report.
nlohmann::json quickJointRun(const std::function<void(train::FinetuneConfig &)> &set) {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  train::FinetuneConfig cfg = quickJointConfig(15);
  set(cfg);
  return train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
}

}  // namespace

TEST_CASE("findBlocks cuts at conv-relu units and residual blocks, a layerless tail joins the last block", "[train]") {
  auto g = smallResNet();
  std::vector<train::Block> blocks = train::findBlocks(*g);
  REQUIRE(blocks.size() == 3);
  CHECK(blocks[0].input == "x");
  CHECK(blocks[0].output == "r1");   // conv + relu, not conv alone
  CHECK(blocks[1].output == "r3");   // the residual block as a whole
  CHECK(blocks[2].output == "fc");   // GAP + flatten + Gemm
  CHECK(blocks[2].nodes.size() == 3);
}

TEST_CASE("a block cut out of the graph computes what it computes inside", "[train]") {
  auto g = smallResNet();
  Tensor x = randomTensor({4, 3, 6, 6}, 6);
  train::Network whole(*g, x.dims());
  whole.forward(x);
  std::unique_ptr<Graph> block = train::extractSubgraph(*g, "r1", "r3");
  train::Network part(*block, whole.activation("r1").dims());
  CHECK(mismatch(part.forward(whole.activation("r1")), whole.activation("r3"), 1e-6f, 1e-6f).empty());
  CHECK_THROWS_WITH(train::extractSubgraph(*g, "r1", "nothing"), Catch::Contains("nothing"));
}

TEST_CASE("two-stage fine-tuning lowers its losses, writes weights and steps back, and repeats with a seed", "[train]") {
  auto run = [](train::FinetuneConfig::Mode mode, nlohmann::json *report) {
    auto g = smallResNet();
    std::unique_ptr<Graph> teacher = g->clone();
    quantize(*g);
    train::FinetuneConfig cfg;
    cfg.mode = mode;
    cfg.blockIters = 60;
    cfg.jointEpochs = 15;
    cfg.lr = 5e-3f;
    cfg.blockLr = 5e-3f;
    cfg.batch = 8;
    cfg.seed = 3;
    cfg.progress = false;
    Tensor images = randomTensor({32, 3, 6, 6}, 7);
    *report = train::finetune(*g, *teacher, images, cfg);
    return g;
  };
  nlohmann::json r1, r2;
  auto a = run(train::FinetuneConfig::Mode::TwoStage, &r1);
  auto b = run(train::FinetuneConfig::Mode::TwoStage, &r2);
  INFO(r1.dump());
  REQUIRE(r1["stage1_blockwise"].size() == 3);
  for (const auto &blk : r1["stage1_blockwise"]) CHECK(blk["last_mse"].get<double>() < blk["first_mse"].get<double>());
  const auto &epochs = r1["stage2_joint"];
  CHECK(epochs.back()["mean_kl"].get<double>() < epochs.front()["mean_kl"].get<double>());
  // Written back: the 2-bit weights and their steps moved.
  auto fresh = smallResNet();
  quantize(*fresh);
  CHECK(a->findValue("w2")->constant()->toFloats() != fresh->findValue("w2")->constant()->toFloats());
  CHECK(a->findValue("w2")->quant->scale != fresh->findValue("w2")->quant->scale);
  CHECK(a->findValue("r1")->quant->scale != fresh->findValue("r1")->quant->scale);
  // Deterministic with the same seed.
  CHECK(a->findValue("w2")->constant()->toFloats() == b->findValue("w2")->constant()->toFloats());
  for (const char *timing : {"stage1_seconds", "stage2_seconds", "stage2_images_per_s"}) {
    r1.erase(timing);
    r2.erase(timing);
  }
  CHECK(r1.dump() == r2.dump());  // every loss, step for step
  // The baselines run the one stage they name.
  nlohmann::json g1, b1;
  run(train::FinetuneConfig::Mode::Global, &g1);
  run(train::FinetuneConfig::Mode::Blockwise, &b1);
  CHECK_FALSE(g1.contains("stage1_blockwise"));
  CHECK(g1.contains("stage2_joint"));
  CHECK(b1.contains("stage1_blockwise"));
  CHECK_FALSE(b1.contains("stage2_joint"));
}

TEST_CASE("the joint stage's feature term matches block outputs to the float model's", "[train]") {
  const nlohmann::json plain = quickJointRun([](train::FinetuneConfig &) {}),
                       matched = quickJointRun([](train::FinetuneConfig &c) { c.featureWeight = 10.f; });
  INFO(matched.dump());
  CHECK_FALSE(plain["stage2_joint"][0].contains("mean_feature_mse"));
  const auto &epochs = matched["stage2_joint"];
  REQUIRE(epochs[0].contains("mean_feature_mse"));
  CHECK(epochs.back()["mean_feature_mse"].get<double>() < 0.8 * epochs.front()["mean_feature_mse"].get<double>());
  // The feature term changes the descent: the KL path differs from the KL-only run.
  CHECK(epochs.back()["mean_kl"] != plain["stage2_joint"].back()["mean_kl"]);
}

TEST_CASE("the joint stage's SRQ terms each lower what they measure and are reported", "[train]") {
  const nlohmann::json plain = quickJointRun([](train::FinetuneConfig &) {});
  CHECK_FALSE(plain.contains("robustness_terms"));
  struct Term {
    const char *key;
    std::function<void(train::FinetuneConfig &)> set;
  };
  const std::vector<Term> terms = {
      {"mean_structure", [](train::FinetuneConfig &c) { c.structureWeight = 20.f; }},
      {"mean_lipschitz", [](train::FinetuneConfig &c) { c.lipschitzWeight = 50.f; c.lipschitzBound = 0.5f; }},
      {"mean_perturbation", [](train::FinetuneConfig &c) { c.perturbWeight = 5.f; c.perturbEps = 0.05f; }},
      {"mean_spectral", [](train::FinetuneConfig &c) { c.spectralWeight = 0.05f; }}};
  for (const Term &t : terms) {
    const nlohmann::json r = quickJointRun(t.set);
    INFO(t.key << ": " << r.dump());
    REQUIRE(r.contains("robustness_terms"));
    const auto &epochs = r["stage2_joint"];
    REQUIRE(epochs[0].contains(t.key));
    CHECK_FALSE(plain["stage2_joint"][0].contains(t.key));
    CHECK(epochs.back()[t.key].get<double>() < epochs.front()[t.key].get<double>());
    // The term changes the descent: the KL path differs from the KL-only run.
    CHECK(epochs.back()["mean_kl"] != plain["stage2_joint"].back()["mean_kl"]);
  }
}

TEST_CASE("fine-tuning DoReFa weights writes the transformed weights and their derived steps back", "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  train::FinetuneConfig cfg = quickJointConfig(3);
  cfg.mode = train::FinetuneConfig::Mode::TwoStage;
  cfg.blockIters = 5;
  cfg.weightQuantizer = train::WeightQuantizer::Dorefa;
  cfg.activations = train::ActivationQuantizer::Dorefa;
  const nlohmann::json r = train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  CHECK(r["weight_quantizer"] == "dorefa");
  CHECK(r["activation_quantizer"] == "dorefa");
  // Each channel's largest transformed weight sits on the grid's end (2-bit narrow: the largest
  // code 1), all weights within it: the exporter's rounding gives DoReFa's codes.
  for (const char *name : {"w1", "w2", "w3", "wf"}) {
    const Value *w = g->findValue(name);
    const std::vector<float> v = w->constant()->toFloats();
    const size_t oc = w->quant->scale.size(), per = v.size() / oc;
    for (size_t c = 0; c < oc; ++c) {
      float m = 0;
      for (size_t i = 0; i < per; ++i) m = std::max(m, std::fabs(v[c * per + i]));
      INFO(name << " channel " << c);
      CHECK(m == Approx(w->quant->scale[c]).epsilon(1e-5));
    }
  }
  // DoReFa activations keep their calibrated steps.
  for (const char *name : {"r1", "r2"}) CHECK(g->findValue(name)->quant->scale[0] == 0.1f);
}

TEST_CASE("INQ freezes the largest weights share by share at their levels, power-of-two or uniform, and all are levels at the end", "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  for (const char *name : {"w1", "w2", "w3", "wf"}) {  // 3-bit power-of-two levels {0, +-1, +-2, +-4}
    QuantParams &p = *g->findValue(name)->quant;
    p.scheme = QuantParams::Scheme::PowerOfTwo;
    p.bits = 3;
    for (float &s : p.scale) s /= 4.f;
  }
  train::FinetuneConfig cfg = quickJointConfig(6);
  cfg.mode = train::FinetuneConfig::Mode::Inq;
  cfg.heldBack = 0.f;
  cfg.ema = 0.f;
  const nlohmann::json r = train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  INFO(r.dump());
  REQUIRE(r["inq"].size() == 4);
  const int64_t weights = r["inq"][0]["weights"];
  CHECK(weights == 8 * 3 * 9 + 8 * 8 * 9 * 2 + 5 * 8);
  CHECK(r["inq"][0]["frozen_weights"].get<int64_t>() == Approx(0.5 * weights).margin(4));
  CHECK(r["inq"][2]["frozen_weights"].get<int64_t>() == Approx(0.875 * weights).margin(4));
  CHECK(r["inq"][3]["frozen_weights"] == weights);
  CHECK(r["inq"][0].contains("retrain"));
  CHECK_FALSE(r["inq"][3].contains("retrain"));
  CHECK(r["inq_epochs_per_step"] == 2);
  for (const char *name : {"w1", "w2", "w3", "wf"}) {
    const Value *w = g->findValue(name);
    const std::vector<float> v = w->constant()->toFloats();
    const size_t oc = w->quant->scale.size(), per = v.size() / oc;
    for (size_t i = 0; i < v.size(); ++i) {
      const float code = v[i] / w->quant->scale[i / per];
      INFO(name << "[" << i << "] = " << code << " steps");
      CHECK((code == 0.f || std::fabs(code) == 1.f || std::fabs(code) == 2.f || std::fabs(code) == 4.f));
    }
  }
  // Uniform weights freeze onto their own grid: whole codes within the narrow signed range.
  auto u = smallResNet();
  quantize(*u);
  train::finetune(*u, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  for (const char *name : {"w1", "w2", "w3", "wf"}) {
    const Value *w = u->findValue(name);
    const std::vector<float> v = w->constant()->toFloats();
    const QuantRange range = codeRange(*w->quant);
    const size_t oc = w->quant->scale.size(), per = v.size() / oc;
    for (size_t i = 0; i < v.size(); ++i) {
      const float code = v[i] / w->quant->scale[i / per];
      INFO(name << "[" << i << "] = " << code << " steps");
      CHECK(code == Approx(std::nearbyint(code)).margin(1e-4));
      CHECK((code >= range.qmin - 1e-4f && code <= range.qmax + 1e-4f));
    }
  }
  cfg.inqSteps = {0.5f, 0.9f};
  CHECK_THROWS_WITH(train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg), Catch::Contains("end at 1"));
}

TEST_CASE("fine-tuning with PACT clips writes alpha / qmax back as the activation step", "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  const float before = g->findValue("r1")->quant->scale[0];
  train::FinetuneConfig cfg = quickJointConfig(10);
  cfg.activations = train::ActivationQuantizer::Pact;
  nlohmann::json report = train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  INFO(report.dump());
  CHECK(report["activation_quantizer"] == "pact");
  const auto &epochs = report["stage2_joint"];
  CHECK(epochs.back()["mean_kl"].get<double>() < epochs.front()["mean_kl"].get<double>());
  const float after = g->findValue("r1")->quant->scale[0];
  CHECK(after != before);
  CHECK(after > 0.f);
  // The step written back is the one the QDQ simulation then uses: a whole network of it runs.
  train::Network check(*g, {8, 3, 6, 6}, train::ActivationQuantizer::Pact);
  for (train::Param *p : check.params())
    if (p->name == "r1.alpha") {
      const QuantParams &q = *g->findValue("r1")->quant;
      CHECK(p->value.toFloats()[0] * p->stepPerUnit == Approx(after));
      CHECK(p->value.toFloats()[0] == Approx(after * static_cast<float>(quantRange(q.bits, q.isSigned, q.narrowRange).qmax)));
    }
}

TEST_CASE("the joint stage with augmentation runs the teacher on each flipped and shifted batch", "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  train::FinetuneConfig cfg = quickJointConfig(15);
  cfg.augment = true;
  cfg.augmentShift = 1;
  cfg.featureWeight = 1.f;  // feature targets come from the teacher's run on the same batch
  const Tensor images = randomTensor({32, 3, 6, 6}, 7);
  nlohmann::json report = train::finetune(*g, *teacher, images, cfg);
  INFO(report.dump());
  CHECK(report["augment"]["shift"] == 1);
  const auto &epochs = report["stage2_joint"];
  CHECK(epochs.back()["mean_kl"].get<double>() < epochs.front()["mean_kl"].get<double>());
  // Without augmentation the same seed takes another path.
  auto plain = smallResNet();
  quantize(*plain);
  cfg.augment = false;
  nlohmann::json without = train::finetune(*plain, *teacher, images, cfg);
  CHECK(without["stage2_joint"].back()["mean_kl"] != epochs.back()["mean_kl"]);
  CHECK_FALSE(without.contains("augment"));
}

namespace {

// T^2 KL(softmax(t/T) || softmax(s/T)), the batch mean, as the joint stage defines it.
double referenceKl(const Tensor &s, const Tensor &t, double T) {
  const int64_t n = s.dims()[0], k = s.dims()[1];
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double zs = 0, zt = 0;
    for (int64_t j = 0; j < k; ++j) {
      zs += std::exp(s.data<float>()[i * k + j] / T);
      zt += std::exp(t.data<float>()[i * k + j] / T);
    }
    for (int64_t j = 0; j < k; ++j) {
      const double p = std::exp(t.data<float>()[i * k + j] / T) / zt, q = std::exp(s.data<float>()[i * k + j] / T) / zs;
      total += T * T * p * std::log(p / q);
    }
  }
  return total / static_cast<double>(n);
}

// Mean T^2 KL over the images \p idx of \p student against \p teacher, one image at a time; a
// null student predicts a constant (all logits equal: the uniform distribution).
double heldBackKl(const Graph *student, const Graph &teacher, const Tensor &images, const std::vector<int64_t> &idx) {
  Dims one = images.dims();
  one[0] = 1;
  train::Network t(teacher, one);
  std::optional<train::Network> s;
  if (student) s.emplace(*student, one);
  const size_t row = static_cast<size_t>(images.numel() / images.dims()[0]);
  double sum = 0;
  for (int64_t i : idx) {
    std::vector<float> x(images.data<float>() + static_cast<size_t>(i) * row, images.data<float>() + static_cast<size_t>(i + 1) * row);
    const Tensor in = Tensor::fromVector(one, x);
    const Tensor yt = t.forward(in);
    const Tensor ys = s ? s->forward(in) : Tensor::fromVector(yt.dims(), std::vector<float>(static_cast<size_t>(yt.numel()), 0.f));
    sum += referenceKl(ys, yt, 4.0);
  }
  return sum / static_cast<double>(idx.size());
}

}  // namespace

TEST_CASE("the held-back share is a seeded, sorted subset, and budgets grow with depth", "[train]") {
  const std::vector<int64_t> a = train::heldBackImages(100, 0.1f, 0), b = train::heldBackImages(100, 0.1f, 0);
  CHECK(a == b);
  REQUIRE(a.size() == 10);
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());
  CHECK(a != train::heldBackImages(100, 0.1f, 1));
  CHECK(train::heldBackImages(9, 0.1f, 0).empty());
  CHECK(train::defaultJointEpochs(8) == 15);
  CHECK(train::defaultJointEpochs(22) == 17);
  CHECK(train::defaultJointEpochs(46) == 35);
  CHECK(train::defaultJointEpochs(200) == 45);
}

TEST_CASE("the learning-rate search keeps the candidate lowest on the held-back images, and its rate replays the run",
          "[train]") {
  const Tensor images = randomTensor({32, 3, 6, 6}, 7);
  auto run = [&](float lr, nlohmann::json *report) {
    auto g = smallResNet();
    std::unique_ptr<Graph> teacher = g->clone();
    quantize(*g);
    train::FinetuneConfig cfg = quickJointConfig(4);
    cfg.lr = lr;
    cfg.lrCandidates = {1e-7f, 5e-3f, 0.3f};
    cfg.heldBack = 0.25f;
    *report = train::finetune(*g, *teacher, images, cfg);
    return g;
  };
  nlohmann::json searched, replayed;
  auto a = run(0.f, &searched);
  INFO(searched.dump());
  CHECK(searched["held_back_images"] == 8);
  CHECK(searched["train_images"] == 24);
  const auto &trials = searched["lr_search"]["trials"];
  REQUIRE(trials.size() == 3);
  double lowest = 1e300;
  for (const auto &t : trials) lowest = std::min(lowest, t["held_back_kl"].get<double>());
  float want = 0.f;  // the largest rate within 10 % of the lowest trial KL
  for (const auto &t : trials)
    if (t["held_back_kl"].get<double>() <= lowest * 1.1) want = std::max(want, t["lr"].get<float>());
  CHECK(searched["lr_search"]["chosen"].get<float>() == want);
  CHECK(searched["lr_search"]["chosen"].get<float>() != 1e-7f);  // a rate that cannot move the weights loses
  CHECK(searched["stage2"]["lr"] == searched["lr_search"]["chosen"]);
  // Each trial starts from the same weights: the search leaves no trace but the rate.
  auto b = run(searched["lr_search"]["chosen"].get<float>(), &replayed);
  CHECK_FALSE(replayed.contains("lr_search"));
  CHECK(replayed["stage2_joint"] == searched["stage2_joint"]);
  CHECK(a->findValue("w2")->constant()->toFloats() == b->findValue("w2")->constant()->toFloats());
}

TEST_CASE("stage 2 stops after `patience` epochs without a new lowest held-back KL, and keep-within 0 keeps the lowest",
          "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  const Tensor images = randomTensor({32, 3, 6, 6}, 7);
  train::FinetuneConfig cfg = quickJointConfig(40);
  cfg.lr = 0.05f;  // large enough that the held-back KL wanders and the rule must act
  cfg.heldBack = 0.25f;
  cfg.patience = 2;
  cfg.keepWithin = 0.f;
  nlohmann::json report = train::finetune(*g, *teacher, images, cfg);
  INFO(report.dump());
  const auto &epochs = report["stage2_joint"];
  const int lowestEpoch = report["stage2"]["lowest_kl_epoch"].get<int>();
  REQUIRE(epochs.size() < 40);
  CHECK(static_cast<int>(epochs.size()) == lowestEpoch + 2);
  CHECK(report["stage2"]["kept_epoch"] == lowestEpoch);
  // Each epoch's candidate: the better of the current parameters and their moving average.
  auto candidate = [](const nlohmann::json &e) {
    return std::min(e["held_back_kl"].get<double>(), e["held_back_kl_average"].get<double>());
  };
  double lowest = 1e300;
  for (const auto &e : epochs) lowest = std::min(lowest, candidate(e));
  const double kept = report["stage2"]["kept_held_back_kl"].get<double>();
  CHECK(kept == candidate(epochs[static_cast<size_t>(lowestEpoch - 1)]));
  CHECK(kept <= lowest * (1 + 1e-3));
  // The graph written back is the kept epoch's, not the last one's.
  const double measured = heldBackKl(g.get(), *teacher, images, train::heldBackImages(32, 0.25f, cfg.seed));
  CHECK(measured == Approx(kept).epsilon(1e-4));
  CHECK(measured != Approx(candidate(epochs.back())).epsilon(1e-4));
}

TEST_CASE("stage 2 keeps the latest candidate within keep-within standard errors of the lowest held-back KL", "[train]") {
  const Tensor images = randomTensor({32, 3, 6, 6}, 7);
  auto base = smallResNet();
  std::unique_ptr<Graph> teacher = base->clone();
  quantize(*base);
  for (float within : {1.f, 10.f}) {
    std::unique_ptr<Graph> g = base->clone();
    train::FinetuneConfig cfg = quickJointConfig(12);
    cfg.lr = 0.05f;
    cfg.heldBack = 0.25f;
    cfg.patience = 100;  // every epoch runs
    cfg.keepWithin = within;
    nlohmann::json report = train::finetune(*g, *teacher, images, cfg);
    INFO(report.dump());
    const auto &epochs = report["stage2_joint"];
    REQUIRE(epochs.size() == 12);
    // Replay the rule from the report: an epoch is kept when it sets a new lowest (by 0.1 %) or
    // lies within `within` standard errors of the lowest so far; the last kept one is the result.
    double lowest = 0;
    int keptEpoch = 0, lowestEpoch = 0, keptButNotLowest = 0;
    for (const auto &e : epochs) {
      const double c = std::min(e["held_back_kl"].get<double>(), e["held_back_kl_average"].get<double>());
      const bool isLowest = lowestEpoch == 0 || c < lowest * (1 - 1e-3);
      const bool nearLowest = !isLowest && c <= lowest + within * e["standard_error_to_lowest"].get<double>();
      CHECK(e.contains("kept") == (isLowest || nearLowest));
      if (isLowest || nearLowest) keptEpoch = e["epoch"].get<int>();
      if (nearLowest) ++keptButNotLowest;
      if (!isLowest) CHECK(e["standard_error_to_lowest"].get<double>() > 0);
      if (isLowest) {
        lowest = c;
        lowestEpoch = e["epoch"].get<int>();
      }
    }
    CHECK(report["stage2"]["kept_epoch"] == keptEpoch);
    CHECK(report["stage2"]["lowest_kl_epoch"] == lowestEpoch);
    if (within == 10.f) CHECK(keptButNotLowest > 0);  // the rule acts: a later, not lowest epoch is kept
    const std::vector<int64_t> held = train::heldBackImages(32, 0.25f, cfg.seed);
    const double measured = heldBackKl(g.get(), *teacher, images, held);
    CHECK(measured == Approx(report["stage2"]["kept_held_back_kl"].get<double>()).epsilon(1e-4));
    // Beside it, what a constant prediction reaches on the same images; the student is far below.
    const double constant = heldBackKl(nullptr, *teacher, images, held);
    CHECK(constant == Approx(report["stage2"]["held_back_kl_constant_prediction"].get<double>()).epsilon(1e-4));
    CHECK(measured < 0.5 * constant);
  }
  train::FinetuneConfig bad = quickJointConfig(1);
  bad.keepWithin = -1.f;
  CHECK_THROWS_WITH(train::finetune(*base, *teacher, images, bad), Catch::Contains("keep within"));
}

TEST_CASE("without held-back images stage 2 needs a given learning rate and budget", "[train]") {
  auto g = smallResNet();
  std::unique_ptr<Graph> teacher = g->clone();
  quantize(*g);
  train::FinetuneConfig cfg = quickJointConfig(2);
  cfg.heldBack = 0.f;
  cfg.lr = 0.f;
  CHECK_THROWS_WITH(train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg),
                    Catch::Contains("--lr") && Catch::Contains("32 images"));
  for (float bad : {-0.5f, 0.9f, std::nanf("")}) {  // as a recipe could carry them
    train::FinetuneConfig b = cfg;
    b.heldBack = bad;
    CHECK_THROWS_WITH(train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), b), Catch::Contains("held-back share"));
  }
  train::FinetuneConfig t = cfg;
  t.temperature = 0.f;
  CHECK_THROWS_WITH(train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), t), Catch::Contains("temperature 0"));
  cfg.lr = 1e-3f;
  nlohmann::json report = train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  CHECK(report["train_images"] == 32);
  CHECK(report["stage2_joint"].size() == 2);
  CHECK_FALSE(report["stage2"].contains("kept_epoch"));
}

TEST_CASE("stage 2 keeps the better of the parameters and their moving average, and without held-back images, the average",
          "[train]") {
  const Tensor images = randomTensor({32, 3, 6, 6}, 7);
  auto run = [&](float ema, float heldBack, Graph &g, const Graph &teacher) {
    train::FinetuneConfig cfg = quickJointConfig(6);
    cfg.lr = 0.02f;
    cfg.heldBack = heldBack;
    cfg.patience = 100;  // every epoch runs
    cfg.ema = ema;
    cfg.mixup = 0.4f;    // and mixed batches, the teacher run on each
    return train::finetune(g, teacher, images, cfg);
  };
  auto base = smallResNet();
  std::unique_ptr<Graph> teacher = base->clone();
  quantize(*base);
  // The best epoch's better candidate, by held-back KL, is what is written back.
  std::unique_ptr<Graph> averaged = base->clone();
  nlohmann::json report = run(0.9f, 0.25f, *averaged, *teacher);
  INFO(report.dump());
  CHECK(report["mixup"] == Approx(0.4));
  CHECK(report["stage2"]["ema"] == Approx(0.9));
  const double best = report["stage2"]["kept_held_back_kl"].get<double>();
  const auto &bestEpoch = report["stage2_joint"][report["stage2"]["kept_epoch"].get<size_t>() - 1];
  const double current = bestEpoch["held_back_kl"].get<double>(), average = bestEpoch["held_back_kl_average"].get<double>();
  CHECK(best == std::min(current, average));
  CHECK(report["stage2"]["kept_parameters"] == (average < current ? "average" : "current"));
  CHECK(current != average);  // the two are different parameters
  const double measured = heldBackKl(&*averaged, *teacher, images, train::heldBackImages(32, 0.25f, 3));
  CHECK(measured == Approx(best).epsilon(1e-4));
  // Without an average only the current parameters are judged.
  std::unique_ptr<Graph> off = base->clone();
  nlohmann::json plainReport = run(0.f, 0.25f, *off, *teacher);
  CHECK_FALSE(plainReport["stage2_joint"][0].contains("held_back_kl_average"));
  CHECK(plainReport["stage2"]["kept_parameters"] == "current");
  // A decay near 0 averages nothing: the result is the last step's weights, as without it.
  std::unique_ptr<Graph> tiny = base->clone(), plain = base->clone();
  run(1e-7f, 0.f, *tiny, *teacher);
  run(0.f, 0.f, *plain, *teacher);
  const Tensor &wt = *tiny->findValue("w2")->constant(), &wp = *plain->findValue("w2")->constant();
  CHECK(mismatch(wt, wp, 1e-5f, 1e-5f).empty());
  // A real decay returns other weights than the last step's.
  std::unique_ptr<Graph> decayed = base->clone();
  run(0.9f, 0.f, *decayed, *teacher);
  CHECK_FALSE(mismatch(*decayed->findValue("w2")->constant(), wp, 1e-5f, 1e-5f).empty());
  // Out-of-range settings, as a recipe could carry them.
  for (float bad : {-0.1f, 1.f, std::nanf("")}) {
    train::FinetuneConfig b = quickJointConfig(1);
    b.ema = bad;
    CHECK_THROWS_WITH(train::finetune(*base, *teacher, images, b), Catch::Contains("ema"));
  }
}
