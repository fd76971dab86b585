// FULLY_CONNECTED with int16 activations and packed int4 or group-scaled weights
// (FullyConnectedLowBit<int16_t>, kernels.h): per channel it is FullyConnected<int16_t> on the
// unpacked codes bit for bit; with every group multiplier 2^B (equal group scales) it is the same
// per-channel kernel bit for bit; with unequal group scales it is the float result of the group
// rescaling it states (effective scales s_c·m/2^B) within one code; its accumulators stay exact at
// the prepare bound; and an int16 model with such weights prepares and runs the kernel through
// the interpreter (a CONV_2D with int16 activations and int4 weights is still refused:
// lowbit_test.cc GroupScaledConvPreparesAndItsMultipliersAreChecked).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "tests/runtime/kernels_test_util.h"
#include "tests/runtime/lowbit_model_util.h"

namespace squint::rt {
namespace {

namespace qm = squint::quant_math;
using ref::testing::RandomCodes;
using ref::testing::RandomScale;
using ref::testing::RequantOwner;

constexpr int32_t kMin16 = -32768, kMax16 = 32767;

// A random int16 FULLY_CONNECTED: rows 1–3, units 1–5, depth a multiple of group_size (or 1–70),
// codes over int16's whole range, zero point in [−64, 64], weights int4 or int8 codes.
struct Fc16 {
  ref::FullyConnectedLowBitParams p;
  std::vector<int16_t> x;
  std::vector<int8_t> w;
  std::vector<uint8_t> w_bytes;
  std::vector<int32_t> bias;
  std::vector<uint16_t> group_multiplier;
  std::unique_ptr<RequantOwner> requant;
};

Fc16 MakeFc16(std::mt19937& rng, bool int4, int group_size, bool equal_scales) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Fc16 f;
  f.p.weight_int4 = int4;
  f.p.group_size = group_size;
  f.p.rows = uni(1, 3);
  f.p.units = uni(1, 5);
  f.p.depth = group_size > 0 ? group_size * uni(1, 4) : uni(1, 70);
  f.p.input_zero_point = uni(-64, 64);
  f.x = RandomCodes<int16_t>(rng, static_cast<size_t>(f.p.rows) * f.p.depth);
  f.w.resize(static_cast<size_t>(f.p.units) * f.p.depth);
  for (auto& v : f.w) v = static_cast<int8_t>(uni(int4 ? -8 : -127, int4 ? 7 : 127));
  f.w_bytes = int4 ? qm::PackInt4(f.w) : std::vector<uint8_t>(f.w.begin(), f.w.end());
  const double s_x = RandomScale(rng, 1e-5, 1e-3);
  const int groups = group_size > 0 ? f.p.depth / group_size : 1;
  std::vector<float> s_w;
  for (int u = 0; u < f.p.units; ++u) {
    const double unit_scale = RandomScale(rng, 1e-3, 0.1);
    for (int g = 0; g < groups; ++g)
      s_w.push_back(static_cast<float>(equal_scales ? unit_scale : RandomScale(rng, 1e-3, 0.1)));
  }
  const double s_y = s_x * 0.05 * (int4 ? 7 : 127) * std::sqrt(static_cast<double>(f.p.depth)) * 3000 / 32767;
  std::vector<float> bias_f(static_cast<size_t>(f.p.units));
  for (auto& b : bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 0.5)(rng));
  std::vector<QuantizedMultiplier> ms;
  if (group_size > 0) {
    qm::GroupScaleParams gp = qm::BuildGroupScaleParams(s_x, s_w, f.p.units, s_y);
    f.group_multiplier = gp.group_multiplier;
    f.bias = qm::QuantizeBias(bias_f, s_x, gp.common_scale);
    ms = gp.requant;
  } else {
    f.bias = qm::QuantizeBias(bias_f, s_x, s_w);
    ms = qm::BuildChannelRequant(s_x, s_w, s_y);
  }
  f.requant = std::make_unique<RequantOwner>(ms, 0, kMin16, kMax16);
  f.p.requant = f.requant->params;
  f.p.group_multiplier = f.group_multiplier.empty() ? nullptr : f.group_multiplier.data();
  return f;
}

std::vector<int16_t> RunLowBit(const Fc16& f) {
  std::vector<int16_t> y(static_cast<size_t>(f.p.rows) * f.p.units);
  ref::FullyConnectedLowBit<int16_t>(f.p, f.x.data(), f.w_bytes.data(), f.bias.data(), y.data());
  return y;
}

// FullyConnected<int16_t> on the unpacked codes with f's requantization.
std::vector<int16_t> RunPlain(const Fc16& f) {
  ref::FullyConnectedParams q;
  q.rows = f.p.rows;
  q.depth = f.p.depth;
  q.units = f.p.units;
  q.input_zero_point = f.p.input_zero_point;
  q.requant = f.p.requant;
  std::vector<int16_t> y(static_cast<size_t>(q.rows) * q.units);
  ref::FullyConnected<int16_t>(q, f.x.data(), f.w.data(), f.bias.data(), y.data());
  return y;
}

TEST(FullyConnectedLowBitInt16, PerChannelPathIsTheInt16KernelBitForBit) {
  std::mt19937 rng(31);
  for (int iter = 0; iter < 300; ++iter) {
    const Fc16 f = MakeFc16(rng, iter % 2 == 0, 0, true);
    EXPECT_EQ(RunLowBit(f), RunPlain(f)) << "iter " << iter << " depth " << f.p.depth;
  }
}

TEST(FullyConnectedLowBitInt16, EqualGroupScalesAreThePerChannelKernelBitForBit) {
  // Every multiplier is 2^B: t/2^B is the plain sum, the common scale the unit's scale.
  std::mt19937 rng(32);
  for (int iter = 0; iter < 300; ++iter) {
    const int group = std::vector<int>{1, 3, 32, 64}[static_cast<size_t>(iter % 4)];
    const Fc16 f = MakeFc16(rng, iter / 4 % 2 == 0, group, true);
    for (uint16_t m : f.group_multiplier) ASSERT_EQ(m, 1 << ref::kGroupScaleBits);
    EXPECT_EQ(RunLowBit(f), RunPlain(f)) << "iter " << iter << " group " << group << " depth " << f.p.depth;
  }
}

// With group scales over two decades: the output is round(v) for the real value the contract
// defines, v = (bias + Σ_g (m_g/2^B)·a_g)·s_x·s_c/s_y, within one code (t's rounding to 1/2 code of
// the accumulator and the requantization's own rounding).
TEST(FullyConnectedLowBitInt16, GroupRescalingMatchesItsRealValueWithinOneCode) {
  std::mt19937 rng(33);
  int checked = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const int group = std::vector<int>{32, 64, 128}[static_cast<size_t>(iter % 3)];
    const Fc16 f = MakeFc16(rng, iter % 2 == 0, group, false);
    const std::vector<int16_t> y = RunLowBit(f);
    const int groups = f.p.depth / group;
    for (int r = 0; r < f.p.rows; ++r)
      for (int u = 0; u < f.p.units; ++u) {
        double acc = f.bias[static_cast<size_t>(u)];
        for (int g = 0; g < groups; ++g) {
          double a = 0;
          for (int k = g * group; k < (g + 1) * group; ++k)
            a += (static_cast<double>(f.x[static_cast<size_t>(r * f.p.depth + k)]) - f.p.input_zero_point) *
                 f.w[static_cast<size_t>(u * f.p.depth + k)];
          acc += a * f.group_multiplier[static_cast<size_t>(u * groups + g)] / (1 << ref::kGroupScaleBits);
        }
        const double real_m = std::ldexp(static_cast<double>(f.p.requant.multiplier[u]), f.p.requant.shift[u] - 31);
        const double v = acc * real_m;
        if (v <= kMin16 + 1 || v >= kMax16 - 1) continue;  // saturated: nothing to compare
        ++checked;
        EXPECT_LE(std::abs(y[static_cast<size_t>(r * f.p.units + u)] - v), 1.0)
            << "iter " << iter << " r " << r << " u " << u;
      }
  }
  EXPECT_GT(checked, 500);
}

TEST(FullyConnectedLowBitInt16, WorstCaseAccumulatorsAreExact) {
  // x − zx = −32768 − 64, w = −8, depth 65536 in groups of 128, every multiplier 2^15:
  // t = 2^15·65536·32832·8 < 2^62; acc = t/2^15 − 2^30.
  ref::FullyConnectedLowBitParams p;
  p.rows = 1;
  p.depth = 65536;
  p.units = 1;
  p.input_zero_point = 64;
  p.weight_int4 = true;
  p.group_size = 128;
  const std::vector<int16_t> x(static_cast<size_t>(p.depth), kMin16);
  const std::vector<int8_t> w(static_cast<size_t>(p.depth), -8);
  const std::vector<uint8_t> packed = qm::PackInt4(w);
  const std::vector<uint16_t> m(static_cast<size_t>(p.depth / p.group_size), 1 << ref::kGroupScaleBits);
  const std::vector<int32_t> bias = {-(1 << 30)};
  EXPECT_TRUE(ref::GroupedDotFitsInt64(p.depth, p.input_zero_point, 1 << 30, 8, /*int16_input=*/true));
  RequantOwner rq({qm::RequantFromReal(1.0 / (1 << 20))}, 0, kMin16, kMax16);  // acc/2^20
  p.requant = rq.params;
  p.group_multiplier = m.data();
  int16_t y = 0;
  ref::FullyConnectedLowBit<int16_t>(p, x.data(), packed.data(), bias.data(), &y);
  const int64_t acc = int64_t{65536} * 32832 * 8 - (int64_t{1} << 30);  // 16139681792
  EXPECT_EQ(y, static_cast<int16_t>(std::llround(static_cast<double>(acc) / (1 << 20))));  // 15392.0...
  // One group over the whole depth with int8 weights −127: the group sum 65536·32832·127 needs
  // the int64 accumulator the contract states.
  const std::vector<int8_t> w8(static_cast<size_t>(p.depth), -127);
  const std::vector<uint16_t> m1 = {1 << ref::kGroupScaleBits};
  p.weight_int4 = false;
  p.group_size = p.depth;
  p.group_multiplier = m1.data();
  RequantOwner rq2({qm::RequantFromReal(1.0 / (int64_t{1} << 28))}, 0, kMin16, kMax16);  // acc/2^28
  p.requant = rq2.params;
  EXPECT_TRUE(ref::GroupedDotFitsInt64(p.depth, p.input_zero_point, 1 << 30, 128, true));
  ref::FullyConnectedLowBit<int16_t>(p, x.data(), reinterpret_cast<const uint8_t*>(w8.data()), bias.data(), &y);
  const int64_t acc8 = int64_t{65536} * 32832 * 127 - (int64_t{1} << 30);  // 273250353152
  EXPECT_EQ(y, static_cast<int16_t>(std::llround(static_cast<double>(acc8) / (1 << 28))));  // 1017.9...
  // The bound: int16 x with zero point 0 and int4 weights fits up to depth 2^29 with no bias;
  // int8 weights up to 2^25.
  EXPECT_TRUE(ref::GroupedDotFitsInt64(int64_t{1} << 24, 0, int64_t{1} << 31, 8, true));
  EXPECT_FALSE(ref::GroupedDotFitsInt64(int64_t{1} << 30, 0, 0, 8, true));
  EXPECT_TRUE(ref::GroupedDotFitsInt64(int64_t{1} << 24, 0, 0, 128, true));
  EXPECT_FALSE(ref::GroupedDotFitsInt64(int64_t{1} << 26, 0, 0, 128, true));
  EXPECT_FALSE(ref::GroupedDotFitsInt64(64, int32_t{1} << 24, 0, 8, true));  // absurd zero point
}

// The shared one-FC model (lowbit_model_util.h) with int16 activations, through the interpreter.
TEST(FullyConnectedLowBitInt16, Int16ModelPreparesAndRunsTheKernel) {
  for (int group : {0, 32}) {
    lowbit_testing::LowBitModel o;
    o.int16 = true;
    o.group_size = group;
    const lowbit_testing::Built built = lowbit_testing::BuildLowBitModel(o);
    std::mt19937 rng(42);
    Fc16 f;
    f.x = RandomCodes<int16_t>(rng, 128);
    std::vector<int16_t> y;
    const Status s = lowbit_testing::Invoke<int16_t>(built.bytes, f.x, 6, &y);
    ASSERT_TRUE(s.ok()) << "group " << group << ": " << s.message();
    f.p.rows = 2;
    f.p.depth = 64;
    f.p.units = 3;
    f.p.weight_int4 = true;
    f.p.group_size = group;
    f.w = built.w;
    f.w_bytes = qm::PackInt4(built.w);
    f.bias = built.bias;
    f.group_multiplier = built.multipliers;
    f.requant = std::make_unique<RequantOwner>(
        std::vector<QuantizedMultiplier>{built.requant[0], built.requant[1], built.requant[2]}, 0, kMin16, kMax16);
    f.p.requant = f.requant->params;
    f.p.group_multiplier = group > 0 ? f.group_multiplier.data() : nullptr;
    EXPECT_EQ(y, RunLowBit(f)) << "group " << group;
    if (group == 0) {
      EXPECT_EQ(y, RunPlain(f));
    }
    EXPECT_GT(*std::max_element(y.begin(), y.end()), 127) << "group " << group << ": int16 outputs beyond int8's range";
  }
}

}  // namespace
}  // namespace squint::rt
