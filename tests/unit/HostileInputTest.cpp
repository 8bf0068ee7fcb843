// Hostile and careless input, each case made here as a small file: one-line errors naming the
// file, node or value, checked before anything large is allocated or any output is touched.
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "TestUtil.h"
#include "data/ImageDecoder.h"
#include "export/OnnxExporter.h"
#include "ops/Evaluate.h"
#include "import/OnnxImporter.h"
#include "ops/ShapeInference.h"
#include "passes/PassManager.h"
#include "support/File.h"

using namespace lowbit;
using namespace lowbit::test;
namespace fs = std::filesystem;

namespace {

const std::string kData = LOWBIT_TEST_DATA;

// A fresh folder under the system's temporary one, removed with the object.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lowbit-hostile-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string &name) const { return (path / name).string(); }
};

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An opset-13 model with an empty graph named \p name.
onnx::ModelProto emptyModel(const std::string &name) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  m.mutable_graph()->set_name(name);
  return m;
}

// y = Relu(x) with one float initializer 'w' of \p dims read by an Identity: the smallest model
// whose initializer the importer must load.
onnx::ModelProto modelWithInitializer(const std::vector<int64_t> &dims) {
  onnx::ModelProto m = emptyModel("g");
  onnx::GraphProto *g = m.mutable_graph();
  onnx::TensorProto *w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) w->add_dims(d);
  onnx::NodeProto *n = g->add_node();
  n->set_op_type("Identity");
  n->set_name("id");
  n->add_input("w");
  n->add_output("y");
  onnx::ValueInfoProto *y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m;
}

std::string importError(const onnx::ModelProto &m, const std::string &dir) {
  try {
    importOnnxBytes(m.SerializeAsString(), "hostile.onnx", dir);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

// External data for 'w' ([4] floats): location plus extra key/value pairs.
onnx::ModelProto externalModel(const std::string &location, const std::vector<std::pair<std::string, std::string>> &kv = {}) {
  onnx::ModelProto m = modelWithInitializer({4});
  onnx::TensorProto *w = m.mutable_graph()->mutable_initializer(0);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto *loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value(location);
  for (const auto &[k, v] : kv) {
    auto *e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  return m;
}

}  // namespace

TEST_CASE("a Conv bias or Gemm C shorter than the output channels is an error naming the node", "[hostile]") {
  Graph g;
  Value *x = addInput(g, "x", {1, 3, 8, 8});
  addOp(g, "Conv", {x, g.addConstant("w", randomTensor({16, 3, 3, 3}, 1)), g.addConstant("b", randomTensor({5}, 2))}, "conv");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("conv") && Catch::Contains("'b'") && Catch::Contains("[16]"));

  Graph h;
  Value *a = addInput(h, "a", {2, 8});
  Node *gemm = addOp(h, "Gemm", {a, h.addConstant("wf", randomTensor({10, 8}, 3)), h.addConstant("c", randomTensor({5}, 4))}, "fc");
  gemm->setAttr("transB", Attribute::ofInt(1));
  CHECK_THROWS_WITH(inferShapes(h), Catch::Contains("fc") && Catch::Contains("'c'") && Catch::Contains("[2, 10]"));
  // Broadcastable C stays legal: a scalar, [1, N], [M, 1].
  for (const Dims &cd : {Dims{1}, Dims{1, 10}, Dims{2, 1}, Dims{10}}) {
    Graph ok;
    Value *ai = addInput(ok, "a", {2, 8});
    Node *n = addOp(ok, "Gemm", {ai, ok.addConstant("wf", randomTensor({10, 8}, 3)), ok.addConstant("c", randomTensor(cd, 4))}, "fc");
    n->setAttr("transB", Attribute::ofInt(1));
    CHECK_NOTHROW(inferShapes(ok));
  }
}

TEST_CASE("initializer shapes that overflow or promise more data than the file holds fail before allocating", "[hostile]") {
  TempDir dir;
  // [2^32, 2^32] floats: the byte count overflows 64 bits.
  CHECK_THAT(importError(modelWithInitializer({int64_t{1} << 32, int64_t{1} << 32}), dir.path.string()),
             Catch::Contains("'w'") && Catch::Contains("overflows"));
  // 2^40 floats (4 TiB) with no data: refused from the count, never allocated.
  CHECK_THAT(importError(modelWithInitializer({int64_t{1} << 40}), dir.path.string()),
             Catch::Contains("'w'") && Catch::Contains("has 0 values"));
  onnx::ModelProto raw = modelWithInitializer({int64_t{1} << 40});
  raw.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(16, '\0'));
  CHECK_THAT(importError(raw, dir.path.string()), Catch::Contains("raw_data has 16 bytes"));
}

TEST_CASE("external data stays inside the model's folder and its numbers are checked", "[hostile]") {
  TempDir dir;
  writeBytes(dir / "weights.bin", std::string(16, '\1'));
  CHECK(importError(externalModel("weights.bin"), dir.path.string()).empty());
  CHECK_THAT(importError(externalModel("/etc/passwd"), dir.path.string()), Catch::Contains("is absolute"));
  CHECK_THAT(importError(externalModel("../weights.bin"), dir.path.string()), Catch::Contains("leaves the model's folder"));
  CHECK_THAT(importError(externalModel("sub/../../x"), dir.path.string()), Catch::Contains("leaves the model's folder"));
  fs::create_symlink("/etc/passwd", dir / "link.bin");
  CHECK_THAT(importError(externalModel("link.bin"), dir.path.string()), Catch::Contains("resolves outside"));
  CHECK_THAT(importError(externalModel("weights.bin", {{"offset", "abc"}}), dir.path.string()),
             Catch::Contains("offset 'abc'") && Catch::Contains("whole number"));
  CHECK_THAT(importError(externalModel("weights.bin", {{"offset", "-4"}}), dir.path.string()), Catch::Contains("offset '-4'"));
  CHECK_THAT(importError(externalModel("weights.bin", {{"length", "99999999999999999999"}}), dir.path.string()),
             Catch::Contains("length"));
  CHECK_THAT(importError(externalModel("weights.bin", {{"offset", "8"}}), dir.path.string()), Catch::Contains("too short"));
  CHECK_THAT(importError(externalModel("weights.bin", {{"length", "8"}}), dir.path.string()),
             Catch::Contains("length 8 differs"));
  CHECK_THAT(importError(externalModel("missing.bin"), dir.path.string()), Catch::Contains("missing"));
}

TEST_CASE("FIFOs and devices are refused as inputs instead of blocking or reading forever", "[hostile]") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(readFile(dir / "fifo"), Catch::Contains("fifo") && Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(readFile("/dev/zero"), Catch::Contains("/dev/zero") && Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(decodeImage(dir / "fifo"), Catch::Contains("not a regular file"));
}

TEST_CASE("outputs are checked before the work and written all or nothing, never through a planted link", "[hostile]") {
  TempDir dir;
  writeBytes(dir / "model.onnx", "model");
  {
    OutputFiles out;
    CHECK_THROWS_WITH(out.add(dir / "model.onnx", {dir / "model.onnx"}), Catch::Contains("is also an input"));
    fs::create_hard_link(dir / "model.onnx", dir / "alias.onnx");
    CHECK_THROWS_WITH(out.add(dir / "alias.onnx", {dir / "model.onnx"}), Catch::Contains("is also an input"));
    out.add(dir / "out.onnx");
    CHECK_THROWS_WITH(out.add(dir / "out.onnx"), Catch::Contains("two outputs"));
    CHECK_THROWS_WITH(out.add(dir / "no-such-folder/out.onnx"), Catch::Contains("does not exist"));
    CHECK_THROWS_WITH(out.add(dir.path.string()), Catch::Contains("is a folder"));
  }
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    OutputFiles out;
    CHECK_THROWS_WITH(out.add(dir / "locked/out.onnx"), Catch::Contains("not writable"));
  }
  // A failure before commit leaves every existing output as it was, and no temporary behind.
  writeBytes(dir / "a.onnx", "old a");
  writeBytes(dir / "b.json", "old b");
  {
    OutputFiles out;
    out.add(dir / "a.onnx");
    out.add(dir / "b.json");
    out.write(dir / "a.onnx", "new a");
  }  // the report failed: no commit
  CHECK(readFile(dir / "a.onnx") == "old a");
  CHECK(readFile(dir / "b.json") == "old b");
  size_t files = 0;
  for (const auto &e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 4);  // model, alias, a, b: no temporaries left
  // A symlink planted at the output is replaced, not followed: the victim is untouched.
  writeBytes(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "planted.onnx");
  writeFileAtomic(dir / "planted.onnx", "output");
  CHECK(readFile(dir / "victim") == "precious");
  CHECK(readFile(dir / "planted.onnx") == "output");
  CHECK_FALSE(fs::is_symlink(dir / "planted.onnx"));
}

TEST_CASE("images declaring more pixels than the limit are refused from their header", "[hostile]") {
  TempDir dir;
  // A real JPEG with its SOF0 height and width patched to 65000 x 65000.
  std::string jpeg = readFile(kData + "/good/rgb_13x9.jpg");
  size_t sof = std::string::npos;
  for (size_t i = 0; i + 1 < jpeg.size(); ++i)
    if (static_cast<unsigned char>(jpeg[i]) == 0xFF && (static_cast<unsigned char>(jpeg[i + 1]) & 0xF0) == 0xC0 &&
        static_cast<unsigned char>(jpeg[i + 1]) != 0xC4 && static_cast<unsigned char>(jpeg[i + 1]) != 0xC8) {
      sof = i;
      break;
    }
  REQUIRE(sof != std::string::npos);
  for (size_t k : {sof + 5, sof + 7}) {  // height, then width, big-endian
    jpeg[k] = static_cast<char>(0xFD);
    jpeg[k + 1] = static_cast<char>(0xE8);
  }
  writeBytes(dir / "huge.jpg", jpeg);
  CHECK_THROWS_WITH(decodeImage(dir / "huge.jpg"), Catch::Contains("huge.jpg") && Catch::Contains("65000 x 65000"));
  // A PNG whose IHDR (CRC fixed) declares 60000 x 60000.
  std::string png = readFile(kData + "/good/grey_4x4.png");
  REQUIRE(png.substr(12, 4) == "IHDR");
  for (size_t k : {size_t{16}, size_t{20}}) {
    const uint32_t v = 60000;
    for (int b = 0; b < 4; ++b) png[k + static_cast<size_t>(b)] = static_cast<char>((v >> (24 - 8 * b)) & 0xFF);
  }
  const uLong crc = crc32(0, reinterpret_cast<const Bytef *>(png.data() + 12), 17);
  for (int b = 0; b < 4; ++b) png[29 + static_cast<size_t>(b)] = static_cast<char>((crc >> (24 - 8 * b)) & 0xFF);
  writeBytes(dir / "huge.png", png);
  CHECK_THROWS_WITH(decodeImage(dir / "huge.png"), Catch::Contains("huge.png") && Catch::Contains("60000 x 60000"));
}

TEST_CASE("Clip bounds must be finite scalars, and min above max clips everything to max", "[hostile]") {
  auto clipGraph = [](Graph &g, const Tensor &lo, const Tensor &hi) {
    Value *x = addInput(g, "x", {1, 2, 2, 2});
    addOp(g, "Clip", {x, g.addConstant("lo", lo), g.addConstant("hi", hi)}, "y");
    g.outputs().push_back(g.findValue("y"));
  };
  const Tensor x = randomTensor({1, 2, 2, 2}, 5, -3.f, 3.f);
  {
    Graph g;
    clipGraph(g, Tensor::fromVector<float>({}, {std::nanf("")}), Tensor::fromVector<float>({}, {6.f}));
    CHECK_THROWS_WITH(runGraph(g, {x}), Catch::Contains("y_node") && Catch::Contains("NaN"));
  }
  {
    Graph g;
    clipGraph(g, Tensor::fromVector<float>({0}, {}), Tensor::fromVector<float>({}, {6.f}));
    CHECK_THROWS_WITH(runGraph(g, {x}), Catch::Contains("y_node") && Catch::Contains("scalar"));
  }
  {
    Graph g;  // ONNX: min > max gives max everywhere
    clipGraph(g, Tensor::fromVector<float>({}, {2.f}), Tensor::fromVector<float>({}, {-1.f}));
    for (float v : runGraph(g, {x})[0].toFloats()) CHECK(v == -1.f);
  }
}

namespace {
// Ends \p g (opset 13) at \p features with GlobalAveragePool and Flatten into logits 'y', writes
// it to \p dir and runs `lowbit quantize` on it with the test images and \p flags.
RunResult quantizeClassifier(Graph &g, const std::string &features, const TempDir &dir, const std::string &flags) {
  addOp(g, "GlobalAveragePool", {g.findValue(features)}, "p");
  addOp(g, "Flatten", {g.findValue("p")}, "y");
  g.outputs().push_back(g.findValue("y"));
  g.opset = 13;
  exportOnnxFile(g, dir / "model.onnx");
  return runLowbit("quantize " + dir / "model.onnx" + " --calib " + kData + "/good --size 8 " + flags + " -o " +
                   dir / "out.onnx");
}
}  // namespace

TEST_CASE("quantize refuses NaN and infinite weights naming the node and weight", "[hostile]") {
  TempDir dir;
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    Graph g;
    Value *x = addInput(g, "x", {-1, 3, 8, 8});
    Tensor w = randomTensor({4, 3, 3, 3}, 1);
    w.data<float>()[7] = bad;
    Node *conv = addOp(g, "Conv", {x, g.addConstant("w", w)}, "c");
    conv->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
    RunResult r = quantizeClassifier(g, "c", dir, "");
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("c_node") && Catch::Contains("weight 'w'") && Catch::Contains("index 7") &&
                             Catch::Contains("--exclude"));
    CHECK_FALSE(fs::exists(dir / "out.onnx"));
  }
}

TEST_CASE("quantize refuses activations that overflow to infinity on the calibration images", "[hostile]") {
  TempDir dir;
  Graph g;
  Value *x = addInput(g, "x", {-1, 3, 8, 8});
  Tensor big(DType::Float32, {4, 3, 3, 3});
  for (int64_t i = 0; i < big.numel(); ++i) big.data<float>()[i] = 3e38f;  // finite, but its sums are not
  Node *c1 = addOp(g, "Conv", {x, g.addConstant("w1", big)}, "c1");
  c1->setAttr("pads", Attribute::ofInts({1, 1, 1, 1}));
  addOp(g, "Relu", {g.findValue("c1")}, "r1");
  addOp(g, "Conv", {g.findValue("r1"), g.addConstant("w2", randomTensor({4, 4, 1, 1}, 2))}, "c2");
  RunResult r = quantizeClassifier(g, "c2", dir, "--exclude c1_node");
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Catch::Contains("activation 'r1'") && Catch::Contains("inf") && Catch::Contains("finite"));
}

TEST_CASE("an unsorted 20,000-node graph is sorted in one pass, and a cycle is an error naming a node", "[hostile]") {
  onnx::ModelProto m = emptyModel("chain");
  onnx::GraphProto *g = m.mutable_graph();
  onnx::ValueInfoProto *in = g->add_input();
  in->set_name("r0");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d : {1, 4}) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  const int n = 20000;
  for (int i = n - 1; i >= 0; --i) {  // listed last node first
    onnx::NodeProto *node = g->add_node();
    node->set_op_type("Relu");
    node->set_name(cat("relu", i));
    node->add_input(cat("r", i));
    node->add_output(cat("r", i + 1));
  }
  g->add_output()->set_name(cat("r", n));
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  TempDir dir;
  std::unique_ptr<Graph> graph = importOnnxBytes(m.SerializeAsString(), "chain.onnx", dir.path.string());
  const std::vector<Node *> order = graph->nodes();
  REQUIRE(order.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; i += 997) CHECK(order[static_cast<size_t>(i)]->name() == cat("relu", i));
  // Close the chain into a cycle: the last node feeds the first.
  g->mutable_node(n - 1)->set_input(0, cat("r", n));
  CHECK_THROWS_WITH(importOnnxBytes(m.SerializeAsString(), "cycle.onnx", dir.path.string()),
                    Catch::Contains("cycle") && Catch::Contains("relu"));
}

TEST_CASE("QDQ scales must be finite and not negative, non-zero where they divide, one per channel of the axis",
          "[hostile]") {
  auto qdq = [](float scale, const std::string &op, int64_t scales = 1) {
    auto g = std::make_unique<Graph>();
    g->opset = 13;
    Value *x = addInput(*g, "x", {1, 4, 2, 2});
    if (op == "DequantizeLinear") x->setDType(DType::Int8);
    Tensor s = scales == 1 ? Tensor::fromVector<float>({}, {scale})
                           : Tensor::fromVector<float>({scales}, std::vector<float>(static_cast<size_t>(scales), scale));
    Tensor z = scales == 1 ? Tensor::fromVector<int8_t>({}, {0})
                           : Tensor::fromVector<int8_t>({scales}, std::vector<int8_t>(static_cast<size_t>(scales), 0));
    addOp(*g, op, {x, g->addConstant("s", s), g->addConstant("z", z)}, "y");
    return g;
  };
  for (float bad : {0.f, -0.5f, std::nanf(""), std::numeric_limits<float>::infinity()})
    CHECK_THROWS_WITH(inferShapes(*qdq(bad, "QuantizeLinear")), Catch::Contains("y_node") && Catch::Contains("scale 's'"));
  for (float bad : {-0.5f, std::nanf("")})
    CHECK_THROWS_WITH(inferShapes(*qdq(bad, "DequantizeLinear")), Catch::Contains("scale 's'"));
  CHECK_NOTHROW(inferShapes(*qdq(0.f, "DequantizeLinear")));  // a zero scale dequantizes to zeros
  CHECK_NOTHROW(inferShapes(*qdq(0.1f, "QuantizeLinear", 4)));
  CHECK_THROWS_WITH(inferShapes(*qdq(0.1f, "QuantizeLinear", 3)), Catch::Contains("3 scales for axis 1"));
  // An empty scale (found by the qdq fuzz target: read past an empty vector in constant folding).
  Graph e;
  Node *dq = addOp(e, "DequantizeLinear", {e.addConstant("q", Tensor::fromVector<int8_t>({2}, {1, 2})),
                                           e.addConstant("s", Tensor(DType::Float32, {0, 1}))}, "y");
  CHECK_THROWS_WITH(evaluateConstant(*dq, 13), Catch::Contains("y_node") && Catch::Contains("not empty"));
  CHECK_THROWS_WITH(inferShapes(e), Catch::Contains("y_node") && Catch::Contains("not empty"));
}

TEST_CASE("float tensors read as integers must hold integers in range, and DequantizeLinear reads integer codes",
          "[hostile]") {
  // Found by the qdq fuzz target: a NaN read as a code was undefined behaviour.
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), 1e30f})
    CHECK_THROWS_WITH(Tensor::fromVector<float>({1}, {bad}).toInt64s(), Catch::Contains("does not fit an integer"));
  CHECK(Tensor::fromVector<float>({2}, {-3.f, 7.f}).toInt64s() == std::vector<int64_t>{-3, 7});
  Graph g;
  Value *x = addInput(g, "x", {1, 4});
  addOp(g, "DequantizeLinear", {x, g.addConstant("s", Tensor::fromVector<float>({}, {0.5f}))}, "y");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("y_node") && Catch::Contains("dequantizes FLOAT"));
}

TEST_CASE("a JPEG whose data ends early is refused as PIL refuses it, not filled in with grey", "[hostile]") {
  const std::string full = readFile(kData + "/good/rgb_13x9.jpg");
  for (size_t keep : {size_t{300}, full.size() - 10})
    CHECK_THROWS_WITH(decodeImageBytes(full.substr(0, keep), "cut.jpg"),
                      Catch::Contains("cut.jpg") && Catch::Contains("Premature end"));
  CHECK(decodeImageBytes(full, "whole.jpg").width == 13);
}

TEST_CASE("QuantizeLinear and Concat with a missing input are errors naming the node", "[hostile]") {
  // Found by the qdq fuzz target: constant folding read a missing scale through a null pointer.
  Graph g;
  Node *q = addOp(g, "QuantizeLinear", {g.addConstant("x", randomTensor({4}, 1)), nullptr}, "q");
  CHECK_THROWS_WITH(evaluateConstant(*q, 13), Catch::Contains("q_node") && Catch::Contains("scale"));
  Node *c = addOp(g, "Concat", {g.addConstant("a", randomTensor({2}, 2)), nullptr}, "c");
  c->setAttr("axis", Attribute::ofInt(0));
  CHECK_THROWS_WITH(evaluate(*c, {&*g.findValue("a")->constant(), nullptr}, 13), Catch::Contains("c_node"));
  Graph h;
  addOp(h, "QuantizeLinear", {addInput(h, "x", {4}), nullptr}, "y");
  CHECK_THROWS_WITH(inferShapes(h), Catch::Contains("y_node") && Catch::Contains("scale"));
}

TEST_CASE("Clip of integers with bounds beyond int64 saturates", "[hostile]") {
  // Found by the qdq fuzz target in CI: a float bound of -2.6e33 cast to int64.
  Graph g;
  Node *c = addOp(g, "Clip", {g.addConstant("x", Tensor::fromVector<int64_t>({3}, {-5, 0, 7})),
                              g.addConstant("lo", Tensor::fromVector<float>({}, {-2.6e33f})),
                              g.addConstant("hi", Tensor::fromVector<float>({}, {3e30f}))}, "c");
  CHECK(evaluateConstant(*c, 13)[0].toInt64s() == std::vector<int64_t>{-5, 0, 7});
  Node *d = addOp(g, "Clip", {g.addConstant("x2", Tensor::fromVector<int64_t>({2}, {-5, 7})),
                              g.addConstant("lo2", Tensor::fromVector<float>({}, {3e30f})),
                              g.addConstant("hi2", Tensor::fromVector<float>({}, {3e30f}))}, "d");
  CHECK(evaluateConstant(*d, 13)[0].toInt64s() ==
        std::vector<int64_t>{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()});
}

TEST_CASE("input counts and required inputs follow the op's ONNX schema, naming the node", "[hostile]") {
  // Found by the qdq fuzz target: a Conv whose first input name was empty reached shape inference.
  Graph g;
  addOp(g, "Conv", {nullptr, g.addConstant("w", randomTensor({2, 1, 1, 1}, 1))}, "c");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("c_node") && Catch::Contains("required input 0 (X) is missing"));
  Graph h;
  Value *x = addInput(h, "x", {4});
  addOp(h, "Relu", {x, x}, "r");
  CHECK_THROWS_WITH(inferShapes(h), Catch::Contains("r_node") && Catch::Contains("has 2 inputs; Relu (opset 13) takes 1"));
  Graph k;
  Value *a = addInput(k, "a", {4});
  addOp(k, "Add", {a}, "s");
  CHECK_THROWS_WITH(inferShapes(k), Catch::Contains("s_node") && Catch::Contains("takes 2"));
  Graph opt;  // optional inputs may be left empty: Clip without a lower bound
  Value *y = addInput(opt, "y", {4});
  addOp(opt, "Clip", {y, nullptr, opt.addConstant("hi", Tensor::scalar(6.f))}, "clip");
  CHECK_NOTHROW(inferShapes(opt));
}

TEST_CASE("per-axis scales for a scalar input are an error naming the node", "[hostile]") {
  // Found by the qdq fuzz target: the axis check read the first dimension of a scalar.
  Graph g;
  Value *x = addInput(g, "x", {});
  addOp(g, "QuantizeLinear", {x, g.addConstant("s", Tensor::fromVector<float>({2}, {0.1f, 0.2f}))}, "q");
  CHECK_THROWS_WITH(inferShapes(g), Catch::Contains("q_node") && Catch::Contains("2 scales for the scalar 'x'"));
}

TEST_CASE("empty tensors: an empty result needs no computation, a reduction over an empty dimension is refused",
          "[hostile]") {
  // Found by the model fuzz target: oneDNN's matmul divided by a zero dimension.
  Graph g;
  Value *a = addInput(g, "a", {0, 3});
  Node *mm = addOp(g, "MatMul", {a, g.addConstant("b", randomTensor({3, 2}, 1))}, "y");
  Node *cast = addOp(g, "Cast", {mm->output(0)}, "z");  // read at run time by the reference evaluator
  cast->setAttr("to", Attribute::ofInt(static_cast<int64_t>(DType::Int32)));
  g.outputs().push_back(mm->output(0));
  g.outputs().push_back(cast->output(0));
  inferShapes(g);
  const std::vector<Tensor> out = runGraph(g, {Tensor(DType::Float32, {0, 3})});
  CHECK(out[0].dims() == Dims{0, 2});
  CHECK(out[1].dims() == Dims{0, 2});
  Graph h;
  Value *x = addInput(h, "x", {2, 0});
  h.outputs().push_back(addOp(h, "MatMul", {x, h.addConstant("w", Tensor(DType::Float32, {0, 3}))}, "y")->output(0));
  inferShapes(h);
  CHECK_THROWS_WITH(runGraph(h, {Tensor(DType::Float32, {2, 0})}),
                    Catch::Contains("y_node") && Catch::Contains("empty dimension"));
}

TEST_CASE("an Expand or Tile to more bytes than the machine holds is refused naming the node, before allocating",
          "[hostile]") {
  for (bool constantInput : {false, true}) {
    Graph g;
    Value *x = addInput(g, "x", {1, 3, 8, 8});
    Value *src = constantInput ? g.addConstant("c", randomTensor({1, 1, 1, 1}, 1)) : x;
    Node *tile = addOp(g, "Tile", {src, g.addConstant("r", Tensor::fromVector<int64_t>({4}, {100000, 100000, 8, 8}))}, "t");
    Node *mean = addOp(g, "ReduceMean", {tile->output(0)}, "m");
    mean->setAttr("keepdims", Attribute::ofInt(0));
    g.outputs() = {addOp(g, "Add", {x, mean->output(0)}, "y")->output(0)};
    inferShapes(g);
    INFO(constantInput);
    if (constantInput)
      CHECK_THROWS_WITH(runPasses(g, {"ConstantFolding"}), Catch::Contains("t_node") && Catch::Contains("more memory"));
    else
      CHECK_THROWS_WITH(runGraph(g, {randomTensor({1, 3, 8, 8}, 2)}), Catch::Contains("t_node") && Catch::Contains("more memory"));
  }
}
