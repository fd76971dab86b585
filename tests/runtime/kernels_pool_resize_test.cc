// MAX/AVERAGE_POOL_2D and RESIZE against direct float references (max pool and nearest resize
// exact; average pool and linear resize within ±1 code).
#include <gtest/gtest.h>

#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
namespace qm = squint::quant_math;

template <typename T>
class PoolKernelTest : public ::testing::Test {};
using ActivationTypes = ::testing::Types<int8_t, int16_t>;
TYPED_TEST_SUITE(PoolKernelTest, ActivationTypes);

TYPED_TEST(PoolKernelTest, MaxAndAverageMatchReference) {
  using T = TypeParam;
  std::mt19937 rng(21);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 300; ++iter) {
    Pool2DParams p;
    p.batch = uni(0, 2);
    p.channels = uni(1, 3);
    p.in_h = uni(1, 8);
    p.in_w = uni(1, 8);
    const bool global = iter % 10 == 0;
    p.kernel_h = global ? p.in_h : uni(1, 3);
    p.kernel_w = global ? p.in_w : uni(1, 3);
    if (!global) {
      p.stride_h = uni(1, 4);  // stride may exceed the kernel
      p.stride_w = uni(1, 4);
      p.dilation_h = uni(1, 2);
      p.dilation_w = uni(1, 2);
      p.pad_top = uni(0, 3);  // pads may exceed the kernel: windows entirely in padding
      p.pad_left = uni(0, 3);
      p.pad_bottom = uni(0, 3);
      p.pad_right = uni(0, 3);
    }
    p.count_include_pad = uni(0, 1) == 1;
    p.out_h = (p.in_h + p.pad_top + p.pad_bottom - p.dilation_h * (p.kernel_h - 1) - 1) / p.stride_h + 1;
    p.out_w = (p.in_w + p.pad_left + p.pad_right - p.dilation_w * (p.kernel_w - 1) - 1) / p.stride_w + 1;
    if (p.out_h <= 0 || p.out_w <= 0) continue;
    const double s_in = RandomScale(rng, 1e-3, 1.0);
    p.input_zero_point = RandomZeroPoint<T>(rng);
    const double s_out = s_in * RandomScale(rng, 0.5, 2.0);
    const int32_t z_out = RandomZeroPoint<T>(rng);
    const auto x = RandomCodes<T>(rng, size_t(p.batch) * p.channels * p.in_h * p.in_w);
    const size_t n_out = size_t(p.batch) * p.channels * p.out_h * p.out_w;
    std::vector<int32_t> want_max(n_out), want_avg(n_out);
    // Max pool keeps the input's parameters; a fused ReLU narrows act_min to the zero point.
    const int32_t act_min = uni(0, 1) ? p.input_zero_point : QMin<T>();
    size_t o = 0;
    for (int plane = 0; plane < p.batch * p.channels; ++plane)
      for (int oh = 0; oh < p.out_h; ++oh)
        for (int ow = 0; ow < p.out_w; ++ow, ++o) {
          int32_t best = act_min;
          double sum = 0;
          int count = 0;
          for (int kh = 0; kh < p.kernel_h; ++kh)
            for (int kw = 0; kw < p.kernel_w; ++kw) {
              const int ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
              const int iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
              const bool inside = ih >= 0 && ih < p.in_h && iw >= 0 && iw < p.in_w;
              const bool in_pad = ih >= -p.pad_top && ih < p.in_h + p.pad_bottom &&
                                  iw >= -p.pad_left && iw < p.in_w + p.pad_right;
              if (inside) {
                const int32_t v = x[(size_t(plane) * p.in_h + ih) * p.in_w + iw];
                best = std::max(best, v);
                sum += s_in * (v - p.input_zero_point);
              }
              if (p.count_include_pad ? in_pad : inside) ++count;
            }
          want_max[o] = best;
          want_avg[o] = Quantize<T>(count ? sum / count : 0.0, s_out, z_out);
        }
    std::vector<T> y(n_out);
    RequantOwner max_rq({qm::RequantFromReal(1.0)}, p.input_zero_point, act_min, QMax<T>());
    p.requant = max_rq.params;
    MaxPool2D<T>(p, x.data(), y.data());
    ASSERT_EQ(MaxAbsDiff(y, want_max), 0) << "iter " << iter;
    RequantOwner avg_rq({qm::BuildAvgPoolRequant(s_in, s_out)}, z_out, QMin<T>(), QMax<T>());
    p.requant = avg_rq.params;
    AveragePool2D<T>(p, x.data(), y.data());
    ASSERT_LE(MaxAbsDiff(y, want_avg), 1) << "iter " << iter;
  }
}

TEST(AveragePool2D, GlobalPoolOfLargePlaneExtremes) {
  Pool2DParams p;
  p.channels = 2;
  p.in_h = p.in_w = p.kernel_h = p.kernel_w = 64;
  p.out_h = p.out_w = 1;
  p.input_zero_point = 127;
  std::vector<int8_t> x(2 * 64 * 64, -128);
  for (int i = 0; i < 64 * 64; ++i) x[64 * 64 + i] = i % 2 ? 127 : -128;
  // s_in = s_out: avg codes −255 and −127.5 relative to 127, output zero point 0 saturates.
  RequantOwner rq({qm::BuildAvgPoolRequant(1.0, 1.0)}, 0, -128, 127);
  p.requant = rq.params;
  int8_t y[2];
  AveragePool2D<int8_t>(p, x.data(), y);
  EXPECT_EQ(y[0], -128);
  EXPECT_EQ(y[1], -128);  // −127.5 rounds away from zero
  RequantOwner rq2({qm::BuildAvgPoolRequant(1.0, 1.0)}, 127, -128, 127);
  p.requant = rq2.params;
  AveragePool2D<int8_t>(p, x.data(), y);
  EXPECT_EQ(y[0], -128);
  EXPECT_EQ(y[1], -1);
}

// ONNX Resize source coordinate in double.
double SourceCoord(int mode, int in, int out, int o) {
  switch (mode) {
    case 1: return double(o) * in / out;
    case 2: return out > 1 ? double(o) * (in - 1) / (out - 1) : 0.0;
    case 3: if (out <= 1) return 0.0; [[fallthrough]];
    default: return (o + 0.5) * in / out - 0.5;
  }
}

int NearestOf(int mode, double c, int in) {
  double i;
  const double f = std::floor(c);
  switch (mode) {
    case 2: i = f; break;
    case 3: i = std::ceil(c); break;
    case 1: i = c - f >= 0.5 ? f + 1 : f; break;
    default: i = c - f > 0.5 ? f + 1 : f; break;
  }
  return std::clamp(int(i), 0, in - 1);
}

template <typename T>
void CheckResize(uint32_t seed) {
  std::mt19937 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 200; ++iter) {
    ResizeParams p;
    p.batch = uni(1, 2);
    p.channels = uni(1, 2);
    p.in_h = uni(1, 6);
    p.in_w = uni(1, 6);
    p.out_h = uni(0, 13);
    p.out_w = uni(1, 13);
    p.mode = uni(0, 1);
    p.coordinate_mode = uni(0, 3);
    p.nearest_mode = uni(0, 3);
    const double s_in = RandomScale(rng, 1e-3, 1.0);
    p.input_zero_point = RandomZeroPoint<T>(rng);
    const bool same = p.mode == 0 && uni(0, 1) == 1;
    const double s_out = same ? s_in : s_in * RandomScale(rng, 0.5, 2.0);
    const int32_t z_out = same ? p.input_zero_point : RandomZeroPoint<T>(rng);
    RequantOwner rq({qm::BuildResizeRequant(s_in, s_out, p.mode == 1)}, z_out, QMin<T>(), QMax<T>());
    p.requant = rq.params;
    const auto x = RandomCodes<T>(rng, size_t(p.batch) * p.channels * p.in_h * p.in_w);
    std::vector<T> y(size_t(p.batch) * p.channels * p.out_h * p.out_w);
    Resize<T>(p, x.data(), y.data());
    std::vector<int32_t> want(y.size());
    size_t o = 0;
    for (int plane = 0; plane < p.batch * p.channels; ++plane)
      for (int oh = 0; oh < p.out_h; ++oh)
        for (int ow = 0; ow < p.out_w; ++ow, ++o) {
          const double ch = SourceCoord(p.coordinate_mode, p.in_h, p.out_h, oh);
          const double cw = SourceCoord(p.coordinate_mode, p.in_w, p.out_w, ow);
          auto at = [&](int h, int w) {
            return s_in * (x[(size_t(plane) * p.in_h + h) * p.in_w + w] - p.input_zero_point);
          };
          double v;
          if (p.mode == 0) {
            v = at(NearestOf(p.nearest_mode, ch, p.in_h), NearestOf(p.nearest_mode, cw, p.in_w));
          } else {
            const double hc = std::clamp(ch, 0.0, p.in_h - 1.0), wc = std::clamp(cw, 0.0, p.in_w - 1.0);
            const int h0 = int(std::floor(hc)), w0 = int(std::floor(wc));
            const int h1 = std::min(h0 + 1, p.in_h - 1), w1 = std::min(w0 + 1, p.in_w - 1);
            const double fh = hc - h0, fw = wc - w0;
            v = (1 - fh) * ((1 - fw) * at(h0, w0) + fw * at(h0, w1)) +
                fh * ((1 - fw) * at(h1, w0) + fw * at(h1, w1));
          }
          want[o] = Quantize<T>(v, s_out, z_out);
        }
    ASSERT_LE(MaxAbsDiff(y, want), same ? 0 : 1)
        << "iter " << iter << " mode " << p.mode << " coord " << p.coordinate_mode;
  }
}

TEST(Resize, Int8NearestExactLinearWithinOneCode) { CheckResize<int8_t>(31); }
TEST(Resize, Int16) { CheckResize<int16_t>(32); }
TEST(Resize, Uint8) { CheckResize<uint8_t>(33); }

TEST(Resize, NearestTiesFollowTheMode) {
  // in 2 → out 4, asymmetric: source coordinates 0, 0.5, 1, 1.5.
  const uint8_t x[2] = {10, 20};
  uint8_t y[4];
  RequantOwner rq({qm::RequantFromReal(1.0)}, 0, 0, 255);
  ResizeParams p;
  p.channels = 1;
  p.in_h = p.out_h = 1;
  p.in_w = 2;
  p.out_w = 4;
  p.coordinate_mode = 1;
  p.requant = rq.params;
  const std::vector<std::vector<int>> expected = {
      {10, 10, 20, 20}, {10, 20, 20, 20}, {10, 10, 20, 20}, {10, 20, 20, 20}};
  for (int mode = 0; mode < 4; ++mode) {
    p.nearest_mode = mode;
    Resize<uint8_t>(p, x, y);
    EXPECT_EQ(std::vector<int>(y, y + 4), expected[mode]) << mode;
  }
}

}  // namespace
}  // namespace squint::rt::ref

namespace squint::rt::ref {
namespace {

// MEAN over the middle axis with and without a keep mask, against the float mean of the kept
// codes requantized (±1 code: the same two roundings as the average pool).
TEST(Mean, KeptPositionsOnlyWithinOneCode) {
  std::mt19937 rng(5);
  const int outer = 2, r = 9, inner = 5;
  std::vector<int8_t> x(size_t(outer) * r * inner);
  for (auto& v : x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  std::vector<int32_t> keep(size_t(outer) * r);  // [outer, r, 1] broadcast over inner
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = (i % 4 != 3) && !(i >= size_t(r) && i < size_t(2 * r));
  const double s_in = 0.05, s_out = 0.02;
  const int32_t zin = -3, zout = 4;
  const QuantizedMultiplier m = squint::quant_math::BuildAvgPoolRequant(s_in, s_out);
  for (bool masked : {false, true}) {
    MeanParams p;
    p.outer = outer;
    p.r = r;
    p.inner = inner;
    p.input_zero_point = zin;
    p.requant.multiplier = &m.multiplier;
    p.requant.shift = &m.shift;
    p.requant.zero_point = zout;
    if (masked) {
      p.keep = keep.data();
      p.keep_outer = r;
      p.keep_r = 1;
      p.keep_inner = 0;
    }
    std::vector<int8_t> y(size_t(outer) * inner);
    Mean<int8_t>(p, x.data(), y.data());
    for (int o = 0; o < outer; ++o)
      for (int i = 0; i < inner; ++i) {
        double sum = 0;
        int n = 0;
        for (int k = 0; k < r; ++k) {
          if (masked && keep[size_t(o) * r + k] == 0) continue;
          sum += x[(size_t(o) * r + k) * inner + i] - zin;
          ++n;
        }
        const double want = n == 0 ? zout : std::clamp(std::round(sum / n * s_in / s_out) + zout, -128.0, 127.0);
        EXPECT_LE(std::abs(y[size_t(o) * inner + i] - want), 1) << "masked " << masked << " o " << o << " i " << i;
        if (n == 0) {
          EXPECT_EQ(y[size_t(o) * inner + i], zout) << "nothing kept: the mean is 0";
        }
      }
  }
}

}  // namespace
}  // namespace squint::rt::ref
