// Layers that move elements: reshapes (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Cast to
// float, inference Dropout), Transpose, Slice and Split (strided views), Expand and Tile
// (repeats), Concat, Pad, and Resize / Upsample (fixed weighted sums).
#include <algorithm>
#include <cstring>

#include "kernels/TensorCopy.h"
#include "ops/OpParams.h"
#include "support/Strings.h"
#include "train/Layer.h"
#include "train/TrainOp.h"

namespace lowbit::train {
namespace {

// The same elements under new dims.
class ViewLayer final : public Layer {
 public:
  ViewLayer(size_t x, size_t y) : x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override { std::memcpy(v[y_].raw(), v[x_].raw(), v[x_].byteSize()); }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    g.contribute(x_, g[y_]);  // same elements in the same order, other dims
  }

 private:
  size_t x_, y_;
};

// y = the strided view of x (Transpose, Slice, one output of Split); the gradient is scattered
// back through the same view.
class StridedViewLayer final : public Layer {
 public:
  StridedViewLayer(StridedView view, int64_t xElements, size_t x, size_t y)
      : view_(std::move(view)), from_(elementOffsets(view_.dims, view_.strides)), x_(x), y_(y) {
    for (int64_t &f : from_) f += view_.offset;
    // Distinct elements (Transpose, Slice, Split): covering all of x, the view is a permutation.
    whole_ = static_cast<int64_t>(from_.size()) == xElements;
  }
  void forward(std::vector<Tensor> &v) override {
    copyStrided(v[x_].raw(), view_.offset, view_.strides, v[y_].raw(), 0, contiguousStrides(view_.dims), view_.dims,
                sizeof(float));
  }
  // The view reads each element of x at most once, so dy scatters back without collisions:
  // written over a permutation's dx, added into one another reader (or a zero fill) began.
  void backward(std::vector<Tensor> &, Gradients &g) override {
    bool add = false;
    const float *dy = g[y_].data<float>();
    Tensor &dxSlot = g.claim(x_, add);
    float *dx = dxSlot.data<float>();
    const int64_t n = static_cast<int64_t>(from_.size());
    const int64_t *from = from_.data();
    if (!add && whole_) {
#pragma omp parallel for if (n > kParallelElements) schedule(static)
      for (int64_t i = 0; i < n; ++i) dx[from[i]] = dy[i];
      return;
    }
    if (!add) std::fill(dx, dx + dxSlot.numel(), 0.f);
#pragma omp parallel for if (n > kParallelElements) schedule(static)
    for (int64_t i = 0; i < n; ++i) dx[from[i]] += dy[i];
  }

 private:
  StridedView view_;
  std::vector<int64_t> from_;  // x's element behind each element of y
  bool whole_ = false;
  size_t x_, y_;
};

// y[o] = x[from[o]] where elements repeat (Expand, Tile): the gradient of a repeated element
// is the sum over its copies.
class RepeatLayer final : public Layer {
 public:
  RepeatLayer(std::vector<int64_t> from, size_t x, size_t y) : from_(std::move(from)), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
    const int64_t n = static_cast<int64_t>(from_.size());
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < n; ++o) y[o] = x[from_[static_cast<size_t>(o)]];
  }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const float *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
    for (size_t o = 0; o < from_.size(); ++o) dx[from_[o]] += dy[o];  // sequential: copies collide
  }

 private:
  std::vector<int64_t> from_;
  size_t x_, y_;
};

// Concat along one axis: each input is a block of every outer row; the gradient splits back.
class ConcatLayer final : public Layer {
 public:
  ConcatLayer(std::vector<size_t> xs, size_t y, std::vector<int64_t> widths, int64_t outer)
      : xs_(std::move(xs)), y_(y), widths_(std::move(widths)), outer_(outer) {
    for (int64_t w : widths_) total_ += w;
  }
  void forward(std::vector<Tensor> &v) override { copy(v[y_].data<float>(), pointers(v)); }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const float *dy = g[y_].data<float>();
    std::vector<float *> dx;
    std::vector<uint8_t> add;
    for (size_t x : xs_) {
      bool a = false;
      dx.push_back(g.claim(x, a).data<float>());
      add.push_back(a);
    }
    // Each input's block of an outer row is all of that input's row: written, or added into.
#pragma omp parallel for if (outer_ * total_ > kParallelElements) schedule(static)
    for (int64_t o = 0; o < outer_; ++o) {
      int64_t at = o * total_;
      for (size_t i = 0; i < xs_.size(); ++i) {
        float *x = dx[i] + o * widths_[i];
        if (add[i])
          for (int64_t j = 0; j < widths_[i]; ++j) x[j] += dy[at + j];
        else
          std::memcpy(x, dy + at, static_cast<size_t>(widths_[i]) * sizeof(float));
        at += widths_[i];
      }
    }
  }

 private:
  std::vector<float *> pointers(std::vector<Tensor> &t) const {
    std::vector<float *> p;
    for (size_t x : xs_) p.push_back(t[x].data<float>());
    return p;
  }
  // Copies the inputs' rows into the output.
  void copy(float *y, const std::vector<float *> &xs) const {
#pragma omp parallel for if (outer_ * total_ > kParallelElements) schedule(static)
    for (int64_t o = 0; o < outer_; ++o) {
      int64_t at = o * total_;
      for (size_t i = 0; i < xs.size(); ++i) {
        std::memcpy(y + at, xs[i] + o * widths_[i], static_cast<size_t>(widths_[i]) * sizeof(float));
        at += widths_[i];
      }
    }
  }
  std::vector<size_t> xs_;
  size_t y_;
  std::vector<int64_t> widths_;  // per input: elements per outer row (its axis dim x inner)
  int64_t outer_, total_ = 0;    // total_: the output's elements per outer row
};

// Constant Pad; its gradient is the crop of the output gradient.
class PadLayer final : public Layer {
 public:
  PadLayer(PadSpec p, float fill, size_t x, size_t y) : pad_(std::move(p)), fill_(fill), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    padCopy(v[x_].raw(), v[x_].dims(), v[y_].raw(), pad_.begin, pad_.end, PadMode::Constant, &fill_, sizeof(float));
  }
  void backward(std::vector<Tensor> &v, Gradients &g) override {
    Tensor dx(DType::Float32, v[x_].dims());
    Dims negBegin = pad_.begin, negEnd = pad_.end;
    for (int64_t &d : negBegin) d = -d;
    for (int64_t &d : negEnd) d = -d;
    const float zero = 0.f;
    padCopy(g[y_].raw(), g[y_].dims(), dx.raw(), negBegin, negEnd, PadMode::Constant, &zero, sizeof(float));
    g.contribute(x_, dx);
  }

 private:
  PadSpec pad_;
  float fill_;
  size_t x_, y_;
};

// Resize / Upsample: each output element a fixed weighted sum of input elements (resizeTaps),
// so the gradient flows back along the same taps. Leading axes the resize leaves alone (batch,
// channels) are not mapped: the taps of one block of the rest serve every block, in parallel.
class ResizeLayer final : public Layer {
 public:
  struct Tap {
    int64_t out, in;
    float w;
  };
  ResizeLayer(std::vector<Tap> taps, std::vector<int64_t> outside, float fill, int64_t blocks, int64_t inBlock,
              int64_t outBlock, size_t x, size_t y)
      : taps_(std::move(taps)), outside_(std::move(outside)), fill_(fill), blocks_(blocks), inBlock_(inBlock),
        outBlock_(outBlock), x_(x), y_(y) {}
  void forward(std::vector<Tensor> &v) override {
    const float *x = v[x_].data<float>();
    float *y = v[y_].data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks_; ++b) {
      const float *xb = x + b * inBlock_;
      float *yb = y + b * outBlock_;
      std::fill(yb, yb + outBlock_, 0.f);
      for (const Tap &t : taps_) yb[t.out] += t.w * xb[t.in];
      for (int64_t o : outside_) yb[o] = fill_;
    }
  }
  void backward(std::vector<Tensor> &, Gradients &g) override {
    const float *dy = g[y_].data<float>();
    float *dx = g[x_].data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks_; ++b)  // blocks do not overlap: no two threads write one element
      for (const Tap &t : taps_) dx[b * inBlock_ + t.in] += t.w * dy[b * outBlock_ + t.out];
  }

 private:
  std::vector<Tap> taps_;
  std::vector<int64_t> outside_;
  float fill_;
  int64_t blocks_, inBlock_, outBlock_;
  size_t x_, y_;
};

}  // namespace

void buildView(NetworkBuilder &b, const Node &n) {
  if (n.opType() == "Dropout" && dropoutDrops(n))
    throw Error(cat(n.describe(), ": the training engine runs Dropout in inference mode only"));
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  if (numElements(b.dims(xs)) != numElements(b.dims(ys)))
    throw Error(cat(n.describe(), ": output ", shapeString(b.dims(ys)), " does not hold the input's elements"));
  b.add(std::make_unique<ViewLayer>(xs, ys));
}

void buildTranspose(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  b.add(std::make_unique<StridedViewLayer>(transposeView(n, b.dims(xs)), numElements(b.dims(xs)), xs, ys));
}

void buildRepeat(NetworkBuilder &b, const Node &n) {
  if (!n.input(1) || !n.input(1)->isConstant())
    throw Error(cat(n.describe(), ": the training engine takes a constant shape or repeats"));
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  const Dims xd = b.dims(xs), yd = b.dims(ys);
  // The output as a strided read of the input, stride 0 where it repeats.
  const StridedView view =
      n.opType() == "Tile" ? tileView(n, xd, n.input(1)->constant()->toInt64s()) : StridedView{0, broadcastStrides(xd, yd), yd};
  b.add(std::make_unique<RepeatLayer>(elementOffsets(view.dims, view.strides), xs, ys));
}

void buildSlice(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0)), ys = b.output(n, n.output(0));
  b.add(std::make_unique<StridedViewLayer>(sliceView(n, b.opset(), b.dims(xs)), numElements(b.dims(xs)), xs, ys));
}

void buildSplit(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(xd.size()), n);
  const std::vector<int64_t> sizes = splitSizes(n, b.opset(), xd[static_cast<size_t>(axis)]);
  const std::vector<int64_t> strides = contiguousStrides(xd);
  int64_t start = 0;
  for (size_t i = 0; i < n.outputs().size() && i < sizes.size(); ++i) {
    StridedView view;
    view.offset = start * strides[static_cast<size_t>(axis)];
    view.strides = strides;
    view.dims = xd;
    view.dims[static_cast<size_t>(axis)] = sizes[i];
    start += sizes[i];
    if (!n.output(i)) continue;
    const size_t ys = b.output(n, n.output(i));
    b.add(std::make_unique<StridedViewLayer>(view, numElements(b.dims(xs)), xs, ys));
  }
}

void buildConcat(NetworkBuilder &b, const Node &n) {
  std::vector<size_t> xs;
  for (const Value *in : n.inputs()) xs.push_back(b.input(n, in));
  const Dims first = b.dims(xs.at(0));
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(first.size()), n);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= first[static_cast<size_t>(i)];
  std::vector<int64_t> widths;
  for (size_t s : xs) widths.push_back(numElements(b.dims(s)) / outer);
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<ConcatLayer>(std::move(xs), ys, std::move(widths), outer));
}

void buildPad(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  PadSpec p = resolvePad(n, b.opset(), static_cast<int64_t>(b.dims(xs).size()));
  if (p.mode != "constant")
    throw Error(cat(n.describe(), ": only constant padding can be trained (mode '", p.mode, "')"));
  const float fill = static_cast<float>(p.constant.value_or(0.0));
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<PadLayer>(p, fill, xs, ys));
}

void buildResize(NetworkBuilder &b, const Node &n) {
  const size_t xs = b.input(n, n.input(0));
  const Dims xd = b.dims(xs);
  std::vector<double> roi;
  if (n.opType() == "Resize" && n.inputs().size() > 1 && n.input(1)) {
    if (!n.input(1)->isConstant()) throw Error(cat(n.describe(), ": the training engine takes a constant roi"));
    for (float f : n.input(1)->constant()->toFloats()) roi.push_back(f);
  }
  const ResizeTaps taps = resizeTaps(n, xd, b.opset(), roi);
  // Leading axes copied as they are: the same length, each output coordinate reading its own
  // input coordinate alone.
  size_t lead = 0;
  for (; lead < xd.size(); ++lead) {
    bool identity = taps.out[lead] == xd[lead];
    for (int64_t o = 0; identity && o < xd[lead]; ++o) {
      const ResizeTaps::Coordinate &c = taps.axes[lead][static_cast<size_t>(o)];
      identity = !c.outside;
      for (size_t j = 0; identity && j < c.idx.size(); ++j) identity = c.w[j] == (c.idx[j] == o ? 1.0 : 0.0);
    }
    if (!identity) break;
  }
  ResizeTaps inner;
  inner.out = Dims(taps.out.begin() + static_cast<int64_t>(lead), taps.out.end());
  inner.axes.assign(taps.axes.begin() + static_cast<int64_t>(lead), taps.axes.end());
  const Dims innerIn(xd.begin() + static_cast<int64_t>(lead), xd.end());
  std::vector<ResizeLayer::Tap> list;
  std::vector<int64_t> outside;
  forEachResizeTap(
      inner, innerIn,
      [&](int64_t o, int64_t i, double w) {
        if (w != 0) list.push_back({o, i, static_cast<float>(w)});
      },
      [&](int64_t o) { outside.push_back(o); });
  const size_t ys = b.output(n, n.output(0));
  b.add(std::make_unique<ResizeLayer>(std::move(list), std::move(outside), static_cast<float>(taps.extrapolation),
                                      numElements(Dims(xd.begin(), xd.begin() + static_cast<int64_t>(lead))),
                                      numElements(innerIn), numElements(inner.out), xs, ys));
}

}  // namespace lowbit::train
