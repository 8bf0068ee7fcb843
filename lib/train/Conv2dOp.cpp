#include "train/Conv2dOp.h"

#include "kernels/TensorCopy.h"

namespace lowbit::train {

namespace {
using dt = dnnl::memory::data_type;

dnnl::memory::desc plain(const Dims &d) { return dnnl::memory::desc(d, dt::f32, contiguousStrides(d)); }
dnnl::memory::desc any(const Dims &d) { return dnnl::memory::desc(d, dt::f32, dnnl::memory::format_tag::any); }

dnnl::memory as(const Device &dev, const dnnl::memory::desc &md, const Tensor &t) {
  return dnnl::memory(md, dev.engine, const_cast<void *>(t.raw()));
}
}  // namespace

Conv2dOp::Conv2dOp(Device &dev, const Dims &xDims, const Dims &wDims, const Dims &yDims, bool bias,
                   const ConvGeometry &g)
    : dev_(dev), wDims_(wDims), bias_(bias) {
  if (g.groups > 1) {
    wDims_[0] = wDims[0] / g.groups;
    wDims_.insert(wDims_.begin(), g.groups);
  }
  Dims dil = g.dilations;
  for (int64_t &d : dil) d -= 1;
  const dnnl::memory::desc x = any(xDims), w = any(wDims_), y = any(yDims);
  const dnnl::memory::desc b = bias ? plain({wDims[0]}) : dnnl::memory::desc();
  const auto alg = dnnl::algorithm::convolution_direct;
  fwd_ = dnnlapi::convolutionForward(dev.engine, dnnl::prop_kind::forward_training, alg, x, w, b, y, g.strides, dil,
                                     g.padsBegin, g.padsEnd);
  bwdData_ = dnnlapi::convolutionBackwardData(dev.engine, alg, x, w, y, g.strides, dil, g.padsBegin, g.padsEnd, fwd_);
  bwdWeights_ =
      dnnlapi::convolutionBackwardWeights(dev.engine, alg, x, w, b, y, g.strides, dil, g.padsBegin, g.padsEnd, fwd_);
  using R = Staging::Role;
  fwdX_ = Staging(dev, xDims, fwd_.src_desc(), R::kSrc);
  fwdW_ = Staging(dev, wDims_, fwd_.weights_desc(), R::kWeights);
  fwdY_ = Staging(dev, yDims, fwd_.dst_desc(), R::kDst);
  dataDy_ = Staging(dev, yDims, bwdData_.diff_dst_desc(), R::kDst);
  dataW_ = Staging(dev, wDims_, bwdData_.weights_desc(), R::kWeights);
  dataDx_ = Staging(dev, xDims, bwdData_.diff_src_desc(), R::kDiffSrc);
  weightsX_ = Staging(dev, xDims, bwdWeights_.src_desc(), R::kSrc);
  weightsDy_ = Staging(dev, yDims, bwdWeights_.diff_dst_desc(), R::kDst);
  weightsDw_ = Staging(dev, wDims_, bwdWeights_.diff_weights_desc(), R::kDiffWeights);
}

void Conv2dOp::forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y) {
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, fwdX_.in(dev_, x)},
                                                {DNNL_ARG_WEIGHTS, fwdW_.in(dev_, w)},
                                                {DNNL_ARG_DST, fwdY_.target(dev_, y)}};
  if (bias_) args[DNNL_ARG_BIAS] = viewOf(dev_, *b);
  dnnl::convolution_forward(fwd_).execute(dev_.stream, args);
  fwdY_.out(dev_, y);
  dev_.stream.wait();
}

void Conv2dOp::backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db,
                        bool addToDx) {
  if (dx) {
    // Added in by the reorder out of oneDNN's layout, or through a scratch tensor when plain.
    Tensor &target = addToDx && dataDx_.plain() ? scratch(dxScratch_, dx->dims()) : *dx;
    dnnl::convolution_backward_data(bwdData_).execute(
        dev_.stream, {{DNNL_ARG_DIFF_DST, dataDy_.in(dev_, dy)},
                      {DNNL_ARG_WEIGHTS, dataW_.in(dev_, w)},
                      {DNNL_ARG_DIFF_SRC, dataDx_.target(dev_, target)}});
    if (!addToDx) {
      dataDx_.out(dev_, *dx);
    } else if (!dataDx_.plain()) {
      dataDx_.addOut(dev_, *dx);
    } else {
      dev_.stream.wait();
      accumulate(*dx, target);
    }
  }
  if (dw) {
    // dL/dy staged for backward_data serves here too when both want the same layout.
    const dnnl::memory dyStaged = dx && weightsDy_.sharesBuffer(dataDy_) ? weightsDy_.staged(dev_, dy)
                                                                          : weightsDy_.in(dev_, dy);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, weightsX_.in(dev_, x)},
                                                  {DNNL_ARG_DIFF_DST, dyStaged},
                                                  {DNNL_ARG_DIFF_WEIGHTS, weightsDw_.target(dev_, *dw)}};
    Tensor scratchBias;
    if (bias_) {
      if (!db) scratchBias = Tensor(DType::Float32, {wDims_.size() == 5 ? wDims_[0] * wDims_[1] : wDims_[0]});
      args[DNNL_ARG_DIFF_BIAS] = viewOf(dev_, db ? *db : scratchBias);
    }
    dnnl::convolution_backward_weights(bwdWeights_).execute(dev_.stream, args);
    weightsDw_.out(dev_, *dw);
  }
  dev_.stream.wait();
}

Deconv2dOp::Deconv2dOp(Device &dev, const Dims &xDims, const Dims &wDims, const Dims &yDims, bool bias,
                       const ConvGeometry &g)
    : dev_(dev), wDims_(wDims), groups_(g.groups), bias_(bias) {
  const int64_t taps = wDims[2] * wDims[3], outPerGroup = wDims[1], inPerGroup = wDims[0] / g.groups;
  dnnlDims_ = g.groups == 1 ? Dims{outPerGroup, inPerGroup} : Dims{g.groups, outPerGroup, inPerGroup};
  onnxStrides_ = g.groups == 1 ? std::vector<int64_t>{taps, outPerGroup * taps}
                               : std::vector<int64_t>{inPerGroup * outPerGroup * taps, taps, outPerGroup * taps};
  dnnlDims_.push_back(wDims[2]);
  dnnlDims_.push_back(wDims[3]);
  onnxStrides_.push_back(wDims[3]);
  onnxStrides_.push_back(1);
  wDnnl_ = Tensor(DType::Float32, dnnlDims_);
  Dims dil = g.dilations;
  for (int64_t &d : dil) d -= 1;
  const dnnl::memory::desc x = plain(xDims), w = plain(dnnlDims_), y = plain(yDims);
  const dnnl::memory::desc b = bias ? plain({yDims[1]}) : dnnl::memory::desc();
  fwd_ = dnnlapi::deconvolutionForward(dev.engine, x, w, b, y, g.strides, dil, g.padsBegin, g.padsEnd,
                                       dnnl::prop_kind::forward_training);
  bwdData_ = dnnlapi::deconvolutionBackwardData(dev.engine, x, w, y, g.strides, dil, g.padsBegin, g.padsEnd, fwd_);
  bwdWeights_ =
      dnnlapi::deconvolutionBackwardWeights(dev.engine, x, w, b, y, g.strides, dil, g.padsBegin, g.padsEnd, fwd_);
}

void Deconv2dOp::toDnnl(const Tensor &w) {
  copyStrided(w.raw(), 0, onnxStrides_, wDnnl_.raw(), 0, contiguousStrides(dnnlDims_), dnnlDims_, sizeof(float));
}

void Deconv2dOp::forward(const Tensor &x, const Tensor &w, const Tensor *b, Tensor &y) {
  toDnnl(w);
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, viewOf(dev_, x)},
                                                {DNNL_ARG_WEIGHTS, as(dev_, fwd_.weights_desc(), wDnnl_)},
                                                {DNNL_ARG_DST, viewOf(dev_, y)}};
  if (bias_) args[DNNL_ARG_BIAS] = viewOf(dev_, *b);
  dnnl::deconvolution_forward(fwd_).execute(dev_.stream, args);
  dev_.stream.wait();
}

void Deconv2dOp::backward(const Tensor &x, const Tensor &w, const Tensor &dy, Tensor *dx, Tensor *dw, Tensor *db,
                          bool addToDx) {
  toDnnl(w);
  if (dx) {
    Tensor &target = addToDx ? scratch(dxScratch_, dx->dims()) : *dx;
    dnnl::deconvolution_backward_data(bwdData_).execute(
        dev_.stream, {{DNNL_ARG_DIFF_DST, viewOf(dev_, dy)},
                      {DNNL_ARG_WEIGHTS, as(dev_, bwdData_.weights_desc(), wDnnl_)},
                      {DNNL_ARG_DIFF_SRC, viewOf(dev_, target)}});
    dev_.stream.wait();
    if (addToDx) accumulate(*dx, target);
  }
  if (dw) {
    Tensor &dwDnnl = scratch(dwDnnl_, dnnlDims_);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, viewOf(dev_, x)},
                                                  {DNNL_ARG_DIFF_DST, viewOf(dev_, dy)},
                                                  {DNNL_ARG_DIFF_WEIGHTS, as(dev_, bwdWeights_.diff_weights_desc(), dwDnnl)}};
    Tensor scratchBias;
    if (bias_) {
      if (!db) scratchBias = Tensor(DType::Float32, {dy.dims()[1]});
      args[DNNL_ARG_DIFF_BIAS] = viewOf(dev_, db ? *db : scratchBias);
    }
    dnnl::deconvolution_backward_weights(bwdWeights_).execute(dev_.stream, args);
    dev_.stream.wait();
    // Back into ONNX's layout: the inverse of toDnnl's strided read.
    copyStrided(dwDnnl.raw(), 0, contiguousStrides(dnnlDims_), dw->raw(), 0, onnxStrides_, dnnlDims_, sizeof(float));
  }
  dev_.stream.wait();
}

}  // namespace lowbit::train
