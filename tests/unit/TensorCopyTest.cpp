#include <catch2/catch.hpp>

#include <functional>
#include <numeric>

#include "kernels/TensorCopy.h"

using namespace lowbit;

TEST_CASE("copyStrided transposes a 3-D tensor like a naive loop", "[kernels]") {
  const std::vector<int64_t> dims = {2, 3, 4};
  std::vector<float> src(24);
  std::iota(src.begin(), src.end(), 0.f);
  // perm {2, 0, 1}: out[k][i][j] = src[i][j][k]
  std::vector<int64_t> inStrides = contiguousStrides(dims);
  std::vector<int64_t> outDims = {4, 2, 3}, srcStrides = {inStrides[2], inStrides[0], inStrides[1]};
  std::vector<float> dst(24, -1.f);
  copyStrided(src.data(), 0, srcStrides, dst.data(), 0, contiguousStrides(outDims), outDims, 4);
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) CHECK(dst[k * 6 + i * 3 + j] == src[i * 12 + j * 4 + k]);
}

TEST_CASE("copyStrided slices with step 2 and negative steps", "[kernels]") {
  std::vector<float> src(10);
  std::iota(src.begin(), src.end(), 0.f);
  std::vector<float> dst(5);
  copyStrided(src.data(), 1, {2}, dst.data(), 0, {1}, {5}, 4);
  CHECK(dst == std::vector<float>{1, 3, 5, 7, 9});
  copyStrided(src.data(), 9, {-2}, dst.data(), 0, {1}, {5}, 4);
  CHECK(dst == std::vector<float>{9, 7, 5, 3, 1});
}

TEST_CASE("copyStrided broadcasts with stride 0", "[kernels]") {
  std::vector<float> src = {1, 2, 3};
  std::vector<float> dst(6);
  copyStrided(src.data(), 0, {0, 1}, dst.data(), 0, {3, 1}, {2, 3}, 4);
  CHECK(dst == std::vector<float>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("padCopy implements constant, edge and reflect modes", "[kernels]") {
  std::vector<int32_t> src = {1, 2, 3};
  std::vector<int32_t> dst(7);
  int32_t fill = 9;
  padCopy(src.data(), {3}, dst.data(), {2}, {2}, PadMode::Constant, &fill, 4);
  CHECK(dst == std::vector<int32_t>{9, 9, 1, 2, 3, 9, 9});
  padCopy(src.data(), {3}, dst.data(), {2}, {2}, PadMode::Edge, &fill, 4);
  CHECK(dst == std::vector<int32_t>{1, 1, 1, 2, 3, 3, 3});
  padCopy(src.data(), {3}, dst.data(), {2}, {2}, PadMode::Reflect, &fill, 4);
  CHECK(dst == std::vector<int32_t>{3, 2, 1, 2, 3, 2, 1});
}

TEST_CASE("padCopy with constant pads on the last axis only matches a brute-force pad, bytes and floats", "[kernels]") {
  // Channels-last codes padded in channels (the CIFAR ResNet shortcut), small and large enough
  // for the parallel path; then the same with an outer axis padded too (the general path).
  for (const std::vector<int64_t> &dims : {std::vector<int64_t>{2, 3, 5}, std::vector<int64_t>{64, 16, 16, 16}}) {
    for (bool outerToo : {false, true}) {
      const size_t rank = dims.size();
      std::vector<int64_t> begin(rank, 0), end(rank, 0);
      begin[rank - 1] = 3;
      end[rank - 1] = 2;
      if (outerToo) begin[0] = 1;
      std::vector<int64_t> outDims(rank);
      for (size_t a = 0; a < rank; ++a) outDims[a] = dims[a] + begin[a] + end[a];
      const int64_t n = std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>()),
                    m = std::accumulate(outDims.begin(), outDims.end(), int64_t{1}, std::multiplies<>());
      std::vector<uint8_t> src(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) src[static_cast<size_t>(i)] = static_cast<uint8_t>(1 + i % 251);
      std::vector<uint8_t> want(static_cast<size_t>(m), 0), got(static_cast<size_t>(m), 77);
      const std::vector<int64_t> inStrides = contiguousStrides(dims), outStrides = contiguousStrides(outDims);
      for (int64_t i = 0; i < n; ++i) {
        int64_t at = 0, rest = i;
        for (size_t a = 0; a < rank; ++a) {
          at += (rest / inStrides[a] + begin[a]) * outStrides[a];
          rest %= inStrides[a];
        }
        want[static_cast<size_t>(at)] = src[static_cast<size_t>(i)];
      }
      const uint8_t zero = 0;
      padCopy(src.data(), dims, got.data(), begin, end, PadMode::Constant, &zero, 1);
      INFO("rank " << rank << ", outer axis padded " << outerToo);
      CHECK(got == want);
      std::vector<float> srcF(src.begin(), src.end()), gotF(static_cast<size_t>(m), -1.f);
      const float zeroF = 0.f;
      padCopy(srcF.data(), dims, gotF.data(), begin, end, PadMode::Constant, &zeroF, 4);
      CHECK(std::vector<float>(want.begin(), want.end()) == gotF);
    }
  }
}

TEST_CASE("gatherCopy takes rows along an inner axis", "[kernels]") {
  std::vector<float> src = {0, 1, 2, 10, 11, 12};  // [2,3]
  std::vector<float> dst(4);
  gatherCopy(src.data(), {2, 3}, 1, {2, 0}, dst.data(), 4);
  CHECK(dst == std::vector<float>{2, 0, 12, 10});
}

TEST_CASE("interleavePairs writes two channels-last runs as alternate channels, 1- and 4-byte elements", "[kernels]") {
  // Pixels 3 (and 5000, past the threaded size), runs of 5 taken from tensors of 7 and 6
  // channels into one of 12: pixel p, channel 2j + k <- source k's channel j.
  for (int64_t pixels : {int64_t{3}, int64_t{5000}}) {
    const int64_t run = 5, sa = 7, sb = 6, sd = 12;
    std::vector<uint8_t> a(static_cast<size_t>(pixels * sa)), b(static_cast<size_t>(pixels * sb));
    std::vector<float> fa(a.size()), fb(b.size());
    for (size_t i = 0; i < a.size(); ++i) fa[i] = static_cast<float>(a[i] = static_cast<uint8_t>(i * 7 + 1));
    for (size_t i = 0; i < b.size(); ++i) fb[i] = static_cast<float>(b[i] = static_cast<uint8_t>(i * 3 + 2)) + 0.5f;
    std::vector<uint8_t> d(static_cast<size_t>(pixels * sd), 0xee);
    std::vector<float> fd(d.size(), -1.f);
    interleavePairs(a.data(), sa, b.data(), sb, d.data(), sd, pixels, run, 1);
    interleavePairs(fa.data(), sa, fb.data(), sb, fd.data(), sd, pixels, run, 4);
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < sd; ++c) {
        const size_t at = static_cast<size_t>(p * sd + c);
        if (c >= 2 * run) {  // past the runs: untouched
          REQUIRE(d[at] == 0xee);
          REQUIRE(fd[at] == -1.f);
          continue;
        }
        const size_t from = static_cast<size_t>(p * (c % 2 ? sb : sa) + c / 2);
        REQUIRE(d[at] == (c % 2 ? b : a)[from]);
        REQUIRE(fd[at] == (c % 2 ? fb : fa)[from]);
      }
  }
}

TEST_CASE("interleavePairs of bytes equals its plain loop for runs around the 32-byte permute", "[kernels]") {
  // Runs shorter than, equal to and past one permute (and two), on few pixels and on enough
  // to be split over threads; the bytes after the runs stay untouched.
  for (int64_t run : {int64_t{1}, int64_t{24}, int64_t{31}, int64_t{32}, int64_t{33}, int64_t{58}, int64_t{64},
                      int64_t{116}})
    for (int64_t pixels : {int64_t{2}, int64_t{3000}}) {
      const int64_t sa = run + 3, sb = run, sd = 2 * run + 5;
      std::vector<uint8_t> a(static_cast<size_t>(pixels * sa)), b(static_cast<size_t>(pixels * sb));
      for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7 + 1);
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 13 + 5);
      std::vector<uint8_t> fast(static_cast<size_t>(pixels * sd), 0xee), slow = fast;
      interleavePairs(a.data(), sa, b.data(), sb, fast.data(), sd, pixels, run, 1);
      interleavePairsReference(a.data(), sa, b.data(), sb, slow.data(), sd, pixels, run, 1);
      REQUIRE(fast == slow);
      CHECK(slow[static_cast<size_t>(2 * run)] == 0xee);
      CHECK(slow[1] == b[0]);
    }
}

TEST_CASE("concatRows writes each row as the sources' runs in order, many rows or few long ones", "[kernels]") {
  // Few rows of 200,000+ bytes take the piecewise threaded path; many short rows the per-row one.
  for (int64_t rows : {3, 50}) {
    const std::vector<size_t> bytes = rows == 3 ? std::vector<size_t>{200004, 70000, 4} : std::vector<size_t>{12, 3, 40};
    std::vector<std::vector<uint8_t>> srcs;
    std::vector<const void *> ptrs;
    size_t total = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      srcs.emplace_back(bytes[i] * static_cast<size_t>(rows));
      for (size_t k = 0; k < srcs.back().size(); ++k) srcs.back()[k] = static_cast<uint8_t>(k * 7 + i * 31);
      ptrs.push_back(srcs.back().data());
      total += bytes[i];
    }
    std::vector<uint8_t> got(total * static_cast<size_t>(rows), 0xEE), want;
    for (int64_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < bytes.size(); ++i)
        want.insert(want.end(), srcs[i].begin() + static_cast<std::ptrdiff_t>(r * bytes[i]),
                    srcs[i].begin() + static_cast<std::ptrdiff_t>((r + 1) * bytes[i]));
    concatRows(ptrs, bytes, rows, got.data());
    INFO(rows << " rows");
    CHECK(got == want);
  }
}
