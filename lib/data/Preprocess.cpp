#include "data/Preprocess.h"

#include <algorithm>
#include <cmath>

#include "support/Error.h"
#include "support/Strings.h"

namespace lowbit {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point precision for 8-bit images

struct Taps {
  std::vector<int> start, count;
  std::vector<int32_t> weights;  // ksize per output pixel
  int ksize = 0;
};

// PIL precompute_coeffs + normalize_coeffs_8bpc with the triangle (bilinear) filter.
Taps bilinearTaps(int inSize, int outSize) {
  const double scale = static_cast<double>(inSize) / outSize;
  const double filterScale = std::max(scale, 1.0);
  const double support = 1.0 * filterScale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.start.resize(outSize);
  t.count.resize(outSize);
  t.weights.assign(static_cast<size_t>(outSize) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < outSize; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterScale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), inSize) - xmin;
    double ww = 0;
    for (int x = 0; x < xmax; ++x) {
      double arg = std::fabs((x + xmin - center + 0.5) * ss);
      double w = arg < 1.0 ? 1.0 - arg : 0.0;
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? k[x] / ww : k[x];
      t.weights[static_cast<size_t>(xx) * t.ksize + x] =
          static_cast<int32_t>(v < 0 ? std::trunc(-0.5 + v * (1 << kPrecisionBits))
                                     : std::trunc(0.5 + v * (1 << kPrecisionBits)));
    }
    t.start[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t{1} << (8 + kPrecisionBits))) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// One separable pass along x (horizontal) or y.
Image resamplePass(const Image &in, int outSize, bool horizontal) {
  Image out;
  out.channels = in.channels;
  out.width = horizontal ? outSize : in.width;
  out.height = horizontal ? in.height : outSize;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  Taps taps = bilinearTaps(horizontal ? in.width : in.height, outSize);
  const int C = in.channels;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const int32_t *k = &taps.weights[static_cast<size_t>(o) * taps.ksize];
      for (int c = 0; c < C; ++c) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        for (int i = 0; i < taps.count[o]; ++i) {
          const int sx = horizontal ? taps.start[o] + i : x, sy = horizontal ? y : taps.start[o] + i;
          ss += static_cast<int64_t>(in.pixels[(static_cast<size_t>(sy) * in.width + sx) * C + c]) * k[i];
        }
        out.pixels[(static_cast<size_t>(y) * out.width + x) * C + c] = clip8(ss);
      }
    }
  return out;
}

}  // namespace

Image resizeBilinear(const Image &img, int width, int height) {
  Image cur = img;
  if (width != cur.width) cur = resamplePass(cur, width, true);
  if (height != cur.height) cur = resamplePass(cur, height, false);
  return cur;
}

PreprocessConfig preprocessForChannels(PreprocessConfig cfg, int channels) {
  for (auto [values, flag] : {std::pair{&cfg.mean, "--mean"}, std::pair{&cfg.std, "--std"}}) {
    if (values->size() == 1) values->assign(static_cast<size_t>(channels), values->front());
    if (!values->empty() && values->size() != static_cast<size_t>(channels))
      throw UsageError(cat(flag, " has ", values->size(), " values; the model's input has ", channels,
                           " channels (give 1 or ", channels, ")"));
  }
  return cfg;
}

void preprocessInto(const Image &src, const PreprocessConfig &cfg, int channels, int height,
                    int width, float *dst, const std::string &path) {
  const Image *img = &src;
  Image resized;
  if (cfg.resize > 0) {
    // torchvision Resize(int): the shorter side becomes `resize`, the longer keeps the ratio.
    int w = src.width, h = src.height;
    int nw, nh;
    if (w <= h) {
      nw = cfg.resize;
      nh = static_cast<int>(static_cast<int64_t>(cfg.resize) * h / w);
    } else {
      nh = cfg.resize;
      nw = static_cast<int>(static_cast<int64_t>(cfg.resize) * w / h);
    }
    if (nw != w || nh != h) {
      resized = resizeBilinear(src, nw, nh);
      img = &resized;
    }
  }
  int x0 = 0, y0 = 0, cw = img->width, ch = img->height;
  if (cfg.crop > 0) {
    if (cfg.crop > img->width || cfg.crop > img->height)
      throw Error(cat("image '", path, "': ", img->width, "x", img->height,
                      " is smaller than the crop ", cfg.crop, " (add --resize)"));
    // torchvision CenterCrop: int(round((size - crop) / 2)), round half to even.
    x0 = static_cast<int>(std::nearbyint((img->width - cfg.crop) / 2.0));
    y0 = static_cast<int>(std::nearbyint((img->height - cfg.crop) / 2.0));
    cw = ch = cfg.crop;
  }
  if (cw != width || ch != height)
    throw Error(cat("image '", path, "': is ", cw, "x", ch, " after preprocessing, the model expects ",
                    width, "x", height, " (use --size, --resize or --crop)"));
  if (channels != 1 && channels != 3)
    throw Error(cat("the model expects ", channels, " input channels; lowbit feeds images as 1 or 3"));
  const int C = img->channels;
  const size_t plane = static_cast<size_t>(width) * height;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const uint8_t *p = &img->pixels[(static_cast<size_t>(y + y0) * img->width + (x + x0)) * C];
      uint8_t rgb[3];
      if (channels == 1) {
        // PIL convert("L"): L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
        rgb[0] = C == 1 ? p[0]
                        : static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
      } else {
        for (int c = 0; c < 3; ++c) rgb[c] = C == 1 ? p[0] : p[c];
        if (cfg.bgr) std::swap(rgb[0], rgb[2]);
      }
      for (int c = 0; c < channels; ++c) {
        float v = rgb[c] / 255.0f;
        float m = c < static_cast<int>(cfg.mean.size()) ? cfg.mean[c] : 0.f;
        float s = c < static_cast<int>(cfg.std.size()) ? cfg.std[c] : 1.f;
        dst[c * plane + static_cast<size_t>(y) * width + x] = (v - m) / s;
      }
    }
}

}  // namespace lowbit
