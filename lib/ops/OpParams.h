// Op parameters read the same way for every opset (attributes that became inputs, defaults),
// shared by shape inference, constant evaluation and the runners.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "ir/Node.h"
#include "kernels/Normalization.h"

namespace lowbit {

class Graph;

/// Maps a possibly negative \p axis into [0, rank); throws Error naming \p n if out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank, const Node &n);
/// Softmax's and LogSoftmax's axis, normalized: 1 by default before opset 13 (where the op
/// normalizes over that axis and all after it, flattened), -1 from 13.
int64_t softmaxAxis(const Node &n, int64_t rank, int64_t opset);

/// The output-channel axis of a layer's weight (input 1), the axis per-channel scales and
/// folded BatchNorm factors run along: Conv [OC, IC/group, ...] 0; Gemm [N, K] with transB,
/// else [K, N] 1; MatMul [K, N] 1.
int weightOutputAxis(const Node &layer);

/// Integer contents of constant input \p i; nullopt when the input is omitted.
/// Throws Error naming \p n when the input exists but is not constant.
std::optional<std::vector<int64_t>> constIntsInput(const Node &n, size_t i);

/// Numpy-style broadcast of two shapes (unknown dims stay unknown). Throws naming \p n.
Dims broadcastDims(const Dims &a, const Dims &b, const Node &n);

/// Geometry of a Conv or pooling window over the spatial dims.
struct WindowGeometry {
  Dims kernel, strides, dilations, padsBegin, padsEnd, outSpatial;
};
/// Resolves strides, dilations, pads and auto_pad of \p n for input spatial dims \p inSpatial
/// (all known) and kernel \p kernel. \p ceilMode applies pooling's ceil_mode.
WindowGeometry windowGeometry(const Node &n, const Dims &inSpatial, const Dims &kernel,
                              bool ceilMode);

/// ConvTranspose's window: the full result of each spatial axis is s (in - 1) + output_padding +
/// (k - 1) d + 1, of which the output keeps [padsBegin, full - padsEnd) (negative pads: zeros
/// beyond it). From pads, auto_pad or output_shape.
struct TransposedWindow {
  Dims kernel, strides, dilations, padsBegin, padsEnd, outputPadding, outSpatial;
};
TransposedWindow transposedWindow(const Node &n, const Dims &inSpatial, const Dims &kernel);

/// Slice starts and steps per axis (full rank) and the output dims, for constant
/// starts/ends/axes/steps (inputs since opset 10, attributes before).
struct SliceSpec {
  Dims starts, steps, outDims;
};
SliceSpec resolveSlice(const Node &n, int64_t opset, const Dims &inDims);

/// Pad amounts (begin, end per axis), mode and constant value for opsets before and after 11.
struct PadSpec {
  Dims begin, end;
  std::string mode;
  std::optional<double> constant;  ///< from the attribute (opset < 11) or a constant input
};
/// \p needValue false: shapes only, so a constant_value computed from constants (DequantizeLinear
/// of QuantizeLinear of a constant, as ONNX Runtime's quantizer writes it) need not be folded yet.
PadSpec resolvePad(const Node &n, int64_t opset, int64_t rank, bool needValue = true);

/// Axes of Squeeze/Unsqueeze (attribute before opset 13, input after), unnormalized; nullopt
/// if omitted (Squeeze then removes all 1-dims).
std::optional<std::vector<int64_t>> squeezeAxes(const Node &n, int64_t opset);

/// Split sizes along the axis for \p axisDim (equal parts when none are given).
std::vector<int64_t> splitSizes(const Node &n, int64_t opset, int64_t axisDim);

/// Output dims of Reshape for input \p inDims and constant shape \p shape (0 and -1 rules).
Dims reshapeDims(const Node &n, const Dims &inDims, const std::vector<int64_t> &shape);

/// Transpose's permutation, normalized (reversed axes when the attribute is absent).
std::vector<int64_t> transposePerm(const Node &n, int64_t rank);

/// A view of a row-major tensor of some dims as an element offset plus per-axis strides over
/// output dims: what Transpose and Slice read, fed to copyStrided.
struct StridedView {
  int64_t offset = 0;
  std::vector<int64_t> strides;
  Dims dims;
};
StridedView transposeView(const Node &n, const Dims &inDims);
/// The view that reads a tensor of \p inDims with its axes in the order \p perm.
StridedView permutedView(const Dims &inDims, const std::vector<int64_t> &perm);
/// Tile as a strided read: the output, row-major, is the input read over dims (r0, d0, r1, d1,
/// ...) with strides (0, s0, 0, s1, ...). Error naming \p n for repeats that do not fit.
StridedView tileView(const Node &n, const Dims &inDims, const std::vector<int64_t> &repeats);
/// The output dims of a tileView: (r0 d0, r1 d1, ...).
Dims tiledDims(const StridedView &v);
/// \p inStrides: the input buffer's strides per dim (elements); empty means contiguous.
StridedView sliceView(const Node &n, int64_t opset, const Dims &inDims, std::vector<int64_t> inStrides = {});

/// Output dims of Flatten (unknown dims stay unknown).
Dims flattenDims(const Node &n, const Dims &inDims);
/// Output dims of Squeeze / Unsqueeze for \p axes (unnormalized; Squeeze without axes drops
/// every dim of size 1). A known dim other than 1 cannot be squeezed: Error naming \p n.
Dims squeezeDims(const Node &n, const Dims &inDims, const std::optional<std::vector<int64_t>> &axes);
Dims unsqueezeDims(const Node &n, const Dims &inDims, const std::optional<std::vector<int64_t>> &axes);

/// Multiply-accumulates of a Conv, Gemm or MatMul node (or its lowered QConv, CodeConv, QGemm)
/// per run of its output shape (a dynamic leading batch dim counts as 1: per image); 0 for
/// other ops or unknown shapes.
int64_t multiplyAccumulates(const Node &n);

/// True for a DequantizeLinear whose inputs are all constant and whose codes are integers:
/// a quantized weight or bias.
bool isConstantDequantize(const Node &n);

/// Scale, zero point and code type of a QuantizeLinear / DequantizeLinear node whose
/// parameters are one constant each, as frozen per-tensor QuantParams; nullopt if per-axis or
/// computed at run time.
std::optional<QuantParams> perTensorQdqParams(const Node &n);

/// A QuantizeLinear whose codes only DequantizeLinears read (one, or one per consumer as
/// QOperator files expand), so each pair is one fake-quantization step: its per-tensor
/// parameters and those readers.
struct QdqPair {
  QuantParams params;
  std::vector<Node *> readers;
};
/// The pair \p q starts; nullopt if its codes go anywhere else (a graph output, another op).
/// Error naming the node when a scale or zero point is per-axis or computed at run time
/// (\p who says what cannot take it: "the float runner simulates") or a reader's differs from q's.
std::optional<QdqPair> qdqPairOf(const Graph &g, const Node &q, const char *who);

/// True for a Clip whose bounds (inputs since opset 11) are constants or absent.
bool hasConstantClipBounds(const Node &n);

/// The gate of a self-gated activation written as \p mul = x * gate(x), as exporters write
/// h-swish (gate HardSigmoid, alpha 1/6, beta 1/2) and SiLU / swish (gate Sigmoid): that gate
/// node, or null.
Node *selfGate(const Node &mul);

/// When \p y's readers are exactly a gate and a Mul computing y * gate(y), the gate read by
/// the Mul alone and neither a graph output: that Mul (the activation's result), else null.
Node *selfGatedActivation(const Graph &g, const Value *y);

/// Clip bounds: attributes before opset 11, optional constant inputs after.
std::pair<float, float> clipBounds(const Node &n, int64_t opset);

/// True for a Dropout that drops elements: training_mode (a constant input) is true and the
/// ratio (a constant input, default 0.5) is above zero. Any other Dropout is an identity with an
/// all-true mask. Error when training_mode or ratio is computed at run time.
bool dropoutDrops(const Node &n);

/// Whether input \p i of \p n sets the size or coordinates of the result rather than being
/// data (Resize's roi, scales and sizes, Upsample's scales): given as a graph input, it is fixed
/// per plan like a shape.
bool isParameterInput(const Node &n, size_t i);

/// Resize (opset 10+) and Upsample: the output dims and each axis's scale, from `sizes` or
/// `scales` (inputs, or Upsample-7's attribute). nullopt when they are not constants yet.
struct ResizeGeometry {
  Dims out;
  std::vector<double> scales;
  /// The resized length the coordinate transformations divide by: the size, or input length
  /// times scale before flooring (ONNX's reference).
  std::vector<double> lengths;
};
std::optional<ResizeGeometry> resizeGeometry(const Node &n, const Dims &in);

/// Resize / Upsample as ONNX's reference defines them, axis by axis (separable): each output
/// coordinate mapped back to the input by the coordinate transformation, then the nearest
/// element (by nearest_mode) or the linear / cubic coefficients over the nearest 2 / 4 elements
/// of an edge-padded axis; tf_crop_and_resize outside the input reads extrapolation_value.
struct ResizeTaps {
  struct Coordinate {
    std::vector<int64_t> idx;  ///< input indices read
    std::vector<double> w;     ///< and their weights
    bool outside = false;      ///< tf_crop_and_resize beyond the input
  };
  Dims out;
  std::vector<std::vector<Coordinate>> axes;  ///< per axis, per output coordinate
  double extrapolation = 0;
};
/// The taps of \p n (Resize or Upsample) on an input of dims \p in; \p roi is Resize's roi
/// input (read by tf_crop_and_resize only). Error naming \p n for an unknown mode or
/// transformation, or scales and sizes not yet constant.
ResizeTaps resizeTaps(const Node &n, const Dims &in, int64_t opset, const std::vector<double> &roi);
/// Calls \p tap(o, i, w) for every output element o (row-major over taps.out), input element i
/// (row-major over \p in) and weight w of the product of its axes' taps; \p outside(o) for an
/// element whose coordinate lies outside the input on some axis.
void forEachResizeTap(const ResizeTaps &taps, const Dims &in, const std::function<void(int64_t, int64_t, double)> &tap,
                      const std::function<void(int64_t)> &outside);

/// LRN's attributes; error naming \p n when size is missing or not positive.
LrnParams lrnParams(const Node &n);

/// LayerNormalization / InstanceNormalization as rows normalised over \p len elements each:
/// LayerNormalization's rows are X's elements before `axis`, InstanceNormalization's (n, c).
struct RowNormalization {
  int64_t rows = 1, len = 1;
  float eps = 1e-5f;
};
RowNormalization rowNormalization(const Node &n);

/// A Reduce* node on input dims \p in. `axes`: which axes it reduces, from its `axes` attribute
/// (up to opset 17; ReduceSum 12) or constant second input, all axes when none are named, none
/// when none are named and noop_with_empty_axes is set (`none`). `kept`: \p in with the reduced
/// axes 1; `out`: the output dims (keepdims). Error when the axes are computed at run time.
struct Reduction {
  std::vector<bool> axes;
  Dims kept, out;
  bool none = false;
};
Reduction reduction(const Node &n, const Dims &in);

}  // namespace lowbit
