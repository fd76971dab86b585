// Packed int4 weights and group scales (W4A8 FULLY_CONNECTED): the nibble layout, the kernel
// against a plain scalar formula and against float, the quantizer's group constants, the
// loader's and prepare's rejections, and a model end to end through the interpreter.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "tests/runtime/kernels_test_util.h"
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

// x int8 [2, 64] (scale 0.05, zp 3) · w [3, 64] (int4 packed or int8; group scales of 32 or
// per channel) + bias → y int8 [2, 3] (scale 0.5, zp −1). Knobs corrupt one thing each.
struct LowBitModel {
  bool int4 = true;
  int32_t group_size = 32;
  int32_t buffer_bytes = -1;          // -1: the right size
  int32_t num_scales = -1;            // -1: the right count
  int32_t num_multipliers = -1;       // -1: the right count
  int32_t multiplier_value = -1;      // -1: from the scales
  bool odd_padding_garbage = false;   // w [3, 63] with a nonzero padding nibble
  bool also_read_by_add = false;      // the weight also feeds an ADD
  int32_t fc_groups = 1;              // FullyConnectedOptions.groups
};

struct Built {
  AlignedBytes bytes;
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<uint16_t> multipliers;
  QuantizedMultiplier requant[3];
};

Built BuildLowBitModel(const LowBitModel& o) {
  Built out;
  SqntBuilder b;
  const int32_t depth = o.odd_padding_garbage ? 63 : 64, units = 3;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(o.int4 ? -8 : -127, o.int4 ? 7 : 127);
  out.w.resize(static_cast<size_t>(units * depth));
  for (auto& v : out.w) v = static_cast<int8_t>(code(rng));
  std::vector<uint8_t> bytes = o.int4 ? qm::PackInt4(out.w) : std::vector<uint8_t>(out.w.begin(), out.w.end());
  if (o.odd_padding_garbage) bytes.back() |= 0x50;
  if (o.buffer_bytes >= 0) bytes.resize(static_cast<size_t>(o.buffer_bytes));
  const int groups = o.group_size > 0 ? depth / o.group_size : 1;
  std::vector<float> s_w;
  for (int i = 0; i < units * groups; ++i) s_w.push_back(0.01f * static_cast<float>(1 + i % 4));
  if (o.num_scales >= 0) s_w.resize(static_cast<size_t>(o.num_scales), 0.01f);
  std::vector<QuantizedMultiplier> ms;
  std::vector<float> common = s_w;
  if (o.group_size > 0) {
    qm::GroupScaleParams gp = qm::BuildGroupScaleParams(0.05, s_w, units, 0.5);
    out.multipliers = gp.group_multiplier;
    ms = gp.requant;
    common = gp.common_scale;
  } else {
    ms = qm::BuildChannelRequant(0.05, s_w, 0.5);
  }
  if (o.num_multipliers >= 0) out.multipliers.resize(static_cast<size_t>(o.num_multipliers), 1000);
  if (o.multiplier_value >= 0) out.multipliers[0] = static_cast<uint16_t>(o.multiplier_value);
  ms.resize(units, ms.empty() ? QuantizedMultiplier{1 << 30, -5} : ms.back());
  for (int u = 0; u < units; ++u) out.requant[u] = ms[static_cast<size_t>(u)];
  common.resize(units, 0.01f);
  out.bias = qm::QuantizeBias({0.3f, -0.7f, 0.05f}, 0.05, common);

  const int x = b.Activation("x", fb::ElementType::INT8, {2, depth}, 0.05f, 3);
  const int wt = b.AddTensor("w", o.int4 ? fb::ElementType::INT4 : fb::ElementType::INT8, {units, depth}, s_w,
                             std::vector<int32_t>(s_w.size(), 0), 0, b.AddBuffer(bytes), -1, true, o.group_size);
  std::vector<uint8_t> bias_bytes(out.bias.size() * 4);
  std::memcpy(bias_bytes.data(), out.bias.data(), bias_bytes.size());
  const int bt = b.AddTensor("b", fb::ElementType::INT32, {units}, {}, {}, -1, b.AddBuffer(bias_bytes), -1, false);
  const int y = b.Activation("y", fb::ElementType::INT8, {2, units}, 0.5f, -1);
  std::vector<int32_t> mult, shift;
  for (const auto& m : ms) mult.push_back(m.multiplier), shift.push_back(m.shift);
  auto requant = b.Requant(mult, shift);
  auto gm = out.multipliers.empty() ? 0 : b.fbb().CreateVector(out.multipliers);
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, wt, bt}, {y}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), requant, gm, o.fc_groups).Union());
  int out_t = y;
  if (o.also_read_by_add) {
    out_t = b.Activation("z", fb::ElementType::INT8, {units, depth}, 1.0f, 0);
    b.Op(fb::OpCode::ADD, "add", {wt, wt}, {out_t});
  }
  b.Inputs({x});
  b.Outputs({out_t});
  out.bytes = b.Finish();
  return out;
}

Status Prepare(const AlignedBytes& bytes) {
  Model model;
  SQUINT_RT_RETURN_IF_ERROR(model.Load(bytes.data(), bytes.size()));
  Interpreter interp;
  return interp.Prepare(&model);
}

void ExpectInvalid(const LowBitModel& o, const std::string& needle) {
  const Status s = Prepare(BuildLowBitModel(o).bytes);
  ASSERT_FALSE(s.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel) << s.message();
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
}

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
  ExpectInvalid(o, "group-scaled weight is input 0 of ADD; it may only be the weight (input 1) of FULLY_CONNECTED");
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

// ---- End to end ---------------------------------------------------------------------------------

TEST(LowBitInterpreter, GroupScaledInt4FcRunsTheKernel) {
  for (int group : {0, 32}) {
    LowBitModel o;
    o.group_size = group;
    Built built = BuildLowBitModel(o);
    Model model;
    ASSERT_TRUE(model.Load(built.bytes.data(), built.bytes.size()).ok());
    Interpreter interp;
    ASSERT_TRUE(interp.Prepare(&model).ok());
    AlignedBytes arena;
    std::vector<uint8_t> zeros(interp.arena_size());
    arena.Assign(zeros.data(), zeros.size());
    ASSERT_TRUE(interp.SetArena(arena.data(), arena.size()).ok());
    std::mt19937 rng(21);
    const std::vector<int8_t> x = RandomCodes<int8_t>(rng, 128);
    std::memcpy(interp.mutable_tensor_data(model.inputs()[0]), x.data(), x.size());
    ASSERT_TRUE(interp.Invoke().ok());
    const int8_t* y = static_cast<const int8_t*>(interp.tensor_data(model.outputs()[0]));
    ref::FullyConnectedLowBitParams p;
    p.rows = 2;
    p.depth = 64;
    p.units = 3;
    p.input_zero_point = 3;
    p.group_size = group;
    RequantOwner rq({built.requant[0], built.requant[1], built.requant[2]}, -1, -128, 127);
    p.requant = rq.params;
    const std::vector<int8_t> want = ScalarFc(p, x, built.w, built.bias, built.multipliers);
    EXPECT_EQ(std::vector<int8_t>(y, y + 6), want) << "group " << group;
  }
}

// Writes int4 seeds for fuzz/sqnt_loader_fuzz when SQUINT_WRITE_FUZZ_SEEDS names a directory.
TEST(LowBitSeeds, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  for (int group : {0, 32}) {
    LowBitModel o;
    o.group_size = group;
    const AlignedBytes bytes = BuildLowBitModel(o).bytes;
    const std::string path = std::string(dir) + (group ? "/fc_int4_group32.sqnt" : "/fc_int4.sqnt");
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

}  // namespace
}  // namespace squint::rt
