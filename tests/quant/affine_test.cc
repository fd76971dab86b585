#include "quant/affine.h"

#include <cmath>

#include <gtest/gtest.h>

namespace squint::quant {
namespace {

constexpr IntType kInt8{8, true}, kUInt8{8, false}, kInt4{4, true}, kInt16{16, true};

TEST(IntType, Ranges) {
  EXPECT_EQ(kInt8.qmin(false), -128);
  EXPECT_EQ(kInt8.qmax(false), 127);
  EXPECT_EQ(kInt8.qmin(true), -127);
  EXPECT_EQ(kUInt8.qmin(false), 0);
  EXPECT_EQ(kUInt8.qmax(false), 255);
  EXPECT_EQ(kUInt8.qmax(true), 254);
  EXPECT_EQ(kInt4.qmin(false), -8);
  EXPECT_EQ(kInt4.qmax(true), 7);
  EXPECT_EQ(kInt16.qmin(true), -32767);
  EXPECT_EQ((IntType{16, false}).qmax(false), 65535);
  EXPECT_EQ(kUInt8.ToString(), "uint8");
  EXPECT_FALSE(ValidateIntType({1, true}).ok());
  EXPECT_FALSE(ValidateIntType({17, false}).ok());
  EXPECT_TRUE(ValidateIntType({2, true}).ok());
}

TEST(ComputeAffineParams, AsymmetricUInt8MatchesOrtFormula) {
  auto p = ComputeAffineParams({-1.0f, 3.0f}, kUInt8, false);
  ASSERT_TRUE(p.ok());
  EXPECT_FLOAT_EQ(p->scale, 4.0f / 255.0f);
  EXPECT_EQ(p->zero_point, 64);  // round(0 + 1 / (4/255)) = round(63.75)
  EXPECT_EQ(p->Quantize(0.0f), 64);  // zero is exact
  EXPECT_EQ(p->Dequantize(p->Quantize(0.0f)), 0.0f);
  EXPECT_EQ(p->Quantize(100.0f), 255);  // saturates
  EXPECT_EQ(p->Quantize(-100.0f), 0);
}

TEST(ComputeAffineParams, ZeroIsAlwaysInTheRange) {
  auto p = ComputeAffineParams({2.0f, 6.0f}, kInt8, false);  // becomes [0, 6]
  ASSERT_TRUE(p.ok());
  EXPECT_FLOAT_EQ(p->scale, 6.0f / 255.0f);
  EXPECT_EQ(p->zero_point, -128);
  auto n = ComputeAffineParams({-6.0f, -2.0f}, kUInt8, false);  // becomes [−6, 0]
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->zero_point, 255);
}

TEST(ComputeAffineParams, Symmetric) {
  auto p = ComputeAffineParams({-1.0f, 2.54f}, kInt8, true);
  ASSERT_TRUE(p.ok());
  EXPECT_FLOAT_EQ(p->scale, 2.54f * 2 / 254.0f);
  EXPECT_EQ(p->zero_point, 0);
  EXPECT_EQ(p->qmin, -127);
  auto u = ComputeAffineParams({-1.0f, 1.0f}, kUInt8, true);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->zero_point, 127);  // [0, 254]: (0 + 254) / 2
  EXPECT_FLOAT_EQ(u->scale, 2.0f / 254.0f);
  auto four = ComputeAffineParams({-0.7f, 0.1f}, kInt4, true);
  ASSERT_TRUE(four.ok());
  EXPECT_FLOAT_EQ(four->scale, 1.4f / 14.0f);
  EXPECT_EQ(four->zero_point, 0);
}

TEST(ComputeAffineParams, DegenerateAndGuardedRanges) {
  auto zero = ComputeAffineParams({0.0f, 0.0f}, kInt8, false);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->scale, 1.0f);
  EXPECT_EQ(zero->zero_point, 0);
  auto guarded = ComputeAffineParams({0.0f, 1e-6f}, kUInt8, false, /*min_real_range=*/0.01f);
  ASSERT_TRUE(guarded.ok());
  EXPECT_FLOAT_EQ(guarded->scale, 0.01f / 255.0f);
  EXPECT_FALSE(ComputeAffineParams({1.0f, 0.0f}, kInt8, false).ok());
  EXPECT_FALSE(ComputeAffineParams({-INFINITY, 0.0f}, kInt8, false).ok());
  EXPECT_FALSE(ComputeAffineParams({0.0f, NAN}, kInt8, false).ok());
  EXPECT_FALSE(ComputeAffineParams({0.0f, 1.0f}, {20, true}, false).ok());
}

TEST(ComputeAffineParams, ZeroPointRoundsHalfToEven) {
  // rmin = −0.5·s exactly: z = round(qmin + 0.5) with qmin = 0 → 0 (half to even), not 1.
  // Range [−0.5, 127]: s = 127.5 / 255 = 0.5, z = round(0 + 1) = 1; [−0.25, 127.25]: s = 0.5, z = 0.5 → 0.
  auto p = ComputeAffineParams({-0.25f, 127.25f}, kUInt8, false);
  ASSERT_TRUE(p.ok());
  EXPECT_FLOAT_EQ(p->scale, 0.5f);
  EXPECT_EQ(p->zero_point, 0);
  auto q = ComputeAffineParams({-0.75f, 126.75f}, kUInt8, false);  // z = 1.5 → 2
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->zero_point, 2);
}

}  // namespace
}  // namespace squint::quant
