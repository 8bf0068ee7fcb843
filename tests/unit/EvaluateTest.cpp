// The reference evaluator: Cast between numbers and STRING, the STRING tensor's protobuf form and
// STRING graph outputs of the float runner; the Reduce family and Sum/Mean/Max/Min against oneDNN.
#include <cmath>
#include <limits>

#include "TestUtil.h"
#include "import/OnnxTensor.h"
#include "ops/Evaluate.h"
#include "ops/ShapeInference.h"

using namespace lowbit;
using namespace lowbit::test;

TEST_CASE("Cast to STRING writes the shortest decimal that reads back, and NaN and INF as ONNX spells them", "[evaluate]") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::fromVector<float>({6}, {0.039187793f, 0.1f, -2.5f, 1e-7f, std::nanf(""), -inf});
  CHECK(castTensor(x, DType::String).strings() ==
        std::vector<std::string>{"0.039187793", "0.1", "-2.5", "1e-07", "NaN", "-INF"});
  // Doubles keep their own shortest form; integers print as integers.
  CHECK(castTensor(Tensor::fromVector<double>({1}, {0.1}), DType::String).strings()[0] == "0.1");
  CHECK(castTensor(Tensor::fromVector<int64_t>({2}, {-42, 7}), DType::String).strings() ==
        std::vector<std::string>{"-42", "7"});
}

TEST_CASE("Cast from STRING parses decimals, NaN and signed INF and names a string that is not a number", "[evaluate]") {
  Tensor s = Tensor::fromStrings({5}, {"0.47892547", "NaN", "INF", "+INF", "-inf"});
  std::vector<float> v = castTensor(s, DType::Float32).toFloats();
  CHECK(v[0] == 0.47892547f);
  CHECK(std::isnan(v[1]));
  CHECK(v[2] == std::numeric_limits<float>::infinity());
  CHECK(v[3] == std::numeric_limits<float>::infinity());
  CHECK(v[4] == -std::numeric_limits<float>::infinity());
  CHECK(castTensor(Tensor::fromStrings({2}, {"-12", "+3"}), DType::Int32).toInt64s() == std::vector<int64_t>{-12, 3});
  // Every float survives the round trip through its string.
  Tensor x = randomTensor({64}, 3, -1e6f, 1e6f);
  CHECK(castTensor(castTensor(x, DType::String), DType::Float32) == x);
  CHECK_THROWS_WITH(castTensor(Tensor::fromStrings({1}, {"1.5x"}), DType::Float32),
                    Catch::Contains("'1.5x' is not a FLOAT value"));
  CHECK_THROWS_WITH(castTensor(Tensor::fromStrings({1}, {"1.5"}), DType::Int64), Catch::Contains("'1.5'"));
}

TEST_CASE("a STRING tensor keeps its values through the protobuf form", "[import][export]") {
  Tensor s = Tensor::fromStrings({2, 1}, {"a b", ""});
  onnx::TensorProto proto;
  tensorToProto(s, "s", &proto);
  CHECK(proto.string_data_size() == 2);
  CHECK(tensorFromProto(proto, ".", "test") == s);
  proto.add_string_data("extra");
  CHECK_THROWS_WITH(tensorFromProto(proto, ".", "test"), Catch::Contains("test: has 3 strings, expected 2"));
}

TEST_CASE("the float runner returns a STRING graph output of a Cast and reads a STRING input", "[runtime]") {
  Graph g;
  Value *x = addInput(g, "x", {2, 2});
  Value *s = g.addValue("s");
  s->setDType(DType::String);
  s->setShape({3});
  g.inputs().push_back(s);
  Node *toString = addOp(g, "Cast", {x}, "x_text");
  toString->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::String)));
  Node *toFloat = addOp(g, "Cast", {s}, "s_number");
  toFloat->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Float32)));
  g.outputs() = {toString->output(0), toFloat->output(0)};
  inferShapes(g);
  Executor exec(g);
  for (float base : {0.5f, 3.f}) {  // two runs of one plan: the strings follow the data
    std::vector<Tensor> outs = exec.run({Tensor::fromVector<float>({2, 2}, {base, -base, 0.f, 1.25f}),
                                         Tensor::fromStrings({3}, {"1", cat(base), "-INF"})});
    CHECK(outs[0].strings() == std::vector<std::string>{cat(base), cat(-base), "0", "1.25"});
    CHECK(outs[1].toFloats() == std::vector<float>{1.f, base, -std::numeric_limits<float>::infinity()});
  }
}

// The reference evaluator (constant folding; integer and float64 data in the runner) and the
// runner's oneDNN path compute the reductions and variadic ops alike on float32 data.
TEST_CASE("the reference evaluator agrees with the oneDNN runner on the Reduce family and Sum/Mean/Max/Min", "[evaluate]") {
  struct Case {
    std::string op;
    std::vector<int64_t> axes;
    int64_t keepdims;
  };
  const std::vector<Case> reductions = {
      {"ReduceMean", {1}, 1}, {"ReduceSum", {0, 2}, 0}, {"ReduceMax", {2}, 1},      {"ReduceMin", {}, 0},
      {"ReduceProd", {1}, 0}, {"ReduceL1", {-1}, 1},    {"ReduceL2", {1, 2}, 1},    {"ReduceSumSquare", {0}, 1},
      {"ReduceLogSumExp", {1}, 0}, {"ReduceLogSum", {2}, 1}};
  const Tensor x = randomTensor({2, 3, 4}, 7, 0.1f, 2.f);  // positive: ReduceLogSum's domain
  for (const Case &c : reductions) {
    Graph g;
    Node *n = addOp(g, c.op, {addInput(g, "x", {2, 3, 4})}, "y");
    if (!c.axes.empty()) n->setAttr("axes", Attribute::ofInts(c.axes));
    n->setAttr("keepdims", Attribute::ofInt(c.keepdims));
    g.outputs() = {n->output(0)};
    g.opset = 11;
    inferShapes(g);
    INFO(c.op);
    const Tensor want = evaluate(*n, {&x}, g.opset).at(0);
    CHECK(mismatch(runGraph(g, {x}).at(0), want, 1e-5f, 1e-5f) == "");
  }
  for (const char *op : {"Sum", "Mean", "Max", "Min"}) {
    Graph g;
    Value *a = addInput(g, "a", {2, 3, 4}), *b = addInput(g, "b", {3, 1}), *c = addInput(g, "c", {4});
    Node *n = addOp(g, op, {b, a, c}, "y");  // the first operand broadcast too
    g.outputs() = {n->output(0)};
    inferShapes(g);
    const Tensor ta = randomTensor({2, 3, 4}, 1), tb = randomTensor({3, 1}, 2), tc = randomTensor({4}, 3);
    INFO(op);
    const Tensor want = evaluate(*n, {&tb, &ta, &tc}, g.opset).at(0);
    CHECK(want.dims() == Dims{2, 3, 4});
    CHECK(mismatch(runGraph(g, {ta, tb, tc}).at(0), want, 1e-6f, 1e-6f) == "");
  }
  // Integer data: exact, on the evaluator in both.
  Graph g;
  Value *i = g.addValue("i");
  i->setDType(DType::Int64);
  i->setShape({2, 3});
  g.inputs().push_back(i);
  Node *sum = addOp(g, "ReduceSum", {i}, "s");
  sum->setAttr("axes", Attribute::ofInts({1}));
  sum->setAttr("keepdims", Attribute::ofInt(0));
  g.outputs() = {sum->output(0)};
  g.opset = 11;
  inferShapes(g);
  const Tensor ints = Tensor::fromVector<int64_t>({2, 3}, {1, 2, (int64_t{1} << 60), -4, 5, 6});
  CHECK(runGraph(g, {ints}).at(0).toInt64s() == std::vector<int64_t>{(int64_t{1} << 60) + 3, 7});
}
