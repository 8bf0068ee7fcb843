// Data movement: Concat on oneDNN (a channel shuffle after it as one reorder per source run);
// Reshape-like ops as zero-copy views of a plain buffer; Transpose, Slice, Pad, Gather and Split
// with the reference kernels on plain buffers.
#include <algorithm>

#include "dnnl/DnnlApi.h"
#include "kernels/TensorCopy.h"
#include "ops/Evaluate.h"
#include "ops/OpParams.h"
#include "ops/OpTable.h"
#include "passes/LowerToInteger.h"
#include "runtime/NodeBuilders.h"

namespace lowbit {

bool isAliasOp(const std::string &op) {
  const OpInfo *info = findOp(op);
  return info && info->buildRunner == buildAlias;
}

void buildAlias(PlanBuilder &b, const Node &n) {
  if (n.opType() == "Cast" && static_cast<DType>(n.attrInt("to", 0)) != DType::Float32)
    throw Error(cat(n.describe(), ": casts float data to ", dtypeName(static_cast<DType>(n.attrInt("to", 0))),
                    " at run time; the float runner computes float32 tensors only"));
  dnnl::memory src = b.plainMemoryOf(n.input(0));
  b.define(n.output(0), dnnl::memory(plainDesc(n.output(0)->dims(), src.get_desc().data_type()), b.engine(),
                                     src.get_data_handle()));
}

bool readsNonFloatData(const Node &n) {
  for (const Value *v : n.inputs())
    if (v && !v->isConstant() && v->dtype() != DType::Float32) return true;
  for (const Value *v : n.outputs())  // Pow of an integer base by a float exponent, say
    if (v && v->dtype() != DType::Float32) return true;
  return false;
}

bool runsOnEvaluator(const Node &n) {
  const OpInfo *op = n.domain().empty() ? findOp(n.opType()) : nullptr;
  if (!op) return false;
  if (op->buildRunner == buildEvaluated) return true;
  if (n.opType() == "Gather" && n.inputs().size() > 1 && n.input(1) && !n.input(1)->isConstant()) return true;
  const bool floatPathOnly = op->buildRunner == buildVariadic || op->buildRunner == buildReduce || op->buildRunner == buildPow;
  return floatPathOnly && readsNonFloatData(n);
}

void buildEvaluated(PlanBuilder &b, const Node &n) {
  for (const Value *out : n.outputs()) {
    if (!out || out->dtype() == DType::Float32) continue;
    for (const Node *reader : b.graph().users(out))
      if (!runsOnEvaluator(*reader)) throw Error(cat(n.describe(), ": its ", dtypeName(out->dtype()), " result is read by ",
                      reader->describe(), "; the float runner computes float32 tensors only"));
  }
  // Inputs: constants as they are, data read from plain buffers at run time.
  struct RuntimeInput {
    bool present = false;  // an empty tensor's buffer may have no address
    const void *data = nullptr;
    DType dtype = DType::Float32;
    Dims dims;
  };
  std::vector<std::shared_ptr<const Tensor>> constants;
  std::vector<RuntimeInput> runtime;
  for (const Value *in : n.inputs()) {
    constants.push_back(in && in->isConstant() ? in->constant() : nullptr);
    RuntimeInput r;
    if (in && !in->isConstant()) r = {true, b.plainMemoryOf(in).get_data_handle(), in->dtype(), in->dims()};
    runtime.push_back(r);
  }
  // Outputs: plain float buffers, byte buffers the executor copies out by ONNX type, or
  // host tensors (STRING).
  std::vector<void *> outs;
  std::vector<std::shared_ptr<Tensor>> hostOuts(n.outputs().size());
  for (size_t i = 0; i < n.outputs().size(); ++i) {
    const Value *out = n.output(i);
    if (!out || out->dtype() == DType::String) {
      if (out) hostOuts[i] = b.hostTensor(out);
      outs.push_back(nullptr);
      continue;
    }
    size_t bytes = static_cast<size_t>(numElements(out->dims())) * dtypeSize(out->dtype());
    dnnl::memory m = out->dtype() == DType::Float32
                         ? b.newMemory(plainDesc(out->dims()))
                         : b.newByteBuffer(bytes);
    outs.push_back(m.get_data_handle());
    b.define(out, m);
  }
  const Node *node = &n;
  const int64_t opset = b.opset();
  b.addFunction(n, [=] {
    std::vector<Tensor> held(runtime.size());
    std::vector<const Tensor *> ins;
    for (size_t i = 0; i < runtime.size(); ++i) {
      if (constants[i]) {
        ins.push_back(constants[i].get());
      } else if (runtime[i].present) {
        held[i] = Tensor(runtime[i].dtype, runtime[i].dims);
        if (held[i].byteSize()) std::memcpy(held[i].raw(), runtime[i].data, held[i].byteSize());
        ins.push_back(&held[i]);
      } else {
        ins.push_back(nullptr);
      }
    }
    std::vector<Tensor> results = evaluate(*node, ins, opset);
    for (size_t i = 0; i < outs.size() && i < results.size(); ++i) {
      if (outs[i] && results[i].byteSize()) std::memcpy(outs[i], results[i].raw(), results[i].byteSize());
      if (hostOuts[i]) *hostOuts[i] = std::move(results[i]);
    }
  });
}

namespace {

// A Concat's sources that hold elements (oneDNN rejects empty ones) and their memories.
struct ConcatSources {
  std::vector<const Value *> values;
  std::vector<dnnl::memory> memories;
};

ConcatSources concatSources(PlanBuilder &b, const Node &n, int64_t axis) {
  ConcatSources s;
  for (const Value *v : n.inputs())
    if (v->dims()[static_cast<size_t>(axis)] != 0) {
      s.values.push_back(v);
      s.memories.push_back(b.memoryOf(v));
    }
  return s;
}

// A concatenation as rows of contiguous runs, one per source (concatRows): sources in one
// dense layout (each row: everything inside the axis), or all channel-blocked (nChw16c,
// nChw8c) along channels that fill whole blocks (each row: one image). oneDNN's own concat
// moves these at 2-3 GB/s (SqueezeNet's Fire outputs).
struct ConcatRuns {
  dnnl::memory::desc dst;
  int64_t rows = 0;
  std::vector<size_t> rowBytes;
};

std::optional<ConcatRuns> concatRuns(const std::vector<dnnl::memory::desc> &mds, const Dims &od,
                                     dnnl::memory::data_type type, int64_t axis) {
  ConcatRuns runs;
  if (std::optional<std::vector<size_t>> order = denseDimOrder(mds.at(0))) {
    for (const dnnl::memory::desc &md : mds)
      if (denseDimOrder(md) != order) return std::nullopt;
    runs.dst = orderedDesc(od, type, *order);
    runs.rows = 1;
    for (size_t k = 0; (*order)[k] != static_cast<size_t>(axis); ++k) runs.rows *= od[(*order)[k]];
  } else {
    const std::optional<dnnl::memory::format_tag> blocked = channelBlockedTag(mds.at(0));
    if (!blocked || axis != 1) return std::nullopt;
    const int64_t block = blocked == dnnl::memory::format_tag::nChw16c ? 16 : 8;
    for (const dnnl::memory::desc &md : mds)
      if (channelBlockedTag(md) != blocked || md.dims()[1] % block != 0) return std::nullopt;
    runs.dst = dnnl::memory::desc(od, type, *blocked);
    runs.rows = od[0];
  }
  if (runs.rows <= 0) return std::nullopt;
  for (const dnnl::memory::desc &md : mds) runs.rowBytes.push_back(md.get_size() / static_cast<size_t>(runs.rows));
  return runs;
}

// The element type of the concatenation: the sources' own, or uint8 where codes in int8 and
// uint8 containers meet (same parameters), exact when every source is non-negative.
dnnl::memory::data_type concatType(const PlanBuilder &b, const Node &n, const ConcatSources &s) {
  const dnnl::memory::data_type first = s.memories.at(0).get_desc().data_type();
  if (std::all_of(s.memories.begin(), s.memories.end(),
                  [&](const dnnl::memory &m) { return m.get_desc().data_type() == first; }))
    return first;
  for (const Value *v : s.values)
    if (!v->codes || !isNonNegative(b.graph(), v))
      throw Error(cat(n.describe(), ": concatenates codes of two types that are not all non-negative"));
  return dnnl::memory::data_type::u8;
}

// A channel shuffle after a channel Concat (ShuffleNet's units): Concat on axis 1 of NCHW ->
// Reshape (N, g, C/g, H, W) -> Transpose (0, 2, 1, 3, 4) -> Reshape (N, C, H, W), each
// intermediate read by the next node only (a shuffle without a Concat, ShuffleNet V1's, is not
// matched yet).
struct ChannelShuffle {
  int64_t groups = 1;
  std::vector<const Node *> rest;  // the Reshape, Transpose and Reshape the shuffle computes
};

const Node *soleUser(const PlanBuilder &b, const Value *v, const char *op) {
  const Graph &g = b.graph();
  if (!v || g.isGraphOutput(v) || b.observed(v)) return nullptr;
  const std::vector<Node *> users = g.users(v);
  return users.size() == 1 && users[0]->opType() == op ? users[0] : nullptr;
}

std::optional<ChannelShuffle> matchChannelShuffle(const PlanBuilder &b, const Node &concat) {
  const Dims &od = concat.output(0)->dims();
  if (od.size() != 4 || std::any_of(od.begin(), od.end(), [](int64_t d) { return d < 1; }) ||
      normalizeAxis(concat.attrInt("axis", 0), 4, concat) != 1)
    return std::nullopt;
  const Node *split = soleUser(b, concat.output(0), "Reshape");
  const Node *swap = split ? soleUser(b, split->output(0), "Transpose") : nullptr;
  const Node *merge = swap ? soleUser(b, swap->output(0), "Reshape") : nullptr;
  if (!merge || merge->output(0)->dims() != od) return std::nullopt;
  const Dims &sd = split->output(0)->dims();
  if (sd.size() != 5 || sd[0] != od[0] || sd[3] != od[2] || sd[4] != od[3] || sd[1] < 1 || sd[1] * sd[2] != od[1] ||
      transposePerm(*swap, 5) != std::vector<int64_t>{0, 2, 1, 3, 4})
    return std::nullopt;
  return ChannelShuffle{sd[1], {split, swap, merge}};
}

// \p count channels of the dense 4-D \p m from channel \p first on, every \p step-th channel.
dnnl::memory channelRun(PlanBuilder &b, const dnnl::memory &m, int64_t first, int64_t count, int64_t step) {
  const std::vector<int64_t> st = stridesOf(m.get_desc());
  const dnnl::memory::data_type type = m.get_desc().data_type();
  Dims d = m.get_desc().dims();
  d[1] = count;
  char *base = static_cast<char *>(m.get_data_handle()) + static_cast<size_t>(first * st[1]) * plainDesc({1}, type).get_size();
  return dnnl::memory(dnnl::memory::desc(d, type, {st[0], st[1] * step, st[2], st[3]}), b.engine(), base);
}

// The channel ranges of the shuffled tensor its readers take, when every reader is a Slice of
// channels (step 1) or a Split on the channel axis: each range is then written straight into
// its reader's output and the shuffled tensor is never stored. Empty otherwise.
struct ChannelRange {
  const Node *reader;
  const Value *out;
  int64_t begin, end;
};

std::vector<ChannelRange> channelReaders(const PlanBuilder &b, const Value *v) {
  const Graph &g = b.graph();
  if (g.isGraphOutput(v) || b.observed(v)) return {};
  const Dims &vd = v->dims();
  const std::vector<int64_t> dense = contiguousStrides(vd);
  std::vector<ChannelRange> ranges;
  for (const Node *r : g.users(v)) {
    if (r->input(0) != v) return {};
    if (r->opType() == "Slice") {
      const StridedView view = sliceView(*r, b.opset(), vd, dense);
      for (size_t i = 0; i < vd.size(); ++i)
        if (view.strides[i] != dense[i] || (i != 1 && view.dims[i] != vd[i])) return {};
      if (view.dims[1] < 1 || view.offset % dense[1] != 0) return {};
      const int64_t begin = view.offset / dense[1];
      ranges.push_back({r, r->output(0), begin, begin + view.dims[1]});
    } else if (r->opType() == "Split" && normalizeAxis(r->attrInt("axis", 0), 4, *r) == 1) {
      int64_t at = 0;
      const std::vector<int64_t> sizes = splitSizes(*r, b.opset(), vd[1]);
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (i < r->outputs().size() && r->output(i) && sizes[i] > 0) ranges.push_back({r, r->output(i), at, at + sizes[i]});
        at += sizes[i];
      }
    } else {
      return {};
    }
  }
  return ranges;
}

// Pixels of a channels-last 4-D memory and the elements between them, when they are evenly
// spaced (a dense NHWC tensor or a channel run of one).
std::optional<std::pair<int64_t, int64_t>> pixelsOf(const dnnl::memory &m) {
  const dnnl::memory::desc md = m.get_desc();
  const Dims d = md.dims();
  const std::vector<int64_t> st = stridesOf(md);
  if (d.size() != 4 || st.size() != 4 || st[1] != 1 || st[2] != d[3] * st[3] || st[0] != d[2] * st[2])
    return std::nullopt;
  return std::make_pair(d[0] * d[2] * d[3], st[3]);
}

// Channels [begin, end) of the shuffled concatenation into \p dst. Shuffled channel c is channel
// f = c / g of group k = c % g, i.e. channel k * perGroup + f of the concatenation; each run of
// one source within one group is one reorder into a strided view of \p dst, and two runs that
// interleave (ShuffleNetV2's two groups, channels-last) are one pass of interleavePairs.
void writeShuffled(PlanBuilder &b, const Node &n, const ChannelShuffle &s, const ConcatSources &src,
                   dnnl::memory::data_type type, int64_t begin, int64_t end, const dnnl::memory &dst) {
  const int64_t g = s.groups, perGroup = n.output(0)->dims()[1] / g;
  struct Run {
    size_t source;
    int64_t from, count, to;  // source channel, channels, first channel in dst (then every g-th)
  };
  std::vector<Run> runs;
  for (int64_t k = 0; k < g; ++k) {
    const int64_t fLo = std::max<int64_t>(0, (begin - k + g - 1) / g), fHi = (end - 1 - k) / g;  // f * g + k in [begin, end)
    if (end - 1 < k || fLo > fHi) continue;
    int64_t at = 0;
    for (size_t i = 0; i < src.values.size(); ++i) {  // the sources' channels within [k * perGroup + fLo, .. + fHi]
      const int64_t c = src.values[i]->dims()[1];
      const int64_t lo = std::max(at, k * perGroup + fLo), hi = std::min(at + c, k * perGroup + fHi + 1);
      if (lo < hi) runs.push_back({i, lo - at, hi - lo, (lo - k * perGroup) * g + k - begin});
      at += c;
    }
  }
  auto memoryFor = [&](const Run &r) {
    dnnl::memory m = src.memories[r.source];
    if (m.get_desc().data_type() != type) m = b.memoryIn(src.values[r.source], withDataType(m.get_desc(), type));
    const bool whole = r.from == 0 && r.count == src.values[r.source]->dims()[1];
    if (whole) return m;
    if (!denseDimOrder(m.get_desc())) m = b.plainMemoryOf(src.values[r.source]);  // cut into runs below
    return channelRun(b, m, r.from, r.count, 1);
  };
  std::vector<dnnl::memory> from;
  for (const Run &r : runs) from.push_back(memoryFor(r));
  const size_t elem = plainDesc({1}, type).get_size();
  if (g == 2 && runs.size() == 2 && runs[0].to == 0 && runs[1].to == 1 && runs[0].count == runs[1].count &&
      2 * runs[0].count == end - begin) {
    const dnnl::memory &x = from[0], &y = from[1];
    const auto px = pixelsOf(x), py = pixelsOf(y), pd = pixelsOf(dst);
    if (px && py && pd && px->first == pd->first && py->first == pd->first) {
      const void *xa = x.get_data_handle(), *ya = y.get_data_handle();
      void *za = dst.get_data_handle();
      const int64_t pixels = pd->first, run = runs[0].count, sx = px->second, sy = py->second, sz = pd->second;
      b.addFunction(n, [=] { interleavePairs(xa, sx, ya, sy, za, sz, pixels, run, elem); });
      return;
    }
  }
  if (begin == 0 && end == n.output(0)->dims()[1]) {  // the whole tensor: every view below is one oneDNN accepts
    for (size_t i = 0; i < runs.size(); ++i) {
      const dnnl::memory to = channelRun(b, dst, runs[i].to, runs[i].count, g);
      b.addPrimitive(n, dnnl::reorder(dnnl::reorder::primitive_desc(from[i], to)),
                     {{DNNL_ARG_FROM, from[i]}, {DNNL_ARG_TO, to}});
    }
    return;
  }
  // A range: a run every g-th channel of a narrower tensor can pass the next pixel's first
  // channel, a view oneDNN refuses, so the runs are strided copies in the destination's order.
  const std::vector<size_t> order = *denseDimOrder(dst.get_desc());
  const std::vector<int64_t> toStrides = stridesOf(dst.get_desc());
  void *y = dst.get_data_handle();
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::vector<int64_t> fromStrides = stridesOf(from[i].get_desc());
    const Dims dims = from[i].get_desc().dims();
    std::vector<int64_t> loopDims, srcStrides, dstStrides;
    for (size_t a : order) {
      loopDims.push_back(dims[a]);
      srcStrides.push_back(fromStrides[a]);
      dstStrides.push_back(a == 1 ? toStrides[1] * g : toStrides[a]);
    }
    const void *x = from[i].get_data_handle();
    const int64_t offset = runs[i].to * toStrides[1];
    b.addFunction(n, [=] { copyStrided(x, 0, srcStrides, y, offset, dstStrides, loopDims, elem); });
  }
}

// The shuffled tensor written straight from the sources, or, when its readers only take channel
// ranges of it (the Slices or Split that open the next ShuffleNet unit), each range straight
// into its reader's output. The results keep the first source's dense layout (channels-last
// codes stay so), else plain.
void buildChannelShuffle(PlanBuilder &b, const Node &n, const ChannelShuffle &s) {
  ConcatSources src = concatSources(b, n, 1);
  const dnnl::memory::data_type type = concatType(b, n, src);
  const std::optional<std::vector<size_t>> order = denseDimOrder(src.memories[0].get_desc());
  auto newDense = [&](const Dims &dims) { return b.newMemory(order ? orderedDesc(dims, type, *order) : plainDesc(dims, type)); };
  for (const Node *r : s.rest) b.markComputed(r);
  const Value *shuffled = s.rest.back()->output(0);
  const std::vector<ChannelRange> readers = channelReaders(b, shuffled);
  if (readers.empty()) {
    const dnnl::memory dst = newDense(shuffled->dims());
    writeShuffled(b, n, s, src, type, 0, shuffled->dims()[1], dst);
    return b.define(shuffled, dst);
  }
  for (const ChannelRange &r : readers) {
    const dnnl::memory dst = newDense(r.out->dims());
    writeShuffled(b, n, s, src, type, r.begin, r.end, dst);
    b.define(r.out, dst);
    b.markComputed(r.reader);
  }
}

}  // namespace

void buildConcat(PlanBuilder &b, const Node &n) {
  if (std::optional<ChannelShuffle> s = matchChannelShuffle(b, n)) return buildChannelShuffle(b, n, *s);
  const Dims &od = n.output(0)->dims();
  const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(od.size()), n);
  ConcatSources src = concatSources(b, n, axis);
  std::vector<dnnl::memory> &srcs = src.memories;
  // Mixed layouts: bring all sources to the first one's layout family (plain if any is plain).
  if (std::any_of(srcs.begin(), srcs.end(), [](const dnnl::memory &m) { return isPlain(m.get_desc()); }))
    for (size_t i = 0; i < srcs.size(); ++i) srcs[i] = b.plainMemoryOf(src.values[i]);
  const dnnl::memory::data_type type = concatType(b, n, src);
  std::vector<dnnl::memory::desc> mds;
  std::unordered_map<int, dnnl::memory> args;
  for (size_t i = 0; i < srcs.size(); ++i) {
    if (srcs[i].get_desc().data_type() != type) srcs[i] = b.memoryIn(src.values[i], withDataType(srcs[i].get_desc(), type));
    mds.push_back(srcs[i].get_desc());
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = srcs[i];
  }
  if (std::optional<ConcatRuns> runs = concatRuns(mds, od, type, axis)) {
    dnnl::memory dst = b.newMemory(runs->dst);
    std::vector<const void *> from;
    for (const dnnl::memory &m : srcs) from.push_back(m.get_data_handle());
    void *to = dst.get_data_handle();
    b.addFunction(n, [from, bytes = runs->rowBytes, rows = runs->rows, to] { concatRows(from, bytes, rows, to); });
    return b.define(n.output(0), dst);
  }
  auto pd = dnnlapi::concat(b.engine(), dnnl::memory::desc(od, type, dnnl::memory::format_tag::any), static_cast<int>(axis), mds);
  dnnl::memory dst = b.newMemory(pd.dst_desc());
  args[DNNL_ARG_DST] = dst;
  b.addPrimitive(n, dnnl::concat(pd), std::move(args));
  b.define(n.output(0), dst);
}

void buildDataMovement(PlanBuilder &b, const Node &n) {
  const std::string &op = n.opType();
  const Value *x = n.input(0);
  const Dims xd = x->dims();
  // Float data, or 8-bit codes of the integer runner: the copies only move elements. Slice and
  // Pad keep a dense permuted layout (channels-last codes between int8 convolutions) instead of
  // reordering to plain and back; the rest work on plain buffers.
  dnnl::memory srcMem = b.memoryOf(x);
  const bool keepsLayout = op == "Slice" || op == "Pad";  // output rank = input rank
  std::optional<std::vector<size_t>> order;
  if (keepsLayout && !xd.empty()) order = denseDimOrder(srcMem.get_desc());
  if (!order) {
    srcMem = b.plainMemoryOf(x);
    order = std::vector<size_t>(xd.size());
    for (size_t i = 0; i < xd.size(); ++i) (*order)[i] = i;
  }
  const void *src = srcMem.get_data_handle();
  const dnnl::memory::data_type type = srcMem.get_desc().data_type();
  const size_t kElem = plainDesc({1}, type).get_size();
  std::vector<int64_t> outStrides;  // of output 0
  auto output = [&](size_t i) {
    const Dims &od = n.output(i)->dims();
    dnnl::memory m = b.newMemory(keepsLayout ? orderedDesc(od, type, *order) : plainDesc(od, type));
    if (i == 0) outStrides = stridesOf(m.get_desc());
    b.define(n.output(i), m);
    return m.get_data_handle();
  };
  // A dims vector in storage order.
  auto stored = [&](const std::vector<int64_t> &perDim) {
    std::vector<int64_t> out;
    for (size_t a : *order) out.push_back(perDim[a]);
    return out;
  };

  if (op == "Transpose") {
    const StridedView v = transposeView(n, xd);
    void *dst = output(0);
    b.addFunction(n, [=] { copyStrided(src, v.offset, v.strides, dst, 0, contiguousStrides(v.dims), v.dims, kElem); });
  } else if (op == "Slice") {
    const StridedView v = sliceView(n, b.opset(), xd, stridesOf(srcMem.get_desc()));
    void *dst = output(0);
    // Loop in storage order so the innermost loop runs over contiguous elements.
    const std::vector<int64_t> dims = stored(v.dims), srcStrides = stored(v.strides), dstStrides = stored(outStrides);
    b.addFunction(n, [=] { copyStrided(src, v.offset, srcStrides, dst, 0, dstStrides, dims, kElem); });
  } else if (op == "Pad") {
    PadSpec p = resolvePad(n, b.opset(), static_cast<int64_t>(xd.size()));
    PadMode mode = p.mode == "edge" ? PadMode::Edge : p.mode == "reflect" ? PadMode::Reflect : PadMode::Constant;
    const float fill = static_cast<float>(p.constant.value_or(0.0));
    if (type != dnnl::memory::data_type::f32 && fill != 0.f)
      throw Error(cat(n.describe(), ": pads integer codes with ", fill, "; only 0 is supported"));
    // For codes the fill is 0: the bytes of 0.f are all zero, so its first byte is a 0 code.
    const float value = type == dnnl::memory::data_type::f32 ? fill : 0.f;
    void *dst = output(0);
    // Source and destination store their dims in the same order: pad the stored dims.
    const std::vector<int64_t> dims = stored(xd), begin = stored(p.begin), end = stored(p.end);
    b.addFunction(n, [=] { padCopy(src, dims, dst, begin, end, mode, &value, kElem); });
  } else if (op == "Gather") {
    const Value *idx = n.input(1);
    if (!idx->isConstant())  // indices computed at run time run on the evaluator (runsOnEvaluator)
      throw Error(cat(n.describe(), ": indices must be constant for the float runner"));
    const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(xd.size()), n);
    std::vector<int64_t> indices = idx->constant()->toInt64s();
    for (int64_t &i : indices) {
      const int64_t dim = xd[static_cast<size_t>(axis)];
      if (i < -dim || i >= dim)
        throw Error(cat(n.describe(), ": index ", i, " is out of range for dimension ", dim));
      if (i < 0) i += dim;
    }
    void *dst = output(0);
    b.addFunction(n, [=] { gatherCopy(src, xd, axis, indices, dst, kElem); });
  } else if (op == "Split") {
    const int64_t axis = normalizeAxis(n.attrInt("axis", 0), static_cast<int64_t>(xd.size()), n);
    std::vector<int64_t> sizes = splitSizes(n, b.opset(), xd[static_cast<size_t>(axis)]);
    std::vector<int64_t> inStrides = contiguousStrides(xd);
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      Dims od = xd;
      od[static_cast<size_t>(axis)] = sizes[i];
      const int64_t offset = at * inStrides[static_cast<size_t>(axis)];
      at += sizes[i];
      if (!n.output(i)) continue;
      void *dst = output(i);
      b.addFunction(n, [=] { copyStrided(src, offset, inStrides, dst, 0, contiguousStrides(od), od, kElem); });
    }
  } else {
    throw Error(cat(n.describe(), ": not a data-movement op"));
  }
}

}  // namespace lowbit
