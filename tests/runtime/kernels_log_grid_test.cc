// Log-grid softmax outputs (log2, log√2, SULQ tables: schema LogGridQuantization) and the
// shift-and-add P·V BATCH_MATMUL, each against a reference written here from the contract in
// kernels.h: the codes by counting thresholds, P·V by multiplying each element by its code's
// integer value (the kernel splits that into shift accumulators and one rank-1 term).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "runtime/kernels/reference/kernel_util.h"
#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref::testing {
namespace {

namespace qm = squint::quant_math;

// A random valid grid: n codes, non-increasing thresholds (the last sometimes 0: no code is 0),
// shifts <= 20, random √2 flags, eta/delta for the rank-1 term.
struct RandomGrid {
  std::vector<uint32_t> thresholds;
  std::vector<uint8_t> shifts, sqrt2;
  LogGrid grid;
  RandomGrid(std::mt19937& rng, int32_t n, bool with_zero, bool with_sqrt2, float delta, float eta) {
    std::uniform_int_distribution<uint32_t> t(0, kLogGridOne + 1);
    for (int32_t j = 0; j < n; ++j) thresholds.push_back(t(rng));
    std::sort(thresholds.rbegin(), thresholds.rend());
    if (!with_zero) thresholds.back() = 0;
    for (int32_t j = 0; j < n; ++j) {
      shifts.push_back(static_cast<uint8_t>(std::uniform_int_distribution<int>(0, kLogGridMaxShift)(rng)));
      sqrt2.push_back(with_sqrt2 ? static_cast<uint8_t>(rng() % 2) : 0);
    }
    grid.n = n;
    grid.thresholds = thresholds.data();
    grid.shifts = shifts.data();
    grid.sqrt2 = with_sqrt2 ? sqrt2.data() : nullptr;
    grid.max_shift = *std::max_element(shifts.begin(), shifts.end());
    grid.eta_q = LogGridEtaQ(delta, eta, grid.max_shift);
  }
};

TEST(LogGridCode, CountsThresholdsAboveAndCodesBeyondTheLastAsZero) {
  const uint32_t th[3] = {1000, 500, 100};
  const uint8_t sh[3] = {0, 1, 2};
  LogGrid g;
  g.n = 3;
  g.thresholds = th;
  g.shifts = sh;
  EXPECT_EQ(LogGridCode(g, kLogGridOne), 0);
  EXPECT_EQ(LogGridCode(g, 1000), 0);  // P < threshold moves on; equal stays
  EXPECT_EQ(LogGridCode(g, 999), 1);
  EXPECT_EQ(LogGridCode(g, 500), 1);
  EXPECT_EQ(LogGridCode(g, 499), 2);
  EXPECT_EQ(LogGridCode(g, 100), 2);
  EXPECT_EQ(LogGridCode(g, 99), kLogGridZeroCode);
  EXPECT_EQ(LogGridCode(g, 0), kLogGridZeroCode);
  const uint32_t no_zero[3] = {1000, 500, 0};
  g.thresholds = no_zero;
  EXPECT_EQ(LogGridCode(g, 0), 2);  // nothing rounds to 0
}

TEST(LogGridEtaQ, IsEtaOverDeltaInUnitsOfTwoToMinusShiftPlus15) {
  EXPECT_EQ(LogGridEtaQ(1.0f, 0.0f, 20), 0);
  EXPECT_EQ(LogGridEtaQ(1.0f, 0.5f, 0), 16384);
  EXPECT_EQ(LogGridEtaQ(0.5f, 0.25f, 3), int64_t{1} << 17);
  EXPECT_EQ(LogGridEtaQ(1.0f, 0.01f, 10), 335544);  // ⌊0.01·2^25⌉ = ⌊335544.32⌉
}

TEST(SoftmaxLogGrid, RandomRowsClippedAndCausallyMaskedMatchThresholdCounting) {
  std::mt19937 rng(11);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int zero_seen = 0, first_seen = 0, nonzero_last_seen = 0, clipped_to_zero = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const bool with_zero = iter % 2 == 0;
    RandomGrid rg(rng, uni(2, 255), with_zero, iter % 3 == 0, 1.0f, 0.0f);
    const float s_in = static_cast<float>(RandomScale(rng, 0.01, 0.5));
    const auto table = qm::BuildSoftmaxExpTable(s_in, 20);
    const int32_t rows = uni(1, 6), depth = uni(1, 40);
    std::vector<int8_t> x(static_cast<size_t>(rows) * depth);
    for (auto& v : x) v = static_cast<int8_t>(uni(-128, 127));
    std::vector<uint8_t> mask(x.size(), 1);
    SoftmaxParams p = SoftmaxOver(rows, depth, table, 20);
    p.grid = &rg.grid;
    const bool clipped = iter % 5 == 2;  // clip((ζ − γ)p + γ, 0, 1) with ζ − γ up to 2
    if (clipped) qm::BuildSoftmaxClip(1.0f + 0.01f * uni(0, 10), -0.02f * uni(1, 40), &p.clip_scale_q16, &p.clip_offset_q16);
    if (iter % 4 == 1) {  // causal mask; row 0 fully masked
      for (int r = 0; r < rows; ++r)
        for (int i = 0; i < depth; ++i) mask[r * depth + i] = i <= r - 1 ? 1 : 0;
      SetSoftmaxMask(&p, mask.data(), {rows, depth}, {depth, 1});
    }
    std::vector<int8_t> y(x.size());
    std::vector<uint8_t> yu(x.size());
    Softmax<int8_t, int8_t>(p, x.data(), y.data());
    Softmax<int8_t, uint8_t>(p, x.data(), yu.data());
    for (int r = 0; r < rows; ++r) {
      const int8_t* xr = x.data() + r * depth;
      int32_t m = -1000;
      for (int i = 0; i < depth; ++i)
        if (mask[r * depth + i] && xr[i] > m) m = xr[i];
      int64_t sum = 0;
      for (int i = 0; i < depth; ++i)
        if (mask[r * depth + i]) sum += table[static_cast<size_t>(m - xr[i])];
      for (int i = 0; i < depth; ++i) {
        int32_t want = kLogGridZeroCode;
        if (mask[r * depth + i]) {
          // ⌊clip_scale·e·2^14 / S⌉ + offset·2^6 (round half up: e, S > 0), clamped to [0, 2^30].
          const int64_t num = int64_t{p.clip_scale_q16} * table[static_cast<size_t>(m - xr[i])] * 16384;
          const int64_t P = std::clamp<int64_t>((2 * num + sum) / (2 * sum) + int64_t{p.clip_offset_q16} * 64, 0,
                                                kLogGridOne);
          const auto above = std::count_if(rg.thresholds.begin(), rg.thresholds.end(),
                                           [&](uint32_t t) { return P < static_cast<int64_t>(t); });
          want = above == rg.grid.n ? kLogGridZeroCode : static_cast<int32_t>(above);
          nonzero_last_seen += !with_zero && want == rg.grid.n - 1;
          clipped_to_zero += clipped && P == 0;
        }
        const int32_t got = static_cast<uint8_t>(y[r * depth + i]);
        ASSERT_EQ(got, want) << "iter " << iter << " row " << r << " col " << i;
        ASSERT_EQ(yu[r * depth + i], got);
        zero_seen += got == kLogGridZeroCode;
        first_seen += got == 0;
      }
    }
  }
  EXPECT_GT(zero_seen, 0);
  EXPECT_GT(first_seen, 0);
  EXPECT_GT(nonzero_last_seen, 0);  // grids without a zero code keep tiny probabilities
  EXPECT_GT(clipped_to_zero, 0);    // clipping produced exact zeros
}

TEST(BatchMatMulLogGrid, ShiftAccumulatorsMatchPerElementIntegerValues) {
  std::mt19937 rng(12);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 200; ++iter) {
    const float delta = static_cast<float>(RandomScale(rng, 1.0 / 64, 2.0));  // eta_q < 2^42
    const float eta = iter % 2 == 0 ? 0.0f : static_cast<float>(RandomScale(rng, 1e-3, 1.0));
    RandomGrid rg(rng, uni(2, 255), iter % 3 != 0, iter % 4 < 2, delta, eta);
    BatchMatMulParams p;
    p.batch_rank = 1;
    p.batch_dims[0] = uni(1, 3);
    p.a_batch_strides[0] = 1;
    p.b_batch_strides[0] = 1;
    p.m = uni(1, 5);
    p.k = uni(1, 64);
    p.n = uni(1, 5);
    p.a_grid = &rg.grid;
    p.a_zero_point = 77;  // unused on the log-grid path
    p.b_zero_point = RandomZeroPoint<int8_t>(rng);
    std::vector<int8_t> a(static_cast<size_t>(p.batch_dims[0]) * p.m * p.k);
    for (auto& v : a) v = static_cast<int8_t>(uni(0, 5) == 0 ? kLogGridZeroCode : uni(0, rg.grid.n - 1));
    const auto b = RandomCodes<int8_t>(rng, static_cast<size_t>(p.batch_dims[0]) * p.k * p.n);
    const double s_b = RandomScale(rng, 1e-2, 1.0), s_y = RandomScale(rng, 1e-3, 1e-1);
    RequantOwner rq({qm::RequantFromReal(s_b * std::ldexp(delta, -rg.grid.max_shift) / s_y)},
                    RandomZeroPoint<int8_t>(rng), -128, 127);
    p.requant = rq.params;
    std::vector<int8_t> y(static_cast<size_t>(p.batch_dims[0]) * p.m * p.n);
    BatchMatMul<int8_t>(p, a.data(), b.data(), y.data());
    for (int bi = 0; bi < p.batch_dims[0]; ++bi)
      for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) {
          // value(q) in units of delta·2^−(R + 15): (√2 ? 46341 : 32768)·2^(R − shift) − eta_q.
          int64_t total = 0;
          for (int k = 0; k < p.k; ++k) {
            const int32_t c = static_cast<uint8_t>(a[(bi * p.m + i) * p.k + k]);
            if (c == kLogGridZeroCode) continue;
            int64_t v = rg.grid.sqrt2 != nullptr && rg.sqrt2[c] ? kSqrt2Q15 : 32768;
            for (int t = rg.shifts[c]; t < rg.grid.max_shift; ++t) v *= 2;
            total += (v - rg.grid.eta_q) * (b[(bi * p.k + k) * p.n + j] - p.b_zero_point);
          }
          const int64_t acc = detail::FloorDiv(total + 16384, 32768);
          ASSERT_EQ(y[(bi * p.m + i) * p.n + j], detail::Requant(p.requant, 0, acc)) << "iter " << iter;
        }
  }
}

}  // namespace
}  // namespace squint::rt::ref::testing
