// QOperator ops read as QDQ: ONNX Runtime's com.microsoft QLinear* ops (no ONNX node tests
// exist for them) against values computed by hand from their definitions; the standard ones
// (QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) pass ONNX's node tests.
#include <onnx/onnx_pb.h>

#include "TestUtil.h"
#include "import/OnnxImporter.h"
#include "import/QOperatorImport.h"
#include "jobs/ConvertJob.h"

#include <filesystem>
#include <fstream>

using namespace lowbit;
using namespace lowbit::test;

namespace {

// A one-node model: inputs named in0.. (graph inputs for \p runtime, initializers otherwise).
struct OneNode {
  onnx::ModelProto m;
  onnx::NodeProto *node;
  OneNode(const std::string &op, const std::string &domain) {
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto *ms = m.add_opset_import();
    ms->set_domain("com.microsoft");
    ms->set_version(1);
    node = m.mutable_graph()->add_node();
    node->set_op_type(op);
    node->set_domain(domain);
    node->set_name("qop");
    node->add_output("y");
    m.mutable_graph()->add_output()->set_name("y");
  }
  template <typename T>
  void constant(const std::string &name, const std::vector<int64_t> &dims, const std::vector<T> &v, int type) {
    onnx::TensorProto *t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T)));
    node->add_input(name);
  }
  void u8(const std::string &name, const std::vector<int64_t> &dims, const std::vector<uint8_t> &v) {
    constant(name, dims, v, onnx::TensorProto::UINT8);
  }
  void f32(const std::string &name, float v) { constant<float>(name, {}, {v}, onnx::TensorProto::FLOAT); }
  void runtimeU8(const std::string &name, const std::vector<int64_t> &dims) {
    onnx::ValueInfoProto *in = m.mutable_graph()->add_input();
    in->set_name(name);
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::UINT8);
    for (int64_t d : dims) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    node->add_input(name);
  }
  // A (a graph input [2]) at scale 0.1, zero point 5, B = [0, 100] at 0.2 / 10, C at 0.25 / 20: the
  // binary QLinear ops' inputs.
  void binaryInputs() {
    runtimeU8("a", {2});
    f32("as", 0.1f);
    u8("az", {}, {5});
    u8("b", {2}, {0, 100});
    f32("bs", 0.2f);
    u8("bz", {}, {10});
    f32("cs", 0.25f);
    u8("cz", {}, {20});
  }
  // X (a graph input of \p dims), X_scale, X_zp, Y_scale, Y_zp: the one-input QLinear ops.
  void unaryInputs(const std::vector<int64_t> &dims, float xs, uint8_t xz, float ys, uint8_t yz) {
    runtimeU8("x", dims);
    f32("xs", xs);
    u8("xz", {}, {xz});
    f32("ys", ys);
    u8("yz", {}, {yz});
  }
  void attr(const std::string &name, std::vector<int64_t> ints) {
    auto *a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : ints) a->add_ints(v);
  }
  void attr(const std::string &name, int64_t v) {
    auto *a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void attr(const std::string &name, float v) {
    auto *a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  // The model's output, the first graph input fed \p x.
  std::vector<uint8_t> run(const Tensor &x) {
    std::unique_ptr<Graph> g = importOnnxBytes(m.SerializeAsString(), "qop.onnx", ".");
    for (const Node *n : g->nodes()) CHECK(n->domain().empty());  // only standard ops remain
    const Tensor y = runGraph(*g, {x})[0];
    REQUIRE(y.dtype() == DType::UInt8);
    return std::vector<uint8_t>(y.data<uint8_t>(), y.data<uint8_t>() + y.numel());
  }
};

Tensor u8Tensor(const Dims &d, std::vector<uint8_t> v) { return Tensor::fromVector<uint8_t>(d, v); }

}  // namespace

TEST_CASE("com.microsoft QLinearAdd and QLinearMul: dequantize, add or multiply, quantize", "[import]") {
  for (const char *op : {"QLinearAdd", "QLinearMul"}) {
    OneNode q(op, "com.microsoft");
    q.binaryInputs();
    // a = [0.5, 19.5], b = [-2, 18]: sum [-1.5, 37.5] -> [14, 170]; product [-1, 351] -> [16, 255 (saturated)]
    const std::vector<uint8_t> want = std::string(op) == "QLinearAdd" ? std::vector<uint8_t>{14, 170} : std::vector<uint8_t>{16, 255};
    CHECK(q.run(u8Tensor({2}, {10, 200})) == want);
  }
}

TEST_CASE("com.microsoft QLinearGlobalAveragePool, QLinearAveragePool, QLinearLeakyRelu, QLinearSigmoid", "[import]") {
  {
    OneNode q("QLinearGlobalAveragePool", "com.microsoft");
    q.unaryInputs({1, 2, 1, 2}, 0.5f, 10, 0.1f, 0);
    // x = [0, 5 | 10, 20]: means 2.5 and 15 -> 25, 150
    CHECK(q.run(u8Tensor({1, 2, 1, 2}, {10, 20, 30, 50})) == std::vector<uint8_t>{25, 150});
  }
  {
    OneNode q("QLinearAveragePool", "com.microsoft");
    q.unaryInputs({1, 1, 2, 4}, 1.f, 0, 0.5f, 1);
    q.attr("kernel_shape", std::vector<int64_t>{2, 2});
    q.attr("strides", std::vector<int64_t>{2, 2});
    // windows [1 2; 5 6] and [3 4; 7 8]: means 3.5, 5.5 -> 7 + 1, 11 + 1
    CHECK(q.run(u8Tensor({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})) == std::vector<uint8_t>{8, 12});
  }
  {
    OneNode q("QLinearLeakyRelu", "com.microsoft");
    q.unaryInputs({2}, 0.1f, 50, 0.05f, 20);
    q.attr("alpha", 0.1f);
    // x = [-5, 5] -> [-0.5, 5] -> [10, 120]
    CHECK(q.run(u8Tensor({2}, {0, 100})) == std::vector<uint8_t>{10, 120});
  }
  {
    OneNode q("QLinearSigmoid", "com.microsoft");
    q.unaryInputs({2}, 0.1f, 50, 1.f / 256.f, 0);
    // sigmoid(0) = 0.5 -> 128; sigmoid(20) -> 255 (saturated)
    CHECK(q.run(u8Tensor({2}, {50, 250})) == std::vector<uint8_t>{128, 255});
  }
}

TEST_CASE("com.microsoft QLinearConcat requantizes each input to the output's scale", "[import]") {
  OneNode q("QLinearConcat", "com.microsoft");
  q.f32("ys", 0.5f);
  q.u8("yz", {}, {2});
  q.runtimeU8("a", {1, 2});
  q.f32("as", 1.f);
  q.u8("az", {}, {0});
  q.u8("b", {1, 1}, {7});
  q.f32("bs", 0.25f);
  q.u8("bz", {}, {3});
  q.attr("axis", int64_t{1});
  // [3, 4 | (7 - 3) * 0.25 = 1] -> [6 + 2, 8 + 2, 2 + 2]
  CHECK(q.run(u8Tensor({1, 2}, {3, 4})) == std::vector<uint8_t>{8, 10, 4});
}

TEST_CASE("QOperator forms lowbit does not read are errors naming the node", "[import]") {
  OneNode q("QLinearGlobalAveragePool", "com.microsoft");
  q.unaryInputs({1, 2, 1, 2}, 0.5f, 10, 0.1f, 0);
  q.attr("channels_last", int64_t{1});
  CHECK_THROWS_WITH(importOnnxBytes(q.m.SerializeAsString(), "qop.onnx", "."),
                    Catch::Contains("qop") && Catch::Contains("channels_last"));
  OneNode c("QLinearConcat", "com.microsoft");
  c.f32("ys", 0.5f);
  c.u8("yz", {}, {2});
  c.runtimeU8("a", {1, 2});
  CHECK_THROWS_WITH(importOnnxBytes(c.m.SerializeAsString(), "qop.onnx", "."),
                    Catch::Contains("qop") && Catch::Contains("triples"));
  CHECK(isImportedAsQdq("QLinearConv", ""));
  CHECK(isImportedAsQdq("QLinearAdd", "com.microsoft"));
  CHECK_FALSE(isImportedAsQdq("QLinearAdd", ""));
}

TEST_CASE("convert writes a QOperator model as QDQ that computes the same codes", "[import]") {
  namespace fs = std::filesystem;
  OneNode q("QLinearAdd", "com.microsoft");
  q.binaryInputs();
  const fs::path dir = fs::temp_directory_path() / "lowbit_convert_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "qop.onnx", std::ios::binary) << q.m.SerializeAsString();
  ConvertConfig cfg{(dir / "qop.onnx").string(), (dir / "qdq.onnx").string()};
  const nlohmann::json r = runConvert(cfg);
  CHECK(r["ops_in"] == nlohmann::json({{"com.microsoft.QLinearAdd", 1}}));
  // The constant B's DequantizeLinear folds (an Add is not a layer whose weights stay codes).
  CHECK(r["ops_out"] == nlohmann::json({{"Add", 1}, {"DequantizeLinear", 1}, {"QuantizeLinear", 1}}));
  std::unique_ptr<Graph> g = importOnnxFile(cfg.outputPath);
  const Tensor y = runGraph(*g, {u8Tensor({2}, {10, 200})})[0];
  CHECK(std::vector<uint8_t>(y.data<uint8_t>(), y.data<uint8_t>() + 2) == std::vector<uint8_t>{14, 170});
  // Never over its own input.
  cfg.outputPath = cfg.inputPath;
  CHECK_THROWS_WITH(runConvert(cfg), Catch::Contains("is also an input"));
  fs::remove_all(dir);
}

TEST_CASE("a ConvInteger/MatMulInteger zero point read at run time must hold one value", "[import]") {
  // Found by the model fuzz target: a declared dynamic shape sized a tensor of ones.
  OneNode q("MatMulInteger", "");
  q.runtimeU8("a", {2, 3});
  q.u8("b", {3, 2}, {1, 2, 3, 4, 5, 6});
  q.runtimeU8("az", {-1});
  CHECK_THROWS_WITH(importOnnxBytes(q.m.SerializeAsString(), "qop.onnx", "."),
                    Catch::Contains("qop") && Catch::Contains("'az' is read at run time"));
}
