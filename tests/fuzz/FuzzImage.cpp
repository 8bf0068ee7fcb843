// Image bytes -> JPEG/PNG decoding (header limits before any pixel buffer) -> the PIL-exact
// resize, crop and normalisation into a 3x8x8 and a 1x8x8 model input.
// Seeds: tests/data/good and tests/data/bad images.
#include "FuzzSupport.h"
#include "data/ImageDecoder.h"
#include "data/Preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace lowbit;
  fuzz::refusesWithError([&] {
    // A 200-byte JPEG may declare 80 M grey pixels that PIL, and so lowbit, decodes; 4 M keeps
    // each execution short without leaving out any code path.
    const Image img = decodeImageBytes(fuzz::bytesOf(data, size), "fuzz.img", 4'000'000);
    PreprocessConfig cfg;
    cfg.resize = 9;
    cfg.crop = 8;
    cfg.mean = {0.5f, 0.4f, 0.3f};
    cfg.std = {0.2f, 0.2f, 0.2f};
    std::vector<float> dst(3 * 8 * 8);
    preprocessInto(img, cfg, 3, 8, 8, dst.data(), "fuzz.img");
    cfg.mean = {0.5f};
    cfg.std = {0.25f};
    cfg.resize = 0;
    cfg.crop = 0;
    if (img.width * img.height <= 4096) preprocessInto(resizeBilinear(img, 8, 8), cfg, 1, 8, 8, dst.data(), "fuzz.img");
  });
  return 0;
}
