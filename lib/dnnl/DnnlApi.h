// The one place lowbit calls oneDNN API whose form changed between 2.x (Debian 12: 2.6/2.7) and
// 3.x. Runner builders and training ops create every primitive descriptor and set every
// versioned attribute through these functions; memory descriptors, memory objects, streams,
// execution arguments and primitives themselves are the same in both and are used directly.
//
// What differs in 3.x, and what a port of this file must do:
//   - primitive descriptors are built by one constructor taking the engine first (no op::desc);
//     concat and reorder keep their forms but concat takes the engine first;
//   - eltwise and pooling take a destination descriptor; pooling_v2 is pooling;
//   - post_ops::append_eltwise has no leading scale;
//   - output scales are gone: scales are per argument (src, weights, dst), always supplied at
//     run time as memory, and the bias is added after them in f32 units. setOutputScales is the
//     one function whose meaning (dst = scale * (acc + bias)) must be rebuilt from those;
//   - zero points are run-time memory too (set_zero_points_mask);
//   - memory::desc is opaque (no .data struct): the layout queries below use its get_* queries,
//     and a descriptor of another element type is built from the queried layout.
// Only 2.x is available on Debian 12 and so only 2.x is built and tested here; a 3.x build stops
// at the #error below instead of compiling calls whose meaning was never checked.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <optional>
#include <vector>

#if DNNL_VERSION_MAJOR != 2
#error "lowbit speaks the oneDNN 2.x API (Debian 12); port lib/dnnl/DnnlApi.h for this version (see its header)"
#endif

namespace lowbit::dnnlapi {

using Md = dnnl::memory::desc;
using Dims = dnnl::memory::dims;

/// The zero descriptor oneDNN reads as "no bias".
inline Md noBias() { return Md(); }

// ---- memory descriptors ------------------------------------------------------------------

/// \p md with element type \p type, same dims and layout (blocked layouts included).
inline Md withDataType(Md md, dnnl::memory::data_type type) {
  md.data.data_type = static_cast<dnnl_data_type_t>(type);
  return md;
}

/// The stride (elements) of each dim of \p md when element (i0, i1, ...) sits at sum(ik x
/// stride k): strided layouts, and blocked ones whose one inner block spans its whole dim (16
/// channels as nChw16c are nhwc); nullopt for other blocked layouts, padding, offsets and any.
inline std::optional<std::vector<int64_t>> linearStrides(const Md &md) {
  const dnnl_memory_desc_t &d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0 || d.format_desc.blocking.inner_nblks > 1) return std::nullopt;
  for (int i = 0; i < d.ndims; ++i)
    if (d.padded_dims[i] != d.dims[i]) return std::nullopt;
  std::vector<int64_t> strides(d.format_desc.blocking.strides, d.format_desc.blocking.strides + d.ndims);
  if (d.format_desc.blocking.inner_nblks == 1) {
    const int blocked = d.format_desc.blocking.inner_idxs[0];
    if (d.format_desc.blocking.inner_blks[0] != d.dims[blocked]) return std::nullopt;
    strides[blocked] = 1;  // one block: the outer index is always 0
  }
  return strides;
}

/// The strides (elements, one per dim) of \p md when it is a strided layout without inner
/// blocks, padding or offset (nchw, nhwc, any permutation); nullopt for blocked layouts
/// (nChw16c, ...) and format any.
inline std::optional<std::vector<int64_t>> plainStrides(const Md &md) {
  if (md.data.format_kind != dnnl_blocked || md.data.format_desc.blocking.inner_nblks != 0) return std::nullopt;
  return linearStrides(md);
}

// ---- forward primitives -------------------------------------------------------------------

/// Convolution (direct or auto), \p dilates in oneDNN's convention (0 = dense).
inline dnnl::convolution_forward::primitive_desc convolutionForward(
    const dnnl::engine &eng, dnnl::prop_kind prop, dnnl::algorithm alg, const Md &src, const Md &weights,
    const Md &bias, const Md &dst, const Dims &strides, const Dims &dilates, const Dims &padL, const Dims &padR,
    const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  return {dnnl::convolution_forward::desc(prop, alg, src, weights, bias, dst, strides, dilates, padL, padR), attr,
          eng};
}

/// Deconvolution (transposed convolution), \p dilates in oneDNN's convention (0 = dense).
inline dnnl::deconvolution_forward::primitive_desc deconvolutionForward(
    const dnnl::engine &eng, const Md &src, const Md &weights, const Md &bias, const Md &dst, const Dims &strides,
    const Dims &dilates, const Dims &padL, const Dims &padR,
    dnnl::prop_kind prop = dnnl::prop_kind::forward_inference) {
  return {dnnl::deconvolution_forward::desc(prop, dnnl::algorithm::deconvolution_direct, src, weights, bias, dst,
                                            strides, dilates, padL, padR),
          eng};
}

inline dnnl::inner_product_forward::primitive_desc innerProductForward(
    const dnnl::engine &eng, dnnl::prop_kind prop, const Md &src, const Md &weights, const Md &bias, const Md &dst,
    const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  return {dnnl::inner_product_forward::desc(prop, src, weights, bias, dst), attr, eng};
}

/// Matmul; an empty \p bias is none.
inline dnnl::matmul::primitive_desc matmul(const dnnl::engine &eng, const Md &src, const Md &weights, const Md &bias,
                                           const Md &dst, const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  return {bias.is_zero() ? dnnl::matmul::desc(src, weights, dst) : dnnl::matmul::desc(src, weights, bias, dst), attr,
          eng};
}

/// Eltwise in place of shape: the destination has \p src's descriptor.
inline dnnl::eltwise_forward::primitive_desc eltwiseForward(const dnnl::engine &eng, dnnl::prop_kind prop,
                                                            dnnl::algorithm alg, const Md &src, float alpha,
                                                            float beta) {
  return {dnnl::eltwise_forward::desc(prop, alg, src, alpha, beta), eng};
}

/// Pooling with dilations (0 = dense); the kind with workspace for max pooling in training.
using PoolingForward = dnnl::pooling_v2_forward;
using PoolingBackward = dnnl::pooling_v2_backward;
inline PoolingForward::primitive_desc poolingForward(const dnnl::engine &eng, dnnl::prop_kind prop,
                                                     dnnl::algorithm alg, const Md &src, const Md &dst,
                                                     const Dims &strides, const Dims &kernel, const Dims &dilates,
                                                     const Dims &padL, const Dims &padR) {
  return {PoolingForward::desc(prop, alg, src, dst, strides, kernel, dilates, padL, padR), eng};
}

inline dnnl::layer_normalization_forward::primitive_desc layerNormalizationForward(const dnnl::engine &eng,
                                                                                    dnnl::prop_kind prop,
                                                                                    const Md &src, float epsilon,
                                                                                    dnnl::normalization_flags flags) {
  return {dnnl::layer_normalization_forward::desc(prop, src, epsilon, flags), eng};
}

/// LRN across channels: dst = src / (k + alpha / size * sum of src^2 over the centred window)^beta.
inline dnnl::lrn_forward::primitive_desc lrnForward(const dnnl::engine &eng, const Md &src, int64_t size, float alpha,
                                                    float beta, float k) {
  return {dnnl::lrn_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, src,
                                  size, alpha, beta, k),
          eng};
}

inline dnnl::batch_normalization_forward::primitive_desc batchNormalizationForward(const dnnl::engine &eng,
                                                                                    dnnl::prop_kind prop,
                                                                                    const Md &src, float epsilon,
                                                                                    dnnl::normalization_flags flags) {
  return {dnnl::batch_normalization_forward::desc(prop, src, epsilon, flags), eng};
}

inline dnnl::logsoftmax_forward::primitive_desc logSoftmaxForward(const dnnl::engine &eng, dnnl::prop_kind prop,
                                                                  const Md &src, int axis) {
  return {dnnl::logsoftmax_forward::desc(prop, src, axis), eng};
}

inline dnnl::softmax_forward::primitive_desc softmaxForward(const dnnl::engine &eng, dnnl::prop_kind prop,
                                                            const Md &src, int axis) {
  return {dnnl::softmax_forward::desc(prop, src, axis), eng};
}

inline dnnl::reduction::primitive_desc reduction(const dnnl::engine &eng, dnnl::algorithm alg, const Md &src,
                                                 const Md &dst, float p, float epsilon,
                                                 const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  return {dnnl::reduction::desc(alg, src, dst, p, epsilon), attr, eng};
}

inline dnnl::binary::primitive_desc binary(const dnnl::engine &eng, dnnl::algorithm alg, const Md &src0,
                                           const Md &src1, const Md &dst,
                                           const dnnl::primitive_attr &attr = dnnl::primitive_attr()) {
  return {dnnl::binary::desc(alg, src0, src1, dst), attr, eng};
}

/// PReLU: dst = src >= 0 ? src : weights * src, weights broadcast to src (inference).
inline dnnl::prelu_forward::primitive_desc preluForward(const dnnl::engine &eng, const Md &src, const Md &weights) {
  return {dnnl::prelu_forward::desc(dnnl::prop_kind::forward_inference, src, weights), eng};
}

inline dnnl::concat::primitive_desc concat(const dnnl::engine &eng, const Md &dst, int axis,
                                           const std::vector<Md> &srcs) {
  return {dst, axis, srcs, eng};
}

// ---- backward primitives (training), each from its forward_training hint ---------------------

inline dnnl::convolution_backward_data::primitive_desc convolutionBackwardData(
    const dnnl::engine &eng, dnnl::algorithm alg, const Md &diffSrc, const Md &weights, const Md &diffDst,
    const Dims &strides, const Dims &dilates, const Dims &padL, const Dims &padR,
    const dnnl::convolution_forward::primitive_desc &hint) {
  return {dnnl::convolution_backward_data::desc(alg, diffSrc, weights, diffDst, strides, dilates, padL, padR), eng,
          hint};
}

inline dnnl::convolution_backward_weights::primitive_desc convolutionBackwardWeights(
    const dnnl::engine &eng, dnnl::algorithm alg, const Md &src, const Md &diffWeights, const Md &diffBias,
    const Md &diffDst, const Dims &strides, const Dims &dilates, const Dims &padL, const Dims &padR,
    const dnnl::convolution_forward::primitive_desc &hint) {
  return {dnnl::convolution_backward_weights::desc(alg, src, diffWeights, diffBias, diffDst, strides, dilates, padL,
                                                   padR),
          eng, hint};
}

inline dnnl::deconvolution_backward_data::primitive_desc deconvolutionBackwardData(
    const dnnl::engine &eng, const Md &diffSrc, const Md &weights, const Md &diffDst, const Dims &strides,
    const Dims &dilates, const Dims &padL, const Dims &padR, const dnnl::deconvolution_forward::primitive_desc &hint) {
  return {dnnl::deconvolution_backward_data::desc(dnnl::algorithm::deconvolution_direct, diffSrc, weights, diffDst,
                                                  strides, dilates, padL, padR),
          eng, hint};
}

inline dnnl::deconvolution_backward_weights::primitive_desc deconvolutionBackwardWeights(
    const dnnl::engine &eng, const Md &src, const Md &diffWeights, const Md &diffBias, const Md &diffDst,
    const Dims &strides, const Dims &dilates, const Dims &padL, const Dims &padR,
    const dnnl::deconvolution_forward::primitive_desc &hint) {
  return {dnnl::deconvolution_backward_weights::desc(dnnl::algorithm::deconvolution_direct, src, diffWeights, diffBias,
                                                     diffDst, strides, dilates, padL, padR),
          eng, hint};
}

inline dnnl::inner_product_backward_data::primitive_desc innerProductBackwardData(
    const dnnl::engine &eng, const Md &diffSrc, const Md &weights, const Md &diffDst,
    const dnnl::inner_product_forward::primitive_desc &hint) {
  return {dnnl::inner_product_backward_data::desc(diffSrc, weights, diffDst), eng, hint};
}

inline dnnl::inner_product_backward_weights::primitive_desc innerProductBackwardWeights(
    const dnnl::engine &eng, const Md &src, const Md &diffWeights, const Md &diffBias, const Md &diffDst,
    const dnnl::inner_product_forward::primitive_desc &hint) {
  return {dnnl::inner_product_backward_weights::desc(src, diffWeights, diffBias, diffDst), eng, hint};
}

inline dnnl::eltwise_backward::primitive_desc eltwiseBackward(const dnnl::engine &eng, dnnl::algorithm alg,
                                                              const Md &diffDst, const Md &src, float alpha,
                                                              float beta,
                                                              const dnnl::eltwise_forward::primitive_desc &hint) {
  return {dnnl::eltwise_backward::desc(alg, diffDst, src, alpha, beta), eng, hint};
}

inline PoolingBackward::primitive_desc poolingBackward(const dnnl::engine &eng, dnnl::algorithm alg,
                                                       const Md &diffSrc, const Md &diffDst, const Dims &strides,
                                                       const Dims &kernel, const Dims &dilates, const Dims &padL,
                                                       const Dims &padR, const PoolingForward::primitive_desc &hint) {
  return {PoolingBackward::desc(alg, diffSrc, diffDst, strides, kernel, dilates, padL, padR), eng, hint};
}

// ---- attributes --------------------------------------------------------------------------

/// dst = \p scales * (accumulator + bias) before post-ops; \p mask 0: one scale, 1 << 1: one
/// per output channel. Static: a new scale needs a new primitive (the cache makes it cheap).
inline void setOutputScales(dnnl::primitive_attr &attr, int mask, const std::vector<float> &scales) {
  attr.set_output_scales(mask, scales);
}

/// One static zero point for argument \p arg (DNNL_ARG_SRC or DNNL_ARG_DST).
inline void setZeroPoint(dnnl::primitive_attr &attr, int arg, int32_t zeroPoint) {
  attr.set_zero_points(arg, 0, {zeroPoint});
}

/// Appends eltwise \p alg(alpha, beta) to \p po.
inline void appendEltwise(dnnl::post_ops &po, dnnl::algorithm alg, float alpha, float beta) {
  po.append_eltwise(1.f, alg, alpha, beta);
}

/// A float depthwise convolution post-op (a kernel x kernel window, \p stride, \p padL zeros
/// before each spatial axis; oneDNN infers the end pads from the output size). Its weights and
/// bias are execution arguments DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS / BIAS. 3.x drops
/// the trailing mask and scales.
inline void appendDepthwise(dnnl::post_ops &po, int64_t kernel, int64_t stride, int64_t padL) {
  const auto f32 = dnnl::memory::data_type::f32;
  po.append_dw(f32, f32, f32, kernel, stride, padL, 0, {});
}

/// Attributes holding one eltwise post-op \p alg(alpha, beta).
inline dnnl::primitive_attr eltwiseAttr(dnnl::algorithm alg, float alpha = 0.f, float beta = 0.f) {
  dnnl::post_ops po;
  appendEltwise(po, alg, alpha, beta);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  return attr;
}

}  // namespace lowbit::dnnlapi
