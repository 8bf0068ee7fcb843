// The op table (OpTable.h): one row per op. Columns: shape rule (ShapeInference.cpp),
// reference evaluation (Evaluate.cpp: constant folding, 8-bit data), float-runner builder
// (lib/runtime), int8 role (LowerToInteger), training-layer builder (lib/train).
#include "ops/OpTable.h"

#include <algorithm>

#include "ops/ShapeInference.h"
#include "runtime/NodeBuilders.h"
#include "train/Layer.h"

namespace lowbit {

namespace {
constexpr bool kEval = true, kNoEval = false;
constexpr Int8Role kNone = Int8Role::None, kInteger = Int8Role::Integer, kCodes = Int8Role::CodesPassThrough;
}  // namespace

const std::vector<OpInfo> &opTable() {
  using namespace shapes;
  // Shape-only ops (Shape, ConstantOfShape, Gather of shapes) have no runner or training
  // builder: the runner specialises the graph to its input shapes and folds them first.
  static const std::vector<OpInfo> table = [] {
    std::vector<OpInfo> t = {
        // op                   shapes                    evaluate  float runner       int8      training layer
        {"Add",                 inferElementwiseBinary,  kEval,   buildBinary,       kInteger, train::buildBinary},
        {"AveragePool",         inferPool,               kNoEval, buildPool,         kNone,    train::buildPool},
        {"BatchNormalization",  inferBatchNormalization, kNoEval, buildBatchNorm,    kNone,    train::buildBatchNorm},
        {"Cast",                inferSameShape,          kEval,   buildAlias,        kNone,    train::buildView},
        {"Clip",                inferSameShape,          kEval,   buildEltwise,      kInteger, train::buildActivation},
        {"Concat",              inferConcat,             kEval,   buildConcat,       kNone,    train::buildConcat},
        {"Constant",            nullptr,                 kNoEval, nullptr,           kNone,    nullptr},
        {"ConstantOfShape",     inferConstantOfShape,    kEval,   nullptr,           kNone,    nullptr},
        {"Conv",                inferConv,               kNoEval, buildConv,         kInteger, train::buildConv},
        {"DequantizeLinear",    inferQuantizeDequantize, kEval,   buildEvaluated,    kInteger, nullptr},
        {"Div",                 inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Dropout",             inferDropout,            kEval,   buildAlias,        kNone,    train::buildView},
        {"Flatten",             inferFlatten,            kEval,   buildAlias,        kCodes,   train::buildView},
        {"Gather",              inferGather,             kEval,   buildDataMovement, kNone,    nullptr},
        {"Gemm",                inferGemm,               kNoEval, buildGemm,         kInteger, train::buildGemm},
        {"GlobalAveragePool",   inferGlobalAveragePool,  kNoEval, buildPool,         kNone,    train::buildPool},
        {"HardSigmoid",         inferSameShape,          kNoEval, buildEltwise,      kNone,    train::buildUnary},
        {"HardSwish",           inferSameShape,          kNoEval, buildEltwise,      kNone,    train::buildUnary},
        {"Identity",            inferSameShape,          kEval,   buildAlias,        kNone,    train::buildView},
        {"MatMul",              inferMatMul,             kNoEval, buildMatMul,       kNone,    train::buildMatMul},
        {"MaxPool",             inferPool,               kNoEval, buildPool,         kCodes,   train::buildPool},
        {"Mul",                 inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Pad",                 inferPad,                kEval,   buildDataMovement, kCodes,   train::buildPad},
        {"QuantizeLinear",      inferQuantizeDequantize, kEval,   buildQuantize,     kInteger, nullptr},
        {"ReduceMean",          inferReduceMean,         kNoEval, buildReduceMean,   kNone,    train::buildReduceMean},
        {"Relu",                inferSameShape,          kEval,   buildEltwise,      kInteger, train::buildActivation},
        {"Reshape",             inferReshape,            kEval,   buildAlias,        kCodes,   train::buildView},
        {"Shape",               inferShape,              kEval,   nullptr,           kNone,    nullptr},
        {"Sigmoid",             inferSameShape,          kNoEval, buildEltwise,      kNone,    train::buildUnary},
        {"Slice",               inferSlice,              kEval,   buildDataMovement, kCodes,   train::buildSlice},
        {"Softmax",             inferSoftmax,            kNoEval, buildSoftmax,      kNone,    train::buildSoftmax},
        {"Split",               inferSplit,              kEval,   buildDataMovement, kNone,    train::buildSplit},
        {"Squeeze",             inferUnsqueezeSqueeze,   kEval,   buildAlias,        kCodes,   train::buildView},
        {"Sub",                 inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Transpose",           inferTranspose,          kEval,   buildDataMovement, kCodes,   train::buildTranspose},
        {"Unsqueeze",           inferUnsqueezeSqueeze,   kEval,   buildAlias,        kCodes,   train::buildView},
    };
    std::sort(t.begin(), t.end(), [](const OpInfo &a, const OpInfo &b) { return std::string(a.opType) < b.opType; });
    return t;
  }();
  return table;
}

const OpInfo *findOp(const std::string &opType) {
  const std::vector<OpInfo> &t = opTable();
  auto it = std::lower_bound(t.begin(), t.end(), opType, [](const OpInfo &e, const std::string &op) { return e.opType < op; });
  return it != t.end() && opType == it->opType ? &*it : nullptr;
}

}  // namespace lowbit
