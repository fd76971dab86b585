// Packed int4 weights and group scales (W4A8 FULLY_CONNECTED and CONV_2D): the nibble layout,
// the kernels against plain scalar formulas and against float, the quantizer's group constants, the
// loader's and prepare's rejections, and a model end to end through the interpreter.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "tests/runtime/kernels_test_util.h"
#include "tests/runtime/lowbit_model_util.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

namespace qm = squint::quant_math;
using ref::testing::RandomCodes;
using ref::testing::RandomConvGeometry;
using ref::testing::RandomScale;
using ref::testing::RequantOwner;
using testing::AlignedBytes;
using testing::SqntBuilder;
using namespace lowbit_testing;  // NOLINT: the shared one-FC model and its helpers

// ---- Packing ---------------------------------------------------------------------------------

TEST(Int4Packing, ByteLayoutIsLowNibbleFirstTwosComplement) {
  EXPECT_EQ(qm::PackInt4({1, -1}), (std::vector<uint8_t>{0xF1}));
  EXPECT_EQ(qm::PackInt4({-8, 7}), (std::vector<uint8_t>{0x78}));
  EXPECT_EQ(qm::PackInt4({0, -2, 5}), (std::vector<uint8_t>{0xE0, 0x05}));  // odd: high nibble 0
  EXPECT_EQ(qm::PackInt4({-3}), (std::vector<uint8_t>{0x0D}));
  EXPECT_TRUE(qm::PackInt4({}).empty());
  const uint8_t packed[] = {0x8F, 0x07};
  EXPECT_EQ(ref::Int4At(packed, 0), -1);
  EXPECT_EQ(ref::Int4At(packed, 1), -8);
  EXPECT_EQ(ref::Int4At(packed, 2), 7);
  EXPECT_EQ(ref::Int4At(packed, 3), 0);
}

TEST(Int4Packing, RoundTripEveryCodeAndOddCounts) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> code(-8, 7);
  for (int count = 0; count <= 67; ++count) {
    std::vector<int8_t> codes(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) codes[static_cast<size_t>(i)] = static_cast<int8_t>(i < 16 ? i - 8 : code(rng));
    const std::vector<uint8_t> packed = qm::PackInt4(codes);
    ASSERT_EQ(static_cast<int64_t>(packed.size()), ref::Int4Bytes(count)) << count;
    if (count % 2 == 1) {
      EXPECT_EQ(packed.back() >> 4, 0) << "padding nibble, count " << count;
    }
    std::vector<int8_t> back(codes.size(), 99);
    ref::UnpackInt4(packed.data(), count, back.data());
    EXPECT_EQ(back, codes) << count;
  }
}

// ---- Kernel ------------------------------------------------------------------------------------

// The contract's formula written out directly from unpacked codes, accumulating in int64.
std::vector<int8_t> ScalarFc(const ref::FullyConnectedLowBitParams& p, const std::vector<int8_t>& x,
                             const std::vector<int8_t>& w, const std::vector<int32_t>& bias,
                             const std::vector<uint16_t>& group_multiplier) {
  std::vector<int8_t> y(static_cast<size_t>(p.rows) * p.units);
  const int32_t n = p.group_size > 0 ? p.group_size : p.depth;
  for (int r = 0; r < p.rows; ++r) {
    for (int u = 0; u < p.units; ++u) {
      int64_t acc = 0;
      for (int g = 0; g < p.depth / n; ++g) {
        int64_t a = 0;
        for (int k = g * n; k < (g + 1) * n; ++k)
          a += (int64_t{x[static_cast<size_t>(r * p.depth + k)]} - p.input_zero_point) * w[static_cast<size_t>(u * p.depth + k)];
        acc += p.group_size > 0 ? a * group_multiplier[static_cast<size_t>(u * (p.depth / n) + g)] : a;
      }
      if (p.group_size > 0) {  // t / 2^B, rounded half away from zero
        const int64_t half = int64_t{1} << (ref::kGroupScaleBits - 1);
        acc = acc >= 0 ? (acc + half) >> ref::kGroupScaleBits : -((-acc + half) >> ref::kGroupScaleBits);
      }
      acc += bias.empty() ? 0 : bias[static_cast<size_t>(u)];
      const int i = p.requant.count == 1 ? 0 : u;
      const QuantizedMultiplier m{p.requant.multiplier[i], p.requant.shift[i]};
      const int64_t v = int64_t{p.group_size > 0 ? MultiplyByQuantizedMultiplier64(acc, m)
                                                 : MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc), m)} +
                        p.requant.zero_point;
      y[static_cast<size_t>(r * p.units + u)] =
          static_cast<int8_t>(std::min<int64_t>(p.requant.act_max, std::max<int64_t>(p.requant.act_min, v)));
    }
  }
  return y;
}

struct RandomFc {
  ref::FullyConnectedLowBitParams p;
  std::vector<int8_t> x, w;
  std::vector<uint8_t> w_bytes;  // packed (int4) or the codes (int8)
  std::vector<float> s_w;        // [units, groups] (groups = 1 for group_size 0)
  std::vector<int32_t> bias;
  std::vector<uint16_t> group_multiplier;
  std::unique_ptr<RequantOwner> requant;
  double s_x = 0, s_y = 0;
  std::vector<float> bias_f;
};

RandomFc MakeRandomFc(std::mt19937& rng, bool int4, int group_size) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomFc f;
  f.p.weight_int4 = int4;
  f.p.group_size = group_size;
  f.p.rows = uni(1, 3);
  f.p.units = uni(1, 5);
  f.p.depth = group_size > 0 ? group_size * uni(1, 4) : uni(1, 70);
  f.p.input_zero_point = uni(-128, 127);
  f.s_x = RandomScale(rng, 1e-3, 0.1);
  f.x = RandomCodes<int8_t>(rng, static_cast<size_t>(f.p.rows) * f.p.depth);
  const int top = int4 ? 7 : 127;
  f.w.resize(static_cast<size_t>(f.p.units) * f.p.depth);
  for (auto& v : f.w) v = static_cast<int8_t>(uni(int4 ? -8 : -127, top));
  f.w_bytes = int4 ? qm::PackInt4(f.w) : std::vector<uint8_t>(f.w.begin(), f.w.end());
  const int groups = group_size > 0 ? f.p.depth / group_size : 1;
  // Group scales over two decades, one in ten 100 to 10^4 times smaller (multipliers of a few units).
  for (int i = 0; i < f.p.units * groups; ++i)
    f.s_w.push_back(static_cast<float>(uni(0, 9) == 0 ? RandomScale(rng, 1e-5, 1e-4) : RandomScale(rng, 1e-3, 0.1)));
  f.bias_f.resize(static_cast<size_t>(f.p.units));
  for (auto& b : f.bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 0.5)(rng));
  // Output scale: roughly the output's spread, so codes use the range without saturating much.
  f.s_y = f.s_x * 0.1 * top * std::sqrt(static_cast<double>(f.p.depth)) * 40 / 127;
  std::vector<QuantizedMultiplier> ms;
  if (group_size > 0) {
    qm::GroupScaleParams gp = qm::BuildGroupScaleParams(f.s_x, f.s_w, f.p.units, f.s_y);
    f.group_multiplier = gp.group_multiplier;
    f.bias = qm::QuantizeBias(f.bias_f, f.s_x, gp.common_scale);
    ms = gp.requant;
  } else {
    f.bias = qm::QuantizeBias(f.bias_f, f.s_x, f.s_w);
    ms = qm::BuildChannelRequant(f.s_x, f.s_w, f.s_y);
  }
  f.requant = std::make_unique<RequantOwner>(ms, uni(-20, 20), -128, 127);
  f.p.requant = f.requant->params;
  f.p.group_multiplier = f.group_multiplier.empty() ? nullptr : f.group_multiplier.data();
  return f;
}

std::vector<int8_t> RunKernel(const RandomFc& f) {
  std::vector<int8_t> y(static_cast<size_t>(f.p.rows) * f.p.units);
  ref::FullyConnectedLowBit(f.p, f.x.data(), f.w_bytes.data(), f.bias.data(), y.data());
  return y;
}

TEST(FullyConnectedLowBit, MatchesTheScalarFormulaExactly) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 400; ++iter) {
    const bool int4 = iter % 2 == 0;
    const int group = std::vector<int>{0, 1, 3, 32, 64, 128}[static_cast<size_t>(iter / 2 % 6)];
    RandomFc f = MakeRandomFc(rng, int4, group);
    EXPECT_EQ(RunKernel(f), ScalarFc(f.p, f.x, f.w, f.bias, f.group_multiplier))
        << "iter " << iter << " int4 " << int4 << " group " << group << " depth " << f.p.depth;
  }
}

TEST(FullyConnectedLowBit, PerChannelPathIsTheInt8KernelBitForBit) {
  std::mt19937 rng(12);
  for (int iter = 0; iter < 200; ++iter) {
    RandomFc f = MakeRandomFc(rng, iter % 2 == 0, 0);
    ref::FullyConnectedParams q;
    q.rows = f.p.rows;
    q.depth = f.p.depth;
    q.units = f.p.units;
    q.input_zero_point = f.p.input_zero_point;
    q.requant = f.p.requant;
    std::vector<int8_t> y(static_cast<size_t>(q.rows) * q.units);
    ref::FullyConnected<int8_t>(q, f.x.data(), f.w.data(), f.bias.data(), y.data());
    EXPECT_EQ(RunKernel(f), y) << iter;
  }
}

// Group scales are what the float weights say: the kernel's output is the float result of the
// dequantized inputs within one code (plus the multipliers' rounding, far below a code here).
TEST(FullyConnectedLowBit, GroupScaledOutputMatchesFloatWithinOneCode) {
  std::mt19937 rng(13);
  int checked = 0;
  for (int iter = 0; iter < 300; ++iter) {
    RandomFc f = MakeRandomFc(rng, iter % 2 == 0, std::vector<int>{32, 64, 128}[static_cast<size_t>(iter % 3)]);
    const std::vector<int8_t> y = RunKernel(f);
    const int groups = f.p.depth / f.p.group_size;
    for (int r = 0; r < f.p.rows; ++r) {
      for (int u = 0; u < f.p.units; ++u) {
        double v = f.bias_f[static_cast<size_t>(u)];
        for (int k = 0; k < f.p.depth; ++k)
          v += f.s_x * (f.x[static_cast<size_t>(r * f.p.depth + k)] - f.p.input_zero_point) *
               f.s_w[static_cast<size_t>(u * groups + k / f.p.group_size)] * f.w[static_cast<size_t>(u * f.p.depth + k)];
        const int32_t want = ref::testing::Quantize<int8_t>(v, f.s_y, f.p.requant.zero_point);
        if (want <= -128 || want >= 127) continue;  // saturated: nothing to compare
        ++checked;
        // One code of rounding, plus the bias's own rounding to the common grid.
        EXPECT_LE(std::abs(y[static_cast<size_t>(r * f.p.units + u)] - want), 1)
            << "iter " << iter << " r " << r << " u " << u << " float " << v / f.s_y << " got "
            << int{y[static_cast<size_t>(r * f.p.units + u)]} << " want " << want << " s_w0 " << f.s_w[static_cast<size_t>(u * groups)]
            << " s_w1 " << f.s_w[static_cast<size_t>(u * groups + (groups > 1))] << " m0 " << f.group_multiplier[static_cast<size_t>(u * groups)]
            << " bias " << f.bias[static_cast<size_t>(u)] << " bias_f " << f.bias_f[static_cast<size_t>(u)] << " mult "
            << f.p.requant.multiplier[u] << " shift " << f.p.requant.shift[u] << " s_x " << f.s_x << " s_y " << f.s_y;
      }
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(FullyConnectedLowBit, WorstCaseAccumulatorsAreExact) {
  // Every product at its extreme: x − zx = −255, w = −8, depth 65536 in groups of 128, and
  // the largest multiplier; the int64 sum is 2^15·65536·2040 < 2^62.
  ref::FullyConnectedLowBitParams p;
  p.rows = 1;
  p.depth = 65536;
  p.units = 1;
  p.input_zero_point = 127;
  p.weight_int4 = true;
  p.group_size = 128;
  std::vector<int8_t> x(static_cast<size_t>(p.depth), -128), w(static_cast<size_t>(p.depth), -8);
  const std::vector<uint8_t> packed = qm::PackInt4(w);
  std::vector<uint16_t> m(static_cast<size_t>(p.depth / p.group_size), 1 << ref::kGroupScaleBits);
  const std::vector<int32_t> bias = {-(1 << 30)};
  EXPECT_TRUE(ref::GroupedDotFitsInt64(p.depth, p.input_zero_point, 1 << 30, 8));
  RequantOwner rq({qm::RequantFromReal(1.0 / (1 << 28))}, 0, -128, 127);  // acc/2^28
  p.requant = rq.params;
  p.group_multiplier = m.data();
  int8_t y = 0;
  ref::FullyConnectedLowBit(p, x.data(), packed.data(), bias.data(), &y);
  EXPECT_EQ(y, ScalarFc(p, x, w, bias, m)[0]);
  // t = 2^15·65536·2040 exactly (2^15 per group), acc = t/2^15 − 2^30 = −940048384, y = acc/2^28 ≈ −3.502.
  const int64_t acc = int64_t{65536} * 2040 - (int64_t{1} << 30);
  EXPECT_EQ(acc, -940048384);
  EXPECT_EQ(y, -4);
  // With B = 15 every int32 depth fits, even int8 weights and the largest bias; the check
  // refuses what no model can have.
  EXPECT_TRUE(ref::GroupedDotFitsInt64(int64_t{1} << 31, 127, int64_t{1} << 31, 128));
  EXPECT_FALSE(ref::GroupedDotFitsInt64((int64_t{1} << 31) + 1, 127, 0, 128));
  EXPECT_FALSE(ref::GroupedDotFitsInt64(-1, 0, 0, 8));
  EXPECT_FALSE(ref::GroupedDotFitsInt64(64, 0, 0, 129));
}

TEST(Conv2DInt4, IsTheInt8ConvOnTheUnpackedWeightsBitForBit) {
  std::mt19937 rng(17);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 200; ++iter) {
    const std::optional<ref::Conv2DParams> geometry = RandomConvGeometry(rng);
    if (!geometry) continue;
    ref::Conv2DParams p = *geometry;
    const int cin_g = p.in_channels / p.groups;
    p.input_zero_point = uni(-128, 127);
    std::vector<float> s_w(static_cast<size_t>(p.out_channels));
    for (auto& s : s_w) s = static_cast<float>(RandomScale(rng, 1e-3, 0.1));
    std::vector<int8_t> w(static_cast<size_t>(p.out_channels * cin_g * p.kernel_h * p.kernel_w));  // odd counts too
    for (auto& v : w) v = static_cast<int8_t>(uni(-8, 7));
    const std::vector<uint8_t> packed = qm::PackInt4(w);
    const auto x = RandomCodes<int8_t>(rng, static_cast<size_t>(p.batch * p.in_channels * p.in_h * p.in_w));
    std::vector<int32_t> bias(static_cast<size_t>(p.out_channels));
    for (auto& b : bias) b = uni(-5000, 5000);
    RequantOwner rq(qm::BuildChannelRequant(0.02, s_w, 0.05), uni(-10, 10), -128, 127);
    p.requant = rq.params;
    const size_t out = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
    std::vector<int8_t> got(out), want(out);
    ref::Conv2DInt4(p, x.data(), packed.data(), bias.data(), got.data());
    ref::Conv2D<int8_t>(p, x.data(), w.data(), bias.data(), want.data());
    EXPECT_EQ(got, want) << iter;
  }
}

// ---- CONV_2D with group scales -------------------------------------------------------------

// Conv2DGroupScaled's contract written out per output element from unpacked codes: each depth
// index k = (ic·kH + ky)·kW + kx decoded by division, groups summed in int64, t/2^B rounded half
// away from zero, MultiplyByQuantizedMultiplier64.
std::vector<int8_t> ScalarConvGroupScaled(const ref::Conv2DParams& p, int32_t group_size, const std::vector<int8_t>& x,
                                          const std::vector<int8_t>& w, const std::vector<int32_t>& bias,
                                          const std::vector<uint16_t>& m) {
  const int64_t cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
  const int64_t taps = int64_t{p.kernel_h} * p.kernel_w, depth = cin_g * taps, groups = depth / group_size;
  std::vector<int8_t> y(static_cast<size_t>(int64_t{p.batch} * p.out_channels * p.out_h * p.out_w));
  size_t at = 0;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t oc = 0; oc < p.out_channels; ++oc)
      for (int64_t oh = 0; oh < p.out_h; ++oh)
        for (int64_t ow = 0; ow < p.out_w; ++ow) {
          std::vector<int64_t> a(static_cast<size_t>(groups), 0);
          for (int64_t k = 0; k < depth; ++k) {
            const int64_t ic = k / taps, ky = k % taps / p.kernel_w, kx = k % p.kernel_w;
            const int64_t ih = oh * p.stride_h - p.pad_top + ky * p.dilation_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kx * p.dilation_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            const int64_t c = oc / cout_g * cin_g + ic;
            const int64_t xv = x[static_cast<size_t>(((n * p.in_channels + c) * p.in_h + ih) * p.in_w + iw)];
            a[static_cast<size_t>(k / group_size)] += (xv - p.input_zero_point) * w[static_cast<size_t>(oc * depth + k)];
          }
          int64_t t = 0;
          for (int64_t g = 0; g < groups; ++g) t += a[static_cast<size_t>(g)] * m[static_cast<size_t>(oc * groups + g)];
          const int64_t half = int64_t{1} << (ref::kGroupScaleBits - 1);
          const int64_t acc = bias[static_cast<size_t>(oc)] +
                              (t >= 0 ? (t + half) >> ref::kGroupScaleBits : -((-t + half) >> ref::kGroupScaleBits));
          const int i = p.requant.count == 1 ? 0 : static_cast<int>(oc);
          const int64_t v =
              int64_t{MultiplyByQuantizedMultiplier64(acc, {p.requant.multiplier[i], p.requant.shift[i]})} +
              p.requant.zero_point;
          y[at++] = static_cast<int8_t>(std::min<int64_t>(p.requant.act_max, std::max<int64_t>(p.requant.act_min, v)));
        }
  return y;
}

// A random conv (RandomConvGeometry: plain, depthwise, grouped; strides, dilations, padding)
// with group-scaled weights: group_size a random divisor of the depth (1 and the whole depth
// included), scales over two decades per group unless `equal_scales` (one scale per channel).
struct RandomGroupConv {
  ref::Conv2DGroupScaledParams p;
  std::vector<int8_t> x, w;
  std::vector<uint8_t> w_bytes;
  std::vector<float> s_w;  // [out_channels, groups]
  std::vector<int32_t> bias;
  std::vector<uint16_t> group_multiplier;
  std::unique_ptr<RequantOwner> requant;
};

std::optional<RandomGroupConv> MakeRandomGroupConv(std::mt19937& rng, bool int4, bool equal_scales) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::optional<ref::Conv2DParams> geometry = RandomConvGeometry(rng);
  if (!geometry) return std::nullopt;
  RandomGroupConv c;
  ref::Conv2DParams& p = c.p.conv;
  p = *geometry;
  p.input_zero_point = uni(-128, 127);
  const int depth = p.in_channels / p.groups * p.kernel_h * p.kernel_w;
  std::vector<int> divisors;
  for (int d = 1; d <= depth; ++d)
    if (depth % d == 0) divisors.push_back(d);
  c.p.weight_int4 = int4;
  c.p.group_size = divisors[static_cast<size_t>(uni(0, static_cast<int>(divisors.size()) - 1))];
  const int groups = depth / c.p.group_size;
  c.w.resize(static_cast<size_t>(p.out_channels) * depth);
  for (auto& v : c.w) v = static_cast<int8_t>(int4 ? uni(-8, 7) : uni(-127, 127));
  c.w_bytes = int4 ? qm::PackInt4(c.w) : std::vector<uint8_t>(c.w.begin(), c.w.end());
  for (int u = 0; u < p.out_channels; ++u) {
    const double unit_scale = RandomScale(rng, 1e-3, 0.1);
    for (int g = 0; g < groups; ++g)
      c.s_w.push_back(static_cast<float>(equal_scales ? unit_scale : RandomScale(rng, 1e-3, 0.1)));
  }
  c.x = RandomCodes<int8_t>(rng, static_cast<size_t>(p.batch) * p.in_channels * p.in_h * p.in_w);
  const double s_x = RandomScale(rng, 1e-3, 0.1);
  const double s_y = s_x * 0.1 * (int4 ? 7 : 127) * std::sqrt(static_cast<double>(depth)) * 40 / 127;
  const qm::GroupScaleParams gp = qm::BuildGroupScaleParams(s_x, c.s_w, p.out_channels, s_y);
  c.group_multiplier = gp.group_multiplier;
  std::vector<float> bias_f(static_cast<size_t>(p.out_channels));
  for (auto& b : bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 0.5)(rng));
  c.bias = qm::QuantizeBias(bias_f, s_x, gp.common_scale);
  c.requant = std::make_unique<RequantOwner>(gp.requant, uni(-20, 20), -128, 127);
  p.requant = c.requant->params;
  c.p.group_multiplier = c.group_multiplier.data();
  return c;
}

std::vector<int8_t> RunKernel(const RandomGroupConv& c) {
  const ref::Conv2DParams& p = c.p.conv;
  std::vector<int8_t> y(static_cast<size_t>(int64_t{p.batch} * p.out_channels * p.out_h * p.out_w));
  ref::Conv2DGroupScaled(c.p, c.x.data(), c.w_bytes.data(), c.bias.data(), y.data());
  return y;
}

TEST(Conv2DGroupScaled, MatchesTheScalarFormulaExactly) {
  std::mt19937 rng(31);
  int checked = 0, multi_group = 0, padded = 0, depthwise = 0;
  for (int iter = 0; iter < 600; ++iter) {
    const bool int4 = iter % 2 == 0;
    std::optional<RandomGroupConv> c = MakeRandomGroupConv(rng, int4, /*equal_scales=*/false);
    if (!c) continue;
    const ref::Conv2DParams& p = c->p.conv;
    ++checked;
    multi_group += c->p.group_size < p.in_channels / p.groups * p.kernel_h * p.kernel_w;
    padded += p.pad_top > 0 || p.pad_left > 0;
    depthwise += p.groups > 1 && p.in_channels == p.groups;
    EXPECT_EQ(RunKernel(*c), ScalarConvGroupScaled(p, c->p.group_size, c->x, c->w, c->bias, c->group_multiplier))
        << "iter " << iter << " int4 " << int4 << " group_size " << c->p.group_size << " groups " << p.groups
        << " kernel " << p.kernel_h << "x" << p.kernel_w << " pads " << p.pad_top << "," << p.pad_left;
  }
  // The random geometries cover what the test claims.
  EXPECT_GT(checked, 300);
  EXPECT_GT(multi_group, 100);
  EXPECT_GT(padded, 100);
  EXPECT_GT(depthwise, 30);
}

// One scale per output channel written as equal group scales: every multiplier is 2^B, t/2^B is
// the plain sum, and the output is the per-channel Conv2D's bit for bit — the instantiation that
// requantizes its (int64) accumulator with MultiplyByQuantizedMultiplier64 as the group path does
// (Conv2D<int16_t> on the same codes, clamped to int8's range). The int8 instantiation and
// Conv2DInt4 requantize an int32 with the twice-rounding MultiplyByQuantizedMultiplier
// (fixed_point.h): within one code of it.
TEST(Conv2DGroupScaled, EqualGroupScalesAreThePerChannelKernelBitForBit) {
  std::mt19937 rng(32);
  int checked = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const bool int4 = iter % 2 == 0;
    std::optional<RandomGroupConv> c = MakeRandomGroupConv(rng, int4, /*equal_scales=*/true);
    if (!c) continue;
    ++checked;
    for (uint16_t m : c->group_multiplier) ASSERT_EQ(m, 1 << ref::kGroupScaleBits);
    const ref::Conv2DParams& p = c->p.conv;
    const size_t count = static_cast<size_t>(int64_t{p.batch} * p.out_channels * p.out_h * p.out_w);
    const std::vector<int16_t> x16(c->x.begin(), c->x.end());
    std::vector<int16_t> want16(count);
    ref::Conv2D<int16_t>(p, x16.data(), c->w.data(), c->bias.data(), want16.data());
    const std::vector<int8_t> got = RunKernel(*c);
    EXPECT_EQ(std::vector<int16_t>(got.begin(), got.end()), want16)
        << "iter " << iter << " int4 " << int4 << " group_size " << c->p.group_size;
    std::vector<int8_t> want8(count);
    if (int4) ref::Conv2DInt4(p, c->x.data(), c->w_bytes.data(), c->bias.data(), want8.data());
    else ref::Conv2D<int8_t>(p, c->x.data(), c->w.data(), c->bias.data(), want8.data());
    for (size_t i = 0; i < count; ++i) ASSERT_LE(std::abs(got[i] - want8[i]), 1) << "iter " << iter << " at " << i;
  }
  EXPECT_GT(checked, 200);
}

TEST(GroupScaleParams, CommonScaleIsTheLargestAndMultipliersAreRatios) {
  const std::vector<float> s_w = {0.5f, 0.25f, 1.0f, /*unit 1:*/ 0.1f, 0.1f, 1e-9f};
  const qm::GroupScaleParams gp = qm::BuildGroupScaleParams(0.02, s_w, 2, 0.1);
  ASSERT_EQ(gp.common_scale, (std::vector<float>{1.0f, 0.1f}));
  EXPECT_EQ(gp.group_multiplier, (std::vector<uint16_t>{16384, 8192, 32768, 32768, 32768, 0}));
  ASSERT_EQ(gp.requant.size(), 2u);
  // M = s_x·s_c / s_y = 0.02·1/0.1 for unit 0 (the per-channel multiplier of scale s_c).
  const double m0 = gp.requant[0].multiplier * std::ldexp(1.0, gp.requant[0].shift - 31);
  EXPECT_NEAR(m0, 0.2, 1e-9);
}

// ---- Loader and prepare ------------------------------------------------------------------------
TEST(LowBitLoad, ValidModelsLoadAndPrepare) {
  for (bool int4 : {true, false})
    for (int group : {0, 32, 64}) {
      LowBitModel o;
      o.int4 = int4;
      o.group_size = group;
      const Status s = Prepare(BuildLowBitModel(o).bytes);
      EXPECT_TRUE(s.ok()) << "int4 " << int4 << " group " << group << ": " << s.message();
    }
  Built built = BuildLowBitModel({});
  Model model;
  ASSERT_TRUE(model.Load(built.bytes.data(), built.bytes.size()).ok());
  EXPECT_EQ(model.tensor(1).bytes, 96);  // 3·64 codes, two per byte
  EXPECT_EQ(model.tensor(1).group_size, 32);
}

TEST(LowBitLoad, ShortOrLongPackedBufferIsRejected) {
  LowBitModel o;
  o.buffer_bytes = 95;
  ExpectInvalid(o, "buffer 1 holds 95 bytes, expected 96 (192 int4 elements, two per byte)");
  o.buffer_bytes = 192;  // one code per byte is not the int4 format
  ExpectInvalid(o, "holds 192 bytes, expected 96");
  o.buffer_bytes = 0;
  ExpectInvalid(o, "holds 0 bytes, expected 96");
}

TEST(LowBitLoad, OddCountNeedsAZeroPaddingNibble) {
  LowBitModel o;
  o.group_size = 0;
  o.odd_padding_garbage = true;
  ExpectInvalid(o, "odd count 189 has a nonzero padding nibble");
}

TEST(LowBitLoad, BadGroupSizesAndScaleCounts) {
  LowBitModel o;
  o.group_size = 48;  // does not divide 64; the builder's 3 scales per unit are checked after
  ExpectInvalid(o, "group_size 48 does not divide the 64 elements per channel");
  o.group_size = -32;
  ExpectInvalid(o, "group_size -32, expected 0 (none) or > 0");
  o = LowBitModel{};
  o.num_scales = 3;  // per-channel count with group_size 32
  ExpectInvalid(o, "3 group scales, expected 6 (3 channels x 2 groups of 32)");
}

TEST(LowBitLoad, GroupMultipliersAreChecked) {
  LowBitModel o;
  o.num_multipliers = 5;
  ExpectInvalid(o, "group_multiplier needs 6 values (3 units x 2 groups), has 5");
  o = LowBitModel{};
  o.multiplier_value = (1 << 15) + 1;
  ExpectInvalid(o, "group_multiplier[0] = 32769, expected in [0, 2^15]");
  o = LowBitModel{};
  o.group_size = 0;
  o.num_multipliers = 2;  // multipliers without group scales
  ExpectInvalid(o, "group_multiplier has 2 values but weight 'w' has no group scales");
}

TEST(LowBitLoad, GroupedFcTakesInt8PerChannelWeightsOnly) {
  LowBitModel o;
  o.fc_groups = 3;
  ExpectInvalid(o, "groups = 3 with weight 'w' int4; grouped layers take int8 weights per channel");
  o.int4 = false;
  ExpectInvalid(o, "groups = 3 with weight 'w' group-scaled");
}

TEST(LowBitLoad, Int4WeightsOnlyFeedFullyConnected) {
  LowBitModel o;
  o.also_read_by_add = true;
  ExpectInvalid(o, "group-scaled weight is input 0 of ADD; it may only be the weight (input 1) of FULLY_CONNECTED or CONV_2D");
  o.group_size = 0;
  ExpectInvalid(o, "int4 weight is input 0 of ADD; it may only be the weight (input 1) of FULLY_CONNECTED or CONV_2D");
  SqntBuilder b;  // an int4 activation
  b.Activation("x", fb::ElementType::INT4, {4});
  b.Inputs({0});
  b.Outputs({0});
  AlignedBytes bytes = b.Finish();
  Model model;
  const Status s = model.Load(bytes.data(), bytes.size());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("int4 activation"), std::string::npos) << s.message();
}

TEST(LowBitLoad, FlippedBytesNeverCrash) {
  const AlignedBytes good = BuildLowBitModel({}).bytes;
  std::mt19937 rng(9);
  for (int iter = 0; iter < 2000; ++iter) {
    AlignedBytes bad = good;
    const size_t at = std::uniform_int_distribution<size_t>(0, bad.size() - 1)(rng);
    bad.data()[at] = static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng));
    (void)Prepare(bad);  // any status; ASan/UBSan builds check memory safety
  }
}

// CONV_2D x [1, 4, 5, 5] (int8 scale 0.05, zp 3; int16 when `int16_input`) · w [4, 2, 3, 3]
// (groups 2, stride 2, pads 1: depth 18 in groups of 6, int4 packed or int8) + bias → y [1, 4, 3, 3]
// (scale 0.5, zp −1). Knobs corrupt one thing each.
struct GroupConvModel {
  bool int4 = true;
  bool int16_input = false;
  int32_t num_multipliers = -1;   // -1: the right count (4 units x 3 groups)
  int32_t multiplier_value = -1;  // -1: from the scales
  bool per_channel_with_multipliers = false;  // per-channel scales, yet a group_multiplier vector
};

struct BuiltConv {
  AlignedBytes bytes;
  ref::Conv2DParams p;  // geometry and input zero point (requant left empty)
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<uint16_t> multipliers;
  std::vector<QuantizedMultiplier> requant;
};

BuiltConv BuildGroupConvModel(const GroupConvModel& o) {
  BuiltConv out;
  ref::Conv2DParams& p = out.p;
  p.in_channels = 4, p.in_h = p.in_w = 5, p.out_channels = 4, p.out_h = p.out_w = 3, p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2, p.pad_top = p.pad_left = 1, p.groups = 2, p.input_zero_point = 3;
  const int32_t depth = 18, group_size = o.per_channel_with_multipliers ? 0 : 6;
  std::mt19937 rng(6);
  std::uniform_int_distribution<int> code(o.int4 ? -8 : -127, o.int4 ? 7 : 127);
  out.w.resize(static_cast<size_t>(p.out_channels * depth));
  for (auto& v : out.w) v = static_cast<int8_t>(code(rng));
  const std::vector<uint8_t> bytes = o.int4 ? qm::PackInt4(out.w) : std::vector<uint8_t>(out.w.begin(), out.w.end());
  std::vector<float> s_w;
  for (int i = 0; i < p.out_channels * (group_size ? depth / group_size : 1); ++i)
    s_w.push_back(0.01f * static_cast<float>(1 + i % 5));
  std::vector<float> common = s_w;
  if (group_size > 0) {
    qm::GroupScaleParams gp = qm::BuildGroupScaleParams(0.05, s_w, p.out_channels, 0.5);
    out.multipliers = gp.group_multiplier;
    out.requant = gp.requant;
    common = gp.common_scale;
  } else {
    out.requant = qm::BuildChannelRequant(0.05, s_w, 0.5);
    out.multipliers.assign(12, 1000);
  }
  if (o.num_multipliers >= 0) out.multipliers.resize(static_cast<size_t>(o.num_multipliers), 1000);
  if (o.multiplier_value >= 0) out.multipliers[0] = static_cast<uint16_t>(o.multiplier_value);
  out.bias = qm::QuantizeBias({0.3f, -0.7f, 0.05f, 1.5f}, 0.05, common);

  SqntBuilder b;
  const fb::ElementType act = o.int16_input ? fb::ElementType::INT16 : fb::ElementType::INT8;
  const int x = b.Activation("x", act, {1, 4, 5, 5}, 0.05f, o.int16_input ? 0 : 3);
  const int wt = b.AddTensor("w", o.int4 ? fb::ElementType::INT4 : fb::ElementType::INT8, {4, 2, 3, 3}, s_w,
                             std::vector<int32_t>(s_w.size(), 0), 0, b.AddBuffer(bytes), -1, true, group_size);
  std::vector<uint8_t> bias_bytes(out.bias.size() * 4);
  std::memcpy(bias_bytes.data(), out.bias.data(), bias_bytes.size());
  const int bt = b.AddTensor("b", fb::ElementType::INT32, {4}, {}, {}, -1, b.AddBuffer(bias_bytes), -1, false);
  const int y = b.Activation("y", act, {1, 4, 3, 3}, 0.5f, o.int16_input ? 0 : -1);
  std::vector<int32_t> mult, shift;
  for (const auto& m : out.requant) mult.push_back(m.multiplier), shift.push_back(m.shift);
  auto requant = b.Requant(mult, shift, o.int16_input ? -32768 : -128, o.int16_input ? 32767 : 127);
  const std::vector<int32_t> stride = {2, 2}, dilation = {1, 1}, pads = {1, 1, 1, 1};
  b.Op(fb::OpCode::CONV_2D, "conv", {x, wt, bt}, {y}, fb::OpOptions::Conv2DOptions,
       fb::CreateConv2DOptionsDirect(b.fbb(), &stride, &dilation, &pads, p.groups, requant, &out.multipliers).Union());
  b.Inputs({x});
  b.Outputs({y});
  out.bytes = b.Finish();
  return out;
}

void ExpectConvInvalid(const GroupConvModel& o, const std::string& needle) {
  ExpectInvalidModel(BuildGroupConvModel(o).bytes, needle);
}

TEST(LowBitLoad, GroupScaledConvPreparesAndItsMultipliersAreChecked) {
  for (bool int4 : {true, false}) {
    GroupConvModel o;
    o.int4 = int4;
    const Status s = Prepare(BuildGroupConvModel(o).bytes);
    EXPECT_TRUE(s.ok()) << "int4 " << int4 << ": " << s.message();
  }
  GroupConvModel o;
  o.num_multipliers = 11;
  ExpectConvInvalid(o, "weight 'w' has group_size 6: group_multiplier needs 12 values (4 units x 3 groups), has 11");
  o.num_multipliers = 0;
  ExpectConvInvalid(o, "group_multiplier needs 12 values (4 units x 3 groups), has 0");
  o = GroupConvModel{};
  o.multiplier_value = (1 << 15) + 1;
  ExpectConvInvalid(o, "group_multiplier[0] = 32769, expected in [0, 2^15]");
  o = GroupConvModel{};
  o.per_channel_with_multipliers = true;
  ExpectConvInvalid(o, "group_multiplier has 12 values but weight 'w' has no group scales");
  for (bool int4 : {true, false}) {
    o = GroupConvModel{};
    o.int4 = int4;
    o.int16_input = true;
    ExpectConvInvalid(o, int4 ? "weight 'w' is int4; such weights need int8 activations, input is int16"
                              : "weight 'w' is group-scaled; such weights need int8 activations, input is int16");
  }
}

// ---- End to end ---------------------------------------------------------------------------------

TEST(LowBitInterpreter, GroupScaledInt4FcRunsTheKernel) {
  for (int group : {0, 32}) {
    LowBitModel o;
    o.group_size = group;
    Built built = BuildLowBitModel(o);
    std::mt19937 rng(21);
    const std::vector<int8_t> x = RandomCodes<int8_t>(rng, 128);
    std::vector<int8_t> y;
    const Status s = Invoke(built.bytes, x, 6, &y);
    ASSERT_TRUE(s.ok()) << s.message();
    ref::FullyConnectedLowBitParams p;
    p.rows = 2;
    p.depth = 64;
    p.units = 3;
    p.input_zero_point = 3;
    p.group_size = group;
    RequantOwner rq({built.requant[0], built.requant[1], built.requant[2]}, -1, -128, 127);
    p.requant = rq.params;
    const std::vector<int8_t> want = ScalarFc(p, x, built.w, built.bias, built.multipliers);
    EXPECT_EQ(y, want) << "group " << group;
  }
}

TEST(LowBitInterpreter, GroupScaledConvRunsTheKernel) {
  for (bool int4 : {true, false}) {
    GroupConvModel o;
    o.int4 = int4;
    BuiltConv built = BuildGroupConvModel(o);
    std::mt19937 rng(22);
    const std::vector<int8_t> x = RandomCodes<int8_t>(rng, 100);
    std::vector<int8_t> y;
    const Status s = Invoke(built.bytes, x, 36, &y);
    ASSERT_TRUE(s.ok()) << s.message();
    RequantOwner rq(built.requant, -1, -128, 127);
    built.p.requant = rq.params;
    const std::vector<int8_t> want = ScalarConvGroupScaled(built.p, 6, x, built.w, built.bias, built.multipliers);
    EXPECT_EQ(y, want) << "int4 " << int4;
  }
}

// Writes int4 seeds for fuzz/sqnt_loader_fuzz when SQUINT_WRITE_FUZZ_SEEDS names a directory.
TEST(LowBitSeeds, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  for (int group : {0, 32, -1}) {  // -1: the group-scaled int4 CONV_2D
    LowBitModel o;
    o.group_size = group;
    const AlignedBytes bytes = group < 0 ? BuildGroupConvModel({}).bytes : BuildLowBitModel(o).bytes;
    const std::string path =
        std::string(dir) + (group < 0 ? "/conv_int4_group6.sqnt" : group ? "/fc_int4_group32.sqnt" : "/fc_int4.sqnt");
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

}  // namespace
}  // namespace squint::rt
