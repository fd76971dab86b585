// Host-side param builders (runtime/quant_math): formulas and ranges the kernels rely on.
#include "runtime/quant_math/quant_math.h"

#include <gtest/gtest.h>

#include <cmath>

namespace squint::quant_math {
namespace {

double Real(QuantizedMultiplier q) { return q.multiplier * std::ldexp(1.0, q.shift - 31); }

TEST(QuantMath, RequantFromRealKeepsShiftInKernelRange) {
  EXPECT_NEAR(Real(RequantFromReal(0.3)), 0.3, 1e-9);
  EXPECT_EQ(RequantFromReal(std::ldexp(1.0, 40)).shift, 30);
  EXPECT_EQ(RequantFromReal(1e-12).multiplier, 0);
}

TEST(QuantMath, AddParamsInputMultipliersAtMostHalf) {
  for (double ratio : {1e-3, 0.5, 1.0, 7.0, 1e3}) {
    const AddParams p = BuildAddParams(0.1, 0.1 * ratio, 0.2, 8);
    EXPECT_EQ(p.left_shift, 20);
    EXPECT_LE(Real(p.a), 0.5 + 1e-12);
    EXPECT_LE(Real(p.b), 0.5 + 1e-12);
    // (M_a·s_a⁻¹)·2^ls·M_out = 1/s_out: the three multipliers compose to s_a/s_out.
    EXPECT_NEAR(Real(p.a) * std::ldexp(1.0, 20) * Real(p.out), 0.1 / 0.2, 1e-6);
  }
  EXPECT_EQ(BuildAddParams(1, 1, 1, 16).left_shift, 15);
}

TEST(QuantMath, SoftmaxExpTable) {
  const auto t8 = BuildSoftmaxExpTable(0.05f, 16);
  ASSERT_EQ(t8.size(), 256u);
  EXPECT_EQ(t8[0], 1 << 16);
  for (size_t d = 1; d < t8.size(); ++d) EXPECT_LE(t8[d], t8[d - 1]);
  EXPECT_EQ(t8[20], std::lround(std::exp(-0.05 * 20) * 65536));
  const auto t16 = BuildSoftmaxExpTable(1e-3f, 20, 16);
  EXPECT_GT(t16.size(), 256u);
  EXPECT_LT(t16.size(), 65536u);
  EXPECT_GT(t16.back(), 0);  // stops before the first entry that rounds to 0
  EXPECT_EQ(std::lround(std::exp(-1e-3 * double(t16.size())) * (1 << 20)), 0);
}

TEST(QuantMath, ActivationRangeAndBias) {
  const CodeRange relu = BuildActivationRange({-128, 127}, 0.1, -20, 0.0, INFINITY);
  EXPECT_EQ(relu.min, -20);
  EXPECT_EQ(relu.max, 127);
  const CodeRange relu6 = BuildActivationRange({-128, 127}, 0.1, -20, 0.0, 6.0);
  EXPECT_EQ(relu6.max, 40);
  const auto b = QuantizeBias({1.0f, -1.0f, 1e12f}, 0.5, {0.01f});
  EXPECT_EQ(b[0], 200);
  EXPECT_EQ(b[1], -200);
  EXPECT_EQ(b[2], 2147483647);  // clamped
}

TEST(QuantMath, LayerNormParamsFitInt32) {
  const auto p = BuildLayerNormParams(0.02f, 0.05f, {1.5f, -0.25f, 40.0f}, {100.0f, -3.0f, 0.0f}, 1e-5f);
  EXPECT_EQ(p.epsilon_q, std::lround(9 * 1e-5 * 65536 / (0.02 * 0.02)));
  EXPECT_LE(std::abs(p.gamma_q[2]), 1 << 22);
  // acc = n·gamma_q + beta_q at the scale 2^(12 + g): beta/gamma ratios survive.
  EXPECT_NEAR(double(p.beta_q[0]) / p.gamma_q[0], 100.0 / 1.5 * 4096, 4096 * 1e-3);
  EXPECT_NEAR(Real(p.requant) * p.beta_q[0], 100.0 / 0.05, 1.0);
}

TEST(QuantMath, LutCoversEveryCode) {
  const Lut l = BuildLut(0.1f, 0, 0.1f, 0, [](float v) { return v; }, 8);
  ASSERT_EQ(l.table.size(), 256u);
  EXPECT_EQ(l.min_code, -128);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(l.table[i], i - 128);
}

}  // namespace
}  // namespace squint::quant_math
