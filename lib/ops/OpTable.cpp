// The op table (OpTable.h): one row per op. Columns: the oldest opset whose definition lowbit
// reads (older ones had legacy attributes), shape rule (ShapeInference.cpp),
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
        // op               min opset  shapes                    evaluate  float runner       int8      training layer
        {"Abs",                  6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Add",                  7, inferElementwiseBinary,  kEval,   buildBinary,       kInteger, train::buildBinary},
        {"And",                  7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"ArgMax",               1, inferArgExtreme,         kEval,   buildEvaluated,    kNone,    nullptr},
        {"ArgMin",               1, inferArgExtreme,         kEval,   buildEvaluated,    kNone,    nullptr},
        {"AveragePool",          1, inferPool,               kNoEval, buildPool,         kNone,    train::buildPool},
        {"BatchNormalization",   7, inferBatchNormalization, kNoEval, buildBatchNorm,    kNone,    train::buildBatchNorm},
        {"Cast",                 9, inferSameShape,          kEval,   buildAlias,        kNone,    train::buildView},
        {"Clip",                 6, inferSameShape,          kEval,   buildEltwise,      kInteger, train::buildActivation},
        {"Concat",               4, inferConcat,             kEval,   buildConcat,       kNone,    train::buildConcat},
        {"Constant",             1, nullptr,                 kNoEval, nullptr,           kNone,    nullptr},
        {"ConstantOfShape",      1, inferConstantOfShape,    kEval,   nullptr,           kNone,    nullptr},
        {"Conv",                 1, inferConv,               kNoEval, buildConv,         kInteger, train::buildConv},
        {"ConvTranspose",        1, inferConvTranspose,      kNoEval, buildConvTranspose, kNone,    train::buildConvTranspose},
        {"DequantizeLinear",    10, inferQuantizeDequantize, kEval,   buildEvaluated,    kInteger, train::buildDequantize},
        {"Div",                  7, inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Dropout",              7, inferDropout,            kEval,   buildAlias,        kNone,    train::buildView},
        {"DynamicQuantizeLinear",11, inferDynamicQuantizeLinear, kEval, buildEvaluated,  kNone,    nullptr},
        {"Elu",                  6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Equal",                7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"Erf",                  9, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Exp",                  6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Expand",               8, inferExpandTile,         kEval,   buildEvaluated,    kNone,    train::buildRepeat},
        {"Flatten",              1, inferFlatten,            kEval,   buildAlias,        kCodes,   train::buildView},
        {"Gather",               1, inferGather,             kEval,   buildDataMovement, kNone,    nullptr},
        {"GatherElements",      11, inferGatherElements,     kEval,   buildEvaluated,    kNone,    nullptr},
        {"GatherND",            11, inferGatherND,           kEval,   buildEvaluated,    kNone,    nullptr},
        {"Gemm",                 7, inferGemm,               kNoEval, buildGemm,         kInteger, train::buildGemm},
        {"GlobalAveragePool",    1, inferGlobalAveragePool,  kNoEval, buildPool,         kNone,    train::buildPool},
        {"Greater",              7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"GreaterOrEqual",      12, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"HardSigmoid",          1, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"HardSwish",            1, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Identity",             1, inferSameShape,          kEval,   buildAlias,        kNone,    train::buildView},
        {"InstanceNormalization",  6, inferRowNormalization,   kNoEval, buildRowNormalization, kNone,    train::buildRowNormalization},
        {"LayerNormalization",  17, inferRowNormalization,   kNoEval, buildRowNormalization, kNone,    train::buildRowNormalization},
        {"LRN",                  1, inferSameShape,          kNoEval, buildLrn,          kNone,    train::buildLrn},
        {"LeakyRelu",            6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Less",                 7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"LessOrEqual",         12, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"Log",                  6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"LogSoftmax",           1, inferSoftmax,            kNoEval, buildSoftmax,      kNone,    train::buildSoftmax},
        {"MatMul",               1, inferMatMul,             kNoEval, buildMatMul,       kNone,    train::buildMatMul},
        {"Max",                  6, inferBroadcast,          kEval,   buildVariadic,     kNone,    train::buildVariadic},
        {"MaxPool",              1, inferPool,               kNoEval, buildPool,         kCodes,   train::buildPool},
        {"Mean",                 6, inferBroadcast,          kEval,   buildVariadic,     kNone,    train::buildVariadic},
        {"Min",                  6, inferBroadcast,          kEval,   buildVariadic,     kNone,    train::buildVariadic},
        {"Mul",                  7, inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Neg",                  6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Not",                  1, inferSameShape,          kEval,   buildEvaluated,    kNone,    nullptr},
        {"Or",                   7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
        {"Pad",                  1, inferPad,                kEval,   buildDataMovement, kCodes,   train::buildPad},
        {"Pow",                  7, inferPow,                kEval,   buildPow,          kNone,    train::buildUnary},
        {"PRelu",                7, inferPRelu,              kEval,   buildBinary,       kNone,    train::buildBinary},
        {"QuantizeLinear",      10, inferQuantizeDequantize, kEval,   buildQuantize,     kInteger, train::buildQuantize},
        {"Reciprocal",           6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"ReduceL1",             1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceL2",             1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceLogSum",         1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceLogSumExp",      1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceMax",            1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceMean",           1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceMin",            1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceProd",           1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceSum",            1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"ReduceSumSquare",      1, inferReduce,             kEval,   buildReduce,       kNone,    train::buildReduce},
        {"Relu",                 6, inferSameShape,          kEval,   buildEltwise,      kInteger, train::buildActivation},
        {"Reshape",              5, inferReshape,            kEval,   buildAlias,        kCodes,   train::buildView},
        {"Resize",              10, inferResize,             kEval,   buildEvaluated,    kNone,    train::buildResize},
        {"Selu",                 6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Shape",                1, inferShape,              kEval,   nullptr,           kNone,    nullptr},
        {"Sigmoid",              6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Slice",                1, inferSlice,              kEval,   buildDataMovement, kCodes,   train::buildSlice},
        {"Softmax",              1, inferSoftmax,            kNoEval, buildSoftmax,      kNone,    train::buildSoftmax},
        {"Softplus",             1, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Split",                1, inferSplit,              kEval,   buildDataMovement, kNone,    train::buildSplit},
        {"Sqrt",                 6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Squeeze",              1, inferUnsqueezeSqueeze,   kEval,   buildAlias,        kCodes,   train::buildView},
        {"Sub",                  7, inferElementwiseBinary,  kEval,   buildBinary,       kNone,    train::buildBinary},
        {"Sum",                  6, inferBroadcast,          kEval,   buildVariadic,     kNone,    train::buildVariadic},
        {"Tanh",                 6, inferSameShape,          kEval,   buildEltwise,      kNone,    train::buildUnary},
        {"Tile",                 6, inferExpandTile,         kEval,   buildEvaluated,    kNone,    train::buildRepeat},
        {"Transpose",            1, inferTranspose,          kEval,   buildDataMovement, kCodes,   train::buildTranspose},
        {"Unsqueeze",            1, inferUnsqueezeSqueeze,   kEval,   buildAlias,        kCodes,   train::buildView},
        {"Upsample",             7, inferResize,             kEval,   buildEvaluated,    kNone,    train::buildResize},
        {"Where",                9, inferWhere,              kEval,   buildEvaluated,    kNone,    train::buildWhere},
        {"Xor",                  7, inferCompare,            kEval,   buildEvaluated,    kNone,    nullptr},
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
