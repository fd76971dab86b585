// CONV_2D, FULLY_CONNECTED, BATCH_MATMUL against a float reference on dequantized inputs
// (±1 code), plus worst-case accumulator bounds.
#include <gtest/gtest.h>

#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
namespace qm = squint::quant_math;

template <typename T>
class LinearKernelTest : public ::testing::Test {};
using ActivationTypes = ::testing::Types<int8_t, int16_t>;
TYPED_TEST_SUITE(LinearKernelTest, ActivationTypes);

TYPED_TEST(LinearKernelTest, Conv2DMatchesFloatWithinOneCode) {
  using T = TypeParam;
  std::mt19937 rng(42);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const std::optional<Conv2DParams> geometry = RandomConvGeometry(rng);
    if (!geometry) continue;
    Conv2DParams p = *geometry;
    const int cin_g = p.in_channels / p.groups, cout_g = p.out_channels / p.groups;
    ++cases;
    const double s_x = RandomScale(rng, 1e-3, 1.0);
    p.input_zero_point = RandomZeroPoint<T>(rng);
    std::vector<float> s_w(p.out_channels);
    for (auto& s : s_w) s = static_cast<float>(RandomScale(rng, 1e-3, 0.1));
    const auto x = RandomCodes<T>(rng, size_t(p.batch) * p.in_channels * p.in_h * p.in_w);
    std::vector<int8_t> w(size_t(p.out_channels) * cin_g * p.kernel_h * p.kernel_w);
    for (auto& v : w) v = static_cast<int8_t>(uni(-127, 127));
    std::vector<float> bias_f(p.out_channels);
    for (auto& b : bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
    const auto bias = qm::QuantizeBias(bias_f, s_x, s_w);
    // Float reference on dequantized values.
    std::vector<double> ref(size_t(p.batch) * p.out_channels * p.out_h * p.out_w);
    size_t o = 0;
    for (int n = 0; n < p.batch; ++n)
      for (int oc = 0; oc < p.out_channels; ++oc)
        for (int oh = 0; oh < p.out_h; ++oh)
          for (int ow = 0; ow < p.out_w; ++ow) {
            const int g = oc / cout_g;
            double acc = bias[oc] * s_x * s_w[oc];
            for (int ic = 0; ic < cin_g; ++ic)
              for (int kh = 0; kh < p.kernel_h; ++kh)
                for (int kw = 0; kw < p.kernel_w; ++kw) {
                  const int ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
                  const int iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
                  if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
                  const int c = g * cin_g + ic;
                  const double xv =
                      s_x * (x[((size_t(n) * p.in_channels + c) * p.in_h + ih) * p.in_w + iw] -
                             p.input_zero_point);
                  const double wv =
                      s_w[oc] * w[((size_t(oc) * cin_g + ic) * p.kernel_h + kh) * p.kernel_w + kw];
                  acc += xv * wv;
                }
            ref[o++] = acc;
          }
    double s_y;
    int32_t z_y;
    CalibrateOutput<T>(ref, &s_y, &z_y);
    const bool relu = uni(0, 1) == 1;
    const auto range = qm::BuildActivationRange({QMin<T>(), QMax<T>()}, s_y, z_y,
                                                relu ? 0.0 : -INFINITY, INFINITY);
    RequantOwner rq(qm::BuildChannelRequant(s_x, s_w, s_y), z_y, range.min, range.max);
    p.requant = rq.params;
    std::vector<T> y(ref.size());
    Conv2D<T>(p, x.data(), w.data(), bias.data(), y.data());
    std::vector<int32_t> want(ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      want[i] = std::clamp(Quantize<T>(ref[i], s_y, z_y), range.min, range.max);
    ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter << " groups " << p.groups;
  }
  EXPECT_GT(cases, 150);
}

TEST(Conv2D, ZeroSizeBatchAndPaddingOnlyWindows) {
  Conv2DParams p;
  p.batch = 0;
  p.in_channels = p.out_channels = 1;
  p.in_h = p.in_w = 2;
  p.out_h = p.out_w = 2;
  int32_t m = 1 << 30, s = 1;
  p.requant = RequantParams{&m, &s, 1, 0, -128, 127};
  int8_t x[4] = {1, 2, 3, 4}, w[1] = {1}, y[4] = {9, 9, 9, 9};
  Conv2D<int8_t>(p, x, w, nullptr, y);  // nothing written
  EXPECT_EQ(y[0], 9);
  // 1x1 kernel, stride 3, pad 2: the first output window lies entirely in padding → bias.
  p.batch = 1;
  p.stride_h = p.stride_w = 3;
  p.pad_top = p.pad_left = 2;
  p.out_h = p.out_w = 1;
  p.input_zero_point = 5;
  int32_t bias[1] = {-7};
  Conv2D<int8_t>(p, x, w, bias, y);
  EXPECT_EQ(y[0], -7);
}

TYPED_TEST(LinearKernelTest, FullyConnectedMatchesFloatWithinOneCode) {
  using T = TypeParam;
  std::mt19937 rng(7);
  for (int iter = 0; iter < 100; ++iter) {
    FullyConnectedParams p;
    p.rows = std::uniform_int_distribution<int>(0, 5)(rng);
    p.depth = std::uniform_int_distribution<int>(1, 300)(rng);
    p.units = std::uniform_int_distribution<int>(1, 9)(rng);
    const double s_x = RandomScale(rng, 1e-3, 1.0);
    p.input_zero_point = RandomZeroPoint<T>(rng);
    const bool per_channel = iter % 2 == 0;
    std::vector<float> s_w(per_channel ? p.units : 1);
    for (auto& s : s_w) s = static_cast<float>(RandomScale(rng, 1e-3, 0.1));
    const auto x = RandomCodes<T>(rng, size_t(p.rows) * p.depth);
    auto w = RandomCodes<int8_t>(rng, size_t(p.units) * p.depth);
    std::vector<float> bias_f(p.units);
    for (auto& b : bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 2)(rng));
    const auto bias = qm::QuantizeBias(bias_f, s_x, s_w);
    std::vector<double> ref(size_t(p.rows) * p.units);
    for (int r = 0; r < p.rows; ++r)
      for (int u = 0; u < p.units; ++u) {
        const double sw = s_w[per_channel ? u : 0];
        double acc = bias[u] * s_x * sw;
        for (int k = 0; k < p.depth; ++k)
          acc += s_x * (x[size_t(r) * p.depth + k] - p.input_zero_point) * sw * w[size_t(u) * p.depth + k];
        ref[size_t(r) * p.units + u] = acc;
      }
    double s_y;
    int32_t z_y;
    CalibrateOutput<T>(ref, &s_y, &z_y);
    RequantOwner rq(qm::BuildChannelRequant(s_x, s_w, s_y), z_y, QMin<T>(), QMax<T>());
    p.requant = rq.params;
    std::vector<T> y(ref.size());
    FullyConnected<T>(p, x.data(), w.data(), bias.data(), y.data());
    std::vector<int32_t> want(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) want[i] = Quantize<T>(ref[i], s_y, z_y);
    ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter;
  }
}

// A grouped layer is the dense layer whose weight is block-diagonal (zeros outside each unit's
// group), bit for bit: the zero products add nothing to the exact integer accumulator.
TYPED_TEST(LinearKernelTest, GroupedFullyConnectedIsTheDenseBlockDiagonalLayer) {
  using T = TypeParam;
  std::mt19937 rng(11);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 100; ++iter) {
    FullyConnectedParams grouped;
    grouped.groups = uni(1, 6);
    const int group_depth = uni(1, 40), group_units = uni(1, 5);
    grouped.rows = uni(0, 4);
    grouped.depth = grouped.groups * group_depth;
    grouped.units = grouped.groups * group_units;
    grouped.input_zero_point = RandomZeroPoint<T>(rng);
    std::vector<float> s_w(static_cast<size_t>(grouped.units));
    for (auto& s : s_w) s = static_cast<float>(RandomScale(rng, 1e-3, 0.1));
    const auto x = RandomCodes<T>(rng, size_t(grouped.rows) * grouped.depth);
    const auto w = RandomCodes<int8_t>(rng, size_t(grouped.units) * group_depth);
    std::vector<int8_t> dense(size_t(grouped.units) * grouped.depth, 0);
    for (int u = 0; u < grouped.units; ++u)
      for (int k = 0; k < group_depth; ++k)
        dense[size_t(u) * grouped.depth + size_t(u / group_units) * group_depth + k] = w[size_t(u) * group_depth + k];
    std::vector<int32_t> bias(static_cast<size_t>(grouped.units));
    for (auto& b : bias) b = uni(-5000, 5000);
    RequantOwner rq(qm::BuildChannelRequant(RandomScale(rng, 1e-3, 1.0), s_w, RandomScale(rng, 1e-3, 1.0)),
                    RandomZeroPoint<T>(rng), QMin<T>(), QMax<T>());
    grouped.requant = rq.params;
    FullyConnectedParams full = grouped;
    full.groups = 1;
    std::vector<T> y_grouped(size_t(grouped.rows) * grouped.units), y_full(y_grouped.size());
    FullyConnected<T>(grouped, x.data(), w.data(), bias.data(), y_grouped.data());
    FullyConnected<T>(full, x.data(), dense.data(), bias.data(), y_full.data());
    ASSERT_EQ(y_grouped, y_full) << "iter " << iter;
  }
}

// Worst-case accumulators: every product at its extreme, at the largest depth prepare allows.
TEST(FullyConnected, WorstCaseAccumulatorDoesNotOverflowInt32) {
  EXPECT_TRUE(Int8DotFitsInt32(4096, 0, 0));
  EXPECT_TRUE(Int8DotFitsInt32(32768, 127, int64_t{1} << 30));
  EXPECT_TRUE(Int8DotFitsInt32(32768, -128, int64_t{1} << 30));
  EXPECT_TRUE(Int8DotFitsInt32(65793, 127, 0));  // 65793·255·128 = 2^31 − 127
  EXPECT_FALSE(Int8DotFitsInt32(65794, 127, 0));
  EXPECT_FALSE(Int8DotFitsInt32(1, 0, int64_t{1} << 31));
  EXPECT_TRUE(Int8MatMulFitsInt32(33025, 127, 127));  // 33025·255² < 2^31 − 1
  EXPECT_FALSE(Int8MatMulFitsInt32(33026, 127, 127));
  for (int32_t zp : {0, 127}) {
    FullyConnectedParams p;
    p.rows = 1;
    p.depth = zp == 0 ? 4096 : 32768;
    p.units = 2;
    p.input_zero_point = zp;
    std::vector<int8_t> x(p.depth, -128);
    std::vector<int8_t> w(size_t(2) * p.depth, -128);
    for (int k = 0; k < p.depth; ++k) w[p.depth + k] = 127;
    const int32_t b = zp == 0 ? 0 : (1 << 30);
    int32_t bias[2] = {b, -b};
    const int64_t acc0 = int64_t{p.depth} * (-128 - zp) * -128 + b;
    const int64_t acc1 = int64_t{p.depth} * (-128 - zp) * 127 - b;
    ASSERT_LT(std::llabs(acc0), int64_t{1} << 31);
    ASSERT_LT(std::llabs(acc1), int64_t{1} << 31);
    const auto m = qm::RequantFromReal(100.0 / static_cast<double>(std::llabs(acc0)));
    RequantOwner rq({m}, 0, -128, 127);
    p.requant = rq.params;
    int8_t y[2];
    FullyConnected<int8_t>(p, x.data(), w.data(), bias, y);
    EXPECT_EQ(y[0], 100);
    EXPECT_EQ(y[1], Quantize<int8_t>(100.0 * acc1 / acc0, 1.0, 0));
  }
}

TYPED_TEST(LinearKernelTest, BatchMatMulBroadcastMatchesFloatWithinOneCode) {
  using T = TypeParam;
  std::mt19937 rng(3);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    BatchMatMulParams p;
    p.batch_rank = uni(0, 3);
    int32_t a_dims[4], b_dims[4];
    for (int i = 0; i < p.batch_rank; ++i) {
      p.batch_dims[i] = uni(1, 3);
      a_dims[i] = uni(0, 1) ? p.batch_dims[i] : 1;
      b_dims[i] = uni(0, 1) ? p.batch_dims[i] : 1;
    }
    int64_t as = 1, bs = 1;
    for (int i = p.batch_rank - 1; i >= 0; --i) {
      p.a_batch_strides[i] = a_dims[i] == 1 ? 0 : static_cast<int32_t>(as);
      p.b_batch_strides[i] = b_dims[i] == 1 ? 0 : static_cast<int32_t>(bs);
      as *= a_dims[i];
      bs *= b_dims[i];
    }
    p.m = uni(1, 5);
    p.k = uni(1, 64);
    p.n = uni(1, 5);
    const double s_a = RandomScale(rng, 1e-2, 1.0), s_b = RandomScale(rng, 1e-2, 1.0);
    p.a_zero_point = RandomZeroPoint<T>(rng);
    p.b_zero_point = RandomZeroPoint<T>(rng);
    const auto a = RandomCodes<T>(rng, size_t(as) * p.m * p.k);
    const auto b = RandomCodes<T>(rng, size_t(bs) * p.k * p.n);
    int64_t batches = 1;
    for (int i = 0; i < p.batch_rank; ++i) batches *= p.batch_dims[i];
    std::vector<double> ref;
    for (int64_t bi = 0; bi < batches; ++bi) {
      int64_t rest = bi, ao = 0, bo = 0;
      for (int i = p.batch_rank - 1; i >= 0; --i) {
        const int64_t idx = rest % p.batch_dims[i];
        rest /= p.batch_dims[i];
        ao += idx * p.a_batch_strides[i];
        bo += idx * p.b_batch_strides[i];
      }
      for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) {
          double acc = 0;
          for (int k = 0; k < p.k; ++k)
            acc += s_a * (a[(ao * p.m + i) * p.k + k] - p.a_zero_point) * s_b *
                   (b[(bo * p.k + k) * p.n + j] - p.b_zero_point);
          ref.push_back(acc);
        }
    }
    double s_y;
    int32_t z_y;
    CalibrateOutput<T>(ref, &s_y, &z_y);
    RequantOwner rq({qm::RequantFromReal(s_a * s_b / s_y)}, z_y, QMin<T>(), QMax<T>());
    p.requant = rq.params;
    std::vector<T> y(ref.size());
    BatchMatMul<T>(p, a.data(), b.data(), y.data());
    std::vector<int32_t> want(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) want[i] = Quantize<T>(ref[i], s_y, z_y);
    ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter;
  }
}

}  // namespace
}  // namespace squint::rt::ref
