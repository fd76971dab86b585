// TRANSPOSE, SLICE, GATHER, SPLIT, CONCAT, PAD: exact against direct index arithmetic
// (CONCAT with rescaled inputs within ±1 code), including zero-size dims.
#include <gtest/gtest.h>

#include <numeric>

#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
namespace qm = squint::quant_math;

std::vector<int32_t> RowMajor(const std::vector<int32_t>& dims) {
  std::vector<int32_t> s(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}
int32_t Elements(const std::vector<int32_t>& d) {
  return std::accumulate(d.begin(), d.end(), 1, std::multiplies<int32_t>());
}
// Calls f(flat, multi_index) over a shape in row-major order.
template <typename F>
void ForEachIndex(const std::vector<int32_t>& dims, F f) {
  const int32_t n = Elements(dims);
  std::vector<int32_t> idx(dims.size(), 0);
  for (int32_t o = 0; o < n; ++o) {
    f(o, idx);
    for (int i = int(dims.size()) - 1; i >= 0; --i) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
}

template <typename T>
class DataMovementTest : public ::testing::Test {};
using Types = ::testing::Types<int8_t, uint8_t, int16_t, int32_t>;
TYPED_TEST_SUITE(DataMovementTest, Types);

TYPED_TEST(DataMovementTest, TransposeSliceGatherSplitPadExact) {
  using T = TypeParam;
  std::mt19937 rng(17);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 200; ++iter) {
    const int rank = uni(0, 6);
    std::vector<int32_t> dims(rank);
    for (auto& d : dims) d = uni(iter % 17 == 0 ? 0 : 1, 4);
    const auto strides = RowMajor(dims);
    std::vector<T> x(Elements(dims));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i * 7 + 3);

    // Transpose with a random permutation.
    std::vector<int32_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> tdims(rank);
    for (int j = 0; j < rank; ++j) tdims[j] = dims[perm[j]];
    std::vector<T> y(x.size());
    Transpose<T>(rank, dims.data(), perm.data(), x.data(), y.data());
    ForEachIndex(tdims, [&](int32_t o, const std::vector<int32_t>& idx) {
      int64_t src = 0;
      for (int j = 0; j < rank; ++j) src += int64_t{idx[j]} * strides[perm[j]];
      ASSERT_EQ(y[o], x[src]);
    });

    // Slice with random starts and (possibly negative) steps.
    std::vector<int32_t> starts(rank), steps(rank), sdims(rank);
    for (int i = 0; i < rank; ++i) {
      steps[i] = uni(0, 1) ? uni(1, 3) : -uni(1, 3);
      if (dims[i] == 0) {
        starts[i] = 0;
        sdims[i] = 0;
        continue;
      }
      starts[i] = uni(0, dims[i] - 1);
      const int room = steps[i] > 0 ? (dims[i] - 1 - starts[i]) / steps[i] : starts[i] / -steps[i];
      sdims[i] = uni(0, room + 1);
    }
    std::vector<T> ys(Elements(sdims));
    Slice<T>(rank, dims.data(), starts.data(), steps.data(), sdims.data(), x.data(), ys.data());
    ForEachIndex(sdims, [&](int32_t o, const std::vector<int32_t>& idx) {
      int64_t src = 0;
      for (int i = 0; i < rank; ++i) src += int64_t{starts[i] + idx[i] * steps[i]} * strides[i];
      ASSERT_EQ(ys[o], x[src]);
    });

    if (rank == 0) continue;
    // Gather / Split along a random axis: [outer, axis, inner].
    const int axis = uni(0, rank - 1);
    int32_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= dims[i];
    for (int i = axis + 1; i < rank; ++i) inner *= dims[i];
    const int32_t ad = dims[axis];
    if (ad > 0) {
      std::vector<int32_t> indices(uni(0, 5));
      for (auto& v : indices) v = uni(-ad, ad - 1);  // negative counts from the end
      std::vector<T> yg(size_t(outer) * indices.size() * inner);
      Gather<T>(outer, ad, inner, indices.data(), int32_t(indices.size()), x.data(), yg.data());
      for (int32_t o = 0; o < outer; ++o)
        for (size_t j = 0; j < indices.size(); ++j)
          for (int32_t k = 0; k < inner; ++k) {
            const int32_t idx = indices[j] < 0 ? indices[j] + ad : indices[j];
            ASSERT_EQ(yg[(o * indices.size() + j) * inner + k], x[(int64_t{o} * ad + idx) * inner + k]);
          }
    }
    std::vector<int32_t> sizes;
    for (int32_t left = ad; left > 0;) {
      sizes.push_back(uni(0, left));
      left -= sizes.back();
    }
    sizes.push_back(0);  // an empty piece; the sizes sum to the axis
    std::vector<std::vector<T>> parts(sizes.size());
    std::vector<T*> outs;
    for (size_t i = 0; i < sizes.size(); ++i) {
      parts[i].resize(size_t(outer) * sizes[i] * inner + 1);
      outs.push_back(parts[i].data());
    }
    Split<T>(outer, inner, int32_t(sizes.size()), sizes.data(), x.data(), outs.data());
    // Concat of the pieces (no rescale) gives x back.
    std::vector<const T*> ins(outs.begin(), outs.end());
    std::vector<T> back(x.size() + 1);
    Concat<T>(int32_t(sizes.size()), ins.data(), sizes.data(), outer, inner, nullptr, back.data());
    back.pop_back();
    ASSERT_EQ(back, x);

    // Pad in the three modes.
    const int mode = uni(0, 2);
    bool ok = true;
    std::vector<int32_t> pads(2 * rank);
    for (int i = 0; i < rank; ++i) {
      const int lim = mode == 1 ? dims[i] - 1 : (mode == 2 && dims[i] == 0 ? 0 : 3);
      if (lim < 0) ok = false;
      pads[i] = ok ? uni(0, std::max(0, lim)) : 0;
      pads[rank + i] = ok ? uni(0, std::max(0, lim)) : 0;
    }
    if (!ok) continue;
    std::vector<int32_t> pdims(rank);
    for (int i = 0; i < rank; ++i) pdims[i] = dims[i] + pads[i] + pads[rank + i];
    std::vector<T> yp(Elements(pdims));
    Pad<T>(rank, dims.data(), pads.data(), mode, 5, x.data(), yp.data());
    ForEachIndex(pdims, [&](int32_t o, const std::vector<int32_t>& idx) {
      int64_t src = 0;
      bool inside = true;
      for (int i = 0; i < rank; ++i) {
        int c = idx[i] - pads[i];
        if (c < 0 || c >= dims[i]) {
          if (mode == 0) inside = false;
          if (mode == 1) c = c < 0 ? -c : 2 * (dims[i] - 1) - c;
          if (mode == 2) c = c < 0 ? 0 : dims[i] - 1;
        }
        src += int64_t{c} * strides[i];
      }
      ASSERT_EQ(yp[o], inside ? x[src] : static_cast<T>(5)) << "mode " << mode;
    });
  }
}

TEST(Gather, OutOfRangeIndicesAreClampedNotRead) {
  const int8_t x[3] = {1, 2, 3};
  const int32_t idx[4] = {-1, -4, 3, 100};
  int8_t y[4];
  Gather<int8_t>(1, 3, 1, idx, 4, x, y);
  EXPECT_EQ(std::vector<int>(y, y + 4), (std::vector<int>{3, 1, 3, 3}));
}

TEST(Concat, RescalesInputsWithDifferentParameters) {
  std::mt19937 rng(4);
  const double s_out = 0.05;
  const int32_t z_out = -10;
  const double s[2] = {0.02, 0.11};
  const int32_t z[2] = {5, -100};
  const auto a = RandomCodes<int8_t>(rng, 2 * 3), b = RandomCodes<int8_t>(rng, 2 * 4);
  RescaleParams r[2] = {qm::BuildRescale(s[0], z[0], s_out, z_out, {-128, 127}),
                        qm::BuildRescale(s[1], z[1], s_out, z_out, {-128, 127})};
  const int8_t* ins[2] = {a.data(), b.data()};
  const int32_t sizes[2] = {3, 4};
  std::vector<int8_t> y(14);
  Concat<int8_t>(2, ins, sizes, 2, 1, r, y.data());
  for (int o = 0; o < 2; ++o)
    for (int j = 0; j < 7; ++j) {
      const int in = j < 3 ? 0 : 1;
      const int code = in == 0 ? a[o * 3 + j] : b[o * 4 + j - 3];
      EXPECT_NEAR(y[o * 7 + j], Quantize<int8_t>(s[in] * (code - z[in]), s_out, z_out), 1);
    }
}

}  // namespace
}  // namespace squint::rt::ref
