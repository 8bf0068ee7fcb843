// Differentiable ops of the training engine (distillation fine-tune, FGSM input gradients).
// Each op holds the oneDNN primitives for one set of shapes, created once: a forward_training
// primitive and the backward primitives that take it as their hint. Tensors are plain
// row-major float32 (NCHW activations, OIHW / [out, in] weights), so the engine and the IR
// share data without reorders at their boundary.
#pragma once

#include "dnnl/DnnlApi.h"
#include "ir/Tensor.h"

namespace lowbit::train {

/// The CPU engine and stream every op of one training run shares.
struct Device {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

/// A oneDNN memory viewing \p t's data as plain row-major f32 (no copy).
dnnl::memory viewOf(const Device &dev, const Tensor &t);

/// The element offset idx . \p strides of every index idx of \p dims, in row-major order (with
/// broadcastStrides: where each element of a broadcast or reduction reads or lands).
std::vector<int64_t> elementOffsets(const Dims &dims, const std::vector<int64_t> &strides);

/// Adds \p b into \p a elementwise (same dims): gradient accumulation.
void accumulate(Tensor &a, const Tensor &b);

}  // namespace lowbit::train
