#include "runtime/PlanBuilder.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "dnnl/DnnlApi.h"
#include "kernels/TensorCopy.h"

namespace lowbit {

using dt = dnnl::memory::data_type;

dnnl::memory::desc plainDesc(const Dims &dims, dt type) {
  Dims d = dims.empty() ? Dims{1} : dims;
  return dnnl::memory::desc(d, type, contiguousStrides(d));
}

bool isPlain(const dnnl::memory::desc &md) {
  Dims dims = md.dims();
  return md == plainDesc(dims, md.data_type());
}

dnnl::memory::desc withDataType(dnnl::memory::desc md, dt type) { return dnnlapi::withDataType(md, type); }

std::optional<std::vector<size_t>> denseDimOrder(const dnnl::memory::desc &md) {
  const std::optional<std::vector<int64_t>> strides = dnnlapi::plainStrides(md);
  if (!strides) return std::nullopt;
  const Dims dims = md.dims();
  const size_t rank = dims.size();
  std::vector<size_t> order(rank);
  for (size_t i = 0; i < rank; ++i) order[i] = i;
  const std::vector<int64_t> &st = *strides;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return st[a] > st[b]; });
  int64_t expect = 1;  // innermost first: each stride is the product of the dims inside it
  for (size_t i = rank; i-- > 0;) {
    const size_t a = order[i];
    if (dims[a] == 1) continue;  // a size-1 dim's stride is arbitrary
    if (st[a] != expect) return std::nullopt;
    expect *= dims[a];
  }
  return order;
}

std::optional<dnnl::memory::format_tag> channelBlockedTag(const dnnl::memory::desc &md) {
  if (md.dims().size() != 4) return std::nullopt;
  for (dnnl::memory::format_tag t : {dnnl::memory::format_tag::nChw16c, dnnl::memory::format_tag::nChw8c})
    if (md == dnnl::memory::desc(md.dims(), md.data_type(), t)) return t;
  return std::nullopt;
}

dnnl::memory::desc orderedDesc(const Dims &dims, dt type, const std::vector<size_t> &order) {
  std::vector<int64_t> strides(dims.size(), 1);
  int64_t stride = 1;
  for (size_t i = order.size(); i-- > 0;) {
    strides[order[i]] = stride;
    stride *= std::max<int64_t>(1, dims[order[i]]);
  }
  return dnnl::memory::desc(dims.empty() ? Dims{1} : dims, type, dims.empty() ? std::vector<int64_t>{1} : strides);
}

std::vector<int64_t> stridesOf(const dnnl::memory::desc &md) {
  std::optional<std::vector<int64_t>> strides = dnnlapi::plainStrides(md);
  LOWBIT_CHECK(strides.has_value(), "stridesOf: a blocked layout has no per-dim strides");
  return *strides;
}

dt dnnlType(DType t) {
  switch (t) {
    case DType::Float32: return dt::f32;
    case DType::Int8: return dt::s8;
    case DType::UInt8: return dt::u8;
    case DType::Int32: return dt::s32;
    default: throw Error(cat("the runner keeps no ", dtypeName(t), " tensors in oneDNN memory"));
  }
}

namespace {
std::string descKey(const dnnl::memory::desc &md) {
  const auto &d = md.data;
  return std::string(reinterpret_cast<const char *>(&d), sizeof(d));
}
}  // namespace

dnnl::memory PlanBuilder::memoryOf(const Value *v) {
  auto it = memories_.find(v);
  if (it != memories_.end()) return it->second;
  if (v->isConstant()) {
    const Tensor &t = *v->constant();
    if (t.dtype() != DType::Float32)
      throw Error(cat("constant '", v->name(), "' of type ", dtypeName(t.dtype()),
                      " is read as float data"));
    dnnl::memory m = newMemory(plainDesc(t.dims()));
    if (t.byteSize()) std::memcpy(m.get_data_handle(), t.raw(), t.byteSize());
    memories_[v] = m;
    return m;
  }
  throw Error(cat("value '", v->name(), "' is read before it is computed"));
}

dnnl::memory PlanBuilder::plainMemoryOf(const Value *v) {
  dnnl::memory m = memoryOf(v);
  if (isPlain(m.get_desc())) return m;
  return memoryIn(v, plainDesc(m.get_desc().dims(), m.get_desc().data_type()));
}

bool sameBytes(const dnnl::memory::desc &a, const dnnl::memory::desc &b) {
  if (a == b) return true;
  if (a.data_type() != b.data_type() || a.dims() != b.dims()) return false;
  const auto sa = dnnlapi::linearStrides(a), sb = dnnlapi::linearStrides(b);
  if (!sa || !sb) return false;
  const Dims dims = a.dims();
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] > 1 && (*sa)[i] != (*sb)[i]) return false;  // a size-1 dim's stride is arbitrary
  return true;
}

dnnl::memory PlanBuilder::memoryIn(const Value *v, const dnnl::memory::desc &md) {
  dnnl::memory m = memoryOf(v);
  if (m.get_desc() == md) return m;
  auto key = std::make_pair(v, descKey(md));
  auto it = reordered_.find(key);
  if (it != reordered_.end()) return it->second;
  if (sameBytes(m.get_desc(), md)) {  // a view: the reorder would copy every byte to its place
    dnnl::memory view(md, engine_, m.get_data_handle());
    reordered_[key] = view;
    return view;
  }
  dnnl::memory out = newMemory(md);
  addReorder("reorder " + v->name(), m, out);
  reordered_[key] = out;
  return out;
}

std::optional<dnnl::memory> PlanBuilder::reorderedCopy(const Value *v, const dnnl::memory::desc &md) const {
  auto it = reordered_.find(std::make_pair(v, descKey(md)));
  if (it == reordered_.end()) return std::nullopt;
  return it->second;
}

dnnl::memory PlanBuilder::reorderedNow(dnnl::memory from, const dnnl::memory::desc &want) {
  if (from.get_desc() == want) return from;
  dnnl::memory out = newMemory(want);
  dnnl::stream s(engine_);
  dnnl::reorder(from, out).execute(s, from, out);
  s.wait();
  return out;
}

void PlanBuilder::define(const Value *v, dnnl::memory mem) { memories_[v] = std::move(mem); }

void PlanBuilder::addStep(PlanStep s) {
  s.threads = omp_get_max_threads();  // what its primitive was created for
  steps_.push_back(std::move(s));
}

namespace {

PlanStep stepOf(const Node &n) {
  PlanStep s;
  s.label = n.name();
  s.opType = n.opType();
  return s;
}

}  // namespace

void PlanBuilder::addPrimitive(const Node &n, dnnl::primitive p,
                               std::unordered_map<int, dnnl::memory> args) {
  PlanStep s = stepOf(n);
  s.primitive = std::move(p);
  s.args = std::move(args);
  addStep(std::move(s));
}

void PlanBuilder::addFunction(const Node &n, std::function<void()> fn) {
  PlanStep s = stepOf(n);
  s.fn = std::move(fn);
  addStep(std::move(s));
}

void PlanBuilder::addKernel(const Node &n, std::vector<void *> buffers, std::function<void(void *const *)> kernel) {
  PlanStep s = stepOf(n);
  s.buffers = std::move(buffers);
  s.kernel = std::move(kernel);
  addStep(std::move(s));
}

void PlanBuilder::addReorder(const std::string &label, const dnnl::memory &from,
                             const dnnl::memory &to, const dnnl::primitive_attr &attr) {
  PlanStep s;
  s.label = label;
  s.opType = "Reorder";
  s.primitive = dnnl::reorder(dnnl::reorder::primitive_desc(from, to, attr));
  s.args = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  addStep(std::move(s));
}

}  // namespace lowbit
