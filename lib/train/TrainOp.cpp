#include "train/TrainOp.h"

#include "kernels/TensorCopy.h"

namespace lowbit::train {

dnnl::memory viewOf(const Device &dev, const Tensor &t) {
  LOWBIT_CHECK(t.dtype() == DType::Float32, "training tensors are float32");
  Dims d = t.dims().empty() ? Dims{1} : t.dims();
  dnnl::memory::desc md(d, dnnl::memory::data_type::f32, contiguousStrides(d));
  return dnnl::memory(md, dev.engine, const_cast<void *>(t.raw()));
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

void accumulate(Tensor &a, const Tensor &b) {
  LOWBIT_CHECK(a.dims() == b.dims(), "gradient shapes differ");
  float *x = a.data<float>();
  const float *y = b.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace lowbit::train
