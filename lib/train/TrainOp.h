// Differentiable ops of the training engine (distillation fine-tune, FGSM input gradients).
// Each op holds the oneDNN primitives for one set of shapes, created once: a forward_training
// primitive and the backward primitives that take it as their hint. Tensors are plain
// row-major float32 (NCHW activations, OIHW / [out, in] weights), so the engine and the IR
// share data without reorders at their boundary.
#pragma once

#include <cstdint>
#include <vector>

#include "dnnl/DnnlApi.h"
#include "ir/Tensor.h"

namespace lowbit::train {

/// Elementwise loops of the engine run on the threads above this many elements.
constexpr int64_t kParallelElements = 1 << 14;

/// The CPU engine and stream every op of one training run shares.
struct Device {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  /// Staging buffers for tensors a primitive wants in another layout than plain, one per role
  /// (Staging::Role), shared by every op: the ops of a network run one after another.
  std::vector<dnnl::memory> staging;
};

/// One argument of a primitive that wants it in layout \p want while the training engine keeps
/// plain tensors: a reorder into (or out of) the device's staging buffer for \p role, or the
/// tensor itself when \p want is plain.
class Staging {
 public:
  enum Role { kSrc, kWeights, kDst, kDiffSrc, kDiffWeights, kRoles };
  Staging() = default;
  Staging(const Device &dev, const Dims &dims, const dnnl::memory::desc &want, Role role);
  /// \p t's values in the wanted layout (reordered now when it is not plain).
  dnnl::memory in(Device &dev, const Tensor &t) const;
  /// Where the primitive writes; out() then leaves the values in \p t.
  dnnl::memory target(Device &dev, Tensor &t) const;
  void out(Device &dev, Tensor &t) const;
  /// As out, but adds the values into \p t (a reorder with a sum post-op: gradient
  /// accumulation without a temporary). Only when the wanted layout is not plain.
  void addOut(Device &dev, Tensor &t) const;
  bool plain() const { return same_; }
  /// Whether \p o stages the same layout in the same buffer (a tensor staged for one primitive
  /// serves the next one without another reorder).
  bool sharesBuffer(const Staging &o) const { return role_ == o.role_ && want_ == o.want_; }
  /// The staging buffer's current contents, as the last in() of this role left them.
  dnnl::memory staged(Device &dev, const Tensor &t) const;

 private:
  dnnl::memory buffer(Device &dev) const;
  dnnl::memory::desc plain_, want_;
  Role role_ = kSrc;
  bool same_ = true;
  dnnl::reorder toWant_, toPlain_, addToPlain_;
};

/// A oneDNN memory viewing \p t's data as plain row-major f32 (no copy).
dnnl::memory viewOf(const Device &dev, const Tensor &t);

/// The element offset idx . \p strides of every index idx of \p dims, in row-major order (with
/// broadcastStrides: where each element of a broadcast or reduction reads or lands).
std::vector<int64_t> elementOffsets(const Dims &dims, const std::vector<int64_t> &strides);

/// The gradients dL/d(slot) of one backward pass over a network's activation slots. A slot reads
/// as zeros until a layer writes it: it is zeroed when first touched, unless the first layer to
/// write it claims it and overwrites all of it (most slots have one reader, so most of a pass's
/// gradients are never zeroed).
class Gradients {
 public:
  void addSlot(const Dims &dims);
  /// Starts a pass: every slot reads as zeros again.
  void reset();
  /// dL/d(slot), zeros unless a layer has written it this pass (to read, or to add into).
  Tensor &operator[](size_t slot) {
    if (!written_.at(slot)) zero(slot);
    return t_[slot];
  }
  /// For a layer about to write all of dL/d(slot): the tensor, and in \p add whether to add into
  /// it (another layer has written it) or overwrite it (nobody has; its contents are stale).
  Tensor &claim(size_t slot, bool &add);
  /// Gives dL/d(slot) the values of \p d (same element count, any dims: a reshape's gradient):
  /// copied in by the first writer, added in by the others.
  void contribute(size_t slot, const Tensor &d);

 private:
  void zero(size_t slot);
  std::vector<Tensor> t_;
  std::vector<uint8_t> written_;
};

/// \p t, allocated with \p dims on first use and kept: a buffer a layer reuses every step
/// (its contents are whatever the last step left).
Tensor &scratch(Tensor &t, const Dims &dims);

/// Adds \p b into \p a elementwise (same dims): gradient accumulation.
void accumulate(Tensor &a, const Tensor &b);
/// a[i] += b[i] for \p n elements, on the threads when many.
void accumulate(float *a, const float *b, int64_t n);

}  // namespace lowbit::train
