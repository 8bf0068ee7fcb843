// The reference kernels behind MaxPool's Indices output and training-mode Dropout's mask.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "kernels/DropoutMask.h"
#include "kernels/MaxPoolIndices.h"

using namespace lowbit;

TEST_CASE("maxPoolIndices reports flattened input offsets row-major and column-major", "[kernels]") {
  // Two planes of 3x3; 2x2 windows, stride 1, no padding.
  //   plane 0: 1 5 2 / 7 3 4 / 0 8 6     plane 1: all 1 except (2,2) = 9
  std::vector<float> x = {1, 5, 2, 7, 3, 4, 0, 8, 6, 1, 1, 1, 1, 1, 1, 1, 1, 9};
  PoolWindow w{{3, 3}, {2, 2}, {2, 2}, {1, 1}, {1, 1}, {0, 0}};
  std::vector<int64_t> rowMajor(8), colMajor(8);
  maxPoolIndices(x.data(), 2, w, false, rowMajor.data());
  maxPoolIndices(x.data(), 2, w, true, colMajor.data());
  // plane 0 maxima: 7 at (1,0), 5 at (0,1)... windows: [1 5 7 3]->7 (1,0); [5 2 3 4]->5 (0,1);
  // [7 3 0 8]->8 (2,1); [3 4 8 6]->8 (2,1). Plane 1: ties take the first element; last window 9.
  CHECK(rowMajor == std::vector<int64_t>{3, 1, 7, 7, 9, 10, 12, 17});
  // Column-major offsets of (h, w) are h + 3 w within a plane.
  CHECK(colMajor == std::vector<int64_t>{1, 3, 5, 5, 9, 12, 10, 17});
}

TEST_CASE("maxPoolIndices skips padding and dilates windows", "[kernels]") {
  std::vector<float> x = {4, 1, 3, 2};  // one plane, 1-D of length 4
  // kernel 2, dilation 2, stride 1, pad 1 at the start: windows see {pad, 1}, {4, 3}, {1, 2}.
  PoolWindow w{{4}, {3}, {2}, {1}, {2}, {1}};
  std::vector<int64_t> idx(3);
  maxPoolIndices(x.data(), 1, w, false, idx.data());
  CHECK(idx == std::vector<int64_t>{1, 0, 3});
}

TEST_CASE("dropoutMask follows numpy's seeded uniform stream", "[kernels]") {
  // numpy: np.random.seed(0); np.random.uniform(0, 1, 4) = 0.5488135, 0.71518937, 0.60276338, 0.54488318
  std::vector<uint8_t> keep(4);
  dropoutMask(0, 0.6f, 4, keep.data());
  CHECK(keep == std::vector<uint8_t>{0, 1, 1, 0});
  dropoutMask(0, 0.55f, 4, keep.data());
  CHECK(keep == std::vector<uint8_t>{0, 1, 1, 0});
  dropoutMask(0, 0.548f, 4, keep.data());
  CHECK(keep == std::vector<uint8_t>{1, 1, 1, 0});
}

TEST_CASE("dropoutMask keeps about one minus ratio of the elements", "[kernels]") {
  std::vector<uint8_t> keep(100000);
  dropoutMask(7, 0.3f, static_cast<int64_t>(keep.size()), keep.data());
  int64_t kept = 0;
  for (uint8_t k : keep) kept += k;
  CHECK(kept > 69000);
  CHECK(kept < 71000);
}
