#include "train/TrainOp.h"

#include <algorithm>
#include <cstring>

#include "kernels/TensorCopy.h"

namespace lowbit::train {

dnnl::memory viewOf(const Device &dev, const Tensor &t) {
  LOWBIT_CHECK(t.dtype() == DType::Float32, "training tensors are float32");
  Dims d = t.dims().empty() ? Dims{1} : t.dims();
  dnnl::memory::desc md(d, dnnl::memory::data_type::f32, contiguousStrides(d));
  return dnnl::memory(md, dev.engine, const_cast<void *>(t.raw()));
}

Staging::Staging(const Device &dev, const Dims &dims, const dnnl::memory::desc &want, Role role)
    : plain_(dims, dnnl::memory::data_type::f32, contiguousStrides(dims)), want_(want), role_(role), same_(want == plain_) {
  if (same_) return;
  toWant_ = dnnl::reorder(dnnl::reorder::primitive_desc(dev.engine, plain_, dev.engine, want_));
  toPlain_ = dnnl::reorder(dnnl::reorder::primitive_desc(dev.engine, want_, dev.engine, plain_));
  dnnl::post_ops sum;
  sum.append_sum(1.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(sum);
  addToPlain_ = dnnl::reorder(dnnl::reorder::primitive_desc(dev.engine, want_, dev.engine, plain_, attr));
}

dnnl::memory Staging::buffer(Device &dev) const {
  if (dev.staging.size() < kRoles) dev.staging.resize(kRoles);
  dnnl::memory &b = dev.staging[role_];
  const size_t bytes = want_.get_size();
  if (!b || b.get_desc().get_size() < bytes)
    b = dnnl::memory(dnnl::memory::desc({static_cast<int64_t>(bytes)}, dnnl::memory::data_type::u8,
                                        dnnl::memory::format_tag::a), dev.engine);
  return dnnl::memory(want_, dev.engine, b.get_data_handle());
}

dnnl::memory Staging::in(Device &dev, const Tensor &t) const {
  dnnl::memory plain(plain_, dev.engine, const_cast<void *>(t.raw()));
  if (same_) return plain;
  dnnl::memory m = buffer(dev);
  toWant_.execute(dev.stream, plain, m);
  return m;
}

dnnl::memory Staging::target(Device &dev, Tensor &t) const {
  return same_ ? dnnl::memory(plain_, dev.engine, t.raw()) : buffer(dev);
}

void Staging::out(Device &dev, Tensor &t) const {
  if (same_) return;
  dnnl::memory plain(plain_, dev.engine, t.raw()), staged = buffer(dev);
  toPlain_.execute(dev.stream, staged, plain);
}

void Staging::addOut(Device &dev, Tensor &t) const {
  LOWBIT_CHECK(!same_, "addOut of a plain layout");
  dnnl::memory plain(plain_, dev.engine, t.raw()), staged = buffer(dev);
  addToPlain_.execute(dev.stream, staged, plain);
}

dnnl::memory Staging::staged(Device &dev, const Tensor &t) const {
  return same_ ? dnnl::memory(plain_, dev.engine, const_cast<void *>(t.raw())) : buffer(dev);
}

std::vector<int64_t> elementOffsets(const Dims &dims, const std::vector<int64_t> &strides) {
  std::vector<int64_t> out(static_cast<size_t>(numElements(dims)));
  Dims idx(dims.size(), 0);
  int64_t off = 0;
  for (int64_t &o : out) {
    o = off;
    for (size_t i = dims.size(); i-- > 0;) {  // odometer step, the offset kept incrementally
      off += strides[i];
      if (++idx[i] < dims[i]) break;
      off -= strides[i] * dims[i];
      idx[i] = 0;
    }
  }
  return out;
}

void Gradients::addSlot(const Dims &dims) {
  t_.emplace_back(DType::Float32, dims);
  written_.push_back(1);  // zeros already
}

void Gradients::reset() { std::fill(written_.begin(), written_.end(), uint8_t{0}); }

void Gradients::zero(size_t slot) {
  float *d = t_[slot].data<float>();
  const int64_t n = t_[slot].numel();
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = 0.f;
  written_[slot] = 1;
}

Tensor &Gradients::claim(size_t slot, bool &add) {
  add = written_.at(slot) != 0;
  written_[slot] = 1;
  return t_[slot];
}

void Gradients::contribute(size_t slot, const Tensor &d) {
  bool add = false;
  Tensor &t = claim(slot, add);
  LOWBIT_CHECK(t.numel() == d.numel(), "gradient sizes differ");
  if (add)
    accumulate(t.data<float>(), d.data<float>(), t.numel());
  else
    std::memcpy(t.raw(), d.raw(), d.byteSize());
}

Tensor &scratch(Tensor &t, const Dims &dims) {
  if (t.dims() != dims || t.dtype() != DType::Float32 || t.byteSize() != static_cast<size_t>(numElements(dims)) * 4)
    t = Tensor(DType::Float32, dims);
  return t;
}

void accumulate(Tensor &a, const Tensor &b) {
  LOWBIT_CHECK(a.dims() == b.dims(), "gradient shapes differ");
  accumulate(a.data<float>(), b.data<float>(), a.numel());
}

void accumulate(float *a, const float *b, int64_t n) {
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

}  // namespace lowbit::train
