#include "runtime/ImageByImage.h"

#include <limits>
#include <set>
#include <unordered_map>

#include "ops/OpParams.h"
#include "ops/OpSupport.h"
#include "ops/ShapeInference.h"
#include "runtime/StepThreads.h"

namespace lowbit {

namespace {

// An image's tensor this large fills much of a core's L2 cache (2 MB on the machine of
// docs/RESULTS.md) beside its layer's input; a batch of them leaves every cache. At 1 MiB
// SqueezeNet's Fire expansions at 55x55 (756 KiB) stayed on the batch: 5 ms a batch of 64 more.
// Only layers of little arithmetic per element they write go image by image: there the batch
// waits for memory (SqueezeNet's 3 -> 64 first layer, 27 multiply-adds an element; a 7x7
// stem, 147; an inverted residual's expansion, depthwise and projection, 9-96), while a layer of
// hundreds per element (a 3x3 over 64 channels, 576) runs faster on the whole batch: with
// ResNet50's first 3x3 layers image by image the batch took 8 % longer. Counted in elements
// (512 KiB of float): 8-bit codes take a quarter of the bytes, but an int8 layer also computes
// each element about four times faster, so the same tensors wait for memory (MobileNetV2's
// int8 batch of 64, best of three: 90.9 ms on the batch, 86.2 with the line at 512 KiB of
// codes, 81.4 at 131,072 of them).
constexpr int64_t kLargeElementsPerImage = int64_t{1} << 17;
// Each image's arguments are made when the plan is: a bound on what a huge batch allocates.
constexpr int64_t kMostImages = 1024;
constexpr int64_t kMostMacsPerElement = 160;

// Ops whose result for one image reads that image alone (with these attributes): the prefix
// holds nothing else, so no op mixes images (a softmax or concatenation along the batch, a
// batch normalization in training mode, a Pad or Resize of the batch axis).
bool perImage(const Node &n) {
  static const std::set<std::string> ops = {
      "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Relu", "LeakyRelu", "PRelu",
      "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Softplus", "Mish", "Add", "Sub",
      "Mul", "Div", "Max", "Min", "Identity", "BatchNormalization", "Concat",
      // the integer runner's, with per-tensor parameters fixed when the plan is made
      "QuantizeLinear", "DequantizeLinear", "QConv", "QRescale"};
  if (!n.domain().empty() || !ops.count(n.opType()) || n.outputs().size() != 1) return false;
  if (n.opType() == "BatchNormalization") return n.attrInt("training_mode", 0) == 0;
  if (n.opType() == "QConv") return n.attrInt("dynamic", 0) == 0;  // dynamic: a scale from the whole batch
  if (n.opType() == "Concat") {
    const int64_t axis = n.attrInt("axis", 0), rank = static_cast<int64_t>(n.output(0)->dims().size());
    return axis != 0 && axis != -rank;
  }
  return true;
}

struct Cut {
  size_t end;          // the prefix is nodes [0, end)
  const Value *value;  // the one value of the prefix that later nodes read
};

struct Prefix {
  std::vector<Cut> cuts;  // in node order
  size_t firstLarge = std::numeric_limits<size_t>::max(), lastLarge = 0;
};

// The places where the nodes before read nothing but the graph input and leave one value for
// the nodes after: no fusion spans them, every node before computes each image from that image
// alone, and every value before is batch-major float data or 8-bit codes.
Prefix findCuts(const Graph &g, int64_t batch) {
  Prefix p;
  const std::vector<Node *> nodes = g.nodes();
  std::unordered_map<const Node *, size_t> pos;
  for (size_t i = 0; i < nodes.size(); ++i) pos[nodes[i]] = i;
  std::unordered_map<const Value *, size_t> lastRead;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const Value *in : nodes[i]->inputs())
      if (in) lastRead[in] = i;
  for (const Value *out : g.outputs()) lastRead[out] = std::numeric_limits<size_t>::max();
  auto lastUse = [&](const Value *v, size_t i) {  // node i, or a later one that reads v
    auto it = lastRead.find(v);
    return it == lastRead.end() ? i : std::max(i, it->second);
  };

  std::set<const Value *> live = {g.inputs()[0]};
  size_t groupEnd = 0;  // the last node of a fusion group begun so far
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = *nodes[i];
    if (!perImage(n)) return p;
    // A layer of much arithmetic per element runs better on the whole batch (and on one image
    // it may lose its kernel: Winograd's F(4x4, 3x3) needs a batch): the prefix ends before it.
    if (const Value *y = n.output(0); y && y->shapeIsStatic() && multiplyAccumulates(n) > kMostMacsPerElement * numElements(y->dims()))
      return p;
    for (const Node *f : {n.fusedAdd, n.fusedActivation})
      if (f) groupEnd = std::max(groupEnd, pos.at(f));
    for (const Value *out : n.outputs()) {
      if (!out) continue;
      const DType t = out->dtype();
      if ((t != DType::Float32 && t != DType::UInt8 && t != DType::Int8) || !out->shapeIsStatic() ||
          out->dims().empty() || out->dims()[0] != batch)
        return p;
      // Every node so far does little arithmetic (the check above), the one a fused
      // activation belongs to included: a large output here waits for memory.
      if (numElements(out->dims()) / batch >= kLargeElementsPerImage) {
        p.firstLarge = std::min(p.firstLarge, i);
        p.lastLarge = std::max(p.lastLarge, lastUse(out, i));  // its readers too
      }
      if (lastUse(out, i) > i) live.insert(out);
    }
    for (auto it = live.begin(); it != live.end();) it = lastUse(*it, i) > i ? std::next(it) : live.erase(it);
    if (i < groupEnd || live.size() != 1) continue;
    const Value *v = *live.begin();
    if (v->producer() && v->dims().size() == 4 && !g.isGraphOutput(v)) p.cuts.push_back({i + 1, v});
  }
  return p;
}

// \p md for \p batch images instead of one, when images are its outermost blocks (plain,
// channels-last or channel-blocked layouts); nullopt otherwise.
std::optional<dnnl::memory::desc> forBatch(const dnnl::memory::desc &md, int64_t batch) {
  Dims dims = md.dims();
  dims[0] = batch;
  if (std::optional<std::vector<size_t>> order = denseDimOrder(md); order && (*order)[0] == 0)
    return orderedDesc(dims, md.data_type(), *order);
  if (std::optional<dnnl::memory::format_tag> tag = channelBlockedTag(md))
    return dnnl::memory::desc(dims, md.data_type(), *tag);
  return std::nullopt;
}

// Builds nodes [0, cut.end) of \p g for one image and adds them to \p b as a group run per
// image; false (and \p b untouched) when it cannot.
bool buildPrefix(PlanBuilder &b, const Graph &g, const Cut &cut, int maxThreads) {
  const Value *input = g.inputs()[0];
  const int64_t batch = input->dims()[0];
  const dnnl::memory batchInput = b.memoryOf(input);
  if (!isPlain(batchInput.get_desc())) return false;

  std::unique_ptr<Graph> one = g.clone();
  Value *in = one->inputs()[0];
  Dims inDims = in->dims();
  inDims[0] = 1;
  in->setShape(inDims);
  Value *last = one->findValue(cut.value->name());
  one->outputs() = {last};
  one->removeDeadCode();
  // Each output's one-image shape is the batch's with one image (every op of the prefix computes
  // an image from that image alone). ONNX's rules must give it, or a shape is fixed for the
  // whole batch; the integer runner's ops, which carry the shapes they were made with, take it.
  // The types stay the plan's: the lowering changed some that ONNX's rules would give back
  // (signed codes held as uint8).
  try {
    for (Node *n : one->nodes()) {
      const bool internal = isInternalOp(n->opType());
      if (!internal) inferNodeShapes(*n, one->opset);
      for (Value *o : n->outputs()) {
        const Value *whole = o ? g.findValue(o->name()) : nullptr;
        if (!whole || !whole->shapeIsStatic() || whole->dims().empty()) return false;
        Dims want = whole->dims();
        want[0] = 1;
        o->setDType(whole->dtype());
        if (internal) o->setShape(want);
        else if (!o->shapeIsStatic() || o->dims() != want) return false;
      }
    }
  } catch (const Error &) {
    return false;  // a shape fixed for the whole batch (a Reshape to N x ...)
  }

  // One copy of the steps (and of their buffers) per thread, each built for one thread: thread
  // t runs copy t on images t, t + T, ..., so no step waits for the other cores (a barrier per
  // step and image cost more than the cache saved) and each core keeps its image in its own L2.
  const int copies = static_cast<int>(std::min<int64_t>(maxThreads, batch));
  std::vector<PlanStep> all;
  std::vector<dnnl::memory> buffers;
  std::optional<dnnl::memory> batchCut;
  for (int c = 0; c < copies; ++c) {
    PlanBuilder pb(*one, b.engine());
    pb.setFastConvolutions(b.fastConvolutions());
    pb.setAllowInPlace(b.allowInPlace());
    const dnnl::memory imageInput = pb.newMemory(plainDesc(inDims, batchInput.get_desc().data_type()));
    pb.define(in, imageInput);
    try {
      ThreadCount threads(maxThreads);
      threads.set(1);
      for (Node *n : one->nodes()) buildNode(pb, *n);
    } catch (const Error &) {
      return false;
    }
    dnnl::memory imageCut = pb.memoryOf(last);
    std::optional<dnnl::memory::desc> cutMd = forBatch(imageCut.get_desc(), batch);
    if (!cutMd) {
      imageCut = pb.plainMemoryOf(last);
      cutMd = forBatch(imageCut.get_desc(), batch);
    }
    if (!cutMd || (batchCut && *cutMd != batchCut->get_desc())) return false;
    if (!batchCut) {
      batchCut = dnnl::memory(*cutMd, b.engine());  // owned with the copies' buffers below
      buffers.push_back(*batchCut);
    }
    std::vector<PlanStep> steps = pb.takeSteps();
    if (steps.empty()) return false;
    for (const PlanStep &s : steps)
      if (s.fn) return false;  // a closure holds its pointers: it cannot move to the next image

    // Per image, every argument inside the one-image input or result points at that image's
    // slice of the batch buffer (images are the outermost blocks of both layouts).
    struct Rebind {
      const char *from;
      size_t bytes;
      char *to;
    };
    const Rebind rebinds[] = {
        {static_cast<const char *>(imageInput.get_data_handle()), imageInput.get_desc().get_size(),
         static_cast<char *>(batchInput.get_data_handle())},
        {static_cast<const char *>(imageCut.get_data_handle()), imageCut.get_desc().get_size(),
         static_cast<char *>(batchCut->get_data_handle())}};
    auto forImage = [&](void *h, int64_t k) -> void * {
      const char *p = static_cast<const char *>(h);
      for (const Rebind &r : rebinds)
        if (p >= r.from && p < r.from + r.bytes) return r.to + static_cast<size_t>(k) * r.bytes + (p - r.from);
      return h;
    };
    for (PlanStep &s : steps) {
      s.label += cat(" (image by image, thread ", c, ")");
      if (s.kernel) {
        s.chunkBuffers.resize(static_cast<size_t>(batch));
        for (int64_t k = c; k < batch; k += copies)
          for (void *h : s.buffers) s.chunkBuffers[static_cast<size_t>(k)].push_back(forImage(h, k));
        continue;
      }
      s.chunkArgs.resize(static_cast<size_t>(batch));
      for (int64_t k = c; k < batch; k += copies)
        for (const auto &[arg, mem] : s.args) {
          void *h = mem.get_data_handle(), *to = forImage(h, k);
          s.chunkArgs[static_cast<size_t>(k)][arg] = to == h ? mem : dnnl::memory(mem.get_desc(), b.engine(), to);
        }
    }
    for (PlanStep &s : steps) all.push_back(std::move(s));
    for (dnnl::memory &m : pb.takeBuffers()) buffers.push_back(std::move(m));
  }
  all.front().groupSize = all.size();
  all.front().groupCopies = static_cast<size_t>(copies);
  all.front().groupImages = static_cast<size_t>(batch);
  b.appendSteps(std::move(all));
  b.keepBuffers(std::move(buffers));
  b.define(cut.value, *batchCut);
  const std::vector<Node *> nodes = g.nodes();
  for (size_t i = 0; i < cut.end; ++i) b.markComputed(nodes[i]);
  return true;
}

}  // namespace

bool buildImageByImagePrefix(PlanBuilder &b, const Graph &g, int maxThreads) {
  if (g.inputs().size() != 1) return false;
  const Value *input = g.inputs()[0];
  if (input->dtype() != DType::Float32 || !input->shapeIsStatic() || input->dims().size() != 4 || input->dims()[0] < 2 ||
      input->dims()[0] > kMostImages)
    return false;
  const Prefix p = findCuts(g, input->dims()[0]);
  if (p.firstLarge == std::numeric_limits<size_t>::max()) return false;
  // The shortest prefix holding every large tensor; else the longest holding some.
  std::vector<const Cut *> order;
  for (const Cut &c : p.cuts)
    if (c.end > p.lastLarge) {
      order.push_back(&c);
      break;
    }
  for (auto it = p.cuts.rbegin(); it != p.cuts.rend(); ++it)
    if (it->end <= p.lastLarge && it->end > p.firstLarge) order.push_back(&*it);
  for (const Cut *c : order)
    if (buildPrefix(b, g, *c, maxThreads)) return true;
  return false;
}

}  // namespace lowbit
