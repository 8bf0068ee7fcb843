// Quantization parameters of one tensor (an ir::Value), PPQ-style: a config with a state.
// The float foundation carries them untouched; the quantization passes fill them in.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/DType.h"

namespace lowbit {

struct QuantParams {
  enum class Granularity { PerTensor, PerChannel, PerGroup };
  /// Uniform: x = scale * (q - zeroPoint). PowerOfTwo: scales are 2^k and levels are
  /// +-2^j (shift-add weights, INQ). MidRise: x = scale * q with q odd, 2^bits levels and no
  /// zero (DoReFa's weights). The two non-uniform schemes are weights' only, zero point 0, and
  /// their codes exceed the bits' integer range (kernels/QuantizeRef.h).
  enum class Scheme { Uniform, PowerOfTwo, MidRise };
  /// Unset: being built (never left on a graph: the Verifier refuses it). Calibrated: scale and
  /// zero point known (weights from their values, activations from observed ranges); the
  /// fine-tune may still move them. Frozen: written into Q/DQ nodes or integer codes.
  /// FloatOnly: a layer the user excluded (--exclude); its weight stays float.
  enum class State { Unset, Calibrated, Frozen, FloatOnly };

  Granularity granularity = Granularity::PerTensor;
  Scheme scheme = Scheme::Uniform;
  State state = State::Unset;
  int axis = -1;          ///< channel axis for PerChannel / PerGroup
  int bits = 8;           ///< 2..8
  bool isSigned = true;
  bool narrowRange = false;  ///< signed range [-(2^(b-1)-1), 2^(b-1)-1]
  int groups = 0;         ///< PerGroup: number of groups G
  /// PerTensor: one entry. PerChannel and PerGroup: one entry per channel along `axis` (a
  /// group's channels repeat its scale), which is also how QDQ export writes group-wise.
  std::vector<float> scale;
  std::vector<int32_t> zeroPoint;  ///< same length as scale
  /// PerGroup: the group of each channel (contiguous blocks unless grouped by range).
  std::vector<int32_t> groupOf;
  /// Set: these are the parameters of the activation of this name, one quantizer for both
  /// (PPQ's dominated config; --share-concat-scales): a fine-tune trains them once.
  std::string sharedFrom;

  /// A weight kept in float (--exclude, --max-drop): marked so no later pass quantizes it.
  static QuantParams floatOnly() {
    QuantParams p;
    p.state = State::FloatOnly;
    return p;
  }
  /// Frozen per-tensor parameters of codes of type \p codeType (what one constant scale and
  /// zero point of a QuantizeLinear / DequantizeLinear say): bits and sign are the container's.
  static QuantParams perTensorCodes(float scale, int32_t zeroPoint, DType codeType) {
    QuantParams p;
    p.state = State::Frozen;
    p.bits = static_cast<int>(8 * dtypeSize(codeType));
    p.isSigned = codeType != DType::UInt8 && codeType != DType::UInt16;
    p.scale = {scale};
    p.zeroPoint = {zeroPoint};
    return p;
  }
  /// The ONNX element type of codes with these bits and sign (8-bit codes of fewer bits sit in
  /// [u]int8 containers).
  DType codeType() const {
    if (bits <= 8) return isSigned ? DType::Int8 : DType::UInt8;
    if (bits <= 16) return isSigned ? DType::Int16 : DType::UInt16;
    return DType::Int32;
  }
  /// Every scale finite and above zero (what dividing by it needs).
  bool scalesUsable() const {
    for (float s : scale)
      if (!(s > 0.f) || !std::isfinite(s)) return false;
    return !scale.empty();
  }
  /// Same per-tensor scale, zero point and code type.
  bool samePerTensor(const QuantParams &o) const {
    return scale.size() == 1 && o.scale.size() == 1 && scale == o.scale && zeroPoint == o.zeroPoint &&
           codeType() == o.codeType();
  }
};

}  // namespace lowbit
