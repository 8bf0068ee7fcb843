// Two-stage distillation: how graphs are cut into blocks, that a block cut out computes what it
// computed inside the model, and that fine-tuning lowers the losses it reports, writes its
// result back into the IR and repeats exactly with the same seed.
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "kernels/QuantizeRef.h"
#include "passes/PassManager.h"
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
  auto run = [](float featureWeight) {
    auto g = smallResNet();
    std::unique_ptr<Graph> teacher = g->clone();
    quantize(*g);
    train::FinetuneConfig cfg = quickJointConfig(15);
    cfg.featureWeight = featureWeight;
    return train::finetune(*g, *teacher, randomTensor({32, 3, 6, 6}, 7), cfg);
  };
  const nlohmann::json plain = run(0.f), matched = run(10.f);
  INFO(matched.dump());
  CHECK_FALSE(plain["stage2_joint"][0].contains("mean_feature_mse"));
  const auto &epochs = matched["stage2_joint"];
  REQUIRE(epochs[0].contains("mean_feature_mse"));
  CHECK(epochs.back()["mean_feature_mse"].get<double>() < 0.8 * epochs.front()["mean_feature_mse"].get<double>());
  // The feature term changes the descent: the KL path differs from the KL-only run.
  CHECK(epochs.back()["mean_kl"] != plain["stage2_joint"].back()["mean_kl"]);
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
