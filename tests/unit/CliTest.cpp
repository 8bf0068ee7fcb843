// The CLI as a user meets it: exit codes and one-line errors on stderr.
#include <array>
#include <map>
#include <set>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "export/OnnxExporter.h"
#include "import/OnnxImporter.h"
#include "import/QOperatorImport.h"
#include "ops/ShapeInference.h"
#include "ops/OpSupport.h"
#include "support/File.h"

namespace {
const std::string kData = LOWBIT_TEST_DATA;

using lowbit::test::runLowbit;
using lowbit::test::RunResult;

// The float32 values of a file `eval --dump` wrote.
std::vector<float> readF32(const std::string &path) {
  const std::string bytes = lowbit::readFile(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// A class folder \p dir holding the four readable test images (JPEG and PNG, RGB and grey).
void fillClassFolder(const std::filesystem::path &dir) {
  std::filesystem::create_directories(dir);
  for (const char *img : {"rgb_13x9.jpg", "rgb_5x4.png", "grey_6x5.jpg", "grey_4x4.png"})
    std::filesystem::copy_file(kData + "/good/" + img, dir / img);
}

// The quantized model \p model's logits from the int8 runner equal the float simulation's on
// the test images (in a scratch folder \p data), with every weight layer as integers.
void checkInt8MatchesSimulation(const std::string &model, const std::string &preprocess, const std::filesystem::path &data) {
  std::filesystem::remove_all(data);
  fillClassFolder(data / "0");
  std::vector<float> logits[2];
  for (int k = 0; k < 2; ++k) {
    const std::string prefix = (data / (k ? "int8" : "sim")).string();
    RunResult e = runLowbit("eval " + model + " --data " + data.string() + preprocess + " --dump " + prefix +
                            (k ? " --runner int8" : ""));
    REQUIRE(e.code == 0);
    if (k) CHECK_THAT(e.output, Catch::Contains("2 of 2 Conv/Gemm/MatMul as integers"));
    logits[k] = readF32(prefix + ".logits.f32");
  }
  REQUIRE(logits[0].size() == logits[1].size());
  REQUIRE_FALSE(logits[0].empty());
  for (size_t i = 0; i < logits[0].size(); ++i) CHECK(logits[1][i] == Approx(logits[0][i]).margin(1e-4));
  std::filesystem::remove_all(data);
}
// Writes tests/data's tiny classifier to \p file with its logits replaced by what \p edit
// returns (given the graph and the logits; it may change the graph otherwise too).
void writeTinyWith(const std::filesystem::path &file, const std::function<lowbit::Value *(lowbit::Graph &, lowbit::Value *)> &edit) {
  auto g = lowbit::importOnnxFile(kData + "/good/tiny_convnet.onnx");
  g->outputs()[0] = edit(*g, g->outputs()[0]);
  lowbit::inferShapes(*g);
  lowbit::exportOnnxFile(*g, file.string());
}
}  // namespace

TEST_CASE("lowbit inspect reports a truncated model with exit code 1", "[cli]") {
  RunResult r = runLowbit("inspect " + kData + "/bad/truncated.onnx");
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Catch::StartsWith("error: ") && Catch::Contains("truncated.onnx"));
}

TEST_CASE("lowbit inspect lists unsupported ops instead of failing", "[cli]") {
  RunResult r = runLowbit("inspect " + kData + "/bad/unknown_op.onnx");
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("cannot run yet (2 nodes)") && Catch::Contains("gelu_3"));
}

TEST_CASE("lowbit eval on a folder with no images exits 1 naming the folder", "[cli]") {
  std::filesystem::path empty = std::filesystem::temp_directory_path() / "lowbit_cli_empty";
  std::filesystem::create_directories(empty);
  RunResult r = runLowbit("eval " + kData + "/good/tiny_convnet.onnx --data " + empty.string() + " --size 8");
  std::filesystem::remove_all(empty);
  CHECK(r.code == 1);
  CHECK_THAT(r.output, Catch::Contains("lowbit_cli_empty") && Catch::Contains("no images"));
}

TEST_CASE("bad usage exits 2", "[cli]") {
  CHECK(runLowbit("eval").code == 2);
  CHECK(runLowbit("frobnicate").code == 2);
  CHECK(runLowbit("eval model.onnx --data d --batch 0").code == 2);
}

TEST_CASE("lowbit inspect --list-ops says per op what runs it: float runner, int8 runner, training engine", "[cli]") {
  RunResult r = runLowbit("inspect --list-ops --json");
  REQUIRE(r.code == 0);
  const nlohmann::json table = nlohmann::json::parse(r.output);
  std::map<std::string, nlohmann::json> byOp;
  for (const auto &row : table) byOp[row.at("op").get<std::string>()] = row;
  REQUIRE(byOp.size() == lowbit::supportedOps().size() + lowbit::opsImportedAsQdq().size());
  CHECK(byOp.at("QLinearConv").at("read_as") == "DequantizeLinear -> Conv -> QuantizeLinear");
  CHECK(byOp.at("QLinearConv").at("int8") == true);
  CHECK(byOp.at("com.microsoft.QLinearSigmoid").at("float") == true);
  CHECK(byOp.at("Conv") == nlohmann::json({{"op", "Conv"}, {"float", true}, {"int8", true}, {"trainable", true}}));
  CHECK(byOp.at("Mul").at("int8") == false);
  CHECK(byOp.at("Mul").at("trainable") == true);
  CHECK(byOp.at("Shape").at("trainable") == false);  // folded away before training
  CHECK_THAT(runLowbit("inspect --list-ops").output, Catch::Contains("HardSwish") && Catch::Contains("trainable"));
}

TEST_CASE("lowbit inspect prints FLOPs of a valid model", "[cli]") {
  RunResult r = runLowbit("inspect " + kData + "/good/tiny_convnet.onnx --json");
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("\"flops_per_image\""));
}

TEST_CASE("lowbit quantize: bad settings are one-line usage errors (exit 2), a good run writes the file", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const fs::path out = fs::temp_directory_path() / "lowbit_cli_q.onnx";
  RunResult bad = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --granularity block -o " + out.string());
  CHECK(bad.code == 2);
  CHECK_THAT(bad.output, Catch::Contains("--granularity 'block'"));
  CHECK_FALSE(fs::exists(out));
  RunResult obs = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --act-observer median -o " + out.string());
  CHECK(obs.code == 2);
  CHECK_THAT(obs.output, Catch::Contains("'median'"));
  for (const char *flags : {"--granularity group:0", "--weight-observer median", "--group-order random"}) {
    RunResult r = runLowbit("quantize " + model + " --calib " + calib + " --size 8 " + flags + " -o " + out.string());
    INFO(flags);
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith("error: "));
  }
  for (const char *flags : {"--runner bogus", "--std -1", "--std nan", "--std 0", "--mean 0.5,x"}) {
    RunResult r = runLowbit("eval " + model + " --data " + calib + " --size 8 " + flags);
    INFO(flags);
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith("error: ") && Catch::Contains(std::string(flags).substr(0, 5)));
  }
  CHECK(runLowbit("quantize " + model + " --calib " + calib + " --wbits 9 -o " + out.string()).code == 2);
  RunResult noFinetune = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --feature-loss 1 -o " + out.string());
  CHECK(noFinetune.code == 1);
  CHECK_THAT(noFinetune.output, Catch::Contains("--feature-loss") && Catch::Contains("--finetune"));
  CHECK_FALSE(fs::exists(out));
  RunResult ok = runLowbit("quantize " + model + " --calib " + calib +
                           " --size 8 --wbits 4 --granularity group:2 --act-observer percentile:99 -o " + out.string());
  CHECK(ok.code == 0);
  CHECK(fs::exists(out));
  RunResult inspect = runLowbit("inspect " + out.string());
  CHECK(inspect.code == 0);
  CHECK_THAT(inspect.output, Catch::Contains("QuantizeLinear"));
  CHECK_THAT(inspect.output, Catch::Contains("int8 runner:"));
  RunResult bench = runLowbit("bench " + model + " --int8 " + out.string() + " --size 8 --batch 2 --iters 2 --warmup 0 --json");
  REQUIRE(bench.code == 0);
  nlohmann::json results = nlohmann::json::parse(bench.output)["results"];
  REQUIRE(results.size() == 3);
  CHECK(results[0]["mode"] == "float");
  CHECK(results[1]["mode"] == "int8_static");
  CHECK(results[2]["mode"] == "int8_dynamic");
  for (const auto &r : results)
    for (const char *key : {"batch", "threads", "median_ms", "p90_ms", "images_per_s"}) CHECK(r.contains(key));
  RunResult noQuant = runLowbit("bench " + model + " --modes int8_static --size 8 --iters 1");
  CHECK(noQuant.code == 1);
  CHECK_THAT(noQuant.output, Catch::Contains("--int8"));
  RunResult cmp = runLowbit("inspect --compare " + model + " " + out.string() + " --data " + calib + " --size 8");
  CHECK(cmp.code == 0);
  CHECK_THAT(cmp.output, Catch::Contains("per-layer SQNR") && Catch::Contains("conv (Conv)"));
  fs::remove(out);
}

TEST_CASE("lowbit quantize --recipe: settings from the file, command-line flags win", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path();
  const fs::path recipe = dir / "lowbit_recipe.json", out = dir / "lowbit_recipe.onnx", report = dir / "lowbit_recipe_report.json";
  std::ofstream(recipe) << R"({"wbits": 6, "granularity": "group:2", "act_observer": "percentile:99"})";
  RunResult r = runLowbit("quantize " + kData + "/good/tiny_convnet.onnx --calib " + kData +
                          "/good --size 8 --recipe " + recipe.string() + " --wbits 5 -o " + out.string() +
                          " --report " + report.string());
  REQUIRE(r.code == 0);
  std::ifstream in(report);
  nlohmann::json rep = nlohmann::json::parse(in);
  CHECK(rep["recipe"]["wbits"] == 5);  // the flag
  CHECK(rep["recipe"]["granularity"] == "group:2");  // the file
  CHECK(rep["recipe"]["act_observer"] == "percentile:99");
  // eval reads the bit widths back from the quantized file.
  fs::path folder = dir / "lowbit_recipe_data" / "0";  // class 0 of the model's two
  fs::remove_all(folder.parent_path());
  fs::create_directories(folder);
  fs::copy_file(kData + "/good/rgb_13x9.jpg", folder / "a.jpg", fs::copy_options::overwrite_existing);
  RunResult ev = runLowbit("eval " + out.string() + " --data " + (dir / "lowbit_recipe_data").string() + " --size 8");
  CHECK(ev.code == 0);
  CHECK_THAT(ev.output, Catch::Contains("weights 5-bit x2; activations 8-bit x2"));
  fs::remove_all(dir / "lowbit_recipe_data");
  std::ofstream(recipe) << R"({"colour": 1})";
  RunResult bad = runLowbit("quantize " + kData + "/good/tiny_convnet.onnx --calib " + kData + "/good --size 8 --recipe " +
                            recipe.string() + " -o " + out.string());
  CHECK(bad.code == 1);
  CHECK_THAT(bad.output, Catch::Contains("unknown recipe setting 'colour'") && Catch::Contains(recipe.string()));
  // Whole numbers stay whole: 4.7 bits or a negative seed are errors, not 4 bits or seed 2^32-1.
  for (const char *text : {R"({"wbits": 4.7})", R"({"seed": -1})", R"({"finetune": {"block_iters": 1e30}})"}) {
    std::ofstream(recipe) << text;
    RunResult whole = runLowbit("quantize " + kData + "/good/tiny_convnet.onnx --calib " + kData + "/good --size 8 --recipe " +
                            recipe.string() + " -o " + out.string());
    INFO(text);
    CHECK(whole.code == 1);
    CHECK_THAT(whole.output, Catch::Contains("must be a whole number") && Catch::Contains(recipe.string()));
  }
  for (const auto &p : {recipe, out, report}) fs::remove(p);
}

TEST_CASE("lowbit quantize: a fine-tuned run's report replays as a recipe, PACT clips included", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const fs::path dir = fs::temp_directory_path();
  const std::string out = (dir / "lowbit_cli_ft.onnx").string(), report = (dir / "lowbit_cli_ft.json").string(),
                    replay = (dir / "lowbit_cli_ft2.json").string();
  for (const char *flag : {"--act-quantizer", "--weight-quantizer"}) {
    RunResult bad = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --finetune global " + flag + " bogus -o " + out);
    CHECK(bad.code == 2);
    CHECK_THAT(bad.output, Catch::Contains("'bogus'") && Catch::Contains(flag));
  }
  RunResult ft = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 4 --finetune global --joint-epochs 2 " +
                           "--act-quantizer pact --lr 0.002 -o " + out + " --report " + report);
  REQUIRE(ft.code == 0);
  nlohmann::json first = nlohmann::json::parse(lowbit::readFile(report));
  CHECK(first["recipe"]["finetune"]["activation_quantizer"] == "pact");
  CHECK(first["finetune"]["activation_quantizer"] == "pact");
  RunResult again = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --recipe " + report + " -o " + out +
                              " --report " + replay);
  REQUIRE(again.code == 0);
  nlohmann::json second = nlohmann::json::parse(lowbit::readFile(replay));
  CHECK(second["recipe"] == first["recipe"]);
  CHECK(second["finetune"]["stage2_joint"] == first["finetune"]["stage2_joint"]);  // same seed, same losses
  // Five images hold none back: the default search and stopping rule cannot run, and say so.
  RunResult few = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --finetune twostage -o " + out);
  CHECK(few.code == 1);
  CHECK_THAT(few.output, Catch::Contains("no images held back (5 images") && Catch::Contains("--lr"));
}

TEST_CASE("lowbit quantize refuses outputs that would overwrite its input or each other before any work", "[cli][hostile]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "lowbit_cli_outputs";
  fs::create_directories(dir);
  const std::string model = (dir / "model.onnx").string(), calib = kData + "/good";
  fs::copy_file(kData + "/good/tiny_convnet.onnx", model, fs::copy_options::overwrite_existing);
  const std::string before = lowbit::readFile(model);
  RunResult self = runLowbit("quantize " + model + " --calib " + calib + " --size 8 -o " + model);
  CHECK(self.code == 1);
  CHECK_THAT(self.output, Catch::Contains("is also an input"));
  CHECK(lowbit::readFile(model) == before);
  const std::string out = (dir / "q.onnx").string();
  RunResult same = runLowbit("quantize " + model + " --calib " + calib + " --size 8 -o " + out + " --report " + out);
  CHECK(same.code == 1);
  CHECK_THAT(same.output, Catch::Contains("two outputs"));
  RunResult noDir = runLowbit("quantize " + model + " --calib " + calib + " --size 8 -o " + (dir / "none/q.onnx").string() +
                              " --finetune twostage --held-back 0 --lr 1e-3 --joint-epochs 50");
  CHECK(noDir.code == 1);
  CHECK_THAT(noDir.output, Catch::Contains("does not exist"));
  CHECK_THAT(noDir.output, !Catch::Contains("finetune stage"));  // refused before the fine-tune
  RunResult threads = runLowbit("eval " + model + " --data " + calib + " --size 8 --threads 100000");
  CHECK(threads.code == 1);
  CHECK_THAT(threads.output, Catch::Contains("--threads 100000"));
  RunResult device = runLowbit("inspect /dev/zero");
  CHECK(device.code == 1);
  CHECK_THAT(device.output, Catch::Contains("/dev/zero") && Catch::Contains("not a regular file"));
  fs::remove_all(dir);
}

TEST_CASE("lowbit eval with an integer runner on a float model says it ran in float", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path data = fs::temp_directory_path() / "lowbit_cli_float_int8" / "1";  // class 1 of two
  fs::remove_all(data.parent_path());
  fs::create_directories(data);
  fs::copy_file(kData + "/good/rgb_13x9.jpg", data / "a.jpg", fs::copy_options::overwrite_existing);
  RunResult r = runLowbit("eval " + kData + "/good/tiny_convnet.onnx --data " + data.parent_path().string() +
                          " --size 8 --runner int8 --json");
  CHECK(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("warning: ") && Catch::Contains("no quantized layers") &&
                           Catch::Contains("runs it in float"));
  RunResult plain = runLowbit("eval " + kData + "/good/tiny_convnet.onnx --data " + data.parent_path().string() + " --size 8");
  CHECK(plain.code == 0);
  CHECK_THAT(plain.output, !Catch::Contains("warning: "));
  fs::remove_all(data.parent_path());
}

TEST_CASE("preprocessing flags must fit the model, and group and image counts that cannot be met are stated warnings",
          "[cli]") {
  const std::string model = kData + "/good/tiny_convnet.onnx";
  RunResult mean = runLowbit("quantize " + model + " --calib " + kData + "/good --size 8 --mean 0.5,0.5 -o /tmp/x.onnx");
  CHECK(mean.code == 2);
  CHECK_THAT(mean.output, Catch::Contains("--mean has 2 values") && Catch::Contains("3 channels"));
  CHECK(runLowbit("quantize " + model + " --calib " + kData + "/good --size 0 -o /tmp/x.onnx").code == 2);
  // One value stands for every channel.
  const auto dir = std::filesystem::temp_directory_path() / "lowbit-cli-warnings";
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "q.onnx").string(), report = (dir / "q.json").string();
  RunResult ok = runLowbit("quantize " + model + " --calib " + kData + "/good --size 8 --mean 0.5 --std 0.25" +
                           " --granularity group:3 --num-calib 100 -o " + out + " --report " + report);
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.output, Catch::Contains("warning: --num-calib 100") && Catch::Contains("has 5 images") &&
                            Catch::Contains("warning: group:3 does not divide the output channels of 1 layer (conv)") &&
                            Catch::Contains("fewer output channels than groups in 1 layer (fc)"));
  const nlohmann::json r = nlohmann::json::parse(lowbit::readFile(report));
  CHECK(r["warnings"].size() == 3);
  std::filesystem::remove_all(dir);
}

TEST_CASE("lowbit eval scores a partial integer-named folder by the folder names and says how labels were assigned", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_labels";
  fs::remove_all(root);
  // Class 1 only, of the model's two outputs: sorted positions would call it class 0.
  fillClassFolder(root / "partial" / "1");
  const std::string model = kData + "/good/tiny_convnet.onnx";
  RunResult r = runLowbit("eval " + model + " --data " + (root / "partial").string() + " --size 8 --json --dump " +
                          (root / "d").string());
  REQUIRE(r.code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  CHECK(j["labels"] == "integer folder names");
  // top-1 is the share of images whose larger logit is output 1.
  const std::vector<float> logits = readF32((root / "d.logits.f32").string());
  int ones = 0;
  for (size_t i = 0; i < logits.size() / 2; ++i) ones += logits[2 * i + 1] > logits[2 * i];
  CHECK(j["correct_top1"] == ones);
  std::ifstream meta(root / "d.json");
  CHECK(nlohmann::json::parse(meta)["labels"] == std::vector<int>(logits.size() / 2, 1));
  // Named folders fewer than the outputs: one line naming the model, the folder and the fix.
  fs::create_directories(root / "named" / "cat");
  fs::copy_file(kData + "/good/rgb_13x9.jpg", root / "named" / "cat" / "a.jpg");
  RunResult bad = runLowbit("eval " + model + " --data " + (root / "named").string() + " --size 8");
  CHECK(bad.code == 1);
  CHECK_THAT(bad.output, Catch::Contains("2 outputs") && Catch::Contains("1 class folders") && Catch::Contains("--labels"));
  // A labels file puts 'cat' at output 1.
  std::ofstream(root / "labels.txt") << "dog\ncat\n";
  RunResult mapped = runLowbit("eval " + model + " --data " + (root / "named").string() + " --size 8 --labels " +
                               (root / "labels.txt").string());
  CHECK(mapped.code == 0);
  CHECK_THAT(mapped.output, Catch::Contains("labels: labels file") && Catch::Contains("(2 names)"));
  fs::remove_all(root);
}

TEST_CASE("lowbit eval orders tied logits by index, as argmax does", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_ties";
  fs::remove_all(root);
  // Logits that always tie: a classifier with zero weights and bias.
  lowbit::Graph g;
  lowbit::Value *x = lowbit::test::addInput(g, "x", {-1, 3, 8, 8});
  lowbit::Node *gap = lowbit::test::addOp(g, "GlobalAveragePool", {x}, "gap");
  lowbit::Node *flat = lowbit::test::addOp(g, "Flatten", {gap->output(0)}, "flat");
  lowbit::Node *fc = lowbit::test::addOp(g, "Gemm", {flat->output(0), g.addConstant("w", lowbit::Tensor::fromVector<float>({2, 3}, {0, 0, 0, 0, 0, 0})),
                                                     g.addConstant("b", lowbit::Tensor::fromVector<float>({2}, {0, 0}))}, "logits");
  fc->setAttr("transB", lowbit::Attribute::ofInt(1));
  g.outputs().push_back(fc->output(0));
  lowbit::inferShapes(g);
  fs::create_directories(root);
  lowbit::exportOnnxFile(g, (root / "ties.onnx").string());
  for (const char *cls : {"0", "1"}) {
    fs::create_directories(root / cls / cls);
    fs::copy_file(kData + "/good/rgb_13x9.jpg", root / cls / cls / "a.jpg");
    RunResult r = runLowbit("eval " + (root / "ties.onnx").string() + " --data " + (root / cls).string() + " --size 8 --json");
    REQUIRE(r.code == 0);
    const nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    CHECK(j["top1"] == (std::string(cls) == "0" ? 100.0 : 0.0));  // argmax of a tie is the first output
    CHECK(j["top5"] == 100.0);
  }
  fs::remove_all(root);
}

TEST_CASE("lowbit quantize --weight-scheme pot: every weight code in the file is zero or a power of two", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const std::string out = (fs::temp_directory_path() / "lowbit_cli_pot.onnx").string();
  RunResult r = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 3 --weight-scheme pot -o " + out);
  REQUIRE(r.code == 0);
  auto g = lowbit::importOnnxFile(out);
  int weights = 0;
  std::set<int> seen;
  for (const lowbit::Node *n : g->nodes()) {
    if (n->opType() != "DequantizeLinear" || !n->input(0)->isConstant() || n->input(0)->dtype() != lowbit::DType::Int8) continue;
    ++weights;
    const lowbit::Tensor &codes = *n->input(0)->constant();
    for (int64_t i = 0; i < codes.numel(); ++i) {
      const int c = codes.data<int8_t>()[i];
      INFO(n->name() << " code " << c);
      CHECK((c == 0 || c == 1 || c == -1 || c == 2 || c == -2 || c == 4 || c == -4));
      seen.insert(c);
    }
  }
  CHECK(weights == 2);
  CHECK(seen.count(4) + seen.count(-4) > 0);  // the top level is used
  bool named = false;
  for (const auto &[key, value] : g->metadata) named |= key == "lowbit.quantization" && value.find("\"weight_scheme\":\"pot\"") != std::string::npos;
  CHECK(named);
  CHECK(runLowbit("quantize " + model + " --calib " + calib + " --size 8 --weight-scheme log -o " + out).code == 2);
  RunResult wide = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 8 --weight-scheme pot -o " + out);
  CHECK(wide.code == 1);
  CHECK_THAT(wide.output, Catch::Contains("2..4 bits"));
  // An 8-bit first and last layer keeps uniform levels, said on stderr and in the report.
  const std::string report = (fs::temp_directory_path() / "lowbit_cli_pot.json").string();
  RunResult edges = runLowbit("quantize " + model + " --calib " + calib +
                              " --size 8 --wbits 3 --weight-scheme pot --first-last-bits 8 -o " + out + " --report " + report);
  REQUIRE(edges.code == 0);
  CHECK_THAT(edges.output, Catch::Contains("keep uniform levels"));
  std::ifstream in(report);
  const nlohmann::json j = nlohmann::json::parse(in);
  REQUIRE(j["weights"].size() == 2);
  for (const auto &w : j["weights"]) {
    CHECK(w["scheme"] == "uniform");
    CHECK(w["bits"] == 8);
  }
  fs::remove(out);
  fs::remove(report);
}

TEST_CASE("lowbit quantize --weight-scheme midrise: odd weight codes with no zero run as integers, and DoReFa implies them", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const std::string out = (fs::temp_directory_path() / "lowbit_cli_midrise.onnx").string();
  const std::string report = (fs::temp_directory_path() / "lowbit_cli_midrise.json").string();
  auto codesOf = [&] {
    std::set<int> seen;
    auto g = lowbit::importOnnxFile(out);
    for (const lowbit::Node *n : g->nodes()) {
      if (n->opType() != "DequantizeLinear" || !n->input(0)->isConstant() || n->input(0)->dtype() != lowbit::DType::Int8) continue;
      const lowbit::Tensor &codes = *n->input(0)->constant();
      for (int64_t i = 0; i < codes.numel(); ++i) seen.insert(codes.data<int8_t>()[i]);
    }
    return seen;
  };
  RunResult r = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 2 --weight-scheme midrise -o " + out);
  REQUIRE(r.code == 0);
  CHECK(codesOf() == std::set<int>{-3, -1, 1, 3});  // 2^2 levels, the top ones used
  // The integer runner reads the odd codes as they are: the logits of the float simulation.
  checkInt8MatchesSimulation(out, " --size 8", fs::temp_directory_path() / "lowbit_cli_midrise_data");
  RunResult wide = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 8 --weight-scheme midrise -o " + out);
  CHECK(wide.code == 1);
  CHECK_THAT(wide.output, Catch::Contains("2..7 bits"));
  // --weight-quantizer dorefa trains on the mid-rise grid; an 8-bit first and last layer keeps uniform levels.
  RunResult ft = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 2 --finetune global --joint-epochs 1 "
                           "--lr 0.001 --weight-quantizer dorefa -o " + out + " --report " + report);
  REQUIRE(ft.code == 0);
  nlohmann::json j = nlohmann::json::parse(lowbit::readFile(report));
  CHECK(j["recipe"]["weight_scheme"] == "midrise");
  for (const auto &w : j["weights"]) CHECK(w["scheme"] == "midrise");
  const std::set<int> trained = codesOf();
  CHECK(trained.count(0) == 0);
  for (int c : trained) CHECK((c & 1) == 1);
  RunResult uniform = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 2 --finetune global --joint-epochs 1 "
                                "--lr 0.001 --weight-quantizer dorefa --weight-scheme uniform -o " + out + " --report " + report);
  REQUIRE(uniform.code == 0);
  CHECK(nlohmann::json::parse(lowbit::readFile(report))["recipe"]["weight_scheme"] == "uniform");
  fs::remove(out);
  fs::remove(report);
}

TEST_CASE("lowbit quantize --act-mode asymmetric: signed activations get u8 codes with a zero point, run as integers", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const std::string out = (fs::temp_directory_path() / "lowbit_cli_asym.onnx").string();
  const std::string report = (fs::temp_directory_path() / "lowbit_cli_asym.json").string();
  const std::string norm = " --size 8 --mean 0.5 --std 0.25";  // inputs from -2 to 2
  fs::remove(out);
  CHECK(runLowbit("quantize " + model + " --calib " + calib + norm + " --act-mode skewed -o " + out).code == 2);
  RunResult ft = runLowbit("quantize " + model + " --calib " + calib + norm + " --act-mode asymmetric --finetune global -o " + out);
  CHECK(ft.code == 2);
  CHECK_THAT(ft.output, Catch::Contains("--act-mode asymmetric"));
  CHECK_FALSE(fs::exists(out));
  RunResult r = runLowbit("quantize " + model + " --calib " + calib + norm + " --act-mode asymmetric -o " + out + " --report " + report);
  REQUIRE(r.code == 0);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(report));
  CHECK(j["recipe"]["act_mode"] == "asymmetric");
  int shifted = 0;
  for (const auto &a : j["activations"]) {
    CHECK(a["signed"] == false);
    if (a["min"].get<float>() < 0.f) {
      ++shifted;
      CHECK(a["zero_point"].get<int>() > 0);
      CHECK(a["scale"].get<float>() == Approx((a["max"].get<float>() - a["min"].get<float>()) / 255.f));
    }
  }
  CHECK(shifted > 0);  // the normalised input goes negative
  auto g = lowbit::importOnnxFile(out);
  bool zeroPointInFile = false;
  for (const lowbit::Node *n : g->nodes())
    if (n->opType() == "QuantizeLinear" && n->input(2) && n->input(2)->dtype() == lowbit::DType::UInt8)
      zeroPointInFile |= n->input(2)->constant()->data<uint8_t>()[0] != 0;
  CHECK(zeroPointInFile);
  // The int8 runner computes what the simulation does (zero points in and out of the QConvs).
  checkInt8MatchesSimulation(out, norm, fs::temp_directory_path() / "lowbit_cli_asym_data");
  fs::remove(out);
  fs::remove(report);
}

TEST_CASE("a classifier head left unflattened ([N, K, 1, 1] logits) evaluates, compares and is attacked as [N, K]", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_4d_logits";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "1");
  const std::string flat = kData + "/good/tiny_convnet.onnx", unflat = (root / "4d.onnx").string();
  writeTinyWith(unflat, [](lowbit::Graph &g, lowbit::Value *logits) {
    return lowbit::test::addOp(g, "Unsqueeze", {logits, g.addConstant("axes", lowbit::Tensor::fromVector<int64_t>({2}, {2, 3}))}, "logits_4d")
        ->output(0);
  });
  REQUIRE(lowbit::importOnnxFile(unflat)->outputs()[0]->dims() == lowbit::Dims{-1, 2, 1, 1});
  CHECK(lowbit::logitClasses({4, 2, 1, 1}) == 2);
  CHECK(lowbit::logitClasses({4, 2, 2}) == -1);
  const std::string args = " --data " + (root / "data").string() + " --size 8 --mean 0.5 --std 0.25 --json";
  nlohmann::json j[2];
  for (int k = 0; k < 2; ++k) {
    RunResult r = runLowbit("eval " + (k ? unflat : flat) + args + " --attack fgsm --eps 8/255");
    REQUIRE(r.code == 0);
    j[k] = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  }
  CHECK(j[1]["correct_top1"] == j[0]["correct_top1"]);
  CHECK(j[1]["attack"]["results"][0]["correct_top1"] == j[0]["attack"]["results"][0]["correct_top1"]);
  // Top-1 agreement counts images, not the trailing unit dims.
  const std::string q = (root / "4d.q.onnx").string();
  REQUIRE(runLowbit("quantize " + unflat + " --calib " + (root / "data").string() + " --size 8 --mean 0.5 --std 0.25 -o " + q).code == 0);
  RunResult c = runLowbit("inspect --compare " + unflat + " " + q + args);
  REQUIRE(c.code == 0);
  const double agreement = nlohmann::json::parse(c.output.substr(c.output.find('{')))["top1_agreement"];
  CHECK(agreement >= 0.0);
  CHECK(agreement <= 100.0);
  fs::remove_all(root);
}

TEST_CASE("a model ending in a Softmax or LogSoftmax is attacked and fine-tuned on its logits, as the same model without it", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_softmax";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "1");
  // Three classes: with two, a sign step is the same through one softmax or two.
  const std::vector<std::string> heads = {"", "Softmax", "LogSoftmax"};
  for (const std::string &head : heads)
    writeTinyWith(root / (head + "head.onnx"), [&](lowbit::Graph &g, lowbit::Value *two) {
      lowbit::Node *fc = lowbit::test::addOp(g, "Gemm", {two, g.addConstant("fc3.w", lowbit::test::randomTensor({3, 2}, 21)),
                                                         g.addConstant("fc3.b", lowbit::test::randomTensor({3}, 22))}, "logits3");
      fc->setAttr("transB", lowbit::Attribute::ofInt(1));
      if (head.empty()) return fc->output(0);
      lowbit::Node *sm = lowbit::test::addOp(g, head, {fc->output(0)}, "probabilities");
      sm->setAttr("axis", lowbit::Attribute::ofInt(1));
      return sm->output(0);
    });
  const std::string pre = " --size 8 --mean 0.5 --std 0.25";
  std::vector<float> adversarial[3];
  nlohmann::json report[3];
  for (size_t k = 0; k < heads.size(); ++k) {
    const std::string model = (root / (heads[k] + "head.onnx")).string(), prefix = (root / (heads[k] + "run")).string();
    RunResult e = runLowbit("eval " + model + " --data " + (root / "data").string() + pre + " --attack fgsm --eps 8/255 --dump " + prefix);
    REQUIRE(e.code == 0);
    adversarial[k] = readF32(prefix + ".adversarial.f32");
    RunResult q = runLowbit("quantize " + model + " --calib " + (root / "data").string() + pre +
                            " --wbits 4 --finetune global --joint-epochs 2 --lr 0.002 --held-back 0 -o " + prefix + ".q.onnx --report " +
                            prefix + ".json");
    REQUIRE(q.code == 0);
    report[k] = nlohmann::json::parse(lowbit::readFile(prefix + ".json"));
  }
  // The cross-entropy's gradient and the softened KL are the logits' in every file.
  REQUIRE_FALSE(adversarial[0].empty());
  CHECK_FALSE(report[0]["finetune"].contains("logits"));
  for (size_t k = 1; k < heads.size(); ++k) {
    INFO(heads[k]);
    CHECK(adversarial[k] == adversarial[0]);
    CHECK(report[k]["finetune"]["logits"] == "the input of the final " + heads[k]);
    CHECK(report[k]["finetune"]["stage2_joint"] == report[0]["finetune"]["stage2_joint"]);
  }
  fs::remove_all(root);
}

TEST_CASE("a channels-last model evaluates and quantizes as its channels-first twin, and keeps its interface", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_nhwc";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "0");
  const std::string first = kData + "/good/tiny_convnet.onnx", last = (root / "nhwc.onnx").string();
  // The twin as a TensorFlow export lays it out: [N, H, W, C] and a Transpose into the Conv.
  writeTinyWith(last, [](lowbit::Graph &g, lowbit::Value *logits) {
    g.channelsLastInputs = {g.inputs()[0]->name()};
    return logits;
  });
  REQUIRE(lowbit::importOnnxFile(last)->inputs()[0]->dims() == lowbit::Dims{-1, 8, 8, 3});
  const std::string norm = " --size 8 --mean 0.5 --std 0.25", data = " --data " + (root / "data").string();
  std::vector<float> inputs[2], logits[2];
  for (int k = 0; k < 2; ++k) {
    const std::string prefix = (root / (k ? "last" : "first")).string();
    RunResult r = runLowbit("eval " + (k ? last : first) + data + norm + " --json --dump " + prefix);
    REQUIRE(r.code == 0);
    const nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    CHECK(j["input_layout"] == (k ? "NHWC" : "NCHW"));
    const nlohmann::json meta = nlohmann::json::parse(std::ifstream(prefix + ".json"));
    CHECK(meta["input_shape"] == (k ? std::vector<int>{4, 8, 8, 3} : std::vector<int>{4, 3, 8, 8}));
    inputs[k] = readF32(prefix + ".inputs.f32");
    logits[k] = readF32(prefix + ".logits.f32");
  }
  CHECK(logits[1] == logits[0]);
  REQUIRE(inputs[1].size() == inputs[0].size());
  for (size_t n = 0; n < 4; ++n)  // the dump is in the file's layout
    for (size_t c = 0; c < 3; ++c)
      for (size_t p = 0; p < 64; ++p) CHECK(inputs[1][(n * 64 + p) * 3 + c] == inputs[0][(n * 3 + c) * 64 + p]);
  // Quantized, the file keeps [N, H, W, C] and runs as integers what the simulation computes.
  const std::string q = (root / "nhwc.q.onnx").string(), report = (root / "nhwc.q.json").string();
  REQUIRE(runLowbit("quantize " + last + " --calib " + (root / "data").string() + norm + " -o " + q + " --report " + report).code == 0);
  CHECK(nlohmann::json::parse(lowbit::readFile(report))["input"]["layout"] == "NHWC");
  auto g = lowbit::importOnnxFile(q);
  CHECK(g->inputs()[0]->dims() == lowbit::Dims{-1, 8, 8, 3});
  CHECK(g->nodes().front()->opType() == "Transpose");
  checkInt8MatchesSimulation(q, norm, root / "int8");
  fs::remove_all(root);
}

TEST_CASE("the tiny classifier as other tools write it: channels last with a Normalization, and in float16", "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_foreign";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "0");
  const std::string data = " --data " + (root / "data").string() + " --size 8";
  auto logits = [&](const std::string &model, const std::string &flags, const std::string &name) {
    RunResult r = runLowbit("eval " + kData + "/good/" + model + data + flags + " --dump " + (root / name).string());
    REQUIRE(r.code == 0);
    return std::make_pair(readF32((root / (name + ".logits.f32")).string()), r.output);
  };
  // The Normalization in the graph stands for the --mean/--std the plain file needs.
  const auto plain = logits("tiny_convnet.onnx", " --mean 0.5,0.4,0.3 --std 0.25,0.2,0.3", "plain");
  const auto nhwc = logits("tiny_convnet_nhwc.onnx", " --mean 0 --std 1", "nhwc");
  REQUIRE(nhwc.first.size() == plain.first.size());
  for (size_t i = 0; i < plain.first.size(); ++i) CHECK(nhwc.first[i] == Approx(plain.first[i]).margin(1e-5));
  // float16 weights run in float32: the plain file's logits within half's rounding, said so.
  const auto base = logits("tiny_convnet.onnx", "", "base");
  const auto half = logits("tiny_convnet_half.onnx", "", "half");
  CHECK_THAT(half.second, Catch::Contains("warning:") && Catch::Contains("float16"));
  REQUIRE(half.first.size() == base.first.size());
  for (size_t i = 0; i < base.first.size(); ++i) CHECK(half.first[i] == Approx(base.first[i]).margin(2e-2));
  // Both quantize to files the int8 runner runs as the simulation does.
  for (const auto &[model, pre] : {std::make_pair("tiny_convnet_nhwc.onnx", " --size 8 --mean 0 --std 1"),
                                   std::make_pair("tiny_convnet_half.onnx", " --size 8 --mean 0.5 --std 0.25")}) {
    const std::string q = (root / (std::string(model) + ".q.onnx")).string();
    REQUIRE(runLowbit("quantize " + kData + "/good/" + model + " --calib " + (root / "data").string() + pre + " -o " + q +
                      " --report " + q + ".json").code == 0);
    const nlohmann::json input = nlohmann::json::parse(lowbit::readFile(q + ".json"))["input"];
    CHECK(input["half_floats_computed_in_float32"] == (std::string(model) == "tiny_convnet_half.onnx"));
    checkInt8MatchesSimulation(q, pre, root / "int8");
  }
  fs::remove_all(root);
}

namespace {

// A ShuffleNet unit in small: two Conv-Relu branches -> Concat -> channel shuffle (Reshape,
// Transpose, Reshape) -> Slice of the second half -> 1x1 Conv -> pooled classifier.
void buildShuffleUnit(lowbit::Graph &g) {
  using namespace lowbit;
  using lowbit::test::addOp;
  Value *x = lowbit::test::addInput(g, "x", {-1, 3, 8, 8});
  auto convRelu = [&](Value *in, int64_t oc, int64_t ic, int64_t k, uint32_t seed, const std::string &name) {
    Node *c = addOp(g, "Conv", {in, g.addConstant(name + ".w", lowbit::test::randomTensor({oc, ic, k, k}, seed)),
                                g.addConstant(name + ".b", lowbit::test::randomTensor({oc}, seed + 1))}, name);
    c->setAttr("pads", Attribute::ofInts({k / 2, k / 2, k / 2, k / 2}));
    return addOp(g, "Relu", {c->output(0)}, name + ".relu")->output(0);
  };
  Value *a = convRelu(x, 8, 3, 3, 1, "a"), *b = convRelu(x, 8, 3, 3, 3, "b");
  Node *cat = addOp(g, "Concat", {a, b}, "cat");
  cat->setAttr("axis", Attribute::ofInt(1));
  Node *split = addOp(g, "Reshape", {cat->output(0), g.addConstant("s5", Tensor::fromVector<int64_t>({5}, {0, 2, 8, 8, 8}))}, "r5");
  Node *swap = addOp(g, "Transpose", {split->output(0)}, "t5");
  swap->setAttr("perm", Attribute::ofInts({0, 2, 1, 3, 4}));
  Node *merge = addOp(g, "Reshape", {swap->output(0), g.addConstant("s4", Tensor::fromVector<int64_t>({4}, {0, 16, 8, 8}))}, "shuffled");
  Node *half = addOp(g, "Slice", {merge->output(0), g.addConstant("starts", Tensor::fromVector<int64_t>({1}, {8})),
                                  g.addConstant("ends", Tensor::fromVector<int64_t>({1}, {16})),
                                  g.addConstant("axes", Tensor::fromVector<int64_t>({1}, {1}))}, "half");
  Value *c = convRelu(half->output(0), 4, 8, 1, 5, "c");
  Node *gap = addOp(g, "GlobalAveragePool", {c}, "gap");
  Node *flat = addOp(g, "Flatten", {gap->output(0)}, "flat");
  Node *fc = addOp(g, "Gemm", {flat->output(0), g.addConstant("fc.w", lowbit::test::randomTensor({2, 4}, 7)),
                               g.addConstant("fc.b", lowbit::test::randomTensor({2}, 8))}, "logits");
  fc->setAttr("transB", Attribute::ofInt(1));
  g.outputs().push_back(fc->output(0));
  lowbit::inferShapes(g);
}

}  // namespace

TEST_CASE("lowbit quantize shares Concat scales at 8-bit activations: a shuffled split takes the Concat's scale and the int8 runner moves codes",
          "[cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_share";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "0");
  lowbit::Graph g;
  buildShuffleUnit(g);
  const std::string model = (root / "unit.onnx").string(), data = (root / "data").string();
  lowbit::exportOnnxFile(g, model);
  const std::string base = "quantize " + model + " --calib " + data + " --size 8";
  // Fine-tuned block by block (the Concat and the Slice in different blocks) and jointly, the
  // shared quantizer stays one: the file quantizes the Slice with the Concat's scale.
  const std::string tuned = (root / "ft.onnx").string();
  REQUIRE(runLowbit(base + " --share-concat-scales --finetune twostage --block-iters 3 --joint-epochs 2 --lr 1e-2 "
                           "--held-back 0 --batch 2 -o " + tuned).code == 0);
  std::map<std::string, float> scaleOf;
  const auto tunedGraph = lowbit::importOnnxFile(tuned);
  for (const lowbit::Node *n : tunedGraph->nodes())
    if (n->opType() == "QuantizeLinear") scaleOf[n->input(0)->name()] = n->input(1)->constant()->toFloats()[0];
  REQUIRE(scaleOf.count("half"));
  REQUIRE(scaleOf.count("cat"));
  CHECK(scaleOf["half"] == scaleOf["cat"]);
  // Per file: QuantizeLinear steps the int8 runner takes; the simulation's and the runner's logits.
  std::map<std::string, int> requantizations;
  for (const char *mode : {"own", "shared"}) {
    const bool shared = std::string(mode) == "shared";
    const std::string out = (root / (std::string(mode) + ".onnx")).string(), report = (root / (std::string(mode) + ".json")).string();
    REQUIRE(runLowbit(base + (shared ? "" : " --no-share-concat-scales") + " -o " + out + " --report " + report).code == 0);
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(report));
    CHECK(j["recipe"]["share_concat_scales"] == shared);
    const nlohmann::json *half = nullptr, *cat = nullptr;
    for (const auto &a : j["activations"]) {
      if (a["tensor"] == "half") half = &a;
      if (a["tensor"] == "cat") cat = &a;
    }
    REQUIRE(half);
    CHECK((cat != nullptr) == shared);
    if (shared) {
      CHECK((*half)["scale_of"] == "cat");
      CHECK((*half)["scale"] == (*cat)["scale"]);
      CHECK((*half)["max"].get<float>() <= (*cat)["max"].get<float>());
    }
    lowbit::ExecutorOptions opts;
    opts.integer = lowbit::IntegerMode::Static;
    opts.profile = true;
    lowbit::Executor exec(*lowbit::importOnnxFile(out), opts);
    exec.run({lowbit::test::randomTensor({2, 3, 8, 8}, 11)});
    const std::string steps = exec.profileReport(true);
    for (size_t at = steps.find("T  QuantizeLinear"); at != std::string::npos; at = steps.find("T  QuantizeLinear", at + 1))
      ++requantizations[mode];
    std::vector<float> logits[2];
    for (int k = 0; k < 2; ++k) {
      const std::string prefix = (root / (std::string(mode) + (k ? "_int8" : "_sim"))).string();
      RunResult e = runLowbit("eval " + out + " --data " + data + " --size 8 --dump " + prefix + (k ? " --runner int8" : ""));
      REQUIRE(e.code == 0);
      if (k) CHECK_THAT(e.output, Catch::Contains("4 of 4 Conv/Gemm/MatMul as integers"));
      logits[k] = readF32(prefix + ".logits.f32");
    }
    REQUIRE(logits[0].size() == logits[1].size());
    for (size_t i = 0; i < logits[0].size(); ++i) CHECK(logits[1][i] == Approx(logits[0][i]).margin(1e-4));
  }
  // Own scales: the float Slice's result is quantized for conv c. Shared: the Concat, shuffle and
  // Slice move codes; the image and the pooled features are quantized in both.
  CHECK(requantizations["own"] == 3);
  CHECK(requantizations["shared"] == 2);
  // The default follows the activation bits; a flag or a replayed recipe wins over it.
  auto sharedIn = [&](const std::string &flags) {
    const std::string report = (root / "bits.json").string();
    REQUIRE(runLowbit(base + flags + " -o " + (root / "bits.onnx").string() + " --report " + report).code == 0);
    return nlohmann::json::parse(std::ifstream(report))["recipe"]["share_concat_scales"].get<bool>();
  };
  CHECK_FALSE(sharedIn(" --abits 6"));
  CHECK(sharedIn(" --abits 6 --share-concat-scales"));
  CHECK_FALSE(sharedIn(" --recipe " + (root / "own.json").string()));
  CHECK(sharedIn(" --recipe " + (root / "own.json").string() + " --share-concat-scales"));
  fs::remove_all(root);
}

TEST_CASE("lowbit quantize --max-drop: the layers kept in float are stated, its data flags need it", "[cli]") {
  namespace fs = std::filesystem;
  const std::string model = kData + "/good/tiny_convnet.onnx", calib = kData + "/good";
  const fs::path out = fs::temp_directory_path() / "lowbit_cli_maxdrop.onnx";
  fs::remove(out);
  RunResult stray = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --control " + calib + " -o " + out.string());
  CHECK(stray.code == 2);
  CHECK_THAT(stray.output, Catch::Contains("--control") && Catch::Contains("--max-drop"));
  CHECK_FALSE(fs::exists(out));
  for (const char *bad : {"-1", "nan", "inf"}) {
    RunResult r = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --max-drop " + bad + " -o " + out.string());
    INFO(bad);
    CHECK(r.code == 2);
    CHECK_FALSE(fs::exists(out));
  }
  RunResult ok = runLowbit("quantize " + model + " --calib " + calib + " --size 8 --wbits 2 --abits 2 --granularity layer "
                           "--max-drop 0 --control " + calib + " -o " + out.string() + " --json");
  REQUIRE(ok.code == 0);
  const nlohmann::json r = nlohmann::json::parse(ok.output.substr(ok.output.find('{')));
  CHECK(r["recipe"]["max_drop"] == 0.0);
  CHECK(r["accuracy_control"]["met"] == true);
  CHECK(r["accuracy_control"]["images"] == 5);
  // The file holds no quantized weight for a layer kept in float.
  auto q = lowbit::importOnnxFile(out.string());
  for (const std::string name : r["accuracy_control"]["float_layers"]) {
    const lowbit::Node *n = q->findNode(name);
    REQUIRE(n);
    CHECK(n->input(1)->isConstant());
  }
  // Ranges from a report leave no images to measure on unless --control names some.
  const fs::path report = fs::temp_directory_path() / "lowbit_cli_maxdrop.json";
  REQUIRE(runLowbit("quantize " + model + " --calib " + calib + " --size 8 -o " + out.string() + " --report " +
                    report.string()).code == 0);
  RunResult noImages = runLowbit("quantize " + model + " --calib-from " + report.string() + " --size 8 --max-drop 1 -o " +
                                 out.string() + "2");
  CHECK(noImages.code == 1);
  CHECK_THAT(noImages.output, Catch::Contains("--control"));
  fs::remove(report);
  fs::remove(out);
}

TEST_CASE("lowbit eval reads a malformed lowbit.quantization stamp as no stamp", "[cli][hostile]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_stamp", path = root / "m.onnx";
  fs::remove_all(root);
  fillClassFolder(root / "data" / "1");
  for (const char *stamp : {"null", "[1,2]", "{\"weights\": 5}", "{\"weights\": {\"w\": \"x\"}}",
                            "{\"activations\": {\"a\": 3.5}}", "not json"}) {
    INFO(stamp);
    auto g = lowbit::importOnnxFile(kData + "/good/tiny_convnet.onnx");
    g->metadata.emplace_back("lowbit.quantization", stamp);
    lowbit::exportOnnxFile(*g, path.string());
    RunResult r = runLowbit("eval " + path.string() + " --data " + (root / "data").string() + " --size 8 --runner int8");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, !Catch::Contains("internal error"));
  }
  fs::remove_all(root);
}
