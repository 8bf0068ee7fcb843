#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "TestUtil.h"
#include "data/BatchLoader.h"
#include "data/ImageDecoder.h"
#include "data/ImageFolder.h"
#include "data/Preprocess.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {
const std::string kData = LOWBIT_TEST_DATA;

nlohmann::json expectedPixels() {
  std::ifstream in(kData + "/good/expected_pixels.json");
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("decoded JPEG and PNG pixels equal PIL's bit for bit", "[data]") {
  nlohmann::json want = expectedPixels();
  for (const char *name : {"rgb_5x4.png", "rgba_3x2.png", "grey_4x4.png", "rgb_13x9.jpg", "grey_6x5.jpg"}) {
    INFO(name);
    Image img = decodeImage(kData + "/good/" + name);
    const auto &w = want[name];
    CHECK(img.width == w["width"].get<int>());
    CHECK(img.height == w["height"].get<int>());
    CHECK(img.channels == w["channels"].get<int>());
    CHECK(img.pixels == w["pixels"].get<std::vector<uint8_t>>());
  }
}

TEST_CASE("bilinear resize equals PIL's Image.resize(BILINEAR)", "[data]") {
  nlohmann::json want = expectedPixels();
  Image src = decodeImage(kData + "/good/rgb_13x9.jpg");
  for (auto [w, h] : std::vector<std::pair<int, int>>{{5, 3}, {20, 14}, {13, 4}}) {
    INFO(w << "x" << h);
    Image out = resizeBilinear(src, w, h);
    CHECK(out.pixels == want["resize_rgb_13x9.jpg_" + std::to_string(w) + "x" + std::to_string(h)]["pixels"]
                            .get<std::vector<uint8_t>>());
  }
}

TEST_CASE("preprocessing normalises per channel into CHW and replicates grey", "[data]") {
  Image grey = decodeImage(kData + "/good/grey_4x4.png");
  PreprocessConfig cfg;
  cfg.mean = {0.5f, 0.5f, 0.5f};
  cfg.std = {0.25f, 0.5f, 1.f};
  std::vector<float> out(3 * 16);
  preprocessInto(grey, cfg, 3, 4, 4, out.data(), "grey_4x4.png");
  for (int c = 0; c < 3; ++c)
    CHECK(out[c * 16 + 5] == Approx((grey.pixels[5] / 255.f - 0.5f) / cfg.std[c]));
}

TEST_CASE("an image of the wrong size is an error naming it", "[data]") {
  Image img = decodeImage(kData + "/good/rgb_5x4.png");
  std::vector<float> out(3 * 32 * 32);
  CHECK_THROWS_WITH(preprocessInto(img, {}, 3, 32, 32, out.data(), "rgb_5x4.png"),
                    Catch::Contains("rgb_5x4.png") && Catch::Contains("5x4") && Catch::Contains("32x32"));
}

TEST_CASE("undecodable images are errors naming the file", "[data]") {
  CHECK_THROWS_WITH(decodeImage(kData + "/bad/not_an_image.jpg"), Catch::Contains("not_an_image.jpg"));
  CHECK_THROWS_WITH(decodeImage(kData + "/bad/truncated.jpg"), Catch::Contains("truncated.jpg"));
}

TEST_CASE("image folders: classes from sorted sub-folders, flat folders, empty folders", "[data]") {
  fs::path root = fs::temp_directory_path() / "lowbit_folder_test";
  fs::remove_all(root);
  fs::create_directories(root / "labelled" / "b_cat");
  fs::create_directories(root / "labelled" / "a_dog");
  fs::create_directories(root / "empty");
  fs::copy_file(kData + "/good/rgb_5x4.png", root / "labelled" / "b_cat" / "x.png");
  fs::copy_file(kData + "/good/rgb_13x9.jpg", root / "labelled" / "a_dog" / "y.JPG");
  std::ofstream(root / "empty" / "README.txt") << "no images here";
  ImageSet set = scanImageFolder((root / "labelled").string());
  REQUIRE(set.classes == std::vector<std::string>{"a_dog", "b_cat"});
  REQUIRE(set.images.size() == 2);
  CHECK(set.images[0].label == 0);
  CHECK(set.images[1].label == 1);
  ImageSet flat = scanImageFolder((root / "labelled" / "b_cat").string());
  CHECK_FALSE(flat.labelled());
  CHECK_THROWS_WITH(scanImageFolder((root / "empty").string()),
                    Catch::Contains("has no images") && Catch::Contains("README.txt"));
  fs::remove_all(root);
}

TEST_CASE("class labels: integer folder names are indices, a labels file names them, sorted positions must cover the outputs",
          "[data]") {
  fs::path root = fs::temp_directory_path() / "lowbit_labels_test";
  fs::remove_all(root);
  auto addClass = [&](const std::string &set, const std::string &cls) {
    fs::create_directories(root / set / cls);
    fs::copy_file(kData + "/good/rgb_5x4.png", root / set / cls / "x.png");
  };
  // An ImageNet-style subset: folders 0000..0999 with some missing keep their own indices.
  for (const char *c : {"0003", "0007", "0999"}) addClass("partial", c);
  ImageSet partial = scanImageFolder((root / "partial").string());
  CHECK(partial.labelSource == LabelSource::IntegerFolders);
  REQUIRE(partial.images.size() == 3);
  CHECK(partial.images[0].label == 3);
  CHECK(partial.images[1].label == 7);
  CHECK(partial.images[2].label == 999);
  CHECK(partial.labelDescription() == "integer folder names");
  CHECK_NOTHROW(requireLabelsFit(partial, 1000, "m.onnx", "partial"));
  CHECK_THROWS_WITH(requireLabelsFit(partial, 10, "m.onnx", "partial"),
                    Catch::Contains("m.onnx") && Catch::Contains("'0999'") && Catch::Contains("class 999") &&
                        Catch::Contains("10 outputs"));
  // Two folders for one index are an error.
  addClass("twice", "1");
  addClass("twice", "01");
  CHECK_THROWS_WITH(scanImageFolder((root / "twice").string()), Catch::Contains("'01' and '1' are both class 1"));
  // Named folders: sorted positions, which only mean something when every output has a folder.
  addClass("named", "cat");
  addClass("named", "dog");
  ImageSet named = scanImageFolder((root / "named").string());
  CHECK(named.labelSource == LabelSource::SortedFolders);
  CHECK_NOTHROW(requireLabelsFit(named, 2, "m.onnx", "named"));
  CHECK_THROWS_WITH(requireLabelsFit(named, 1000, "m.onnx", "named"),
                    Catch::Contains("1000 outputs") && Catch::Contains("2 class folders") && Catch::Contains("--labels"));
  // A labels file maps names to output positions, whatever the folders' order.
  std::ofstream(root / "labels.txt") << "bird\r\n  dog \ncat\n\n";
  ImageSet mapped = scanImageFolder((root / "named").string(), (root / "labels.txt").string());
  CHECK(mapped.labelSource == LabelSource::LabelsFile);
  CHECK(mapped.images[0].label == 2);  // cat
  CHECK(mapped.images[1].label == 1);  // dog
  CHECK_THAT(mapped.labelDescription(), Catch::Contains("labels.txt (3 names)"));
  CHECK_NOTHROW(requireLabelsFit(mapped, 3, "m.onnx", "named"));
  std::ofstream(root / "short.txt") << "dog\n";
  CHECK_THROWS_WITH(scanImageFolder((root / "named").string(), (root / "short.txt").string()),
                    Catch::Contains("'cat' is not in labels file") && Catch::Contains("short.txt"));
  std::ofstream(root / "dup.txt") << "cat\ndog\ncat\n";
  CHECK_THROWS_WITH(scanImageFolder((root / "named").string(), (root / "dup.txt").string()),
                    Catch::Contains("'cat' is on lines 1 and 3"));
  std::ofstream(root / "blank.txt") << "cat\n\ndog\n";
  CHECK_THROWS_WITH(scanImageFolder((root / "named").string(), (root / "blank.txt").string()),
                    Catch::Contains("line 2 is blank"));
  CHECK_THROWS_WITH(scanImageFolder((root / "named").string(), (root / "missing.txt").string()),
                    Catch::Contains("missing.txt"));
  fs::remove_all(root);
}
