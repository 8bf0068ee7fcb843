// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit pixels, matching PIL's decoder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

struct Image {
  int width = 0, height = 0;
  int channels = 0;             ///< 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;  ///< HWC, row-major
};

/// Images larger than this are refused from their header, before any pixel is allocated: a
/// few hundred bytes can declare 65000 x 65000 pixels (4 GB).
constexpr int64_t kMaxImagePixels = 100'000'000;

/// Decodes the JPEG or PNG file at \p path (by its content, not its name). JPEG uses
/// libjpeg-turbo's defaults (ISLOW IDCT, fancy upsampling), which give PIL's pixels bit for
/// bit; PNG alpha is dropped like PIL's convert("RGB"). Throws Error naming \p path, also for
/// images of more than kMaxImagePixels pixels.
Image decodeImage(const std::string &path);
/// decodeImage() of a file's \p bytes already read, refusing more than \p maxPixels pixels;
/// errors name \p path.
Image decodeImageBytes(const std::string &bytes, const std::string &path, int64_t maxPixels = kMaxImagePixels);

}  // namespace lowbit
