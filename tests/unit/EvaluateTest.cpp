// The reference evaluator's Cast between numbers and STRING, the STRING tensor's protobuf form,
// and STRING graph outputs of the float runner.
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
