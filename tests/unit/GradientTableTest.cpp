// One harness over the training engine's gradient table (ggml's test-backend-ops): every
// trainable op has cases here (the first test fails when an op of the table has none), and
// each case checks that the network's forward equals the float runner's output and that its
// input and parameter gradients match central finite differences.
#include <cstring>
#include <functional>
#include <set>

#include "GradientCheck.h"
#include "TestUtil.h"
#include "passes/PassManager.h"
#include "train/Layer.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

constexpr float kForwardAtol = 1e-5f, kForwardRtol = 1e-4f;

struct OpCase {
  std::string op, label;
  Dims input;
  int64_t opset = 13;
  // Builds the graph's nodes after the input x; returns the output value.
  std::function<Value *(Graph &, Value *)> build;
};

Value *ints(Graph &g, const std::string &name, std::vector<int64_t> v) {
  return g.addConstant(g.uniqueName(name), Tensor::fromVector<int64_t>({static_cast<int64_t>(v.size())}, v));
}
Value *floats(Graph &g, const std::string &name, const Dims &d, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  return g.addConstant(g.uniqueName(name), randomTensor(d, seed, lo, hi));
}
Value *scalar(Graph &g, const std::string &name, float v) {
  return g.addConstant(g.uniqueName(name), Tensor::scalar<float>(v));
}
Node *op(Graph &g, const std::string &type, std::vector<Value *> ins) {
  return addOp(g, type, std::move(ins), g.uniqueName(type));
}
Node *attr(Node *n, const std::string &name, int64_t v) {
  n->setAttr(name, Attribute::ofInt(v));
  return n;
}
Node *attr(Node *n, const std::string &name, float v) {
  n->setAttr(name, Attribute::ofFloat(v));
  return n;
}
Node *attr(Node *n, const std::string &name, const std::string &v) {
  n->setAttr(name, Attribute::ofString(v));
  return n;
}
Node *attrs(Node *n, const std::string &name, std::vector<int64_t> v) {
  n->setAttr(name, Attribute::ofInts(std::move(v)));
  return n;
}
// One-input op of \p type with no attributes.
std::function<Value *(Graph &, Value *)> unary(const std::string &type) {
  return [type](Graph &g, Value *x) { return op(g, type, {x})->output(0); };
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  // Linear layers.
  c.push_back({"Conv", "3x3 pads 1, stride 2, bias", {2, 3, 7, 7}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "Conv", {x, floats(g, "w", {4, 3, 3, 3}, 1), floats(g, "b", {4}, 2)});
                 attrs(attrs(n, "pads", {1, 1, 1, 1}), "strides", {2, 2});
                 return n->output(0);
               }});
  c.push_back({"Conv", "depthwise, dilation 2, no bias", {2, 4, 7, 7}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "Conv", {x, floats(g, "w", {4, 1, 3, 3}, 3)});
                 attrs(attrs(attr(n, "group", int64_t{4}), "dilations", {2, 2}), "pads", {2, 2, 2, 2});
                 return n->output(0);
               }});
  c.push_back({"ConvTranspose", "3x3 stride 2, pads 1, output_padding 1, bias", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "ConvTranspose", {x, floats(g, "w", {3, 4, 3, 3}, 41), floats(g, "b", {4}, 42)});
                 attrs(attrs(attrs(n, "pads", {1, 1, 1, 1}), "strides", {2, 2}), "output_padding", {1, 1});
                 return n->output(0);
               }});
  c.push_back({"ConvTranspose", "2 groups, dilation 2, no bias", {2, 4, 3, 3}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "ConvTranspose", {x, floats(g, "w", {4, 3, 2, 3}, 43)});
                 attrs(attr(n, "group", int64_t{2}), "dilations", {2, 2});
                 return n->output(0);
               }});
  c.push_back({"Gemm", "transB, bias", {3, 5}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "Gemm", {x, floats(g, "w", {4, 5}, 4), floats(g, "b", {4}, 5)}), "transB", int64_t{1})
                     ->output(0);
               }});
  c.push_back({"Gemm", "B as [K, N], alpha 0.5, beta 2", {3, 5}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "Gemm", {x, floats(g, "w", {5, 4}, 6), floats(g, "b", {4}, 7)});
                 return attr(attr(n, "alpha", 0.5f), "beta", 2.f)->output(0);
               }});
  c.push_back({"Gemm", "transA, scalar C", {5, 3}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "Gemm", {x, floats(g, "w", {4, 5}, 8), floats(g, "b", {1}, 9)});
                 return attr(attr(n, "transA", int64_t{1}), "transB", int64_t{1})->output(0);
               }});
  c.push_back({"MatMul", "by a constant [K, M]", {2, 3, 5}, 13, [](Graph &g, Value *x) {
                 return op(g, "MatMul", {x, floats(g, "w", {5, 4}, 10)})->output(0);
               }});
  c.push_back({"MatMul", "two activations, broadcast batch", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 Value *t = attrs(op(g, "Transpose", {x}), "perm", {0, 2, 1})->output(0);
                 Value *first = op(g, "Slice", {t, ints(g, "st", {0}), ints(g, "en", {1}), ints(g, "ax", {0})})->output(0);
                 return op(g, "MatMul", {x, first})->output(0);
               }});
  // Elementwise.
  c.push_back({"Relu", "", {2, 3, 4, 4}, 13, unary("Relu")});
  c.push_back({"Clip", "min and max", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return op(g, "Clip", {x, scalar(g, "lo", -0.5f), scalar(g, "hi", 0.7f)})->output(0);
               }});
  c.push_back({"Clip", "max only (opset 11 inputs)", {2, 3, 4, 4}, 11, [](Graph &g, Value *x) {
                 return op(g, "Clip", {x, nullptr, scalar(g, "hi", 0.3f)})->output(0);
               }});
  c.push_back({"Sigmoid", "", {2, 3, 4, 4}, 13, unary("Sigmoid")});
  c.push_back({"HardSigmoid", "alpha 0.3, beta 0.4", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return attr(attr(op(g, "HardSigmoid", {x}), "alpha", 0.3f), "beta", 0.4f)->output(0);
               }});
  c.push_back({"HardSwish", "inputs across -3..3", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return op(g, "HardSwish", {op(g, "Mul", {x, scalar(g, "four", 4.f)})->output(0)})->output(0);
               }});
  c.push_back({"Add", "constant per channel [C,1,1]", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 return op(g, "Add", {x, floats(g, "c", {3, 1, 1}, 11)})->output(0);
               }});
  c.push_back({"Add", "two activations, equal dims", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 return op(g, "Add", {x, op(g, "Sigmoid", {x})->output(0)})->output(0);
               }});
  c.push_back({"Sub", "constant minus activation", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 return op(g, "Sub", {floats(g, "c", {5}, 12), x})->output(0);
               }});
  c.push_back({"Mul", "squeeze-excite gate [N,C,1,1]", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 Value *m = attrs(op(g, "ReduceMean", {x}), "axes", {2, 3})->output(0);
                 return op(g, "Mul", {x, op(g, "Sigmoid", {m})->output(0)})->output(0);
               }});
  c.push_back({"Div", "by a constant and by an activation", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 Value *half = op(g, "Div", {x, scalar(g, "two", 2.f)})->output(0);
                 Value *den = op(g, "Add", {op(g, "Sigmoid", {x})->output(0), scalar(g, "one", 1.f)})->output(0);
                 return op(g, "Div", {half, den})->output(0);
               }});
  c.push_back({"PRelu", "constant slope per channel [C,1,1]", {2, 3, 4, 5}, 16, [](Graph &g, Value *x) {
                 return op(g, "PRelu", {x, floats(g, "slope", {3, 1, 1}, 17)})->output(0);
               }});
  c.push_back({"PRelu", "slope from an activation [N,C,1,1]", {2, 3, 4, 5}, 16, [](Graph &g, Value *x) {
                 Value *m = attrs(op(g, "ReduceMean", {x}), "axes", {2, 3})->output(0);
                 return op(g, "PRelu", {x, op(g, "Sigmoid", {m})->output(0)})->output(0);
               }});
  // Variadic: three operands, one an activation broadcast over H, W, one a constant.
  auto variadic = [](const std::string &type) {
    return [type](Graph &g, Value *x) {
      Value *m = attrs(op(g, "ReduceMean", {x}), "axes", {2, 3})->output(0);
      return op(g, type, {op(g, "Tanh", {x})->output(0), m, floats(g, "c", {3, 1, 1}, 18, -0.5f, 0.5f)})->output(0);
    };
  };
  for (const char *type : {"Sum", "Mean", "Max", "Min"})
    c.push_back({type, "three operands, two broadcast", {2, 3, 4, 5}, 13, variadic(type)});
  c.push_back({"Max", "one operand", {2, 3}, 13, unary("Max")});
  c.push_back({"Sum", "two activations of one shape", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 return op(g, "Sum", {x, op(g, "Sigmoid", {x})->output(0)})->output(0);
               }});
  c.push_back({"LRN", "size 3 (oneDNN's window in the runner)", {2, 5, 3, 3}, 13, [](Graph &g, Value *x) {
                 // A large alpha: the channels' cross terms weigh in the gradient.
                 Node *n = attr(attr(attr(op(g, "LRN", {x}), "size", int64_t{3}), "alpha", 4.f), "beta", 0.75f);
                 return attr(n, "bias", 1.f)->output(0);
               }});
  c.push_back({"LRN", "size 4 (ONNX's asymmetric window)", {2, 6, 2, 2}, 13, [](Graph &g, Value *x) {
                 return attr(attr(op(g, "LRN", {x}), "size", int64_t{4}), "alpha", 3.f)->output(0);
               }});
  c.push_back({"LayerNormalization", "last axis, scale and bias", {2, 3, 8}, 17, [](Graph &g, Value *x) {
                 return op(g, "LayerNormalization", {x, floats(g, "s", {8}, 21), floats(g, "b", {8}, 22)})->output(0);
               }});
  c.push_back({"LayerNormalization", "axis 1, no bias, epsilon 1e-3", {2, 3, 2, 2}, 17, [](Graph &g, Value *x) {
                 Node *n = attr(op(g, "LayerNormalization", {x, floats(g, "s", {3, 2, 2}, 23)}), "axis", int64_t{1});
                 return attr(n, "epsilon", 1e-3f)->output(0);
               }});
  c.push_back({"InstanceNormalization", "", {2, 3, 4, 3}, 13, [](Graph &g, Value *x) {
                 return op(g, "InstanceNormalization", {x, floats(g, "s", {3}, 24), floats(g, "b", {3}, 25)})->output(0);
               }});
  c.push_back({"BatchNormalization", "inference statistics", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return op(g, "BatchNormalization", {x, floats(g, "s", {3}, 13), floats(g, "b", {3}, 14),
                                                     floats(g, "m", {3}, 15), floats(g, "v", {3}, 16, 0.5f, 1.5f)})
                     ->output(0);
               }});
  // Movement.
  c.push_back({"Expand", "[2,3,1] to [2,3,4] and a new leading axis", {2, 3, 1}, 13, [](Graph &g, Value *x) {
                 return op(g, "Expand", {x, ints(g, "shape", {2, 1, 3, 4})})->output(0);
               }});
  c.push_back({"Tile", "repeats 1, 2, 3", {2, 3, 2}, 13, [](Graph &g, Value *x) {
                 return op(g, "Tile", {x, ints(g, "repeats", {1, 2, 3})})->output(0);
               }});
  c.push_back({"Flatten", "", {2, 3, 2, 2}, 13, unary("Flatten")});
  c.push_back({"Reshape", "with -1", {2, 3, 2, 2}, 13, [](Graph &g, Value *x) {
                 return op(g, "Reshape", {x, ints(g, "shape", {2, -1, 3})})->output(0);
               }});
  c.push_back({"Squeeze", "", {2, 1, 3, 1}, 13, [](Graph &g, Value *x) {
                 return op(g, "Squeeze", {x, ints(g, "axes", {1, 3})})->output(0);
               }});
  c.push_back({"Unsqueeze", "", {2, 3}, 13, [](Graph &g, Value *x) {
                 return op(g, "Unsqueeze", {x, ints(g, "axes", {1})})->output(0);
               }});
  c.push_back({"Identity", "", {2, 3}, 13, unary("Identity")});
  c.push_back({"Dropout", "inference", {2, 3}, 13, unary("Dropout")});
  c.push_back({"Cast", "float to float", {2, 3}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "Cast", {x}), "to", int64_t{1})->output(0);
               }});
  c.push_back({"Transpose", "NCHW to NHWC", {2, 3, 4, 5}, 13, [](Graph &g, Value *x) {
                 return attrs(op(g, "Transpose", {x}), "perm", {0, 2, 3, 1})->output(0);
               }});
  c.push_back({"Transpose", "channel shuffle", {2, 6, 3, 3}, 13, [](Graph &g, Value *x) {
                 Value *r = op(g, "Reshape", {x, ints(g, "s1", {2, 2, 3, 3, 3})})->output(0);
                 Value *t = attrs(op(g, "Transpose", {r}), "perm", {0, 2, 1, 3, 4})->output(0);
                 return op(g, "Reshape", {t, ints(g, "s2", {2, 6, 3, 3})})->output(0);
               }});
  c.push_back({"Slice", "step 2 on two axes", {2, 3, 6, 6}, 13, [](Graph &g, Value *x) {
                 return op(g, "Slice", {x, ints(g, "st", {0, 1}), ints(g, "en", {6, 6}), ints(g, "ax", {2, 3}),
                                        ints(g, "sp", {2, 2})})
                     ->output(0);
               }});
  c.push_back({"Split", "sizes 1 and 2 on the channels, both outputs used", {2, 3, 2, 2}, 13, [](Graph &g, Value *x) {
                 Value *a = g.addValue("split_a"), *b = g.addValue("split_b");
                 attr(g.addNode("split", "Split", {x, ints(g, "sizes", {1, 2})}, {a, b}), "axis", int64_t{1});
                 return attr(op(g, "Concat", {op(g, "Mul", {a, scalar(g, "k", 2.f)})->output(0), b}), "axis", int64_t{1})
                     ->output(0);
               }});
  c.push_back({"Concat", "axis 1, computed inputs", {2, 3, 2, 2}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "Concat", {x, op(g, "Sigmoid", {x})->output(0)}), "axis", int64_t{1})->output(0);
               }});
  c.push_back({"Pad", "constant 0.5", {2, 3, 3, 3}, 13, [](Graph &g, Value *x) {
                 return op(g, "Pad", {x, ints(g, "pads", {0, 1, 1, 0, 0, 2, 0, 1}), scalar(g, "v", 0.5f)})->output(0);
               }});
  c.push_back({"Resize", "linear, half_pixel, scales 2 and 1.5", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 Value *scales = g.addConstant(g.uniqueName("sc"), Tensor::fromVector<float>({4}, {1.f, 1.f, 2.f, 1.5f}));
                 return attr(op(g, "Resize", {x, nullptr, scales}), "mode", std::string("linear"))->output(0);
               }});
  c.push_back({"Resize", "nearest, asymmetric, floor, sizes", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 Node *n = op(g, "Resize", {x, nullptr, nullptr, ints(g, "sz", {2, 3, 7, 6})});
                 attr(attr(n, "coordinate_transformation_mode", std::string("asymmetric")), "nearest_mode",
                      std::string("floor"));
                 return n->output(0);
               }});
  c.push_back({"Resize", "cubic, align_corners, down on H, up on W", {2, 2, 5, 4}, 13, [](Graph &g, Value *x) {
                 Value *scales = g.addConstant(g.uniqueName("sc"), Tensor::fromVector<float>({4}, {1.f, 1.f, 0.6f, 1.5f}));
                 Node *n = attr(op(g, "Resize", {x, nullptr, scales}), "mode", std::string("cubic"));
                 return attr(n, "coordinate_transformation_mode", std::string("align_corners"))->output(0);
               }});
  c.push_back({"Resize", "tf_crop_and_resize, extrapolation", {1, 2, 4, 4}, 13, [](Graph &g, Value *x) {
                 Value *roi = g.addConstant(g.uniqueName("roi"),
                                            Tensor::fromVector<float>({8}, {0.f, 0.f, -0.2f, 0.1f, 1.f, 1.f, 1.1f, 0.9f}));
                 Node *n = op(g, "Resize", {x, roi, nullptr, ints(g, "sz", {1, 2, 5, 3})});
                 attr(attr(n, "mode", std::string("linear")), "coordinate_transformation_mode",
                      std::string("tf_crop_and_resize"));
                 return attr(n, "extrapolation_value", 0.25f)->output(0);
               }});
  c.push_back({"Upsample", "nearest, scales 2 (opset 9)", {2, 3, 3, 3}, 9, [](Graph &g, Value *x) {
                 Value *scales = g.addConstant(g.uniqueName("sc"), Tensor::fromVector<float>({4}, {1.f, 1.f, 2.f, 2.f}));
                 return op(g, "Upsample", {x, scales})->output(0);
               }});
  // Where with a constant mask broadcast over batch and height.
  auto mask = [](Graph &g) {
    Tensor m(DType::Bool, {3, 1, 4});
    const uint8_t bits[] = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0};
    std::memcpy(m.raw(), bits, sizeof(bits));
    return g.addConstant(g.uniqueName("c"), m);
  };
  c.push_back({"Where", "constant mask, both operands computed", {2, 3, 2, 4}, 13, [mask](Graph &g, Value *x) {
                 return op(g, "Where", {mask(g), x, op(g, "Sigmoid", {x})->output(0)})->output(0);
               }});
  c.push_back({"Where", "constant mask, a constant X broadcast", {2, 3, 2, 4}, 13, [mask](Graph &g, Value *x) {
                 return op(g, "Where", {mask(g), floats(g, "k", {4}, 31), x})->output(0);
               }});
  // Reductions.
  c.push_back({"MaxPool", "3x3 stride 2, pads, ceil_mode", {2, 3, 8, 8}, 13, [](Graph &g, Value *x) {
                 Node *n = attrs(attrs(op(g, "MaxPool", {x}), "kernel_shape", {3, 3}), "strides", {2, 2});
                 return attr(attrs(n, "pads", {1, 1, 0, 0}), "ceil_mode", int64_t{1})->output(0);
               }});
  c.push_back({"AveragePool", "count_include_pad 1", {2, 3, 6, 6}, 13, [](Graph &g, Value *x) {
                 Node *n = attrs(attrs(op(g, "AveragePool", {x}), "kernel_shape", {3, 3}), "pads", {1, 1, 1, 1});
                 return attr(n, "count_include_pad", int64_t{1})->output(0);
               }});
  c.push_back({"AveragePool", "count_include_pad 0, stride 2", {2, 3, 6, 6}, 13, [](Graph &g, Value *x) {
                 Node *n = attrs(attrs(op(g, "AveragePool", {x}), "kernel_shape", {2, 2}), "pads", {1, 1, 1, 1});
                 return attrs(n, "strides", {2, 2})->output(0);
               }});
  c.push_back({"GlobalAveragePool", "", {2, 3, 5, 5}, 13, unary("GlobalAveragePool")});
  c.push_back({"ReduceMean", "axis 1, keepdims 0", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 return attr(attrs(op(g, "ReduceMean", {x}), "axes", {1}), "keepdims", int64_t{0})->output(0);
               }});
  // The rest of UnaryMath; Log, Sqrt and Reciprocal read x*x + 0.5 to stay in their domain.
  auto positive = [](const std::string &type) {
    return [type](Graph &g, Value *x) {
      Value *sq = op(g, "Add", {op(g, "Mul", {x, x})->output(0), scalar(g, "half", 0.5f)})->output(0);
      return op(g, type, {sq})->output(0);
    };
  };
  c.push_back({"LeakyRelu", "alpha 0.1", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "LeakyRelu", {x}), "alpha", 0.1f)->output(0);
               }});
  c.push_back({"LeakyRelu", "default alpha", {2, 3, 4, 4}, 13, unary("LeakyRelu")});
  c.push_back({"Elu", "alpha 0.7", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "Elu", {x}), "alpha", 0.7f)->output(0);
               }});
  c.push_back({"Selu", "defaults", {2, 3, 4, 4}, 13, unary("Selu")});
  c.push_back({"Selu", "alpha 2, gamma 0.5", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return attr(attr(op(g, "Selu", {x}), "alpha", 2.f), "gamma", 0.5f)->output(0);
               }});
  c.push_back({"Tanh", "", {2, 3, 4, 4}, 13, unary("Tanh")});
  c.push_back({"Softplus", "", {2, 3, 4, 4}, 13, unary("Softplus")});
  c.push_back({"Softplus", "Mish as exporters write it: x * tanh(softplus(x))", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 Value *t = op(g, "Tanh", {op(g, "Softplus", {x})->output(0)})->output(0);
                 return op(g, "Mul", {x, t})->output(0);
               }});
  c.push_back({"Erf", "GELU as exporters write it: x/2 (1 + erf(x/sqrt 2))", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 Value *e = op(g, "Erf", {op(g, "Div", {x, scalar(g, "sqrt2", 1.41421356f)})->output(0)})->output(0);
                 Value *h = op(g, "Add", {e, scalar(g, "one", 1.f)})->output(0);
                 return op(g, "Mul", {op(g, "Mul", {x, h})->output(0), scalar(g, "half", 0.5f)})->output(0);
               }});
  c.push_back({"Exp", "", {2, 3, 4, 4}, 13, unary("Exp")});
  c.push_back({"Log", "of x*x + 0.5", {2, 3, 4, 4}, 13, positive("Log")});
  c.push_back({"Sqrt", "of x*x + 0.5", {2, 3, 4, 4}, 13, positive("Sqrt")});
  c.push_back({"Reciprocal", "of x*x + 0.5", {2, 3, 4, 4}, 13, positive("Reciprocal")});
  c.push_back({"Pow", "x^3 (GELU's tanh form)", {2, 3, 4, 4}, 13, [](Graph &g, Value *x) {
                 return op(g, "Pow", {x, scalar(g, "three", 3.f)})->output(0);
               }});
  c.push_back({"Pow", "(x*x + 0.5)^1.5, an int64 exponent of 2 after it", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 Value *sq = op(g, "Add", {op(g, "Mul", {x, x})->output(0), scalar(g, "half", 0.5f)})->output(0);
                 Value *p = op(g, "Pow", {sq, scalar(g, "e", 1.5f)})->output(0);
                 return op(g, "Pow", {p, g.addConstant(g.uniqueName("two"), Tensor::scalar<int64_t>(2))})->output(0);
               }});
  c.push_back({"Neg", "", {2, 3, 4, 4}, 13, unary("Neg")});
  c.push_back({"Abs", "", {2, 3, 4, 4}, 13, unary("Abs")});
  c.push_back({"ReduceMean", "all axes", {2, 3, 4}, 13, unary("ReduceMean")});
  // The rest of the Reduce family: axes as an attribute, as an input (ReduceSum, opset 13), an
  // axis of one element (the runner's elementwise path), no axes with noop_with_empty_axes.
  auto reduceOver = [](const std::string &type, std::vector<int64_t> axes, int64_t keep) {
    return [type, axes, keep](Graph &g, Value *x) {
      Node *n = op(g, type, {x});
      if (!axes.empty()) attrs(n, "axes", axes);
      return attr(n, "keepdims", keep)->output(0);
    };
  };
  c.push_back({"ReduceMax", "axis 2", {2, 3, 4}, 13, reduceOver("ReduceMax", {2}, 1)});
  c.push_back({"ReduceMin", "axes 1, 2, keepdims 0", {2, 3, 4}, 13, reduceOver("ReduceMin", {1, 2}, 0)});
  c.push_back({"ReduceProd", "axis 1", {2, 3, 4}, 13, reduceOver("ReduceProd", {1}, 1)});
  c.push_back({"ReduceL1", "axis -1", {2, 3, 4}, 13, reduceOver("ReduceL1", {-1}, 1)});
  c.push_back({"ReduceL2", "axis 1", {2, 3, 4}, 13, reduceOver("ReduceL2", {1}, 1)});
  c.push_back({"ReduceL2", "an axis of one element", {2, 1, 4}, 13, reduceOver("ReduceL2", {1}, 1)});
  c.push_back({"ReduceSumSquare", "all axes", {2, 3, 4}, 13, reduceOver("ReduceSumSquare", {}, 0)});
  c.push_back({"ReduceLogSumExp", "axis 1, keepdims 0", {2, 3, 4}, 13, reduceOver("ReduceLogSumExp", {1}, 0)});
  c.push_back({"ReduceLogSum", "of x*x + 0.5, axis 2", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 Value *sq = op(g, "Add", {op(g, "Mul", {x, x})->output(0), scalar(g, "half", 0.5f)})->output(0);
                 return attrs(op(g, "ReduceLogSum", {sq}), "axes", {2})->output(0);
               }});
  c.push_back({"ReduceSum", "opset 13: axes input, keepdims 0", {2, 3, 4}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "ReduceSum", {x, ints(g, "axes", {0, 2})}), "keepdims", int64_t{0})->output(0);
               }});
  c.push_back({"ReduceSum", "no axes, noop_with_empty_axes", {2, 3}, 13, [](Graph &g, Value *x) {
                 return attr(op(g, "ReduceSum", {x}), "noop_with_empty_axes", int64_t{1})->output(0);
               }});
  c.push_back({"Softmax", "last axis", {2, 3, 4}, 13, unary("Softmax")});
  c.push_back({"Softmax", "opset 11: trailing axes flattened from 1", {2, 3, 4}, 11, unary("Softmax")});
  c.push_back({"LogSoftmax", "last axis", {2, 3, 4}, 13, unary("LogSoftmax")});
  c.push_back({"LogSoftmax", "opset 11: trailing axes flattened from 1", {2, 3, 4}, 11, unary("LogSoftmax")});
  return c;
}

}  // namespace

// Ops whose gradient is not a derivative (finite differences of a step function say nothing):
// their own hand-computed test below.
const std::set<std::string> kStraightThrough = {"DequantizeLinear", "QuantizeLinear"};

TEST_CASE("every op of the gradient table has a case in the harness", "[train]") {
  std::set<std::string> covered = kStraightThrough;
  for (const OpCase &c : cases()) covered.insert(c.op);
  for (const train::TrainableOp &t : train::trainableOps()) {
    INFO("trainable op " << t.opType);
    CHECK(covered.count(t.opType) == 1);
  }
  for (const std::string &op : covered) CHECK(train::isTrainableOp(op));
}

TEST_CASE("every trainable op: forward equals the runner, gradients match finite differences", "[train]") {
  uint32_t seed = 100;
  for (const OpCase &c : cases()) {
    INFO("op " << c.op << " (" << c.label << "), input " << shapeString(c.input) << ", opset " << c.opset << ", seed " << seed);
    Graph g;
    g.opset = c.opset;
    Value *x = addInput(g, "x", c.input);
    g.outputs().push_back(c.build(g, x));
    checkForwardAndGradients(g, randomTensor(c.input, seed), seed + 1, kForwardAtol, kForwardRtol, 3, 1);
    seed += 2;
  }
}

// x -> QuantizeLinear(s, zp) with codes of \p type, as a value of x's dims.
static Value *quantizeLinear(Graph &g, Value *x, Value *s, Value *zp, DType type) {
  Value *q = g.addValue(g.uniqueName("q"));
  q->setDType(type);
  q->setShape(x->dims());
  g.addNode(g.uniqueName("Q"), "QuantizeLinear", {x, s, zp}, {q});
  return q;
}

TEST_CASE("QuantizeLinear -> DequantizeLinear: fake quantization forward, clipped straight-through gradient", "[train]") {
  // uint8, zero point 2, scale 0.5: x / scale must lie in [0 - 2, 255 - 2] = [-2, 253].
  Graph g;
  Value *x = addInput(g, "x", {1, 6});
  Value *s = scalar(g, "s", 0.5f);
  Tensor zpt(DType::UInt8, {});
  zpt.data<uint8_t>()[0] = 2;
  Value *zp = g.addConstant("zp", std::move(zpt));
  Value *q = quantizeLinear(g, x, s, zp, DType::UInt8);
  // Two readers of the same codes, as QOperator files expand: one values slot, both gradients.
  Value *a = op(g, "DequantizeLinear", {q, s, zp})->output(0), *b = op(g, "DequantizeLinear", {q, s, zp})->output(0);
  g.outputs().push_back(op(g, "Add", {a, b})->output(0));
  runPasses(g, {"ConstantFolding"});
  Tensor in = Tensor::fromVector<float>({1, 6}, {-1.2f, -1.f, 0.26f, 0.75f, 126.5f, 127.f});
  train::Network net(g, in.dims());
  const Tensor y = net.forward(in);
  // codes 0 (saturated), 0, 3 (0.52 rounds to 1, + 2), 4 (1.5 rounds half to even: 2, + 2), 255, 255 (saturated)
  CHECK(y.toFloats() == std::vector<float>{-2.f, -2.f, 1.f, 2.f, 253.f, 253.f});
  CHECK(mismatch(y, runGraph(g, {in})[0], 0.f, 0.f).empty());
  const Tensor dx = net.backward(Tensor::fromVector<float>({1, 6}, {1.f, 1.f, 1.f, 1.f, 1.f, 1.f}));
  // Each reader adds 1 inside [-2, 253] (both bounds included), 0 outside.
  CHECK(dx.toFloats() == std::vector<float>{0.f, 2.f, 2.f, 2.f, 2.f, 0.f});
}

TEST_CASE("the training engine refuses Q/DQ it cannot differentiate, naming the node", "[train]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 4});
  Value *zp = g.addConstant("zp", Tensor(DType::Int8, {}));
  Value *q = quantizeLinear(g, x, scalar(g, "s", 0.5f), zp, DType::Int8);
  g.outputs().push_back(op(g, "DequantizeLinear", {q, scalar(g, "s2", 0.25f), zp})->output(0));
  runPasses(g, {"ConstantFolding"});
  CHECK_THROWS_WITH(train::Network(g, {1, 4}), Catch::Contains("scale or zero point differs"));
}
