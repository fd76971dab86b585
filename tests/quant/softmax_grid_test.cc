// Softmax log grids (quant/softmax_grid.h): each grid's values and rounding follow its
// quantizer's definition, the fitted parameters minimize the error they claim to, and the
// quantizer's view of a grid (GridCode, GridValue) is what the runtime kernels compute.
#include "quant/softmax_grid.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/quant_math/quant_math.h"
#include "tests/runtime/kernels_test_util.h"

namespace squint::quant {
namespace {

namespace ref = rt::ref;

// Softmax-like rows: a few large scores among many small ones.
std::vector<float> AttentionRows(std::mt19937& rng, int rows, int keys) {
  std::normal_distribution<float> score(0.0f, 2.5f);
  std::vector<float> p(static_cast<size_t>(rows) * keys);
  for (int r = 0; r < rows; ++r) {
    float sum = 0.0f;
    for (int k = 0; k < keys; ++k) sum += p[r * keys + k] = std::exp(score(rng));
    for (int k = 0; k < keys; ++k) p[r * keys + k] /= sum;
  }
  return p;
}

TEST(SoftmaxGrid, Log2ValuesArePowersOfTwoRoundedInTheLogDomain) {
  const LogGridTables t = BuildLog2Grid(4);
  ASSERT_EQ(t.shifts.size(), 16u);
  for (int q = 0; q < 16; ++q) {
    EXPECT_EQ(GridValue(t, q), std::ldexp(1.0, -q));
    EXPECT_EQ(GridCode(t, std::exp2(-(q + 0.49))), q);
    EXPECT_EQ(GridCode(t, std::exp2(-(q - 0.49))), q);
  }
  EXPECT_EQ(GridCode(t, std::exp2(-15.51)), ref::kLogGridZeroCode);
  EXPECT_EQ(GridValue(t, ref::kLogGridZeroCode), 0.0);
  EXPECT_EQ(BuildLog2Grid(8).shifts.size(), 21u);  // shifts stop at 20
  EXPECT_EQ(BuildLog2Grid(2).shifts.size(), 4u);
}

TEST(SoftmaxGrid, LogSqrt2ValuesAreDeltaTimesSqrt2PowersFromTwoShiftClasses) {
  const LogGridTables t = BuildLogSqrt2Grid(4, 0.8f);
  ASSERT_EQ(t.shifts.size(), 16u);
  for (int q = 0; q < 16; ++q) {
    const double want = 0.8 * std::pow(std::sqrt(2.0), -q);
    EXPECT_NEAR(GridValue(t, q), want, want * 2e-5) << q;  // √2 is 46341/2^15 in the kernel
    EXPECT_EQ(t.shifts[q], (q + 1) / 2);
    EXPECT_EQ(t.sqrt2[q], q % 2);
    EXPECT_EQ(GridCode(t, 0.8 * std::exp2(-(q + 0.48) / 2)), q);
    EXPECT_EQ(GridCode(t, 0.8 * std::exp2(-(q - 0.48) / 2)), q);
  }
  EXPECT_EQ(GridCode(t, 1.0), 0);  // above delta: the largest code
  EXPECT_EQ(GridCode(t, 0.8 * std::exp2(-15.52 / 2)), ref::kLogGridZeroCode);
  EXPECT_EQ(BuildLogSqrt2Grid(8, 1.0f).shifts.size(), 41u);
}

TEST(SoftmaxGrid, SulqLevelsAreUniformInLog2OfPPlusEtaAndCoverEveryProbability) {
  const float eta = 0.01f, lo = std::log2(1e-4f + eta), hi = std::log2(1.0f + eta);
  const LogGridTables t = BuildSulqGrid(4, eta, lo, hi);
  ASSERT_EQ(t.shifts.size(), 16u);
  const double step = (static_cast<double>(hi) - lo) / 15;
  for (int q = 0; q < 16; ++q) {
    const int l = 15 - q;
    const double want = std::exp2(std::nearbyint(lo + l * step)) - eta;
    EXPECT_NEAR(GridValue(t, q), want, 1e-9) << q;
    // A probability at level l's centre codes to q.
    const double p = std::exp2(lo + l * step) - eta;
    if (p > 0) {
      EXPECT_EQ(GridCode(t, p), q) << q;
    }
  }
  EXPECT_EQ(GridCode(t, 0.0), 15);  // no zero code: tiny probabilities take the lowest level
  EXPECT_EQ(GridCode(t, 1.0), 0);
  EXPECT_EQ(BuildSulqGrid(8, eta, lo, hi).shifts.size(), 255u);  // 0xFF stays the zero byte
}

TEST(SoftmaxGrid, HistogramErrorMatchesTheExactErrorAndFitPicksTheSmallest) {
  std::mt19937 rng(3);
  const std::vector<float> p = AttentionRows(rng, 400, 65);
  ProbabilityHistogram h;
  h.Add(p.data(), static_cast<int64_t>(p.size()));
  for (fb::SoftmaxGrid kind : {fb::SoftmaxGrid::LOG2, fb::SoftmaxGrid::LOG_SQRT2, fb::SoftmaxGrid::SULQ})
    for (int bits : {3, 4, 6}) {
      const LogGridTables t = FitGrid(kind, bits, h);
      double exact = 0.0;
      for (float v : p) {
        const double d = v - GridValue(t, GridCode(t, v));
        exact += d * d;
      }
      exact /= static_cast<double>(p.size());
      EXPECT_NEAR(h.MeanSquaredError(t), exact, exact * 0.05) << static_cast<int>(kind) << " " << bits;
    }
  // SULQ's η search: the fitted grid is no worse than any candidate η.
  const LogGridTables best = FitGrid(fb::SoftmaxGrid::SULQ, 4, h);
  for (double eta : {0.001, 0.01, 0.1, 1.0}) {
    const LogGridTables c = BuildSulqGrid(4, static_cast<float>(eta), static_cast<float>(std::log2(h.min() + eta)),
                                          static_cast<float>(std::log2(h.max() + eta)));
    EXPECT_LE(h.MeanSquaredError(best), h.MeanSquaredError(c) + 1e-15) << eta;
  }
  // At 3 bits a calibrated grid beats plain log2 (which spends its 8 codes on 1 .. 2^-7).
  EXPECT_LT(h.MeanSquaredError(FitGrid(fb::SoftmaxGrid::LOG_SQRT2, 3, h)),
            h.MeanSquaredError(FitGrid(fb::SoftmaxGrid::LOG2, 3, h)));
}

TEST(SoftmaxGrid, QuantileCountsZerosAndIsMonotone) {
  ProbabilityHistogram h;
  const std::vector<float> v = {0.0f, 0.0f, 0.001f, 0.01f, 0.1f, 0.5f};
  h.Add(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_EQ(h.Quantile(0.3), 0.0);
  EXPECT_NEAR(h.Quantile(0.5), 0.001, 1e-5);
  EXPECT_NEAR(h.Quantile(1.0), 0.5, 1e-6);
  EXPECT_EQ(h.nonzero(), 4);
}

// The quantizer's prediction is the runtime: the SOFTMAX kernel's codes for integer exp values
// equal GridCode(e/S) (S < 2^22 keeps ⌊e/S·2^30⌉ exact in double), and the P·V kernel multiplies
// each code by GridValue (one key, b̃ = 100: output = round(100·value) within one code).
TEST(SoftmaxGrid, KernelsComputeWhatTheQuantizerPredicts) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(-128, 127);
  int checked = 0;
  for (fb::SoftmaxGrid kind : {fb::SoftmaxGrid::LOG2, fb::SoftmaxGrid::LOG_SQRT2, fb::SoftmaxGrid::SULQ})
    for (int bits = 2; bits <= 8; ++bits) {
      const std::vector<float> p = AttentionRows(rng, 50, 30);
      ProbabilityHistogram h;
      h.Add(p.data(), static_cast<int64_t>(p.size()));
      const LogGridTables t = FitGrid(kind, bits, h);
      const ref::LogGrid g = GridView(t);
      const auto table = quant_math::BuildSoftmaxExpTable(0.08f, 14);
      ref::SoftmaxParams sp = ref::testing::SoftmaxOver(1, 64, table, 14);
      sp.grid = &g;
      for (int row = 0; row < 20; ++row) {
        std::vector<int8_t> x(64), y(64);
        for (auto& v : x) v = static_cast<int8_t>(code(rng));
        ref::Softmax<int8_t, int8_t>(sp, x.data(), y.data());
        const int32_t m = *std::max_element(x.begin(), x.end());
        int64_t sum = 0;
        for (int8_t v : x) sum += table[static_cast<size_t>(m - v)];
        ASSERT_LT(sum, int64_t{1} << 22);
        for (int i = 0; i < 64; ++i) {
          const double prob = static_cast<double>(table[static_cast<size_t>(m - x[i])]) / static_cast<double>(sum);
          ASSERT_EQ(static_cast<uint8_t>(y[i]), GridCode(t, prob)) << bits << " row " << row << " " << i;
          ++checked;
        }
      }
      // P·V with one key per code; requant multiplier delta·2^−R: the output is in units of 1.
      ref::BatchMatMulParams bp;
      bp.m = 1;
      bp.k = 1;
      bp.n = 1;
      bp.a_grid = &g;
      rt::ref::testing::RequantOwner unit({quant_math::RequantFromReal(std::ldexp(t.delta, -g.max_shift))}, 0, -128,
                                          127);
      bp.requant = unit.params;
      for (int q = 0; q < g.n; ++q) {
        const int8_t a = static_cast<int8_t>(q), b = 100;
        int8_t y = 0;
        ref::BatchMatMul<int8_t>(bp, &a, &b, &y);
        EXPECT_NEAR(y, 100.0 * GridValue(t, q), 1.0) << static_cast<int>(kind) << " bits " << bits << " q " << q;
      }
    }
  EXPECT_GT(checked, 10000);
}

}  // namespace
}  // namespace squint::quant
