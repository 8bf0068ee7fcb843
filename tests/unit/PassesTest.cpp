#include "TestUtil.h"
#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "ops/Evaluate.h"
#include "ops/ShapeInference.h"
#include "passes/PassManager.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

constexpr float kFoldAtol = 1e-5f, kFoldRtol = 1e-4f;


// Conv(3->4) -> BatchNormalization -> Relu, with non-trivial BN statistics.
std::unique_ptr<Graph> convBnRelu() {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "x", {2, 3, 6, 6});
  Value *w = g->addConstant("w", randomTensor({4, 3, 3, 3}, 1));
  Value *b = g->addConstant("b", randomTensor({4}, 2));
  Node *conv = addOp(*g, "Conv", {x, w, b}, "c");
  conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Value *gamma = g->addConstant("gamma", randomTensor({4}, 3, 0.5f, 2.f));
  Value *beta = g->addConstant("beta", randomTensor({4}, 4));
  Value *mean = g->addConstant("mean", randomTensor({4}, 5));
  Value *var = g->addConstant("var", randomTensor({4}, 6, 0.1f, 3.f));
  Node *bn = addOp(*g, "BatchNormalization", {conv->output(0), gamma, beta, mean, var}, "bn");
  bn->setAttr("epsilon", Attribute::ofFloat(1e-3f));
  Node *relu = addOp(*g, "Relu", {bn->output(0)}, "y");
  g->outputs().push_back(relu->output(0));
  inferShapes(*g);
  return g;
}

}  // namespace

TEST_CASE("FoldBatchNorm folds BN into the preceding Conv and keeps the outputs", "[passes]") {
  auto g = convBnRelu();
  Tensor x = randomTensor({2, 3, 6, 6}, 9);
  Tensor before = runGraph(*g, {x})[0];
  REQUIRE(countOps(*g, "BatchNormalization") == 1);
  runPasses(*g, {"FoldBatchNorm"});
  CHECK(countOps(*g, "BatchNormalization") == 0);
  CHECK(countOps(*g, "Conv") == 1);
  CHECK(g->outputs()[0]->name() == "y");
  CHECK(mismatch(runGraph(*g, {x})[0], before, kFoldAtol, kFoldRtol) == "");
}

TEST_CASE("FoldBatchNorm leaves BN alone when the Conv output has another reader", "[passes]") {
  auto g = convBnRelu();
  Value *convOut = g->findValue("c");
  g->outputs().push_back(convOut);  // the unnormalised tensor is needed as well
  runPasses(*g, {"FoldBatchNorm"});
  CHECK(countOps(*g, "BatchNormalization") == 1);
}

TEST_CASE("ConstantFolding folds a PyTorch-style Shape/Gather/Concat/Reshape chain", "[passes]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 4, 3, 3});
  Node *shape = addOp(g, "Shape", {x}, "shape");
  Value *zero = g.addConstant("zero", Tensor::scalar<int64_t>(0));
  Node *gather = addOp(g, "Gather", {shape->output(0), zero}, "batch");
  Value *axes = g.addConstant("axes", Tensor::fromVector<int64_t>({1}, {0}));
  Node *unsq = addOp(g, "Unsqueeze", {gather->output(0), axes}, "batch1");
  Value *minus1 = g.addConstant("minus1", Tensor::fromVector<int64_t>({1}, {-1}));
  Node *concat = addOp(g, "Concat", {unsq->output(0), minus1}, "newshape");
  concat->setAttr("axis", Attribute::ofInt(0));
  Node *reshape = addOp(g, "Reshape", {x, concat->output(0)}, "y");
  g.outputs().push_back(reshape->output(0));
  inferShapes(g);
  Tensor in = randomTensor({2, 4, 3, 3}, 3);
  Tensor before = runGraph(g, {in})[0];
  runPasses(g, {"ConstantFolding", "DeadCodeElimination"});
  CHECK(g.numNodes() == 1);
  CHECK(g.nodes()[0]->opType() == "Reshape");
  CHECK(g.nodes()[0]->input(1)->constant()->toInt64s() == std::vector<int64_t>{2, -1});
  CHECK(reshape->output(0)->dims() == Dims{2, 36});
  CHECK(runGraph(g, {in})[0] == before);
}

TEST_CASE("ConstantFolding folds DequantizeLinear(QuantizeLinear(constant)) for a Pad value, keeps a weight's codes",
          "[passes]") {
  // ONNX Runtime's quantizer writes a Pad's constant_value this way.
  Graph g;
  g.opset = 13;
  Value *x = addInput(g, "x", {1, 2, 3, 3});
  Value *s = g.addConstant("s", Tensor::scalar<float>(0.05f)), *z = g.addConstant("z", Tensor::scalar<uint8_t>(3));
  Node *q = addOp(g, "QuantizeLinear", {g.addConstant("cv", Tensor::scalar<float>(0.26f)), s, z}, "cvq");
  Node *dq = addOp(g, "DequantizeLinear", {q->output(0), s, z}, "cvd");
  Node *pad = addOp(g, "Pad", {x, g.addConstant("pads", Tensor::fromVector<int64_t>({8}, {0, 0, 1, 1, 0, 0, 1, 1})),
                               dq->output(0)}, "p");
  Value *wc = g.addConstant("wc", Tensor::fromVector<int8_t>({1, 2, 1, 1}, {3, -5}));
  Node *wdq = addOp(g, "DequantizeLinear", {wc, g.addConstant("ws", Tensor::scalar<float>(0.1f))}, "w");
  Node *conv = addOp(g, "Conv", {pad->output(0), wdq->output(0)}, "y");
  g.outputs().push_back(conv->output(0));
  inferShapes(g);  // the Pad's shape does not wait for its value
  CHECK(pad->output(0)->dims() == Dims{1, 2, 5, 5});
  runPasses(g, {"ConstantFolding", "DeadCodeElimination"});
  REQUIRE(pad->input(2)->isConstant());
  CHECK(pad->input(2)->constant()->toFloats()[0] == Approx(0.25f));  // 0.26 rounded to a step of 0.05
  CHECK(g.findValue("w")->producer() != nullptr);                      // the weight stays codes
  const Tensor out = runGraph(g, {randomTensor({1, 2, 3, 3}, 4)})[0];
  CHECK(out.data<float>()[0] == Approx(0.25f * 0.3f + 0.25f * -0.5f));  // a corner: padding only
}

TEST_CASE("ConstantFolding keeps Shape of a dynamic batch for the runner", "[passes]") {
  Graph g;
  Value *x = addInput(g, "x", {-1, 4});
  Node *shape = addOp(g, "Shape", {x}, "s");
  g.outputs().push_back(shape->output(0));
  inferShapes(g);
  runPasses(g, {"ConstantFolding"});
  CHECK(g.numNodes() == 1);
  // The runner specialises on the batch and folds it then.
  CHECK(runGraph(g, {randomTensor({3, 4}, 1)})[0].toInt64s() == std::vector<int64_t>{3, 4});
}

TEST_CASE("FreeFixedBatch frees an exported N = 1 unless a node or an output depends on it", "[passes]") {
  // x.view(x.size(0), -1) exported without dynamic axes: the Shape chain reads N, so before
  // folding it still follows the batch.
  auto build = [](const std::string &tail) {
    auto g = std::make_unique<Graph>();
    Value *x = addInput(*g, "x", {1, 4, 3, 3});
    Value *y = nullptr;
    if (tail == "shape chain") {
      Node *shape = addOp(*g, "Shape", {x}, "shape");
      Node *gather = addOp(*g, "Gather", {shape->output(0), g->addConstant("zero", Tensor::scalar<int64_t>(0))}, "n");
      Node *unsq = addOp(*g, "Unsqueeze", {gather->output(0), g->addConstant("axes", Tensor::fromVector<int64_t>({1}, {0}))}, "n1");
      Node *concat = addOp(*g, "Concat", {unsq->output(0), g->addConstant("m1", Tensor::fromVector<int64_t>({1}, {-1}))}, "ns");
      concat->setAttr("axis", Attribute::ofInt(0));
      y = addOp(*g, "Reshape", {x, concat->output(0)}, "y")->output(0);
    } else if (tail == "reshape to [1, -1]") {
      y = addOp(*g, "Reshape", {x, g->addConstant("s", Tensor::fromVector<int64_t>({2}, {1, -1}))}, "y")->output(0);
    } else {  // a sum over everything: the output has no batch dim
      Node *sum = addOp(*g, "ReduceSum", {x}, "y");
      sum->setAttr("keepdims", Attribute::ofInt(0));
      y = sum->output(0);
    }
    g->outputs().push_back(y);
    g->opset = 13;
    inferShapes(*g);
    runPasses(*g, floatPreparePipeline());
    return g;
  };
  std::unique_ptr<Graph> chain = build("shape chain");
  CHECK(chain->inputs()[0]->dims() == Dims{-1, 4, 3, 3});
  const Tensor in = randomTensor({3, 4, 3, 3}, 7);
  const Tensor out = runGraph(*chain, {in})[0];
  CHECK(out.dims() == Dims{3, 36});
  CHECK(out.toFloats() == in.toFloats());
  for (const char *kept : {"reshape to [1, -1]", "sum"}) {
    INFO(kept);
    std::unique_ptr<Graph> g = build(kept);
    CHECK(g->inputs()[0]->dims() == Dims{1, 4, 3, 3});
    CHECK_THROWS_WITH(runGraph(*g, {in}), Catch::Contains("expects shape [1,4,3,3]") && Catch::Contains("pass --batch 1"));
  }
}

namespace {

// An [N, H, W, C] image classifier as Keras exports it: Normalization (Sub, Div on the channels
// axis) in channels-last, then a Transpose into an NCHW Conv, global pooling, logits.
std::unique_ptr<Graph> channelsLastClassifier() {
  auto g = std::make_unique<Graph>();
  Value *x = addInput(*g, "images", {-1, 6, 5, 3});
  Node *sub = addOp(*g, "Sub", {x, g->addConstant("mean", Tensor::fromVector<float>({3}, {0.4f, 0.5f, 0.6f}))}, "centred");
  Node *div = addOp(*g, "Div", {sub->output(0), g->addConstant("std", Tensor::fromVector<float>({1, 1, 3}, {0.2f, 0.25f, 0.3f}))}, "normalized");
  Node *t = addOp(*g, "Transpose", {div->output(0)}, "nchw");
  t->setAttr("perm", Attribute::ofInts({0, 3, 1, 2}));
  Node *conv = addOp(*g, "Conv", {t->output(0), g->addConstant("w", randomTensor({4, 3, 3, 3}, 11)),
                                  g->addConstant("b", randomTensor({4}, 12))}, "conv");
  conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *gap = addOp(*g, "GlobalAveragePool", {conv->output(0)}, "gap");
  Node *flat = addOp(*g, "Flatten", {gap->output(0)}, "logits");
  g->outputs().push_back(flat->output(0));
  inferShapes(*g);
  return g;
}

Tensor toChannelsFirst(const Tensor &nhwc) {
  const Dims &d = nhwc.dims();
  std::vector<float> v(static_cast<size_t>(nhwc.numel()));
  const float *src = nhwc.data<float>();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t h = 0; h < d[1]; ++h)
      for (int64_t w = 0; w < d[2]; ++w)
        for (int64_t c = 0; c < d[3]; ++c) v[static_cast<size_t>(((n * d[3] + c) * d[1] + h) * d[2] + w)] = *src++;
  return Tensor::fromVector<float>({d[0], d[3], d[1], d[2]}, v);
}

}  // namespace

TEST_CASE("ChannelsFirstInputs reads an [N,H,W,C] input channels first, and the export gives the file's interface back", "[passes]") {
  std::unique_ptr<Graph> g = channelsLastClassifier();
  const Tensor images = randomTensor({2, 6, 5, 3}, 13, 0.f, 1.f);
  const Tensor expected = runGraph(*g, {images})[0];
  runPasses(*g, {"ChannelsFirstInputs", "DeadCodeElimination"});
  CHECK(g->inputs()[0]->name() == "images");
  CHECK(g->inputs()[0]->dims() == Dims{-1, 3, 6, 5});
  CHECK(g->channelsLastInputs == std::vector<std::string>{"images"});
  // The view moved through the normalization and cancelled with the model's own Transpose.
  CHECK(countOps(*g, "Transpose") == 0);
  for (Node *n : g->nodes())
    if (n->opType() == "Sub") {
      CHECK(n->input(0) == g->inputs()[0]);
      CHECK(n->input(1)->dims() == Dims{1, 3, 1, 1});
    }
  const Tensor first = toChannelsFirst(images);
  CHECK(mismatch(runGraph(*g, {first})[0], expected, 1e-6f, 1e-6f) == "");

  // Exported, the model reads [N, H, W, C] under its name again; prepared again, channels first.
  std::unique_ptr<Graph> back = importOnnxBytes(exportOnnxBytes(*g, "nhwc.onnx"), "nhwc.onnx", ".");
  CHECK(back->inputs()[0]->name() == "images");
  CHECK(back->inputs()[0]->dims() == Dims{-1, 6, 5, 3});
  CHECK(back->channelsLastInputs.empty());
  CHECK(mismatch(runGraph(*back, {images})[0], expected, 1e-6f, 1e-6f) == "");
  runPasses(*back, floatPreparePipeline());
  CHECK(back->inputs()[0]->dims() == Dims{-1, 3, 6, 5});
  CHECK(countOps(*back, "Transpose") == 0);
  CHECK(mismatch(runGraph(*back, {first})[0], expected, 1e-6f, 1e-6f) == "");
}

TEST_CASE("ChannelsFirstInputs moves the view through the per-tensor Q/DQ pair ONNX Runtime's quantizer puts before the Transpose", "[passes]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 4, 5, 3});
  Node *q = addOp(g, "QuantizeLinear", {x, g.addConstant("s", Tensor::scalar<float>(0.02f)), g.addConstant("z", Tensor::scalar<uint8_t>(128))}, "q");
  Node *dq = addOp(g, "DequantizeLinear", {q->output(0), g.findValue("s"), g.findValue("z")}, "dq");
  Node *t = addOp(g, "Transpose", {dq->output(0)}, "t");
  t->setAttr("perm", Attribute::ofInts({0, 3, 1, 2}));
  g.outputs().push_back(addOp(g, "Relu", {t->output(0)}, "y")->output(0));
  inferShapes(g);
  const Tensor images = randomTensor({2, 4, 5, 3}, 15);
  const Tensor expected = runGraph(g, {images})[0];
  runPasses(g, {"ChannelsFirstInputs"});
  CHECK(countOps(g, "Transpose") == 0);
  CHECK(g.findValue("q_channels_first")->dims() == Dims{2, 3, 4, 5});
  CHECK(runGraph(g, {toChannelsFirst(images)})[0].toFloats() == expected.toFloats());
}

TEST_CASE("ChannelsFirstInputs leaves inputs alone that reach no Transpose into channels first, and keeps a view others read", "[passes]") {
  // Rank-4 inputs of the node tests' kind (a ConvTranspose weight, a MatMul operand): what the
  // dims alone suggest is no evidence, the Transpose into NCHW is.
  for (const char *perm : {"none", "0,2,3,1", "0,3,1,2 after Relu"}) {
    Graph g;
    Value *x = addInput(g, "x", {1, 2, 4, 3});
    Value *y = x;
    if (std::string(perm) != "0,2,3,1") y = addOp(g, "Relu", {y}, "r")->output(0);
    if (std::string(perm) != "none") {
      Node *t = addOp(g, "Transpose", {y}, "t");
      t->setAttr("perm", Attribute::ofInts(std::string(perm) == "0,2,3,1" ? std::vector<int64_t>{0, 2, 3, 1}
                                                                          : std::vector<int64_t>{0, 3, 1, 2}));
      y = t->output(0);
    }
    g.outputs().push_back(y);
    inferShapes(g);
    INFO(perm);
    CHECK_FALSE(createPass("ChannelsFirstInputs")->run(g, {}));
    CHECK(g.inputs()[0]->dims() == Dims{1, 2, 4, 3});
  }
  // A channels-last reader other than the Transpose (a Relu on the stored layout) keeps a view.
  std::unique_ptr<Graph> g = channelsLastClassifier();
  Node *side = addOp(*g, "Relu", {g->inputs()[0]}, "side");
  g->outputs().push_back(side->output(0));
  inferShapes(*g);
  const Tensor images = randomTensor({2, 6, 5, 3}, 14, 0.f, 1.f);
  const std::vector<Tensor> expected = runGraph(*g, {images});
  runPasses(*g, {"ChannelsFirstInputs"});
  CHECK(countOps(*g, "Transpose") == 2);  // the view, and the model's own after the normalization
  const std::vector<Tensor> got = runGraph(*g, {toChannelsFirst(images)});
  for (size_t i = 0; i < expected.size(); ++i) CHECK(mismatch(got[i], expected[i], 1e-6f, 1e-6f) == "");
}

TEST_CASE("EliminateIdentity removes Identity and inference Dropout", "[passes]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 2});
  Node *id = addOp(g, "Identity", {x}, "a");
  Node *relu = addOp(g, "Relu", {id->output(0)}, "b");
  Node *drop = addOp(g, "Dropout", {relu->output(0)}, "y");
  g.outputs().push_back(drop->output(0));
  inferShapes(g);
  runPasses(g, {"EliminateIdentity", "DeadCodeElimination"});
  REQUIRE(g.numNodes() == 1);
  CHECK(g.nodes()[0]->opType() == "Relu");
  CHECK(g.nodes()[0]->input(0) == x);
  CHECK(g.outputs()[0]->name() == "y");
}

TEST_CASE("fusion marks Conv+Add+Relu and the runner gives the unfused result", "[passes][runtime]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 8, 5, 5});
  Value *w1 = g.addConstant("w1", randomTensor({8, 8, 3, 3}, 1, -0.3f, 0.3f));
  Value *w2 = g.addConstant("w2", randomTensor({8, 8, 3, 3}, 2, -0.3f, 0.3f));
  Node *c1 = addOp(g, "Conv", {x, w1}, "c1");
  c1->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *r1 = addOp(g, "Relu", {c1->output(0)}, "r1");
  Node *c2 = addOp(g, "Conv", {r1->output(0), w2}, "c2");
  c2->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *add = addOp(g, "Add", {c2->output(0), x}, "sum");
  Node *r2 = addOp(g, "Relu", {add->output(0)}, "y");
  g.outputs().push_back(r2->output(0));
  inferShapes(g);
  Tensor in = randomTensor({2, 8, 5, 5}, 5);
  Tensor unfused = runGraph(g, {in})[0];
  runPasses(g, {"FuseResidualAdd", "FuseActivation"});
  CHECK(c1->fusedActivation == r1);
  CHECK(c2->fusedAdd == add);
  CHECK(c2->fusedActivation == r2);
  CHECK(g.numNodes() == 5);  // marks only: the graph is unchanged
  CHECK(mismatch(runGraph(g, {in})[0], unfused, 1e-5f, 1e-5f) == "");
}

TEST_CASE("the residual sum does not overwrite a shortcut that is read later", "[runtime]") {
  // x feeds both the fused Add and a later Relu: the runner must copy, not accumulate in place.
  // x comes from a Conv so it already has the layout the accumulation would reuse.
  Graph g;
  Value *in = addInput(g, "in", {1, 16, 3, 3});
  Value *w0 = g.addConstant("w0", randomTensor({16, 16, 1, 1}, 3));
  Node *pre = addOp(g, "Conv", {in, w0}, "x");
  Node *mid = addOp(g, "Relu", {in}, "mid");
  Value *w = g.addConstant("w", randomTensor({16, 16, 1, 1}, 1));
  Node *c = addOp(g, "Conv", {mid->output(0), w}, "c");
  Node *add = addOp(g, "Add", {c->output(0), pre->output(0)}, "sum");
  Node *late = addOp(g, "Sigmoid", {pre->output(0)}, "late");
  g.outputs() = {add->output(0), late->output(0)};
  inferShapes(g);
  Tensor x = randomTensor({1, 16, 3, 3}, 2);
  std::vector<Tensor> want = runGraph(g, {x});
  runPasses(g, {"FuseResidualAdd"});
  REQUIRE(c->fusedAdd == add);
  std::vector<Tensor> got = runGraph(g, {x});
  CHECK(mismatch(got[0], want[0], 1e-5f, 1e-5f) == "");
  CHECK(mismatch(got[1], want[1], 1e-5f, 1e-5f) == "");
}

TEST_CASE("unknown pass names list the known ones", "[passes]") {
  Graph g;
  CHECK_THROWS_WITH(runPasses(g, {"FoldEverything"}), Catch::Contains("FoldBatchNorm"));
}

TEST_CASE("the residual sum does not overwrite the Conv's own input", "[runtime]") {
  // y = Conv(x) + x with x itself computed by a Conv (so it has the blocked layout the
  // accumulation would reuse): accumulating into x's buffer would corrupt the Conv's source.
  Graph g;
  Value *in = addInput(g, "in", {1, 16, 5, 5});
  Value *w0 = g.addConstant("w0", randomTensor({16, 16, 1, 1}, 2));
  Node *pre = addOp(g, "Conv", {in, w0}, "x");
  Value *w = g.addConstant("w", randomTensor({16, 16, 3, 3}, 3));
  Node *c = addOp(g, "Conv", {pre->output(0), w}, "c");
  c->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *add = addOp(g, "Add", {c->output(0), pre->output(0)}, "y");
  g.outputs() = {add->output(0)};
  inferShapes(g);
  Tensor x = randomTensor({1, 16, 5, 5}, 4);
  Tensor want = runGraph(g, {x})[0];
  runPasses(g, {"FuseResidualAdd"});
  REQUIRE(c->fusedAdd == add);
  CHECK(mismatch(runGraph(g, {x})[0], want, 1e-4f, 1e-4f) == "");
}

TEST_CASE("EqualizeCrossLayer balances Conv-Relu-Conv ranges and keeps the float outputs", "[passes]") {
  for (int64_t group : {int64_t{1}, int64_t{8}}) {  // plain and depthwise second conv
    Graph g;
    Value *x = addInput(g, "x", {2, 4, 6, 6});
    // Channel ranges of the first conv differ by 100x: what equalization fixes.
    Tensor w1 = randomTensor({8, 4, 3, 3}, 1);
    for (int64_t c = 0; c < 8; ++c)
      for (int64_t i = 0; i < 36; ++i) w1.data<float>()[c * 36 + i] *= c % 2 ? 10.f : 0.1f;
    Value *wa = g.addConstant("wa", w1);
    Value *ba = g.addConstant("ba", randomTensor({8}, 2));
    Node *a = addOp(g, "Conv", {x, wa, ba}, "a");
    a->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    Node *r = addOp(g, "Relu", {a->output(0)}, "r");
    Value *wb = g.addConstant("wb", randomTensor({8, 8 / group, 3, 3}, 3));
    Node *b = addOp(g, "Conv", {r->output(0), wb}, "y");
    b->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    b->setAttr("group", Attribute::ofInt(group));
    g.outputs().push_back(b->output(0));
    inferShapes(g);
    Tensor in = randomTensor({2, 4, 6, 6}, 4);
    Tensor before = runGraph(g, {in})[0];
    INFO("group " << group);
    REQUIRE(runPasses(g, {"EqualizeCrossLayer"}).size() == 1);
    CHECK(mismatch(runGraph(g, {in})[0], before, 1e-4f, 1e-4f) == "");
    // After equalization output channel c of the first conv and input channel c of the second
    // have the same range, sqrt(r_A[c] r_B[c]); before, they differed by up to 100x.
    const Tensor &ea = *a->input(1)->constant(), &eb = *b->input(1)->constant();
    for (int64_t c = 0; c < 8; ++c) {
      float ra = 0.f, rb = 0.f;
      for (int64_t i = 0; i < 36; ++i) ra = std::max(ra, std::fabs(ea.data<float>()[c * 36 + i]));
      for (int64_t o = 0; o < eb.dims()[0]; ++o)
        for (int64_t ci = 0; ci < eb.dims()[1]; ++ci) {
          if ((group == 1 ? ci : o) != c) continue;
          for (int64_t i = 0; i < 9; ++i)
            rb = std::max(rb, std::fabs(eb.data<float>()[(o * eb.dims()[1] + ci) * 9 + i]));
        }
      CHECK(ra == Approx(rb).epsilon(1e-3));
    }
    CHECK(g.findValue("wa")->constant()->toFloats() == w1.toFloats());  // originals untouched
  }
}

TEST_CASE("EqualizeCrossLayer does not equalize through Clip (ReLU6 is not scale-invariant)", "[passes]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 2, 4, 4});
  Node *a = addOp(g, "Conv", {x, g.addConstant("wa", randomTensor({2, 2, 1, 1}, 1))}, "a");
  Node *c = addOp(g, "Clip", {a->output(0), g.addConstant("lo", Tensor::scalar<float>(0.f)),
                               g.addConstant("hi", Tensor::scalar<float>(6.f))}, "c");
  Node *b = addOp(g, "Conv", {c->output(0), g.addConstant("wb", randomTensor({2, 2, 1, 1}, 2))}, "y");
  g.outputs().push_back(b->output(0));
  inferShapes(g);
  CHECK(runPasses(g, {"EqualizeCrossLayer"}).empty());
}

TEST_CASE("UpgradeOpset13 moves attributes to inputs and keeps the outputs", "[passes]") {
  Graph g;
  g.opset = 11;
  Value *x = addInput(g, "x", {2, 3});
  Node *un = addOp(g, "Unsqueeze", {x}, "u");
  un->setAttr("axes", Attribute::ofInts({0}));
  Node *sq = addOp(g, "Squeeze", {un->output(0)}, "s");
  sq->setAttr("axes", Attribute::ofInts({0}));
  Node *sm = addOp(g, "Softmax", {sq->output(0)}, "sm");
  sm->setAttr("axis", Attribute::ofInt(1));
  Node *split = g.addNode("split", "Split", {sm->output(0)}, {g.addValue("a"), g.addValue("b")});
  split->setAttr("axis", Attribute::ofInt(1));
  split->setAttr("split", Attribute::ofInts({1, 2}));
  g.outputs() = {split->output(0), split->output(1)};
  inferShapes(g);
  Tensor in = randomTensor({2, 3}, 7);
  std::vector<Tensor> before = runGraph(g, {in});
  runPasses(g, {"UpgradeOpset13"});
  CHECK(g.opset == 13);
  CHECK_FALSE(un->hasAttr("axes"));
  REQUIRE(un->input(1));
  CHECK(un->input(1)->constant()->toInt64s() == std::vector<int64_t>{0});
  CHECK(split->input(1)->constant()->toInt64s() == std::vector<int64_t>{1, 2});
  inferShapes(g);
  std::vector<Tensor> after = runGraph(g, {in});
  CHECK(after[0] == before[0]);
  CHECK(after[1] == before[1]);
}

TEST_CASE("UpgradeOpset13 keeps the flattened meaning of an older Softmax or LogSoftmax", "[passes]") {
  // axis 1 of [2, 3, 4] normalizes over 12 values before opset 13: Flatten, op, Reshape; of a
  // [2, 5, 1, 1] head (the zoo's SqueezeNet) the same as over axis 1 alone.
  for (const char *op : {"Softmax", "LogSoftmax"})
    for (const Dims &dims : {Dims{2, 3, 4}, Dims{2, 5, 1, 1}}) {
      INFO(op << " " << shapeString(dims));
      Graph g;
      g.opset = 11;
      Value *x = addInput(g, "x", dims);
      Node *sm = addOp(g, op, {x}, "y");
      sm->setAttr("axis", Attribute::ofInt(1));
      g.outputs().push_back(sm->output(0));
      inferShapes(g);
      const Tensor in = randomTensor(dims, 8);
      const Tensor before = runGraph(g, {in})[0];
      runPasses(g, {"UpgradeOpset13"});
      CHECK(g.opset == 13);
      CHECK(countOps(g, "Reshape") == (dims.size() == 3 ? 1u : 0u));
      CHECK(g.outputs()[0]->name() == "y");
      inferShapes(g);
      CHECK(mismatch(runGraph(g, {in})[0], before, 1e-6f, 1e-6f) == "");
    }
  Graph g;
  g.opset = 11;
  Value *x = addInput(g, "x", {-1, 3, -1});
  Node *sm = addOp(g, "Softmax", {x}, "y");
  sm->setAttr("axis", Attribute::ofInt(1));
  g.outputs().push_back(sm->output(0));
  CHECK_THROWS_WITH(runPasses(g, {"UpgradeOpset13"}), Catch::Contains("y_node") && Catch::Contains("two unknown dims"));
}

TEST_CASE("h-swish and SiLU written as x * gate(x) after a Conv or Gemm run as its post-op", "[passes][runtime]") {
  struct Case {
    const char *gate;  // HardSigmoid, Sigmoid, or HardSwish (one op)
    float alpha;       // HardSigmoid's slope
    bool gateFirst;    // Mul(gate, x) instead of Mul(x, gate)
    bool gemm;
    bool fused;
  };
  const std::vector<Case> cases = {{"HardSigmoid", 1.f / 6.f, false, false, true}, {"Sigmoid", 0.f, true, false, true},
                                   {"HardSwish", 0.f, false, false, true},         {"HardSigmoid", 1.f / 6.f, true, true, true},
                                   {"Sigmoid", 0.f, false, true, true},            {"HardSigmoid", 0.2f, false, false, false}};
  for (const Case &c : cases) {
    Graph g;
    Node *layer;
    if (c.gemm) {
      layer = addOp(g, "Gemm", {addInput(g, "x", {4, 12}), g.addConstant("w", randomTensor({12, 7}, 1, -1.f, 1.f))}, "y");
    } else {
      layer = addOp(g, "Conv", {addInput(g, "x", {2, 8, 5, 5}), g.addConstant("w", randomTensor({16, 8, 3, 3}, 1, -0.5f, 0.5f))},
                    "y");
      layer->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    }
    Value *y = layer->output(0);
    Node *out;
    if (std::string(c.gate) == "HardSwish") {
      out = addOp(g, "HardSwish", {y}, "out");
    } else {
      Node *gate = addOp(g, c.gate, {y}, "gate");
      if (c.alpha != 0.f) gate->setAttr("alpha", Attribute::ofFloat(c.alpha));
      out = addOp(g, "Mul", c.gateFirst ? std::vector<Value *>{gate->output(0), y} : std::vector<Value *>{y, gate->output(0)},
                  "out");
    }
    g.outputs().push_back(out->output(0));
    g.opset = 14;
    inferShapes(g);
    const Tensor in = c.gemm ? randomTensor({4, 12}, 2, -3.f, 3.f) : randomTensor({2, 8, 5, 5}, 2, -3.f, 3.f);
    INFO(c.gate << (c.gemm ? " after Gemm" : " after Conv") << " alpha " << c.alpha);
    auto run = [&](std::vector<std::string> taps) {
      ExecutorOptions opts;
      opts.profile = true;
      opts.taps = std::move(taps);
      Executor exec(g, opts);
      std::vector<Tensor> tapped;
      Tensor result = exec.run({in}, opts.taps.empty() ? nullptr : &tapped).at(0);
      return std::make_pair(result, exec.profileReport());
    };
    const auto [fused, steps] = run({});
    // Tapping the layer's output (or the gate's) keeps every node a step of its own.
    const auto [apart, apartSteps] = run({"y"});
    CHECK(mismatch(fused, apart, 1e-5f, 1e-5f) == "");
    CHECK((steps.find("Mul") == std::string::npos && steps.find(c.gate) == std::string::npos) == c.fused);
    CHECK_THAT(apartSteps, Catch::Contains(c.gate));
    if (std::string(c.gate) != "HardSwish") {
      const auto [gateTapped, gateSteps] = run({"gate"});
      CHECK(mismatch(gateTapped, apart, 1e-5f, 1e-5f) == "");
      CHECK_THAT(gateSteps, Catch::Contains("Mul"));
    }
  }
}

TEST_CASE("WidenHalfFloats runs a float16 file in float32: half weights, Casts and half inputs widen", "[passes]") {
  // The float32 model whose weights are the half ones widened: what the widened file computes.
  const Tensor w = castTensor(castTensor(randomTensor({4, 3, 3, 3}, 41), DType::Float16), DType::Float32);
  auto build = [&](bool half, bool halfInput) {
    auto g = std::make_unique<Graph>();
    Value *x = addInput(*g, "x", {2, 3, 6, 6});
    if (halfInput) x->setDType(DType::Float16);
    Value *in = x;
    if (half && !halfInput) {
      Node *c = addOp(*g, "Cast", {x}, "x_half");
      c->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float16)));
      in = c->output(0);
    }
    Node *conv = addOp(*g, "Conv", {in, g->addConstant("w", half ? castTensor(w, DType::Float16) : w)}, "conv");
    conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    Node *relu = addOp(*g, "Relu", {conv->output(0)}, "relu");
    Value *y = relu->output(0);
    if (half && !halfInput) {
      Node *c = addOp(*g, "Cast", {y}, "y");
      c->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float32)));
      y = c->output(0);
    }
    g->outputs().push_back(y);
    inferShapes(*g);
    return g;
  };
  const Tensor x = randomTensor({2, 3, 6, 6}, 42);
  const Tensor expected = runGraph(*build(false, false), {x})[0];
  for (bool halfInput : {false, true}) {
    INFO("half input " << halfInput);
    std::unique_ptr<Graph> g = build(true, halfInput);
    runPasses(*g, floatPreparePipeline());
    CHECK(g->widenedHalfFloats);
    CHECK(g->inputs()[0]->dtype() == DType::Float32);
    CHECK(g->outputs()[0]->dtype() == DType::Float32);
    CHECK(countOps(*g, "Cast") == 0);  // Casts to float of float are no-ops
    CHECK(runGraph(*g, {x})[0].toFloats() == expected.toFloats());
  }
  std::unique_ptr<Graph> plain = build(false, false);
  runPasses(*plain, floatPreparePipeline());
  CHECK_FALSE(plain->widenedHalfFloats);
  // A Cast to float16 alone keeps its rounding (the ONNX node tests'); in a network computing in
  // half, a half tensor made from another op's dtype attribute is refused, naming the node.
  Graph g;
  Value *x2 = addInput(g, "x", {3, 3});
  Node *toHalf = addOp(g, "Cast", {x2}, "half");
  toHalf->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float16)));
  g.outputs().push_back(toHalf->output(0));
  inferShapes(g);
  CHECK_FALSE(createPass("WidenHalfFloats")->run(g, {}));
  CHECK(g.outputs()[0]->dtype() == DType::Float16);
  Node *mm = addOp(g, "MatMul", {toHalf->output(0), g.addConstant("m", castTensor(randomTensor({3, 3}, 43), DType::Float16))}, "mm");
  Node *eye = addOp(g, "EyeLike", {x2}, "eye");
  eye->setAttr("dtype", Attribute::ofInt(static_cast<int64_t>(DType::Float16)));
  g.outputs().push_back(mm->output(0));
  g.outputs().push_back(eye->output(0));
  CHECK_THROWS_WITH(createPass("WidenHalfFloats")->run(g, {}), Catch::Contains("'eye_node'") && Catch::Contains("FLOAT16"));
}
