// A differentiable copy of a prepared graph, specialised to one input shape as the runner
// specialises it: forward keeps every activation, backward gives gradients for the weights,
// biases, BatchNorm affines and quantizer step sizes (parameters) and for the input image.
// Weights and activations that carry QuantParams are fake-quantized with learnable steps (LSQ)
// or clips (PACT), so the distillation fine-tune and adversarial attacks on the quantized model
// run on the same engine.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "train/TrainOp.h"

namespace lowbit::train {

/// A trainable tensor and its gradient (same dims), named after the IR value it came from
/// ("<value>.step" for quantizer steps, "<value>.alpha" for PACT clips).
struct Param {
  std::string name;
  Tensor value, grad;
  /// Step: a quantizer step size (LSQ). Clip: PACT's clip bound alpha, a step of alpha * stepPerUnit.
  enum class Kind { Weight, Bias, Step, Clip } kind = Kind::Weight;
  float stepPerUnit = 1.f;
  /// A weight whose quantizer transforms it (DoReFa): the values and the step written back are
  /// derive(value) (the step into derivedStep), not the raw parameter; \p gain, if given,
  /// receives d out / d value elementwise.
  std::function<void(const Tensor &value, Tensor &out, Tensor &step, Tensor *gain)> derive;
  Param *derivedStep = nullptr;
  /// WeightQuantizer::Inq: the weight's power-of-two parameters (levels and scales, fixed), and
  /// which elements are frozen at their level (the optimiser leaves them; empty: none).
  std::optional<QuantParams> inq;
  std::vector<uint8_t> frozen;
};

/// How activations are fake-quantized in training. Lsq: a learnable step, whose gradient (LSQ)
/// comes from every element. Pact: unsigned (post-ReLU) activations are clipped at a learnable
/// alpha and quantized on [0, alpha]; alpha's gradient comes only from the clipped elements
/// (Choi et al.). PACT is defined for unsigned ranges: signed activations keep LSQ steps.
/// Dorefa: the calibrated range is kept as a fixed clip and quantized uniformly, nothing learned
/// (DoReFa's clipped activations, its [0, 1] clip standing for the calibrated one).
enum class ActivationQuantizer { Lsq, Pact, Dorefa };
ActivationQuantizer parseActivationQuantizer(const std::string &name);  ///< lsq | pact | dorefa
const char *activationQuantizerName(ActivationQuantizer q);

/// How weights are fake-quantized in training. Lsq: the weight's levels (uniform, power-of-two
/// or mid-rise), learnable steps. Dorefa (Zhou et al.): tanh(w), divided by its largest
/// magnitude over the weights sharing a scale (a channel, group or tensor), on the weight's
/// levels, times the scale that fits those levels to the weights by least squares (standing for
/// the folded BatchNormalization); the step is that scale over the largest code, not learned. DoReFa's own levels are mid-rise (--weight-scheme midrise, which --weight-quantizer
/// dorefa implies): 2^b odd codes with no zero, {-1, -1/3, 1/3, 1} x alpha at 2 bits; QDQ holds
/// them as odd int8 codes with zero point 0.
/// Inq (incremental network quantization, Zhou et al.): power-of-two weights train in float,
/// not fake-quantized; the fine-tune freezes them at their levels part by part (Param::frozen).
enum class WeightQuantizer { Lsq, Dorefa, Inq };
WeightQuantizer parseWeightQuantizer(const std::string &name);  ///< lsq | dorefa (inq: the inq fine-tune sets it)
const char *weightQuantizerName(WeightQuantizer q);

class Layer;
class NetworkBuilder;

/// True if the training engine has a gradient for \p opType (default domain).
bool isTrainableOp(const std::string &opType);

/// Makes \p g's first output the classifier's logits when it is a final Softmax or LogSoftmax
/// over the classes (Keras and many zoo files end so): losses on logits (the distillation's softened KL,
/// the attacks' cross-entropy) would otherwise see a second softmax. \returns the op left out,
/// or "" when there was none.
std::string exposeLogits(Graph &g);

/// A gradient to add at an intermediate activation of the last forward (a feature-matching
/// loss on a block output, say): \p grad has the activation's dims.
struct ActivationGrad {
  std::string name;
  const Tensor *grad;
};

class Network {
 public:
  /// Builds the layers for inputs of dims \p inputDims from \p g specialised to them
  /// (specializedClone: the graph the runner plans, shape chains folded), one layer per node of
  /// an op in the gradient table (isTrainableOp). Throws Error naming the node otherwise.
  /// One graph input, one graph output.
  Network(const Graph &g, const Dims &inputDims, ActivationQuantizer activations = ActivationQuantizer::Lsq,
          WeightQuantizer weights = WeightQuantizer::Lsq);
  ~Network();
  Network(const Network &) = delete;
  Network &operator=(const Network &) = delete;

  /// Runs the model; the returned output stays valid until the next forward.
  const Tensor &forward(const Tensor &input);
  /// Back-propagates \p dOutput (dims of the output), plus the gradients \p extra seeds at
  /// intermediate activations, through the last forward. Parameter gradients accumulate
  /// (zeroGrad() clears them); the input gradient is overwritten and returned.
  const Tensor &backward(const Tensor &dOutput, const std::vector<ActivationGrad> &extra = {});
  void zeroGrad();
  /// Whether backward computes weight and bias gradients (default true). Off when only the
  /// input gradient is wanted (attacks): convolution and inner-product layers skip their
  /// weight-gradient primitives and leave those gradients as they were.
  void setParameterGradients(bool on) { paramGrads_ = on; }

  std::vector<Param *> params();
  /// Whether the network computes an activation for IR value \p name.
  bool hasActivation(const std::string &name) const;
  /// The activation computed for IR value \p name in the last forward (Error if none).
  const Tensor &activation(const std::string &name) const;

 private:
  Device dev_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::unique_ptr<Param>> params_;
  std::vector<Tensor> values_;  // per slot
  Gradients grads_;
  std::vector<std::string> slotNames_;
  size_t inputSlot_ = 0, outputSlot_ = 0;
  bool paramGrads_ = true;
  size_t slotOf(const std::string &name) const;
  friend class NetworkBuilder;
};

}  // namespace lowbit::train
