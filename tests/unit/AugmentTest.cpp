// The fine-tune's augmentation: every output image is its input mirrored or not and shifted by
// at most the given number of pixels, zero where the shift uncovers the border.
#include <random>

#include "TestUtil.h"
#include "train/Augment.h"

using namespace lowbit;
using namespace lowbit::test;

namespace {

// Image \p i of \p x ([N, C, H, W]) mirrored if \p flip and shifted by (dy, dx), as the spec says.
std::vector<float> expected(const Tensor &x, int64_t i, bool flip, int dy, int dx) {
  const Dims &d = x.dims();
  std::vector<float> out;
  for (int64_t c = 0; c < d[1]; ++c)
    for (int64_t y = 0; y < d[2]; ++y)
      for (int64_t xx = 0; xx < d[3]; ++xx) {
        const int64_t sy = y + dy, sx = (flip ? d[3] - 1 - xx : xx) + dx;
        const bool inside = sy >= 0 && sy < d[2] && sx >= 0 && sx < d[3];
        out.push_back(inside ? x.data<float>()[((i * d[1] + c) * d[2] + sy) * d[3] + sx] : 0.f);
      }
  return out;
}

}  // namespace

TEST_CASE("flipAndShift mirrors and shifts each image by at most the pad, zero-filling the border", "[train]") {
  Tensor x = randomTensor({16, 2, 5, 6}, 3);
  std::mt19937 rng(9);
  Tensor y = train::flipAndShift(x, rng, 2);
  REQUIRE(y.dims() == x.dims());
  const int64_t per = 2 * 5 * 6;
  int flipped = 0, shifted = 0;
  for (int64_t i = 0; i < 16; ++i) {
    std::vector<float> got(y.data<float>() + i * per, y.data<float>() + (i + 1) * per);
    bool found = false;
    for (int f = 0; f < 2 && !found; ++f)
      for (int dy = -2; dy <= 2 && !found; ++dy)
        for (int dx = -2; dx <= 2 && !found; ++dx)
          if (got == expected(x, i, f == 1, dy, dx)) {
            found = true;
            flipped += f;
            shifted += dy != 0 || dx != 0;
          }
    INFO("image " << i);
    CHECK(found);
  }
  CHECK(flipped > 0);
  CHECK(flipped < 16);
  CHECK(shifted > 0);
}

TEST_CASE("flipAndShift with no shift only mirrors, and repeats with the same seed", "[train]") {
  Tensor x = randomTensor({8, 1, 3, 4}, 5);
  std::mt19937 a(1), b(1);
  Tensor ya = train::flipAndShift(x, a, 0), yb = train::flipAndShift(x, b, 0);
  CHECK(ya.toFloats() == yb.toFloats());
  for (int64_t i = 0; i < 8; ++i) {
    std::vector<float> got(ya.data<float>() + i * 12, ya.data<float>() + (i + 1) * 12);
    CHECK((got == expected(x, i, false, 0, 0) || got == expected(x, i, true, 0, 0)));
  }
  CHECK_THROWS_WITH(train::flipAndShift(randomTensor({2, 3}, 1), a, 1), Catch::Contains("[N, C, H, W]"));
}

TEST_CASE("mixPairs makes each image a convex mix of itself and one other image of the batch", "[train]") {
  // Image i is constant (i + 1) * 10 in every element: a mix reads back as lambda and the partner.
  const int64_t n = 12, per = 2 * 3 * 3;
  Tensor x(DType::Float32, {n, 2, 3, 3});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k) x.data<float>()[i * per + k] = static_cast<float>((i + 1) * 10);
  std::mt19937 rng(4);
  double lambdaSum = 0;
  const int rounds = 200;
  for (int r = 0; r < rounds; ++r) {
    Tensor y = train::mixPairs(x, rng, 0.4f);
    REQUIRE(y.dims() == x.dims());
    for (int64_t i = 0; i < n; ++i) {
      const float *img = y.data<float>() + i * per;
      for (int64_t k = 1; k < per; ++k) REQUIRE(img[k] == img[0]);  // one lambda per image
      const double own = static_cast<double>((i + 1) * 10), v = img[0];
      // v = l * own + (1 - l) * other for some other image j != i and l in [0, 1].
      bool found = false;
      for (int64_t j = 0; j < n && !found; ++j) {
        if (j == i) continue;
        const double other = static_cast<double>((j + 1) * 10), l = (v - other) / (own - other);
        if (l >= -1e-5 && l <= 1 + 1e-5) {
          found = true;
          lambdaSum += l;
        }
      }
      INFO("round " << r << " image " << i << " value " << v);
      REQUIRE(found);
    }
  }
  // Beta(a, a) is symmetric around 1/2.
  CHECK(lambdaSum / (rounds * n) == Approx(0.5).margin(0.03));
  // A batch of one has no partner; alpha must be positive.
  Tensor one = randomTensor({1, 2, 3, 3}, 1);
  CHECK(train::mixPairs(one, rng, 0.4f).toFloats() == one.toFloats());
  CHECK_THROWS_WITH(train::mixPairs(x, rng, 0.f), Catch::Contains("alpha"));
}
