// SOFTMAX (plain, clipped, masked, int16 input, uint8 output) and LAYER_NORM (incl. constant
// and small-variance rows) against float references on dequantized inputs; IntegerSqrt exactness.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
namespace qm = squint::quant_math;

// Float softmax (optionally clipped) over the kept positions of one row, as output codes
// (scale 1/2^bits, zero point zp, codes up to zp + 2^bits − 1).
std::vector<int32_t> FloatSoftmaxCodes(const std::vector<double>& v, const std::vector<bool>& keep,
                                       double zeta, double gamma, int32_t zp, int bits) {
  double m = -INFINITY, sum = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (keep[i]) m = std::max(m, v[i]);
  for (size_t i = 0; i < v.size(); ++i)
    if (keep[i]) sum += std::exp(v[i] - m);
  std::vector<int32_t> out(v.size(), zp);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!keep[i]) continue;
    const double p = std::clamp((zeta - gamma) * std::exp(v[i] - m) / sum + gamma, 0.0, 1.0);
    const double levels = std::ldexp(1.0, bits);
    out[i] = zp + static_cast<int32_t>(std::min(levels - 1, std::round(p * levels)));
  }
  return out;
}

template <typename TIn, typename TOut>
void CheckSoftmax(uint32_t seed, bool clipped, bool masked, bool low_bits = false) {
  std::mt19937 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int32_t zp = std::is_same<TOut, int8_t>::value ? -128 : 0;
  for (int iter = 0; iter < 40; ++iter) {
    const int heads = uni(1, 3), t = uni(1, 40);
    const int32_t depth = masked ? t : uni(1, 300);
    const int32_t rows = masked ? heads * t : uni(0, 6);
    const double s_in = sizeof(TIn) == 1 ? RandomScale(rng, 0.005, 0.5) : RandomScale(rng, 2e-4, 2e-3);
    const int exp_bits = uni(12, 22);
    const auto table = qm::BuildSoftmaxExpTable(static_cast<float>(s_in), exp_bits, sizeof(TIn) * 8);
    const double zeta = clipped ? 1.0 + 0.01 * uni(0, 5) : 1.0;
    const double gamma = clipped ? -0.005 * uni(1, 10) : 0.0;
    const int bits = low_bits ? 2 + iter % 7 : 8;  // low_bits: every output width 2..8
    SoftmaxParams p = SoftmaxOver(rows, depth, table, exp_bits);
    p.output_bits = bits;
    qm::BuildSoftmaxClip(float(zeta), float(gamma), &p.clip_scale_q16, &p.clip_offset_q16);
    p.output_zero_point = zp;
    // Causal mask [t, t] broadcast over heads; every 5th iteration masks one row entirely.
    std::vector<uint8_t> mask(size_t(t) * t);
    for (int i = 0; i < t; ++i)
      for (int j = 0; j < t; ++j) mask[size_t(i) * t + j] = j <= i && !(iter % 5 == 0 && i == t / 2);
    if (masked) SetSoftmaxMask(&p, mask.data(), {heads, t, t}, {0, t, 1});
    auto x = RandomCodes<TIn>(rng, size_t(rows) * depth);
    if (iter % 4 == 1)  // extremes: one huge logit and the rest at the bottom
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = i % depth == 0 ? std::numeric_limits<TIn>::max() : std::numeric_limits<TIn>::lowest();
    std::vector<TOut> y(x.size());
    Softmax<TIn, TOut>(p, x.data(), y.data());
    for (int32_t r = 0; r < rows; ++r) {
      std::vector<double> v(depth);
      std::vector<bool> keep(depth, true);
      for (int32_t i = 0; i < depth; ++i) {
        v[i] = s_in * x[size_t(r) * depth + i];
        if (masked) keep[i] = mask[size_t(r % t) * t + i] != 0;
      }
      const auto want = FloatSoftmaxCodes(v, keep, zeta, gamma, zp, bits);
      for (int32_t i = 0; i < depth; ++i) {
        const int32_t got = y[size_t(r) * depth + i];
        if (!keep[i]) {
          ASSERT_EQ(got, zp) << "masked position must be exactly probability 0";
        } else {
          ASSERT_LE(std::abs(got - want[i]), 1) << "iter " << iter << " row " << r << " i " << i;
        }
      }
    }
  }
}

TEST(Softmax, Int8PlainWithinOneCode) { CheckSoftmax<int8_t, int8_t>(1, false, false); }
TEST(Softmax, Int8ToUint8WithinOneCode) { CheckSoftmax<int8_t, uint8_t>(2, false, false); }
TEST(Softmax, Int16InputWithinOneCode) { CheckSoftmax<int16_t, int8_t>(3, false, false); }
TEST(Softmax, ClippedWithinOneCode) { CheckSoftmax<int8_t, int8_t>(4, true, false); }
TEST(Softmax, CausalMaskAndFullyMaskedRows) { CheckSoftmax<int8_t, int8_t>(5, false, true); }
TEST(Softmax, ClippedMaskedInt16ToUint8) { CheckSoftmax<int16_t, uint8_t>(6, true, true); }
TEST(Softmax, OutputBits2To8WithinOneCode) { CheckSoftmax<int8_t, int8_t>(7, false, false, true); }
TEST(Softmax, OutputBits2To8ClippedMaskedUint8) { CheckSoftmax<int16_t, uint8_t>(8, true, true, true); }

TEST(Softmax, AllMaskedRowIsAllZeroProbability) {
  const auto table = qm::BuildSoftmaxExpTable(0.1f, 16);
  SoftmaxParams p;
  p.rows = 2;
  p.depth = 3;
  p.exp_table = table.data();
  p.exp_table_size = 256;
  p.exp_bits = 16;
  const uint8_t mask[2] = {0, 1};  // [2, 1] broadcast over the last axis: row 0 fully masked
  p.mask = mask;
  p.rank = 2;
  p.dims[0] = 2;
  p.dims[1] = 3;
  p.mask_strides[0] = 1;
  p.mask_strides[1] = 0;
  const int8_t x[6] = {127, -128, 5, 3, 3, 3};
  int8_t y[6];
  Softmax<int8_t, int8_t>(p, x, y);
  EXPECT_EQ(std::vector<int>(y, y + 6), (std::vector<int>{-128, -128, -128, -43, -43, -43}));
  const int8_t one[1] = {-7};  // a single element has probability 1 → the top code
  p.rows = 1;
  p.depth = 1;
  p.mask = nullptr;
  Softmax<int8_t, int8_t>(p, one, y);
  EXPECT_EQ(y[0], 127);
}

TEST(IntegerSqrt, FloorOfSqrtExhaustiveSmallAndEdgesUpTo2To64) {
  auto check = [](uint64_t n) {
    const uint64_t r = IntegerSqrt(n);
    const unsigned __int128 r2 = static_cast<unsigned __int128>(r) * r;
    const unsigned __int128 r1 = static_cast<unsigned __int128>(r + 1) * (r + 1);
    return r2 <= n && n < r1;
  };
  for (uint64_t n = 0; n < (1u << 20); ++n) ASSERT_TRUE(check(n)) << n;
  for (uint64_t k : {uint64_t{1} << 16, uint64_t{1} << 30, (uint64_t{1} << 31) - 1, uint64_t{1} << 31,
                     uint64_t{3037000499}, uint64_t{3037000500}, (uint64_t{1} << 32) - 1}) {
    for (uint64_t n : {k * k - 1, k * k, k * k + 1}) ASSERT_TRUE(check(n)) << n;
  }
  EXPECT_EQ(IntegerSqrt(uint64_t{1} << 62), uint64_t{1} << 31);
  EXPECT_EQ(IntegerSqrt((uint64_t{1} << 62) - 1), (uint64_t{1} << 31) - 1);
  EXPECT_EQ(IntegerSqrt(~uint64_t{0}), (uint64_t{1} << 32) - 1);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000000; ++i) {
    const uint64_t n = rng() >> (rng() % 64);
    ASSERT_TRUE(check(n)) << n;
    const uint64_t k = rng() >> 32;  // perfect squares and neighbours at every magnitude
    ASSERT_TRUE(check(k * k)) << k;
    if (k > 0) {
      ASSERT_TRUE(check(k * k - 1)) << k;
    }
  }
}

// LayerNorm, or with rms RMSNorm (no mean subtraction; the input zero point enters), against
// the float formula on the input grid: within one output code.
template <typename T>
void CheckLayerNorm(uint32_t seed, bool rms = false) {
  std::mt19937 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int32_t worst = 0;
  for (int iter = 0; iter < 60; ++iter) {
    const int32_t c = std::vector<int32_t>{1, 2, 3, 7, 64, 384, 768}[uni(0, 6)];
    const int32_t rows = uni(1, 8);
    const double s_in = RandomScale(rng, 1e-3, 0.2);
    const float eps = iter % 3 == 0 ? 1e-12f : 1e-5f;
    std::vector<float> gamma(c), beta(c);
    for (auto& g : gamma) g = static_cast<float>(std::normal_distribution<double>(1, 0.5)(rng));
    for (auto& b : beta) b = static_cast<float>(std::normal_distribution<double>(0, 0.5)(rng));
    std::vector<T> x(size_t(rows) * c);
    for (int32_t r = 0; r < rows; ++r) {
      // Row spreads from constant (variance 0) and tiny (1–3 codes) to the full range.
      const int spread = std::vector<int>{0, 1, 3, 20, QMax<T>()}[uni(0, 4)];
      const int center = uni(QMin<T>() + spread / 2, QMax<T>() - spread / 2);
      for (int32_t i = 0; i < c; ++i)
        x[size_t(r) * c + i] = static_cast<T>(std::clamp(center + uni(-spread / 2, spread - spread / 2),
                                                         QMin<T>(), QMax<T>()));
    }
    const int32_t z_in = RandomZeroPoint<T>(rng);
    std::vector<double> ref(x.size());
    for (int32_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int32_t i = 0; i < c; ++i) mean += s_in * (x[size_t(r) * c + i] - z_in);
      mean = rms ? 0.0 : mean / c;
      for (int32_t i = 0; i < c; ++i) var += std::pow(s_in * (x[size_t(r) * c + i] - z_in) - mean, 2);
      var /= c;
      for (int32_t i = 0; i < c; ++i)
        ref[size_t(r) * c + i] =
            (s_in * (x[size_t(r) * c + i] - z_in) - mean) / std::sqrt(var + eps) * gamma[i] + beta[i];
    }
    double s_y;
    int32_t z_y;
    CalibrateOutput<T>(ref, &s_y, &z_y);
    const auto lp = qm::BuildLayerNormParams(float(s_in), float(s_y), gamma, beta, eps,
                                             sizeof(T) == 1 ? 12 : 16);
    RequantOwner rq({lp.requant}, z_y, QMin<T>(), QMax<T>());
    LayerNormParams p;
    p.rows = rows;
    p.channels = c;
    p.rms = rms;
    p.input_zero_point = z_in;
    p.norm_bits = lp.norm_bits;
    p.epsilon_q = lp.epsilon_q;
    p.gamma_q = lp.gamma_q.data();
    p.beta_q = lp.beta_q.data();
    p.requant = rq.params;
    std::vector<T> y(x.size());
    LayerNorm<T>(p, x.data(), y.data());
    std::vector<int32_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = Quantize<T>(ref[i], s_y, z_y);
    // norm_bits = 12 suffices for int8 outputs; int16 outputs need 16 (with 12 the rounding of
    // n, 2^-13 absolute, shows up as up to 3 codes of 65536).
    const int32_t tolerance = 1;
    worst = std::max(worst, MaxAbsDiff(y, want));
    ASSERT_LE(MaxAbsDiff(y, want), tolerance) << "iter " << iter << " C " << c;
  }
  std::printf("%s int%d: max |error| = %d codes\n", rms ? "RMSNorm" : "LayerNorm", int(8 * sizeof(T)), worst);
}

TEST(LayerNorm, Int8WithinOneCodeIncludingConstantAndTinyVarianceRows) { CheckLayerNorm<int8_t>(1); }
TEST(LayerNorm, Int16) { CheckLayerNorm<int16_t>(2); }
TEST(LayerNorm, RmsModeInt8WithZeroPoint) { CheckLayerNorm<int8_t>(3, /*rms=*/true); }
TEST(LayerNorm, RmsModeInt16WithZeroPoint) { CheckLayerNorm<int16_t>(4, /*rms=*/true); }

TEST(LayerNorm, ConstantRowWithZeroEpsilonGivesBeta) {
  int32_t gamma_q[3] = {1000, -1000, 5}, beta_q[3] = {0, 4096 * 7, -4096 * 3};
  const auto m = qm::RequantFromReal(1.0 / 4096);  // acc in units of 2^-12 → codes
  RequantOwner rq({m}, 0, -128, 127);
  LayerNormParams p;
  p.rows = 1;
  p.channels = 3;
  p.norm_bits = 12;
  p.epsilon_q = 0;
  p.gamma_q = gamma_q;
  p.beta_q = beta_q;
  p.requant = rq.params;
  const int8_t x[3] = {-128, -128, -128};
  int8_t y[3];
  LayerNorm<int8_t>(p, x, y);
  EXPECT_EQ(std::vector<int>(y, y + 3), (std::vector<int>{0, 7, -3}));
}

}  // namespace
}  // namespace squint::rt::ref

namespace squint::rt::ref {
namespace {

// A mask computed at run time (int32, any nonzero keeps) gives the same codes as the same mask
// stored as bytes: both paths of `kept` are one rule.
TEST(Softmax, Int32MaskEqualsByteMask) {
  const auto table = squint::quant_math::BuildSoftmaxExpTable(0.05f, 16);
  std::mt19937 rng(11);
  const int heads = 3, t = 7;
  std::vector<int8_t> x(size_t(heads) * t * t);
  for (auto& v : x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  std::vector<uint8_t> m8(t);
  std::vector<int32_t> m32(t);
  for (int j = 0; j < t; ++j) {
    m8[j] = j % 3 != 1;
    m32[j] = m8[j] ? (j % 2 ? 1 : -5) : 0;  // any nonzero keeps
  }
  SoftmaxParams p;
  p.rows = heads * t;
  p.depth = t;
  p.exp_table = table.data();
  p.exp_table_size = 256;
  p.exp_bits = 16;
  testing::SetSoftmaxMask(&p, m8.data(), {heads, t, t}, {0, 0, 1});
  std::vector<int8_t> y8(x.size()), y32(x.size());
  Softmax<int8_t, int8_t>(p, x.data(), y8.data());
  p.mask = nullptr;
  p.mask32 = m32.data();
  for (int i = 0; i < 3; ++i) p.mask32_strides[i] = p.mask_strides[i];
  Softmax<int8_t, int8_t>(p, x.data(), y32.data());
  EXPECT_EQ(y8, y32);
  int zeros = 0;
  for (size_t i = 0; i < y8.size(); ++i) zeros += m8[i % t] == 0 && y8[i] == -128;
  EXPECT_EQ(zeros, heads * t * 2);  // every masked position is probability 0

  // Both at once (HF GPT-2: a causal byte mask and a padding mask input): kept where both keep,
  // the same codes as the one byte mask of their product.
  std::vector<uint8_t> causal(size_t(t) * t), both(size_t(t) * t);
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j) {
      causal[size_t(i) * t + j] = j <= i;
      both[size_t(i) * t + j] = j <= i && m32[j] != 0;
    }
  testing::SetSoftmaxMask(&p, causal.data(), {heads, t, t}, {0, t, 1});
  for (int i = 0; i < 3; ++i) p.mask32_strides[i] = i == 2 ? 1 : 0;
  std::vector<int8_t> y_two(x.size()), y_one(x.size());
  Softmax<int8_t, int8_t>(p, x.data(), y_two.data());
  p.mask32 = nullptr;
  testing::SetSoftmaxMask(&p, both.data(), {heads, t, t}, {0, t, 1});
  Softmax<int8_t, int8_t>(p, x.data(), y_one.data());
  EXPECT_EQ(y_two, y_one);
}

}  // namespace
}  // namespace squint::rt::ref
