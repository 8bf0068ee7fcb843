// Adversarial attacks (train/Attack.h): the cross-entropy gradient by hand, FGSM as the sign
// step of the engine's input gradient in pixel units, the budget box and the [0, 1] clip, PGD's
// random start independent of batching, and the eval CLI's attack flags. The agreement with
// PyTorch on whole models is scripts/check_attack_torch.py.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "jobs/ModelLoader.h"
#include "train/Attack.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {
const std::string kData = LOWBIT_TEST_DATA;
const std::vector<float> kMean = {0.4f, 0.5f, 0.6f}, kStd = {0.2f, 0.25f, 0.3f};

// A batch of normalised images whose pixels lie in [0, 1], some exactly on its ends.
Tensor images(int64_t n, uint32_t seed) {
  Tensor pixels = randomTensor({n, 3, 8, 8}, seed, -0.2f, 1.2f);
  float *p = pixels.data<float>();
  for (int64_t i = 0; i < pixels.numel(); ++i) {
    const int64_t c = (i / 64) % 3;
    p[i] = (std::clamp(p[i], 0.f, 1.f) - kMean[c]) / kStd[c];
  }
  return pixels;
}

float pixel(const Tensor &x, int64_t i) { return x.data<float>()[i] * kStd[(i / 64) % 3] + kMean[(i / 64) % 3]; }
}  // namespace

TEST_CASE("crossEntropyGradient is softmax minus the one-hot label", "[attack]") {
  const Tensor z = Tensor::fromVector<float>({2, 2}, {0.f, std::log(3.f), 5.f, 5.f});
  const std::vector<float> g = train::crossEntropyGradient(z, {0, 1}).toFloats();
  CHECK(g[0] == Approx(-0.75f));
  CHECK(g[1] == Approx(0.75f));
  CHECK(g[2] == Approx(0.5f));
  CHECK(g[3] == Approx(-0.5f));
}

TEST_CASE("FGSM steps every pixel by eps along the input gradient's sign, inside [0, 1]", "[attack]") {
  auto g = loadPreparedModel(kData + "/good/tiny_convnet.onnx");
  train::Attack attack(*g, kMean, kStd, {});
  const Tensor x = images(3, 1);
  const std::vector<int> labels = {0, 1, 1};
  Tensor clean;
  const Tensor grad = attack.inputGradient(x, labels, &clean);
  const float eps = 8.f / 255.f;
  const Tensor adv = attack.run(x, labels, eps, 0);
  int moved = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float p = pixel(x, i), q = pixel(adv, i), gi = grad.data<float>()[i];
    const float want = std::clamp(p + eps * static_cast<float>((gi > 0) - (gi < 0)), 0.f, 1.f);
    INFO("pixel " << i << ": clean " << p << ", gradient " << gi);
    CHECK(q == Approx(want).margin(1e-6));
    moved += std::fabs(q - p) > eps / 2;
  }
  CHECK(moved > x.numel() / 2);
  // The step raises the loss the gradient was taken of.
  Tensor advLogits;
  attack.inputGradient(adv, labels, &advLogits);
  auto loss = [&](const Tensor &z) {
    double s = 0;
    for (int i = 0; i < 3; ++i) {
      const float *r = z.data<float>() + 2 * i;
      s += std::log(std::exp(r[0]) + std::exp(r[1])) - r[labels[static_cast<size_t>(i)]];
    }
    return s;
  };
  CHECK(loss(advLogits) > loss(clean));
  // A zero budget changes nothing.
  CHECK(mismatch(attack.run(x, labels, 0.f, 0), x, 1e-6f, 0.f).empty());
}

TEST_CASE("PGD stays in the budget box and its random start does not depend on batching", "[attack]") {
  auto g = loadPreparedModel(kData + "/good/tiny_convnet.onnx");
  train::AttackConfig cfg;
  cfg.method = train::AttackConfig::Method::Pgd;
  cfg.steps = 3;
  cfg.seed = 7;
  train::Attack attack(*g, kMean, kStd, cfg);
  const Tensor x = images(4, 2);
  const std::vector<int> labels = {0, 1, 0, 1};
  const float eps = 4.f / 255.f;
  const Tensor whole = attack.run(x, labels, eps, 10);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float p = pixel(x, i), q = pixel(whole, i);
    CHECK(std::fabs(q - p) <= eps + 1e-6f);
    CHECK(q >= -1e-6f);
    CHECK(q <= 1.f + 1e-6f);
  }
  // The same images as two batches of two, numbered 10, 11 and 12, 13.
  const int64_t half = x.numel() / 2;
  Tensor a(DType::Float32, {2, 3, 8, 8}), b(DType::Float32, {2, 3, 8, 8});
  std::copy(x.data<float>(), x.data<float>() + half, a.data<float>());
  std::copy(x.data<float>() + half, x.data<float>() + 2 * half, b.data<float>());
  const Tensor ra = attack.run(a, {0, 1}, eps, 10), rb = attack.run(b, {0, 1}, eps, 12);
  for (int64_t i = 0; i < half; ++i) {
    CHECK(ra.data<float>()[i] == whole.data<float>()[i]);
    CHECK(rb.data<float>()[i] == whole.data<float>()[half + i]);
  }
  // Another seed, another start.
  cfg.seed = 8;
  train::Attack other(*g, kMean, kStd, cfg);
  CHECK(!mismatch(other.run(x, labels, eps, 10), whole, 1e-7f, 0.f).empty());
}

TEST_CASE("lowbit eval --attack: clean and adversarial top-1 side by side, and bad attack flags exit 2", "[attack][cli]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "lowbit_cli_attack";
  fs::remove_all(root);
  for (const char *c : {"0", "1"}) fs::create_directories(root / c);
  for (const char *f : {"rgb_13x9.jpg", "rgb_5x4.png"}) fs::copy_file(kData + "/good/" + f, root / "0" / f);
  for (const char *f : {"grey_6x5.jpg", "grey_4x4.png"}) fs::copy_file(kData + "/good/" + f, root / "1" / f);
  const std::string base = "eval " + kData + "/good/tiny_convnet.onnx --data " + root.string() + " --size 8 ";
  RunResult r = runLowbit(base + "--attack pgd --eps 0,2/255,0.5 --attack-steps 2 --seed 3 --json");
  REQUIRE(r.code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const nlohmann::json &a = j["attack"];
  CHECK(a["method"] == "pgd");
  CHECK(a["source"] == "white-box");
  CHECK(a["steps"] == 2);
  REQUIRE(a["results"].size() == 3);
  CHECK(a["results"][1]["eps_name"] == "2/255");
  CHECK(a["results"][0]["correct_top1"] == j["correct_top1"]);  // no budget, no change
  RunResult text = runLowbit(base + "--attack fgsm --eps 1/255 --attack-from " + kData + "/good/tiny_convnet.onnx");
  CHECK(text.code == 0);
  CHECK_THAT(text.output, Catch::Contains("fgsm eps 1/255: top-1") && Catch::Contains("tiny_convnet.onnx)"));
  for (const char *bad : {"--attack fgsm", "--eps 2/255", "--attack cw --eps 2/255", "--attack fgsm --eps 2",
                          "--attack fgsm --eps 1/0", "--attack fgsm --eps x", "--attack-from m.onnx"}) {
    INFO(bad);
    CHECK(runLowbit(base + bad).code == 2);
  }
  fs::remove_all(root);
}
