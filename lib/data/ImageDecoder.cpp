#include "data/ImageDecoder.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF
#include <png.h>

#include "support/Error.h"
#include "support/File.h"

namespace lowbit {
namespace {

struct JpegErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// libjpeg's default error_exit calls exit(); jump back instead and throw from C++ code.
void jpegErrorExit(j_common_ptr cinfo) {
  auto *err = reinterpret_cast<JpegErrorManager *>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are silent, except running out of data: libjpeg would fill the rest of the image
// with grey (for a few hundred bytes declaring millions of pixels, seconds of work), where PIL
// refuses a truncated file. Stop at once instead, as on an error.
void jpegWarning(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpegErrorExit(cinfo);
}

// The error for an image whose header declares more than \p limit pixels.
std::string tooLarge(const std::string &path, uint64_t width, uint64_t height, int64_t limit) {
  return cat("image '", path, "': declares ", width, " x ", height, " pixels, more than the limit of ", limit);
}

// Decodes into \p img (owned by the caller, so nothing in this frame changes between setjmp
// and a longjmp). \returns false with \p message set when libjpeg reports an error.
bool decodeJpegInto(const std::string &bytes, Image &img, char *message, bool &oversized, int64_t maxPixels) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = jpegErrorExit;
  err.base.emit_message = jpegWarning;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    std::memcpy(message, err.message, JMSG_LENGTH_MAX);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char *>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height > static_cast<uint64_t>(maxPixels)) {
    img.width = static_cast<int>(cinfo.image_width);
    img.height = static_cast<int>(cinfo.image_height);
    oversized = true;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(cinfo.output_width);
  img.height = static_cast<int>(cinfo.output_height);
  img.channels = cinfo.output_components;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * img.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * img.width * img.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Image decodeJpeg(const std::string &bytes, const std::string &path, int64_t maxPixels) {
  Image img;
  char message[JMSG_LENGTH_MAX] = {0};
  bool oversized = false;
  if (!decodeJpegInto(bytes, img, message, oversized, maxPixels)) {
    if (oversized)
      throw Error(tooLarge(path, static_cast<uint64_t>(img.width), static_cast<uint64_t>(img.height), maxPixels));
    throw Error(cat("image '", path, "': cannot decode JPEG (", message, ")"));
  }
  return img;
}

Image decodePng(const std::string &bytes, const std::string &path, int64_t maxPixels) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    throw Error(cat("image '", path, "': cannot decode PNG (", png.message, ")"));
  if (static_cast<uint64_t>(png.width) * png.height > static_cast<uint64_t>(maxPixels)) {
    png_image_free(&png);
    throw Error(tooLarge(path, png.width, png.height, maxPixels));
  }
  const bool grey = (png.format & PNG_FORMAT_FLAG_COLOR) == 0;
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  // Read with alpha (if any) and drop it ourselves: libpng would composite, PIL does not.
  png.format = grey ? (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY) : (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB);
  std::vector<uint8_t> buf(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, buf.data(), 0, nullptr)) {
    std::string msg = png.message;
    png_image_free(&png);
    throw Error(cat("image '", path, "': cannot decode PNG (", msg, ")"));
  }
  Image img;
  img.width = static_cast<int>(png.width);
  img.height = static_cast<int>(png.height);
  img.channels = grey ? 1 : 3;
  const int stride = img.channels + (alpha ? 1 : 0);
  const size_t n = static_cast<size_t>(img.width) * img.height;
  img.pixels.resize(n * img.channels);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < img.channels; ++c) img.pixels[i * img.channels + c] = buf[i * stride + c];
  return img;
}

}  // namespace

Image decodeImage(const std::string &path) { return decodeImageBytes(readFile(path), path); }

Image decodeImageBytes(const std::string &bytes, const std::string &path, int64_t maxPixels) {
  const auto *b = reinterpret_cast<const unsigned char *>(bytes.data());
  if (bytes.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return decodeJpeg(bytes, path, maxPixels);
  if (bytes.size() >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return decodePng(bytes, path, maxPixels);
  throw Error(cat("image '", path, "': not a JPEG or PNG file"));
}

}  // namespace lowbit
