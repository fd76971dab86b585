// ADD/SUB/MUL with broadcasting, LUT, REQUANTIZE and the 64-bit requantization, against float
// references on dequantized inputs (±1 code) or exact expectations.
#include <gtest/gtest.h>

#include "runtime/kernels/reference/fixed_point.h"
#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
namespace qm = squint::quant_math;

template <typename T>
class ElementwiseKernelTest : public ::testing::Test {};
using ActivationTypes = ::testing::Types<int8_t, int16_t>;
TYPED_TEST_SUITE(ElementwiseKernelTest, ActivationTypes);

// Random broadcastable shapes: out dims 0..4 of size 1..4, inputs keep or drop axes.
void RandomBroadcastShapes(std::mt19937& rng, std::vector<int32_t>* a, std::vector<int32_t>* b) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int rank = uni(0, 4);
  std::vector<int32_t> out(rank);
  for (auto& d : out) d = uni(1, 4);
  a->assign(out.begin() + uni(0, rank), out.end());
  b->assign(out.begin() + uni(0, rank), out.end());
  for (auto& d : *a) if (uni(0, 2) == 0) d = 1;
  for (auto& d : *b) if (uni(0, 2) == 0) d = 1;
}

int64_t Count(const std::vector<int32_t>& dims) {
  int64_t n = 1;
  for (int32_t d : dims) n *= d;
  return n;
}

// Element of x (dims `dims`, right-aligned to the output) at output multi-index `idx`.
int64_t BroadcastIndex(const std::vector<int32_t>& dims, const std::vector<int32_t>& idx) {
  int64_t off = 0;
  const size_t shift = idx.size() - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) off = off * dims[i] + (dims[i] == 1 ? 0 : idx[shift + i]);
  return off;
}

TEST(ComputeBroadcast, RejectsIncompatibleShapes) {
  BroadcastShape s;
  const int32_t a[2] = {2, 3}, b[2] = {3, 2}, c[1] = {3};
  EXPECT_FALSE(ComputeBroadcast(a, 2, b, 2, &s));
  ASSERT_TRUE(ComputeBroadcast(a, 2, c, 1, &s));
  EXPECT_EQ(s.rank, 2);
  EXPECT_EQ(s.out_dims[0], 2);
  EXPECT_EQ(s.a_strides[0], 3);
  EXPECT_EQ(s.b_strides[0], 0);
  EXPECT_EQ(s.b_strides[1], 1);
}

TYPED_TEST(ElementwiseKernelTest, AddSubMulMatchFloatWithinOneCode) {
  using T = TypeParam;
  std::mt19937 rng(11);
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<int32_t> ad, bd;
    RandomBroadcastShapes(rng, &ad, &bd);
    BroadcastShape s;
    ASSERT_TRUE(ComputeBroadcast(ad.data(), int32_t(ad.size()), bd.data(), int32_t(bd.size()), &s));
    const std::vector<int32_t> od(s.out_dims, s.out_dims + s.rank);
    const double s_a = RandomScale(rng, 1e-3, 1.0);
    const double s_b = s_a * RandomScale(rng, 0.02, 50.0);
    const int32_t za = RandomZeroPoint<T>(rng), zb = RandomZeroPoint<T>(rng);
    auto a = RandomCodes<T>(rng, Count(ad));
    auto b = RandomCodes<T>(rng, Count(bd));
    if (iter % 10 == 0) {  // extremes
      for (auto& v : a) v = std::numeric_limits<T>::lowest();
      for (auto& v : b) v = std::numeric_limits<T>::max();
    }
    for (int op = 0; op < 3; ++op) {
      std::vector<double> ref(Count(od));
      std::vector<int32_t> idx(od.size(), 0);
      for (auto& r : ref) {
        const double av = s_a * (a[BroadcastIndex(ad, idx)] - za);
        const double bv = s_b * (b[BroadcastIndex(bd, idx)] - zb);
        r = op == 0 ? av + bv : (op == 1 ? av - bv : av * bv);
        for (int i = int(idx.size()) - 1; i >= 0; --i) {
          if (++idx[i] < od[i]) break;
          idx[i] = 0;
        }
      }
      double s_y;
      int32_t z_y;
      CalibrateOutput<T>(ref, &s_y, &z_y);
      if (iter % 7 == 0) s_y *= 0.25;  // force saturation of the largest values
      ElementwiseParams p;
      p.a_zero_point = za;
      p.b_zero_point = zb;
      QuantizedMultiplier out;
      if (op < 2) {
        const auto ap = qm::BuildAddParams(s_a, s_b, s_y, sizeof(T) * 8);
        p.left_shift = ap.left_shift;
        p.a_multiplier = ap.a.multiplier;
        p.a_shift = ap.a.shift;
        p.b_multiplier = ap.b.multiplier;
        p.b_shift = ap.b.shift;
        out = ap.out;
      } else {
        out = qm::BuildMulRequant(s_a, s_b, s_y);
      }
      RequantOwner rq({out}, z_y, QMin<T>(), QMax<T>());
      p.output = rq.params;
      std::vector<T> y(ref.size());
      if (op == 0) Add<T>(p, s, a.data(), b.data(), y.data());
      if (op == 1) Sub<T>(p, s, a.data(), b.data(), y.data());
      if (op == 2) Mul<T>(p, s, a.data(), b.data(), y.data());
      std::vector<int32_t> want(ref.size());
      for (size_t i = 0; i < ref.size(); ++i) want[i] = Quantize<T>(ref[i], s_y, z_y);
      ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter << " op " << op;
    }
  }
}

TEST(Lut, GeluTableMatchesFloatAndClampsOutOfTableCodes) {
  const float s_in = 0.05f, s_out = 0.03f;
  const int32_t z_in = -3, z_out = -100;
  auto gelu = [](float x) { return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f))); };
  const auto lut = qm::BuildLut(s_in, z_in, s_out, z_out, gelu, 8, 8);
  ASSERT_EQ(lut.table.size(), 256u);
  std::vector<int8_t> x(256), y(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<int8_t>(i - 128);
  Lut<int8_t, int8_t>(256, x.data(), lut.table.data(), 256, lut.min_code, y.data());
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(y[i], Quantize<int8_t>(gelu(s_in * (x[i] - z_in)), s_out, z_out)) << i;
  }
  // A short table: codes outside it take the nearest end.
  const int16_t table[3] = {-5, 0, 300};
  const int16_t xi[5] = {-100, 9, 10, 11, 200};
  int8_t y8[5];
  int16_t y16[5];
  Lut<int16_t, int8_t>(5, xi, table, 3, 9, y8);
  Lut<int16_t, int16_t>(5, xi, table, 3, 9, y16);
  EXPECT_EQ(std::vector<int>(y8, y8 + 5), (std::vector<int>{-5, -5, 0, 127, 127}));  // saturated
  EXPECT_EQ(std::vector<int>(y16, y16 + 5), (std::vector<int>{-5, -5, 0, 300, 300}));
}

TEST(Lut, Int16InputFullTable) {
  const auto lut = qm::BuildLut(1e-3f, 0, 1.0f / 32767, 0, [](float v) { return std::tanh(v); }, 16, 16);
  ASSERT_EQ(lut.table.size(), 65536u);
  std::mt19937 rng(5);
  const auto x = RandomCodes<int16_t>(rng, 1000);
  std::vector<int16_t> y(x.size());
  Lut<int16_t, int16_t>(int32_t(x.size()), x.data(), lut.table.data(), 65536, lut.min_code, y.data());
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(y[i], std::tanh(1e-3 * x[i]) * 32767, 0.5 + 1e-6) << x[i];
}

template <typename TIn, typename TOut>
void CheckRequantize(std::mt19937& rng) {
  for (int iter = 0; iter < 50; ++iter) {
    const double s_in = RandomScale(rng, 1e-4, 1.0);
    const int32_t z_in = RandomZeroPoint<TIn>(rng);
    const double s_out = s_in * RandomScale(rng, 1.0 / 300, 300);
    const int32_t z_out = RandomZeroPoint<TOut>(rng);
    const auto p = qm::BuildRescale(s_in, z_in, s_out, z_out, {QMin<TOut>(), QMax<TOut>()});
    auto x = RandomCodes<TIn>(rng, 500);
    x[0] = std::numeric_limits<TIn>::lowest();
    x[1] = std::numeric_limits<TIn>::max();
    std::vector<TOut> y(x.size());
    Requantize<TIn, TOut>(p, int32_t(x.size()), x.data(), y.data());
    std::vector<int32_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = Quantize<TOut>(s_in * (x[i] - z_in), s_out, z_out);
    ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter;
  }
}

TEST(Requantize, AllTypePairsWithinOneCode) {
  std::mt19937 rng(9);
  CheckRequantize<int8_t, int8_t>(rng);
  CheckRequantize<int8_t, uint8_t>(rng);
  CheckRequantize<int8_t, int16_t>(rng);
  CheckRequantize<uint8_t, int8_t>(rng);
  CheckRequantize<uint8_t, uint8_t>(rng);
  CheckRequantize<uint8_t, int16_t>(rng);
  CheckRequantize<int16_t, int8_t>(rng);
  CheckRequantize<int16_t, uint8_t>(rng);
  CheckRequantize<int16_t, int16_t>(rng);
}

TEST(Requantize, IdentityIsExact) {
  RescaleParams p;  // M = 1, zero points 0
  p.input_zero_point = p.output_zero_point = 7;
  std::vector<int8_t> x(256), y(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<int8_t>(i - 128);
  Requantize<int8_t, int8_t>(p, 256, x.data(), y.data());
  EXPECT_EQ(x, y);
}

// MultiplyByQuantizedMultiplier64 is the exact product rounded half away from zero.
TEST(MultiplyByQuantizedMultiplier64, ExactSingleRoundingAndSaturation) {
  std::mt19937_64 rng(1);
  for (int iter = 0; iter < 200000; ++iter) {
    const int bits = static_cast<int>(rng() % 62);
    int64_t x = static_cast<int64_t>(rng() >> (64 - bits - 1)) - (bits > 0 ? (int64_t{1} << bits) : 0);
    if (iter % 100 == 0) x = (iter % 200 == 0 ? 1 : -1) * ((int64_t{1} << 62) - 1);
    QuantizedMultiplier m;
    m.multiplier = static_cast<int32_t>((int64_t{1} << 30) + static_cast<int64_t>(rng() % (uint64_t{1} << 30)));
    m.shift = static_cast<int32_t>(rng() % 62) - 31;
    const __int128 prod = static_cast<__int128>(x) * m.multiplier;
    const int r = 31 - m.shift;
    const __int128 mag = prod < 0 ? -prod : prod;
    __int128 q = (mag + (static_cast<__int128>(1) << (r - 1))) >> r;
    if (prod < 0) q = -q;
    const __int128 lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
    const int64_t want = static_cast<int64_t>(q < lo ? lo : (q > hi ? hi : q));
    ASSERT_EQ(MultiplyByQuantizedMultiplier64(x, m), want) << x << " " << m.multiplier << " " << m.shift;
  }
  EXPECT_EQ(MultiplyByQuantizedMultiplier64(3, {1 << 30, 0}), 2);    // 1.5 → 2
  EXPECT_EQ(MultiplyByQuantizedMultiplier64(-3, {1 << 30, 0}), -2);  // −1.5 → −2
  EXPECT_EQ(MultiplyByQuantizedMultiplier64(5, {0, 0}), 0);
}

}  // namespace
}  // namespace squint::rt::ref
