#include <filesystem>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "TestUtil.h"
#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "ops/ShapeInference.h"
#include "passes/PassManager.h"
#include "support/File.h"
#include <random>

using namespace lowbit;
using namespace lowbit::test;

namespace {
const std::string kData = LOWBIT_TEST_DATA;
}

TEST_CASE("the importer reads initializers, dims names and shapes of a small model", "[import]") {
  auto g = importOnnxFile(kData + "/good/tiny_convnet.onnx");
  REQUIRE(g->inputs().size() == 1);
  CHECK(g->inputs()[0]->dims() == Dims{-1, 3, 8, 8});
  CHECK(g->inputs()[0]->dimNames()[0] == "N");
  CHECK(g->findValue("w")->isConstant());
  CHECK(g->outputs()[0]->dims() == Dims{-1, 2});
  CHECK(g->numNodes() == 5);
}

TEST_CASE("export then import gives the same graph and the same outputs", "[export]") {
  auto g = importOnnxFile(kData + "/good/tiny_convnet.onnx");
  std::string path = (std::filesystem::temp_directory_path() / "lowbit_roundtrip.onnx").string();
  exportOnnxFile(*g, path);
  auto back = importOnnxFile(path);
  std::filesystem::remove(path);
  CHECK(back->numNodes() == g->numNodes());
  CHECK(back->inputs()[0]->dimNames()[0] == "N");
  Tensor x = randomTensor({2, 3, 8, 8}, 4);
  CHECK(runGraph(*back, {x})[0] == runGraph(*g, {x})[0]);
}

TEST_CASE("a truncated model is a clear error naming the file", "[import]") {
  CHECK_THROWS_WITH(importOnnxFile(kData + "/bad/truncated.onnx"),
                    Catch::Contains("truncated.onnx") && Catch::Contains("not a valid ONNX"));
}

TEST_CASE("every unsupported node is listed before failing", "[import]") {
  CHECK_THROWS_WITH(importOnnxFile(kData + "/bad/unknown_op.onnx"),
                    Catch::Contains("2 nodes use unsupported ops") && Catch::Contains("gelu_3") &&
                        Catch::Contains("com.microsoft") && Catch::Contains("hardmax_4") &&
                        Catch::Contains("supported: Abs Add"));
}

TEST_CASE("a missing model file is reported by name", "[import]") {
  CHECK_THROWS_WITH(importOnnxFile("/nonexistent/model.onnx"),
                    Catch::Contains("/nonexistent/model.onnx") && Catch::Contains("no such file"));
}

TEST_CASE("a failed write leaves no partial output file", "[export]") {
  auto g = importOnnxFile(kData + "/good/tiny_convnet.onnx");
  CHECK_THROWS_WITH(exportOnnxFile(*g, "/nonexistent-dir/out.onnx"), Catch::Contains("/nonexistent-dir/out.onnx"));
  CHECK_FALSE(std::filesystem::exists("/nonexistent-dir/out.onnx"));
}

TEST_CASE("weights in an external data file beside the model are read", "[import]") {
  auto ext = importOnnxFile(kData + "/good/external/tiny_convnet_external.onnx");
  auto inl = importOnnxFile(kData + "/good/tiny_convnet.onnx");
  REQUIRE(ext->findValue("w")->isConstant());
  CHECK(*ext->findValue("w")->constant() == *inl->findValue("w")->constant());
  Tensor x = randomTensor({1, 3, 8, 8}, 2);
  CHECK(runGraph(*ext, {x})[0] == runGraph(*inl, {x})[0]);
}

TEST_CASE("damaged model bytes give an Error or a valid graph, never a crash", "[import]") {
  const std::string good = readFile(kData + "/good/tiny_convnet.onnx");
  size_t errors = 0, parsed = 0;
  auto tryImport = [&](const std::string &bytes) {
    try {
      auto g = importOnnxBytes(bytes, "damaged.onnx", kData + "/good");
      ++parsed;
      // What parses must also run or be refused with an Error.
      try {
        runPasses(*g, floatPreparePipeline());
        if (!g->inputs().empty() && g->inputs()[0]->hasShape()) {
          Dims d = g->inputs()[0]->dims();
          for (int64_t &v : d)
            if (v < 0 || v > 16) v = 2;
          runGraph(*g, {randomTensor(d, 1)});
        }
      } catch (const Error &) {
      }
    } catch (const Error &e) {
      CHECK_THAT(e.what(), Catch::Contains("damaged.onnx"));
      ++errors;
    }
  };
  for (size_t len = 0; len < good.size(); len += 7) tryImport(good.substr(0, len));
  std::mt19937 rng(11);
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = good;
    for (int k = 0; k < 3; ++k)
      bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);  // seed 11, trial printed on failure
    INFO("trial " << trial);
    tryImport(bytes);
  }
  CHECK(errors > 0);
  CHECK(parsed + errors == good.size() / 7 + 1 + 400);
}

namespace {

// x: optional(sequence(tensor(FLOAT, [2]))) -> Identity -> y, and a FLOAT tensor t -> Relu -> r.
std::string optionalSequenceModel(const std::string &middleOp = "Identity") {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(16);
  onnx::GraphProto *g = m.mutable_graph();
  g->set_name("pass_through");
  auto optionalSequence = [](onnx::ValueInfoProto *v, const std::string &name) {
    v->set_name(name);
    auto *tt = v->mutable_type()->mutable_optional_type()->mutable_elem_type()->mutable_sequence_type()
                   ->mutable_elem_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
  };
  auto tensor = [](onnx::ValueInfoProto *v, const std::string &name) {
    v->set_name(name);
    auto *tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  };
  optionalSequence(g->add_input(), "x");
  tensor(g->add_input(), "t");
  optionalSequence(g->add_output(), "y");
  tensor(g->add_output(), "r");
  onnx::NodeProto *pass = g->add_node();
  pass->set_name("pass");
  pass->set_op_type(middleOp);
  pass->add_input("x");
  pass->add_output("y");
  onnx::NodeProto *relu = g->add_node();
  relu->set_name("relu");
  relu->set_op_type("Relu");
  relu->add_input("t");
  relu->add_output("r");
  std::string bytes;
  m.SerializeToString(&bytes);
  return bytes;
}

}  // namespace

TEST_CASE("a sequence or optional value passes through Identity, the runner and the export round trip", "[import][export][runtime]") {
  auto g = importOnnxBytes(optionalSequenceModel(), "pass_through.onnx", ".");
  REQUIRE(g->inputs()[0]->container);
  CHECK(g->inputs()[0]->container->describe() == "optional(sequence(tensor(FLOAT)))");
  Container seq;
  seq.tensors = {Tensor::fromVector<float>({2}, {1.f, 2.f}), Tensor::fromVector<float>({2}, {3.f, 4.f})};
  Container x;
  x.kind = ContainerType::Kind::Optional;
  x.containers = {seq};
  const Tensor t = Tensor::fromVector<float>({3}, {-1.f, 0.5f, 2.f});

  onnx::ModelProto exported;
  exportToProto(*g, &exported);
  onnx::checker::check_model(exported);
  CHECK(exported.graph().output(0).type().optional_type().elem_type().sequence_type().elem_type().tensor_type().shape().dim(0).dim_value() == 2);
  std::string bytes;
  exported.SerializeToString(&bytes);
  auto back = importOnnxBytes(bytes, "exported", ".");
  for (Graph *graph : {g.get(), back.get()}) {
    runPasses(*graph, floatPreparePipeline());
    Executor exec(*graph);
    std::vector<RunValue> outs = exec.runValues({x, t});
    REQUIRE(outs.size() == 2);
    CHECK(std::get<Container>(outs[0]) == x);
    CHECK(std::get<Tensor>(outs[1]).toFloats() == std::vector<float>{0.f, 0.5f, 2.f});
    // The tensor-only entry point says what to use instead.
    CHECK_THROWS_WITH(exec.run({Tensor(), t}), Catch::Contains("'y' is of type optional(sequence(tensor(FLOAT)))") &&
                                                   Catch::Contains("runValues"));
    CHECK_THROWS_WITH(exec.runValues({t, t}), Catch::Contains("input 'x' must be of type optional"));
  }
}

TEST_CASE("an op other than Identity reading a sequence is an error naming the node", "[import]") {
  CHECK_THROWS_WITH(importOnnxBytes(optionalSequenceModel("Relu"), "relu_of_sequence.onnx", "."),
                    Catch::Contains("'pass' (Relu)") && Catch::Contains("Identity only"));
}

TEST_CASE("opset-7 MaxPool and BatchNormalization (the model zoo's oldest files) read as their later forms", "[import]") {
  Graph g;
  Value *x = addInput(g, "x", {-1, 3, 6, 6});
  Node *bn = addOp(g, "BatchNormalization", {x, g.addConstant("gamma", randomTensor({3}, 31, 0.5f, 2.f)),
                                             g.addConstant("beta", randomTensor({3}, 32)), g.addConstant("mean", randomTensor({3}, 33)),
                                             g.addConstant("var", randomTensor({3}, 34, 0.5f, 2.f))}, "bn");
  Node *pool = addOp(g, "MaxPool", {bn->output(0)}, "y");
  pool->setAttr("kernel_shape", Attribute::ofInts({2, 2}));
  pool->setAttr("strides", Attribute::ofInts({2, 2}));
  g.outputs().push_back(pool->output(0));
  g.opset = 13;
  inferShapes(g);
  const Tensor in = randomTensor({2, 3, 6, 6}, 35);
  const Tensor expected = runGraph(g, {in})[0];
  g.opset = 7;
  std::unique_ptr<Graph> old = importOnnxBytes(exportOnnxBytes(g, "opset7.onnx"), "opset7.onnx", ".");
  CHECK(old->opset == 7);
  CHECK(runGraph(*old, {in})[0] == expected);
  // spatial = 0 keeps statistics per element of [C, H, W]: refused, naming the node.
  bn->setAttr("spatial", Attribute::ofInt(0));
  CHECK_THROWS_WITH(importOnnxBytes(exportOnnxBytes(g, "spatial0.onnx"), "spatial0.onnx", "."),
                    Catch::Contains("'bn_node'") && Catch::Contains("spatial=0"));
}
