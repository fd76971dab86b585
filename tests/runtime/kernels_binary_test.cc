// The optimized int8 ADD / SUB / MUL (runtime/kernels/portable/binary.cc: the table of the reference's
// 65536 results, and on AVX-512 ADD / SUB in float where prepare checked every code pair) against the
// reference kernels, tolerance zero: edge sizes, broadcast patterns, extreme zero points, saturating
// outputs, and every pair of codes.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/reference/kernels.h"
#include "tests/runtime/kernels_test_util.h"

namespace squint::rt {
namespace {

size_t Count(const std::vector<int32_t>& dims) {
  return static_cast<size_t>(std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<int64_t>()));
}

// ---- ADD / SUB / MUL ----

class BinaryTester {
 public:
  BinaryTester& A(std::vector<int32_t> d) { a_dims_ = std::move(d); return *this; }
  BinaryTester& B(std::vector<int32_t> d) { b_dims_ = std::move(d); return *this; }
  BinaryTester& ZeroPoints(int32_t za, int32_t zb, int32_t zy) { za_ = za, zb_ = zb, zy_ = zy; return *this; }
  BinaryTester& OutShift(int32_t s) { out_shift_ = s; return *this; }  // large: saturating outputs
  BinaryTester& ActRange(int32_t lo, int32_t hi) { lo_ = lo, hi_ = hi; return *this; }
  BinaryTester& Seed(uint32_t s) { seed_ = s; return *this; }
  // a and b of 65536 elements: every pair of codes once.
  BinaryTester& AllPairs() { all_pairs_ = true, a_dims_ = {65536}, b_dims_ = {65536}; return *this; }
  // How many Test calls ran the AVX-512 float path of ADD / SUB (BuildQs8BinaryFloat held).
  static int32_t& FloatPaths() { static int32_t n = 0; return n; }

  void Test(portable::BinaryKind kind) const {
    std::mt19937 rng(seed_);
    ref::BroadcastShape s;
    ASSERT_TRUE(ref::ComputeBroadcast(a_dims_.data(), static_cast<int32_t>(a_dims_.size()), b_dims_.data(),
                                      static_cast<int32_t>(b_dims_.size()), &s));
    std::vector<int32_t> y_dims(s.out_dims, s.out_dims + s.rank);
    auto a = ref::testing::RandomCodes<int8_t>(rng, Count(a_dims_)), b = ref::testing::RandomCodes<int8_t>(rng, Count(b_dims_));
    if (all_pairs_)
      for (size_t i = 0; i < 65536; ++i) a[i] = static_cast<int8_t>(i >> 8), b[i] = static_cast<int8_t>(i & 255);
    std::uniform_int_distribution<int32_t> mult(1 << 30, 0x7fffffff);
    const int32_t out_mult = mult(rng);
    ref::ElementwiseParams p;
    p.a_zero_point = za_;
    p.b_zero_point = zb_;
    p.left_shift = 20;
    p.a_multiplier = mult(rng);
    p.a_shift = -1 - static_cast<int32_t>(rng() % 3);
    p.b_multiplier = mult(rng);
    p.b_shift = -1 - static_cast<int32_t>(rng() % 3);
    const int32_t shift = kind == portable::BinaryKind::kMul ? out_shift_ - 8 : out_shift_ - 19;
    p.output = {&out_mult, &shift, 1, zy_, lo_, hi_};
    std::vector<int8_t> table(portable::kQs8BinaryTableBytes);
    portable::BuildQs8BinaryTable(kind, p, table.data());
    const size_t n = static_cast<size_t>(Count(y_dims));
    std::vector<int8_t> want(n + 1, 55), got(n + 1, 55);  // one guard byte
    if (kind == portable::BinaryKind::kAdd) ref::Add<int8_t>(p, s, a.data(), b.data(), want.data());
    else if (kind == portable::BinaryKind::kSub) ref::Sub<int8_t>(p, s, a.data(), b.data(), want.data());
    else ref::Mul<int8_t>(p, s, a.data(), b.data(), want.data());
    portable::Qs8Binary(s, table.data(), a.data(), b.data(), got.data());
    ASSERT_EQ(got, want) << "kind " << static_cast<int>(kind) << ", " << n << " outputs";
    // The b-major table, its rows as LUTs (plain and VBMI), and the a-major rows as LUTs.
    std::vector<int8_t> table_b(portable::kQs8BinaryTableBytes);
    portable::BuildQs8BinaryTable(kind, p, table_b.data(), true);
    for (bool vbmi : {false, true}) {
      if (vbmi && !Avx512VbmiSupported()) continue;
      for (bool b_major : {false, true}) {
        std::vector<int8_t> got_layout(n + 1, 55);
        portable::Qs8Binary(s, b_major ? table_b.data() : table.data(), a.data(), b.data(), got_layout.data(), nullptr,
                            b_major, vbmi);
        ASSERT_EQ(got_layout, want) << "kind " << static_cast<int>(kind) << ", b_major " << b_major << ", vbmi " << vbmi;
      }
    }
    portable::BinaryFloat f;
    if (IsaSupported(Isa::kAvx512Vnni) && portable::BuildQs8BinaryFloat(kind, p, table.data(), &f)) {
      std::vector<int8_t> got_float(n + 1, 55);
      portable::Qs8Binary(s, table.data(), a.data(), b.data(), got_float.data(), &f);
      ASSERT_EQ(got_float, want) << "float path, kind " << static_cast<int>(kind) << ", " << n << " outputs";
      ++FloatPaths();
    }
  }
  void TestAll() const {
    for (auto k : {portable::BinaryKind::kAdd, portable::BinaryKind::kSub, portable::BinaryKind::kMul}) Test(k);
  }

 private:
  std::vector<int32_t> a_dims_{16}, b_dims_{16};
  int32_t za_ = 0, zb_ = 0, zy_ = 0, out_shift_ = 0, lo_ = -128, hi_ = 127;
  bool all_pairs_ = false;
  uint32_t seed_ = 1;
};

TEST(X86Misc, BinarySameShapeEdgeSizes) {
  for (int32_t n : {1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 197 * 192}) BinaryTester().A({n}).B({n}).Seed(n).TestAll();
}

TEST(X86Misc, BinaryBroadcastPatterns) {
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> cases = {
      {{197, 192}, {192}},          {{192}, {197, 192}},         {{1, 197, 192}, {1, 1, 192}},
      {{1, 32, 15, 15}, {1, 32, 1, 1}}, {{1, 32, 1, 1}, {1, 32, 15, 15}}, {{5, 7}, {1}},
      {{1}, {5, 7}},                {{3, 1, 5}, {1, 4, 1}},      {{2, 3, 4, 5, 6, 7}, {3, 1, 5, 1, 7}},
      {{4, 1, 33}, {4, 65, 1}},     {{1}, {1}},                  {{}, {}},
      {{0, 5}, {5}},                {{17, 1}, {1, 17}},          {{2, 1, 3, 1}, {1, 2, 1, 3}},
  };
  uint32_t seed = 10;
  for (const auto& c : cases) BinaryTester().A(c.first).B(c.second).Seed(seed++).TestAll();
}

// Which operand prepare lays the table out by: b-major where the innermost runs hold b fixed (a
// per-channel scale or bias of an NCHW tensor, a scalar b).
TEST(X86Misc, BinaryRunsHoldBFindsPerChannelOperands) {
  const auto holds_b = [](std::vector<int32_t> a, std::vector<int32_t> b) {
    ref::BroadcastShape s;
    EXPECT_TRUE(ref::ComputeBroadcast(a.data(), static_cast<int32_t>(a.size()), b.data(), static_cast<int32_t>(b.size()), &s));
    return portable::BinaryRunsHoldB(s);
  };
  EXPECT_TRUE(holds_b({1, 200, 2, 96}, {1, 200, 1, 1}));
  EXPECT_TRUE(holds_b({5, 7}, {1}));
  EXPECT_FALSE(holds_b({1, 200, 1, 1}, {1, 200, 2, 96}));
  EXPECT_FALSE(holds_b({197, 192}, {192}));
  EXPECT_FALSE(holds_b({64}, {64}));
}

TEST(X86Misc, BinaryExtremeZeroPointsAndSaturation) {
  for (int32_t z : {-128, 127}) {
    BinaryTester().A({65}).B({65}).ZeroPoints(z, -z - 1, z).TestAll();
    BinaryTester().A({3, 33}).B({33}).ZeroPoints(z, z, -z - 1).OutShift(6).TestAll();   // saturating
    BinaryTester().A({33}).B({3, 33}).ZeroPoints(-z - 1, z, 0).OutShift(-6).ActRange(-20, 30).TestAll();
  }
}

// ADD / SUB by the AVX-512 float path (portable::BinaryFloat) on every pair of codes, for
// multipliers, shifts (outputs from fine to saturating), zero points and activation ranges; the
// path must actually run for most of them.
TEST(X86Misc, BinaryFloatPathOnEveryCodePair) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI";
  const int32_t before = BinaryTester::FloatPaths();
  uint32_t seed = 40;
  for (int32_t out_shift : {-6, -2, 0, 3, 6})
    for (int32_t z : {-128, 0, 127}) {
      BinaryTester().AllPairs().ZeroPoints(z, -z - 1, z / 2).OutShift(out_shift).Seed(seed++).Test(portable::BinaryKind::kAdd);
      BinaryTester().AllPairs().ZeroPoints(-z - 1, z, -z / 3).OutShift(out_shift).ActRange(-100, 90).Seed(seed++)
          .Test(portable::BinaryKind::kSub);
    }
  EXPECT_GT(BinaryTester::FloatPaths() - before, 20);
}


// ---- int16 ADD / SUB (portable::Qs16AddSub, and on AVX-512 x86::Qs16AddSubAvx512's runs) ----

// One int16 ADD and SUB over the broadcast of a_dims and b_dims against the reference. extreme:
// codes at ±32768 with the largest input multipliers and left shift, so that the requantized
// inputs reach ±2^30 and a SUB's int32 sum reaches the reference's clamp at 2^31 − 1. a_shift,
// b_shift: the inputs' requantization shifts (0: −1 to −3 at random).
void CheckAddSub16(std::mt19937& rng, const std::vector<int32_t>& a_dims, const std::vector<int32_t>& b_dims,
                   int32_t za, int32_t zb, int32_t zy, int32_t out_shift, bool extreme, int32_t a_shift = 0,
                   int32_t b_shift = 0) {
  ref::BroadcastShape s;
  ASSERT_TRUE(ref::ComputeBroadcast(a_dims.data(), static_cast<int32_t>(a_dims.size()), b_dims.data(),
                                    static_cast<int32_t>(b_dims.size()), &s));
  std::vector<int32_t> y_dims(s.out_dims, s.out_dims + s.rank);
  auto a = ref::testing::RandomCodes<int16_t>(rng, Count(a_dims)), b = ref::testing::RandomCodes<int16_t>(rng, Count(b_dims));
  if (extreme)
    for (size_t i = 0; i < a.size(); ++i) a[i] = i % 3 == 0 ? 32767 : -32768;
  if (extreme)
    for (size_t i = 0; i < b.size(); ++i) b[i] = i % 2 == 0 ? 32767 : -32768;
  std::uniform_int_distribution<int32_t> mult(1 << 30, 0x7fffffff);
  ref::ElementwiseParams p;
  p.a_zero_point = za;
  p.b_zero_point = zb;
  // (a − za)·2^left_shift < 2^31: with |a − za| <= 65535, left_shift <= 15.
  p.left_shift = 15;
  p.a_multiplier = extreme ? 0x7fffffff : mult(rng);
  p.a_shift = extreme ? 0 : a_shift != 0 ? a_shift : -1 - static_cast<int32_t>(rng() % 3);
  p.b_multiplier = extreme ? 0x7fffffff : mult(rng);
  p.b_shift = extreme ? 0 : b_shift != 0 ? b_shift : -1 - static_cast<int32_t>(rng() % 3);
  const int32_t out_mult = mult(rng), shift = out_shift;
  p.output = {&out_mult, &shift, 1, zy, -32768, 32767};
  const size_t n = Count(y_dims);
  for (int32_t sign : {1, -1}) {
    std::vector<int16_t> want(n + 1, 55);  // one guard element
    if (sign > 0) ref::Add<int16_t>(p, s, a.data(), b.data(), want.data());
    else ref::Sub<int16_t>(p, s, a.data(), b.data(), want.data());
    for (bool avx512 : {false, true}) {
      if (avx512 && !IsaSupported(Isa::kAvx512Vnni)) continue;
      std::vector<int16_t> got(n + 1, 55);
      portable::Qs16AddSub(p, sign, s, a.data(), b.data(), got.data(), avx512);
      ASSERT_EQ(got, want) << (sign > 0 ? "ADD" : "SUB") << (avx512 ? " avx512" : "") << ", " << n << " outputs"
                           << (extreme ? ", extreme" : "");
    }
  }
}

TEST(X86Misc, Int16AddSubEqualsTheReference) {
  std::mt19937 rng(70);
  for (int32_t n : {1, 15, 16, 17, 33, 64 * 384}) CheckAddSub16(rng, {n}, {n}, 0, 0, 0, -16, false);
  const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> cases = {
      {{64, 384}, {384}}, {{384}, {64, 384}}, {{5, 7}, {1}}, {{3, 1, 5}, {1, 4, 1}}, {{2, 3, 4, 5}, {3, 1, 5}}};
  for (const auto& c : cases) CheckAddSub16(rng, c.first, c.second, 17, -300, 5, -16, false);
  CheckAddSub16(rng, {70}, {70}, -32768, 32767, 0, -14, false);  // extreme zero points
  CheckAddSub16(rng, {70}, {70}, 0, 0, -7, -10, false);           // saturating outputs
  CheckAddSub16(rng, {70}, {70}, 0, 0, 0, 3, false);              // a left-shifting output
  CheckAddSub16(rng, {70}, {70}, 0, 0, 0, 3, false, -7, -8);      // the same inside the range
  CheckAddSub16(rng, {70}, {70}, 9, -9, 0, -16, false, 1);        // a left-shifting input (some saturate)
  CheckAddSub16(rng, {99}, {99}, -1, -1, 0, -16, true);           // the int32 sum's clamp (2^30 + 2^30)
}

}  // namespace
}  // namespace squint::rt
