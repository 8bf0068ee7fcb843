#include "train/TrainOp.h"

#include "kernels/TensorCopy.h"

namespace lowbit::train {

dnnl::memory viewOf(const Device &dev, const Tensor &t) {
  LOWBIT_CHECK(t.dtype() == DType::Float32, "training tensors are float32");
  Dims d = t.dims().empty() ? Dims{1} : t.dims();
  dnnl::memory::desc md(d, dnnl::memory::data_type::f32, contiguousStrides(d));
  return dnnl::memory(md, dev.engine, const_cast<void *>(t.raw()));
}

void accumulate(Tensor &a, const Tensor &b) {
  LOWBIT_CHECK(a.dims() == b.dims(), "gradient shapes differ");
  float *x = a.data<float>();
  const float *y = b.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace lowbit::train
