// The AVX-512 VNNI group-scaled kernels (runtime/kernels/x86/group_scaled.h) against the reference
// FullyConnectedLowBit / Conv2DGroupScaled group path, with tolerance zero, over edge shapes: rows
// around the 8- and 2-row tiles and the 64-row chunk, units around the 16-unit block, group sizes
// that are and are not multiples of 4 (the padded vpdpbusd steps), extreme zero points, saturating
// codes, biases at the int32 limits, per-tensor and per-channel requantization from the largest
// right shift to the largest left shift, group multipliers 0 and 2^B, and sums whose |acc| reaches
// 2^32 (the lanes the reference's own function computes). Convolutions: random geometries with
// groups = 1 (strides and pads beyond the kernel, dilation 2, batch 2). The model-level tests
// (kernels_gemm_test.cc, Dispatch.LowBitWeights...) cover prepare and int4 unpacking.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/prepared_op.h"
#include "tests/runtime/kernels_test_util.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/group_scaled.h"
#endif

namespace squint::rt {
namespace {

#if defined(SQUINT_X86_KERNELS)
using ref::testing::RandomCodes;
using ref::testing::RequantOwner;

using Line = PreparePools::Line;
// Zero-initialized storage of at least `bytes` bytes, 64-byte aligned (as PreparePools::packed).
std::vector<Line> Lines(int64_t bytes) { return std::vector<Line>(static_cast<size_t>((bytes + 63) / 64)); }

int32_t Uni(std::mt19937& rng, int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); }

// The parts of one layer shared by FULLY_CONNECTED and CONV_2D.
struct LayerData {
  std::vector<int8_t> w;            // [units][depth]
  std::vector<uint16_t> m;          // [units][groups]
  std::vector<int32_t> bias;        // [units]
  std::vector<QuantizedMultiplier> requant;
  bool with_bias = true;
};

// `mode`: 0 realistic (output codes spread over the range), 1 extreme requantization (any shift
// in [−31, 30], multipliers 0 and near 2^31), 2 saturating (weights ±127/−128, biases at the
// int32 limits, multipliers 2^B).
LayerData RandomLayer(std::mt19937& rng, int32_t units, int32_t depth, int32_t group_size, int mode) {
  LayerData d;
  const int32_t groups = depth / group_size;
  const bool narrow = Uni(rng, 0, 1) == 0;  // int4's range
  d.w.resize(size_t(units) * depth);
  for (auto& v : d.w)
    v = static_cast<int8_t>(mode == 2 ? (Uni(rng, 0, 1) ? 127 : -128) : (narrow ? Uni(rng, -8, 7) : Uni(rng, -128, 127)));
  d.m.resize(size_t(units) * groups);
  for (auto& v : d.m) {
    const int32_t pick = Uni(rng, 0, 9);
    v = static_cast<uint16_t>(mode == 2 || pick == 0 ? (1 << ref::kGroupScaleBits) : (pick == 1 ? 0 : Uni(rng, 1, 1 << ref::kGroupScaleBits)));
  }
  // The typical |Σ (x − z_x)·w| of a unit (x − z_x and w spread over their ranges).
  const double typical = 5000.0 * std::sqrt(double(depth)) * (narrow ? 0.06 : 1.0);
  d.with_bias = Uni(rng, 0, 4) != 0;
  d.bias.resize(static_cast<size_t>(units));
  for (auto& v : d.bias)
    v = mode == 2 ? (Uni(rng, 0, 1) ? INT32_MAX : INT32_MIN) : Uni(rng, -int32_t(typical), int32_t(typical));
  const int32_t count = Uni(rng, 0, 1) ? 1 : units;
  for (int32_t i = 0; i < count; ++i) {
    if (mode == 1) {
      const int32_t pick = Uni(rng, 0, 5);
      d.requant.push_back({pick == 0 ? 0 : (pick == 1 ? INT32_MAX : Uni(rng, 1 << 30, INT32_MAX)), Uni(rng, -31, 30)});
    } else {
      d.requant.push_back(QuantizeMultiplier(ref::testing::RandomScale(rng, 20.0, 400.0) / typical));
    }
  }
  return d;
}

std::string Describe(const char* what, int32_t rows, int32_t units, int32_t depth, int32_t group_size, int32_t zx,
                     int mode) {
  return std::string(what) + " rows " + std::to_string(rows) + " units " + std::to_string(units) + " depth " +
         std::to_string(depth) + " group size " + std::to_string(group_size) + " z_x " + std::to_string(zx) +
         " mode " + std::to_string(mode);
}

// One FULLY_CONNECTED case; returns the number of distinct output codes (for the caller's check
// that the cases are not all saturated).
size_t CheckFc(std::mt19937& rng, int32_t rows, int32_t units, int32_t depth, int32_t group_size, int32_t zx,
               int mode) {
  const LayerData d = RandomLayer(rng, units, depth, group_size, mode);
  const RequantOwner rq(d.requant, Uni(rng, -128, 127), mode == 2 ? -128 : Uni(rng, -128, -100), Uni(rng, 100, 127));
  ref::FullyConnectedLowBitParams p;
  p.rows = rows, p.depth = depth, p.units = units, p.input_zero_point = zx, p.group_size = group_size;
  p.group_multiplier = d.m.data();
  p.requant = rq.params;
  std::vector<int8_t> x = RandomCodes<int8_t>(rng, size_t(rows) * depth);
  if (mode == 2)
    for (auto& v : x) v = static_cast<int8_t>(zx >= 0 ? -128 : 127);  // |x − z_x| as large as it gets
  const int32_t* bias = d.with_bias ? d.bias.data() : nullptr;
  std::vector<int8_t> want(size_t(rows) * units), got(want.size(), 99);
  ref::FullyConnectedLowBit<int8_t>(p, x.data(), reinterpret_cast<const uint8_t*>(d.w.data()), bias, want.data());
  const x86::GroupScaledLayout l = x86::GroupScaledLayoutOf(units, depth, group_size);
  std::vector<Line> packed = Lines(x86::GroupScaledPackedBytes(l));
  x86::PackGroupScaledAvx512(l, d.w.data(), d.m.data(), zx, rq.params, packed.front().bytes);
  std::vector<Line> scratch = Lines(x86::GroupScaledFcScratchBytes(l, rows));
  x86::Qs8GroupScaledFcAvx512(l, packed.front().bytes, p, x.data(), bias, scratch.front().bytes, got.data());
  EXPECT_EQ(got, want) << Describe("fc", rows, units, depth, group_size, zx, mode);
  return std::set<int8_t>(want.begin(), want.end()).size();
}

TEST(GroupScaledAvx512, FullyConnectedEqualsTheReference) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(21);
  size_t spread = 0;
  int cases = 0;
  for (int32_t rows : {1, 2, 3, 7, 8, 9, 17, 64, 65, 130})
    for (int32_t units : {1, 9, 16, 17, 40})
      for (int32_t group_size : {1, 3, 4, 9, 32, 36})
        for (int mode : {0, 1, 2}) {
          const int32_t groups = Uni(rng, 1, 4);
          const int32_t zx = Uni(rng, 0, 3) == 0 ? (Uni(rng, 0, 1) ? -128 : 127) : Uni(rng, -128, 127);
          const size_t distinct = CheckFc(rng, rows, units, group_size * groups, group_size, zx, mode);
          if (mode == 0 && rows * units >= 64) spread += distinct >= 20, ++cases;
        }
  EXPECT_GE(spread, size_t(cases) * 9 / 10) << "realistic cases should give spread output codes";
}

// Groups of 4096 (the longest prepare admits), and sums whose |bias + t / 2^B| passes 2^32: every
// x − z_x = −255, every weight 127, every multiplier 2^B over 17 groups is 17·4096·255·127 ≈ 2^31.1,
// plus a bias of −2^31.
TEST(GroupScaledAvx512, SumsBeyondTwoToThe32TakeTheReferenceFunction) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(22);
  const int32_t rows = 3, units = 19, group_size = 4096, depth = 17 * group_size;
  std::vector<int8_t> w(size_t(units) * depth, 127);
  for (int32_t u = 1; u < units; u += 2)  // odd units: a mix, whose sums stay small
    for (int64_t k = 0; k < depth; ++k) w[size_t(u) * depth + k] = static_cast<int8_t>(Uni(rng, -128, 127));
  std::vector<uint16_t> m(size_t(units) * 17, 1 << ref::kGroupScaleBits);
  std::vector<int32_t> bias(static_cast<size_t>(units));
  for (int32_t u = 0; u < units; ++u) bias[u] = u % 4 == 0 ? INT32_MIN : Uni(rng, -1000, 1000);
  std::vector<QuantizedMultiplier> q;
  for (int32_t u = 0; u < units; ++u) q.push_back(QuantizeMultiplier(u % 3 == 0 ? 1e-8 : 1e-7 * (u + 1)));
  const RequantOwner rq(q, 3, -128, 127);
  ref::FullyConnectedLowBitParams p;
  p.rows = rows, p.depth = depth, p.units = units, p.input_zero_point = 127, p.group_size = group_size;
  p.group_multiplier = m.data();
  p.requant = rq.params;
  std::vector<int8_t> x(size_t(rows) * depth, -128);
  for (int64_t k = 0; k < depth; ++k) x[size_t(depth) * 2 + k] = static_cast<int8_t>(Uni(rng, -128, 127));
  std::vector<int8_t> want(size_t(rows) * units), got(want.size(), 99);
  ref::FullyConnectedLowBit<int8_t>(p, x.data(), reinterpret_cast<const uint8_t*>(w.data()), bias.data(), want.data());
  const x86::GroupScaledLayout l = x86::GroupScaledLayoutOf(units, depth, group_size);
  std::vector<Line> packed = Lines(x86::GroupScaledPackedBytes(l));
  x86::PackGroupScaledAvx512(l, w.data(), m.data(), p.input_zero_point, rq.params, packed.front().bytes);
  std::vector<Line> scratch = Lines(x86::GroupScaledFcScratchBytes(l, rows));
  x86::Qs8GroupScaledFcAvx512(l, packed.front().bytes, p, x.data(), bias.data(), scratch.front().bytes, got.data());
  EXPECT_EQ(got, want);
  // The case is what it says: unit 0 of row 0 has |acc| >= 2^32, and its code is not saturated.
  int64_t t = 0;
  for (int32_t g = 0; g < 17; ++g) t += int64_t{1 << ref::kGroupScaleBits} * (int64_t{-255} * 127 * group_size);
  EXPECT_GE(-(int64_t{INT32_MIN} + t / (1 << ref::kGroupScaleBits)), int64_t{1} << 32);
  EXPECT_GT(want[0], -128);
}

TEST(GroupScaledAvx512, Conv2DEqualsTheReference) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(23);
  int cases = 0;
  while (cases < 300) {
    std::optional<ref::Conv2DParams> geometry = ref::testing::RandomConvGeometry(rng);
    if (!geometry || geometry->groups != 1) continue;
    ref::Conv2DParams p = *geometry;
    if (cases % 3 == 0) p.out_channels = Uni(rng, 14, 35);  // more than one block of units
    const int32_t depth = p.in_channels * p.kernel_h * p.kernel_w;
    std::vector<int32_t> divisors;
    for (int32_t g = 1; g <= depth; ++g)
      if (depth % g == 0) divisors.push_back(g);
    const int32_t group_size = divisors[size_t(Uni(rng, 0, int32_t(divisors.size()) - 1))];
    const int mode = cases % 3;
    p.input_zero_point = Uni(rng, 0, 3) == 0 ? (Uni(rng, 0, 1) ? -128 : 127) : Uni(rng, -128, 127);
    const LayerData d = RandomLayer(rng, p.out_channels, depth, group_size, mode);
    const RequantOwner rq(d.requant, Uni(rng, -128, 127), -128, 127);
    p.requant = rq.params;
    ref::Conv2DGroupScaledParams gp;
    gp.conv = p;
    gp.group_size = group_size;
    gp.group_multiplier = d.m.data();
    const std::vector<int8_t> x = RandomCodes<int8_t>(rng, size_t(p.batch) * p.in_channels * p.in_h * p.in_w);
    const int32_t* bias = d.with_bias ? d.bias.data() : nullptr;
    std::vector<int8_t> want(size_t(p.batch) * p.out_channels * p.out_h * p.out_w), got(want.size(), 99);
    ref::Conv2DGroupScaled(gp, x.data(), reinterpret_cast<const uint8_t*>(d.w.data()), bias, want.data());
    const x86::GroupScaledLayout l = x86::GroupScaledLayoutOf(p.out_channels, depth, group_size);
    std::vector<Line> packed = Lines(x86::GroupScaledPackedBytes(l));
    x86::PackGroupScaledAvx512(l, d.w.data(), d.m.data(), p.input_zero_point, rq.params, packed.front().bytes);
    std::vector<Line> scratch = Lines(x86::GroupScaledConvScratchBytes(l, p));
    x86::Qs8GroupScaledConv2DAvx512(l, packed.front().bytes, gp, x.data(), bias, scratch.front().bytes, got.data());
    EXPECT_EQ(got, want) << "conv " << p.in_channels << "->" << p.out_channels << " " << p.in_h << "x" << p.in_w
                         << " kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "," << p.stride_w
                         << " dilation " << p.dilation_h << "," << p.dilation_w << " pads " << p.pad_top << ","
                         << p.pad_left << " batch " << p.batch << " group size " << group_size << " mode " << mode;
    ++cases;
  }
}

// A convolution with more output positions than one 64-row chunk, and groups that span input
// channels and kernel rows (9 of 27 and 6 of 27·... elements).
TEST(GroupScaledAvx512, Conv2DOverSeveralChunksEqualsTheReference) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  std::mt19937 rng(24);
  for (int32_t group_size : {6, 9, 27, 54}) {
    ref::Conv2DParams p;
    p.in_channels = 6, p.in_h = 13, p.in_w = 11, p.out_channels = 21, p.kernel_h = 3, p.kernel_w = 3;
    p.pad_top = p.pad_left = 1, p.out_h = 13, p.out_w = 11, p.input_zero_point = -7;
    const int32_t depth = 54;
    const LayerData d = RandomLayer(rng, p.out_channels, depth, group_size, 0);
    const RequantOwner rq(d.requant, 4, -128, 127);
    p.requant = rq.params;
    ref::Conv2DGroupScaledParams gp;
    gp.conv = p;
    gp.group_size = group_size;
    gp.group_multiplier = d.m.data();
    const std::vector<int8_t> x = RandomCodes<int8_t>(rng, size_t(p.in_channels) * p.in_h * p.in_w);
    std::vector<int8_t> want(size_t(p.out_channels) * p.out_h * p.out_w), got(want.size(), 99);
    ref::Conv2DGroupScaled(gp, x.data(), reinterpret_cast<const uint8_t*>(d.w.data()), d.bias.data(), want.data());
    const x86::GroupScaledLayout l = x86::GroupScaledLayoutOf(p.out_channels, depth, group_size);
    std::vector<Line> packed = Lines(x86::GroupScaledPackedBytes(l));
    x86::PackGroupScaledAvx512(l, d.w.data(), d.m.data(), p.input_zero_point, rq.params, packed.front().bytes);
    std::vector<Line> scratch = Lines(x86::GroupScaledConvScratchBytes(l, p));
    x86::Qs8GroupScaledConv2DAvx512(l, packed.front().bytes, gp, x.data(), d.bias.data(), scratch.front().bytes,
                                    got.data());
    EXPECT_EQ(got, want) << "group size " << group_size;
    EXPECT_GT(std::set<int8_t>(want.begin(), want.end()).size(), 30u) << "group size " << group_size;
  }
}
#endif  // SQUINT_X86_KERNELS

}  // namespace
}  // namespace squint::rt
