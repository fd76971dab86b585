#include "runtime/kernels/reference/fixed_point.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace squint::rt {
namespace {

TEST(QuantizeMultiplier, MantissaInQ031RangeAndExact) {
  for (double m : {1e-6, 0.0003, 0.25, 0.5, 0.75, 0.999999, 1.0, 3.5, 100.0}) {
    QuantizedMultiplier q = QuantizeMultiplier(m);
    EXPECT_GE(q.multiplier, int32_t{1} << 30) << m;
    const double back = q.multiplier / std::pow(2.0, 31) * std::pow(2.0, q.shift);
    EXPECT_NEAR(back / m, 1.0, 1e-9) << m;
  }
}

TEST(QuantizeMultiplier, RoundsUpToTwoToTheThirtyOneRenormalizes) {
  // 1 - 2^-33 rounds to 2^31 in Q0.31: must become 2^30 with shift + 1.
  QuantizedMultiplier q = QuantizeMultiplier(1.0 - std::pow(2.0, -33));
  EXPECT_EQ(q.multiplier, int32_t{1} << 30);
  EXPECT_EQ(q.shift, 1);
}

TEST(QuantizeMultiplier, ZeroTinyAndInvalidFlushToZero) {
  for (double m : {0.0, -1.0, 1e-12, std::nan("")}) {
    QuantizedMultiplier q = QuantizeMultiplier(m);
    EXPECT_EQ(q.multiplier, 0) << m;
    EXPECT_EQ(q.shift, 0) << m;
  }
}

TEST(SaturatingRoundingDoublingHighMul, SaturatesOnlyOverflowCase) {
  const int32_t mn = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(mn, mn), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1 << 30, 1 << 30), 1 << 29);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-(1 << 30), 1 << 30), -(1 << 29));
}

TEST(RoundingDivideByPOT, RoundsHalfAwayFromZero) {
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);    // 2.5 -> 3
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);  // -2.5 -> -3
  EXPECT_EQ(RoundingDivideByPOT(4, 1), 2);
  EXPECT_EQ(RoundingDivideByPOT(7, 2), 2);    // 1.75 -> 2
  EXPECT_EQ(RoundingDivideByPOT(-7, 2), -2);
  EXPECT_EQ(RoundingDivideByPOT(5, 0), 5);
}

// The fixed-point product matches round(x·M) to within one unit over random inputs,
// the property the quantizer relies on when it predicts requantized values.
TEST(MultiplyByQuantizedMultiplier, MatchesRealProductWithinOne) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> mdist(-12.0, 3.0);
  std::uniform_int_distribution<int32_t> xdist(-(1 << 24), 1 << 24);
  for (int i = 0; i < 20000; ++i) {
    const double m = std::pow(2.0, mdist(rng));
    const int32_t x = xdist(rng);
    const QuantizedMultiplier q = QuantizeMultiplier(m);
    const double exact = static_cast<double>(x) * m;
    const int32_t got = MultiplyByQuantizedMultiplier(x, q);
    ASSERT_LE(std::abs(got - std::round(exact)), 1.0) << "x=" << x << " m=" << m;
  }
}

}  // namespace
}  // namespace squint::rt
