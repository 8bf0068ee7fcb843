// The training engine's gradient table and what its entries build with. Each trainable op has
// one builder (GradientTable.cpp lists them all) that turns a node of the shape-specialised
// graph into a Layer: a forward over activation slots and a backward that accumulates into the
// gradients of its input slots and parameters. Internal to lib/train.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "train/FakeQuantOp.h"
#include "train/Network.h"

namespace lowbit::train {

/// One op of the network. Slots are plain row-major float32 tensors with the IR value's dims.
class Layer {
 public:
  virtual ~Layer() = default;
  virtual void forward(std::vector<Tensor> &v) = 0;
  /// Adds into g[input slots] and parameter gradients; g[output slots] hold dL/dy. A layer that
  /// computes all of an input's gradient at once claims the slot (Gradients::claim) and writes
  /// it when no other reader has, instead of adding into a zeroed one.
  virtual void backward(std::vector<Tensor> &v, Gradients &g) = 0;

  /// Whether backward must compute the gradients of weights and biases (not when only the
  /// input's is wanted: attacks). Layers whose parameter gradients cost real work ask.
  bool wantsParameterGradients() const { return !paramGrads_ || *paramGrads_; }
  void bindParameterGradients(const bool *flag) { paramGrads_ = flag; }

 private:
  const bool *paramGrads_ = nullptr;
};

/// A constant weight as a parameter, fake-quantized with a learnable step (LSQ) when its value
/// carries QuantParams.
struct QuantizedWeight {
  Param *weight = nullptr, *step = nullptr;
  std::unique_ptr<FakeQuantOp> fq;
  std::vector<int32_t> groupOf;  // group-wise: channels of a group share (and train) one step
  Tensor quantized;              // forward's fake-quantized copy
  Tensor transformed, gain;      // weight->derive (DoReFa): the last forward's transform and its slope

  /// The weights as the layer uses them (fake-quantized if quantized).
  const Tensor &forward();
  /// \p dw: gradient with respect to the weights as used in forward.
  void backward(const Tensor &dw);
};

/// The network under construction, as a builder sees it.
class NetworkBuilder {
 public:
  NetworkBuilder(Network &net, const Graph &g, ActivationQuantizer activations, WeightQuantizer weights);
  void build();

  Device &device();
  int64_t opset() const { return g_.opset; }
  const Graph &graph() const { return g_; }
  /// The slot holding float value \p v as readers see it (after its fake quantization, if
  /// any); a constant gets a slot of its own, filled once. Error naming \p n otherwise.
  size_t input(const Node &n, const Value *v);
  /// A new slot for output \p v of \p n, with v's static dims.
  size_t output(const Node &n, const Value *v);
  /// Makes \p v read slot \p slot (a value equal to another, e.g. a second reader's
  /// DequantizeLinear of the same codes).
  void alias(const Value *v, size_t slot) { slots_[v] = slot; }
  /// Whether \p v has a slot already.
  bool defined(const Value *v) const { return slots_.count(v) > 0; }
  /// Dims of a slot (a copy: adding slots moves the tensors).
  Dims dims(size_t slot) const;
  /// A trainable copy of constant \p v (one parameter per value, however many nodes read it).
  Param *param(const Value *v, Param::Kind kind);
  /// Constant weight \p w of \p n with output channels on \p axis, fake-quantized as its
  /// QuantParams say.
  QuantizedWeight weight(const Node &n, const Value *w, int axis);
  void add(std::unique_ptr<Layer> layer);

 private:
  Param *newParam(const std::string &name, Tensor value, Param::Kind kind);
  size_t newSlot(const std::string &name, const Dims &dims);
  void maybeQuantizeActivation(const Value *v);

  Network &net_;
  const Graph &g_;
  ActivationQuantizer activations_;
  WeightQuantizer weights_;
  std::map<const Value *, size_t> slots_, quantized_;
  std::map<std::string, Param *> paramsByName_;
  std::map<const Value *, Param *> activationSteps_;  // each fake-quantized activation's step
};

/// Builds the layer(s) for one node.
using LayerBuildFn = void (*)(NetworkBuilder &b, const Node &n);

struct TrainableOp {
  const char *opType;
  LayerBuildFn build;
};
/// The gradient table: every op the training engine differentiates, sorted by name.
const std::vector<TrainableOp> &trainableOps();
/// The table's entry for \p opType, or null.
const TrainableOp *findTrainableOp(const std::string &opType);

// Builders, one per family of ops (each file holds the layers it builds).
void buildConv(NetworkBuilder &b, const Node &n);  // LinearLayers.cpp
void buildConvTranspose(NetworkBuilder &b, const Node &n);
void buildGemm(NetworkBuilder &b, const Node &n);
void buildMatMul(NetworkBuilder &b, const Node &n);
void buildActivation(NetworkBuilder &b, const Node &n);  // ElementwiseLayers.cpp: Relu, Clip
void buildUnary(NetworkBuilder &b, const Node &n);       // Sigmoid, HardSigmoid, HardSwish
void buildBinary(NetworkBuilder &b, const Node &n);      // Add, Sub, Mul, Div (broadcasting)
void buildVariadic(NetworkBuilder &b, const Node &n);    // Sum, Mean, Max, Min
void buildWhere(NetworkBuilder &b, const Node &n);       // a constant condition
void buildBatchNorm(NetworkBuilder &b, const Node &n);
void buildLrn(NetworkBuilder &b, const Node &n);               // NormLayers.cpp
void buildRowNormalization(NetworkBuilder &b, const Node &n);  // LayerNormalization, InstanceNormalization
void buildView(NetworkBuilder &b, const Node &n);
void buildRepeat(NetworkBuilder &b, const Node &n);  // Expand, Tile  // MovementLayers.cpp: reshapes, Identity
void buildTranspose(NetworkBuilder &b, const Node &n);
void buildSlice(NetworkBuilder &b, const Node &n);
void buildSplit(NetworkBuilder &b, const Node &n);
void buildConcat(NetworkBuilder &b, const Node &n);
void buildPad(NetworkBuilder &b, const Node &n);
void buildResize(NetworkBuilder &b, const Node &n);  // Resize, Upsample
void buildPool(NetworkBuilder &b, const Node &n);  // ReduceLayers.cpp: pools
void buildReduce(NetworkBuilder &b, const Node &n);  // ReduceMean, ReduceSum, ReduceMax, ...
void buildSoftmax(NetworkBuilder &b, const Node &n);
void buildQuantize(NetworkBuilder &b, const Node &n);    // QuantizeLayers.cpp: Q->DQ pairs
void buildDequantize(NetworkBuilder &b, const Node &n);

}  // namespace lowbit::train
