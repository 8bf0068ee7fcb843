// The training engine's Network: its forward pass equals the runner's (float and fake-quantized
// QDQ simulation), and its input, weight, bias and step gradients match finite differences of
// the whole network's loss.
#include <cmath>
#include <functional>

#include "GradientCheck.h"
#include "TestUtil.h"
#include "import/OnnxImporter.h"
#include "jobs/ModelLoader.h"
#include "kernels/QuantizeRef.h"
#include "passes/PassManager.h"
#include "train/Network.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

const std::string kData = LOWBIT_TEST_DATA;

Value *constant(Graph &g, const std::string &name, Tensor t) { return g.addConstant(name, std::move(t)); }

Node *setInts(Node *n, const std::string &attr, std::vector<int64_t> v) {
  n->setAttr(attr, Attribute::ofInts(std::move(v)));
  return n;
}

// A CIFAR ResNet in miniature: conv-relu, a residual block whose shortcut is the subsampled,
// zero-padded input (Slice + Pad), max pooling, global average pooling, flatten, Gemm.
std::unique_ptr<Graph> miniResNet() {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "x", {2, 3, 8, 8});
  Node *c1 = addOp(*g, "Conv", {x, constant(*g, "w1", randomTensor({4, 3, 3, 3}, 1, -0.5f, 0.5f)),
                                constant(*g, "b1", randomTensor({4}, 2))}, "c1");
  setInts(c1, "pads", {1, 1, 1, 1});
  Node *r1 = addOp(*g, "Relu", {c1->output(0)}, "r1");
  Node *c2 = addOp(*g, "Conv", {r1->output(0), constant(*g, "w2", randomTensor({8, 4, 3, 3}, 3, -0.5f, 0.5f))}, "c2");
  setInts(setInts(c2, "pads", {1, 1, 1, 1}), "strides", {2, 2});
  auto ints = [&](const std::string &n, std::vector<int64_t> v) {
    return constant(*g, n, Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
  };
  Node *sl = addOp(*g, "Slice", {r1->output(0), ints("st", {0, 0}), ints("en", {8, 8}), ints("ax", {2, 3}), ints("sp", {2, 2})}, "sl");
  Node *pd = addOp(*g, "Pad", {sl->output(0), ints("pads", {0, 2, 0, 0, 0, 2, 0, 0})}, "pd");
  Node *add = addOp(*g, "Add", {c2->output(0), pd->output(0)}, "add");
  Node *r2 = addOp(*g, "Relu", {add->output(0)}, "r2");
  Node *mp = addOp(*g, "MaxPool", {r2->output(0)}, "mp");
  setInts(setInts(mp, "kernel_shape", {2, 2}), "strides", {2, 2});
  Node *gap = addOp(*g, "GlobalAveragePool", {mp->output(0)}, "gap");
  Node *fl = addOp(*g, "Flatten", {gap->output(0)}, "fl");
  Node *fc = addOp(*g, "Gemm", {fl->output(0), constant(*g, "wf", randomTensor({5, 8}, 4)), constant(*g, "bf", randomTensor({5}, 5))}, "fc");
  fc->setAttr("transB", Attribute::ofInt(1));
  g->outputs().push_back(fc->output(0));
  runPasses(*g, {"ConstantFolding"});  // shapes
  return g;
}

}  // namespace

TEST_CASE("Network forward equals the runner on a model with residual, slice, pad and pooling", "[train]") {
  auto g = miniResNet();
  Tensor x = randomTensor({2, 3, 8, 8}, 7);
  train::Network net(*g, x.dims());
  CHECK(mismatch(net.forward(x), runGraph(*g, {x})[0], 1e-5f, 1e-5f).empty());

  auto tiny = loadPreparedModel(kData + "/good/tiny_convnet.onnx");
  const Dims d = {3, 3, 8, 8};
  Tensor t = randomTensor(d, 8);
  train::Network tinyNet(*tiny, d);
  CHECK(mismatch(tinyNet.forward(t), runGraph(*tiny, {t})[0], 1e-5f, 1e-5f).empty());
}

TEST_CASE("Network gradients for the input, weights and biases match finite differences", "[train]") {
  auto g = miniResNet();
  Tensor x = randomTensor({2, 3, 8, 8}, 9);
  train::Network net(*g, x.dims());
  Tensor r = randomTensor({2, 5}, 10);
  net.forward(x);
  net.zeroGrad();
  Tensor dx = net.backward(r);
  checkAgainstFiniteDifferences(net, x, dx, [&] { return dot(net.forward(x), r); });
}

TEST_CASE("Network gradients seeded at an intermediate activation match finite differences", "[train]") {
  // loss = <y, r> + <r1, q>: the output term plus a feature term on the first Relu's output,
  // which both the residual branch and the shortcut read.
  auto g = miniResNet();
  Tensor x = randomTensor({2, 3, 8, 8}, 9);
  train::Network net(*g, x.dims());
  Tensor r = randomTensor({2, 5}, 10), q = randomTensor({2, 4, 8, 8}, 11);
  REQUIRE(net.hasActivation("r1"));
  net.forward(x);
  net.zeroGrad();
  Tensor dx = net.backward(r, {{"r1", &q}});
  checkAgainstFiniteDifferences(net, x, dx, [&] {
    const double out = dot(net.forward(x), r);
    return out + dot(net.activation("r1"), q);
  });
  Tensor wrong = randomTensor({2, 4}, 12);
  CHECK_THROWS_WITH(net.backward(r, {{"r1", &wrong}}), Catch::Contains("wrong dims"));
  CHECK_THROWS_WITH(net.backward(r, {{"nothing", &q}}), Catch::Contains("no activation 'nothing'"));
}

TEST_CASE("Network with quantized weights and activations computes what the QDQ simulation computes", "[train]") {
  auto g = miniResNet();
  // 4-bit per-channel weights on c2, 8-bit per-tensor activation on r1's output.
  Value *w2 = g->findValue("w2");
  QuantParams wp;
  wp.granularity = QuantParams::Granularity::PerChannel;
  wp.axis = 0;
  wp.bits = 4;
  wp.state = QuantParams::State::Calibrated;
  for (int c = 0; c < 8; ++c) {
    wp.scale.push_back(0.5f / 7.f * (1.f + 0.05f * static_cast<float>(c)));
    wp.zeroPoint.push_back(0);
  }
  w2->quant = wp;
  Value *a = g->findValue("r1");
  QuantParams ap;
  ap.state = QuantParams::State::Calibrated;
  ap.scale = {0.02f};
  ap.zeroPoint = {0};
  a->quant = ap;

  Tensor x = randomTensor({2, 3, 8, 8}, 11);
  train::Network net(*g, x.dims());
  Tensor y = net.forward(x);
  size_t steps = 0;
  for (train::Param *p : net.params()) steps += p->kind == train::Param::Kind::Step;
  CHECK(steps == 2);

  std::unique_ptr<Graph> qdq = g->clone();
  runPasses(*qdq, {"InsertQDQ"});
  CHECK(mismatch(y, runGraph(*qdq, {x})[0], 1e-4f, 1e-4f).empty());

  // The step gradients are the LSQ ones: finite differences do not apply (the loss is a step
  // function of the step size); they must at least be finite and not all zero.
  net.zeroGrad();
  net.backward(randomTensor({2, 5}, 12));
  for (train::Param *p : net.params())
    if (p->kind == train::Param::Kind::Step) {
      double sum = 0;
      for (float v : p->grad.toFloats()) sum += std::fabs(v);
      CHECK(std::isfinite(sum));
      CHECK(sum > 0);
    }
}

TEST_CASE("Network refuses ops it has no gradient for, naming the node", "[train]") {
  Graph g;
  // Gather of an activation runs on the float runner but is not in the gradient table.
  Value *x = addInput(g, "x", {1, 4});
  Node *s = addOp(g, "Gather", {x, g.addConstant("idx", Tensor::fromVector<int64_t>({2}, {0, 2}))}, "gather");
  s->setAttr("axis", Attribute::ofInt(1));
  g.outputs().push_back(s->output(0));
  CHECK_THROWS_WITH(train::Network(g, {1, 4}), Catch::Contains("gather_node") && Catch::Contains("no gradient"));
}

TEST_CASE("Network with PACT activations quantizes on [0, alpha] and gives alpha the clipped elements' gradient", "[train]") {
  // x -> Relu -> output, the Relu output 2-bit unsigned with step 0.5: alpha = 1.5.
  Graph g;
  Value *x = addInput(g, "x", {1, 6});
  Node *r = addOp(g, "Relu", {x}, "r");
  g.outputs().push_back(r->output(0));
  QuantParams ap;
  ap.state = QuantParams::State::Calibrated;
  ap.bits = 2;
  ap.isSigned = false;
  ap.scale = {0.5f};
  ap.zeroPoint = {0};
  r->output(0)->quant = ap;

  train::Network net(g, {1, 6}, train::ActivationQuantizer::Pact);
  REQUIRE(net.params().size() == 1);
  train::Param &alpha = *net.params()[0];
  CHECK(alpha.kind == train::Param::Kind::Clip);
  CHECK(alpha.name == "r.alpha");
  CHECK(alpha.value.toFloats()[0] == Approx(1.5f));
  const Tensor &y = net.forward(Tensor::fromVector<float>({1, 6}, {-1.f, 0.2f, 0.4f, 1.3f, 1.5f, 4.f}));
  CHECK(y.toFloats() == std::vector<float>{0.f, 0.f, 0.5f, 1.5f, 1.5f, 1.5f});  // 0.4/0.5 rounds to 1
  net.zeroGrad();
  const Tensor &dx = net.backward(Tensor::fromVector<float>({1, 6}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}));
  // Straight through inside (0, alpha); alpha collects x >= alpha: 5 + 6.
  CHECK(dx.toFloats() == std::vector<float>{0.f, 2.f, 3.f, 4.f, 0.f, 0.f});
  CHECK(alpha.grad.toFloats()[0] == Approx(11.f));

  // Signed activations have no PACT form: they keep a learnable LSQ step.
  r->output(0)->quant->isSigned = true;
  train::Network signedNet(g, {1, 6}, train::ActivationQuantizer::Pact);
  CHECK(signedNet.params()[0]->kind == train::Param::Kind::Step);
}

namespace {

// Conv-Relu, a Concat of that with the input (a DenseNet-style skip), global pooling and a
// MatMul classifier head, as PyTorch exports torch.matmul.
std::unique_ptr<Graph> concatMatMulNet() {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "x", {2, 3, 4, 4});
  Node *c1 = addOp(*g, "Conv", {x, constant(*g, "w1", randomTensor({4, 3, 3, 3}, 21, -0.5f, 0.5f)),
                                constant(*g, "b1", randomTensor({4}, 22))}, "c1");
  setInts(c1, "pads", {1, 1, 1, 1});
  Node *r1 = addOp(*g, "Relu", {c1->output(0)}, "r1");
  Node *cat = addOp(*g, "Concat", {r1->output(0), x}, "cat");
  cat->setAttr("axis", Attribute::ofInt(1));
  Node *gap = addOp(*g, "GlobalAveragePool", {cat->output(0)}, "gap");
  Node *fl = addOp(*g, "Flatten", {gap->output(0)}, "fl");
  Node *mm = addOp(*g, "MatMul", {fl->output(0), constant(*g, "wm", randomTensor({7, 5}, 23))}, "mm");
  g->outputs().push_back(mm->output(0));
  runPasses(*g, {"ConstantFolding"});  // shapes
  return g;
}

}  // namespace

TEST_CASE("Network Concat and MatMul: forward equals the runner, gradients match finite differences", "[train]") {
  auto g = concatMatMulNet();
  Tensor x = randomTensor({2, 3, 4, 4}, 24);
  checkForwardAndGradients(*g, x, 25);

  // 4-bit MatMul weights per output column (axis 1): the QDQ simulation computes the same.
  QuantParams wp;
  wp.granularity = QuantParams::Granularity::PerChannel;
  wp.axis = 1;
  wp.bits = 4;
  wp.state = QuantParams::State::Calibrated;
  for (int c = 0; c < 5; ++c) {
    wp.scale.push_back(0.15f + 0.01f * static_cast<float>(c));
    wp.zeroPoint.push_back(0);
  }
  g->findValue("wm")->quant = wp;
  train::Network qnet(*g, x.dims());
  std::unique_ptr<Graph> qdq = g->clone();
  runPasses(*qdq, {"InsertQDQ"});
  CHECK(mismatch(qnet.forward(x), runGraph(*qdq, {x})[0], 1e-5f, 1e-5f).empty());
}

namespace {

// x [N, 3, 4, 4] -> Conv -> the exporter's x.view(x.size(0), -1) tail: Shape -> Gather(0) ->
// Unsqueeze -> Concat with [-1] -> Reshape -> Gemm. \p batch: the input's declared batch (-1:
// dynamic). \p bakedBatch: a Reshape to a constant [bakedBatch, 32] instead of the shape chain.
std::unique_ptr<Graph> viewTailModel(int64_t batch, int64_t bakedBatch = 0) {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "x", {batch, 3, 4, 4});
  Node *c = addOp(*g, "Conv", {x, g->addConstant("w", randomTensor({2, 3, 3, 3}, 31))}, "c");
  c->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  auto ints = [&](const std::string &n, std::vector<int64_t> v) {
    return g->addConstant(n, Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
  };
  Value *shape;
  if (bakedBatch) {
    shape = ints("baked", {bakedBatch, 32});
  } else {
    Node *s = addOp(*g, "Shape", {c->output(0)}, "shape");
    Node *n = addOp(*g, "Gather", {s->output(0), g->addConstant("zero", Tensor::scalar<int64_t>(0))}, "n");
    Node *u = addOp(*g, "Unsqueeze", {n->output(0), ints("axes", {0})}, "nu");
    Node *cat = addOp(*g, "Concat", {u->output(0), ints("minus1", {-1})}, "newshape");
    cat->setAttr("axis", Attribute::ofInt(0));
    shape = cat->output(0);
  }
  Node *r = addOp(*g, "Reshape", {c->output(0), shape}, "flat");
  Node *fc = addOp(*g, "Gemm", {r->output(0), g->addConstant("wf", randomTensor({3, 32}, 32))}, "fc");
  fc->setAttr("transB", Attribute::ofInt(1));
  g->outputs().push_back(fc->output(0));
  return g;
}

}  // namespace

TEST_CASE("Network trains through shape chains the runner folds (x.view(x.size(0), -1))", "[train]") {
  checkForwardAndGradients(*viewTailModel(-1), randomTensor({4, 3, 4, 4}, 33), 34, 1e-5f, 1e-5f, 5, 3);
}

TEST_CASE("Network trains a model exported with a fixed batch at its own batch size", "[train]") {
  auto fixed = viewTailModel(1);  // declared batch 1, the shape chain follows the batch
  Tensor x = randomTensor({4, 3, 4, 4}, 35);
  train::Network net(*fixed, x.dims());
  CHECK(net.forward(x).dims() == Dims{4, 3});
  // A shape constant that bakes batch 1 in cannot hold 4 images: an error naming the Reshape.
  auto baked = viewTailModel(1, 1);
  CHECK_THROWS_WITH(train::Network(*baked, x.dims()), Catch::Contains("flat"));
}

TEST_CASE("Network without parameter gradients gives the same input gradient and leaves the others alone", "[train]") {
  auto g = miniResNet();
  Tensor x = randomTensor({2, 3, 8, 8}, 9), r = randomTensor({2, 5}, 10);
  train::Network full(*g, x.dims()), inputOnly(*g, x.dims());
  inputOnly.setParameterGradients(false);
  full.forward(x);
  full.zeroGrad();
  const Tensor want = full.backward(r);
  inputOnly.forward(x);
  inputOnly.zeroGrad();
  CHECK(mismatch(inputOnly.backward(r), want, 0.f, 0.f).empty());
  for (train::Param *p : inputOnly.params()) {
    if (p->kind != train::Param::Kind::Weight && p->kind != train::Param::Kind::Bias) continue;
    INFO(p->name);
    for (float v : p->grad.toFloats()) CHECK(v == 0.f);
  }
}

TEST_CASE("DoReFa weights: tanh-normalised codes, least-squares channel scale, gradient through the transform", "[train]") {
  // Codes of tanh(w) / m on each grid, hand-computed: channel 0 has tanh(0.5) / tanh(1.5) = 0.511
  // and -1, channel 1 has 1 and tanh(0.1) / tanh(0.2) = 0.505. Uniform 3-bit narrow (L = 3):
  // codes 2, -3 and 3, 2. Mid-rise 2-bit (L = 3, odd codes): 1, -3 and 3, 1. The scale alpha =
  // sum(w u) / sum(u u) with u = code / L, the step alpha / L.
  struct Grid {
    QuantParams::Scheme scheme;
    int bits;
    std::vector<float> u;  // normalised levels, channel-major
  };
  for (const Grid &grid : {Grid{QuantParams::Scheme::Uniform, 3, {2.f / 3, -1.f, 1.f, 2.f / 3}},
                           Grid{QuantParams::Scheme::MidRise, 2, {1.f / 3, -1.f, 1.f, 1.f / 3}}}) {
    INFO("scheme " << static_cast<int>(grid.scheme));
    auto build = [&](bool quantized) {
      auto g = std::make_unique<Graph>();
      Value *x = addInput(*g, "x", {1, 2, 3, 3});
      Value *w = constant(*g, "w", Tensor::fromVector<float>({2, 2, 1, 1}, {0.5f, -1.5f, 0.2f, 0.1f}));
      if (quantized) {
        QuantParams p;
        p.granularity = QuantParams::Granularity::PerChannel;
        p.scheme = grid.scheme;
        p.axis = 0;
        p.bits = grid.bits;
        p.narrowRange = true;
        p.state = QuantParams::State::Calibrated;
        p.scale = {0.5f, 0.0667f};
        p.zeroPoint = {0, 0};
        w->quant = p;
      }
      Node *c = addOp(*g, "Conv", {x, w}, "c");
      g->outputs().push_back(c->output(0));
      runPasses(*g, {"ConstantFolding"});
      return g;
    };
    auto q = build(true), f = build(false);
    const Tensor x = randomTensor({1, 2, 3, 3}, 3), r = randomTensor({1, 2, 3, 3}, 4);
    train::Network net(*q, x.dims(), train::ActivationQuantizer::Lsq, train::WeightQuantizer::Dorefa);
    const std::vector<float> w = {0.5f, -1.5f, 0.2f, 0.1f};
    std::vector<float> alpha(2), wq(4);
    for (size_t c = 0; c < 2; ++c) {
      const float wu = w[2 * c] * grid.u[2 * c] + w[2 * c + 1] * grid.u[2 * c + 1];
      const float uu = grid.u[2 * c] * grid.u[2 * c] + grid.u[2 * c + 1] * grid.u[2 * c + 1];
      alpha[c] = wu / uu;
      for (size_t i = 0; i < 2; ++i) wq[2 * c + i] = alpha[c] * grid.u[2 * c + i];
    }
    if (grid.scheme == QuantParams::Scheme::MidRise) CHECK(alpha[0] == Approx(1.5f));  // (0.5 / 3 + 1.5) / (1 / 9 + 1)
    Graph &fg = *f;
    fg.findValue("w")->setConstant(std::make_shared<const Tensor>(Tensor::fromVector<float>({2, 2, 1, 1}, wq)));
    train::Network atCodes(fg, x.dims());
    CHECK(mismatch(net.forward(x), atCodes.forward(x), 1e-6f, 1e-5f).empty());
    // d/dw = (gradient at the quantized weights, straight through) * alpha / m * (1 - tanh(w)^2).
    net.zeroGrad();
    net.backward(r);
    atCodes.zeroGrad();
    atCodes.backward(r);
    const std::vector<float> m = {std::tanh(1.5f), std::tanh(0.2f)};
    train::Param *pw = nullptr, *ps = nullptr;
    for (train::Param *p : net.params()) {
      if (p->name == "w") pw = p;
      if (p->kind == train::Param::Kind::Step) ps = p;
    }
    REQUIRE(pw);
    REQUIRE(ps);
    const std::vector<float> got = pw->grad.toFloats(), straight = atCodes.params()[0]->grad.toFloats();
    for (size_t i = 0; i < 4; ++i) {
      const float t = std::tanh(w[i]);
      CHECK(got[i] == Approx(straight[i] * alpha[i / 2] / m[i / 2] * (1 - t * t)).epsilon(1e-4));
    }
    // The step is derived (alpha / L), never learned.
    CHECK(ps->grad.toFloats() == std::vector<float>{0.f, 0.f});
    for (size_t c = 0; c < 2; ++c) CHECK(ps->value.toFloats()[c] == Approx(alpha[c] / 3.f));
  }
}
