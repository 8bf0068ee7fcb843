// The float runner against naive loops over a seeded grid of shapes (ncnn/ggml style).
#include "TestUtil.h"
#include "kernels/QuantizeRef.h"
#include "ops/Evaluate.h"
#include "ops/ShapeInference.h"
#include "runtime/PlanBuilder.h"
#include "runtime/StepThreads.h"

#include <omp.h>

using namespace lowbit;
using namespace lowbit::test;

namespace {

constexpr float kConvAtol = 1e-4f, kConvRtol = 1e-4f;

struct ConvCase {
  int n, c, h, w, oc, k, stride, pad, dil, group;
};

Tensor naiveConv(const Tensor &x, const Tensor &w, const Tensor &b, const ConvCase &p, int oh, int ow) {
  Tensor y(DType::Float32, {p.n, p.oc, oh, ow});
  const float *xd = x.data<float>(), *wd = w.data<float>(), *bd = b.data<float>();
  float *yd = y.data<float>();
  const int icg = p.c / p.group, ocg = p.oc / p.group;
  for (int n = 0; n < p.n; ++n)
    for (int o = 0; o < p.oc; ++o)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          double acc = bd[o];
          const int g = o / ocg;
          for (int ci = 0; ci < icg; ++ci)
            for (int ki = 0; ki < p.k; ++ki)
              for (int kj = 0; kj < p.k; ++kj) {
                int yi = i * p.stride - p.pad + ki * p.dil, xj = j * p.stride - p.pad + kj * p.dil;
                if (yi < 0 || yi >= p.h || xj < 0 || xj >= p.w) continue;
                acc += static_cast<double>(xd[((n * p.c + g * icg + ci) * p.h + yi) * p.w + xj]) *
                       wd[((o * icg + ci) * p.k + ki) * p.k + kj];
              }
          yd[((n * p.oc + o) * oh + i) * ow + j] = static_cast<float>(acc);
        }
  return y;
}

// Max over k x k windows at stride \p s (no pads) of each N x C plane of \p x; no result is
// below \p floor (0 for a Relu before the pooling).
Tensor naiveMaxPool(const Tensor &x, int k, int s, float floor = -INFINITY) {
  const Dims &d = x.dims();
  const int64_t planes = d[0] * d[1], h = d[2], w = d[3], oh = (h - k) / s + 1, ow = (w - k) / s + 1;
  Tensor y(DType::Float32, {d[0], d[1], oh, ow});
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        float m = floor;
        for (int di = 0; di < k; ++di)
          for (int dj = 0; dj < k; ++dj) m = std::max(m, x.data<float>()[(p * h + s * i + di) * w + s * j + dj]);
        y.data<float>()[(p * oh + i) * ow + j] = m;
      }
  return y;
}

// An executor with or without fast convolutions that times its steps: the tests read which
// steps a plan has from its per-step profile.
std::unique_ptr<Executor> profiledExecutor(const Graph &g, bool fast) {
  ExecutorOptions opts;
  opts.fastConvolutions = fast;
  opts.profile = true;
  return std::make_unique<Executor>(g, opts);
}

}  // namespace

TEST_CASE("Conv matches a naive loop for strides, pads, dilations, groups and depthwise", "[runtime]") {
  const std::vector<ConvCase> cases = {
      {2, 3, 9, 7, 8, 3, 1, 1, 1, 1},   {1, 16, 8, 8, 32, 3, 2, 1, 1, 1},
      {2, 8, 10, 10, 8, 3, 1, 2, 2, 1}, {1, 8, 6, 6, 8, 3, 1, 1, 1, 8},  // depthwise
      {1, 8, 7, 5, 12, 1, 2, 0, 1, 4},  {3, 4, 5, 5, 6, 5, 1, 2, 1, 2}};
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const ConvCase &p = cases[ci];
    Graph g;
    Value *x = addInput(g, "x", {p.n, p.c, p.h, p.w});
    Value *w = g.addConstant("w", randomTensor({p.oc, p.c / p.group, p.k, p.k}, 10 + ci));
    Value *b = g.addConstant("b", randomTensor({p.oc}, 20 + ci));
    Node *conv = addOp(g, "Conv", {x, w, b}, "y");
    conv->setAttr("strides", Attribute::ofInts({p.stride, p.stride}));
    conv->setAttr("pads", Attribute::ofInts({p.pad, p.pad, p.pad, p.pad}));
    conv->setAttr("dilations", Attribute::ofInts({p.dil, p.dil}));
    conv->setAttr("group", Attribute::ofInt(p.group));
    g.outputs().push_back(conv->output(0));
    inferShapes(g);
    const Dims &yd = conv->output(0)->dims();
    Tensor in = randomTensor({p.n, p.c, p.h, p.w}, 30 + ci);
    Tensor want = naiveConv(in, *w->constant(), *b->constant(), p, static_cast<int>(yd[2]), static_cast<int>(yd[3]));
    INFO("conv n=" << p.n << " c=" << p.c << " h=" << p.h << " w=" << p.w << " oc=" << p.oc << " k=" << p.k
                   << " stride=" << p.stride << " pad=" << p.pad << " dil=" << p.dil << " group=" << p.group);
    CHECK(mismatch(runGraph(g, {in})[0], want, kConvAtol, kConvRtol) == "");
  }
}

TEST_CASE("3x3 stride-1 convolutions wide enough for Winograd, direct ones and a Concat around them, match naive loops",
          "[runtime]") {
  // 32 -> 32 channels at 40x40 (14.7M multiply-adds an image) qualify for Winograd (where oneDNN
  // has it: AVX-512); the stride-2 one after it is direct on whatever layout the first left.
  // Both plans against the loops.
  constexpr int kSide = 40, kArea = kSide * kSide;
  const ConvCase first{0, 32, kSide, kSide, 32, 3, 1, 1, 1, 1}, second{0, 32, kSide, kSide, 48, 3, 2, 1, 1, 1};
  for (int64_t batch : {1, 3}) {
    Graph g;
    Value *x = addInput(g, "x", {batch, 32, kSide, kSide});
    Value *w1 = g.addConstant("w1", randomTensor({32, 32, 3, 3}, 41)), *b1 = g.addConstant("b1", randomTensor({32}, 42));
    Value *w2 = g.addConstant("w2", randomTensor({48, 32, 3, 3}, 43)), *b2 = g.addConstant("b2", randomTensor({48}, 44));
    Node *c1 = addOp(g, "Conv", {x, w1, b1}, "h");
    c1->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    Node *c2 = addOp(g, "Conv", {c1->output(0), w2, b2}, "y");
    c2->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    c2->setAttr("strides", Attribute::ofInts({2, 2}));
    g.outputs().push_back(c2->output(0));
    inferShapes(g);
    Tensor in = randomTensor({batch, 32, kSide, kSide}, 45);
    ConvCase p1 = first, p2 = second;
    p1.n = p2.n = static_cast<int>(batch);
    Tensor h = naiveConv(in, *w1->constant(), *b1->constant(), p1, kSide, kSide);
    Tensor want = naiveConv(h, *w2->constant(), *b2->constant(), p2, kSide / 2, kSide / 2);
    // A Fire-style concatenation of a 1x1 convolution of h and a Winograd one: both sources
    // written in the blocked layout and concatenated as whole blocks.
    Value *w3 = g.addConstant("w3", randomTensor({16, 32, 1, 1}, 46)), *b3 = g.addConstant("b3", randomTensor({16}, 47));
    Value *w4 = g.addConstant("w4", randomTensor({32, 32, 3, 3}, 48)), *b4 = g.addConstant("b4", randomTensor({32}, 49));
    Node *c3 = addOp(g, "Conv", {c1->output(0), w3, b3}, "e1");
    Node *c4 = addOp(g, "Conv", {c1->output(0), w4, b4}, "e3");
    c4->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    Node *cat = addOp(g, "Concat", {c3->output(0), c4->output(0)}, "cat");
    cat->setAttr("axis", Attribute::ofInt(1));
    g.outputs().push_back(cat->output(0));
    inferShapes(g);
    const ConvCase p3{static_cast<int>(batch), 32, kSide, kSide, 16, 1, 1, 0, 1, 1}, p4{static_cast<int>(batch), 32, kSide, kSide, 32, 3, 1, 1, 1, 1};
    const Tensor e1 = naiveConv(h, *w3->constant(), *b3->constant(), p3, kSide, kSide);
    const Tensor e3 = naiveConv(h, *w4->constant(), *b4->constant(), p4, kSide, kSide);
    Tensor wantCat(DType::Float32, {batch, 48, kSide, kSide});
    for (int64_t i = 0; i < batch; ++i) {
      std::copy_n(e1.data<float>() + i * 16 * kArea, 16 * kArea, wantCat.data<float>() + i * 48 * kArea);
      std::copy_n(e3.data<float>() + i * 32 * kArea, 32 * kArea, wantCat.data<float>() + i * 48 * kArea + 16 * kArea);
    }
    for (bool winograd : {true, false}) {
      ExecutorOptions opts;
      opts.fastConvolutions = winograd;
      Executor exec(g, opts);
      INFO("batch " << batch << (winograd ? ", Winograd allowed" : ", direct only"));
      const std::vector<Tensor> got = exec.run({in});
      // Winograd's rounding is relative to the size of the terms summed, not of each sum (an
      // output near zero cancels): the tolerance scales with the largest output.
      for (auto [out, ref] : {std::pair{&got[0], &want}, std::pair{&got[1], &wantCat}}) {
        float largest = 0;
        for (float v : ref->toFloats()) largest = std::max(largest, std::abs(v));
        CHECK(mismatch(*out, *ref, 1e-5f * largest, kConvRtol) == "");
      }
    }
  }
}

TEST_CASE("a pointwise convolution and the 3x3 depthwise one reading it, in one pass or apart, match naive loops",
          "[runtime]") {
  // MobileNetV2's inverted residual: 1x1 expansion + ReLU6, 3x3 depthwise (stride 1, or 2 over
  // an odd side whose end pad oneDNN infers) + ReLU6, 1x1 projection; the depthwise layer with
  // and without a bias. With fast convolutions oneDNN computes the first two as one primitive
  // (a depthwise post-op) where it has the kernel and judges the fusion worth it: on AVX-512,
  // for an expanded tensor of 8 x 64 x 96 x 96 and not of 2 x 64 x 21 x 21 (both planned here).
  struct Case { int batch, side, stride; bool dwBias; };
  constexpr int kIn = 16, kWide = 64, kOut = 24;
  for (const Case c : {Case{8, 96, 1, true}, Case{2, 21, 2, false}, Case{2, 20, 1, false}, Case{2, 21, 2, true}}) {
    const int outSide = (c.side + 2 - 3) / c.stride + 1;
    Graph g;
    Value *x = addInput(g, "x", {c.batch, kIn, c.side, c.side});
    Value *w1 = g.addConstant("w1", randomTensor({kWide, kIn, 1, 1}, 81)), *b1 = g.addConstant("b1", randomTensor({kWide}, 82));
    Value *wd = g.addConstant("wd", randomTensor({kWide, 1, 3, 3}, 83)), *bd = g.addConstant("bd", randomTensor({kWide}, 84));
    Value *w3 = g.addConstant("w3", randomTensor({kOut, kWide, 1, 1}, 85)), *b3 = g.addConstant("b3", randomTensor({kOut}, 86));
    Value *lo = g.addConstant("lo", Tensor::scalar(0.f)), *hi = g.addConstant("hi", Tensor::scalar(0.5f));
    Node *c1 = addOp(g, "Conv", {x, w1, b1}, "e");
    Node *r1 = addOp(g, "Clip", {c1->output(0), lo, hi}, "er");
    std::vector<Value *> dwIn = {r1->output(0), wd};
    if (c.dwBias) dwIn.push_back(bd);
    Node *c2 = addOp(g, "Conv", dwIn, "d");
    c2->setAttr("group", Attribute::ofInt(kWide));
    c2->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    c2->setAttr("strides", Attribute::ofInts({c.stride, c.stride}));
    Node *r2 = addOp(g, "Clip", {c2->output(0), lo, hi}, "dr");
    Node *c3 = addOp(g, "Conv", {r2->output(0), w3, b3}, "y");
    g.outputs().push_back(c3->output(0));
    g.opset = 13;
    inferShapes(g);
    const Tensor in = randomTensor({c.batch, kIn, c.side, c.side}, 87);
    auto clip = [](Tensor t) {  // the Clips above: [0, 0.5]
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::clamp(t.data<float>()[i], 0.f, 0.5f);
      return t;
    };
    Tensor zeros(DType::Float32, {kWide});
    std::fill_n(zeros.data<float>(), kWide, 0.f);
    const Tensor e = clip(naiveConv(in, *w1->constant(), *b1->constant(), {c.batch, kIn, c.side, c.side, kWide, 1, 1, 0, 1, 1},
                                    c.side, c.side));
    const Tensor d = clip(naiveConv(e, *wd->constant(), c.dwBias ? *bd->constant() : zeros,
                                    {c.batch, kWide, c.side, c.side, kWide, 3, c.stride, 1, 1, kWide}, outSide, outSide));
    const Tensor want = naiveConv(d, *w3->constant(), *b3->constant(),
                                  {c.batch, kWide, outSide, outSide, kOut, 1, 1, 0, 1, 1}, outSide, outSide);
    for (bool fast : {true, false}) {
      std::unique_ptr<Executor> exec = profiledExecutor(g, fast);
      INFO("batch " << c.batch << ", side " << c.side << ", stride " << c.stride << (c.dwBias ? ", depthwise bias" : "")
                    << (fast ? ", fast" : ", direct"));
      CHECK(mismatch(exec->run({in})[0], want, kConvAtol, kConvRtol) == "");
      // Apart, the depthwise layer is a step of its own.
      if (!fast) CHECK(exec->profileReport(true).find("  d_node\n") != std::string::npos);
    }
  }
}

TEST_CASE("convolutions and max pooling reading a large channel Concat read its sources instead, and match naive loops",
          "[runtime]") {
  // SqueezeNet's Fire: two expansions concatenated (8 x 64 x 64 x 64 floats, 8 MiB), read by
  // a squeeze 1x1 convolution + Relu and by a 3x3 stride-2 max pooling whose result a 1x1
  // convolution reads. With fast convolutions the Concat is never built (SplitConcatReaders).
  constexpr int kBatch = 8, kSide = 64, kHalf = 32, kSqueeze = 16;
  Graph g;
  Value *x = addInput(g, "x", {kBatch, 8, kSide, kSide});
  Value *wa = g.addConstant("wa", randomTensor({kHalf, 8, 1, 1}, 91)), *ba = g.addConstant("ba", randomTensor({kHalf}, 92));
  Value *wb = g.addConstant("wb", randomTensor({kHalf, 8, 1, 1}, 93)), *bb = g.addConstant("bb", randomTensor({kHalf}, 94));
  Value *ws = g.addConstant("ws", randomTensor({kSqueeze, 2 * kHalf, 1, 1}, 95)), *bs = g.addConstant("bs", randomTensor({kSqueeze}, 96));
  Value *wp = g.addConstant("wp", randomTensor({kSqueeze, 2 * kHalf, 1, 1}, 97));
  Node *ea = addOp(g, "Conv", {x, wa, ba}, "ea");
  Node *eb = addOp(g, "Conv", {x, wb, bb}, "eb");
  Node *cat = addOp(g, "Concat", {ea->output(0), eb->output(0)}, "cat");
  cat->setAttr("axis", Attribute::ofInt(1));
  Node *sq = addOp(g, "Conv", {cat->output(0), ws, bs}, "sq");
  Node *relu = addOp(g, "Relu", {sq->output(0)}, "sqr");
  Node *pool = addOp(g, "MaxPool", {cat->output(0)}, "pool");
  pool->setAttr("kernel_shape", Attribute::ofInts({3, 3}));
  pool->setAttr("strides", Attribute::ofInts({2, 2}));
  Node *pc = addOp(g, "Conv", {pool->output(0), wp}, "pc");
  Node *pcRelu = addOp(g, "Relu", {pc->output(0)}, "pcr");  // a graph output's producer keeps its node
  g.outputs() = {relu->output(0), pcRelu->output(0)};
  inferShapes(g);
  const Tensor in = randomTensor({kBatch, 8, kSide, kSide}, 98);
  Tensor zeros(DType::Float32, {kSqueeze});
  std::fill_n(zeros.data<float>(), kSqueeze, 0.f);
  const ConvCase expand{kBatch, 8, kSide, kSide, kHalf, 1, 1, 0, 1, 1};
  const Tensor a = naiveConv(in, *wa->constant(), *ba->constant(), expand, kSide, kSide);
  const Tensor b = naiveConv(in, *wb->constant(), *bb->constant(), expand, kSide, kSide);
  const Tensor both = evaluate(*cat, {&a, &b}, g.opset).at(0);
  Tensor squeezed = naiveConv(both, *ws->constant(), *bs->constant(), {kBatch, 2 * kHalf, kSide, kSide, kSqueeze, 1, 1, 0, 1, 1}, kSide, kSide);
  for (int64_t i = 0; i < squeezed.numel(); ++i) squeezed.data<float>()[i] = std::max(squeezed.data<float>()[i], 0.f);
  const Tensor pooled = naiveMaxPool(both, 3, 2);
  const int ps = static_cast<int>(pooled.dims()[2]);
  Tensor projected = naiveConv(pooled, *wp->constant(), zeros, {kBatch, 2 * kHalf, ps, ps, kSqueeze, 1, 1, 0, 1, 1}, ps, ps);
  for (int64_t i = 0; i < projected.numel(); ++i) projected.data<float>()[i] = std::max(projected.data<float>()[i], 0.f);
  for (bool fast : {true, false}) {
    std::unique_ptr<Executor> exec = profiledExecutor(g, fast);
    INFO((fast ? "fast" : "direct"));
    const std::vector<Tensor> got = exec->run({in});
    CHECK(mismatch(got[0], squeezed, kConvAtol, kConvRtol) == "");
    CHECK(mismatch(got[1], projected, kConvAtol, kConvRtol) == "");
    CHECK((exec->profileReport(true).find("Concat") == std::string::npos) == fast);
  }
}

TEST_CASE("opening layers of megabyte tensors run image by image on each image's slice, and match naive loops",
          "[runtime]") {
  // A 3 -> 64 3x3 stem (27 multiply-adds an output element, 1 MiB an image) + Relu, a 2x2 max
  // pooling and a 1x1 projection: with fast convolutions the stem and the pooling run as one
  // group of one-image steps, once per image, and the projection on the batch they leave.
  constexpr int kBatch = 3, kSide = 64, kWide = 64, kOut = 8, kHalf = kSide / 2;
  Graph g;
  Value *x = addInput(g, "x", {kBatch, 3, kSide, kSide});
  Value *w1 = g.addConstant("w1", randomTensor({kWide, 3, 3, 3}, 101)), *b1 = g.addConstant("b1", randomTensor({kWide}, 102));
  Value *w2 = g.addConstant("w2", randomTensor({kOut, kWide, 1, 1}, 103)), *b2 = g.addConstant("b2", randomTensor({kOut}, 104));
  Node *stem = addOp(g, "Conv", {x, w1, b1}, "s");
  stem->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *relu = addOp(g, "Relu", {stem->output(0)}, "sr");
  Node *pool = addOp(g, "MaxPool", {relu->output(0)}, "p");
  pool->setAttr("kernel_shape", Attribute::ofInts({2, 2}));
  pool->setAttr("strides", Attribute::ofInts({2, 2}));
  Node *proj = addOp(g, "Conv", {pool->output(0), w2, b2}, "y");
  g.outputs() = {proj->output(0)};
  inferShapes(g);
  const Tensor in = randomTensor({kBatch, 3, kSide, kSide}, 105);
  const Tensor s = naiveConv(in, *w1->constant(), *b1->constant(), {kBatch, 3, kSide, kSide, kWide, 3, 1, 1, 1, 1}, kSide, kSide);
  const Tensor pooled = naiveMaxPool(s, 2, 2, 0.f);  // the Relu before it: no result below 0
  const Tensor want = naiveConv(pooled, *w2->constant(), *b2->constant(), {kBatch, kWide, kHalf, kHalf, kOut, 1, 1, 0, 1, 1}, kHalf, kHalf);
  for (bool fast : {true, false}) {
    std::unique_ptr<Executor> exec = profiledExecutor(g, fast);
    INFO((fast ? "fast" : "direct"));
    CHECK(mismatch(exec->run({in})[0], want, kConvAtol, kConvRtol) == "");
    const std::string steps = exec->profileReport(true);
    CHECK((steps.find("Conv  s_node (image by image") != std::string::npos) == fast);
    CHECK((steps.find("MaxPool  p_node (image by image") != std::string::npos) == fast);
    CHECK(steps.find("y_node (image by image") == std::string::npos);
  }
}

TEST_CASE("an op that mixes the images of a batch ends the image-by-image opening before it", "[runtime]") {
  // A softmax across the batch (axis 0) between a megabyte stem and a projection: the stem goes
  // image by image, the softmax sees the whole batch.
  constexpr int kBatch = 3, kSide = 64, kWide = 64;
  Graph g;
  Value *x = addInput(g, "x", {kBatch, 3, kSide, kSide});
  Value *w = g.addConstant("w", randomTensor({kWide, 3, 3, 3}, 111)), *b = g.addConstant("b", randomTensor({kWide}, 112));
  Node *stem = addOp(g, "Conv", {x, w, b}, "s");
  stem->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *relu = addOp(g, "Relu", {stem->output(0)}, "sr");
  Node *soft = addOp(g, "Softmax", {relu->output(0)}, "sm");
  soft->setAttr("axis", Attribute::ofInt(0));
  Value *w2 = g.addConstant("w2", randomTensor({8, kWide, 1, 1}, 114)), *b2 = g.addConstant("b2", randomTensor({8}, 115));
  Node *proj = addOp(g, "Conv", {soft->output(0), w2, b2}, "y");
  g.outputs() = {proj->output(0)};
  g.opset = 13;
  inferShapes(g);
  const Tensor in = randomTensor({kBatch, 3, kSide, kSide}, 113);
  Tensor r = naiveConv(in, *w->constant(), *b->constant(), {kBatch, 3, kSide, kSide, kWide, 3, 1, 1, 1, 1}, kSide, kSide);
  for (int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] = std::max(r.data<float>()[i], 0.f);
  Tensor sm(DType::Float32, r.dims());  // softmax over the batch at each element of an image
  const int64_t per = r.numel() / kBatch;
  for (int64_t e = 0; e < per; ++e) {
    float top = -INFINITY, sum = 0.f;
    for (int n = 0; n < kBatch; ++n) top = std::max(top, r.data<float>()[n * per + e]);
    for (int n = 0; n < kBatch; ++n) sum += std::exp(r.data<float>()[n * per + e] - top);
    for (int n = 0; n < kBatch; ++n) sm.data<float>()[n * per + e] = std::exp(r.data<float>()[n * per + e] - top) / sum;
  }
  const Tensor want = naiveConv(sm, *w2->constant(), *b2->constant(), {kBatch, kWide, kSide, kSide, 8, 1, 1, 0, 1, 1}, kSide, kSide);
  std::unique_ptr<Executor> exec = profiledExecutor(g, true);
  CHECK(mismatch(exec->run({in})[0], want, kConvAtol, kConvRtol) == "");
  const std::string steps = exec->profileReport(true);
  CHECK(steps.find("s_node (image by image") != std::string::npos);
  CHECK(steps.find("sm_node (image by image") == std::string::npos);
}

TEST_CASE("binary ops on grouped convolutions' blocked outputs (8-channel blocks) broadcast and add right", "[runtime]") {
  // RegNetY's squeeze-excite: grouped convolutions of 8-channel groups, whose outputs oneDNN
  // blocks by 8, times a per-channel gate, plus another such output.
  const ConvCase p{2, 48, 5, 5, 48, 1, 1, 0, 1, 6};
  Graph g;
  Value *x = addInput(g, "x", {p.n, p.c, p.h, p.w});
  std::vector<Value *> convs;
  for (int i = 0; i < 2; ++i) {
    Value *w = g.addConstant("w" + std::to_string(i), randomTensor({p.oc, p.c / p.group, 1, 1}, 40 + i));
    Value *b = g.addConstant("b" + std::to_string(i), randomTensor({p.oc}, 50 + i));
    Node *conv = addOp(g, "Conv", {x, w, b}, "y" + std::to_string(i));
    conv->setAttr("group", Attribute::ofInt(p.group));
    convs.push_back(conv->output(0));
  }
  Value *gate = g.addConstant("gate", randomTensor({1, p.oc, 1, 1}, 60));
  Node *mul = addOp(g, "Mul", {convs[0], gate}, "m");
  Node *add = addOp(g, "Add", {mul->output(0), convs[1]}, "out");
  g.outputs().push_back(add->output(0));
  inferShapes(g);
  Tensor in = randomTensor({p.n, p.c, p.h, p.w}, 70);
  Tensor y0 = naiveConv(in, *g.findValue("w0")->constant(), *g.findValue("b0")->constant(), p, p.h, p.w);
  Tensor y1 = naiveConv(in, *g.findValue("w1")->constant(), *g.findValue("b1")->constant(), p, p.h, p.w);
  Tensor want = y1;
  const float *gd = gate->constant()->data<float>();
  for (int64_t i = 0; i < want.numel(); ++i)
    want.data<float>()[i] += y0.data<float>()[i] * gd[(i / (p.h * p.w)) % p.oc];
  CHECK(mismatch(runGraph(g, {in})[0], want, kConvAtol, kConvRtol) == "");
}

TEST_CASE("a mean or max over the spatial axes runs as global pooling on a convolution's output in its layout", "[runtime]") {
  // x.mean([2, 3]) closing a ShuffleNet, read in the layout the Conv wrote.
  const ConvCase p{3, 8, 5, 6, 32, 1, 1, 0, 1, 1};
  for (const char *op : {"ReduceMean", "ReduceMax"})
    for (int64_t keep : {0, 1}) {
      Graph g;
      Value *w = g.addConstant("w", randomTensor({p.oc, p.c, 1, 1}, 3));
      Value *b = g.addConstant("b", randomTensor({p.oc}, 4));
      Node *conv = addOp(g, "Conv", {addInput(g, "x", {p.n, p.c, p.h, p.w}), w, b}, "y");
      Node *r = addOp(g, op, {conv->output(0)}, "r");
      r->setAttr("axes", Attribute::ofInts({-1, 2}));
      r->setAttr("keepdims", Attribute::ofInt(keep));
      g.outputs() = {r->output(0)};
      g.opset = 11;
      inferShapes(g);
      const Tensor in = randomTensor({p.n, p.c, p.h, p.w}, 5);
      const Tensor y = naiveConv(in, *w->constant(), *b->constant(), p, p.h, p.w);
      const Tensor want = evaluate(*r, {&y}, g.opset).at(0);
      CHECK(want.dims() == (keep ? Dims{p.n, p.oc, 1, 1} : Dims{p.n, p.oc}));
      INFO(op << " keepdims " << keep);
      CHECK(mismatch(runGraph(g, {in}).at(0), want, kConvAtol, kConvRtol) == "");
    }
  // 1-D and 3-D spatial axes, read from the plain input.
  for (const Dims &dims : {Dims{2, 3, 7}, Dims{2, 3, 2, 3, 4}})
    for (const char *op : {"ReduceMean", "ReduceMax"}) {
      Graph g;
      Node *r = addOp(g, op, {addInput(g, "x", dims)}, "r");
      std::vector<int64_t> axes;
      for (size_t a = 2; a < dims.size(); ++a) axes.push_back(static_cast<int64_t>(a));
      r->setAttr("axes", Attribute::ofInts(axes));
      r->setAttr("keepdims", Attribute::ofInt(0));
      g.outputs() = {r->output(0)};
      g.opset = 11;
      inferShapes(g);
      const Tensor in = randomTensor(dims, 6);
      INFO(op << " rank " << dims.size());
      CHECK(mismatch(runGraph(g, {in}).at(0), evaluate(*r, {&in}, g.opset).at(0), 1e-6f, 1e-6f) == "");
    }
}

TEST_CASE("Gemm with transB and a bias vector matches a naive loop", "[runtime]") {
  Graph g;
  Value *a = addInput(g, "a", {5, 7});
  Value *w = g.addConstant("w", randomTensor({3, 7}, 1));
  Value *c = g.addConstant("c", randomTensor({3}, 2));
  Node *gemm = addOp(g, "Gemm", {a, w, c}, "y");
  gemm->setAttr("transB", Attribute::ofInt(1));
  gemm->setAttr("alpha", Attribute::ofFloat(0.5f));
  gemm->setAttr("beta", Attribute::ofFloat(2.f));
  g.outputs().push_back(gemm->output(0));
  inferShapes(g);
  Tensor x = randomTensor({5, 7}, 3);
  Tensor want(DType::Float32, {5, 3});
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) {
      double acc = 0;
      for (int k = 0; k < 7; ++k) acc += x.data<float>()[i * 7 + k] * w->constant()->data<float>()[j * 7 + k];
      want.data<float>()[i * 3 + j] = static_cast<float>(0.5 * acc + 2.0 * c->constant()->data<float>()[j]);
    }
  CHECK(mismatch(runGraph(g, {x})[0], want, 1e-5f, 1e-5f) == "");
}

TEST_CASE("one executor runs several batch sizes of a dynamic-batch graph", "[runtime]") {
  Graph g;
  Value *x = addInput(g, "x", {-1, 2, 4, 4});
  Node *pool = addOp(g, "GlobalAveragePool", {x}, "p");
  Node *flat = addOp(g, "Flatten", {pool->output(0)}, "y");
  g.outputs().push_back(flat->output(0));
  inferShapes(g);
  Executor exec(g);
  for (int64_t n : {1, 3, 1}) {
    Tensor in = randomTensor({n, 2, 4, 4}, static_cast<uint32_t>(n));
    Tensor out = exec.run({in})[0];
    REQUIRE(out.dims() == Dims{n, 2});
    const float *d = in.data<float>();
    for (int64_t i = 0; i < n * 2; ++i) {
      double s = 0;
      for (int k = 0; k < 16; ++k) s += d[i * 16 + k];
      CHECK(out.data<float>()[i] == Approx(s / 16).margin(1e-6));
    }
  }
}

namespace {

// x [n, 16, 8, 8] -> 3x3 Conv to 16 channels -> Concat with x: the conv does 147,456
// multiply-adds per image, the Concat moves 16 KB in and 16 KB out per image.
void buildConvConcat(Graph &g) {
  Value *x = addInput(g, "x", {-1, 16, 8, 8});
  Value *w = g.addConstant("w", randomTensor({16, 16, 3, 3}, 7));
  Node *conv = addOp(g, "Conv", {x, w}, "c");
  conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  Node *cat = addOp(g, "Concat", {conv->output(0), x}, "y");
  cat->setAttr("axis", Attribute::ofInt(1));
  g.outputs().push_back(cat->output(0));
}

}  // namespace

TEST_CASE("a step gets one thread per 12 us of estimated single-core work, within the caller's count", "[runtime]") {
  for (int64_t n : {1, 64}) {
    Graph g;
    buildConvConcat(g);
    g.inputs()[0]->setShape({n, 16, 8, 8});
    inferShapes(g);
    const Node &conv = *g.nodes()[0], &cat = *g.nodes()[1];
    // Conv: 147,456 n MACs at 40 per us, 4 KB n read and written at 20 KB per us.
    const double convUs = 147456.0 * n / 40e3 + 8192.0 * n / 20e3;
    CHECK(singleCoreMicros(conv) == Approx(convUs));
    CHECK(singleCoreMicros(cat) == Approx(16384.0 * n / 20e3));
    CHECK(stepThreads(conv, 1) == 1);
    CHECK(stepThreads(conv, 64) == std::max(1, static_cast<int>(convUs / 12)));
    CHECK(stepThreads(cat, 64) == std::max(1, static_cast<int>(16384.0 * n / 20e3 / 12)));
  }
}

TEST_CASE("plans are built per thread count: small steps on one thread, results alike, the caller's count kept",
          "[runtime]") {
  Graph g;
  buildConvConcat(g);
  inferShapes(g);
  ExecutorOptions opts;
  opts.profile = true;
  Executor exec(g, opts);
  const int before = omp_get_max_threads();
  const Tensor small = randomTensor({1, 16, 8, 8}, 3), large = randomTensor({64, 16, 8, 8}, 4);
  omp_set_num_threads(1);
  const Tensor large1 = exec.run({large})[0];
  CHECK(exec.profileReport(true).find(" 2T ") == std::string::npos);
  omp_set_num_threads(2);
  const Tensor large2 = exec.run({large})[0];
  CHECK(omp_get_max_threads() == 2);
  // The 64-image Conv (about 250 us on one core) runs on 2 threads; rebuilt, not the 1-thread plan.
  CHECK(exec.profileReport(true).find(" 2T  Conv") != std::string::npos);
  CHECK(mismatch(large2, large1, 1e-5f, 1e-5f).empty());
  exec.run({small});
  CHECK(exec.profileReport(true).find(" 2T ") == std::string::npos);  // every 1-image step is small
  omp_set_num_threads(before);
}

TEST_CASE("a wrongly shaped input is refused with both shapes", "[runtime]") {
  Graph g;
  Value *x = addInput(g, "x", {-1, 3, 8, 8});
  Node *r = addOp(g, "Relu", {x}, "y");
  g.outputs().push_back(r->output(0));
  Executor exec(g);
  CHECK_THROWS_WITH(exec.run({randomTensor({1, 1, 8, 8}, 1)}),
                    Catch::Contains("[?,3,8,8]") && Catch::Contains("[1,1,8,8]"));
}

TEST_CASE("dense layouts: storage order of plain and channels-last descriptors, none for blocked ones", "[runtime]") {
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  const Dims d = {2, 16, 5, 7};
  CHECK(denseDimOrder(dnnl::memory::desc(d, dt::f32, tag::nchw)) == std::vector<size_t>{0, 1, 2, 3});
  CHECK(denseDimOrder(dnnl::memory::desc(d, dt::u8, tag::nhwc)) == std::vector<size_t>{0, 2, 3, 1});
  CHECK_FALSE(denseDimOrder(dnnl::memory::desc(d, dt::f32, tag::nChw8c)).has_value());
  // orderedDesc builds the layout denseDimOrder reads back; nhwc's strides are C*H*W's permutation.
  const dnnl::memory::desc nhwc = orderedDesc(d, dt::u8, {0, 2, 3, 1});
  CHECK(nhwc == dnnl::memory::desc(d, dt::u8, tag::nhwc));
  CHECK(stridesOf(nhwc) == std::vector<int64_t>{16 * 5 * 7, 1, 7 * 16, 16});
  // A size-1 dim may carry any stride without breaking density.
  const Dims one = {1, 16, 5, 7};
  CHECK(denseDimOrder(dnnl::memory::desc(one, dt::u8, tag::nhwc)).has_value());
}

TEST_CASE("codes read by several DequantizeLinears (a QOperator file expanded) give each the fake-quantized values",
          "[runtime]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 3, 4, 4});
  Value *s = g.addConstant("s", Tensor::scalar<float>(0.1f)), *z = g.addConstant("z", Tensor::scalar<uint8_t>(7));
  Node *q = addOp(g, "QuantizeLinear", {x, s, z}, "q");
  Node *a = addOp(g, "DequantizeLinear", {q->output(0), s, z}, "a");
  Node *b = addOp(g, "DequantizeLinear", {q->output(0), s, z}, "b");
  Node *conv = addOp(g, "Conv", {a->output(0), g.addConstant("w", randomTensor({3, 3, 1, 1}, 2))}, "c");
  Node *sum = addOp(g, "Add", {conv->output(0), b->output(0)}, "sum");  // may run as the Conv's in-place sum
  Node *twice = addOp(g, "Add", {sum->output(0), b->output(0)}, "y");   // b read again after it
  g.outputs().push_back(twice->output(0));
  inferShapes(g);
  const Tensor in = randomTensor({2, 3, 4, 4}, 1);
  // The reference: the same graph with the fake-quantized input given directly.
  Tensor fq(DType::Float32, in.dims());
  const QuantRange r = quantRange(8, false, false);
  for (int64_t i = 0; i < in.numel(); ++i)
    fq.data<float>()[i] = dequantizeValue(quantizeValue(in.data<float>()[i], 0.1f, 7, r), 0.1f, 7);
  Graph ref;
  Value *f = addInput(ref, "f", {2, 3, 4, 4});
  Node *rc = addOp(ref, "Conv", {f, ref.addConstant("w", randomTensor({3, 3, 1, 1}, 2))}, "c");
  Node *rs = addOp(ref, "Add", {rc->output(0), f}, "sum");
  ref.outputs().push_back(addOp(ref, "Add", {rs->output(0), f}, "y")->output(0));
  inferShapes(ref);
  CHECK(mismatch(runGraph(g, {in})[0], runGraph(ref, {fq})[0], 1e-5f, 1e-5f).empty());
}

TEST_CASE("a channel shuffle after a Concat is written straight from the sources, group by group", "[runtime]") {
  struct ShuffleCase {
    std::vector<int64_t> channels;  // per source
    int64_t groups;
  };
  // Sources within one group each, runs of a source in several groups (plain or blocked), one
  // source.
  const std::vector<ShuffleCase> cases = {{{4, 4}, 2}, {{3, 3}, 2}, {{2, 2, 2}, 3}, {{4, 2, 2}, 2},
                                          {{3, 5}, 2}, {{5, 3}, 2}, {{8}, 4}, {{2, 7}, 3}};
  const int64_t n = 2, h = 3, w = 5;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const ShuffleCase &p = cases[ci];
    Graph g;
    std::vector<Value *> srcs;
    std::vector<Tensor> ins;
    int64_t c = 0;
    for (size_t i = 0; i < p.channels.size(); ++i) {
      // Every other source through a 1x1 Conv, so blocked and plain sources meet.
      const std::string name = cat("x", i);
      Value *x = addInput(g, name, {n, p.channels[i], h, w});
      ins.push_back(randomTensor({n, p.channels[i], h, w}, static_cast<uint32_t>(40 + 3 * ci + i)));
      if (i % 2 == 0) {
        Value *k = g.addConstant(name + "w", randomTensor({p.channels[i], p.channels[i], 1, 1}, static_cast<uint32_t>(90 + i)));
        x = addOp(g, "Conv", {x, k}, name + "c")->output(0);
      }
      srcs.push_back(x);
      c += p.channels[i];
    }
    addOp(g, "Concat", srcs, "cat")->setAttr("axis", Attribute::ofInt(1));
    auto shape = [&](std::vector<int64_t> v, const char *name) {
      return g.addConstant(name, Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
    };
    addOp(g, "Reshape", {g.findValue("cat"), shape({n, p.groups, c / p.groups, h, w}, "s5")}, "split");
    addOp(g, "Transpose", {g.findValue("split")}, "swap")->setAttr("perm", Attribute::ofInts({0, 2, 1, 3, 4}));
    Node *merge = addOp(g, "Reshape", {g.findValue("swap"), shape({n, c, h, w}, "s4")}, "y");
    g.outputs().push_back(merge->output(0));
    inferShapes(g);
    // The reference: the sources as the graph computes them, shuffled by index.
    std::unique_ptr<Graph> sources = g.clone();
    sources->outputs().clear();
    for (const Value *s : srcs) sources->outputs().push_back(sources->findValue(s->name()));
    const std::vector<Tensor> parts = runGraph(*sources, ins);
    Tensor want(DType::Float32, {n, c, h, w});
    const int64_t perGroup = c / p.groups, plane = h * w;
    int64_t at = 0;
    for (const Tensor &t : parts) {
      const int64_t tc = t.dims()[1];
      for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < tc; ++k) {
          const int64_t cc = at + k, to = (cc % perGroup) * p.groups + cc / perGroup;
          std::copy_n(t.data<float>() + (b * tc + k) * plane, plane, want.data<float>() + (b * c + to) * plane);
        }
      at += tc;
    }
    ExecutorOptions opts;
    opts.profile = true;
    Executor exec(g, opts);
    INFO("case " << ci);
    CHECK(mismatch(exec.run(ins).at(0), want, 0.f, 0.f) == "");
    CHECK(exec.profileReport().find("Transpose") == std::string::npos);

    // Read only in channel ranges (the Slices or Split opening the next unit): each range is
    // written straight into its reader's output, halves, odd starts and overlaps alike.
    g.outputs().clear();
    std::vector<std::pair<int64_t, int64_t>> ranges = {{0, c / 2}, {c / 2, c}, {1, c}, {c - 1, c}};
    for (size_t r = 0; r < ranges.size(); ++r) {
      const std::string tag = cat("r", r);
      Node *slice = addOp(g, "Slice", {g.findValue("y"), shape({ranges[r].first}, (tag + "b").c_str()),
                                       shape({ranges[r].second}, (tag + "e").c_str()), shape({1}, (tag + "a").c_str())},
                          tag);
      g.outputs().push_back(slice->output(0));
    }
    Node *split = g.addNode("split_node", "Split", {g.findValue("y"), shape({c - 2, 2}, "sizes")},
                            {g.addValue("part0"), g.addValue("part1")});
    split->setAttr("axis", Attribute::ofInt(1));
    g.outputs().push_back(split->output(0));
    g.outputs().push_back(split->output(1));
    ranges.push_back({0, c - 2});
    ranges.push_back({c - 2, c});
    inferShapes(g);
    Executor readers(g, opts);
    const std::vector<Tensor> got = readers.run(ins);
    REQUIRE(got.size() == ranges.size());
    for (size_t r = 0; r < ranges.size(); ++r) {
      const auto [b0, e0] = ranges[r];
      Tensor part(DType::Float32, {n, e0 - b0, h, w});
      for (int64_t b = 0; b < n; ++b)
        std::copy_n(want.data<float>() + (b * c + b0) * plane, (e0 - b0) * plane,
                    part.data<float>() + b * (e0 - b0) * plane);
      INFO("range " << b0 << ".." << e0);
      CHECK(mismatch(got[r], part, 0.f, 0.f) == "");
    }
    const std::string steps = readers.profileReport(true);
    CHECK(steps.find("Slice") == std::string::npos);
    CHECK(steps.find("Split") == std::string::npos);
  }
}

TEST_CASE("a mask computed at run time flows between nodes the evaluator runs, and other readers are refused", "[runtime]") {
  // LeakyRelu written out: Where(Greater(x, 0), x, 0.1 x).
  Graph g;
  Value *x = addInput(g, "x", {2, 3, 4});
  Value *zero = g.addConstant("zero", Tensor::scalar<float>(0.f));
  Value *slope = g.addConstant("slope", Tensor::scalar<float>(0.1f));
  Value *mask = addOp(g, "Greater", {x, zero}, "mask")->output(0);
  Value *scaled = addOp(g, "Mul", {x, slope}, "scaled")->output(0);
  Value *y = addOp(g, "Where", {mask, x, scaled}, "y")->output(0);
  Value *count = addOp(g, "ArgMax", {y}, "argmax")->output(0);
  g.outputs() = {y, count};
  inferShapes(g);
  const Tensor in = randomTensor({2, 3, 4}, 5);
  const std::vector<Tensor> outs = runGraph(g, {in});
  const std::vector<float> xs = in.toFloats(), ys = outs[0].toFloats();
  for (size_t i = 0; i < xs.size(); ++i) CHECK(ys[i] == (xs[i] > 0.f ? xs[i] : xs[i] * 0.1f));
  CHECK(outs[1].dtype() == DType::Int64);
  CHECK(outs[1].dims() == Dims{1, 3, 4});

  // A Cast of the mask to float is a oneDNN-side reader (an alias of float data): refused.
  Graph h;
  Value *hx = addInput(h, "x", {4});
  Value *hm = addOp(h, "Less", {hx, h.addConstant("zero", Tensor::scalar<float>(0.f))}, "mask")->output(0);
  Node *cast = addOp(h, "Cast", {hm}, "as_float");
  cast->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float32)));
  h.outputs() = {cast->output(0)};
  inferShapes(h);
  CHECK_THROWS_WITH(runGraph(h, {randomTensor({4}, 1)}), Catch::Contains("BOOL") && Catch::Contains("as_float"));
}

TEST_CASE("ConvTranspose matches a scatter loop for groups, strides, dilations, pads, output_padding and output_shape",
          "[runtime]") {
  struct Case {
    int64_t c, oc, group, k, stride, dil, pad, outPad;
    Dims outputShape;  // spatial; empty: from pads
  };
  const std::vector<Case> cases = {{4, 6, 2, 3, 2, 1, 1, 1, {}},      // grouped, output_padding (direct)
                                   {3, 2, 1, 3, 2, 2, 0, 0, {}},      // dilated
                                   {4, 4, 4, 4, 2, 1, 1, 0, {}},      // depthwise k4 s2 p1 (upsampling)
                                   {2, 3, 1, 3, 3, 1, 0, 0, {11, 9}}};  // output_shape beyond the full result
  const int64_t h = 4, wdt = 3;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case &p = cases[ci];
    Graph g;
    Value *x = addInput(g, "x", {2, p.c, h, wdt});
    const Tensor wt = randomTensor({p.c, p.oc / p.group, p.k, p.k}, 40 + static_cast<uint32_t>(ci));
    const Tensor bt = randomTensor({p.oc}, 50 + static_cast<uint32_t>(ci));
    Node *n = addOp(g, "ConvTranspose", {x, g.addConstant("w", wt), g.addConstant("b", bt)}, "y");
    n->setAttr("strides", Attribute::ofInts({p.stride, p.stride}));
    n->setAttr("dilations", Attribute::ofInts({p.dil, p.dil}));
    n->setAttr("group", Attribute::ofInt(p.group));
    if (p.outputShape.empty()) {
      n->setAttr("pads", Attribute::ofInts({p.pad, p.pad, p.pad, p.pad}));
      n->setAttr("output_padding", Attribute::ofInts({p.outPad, p.outPad}));
    } else {
      n->setAttr("output_shape", Attribute::ofInts(p.outputShape));
    }
    g.outputs() = {n->output(0)};
    inferShapes(g);
    const Dims yd = n->output(0)->dims();
    // Scatter: input (ci, y, x) adds w[ci, o, ky, kx] at full position (y s + ky d, x s + kx d),
    // which lands at output position minus the begin pad (floor halves of a negative total).
    int64_t beginH = p.pad, beginW = p.pad;
    if (!p.outputShape.empty()) {
      auto begin = [&](int64_t in, int64_t out) {
        const int64_t total = p.stride * (in - 1) + (p.k - 1) * p.dil + 1 - out;
        const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
        return total - half;
      };
      beginH = begin(h, p.outputShape[0]);
      beginW = begin(wdt, p.outputShape[1]);
    }
    const Tensor in = randomTensor({2, p.c, h, wdt}, 60 + static_cast<uint32_t>(ci));
    std::vector<float> want(static_cast<size_t>(numElements(yd)));
    const int64_t icg = p.c / p.group, ocg = p.oc / p.group;
    const float *xi = in.data<float>(), *wi = wt.data<float>(), *bi = bt.data<float>();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t o = 0; o < p.oc; ++o)
        for (int64_t i = 0; i < yd[2] * yd[3]; ++i) want[static_cast<size_t>((b * p.oc + o) * yd[2] * yd[3] + i)] = bi[o];
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < p.c; ++c)
        for (int64_t o = 0; o < ocg; ++o)
          for (int64_t y = 0; y < h; ++y)
            for (int64_t xx = 0; xx < wdt; ++xx)
              for (int64_t ky = 0; ky < p.k; ++ky)
                for (int64_t kx = 0; kx < p.k; ++kx) {
                  const int64_t oy = y * p.stride + ky * p.dil - beginH, ox = xx * p.stride + kx * p.dil - beginW;
                  if (oy < 0 || oy >= yd[2] || ox < 0 || ox >= yd[3]) continue;
                  const int64_t oc = (c / icg) * ocg + o;
                  want[static_cast<size_t>(((b * p.oc + oc) * yd[2] + oy) * yd[3] + ox)] +=
                      xi[((b * p.c + c) * h + y) * wdt + xx] * wi[((c * ocg + o) * p.k + ky) * p.k + kx];
                }
    INFO("case " << ci << ", output " << shapeString(yd));
    CHECK(mismatch(runGraph(g, {in})[0], Tensor::fromVector<float>(yd, want), kConvAtol, kConvRtol) == "");
  }
}

TEST_CASE("Gather with indices computed at run time (an ArgMax) runs on the evaluator, checking their range", "[runtime]") {
  // Per row of x [4, 5]: the row's largest element, gathered back by its index.
  Graph g;
  Value *x = addInput(g, "x", {4, 5});
  Node *arg = addOp(g, "ArgMax", {x}, "arg");
  arg->setAttr("axis", Attribute::ofInt(1));
  arg->setAttr("keepdims", Attribute::ofInt(1));
  Node *picked = addOp(g, "GatherElements", {x, arg->output(0)}, "picked");
  picked->setAttr("axis", Attribute::ofInt(1));
  Node *flat = addOp(g, "ArgMax", {x}, "flat_arg");
  flat->setAttr("axis", Attribute::ofInt(1));
  flat->setAttr("keepdims", Attribute::ofInt(0));
  Node *rows = addOp(g, "Gather", {x, flat->output(0)}, "rows");  // the rows of x each row's argmax names
  rows->setAttr("axis", Attribute::ofInt(0));
  g.outputs() = {picked->output(0), rows->output(0)};
  inferShapes(g);
  const Tensor in = Tensor::fromVector<float>({4, 5}, {0, 3, 1, 2, 0,  // argmax 1
                                                       9, 0, 0, 0, 0,  // 0
                                                       0, 0, 0, 7, 0,  // 3
                                                       0, 0, 5, 0, 0}); // 2
  const std::vector<Tensor> outs = runGraph(g, {in});
  CHECK(outs[0].toFloats() == std::vector<float>{3, 9, 7, 5});
  CHECK(outs[1].toFloats() == std::vector<float>{9, 0, 0, 0, 0, 0, 3, 1, 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 7, 0});
  // A row whose largest element is in column 4 names a row x does not have.
  const Tensor far = Tensor::fromVector<float>({4, 5}, {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0});
  CHECK_THROWS_WITH(runGraph(g, {far}), Catch::Contains("rows_node") && Catch::Contains("out of range"));
}
