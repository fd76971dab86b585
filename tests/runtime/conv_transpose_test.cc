// CONV_TRANSPOSE_2D: the reference kernel against a float scatter-form reference on
// dequantized inputs (±1 code), over random geometries (groups, strides, dilations, begin
// pads, negative end pads, int8 and int16), and prepare-time rejection of malformed ops.
#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/runtime/kernels_test_util.h"
#include "tests/runtime/prepare_test_util.h"

namespace squint::rt::ref {
namespace {

using namespace testing;  // NOLINT
using squint::rt::testing::AlignedBytes;
using squint::rt::testing::SqntBuilder;
namespace qm = squint::quant_math;

template <typename T>
class ConvTransposeKernelTest : public ::testing::Test {};
using ActivationTypes = ::testing::Types<int8_t, int16_t>;
TYPED_TEST_SUITE(ConvTransposeKernelTest, ActivationTypes);

TYPED_TEST(ConvTransposeKernelTest, MatchesFloatScatterWithinOneCode) {
  using T = TypeParam;
  std::mt19937 rng(7);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  for (int iter = 0; iter < 300; ++iter) {
    Conv2DParams p;
    p.groups = uni(1, 3);
    const int cin_g = uni(1, 3), cout_g = uni(1, 3);
    p.batch = uni(1, 2);
    p.in_channels = cin_g * p.groups;
    p.out_channels = cout_g * p.groups;
    p.in_h = uni(1, 5);
    p.in_w = uni(1, 5);
    p.kernel_h = uni(1, 3);
    p.kernel_w = uni(1, 3);
    p.stride_h = uni(1, 3);
    p.stride_w = uni(1, 3);
    p.dilation_h = uni(1, 2);
    p.dilation_w = uni(1, 2);
    p.pad_top = uni(0, 2);
    p.pad_left = uni(0, 2);
    const int pad_bottom = uni(-2, 2), pad_right = uni(-2, 2);  // < 0: output_padding / output_shape
    p.out_h = p.stride_h * (p.in_h - 1) + (p.kernel_h - 1) * p.dilation_h + 1 - p.pad_top - pad_bottom;
    p.out_w = p.stride_w * (p.in_w - 1) + (p.kernel_w - 1) * p.dilation_w + 1 - p.pad_left - pad_right;
    if (p.out_h <= 0 || p.out_w <= 0) continue;
    ++cases;
    const double s_x = RandomScale(rng, 1e-3, 1.0);
    p.input_zero_point = RandomZeroPoint<T>(rng);
    std::vector<float> s_w(p.out_channels);
    for (auto& s : s_w) s = static_cast<float>(RandomScale(rng, 1e-3, 0.1));
    const auto x = RandomCodes<T>(rng, size_t(p.batch) * p.in_channels * p.in_h * p.in_w);
    // Runtime layout [C_out, C_in/g, kH, kW].
    std::vector<int8_t> w(size_t(p.out_channels) * cin_g * p.kernel_h * p.kernel_w);
    for (auto& v : w) v = static_cast<int8_t>(uni(-127, 127));
    std::vector<float> bias_f(p.out_channels);
    for (auto& b : bias_f) b = static_cast<float>(std::normal_distribution<double>(0, 1)(rng));
    const auto bias = qm::QuantizeBias(bias_f, s_x, s_w);
    // Scatter: every input pixel adds x·w to output (ih·s − pad + kh·d, iw·s − pad + kw·d).
    std::vector<double> ref(size_t(p.batch) * p.out_channels * p.out_h * p.out_w);
    auto at = [&](int n, int oc, int oh, int ow) -> double& {
      return ref[((size_t(n) * p.out_channels + oc) * p.out_h + oh) * p.out_w + ow];
    };
    for (int n = 0; n < p.batch; ++n)
      for (int oc = 0; oc < p.out_channels; ++oc)
        for (int oh = 0; oh < p.out_h; ++oh)
          for (int ow = 0; ow < p.out_w; ++ow) at(n, oc, oh, ow) = bias[oc] * s_x * s_w[oc];
    for (int n = 0; n < p.batch; ++n)
      for (int c = 0; c < p.in_channels; ++c)
        for (int ih = 0; ih < p.in_h; ++ih)
          for (int iw = 0; iw < p.in_w; ++iw) {
            const int g = c / cin_g, ic = c % cin_g;
            const double xv = s_x * (x[((size_t(n) * p.in_channels + c) * p.in_h + ih) * p.in_w + iw] -
                                     p.input_zero_point);
            for (int j = 0; j < cout_g; ++j) {
              const int oc = g * cout_g + j;
              for (int kh = 0; kh < p.kernel_h; ++kh)
                for (int kw = 0; kw < p.kernel_w; ++kw) {
                  const int oh = ih * p.stride_h - p.pad_top + kh * p.dilation_h;
                  const int ow = iw * p.stride_w - p.pad_left + kw * p.dilation_w;
                  if (oh < 0 || oh >= p.out_h || ow < 0 || ow >= p.out_w) continue;
                  at(n, oc, oh, ow) +=
                      xv * s_w[oc] * w[((size_t(oc) * cin_g + ic) * p.kernel_h + kh) * p.kernel_w + kw];
                }
            }
          }
    double s_y;
    int32_t z_y;
    CalibrateOutput<T>(ref, &s_y, &z_y);
    RequantOwner rq(qm::BuildChannelRequant(s_x, s_w, s_y), z_y, QMin<T>(), QMax<T>());
    p.requant = rq.params;
    std::vector<T> y(ref.size());
    ConvTranspose2D<T>(p, x.data(), w.data(), bias.data(), y.data());
    std::vector<int32_t> want(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) want[i] = Quantize<T>(ref[i], s_y, z_y);
    ASSERT_LE(MaxAbsDiff(y, want), 1) << "iter " << iter << " groups " << p.groups << " stride " << p.stride_h;
  }
  EXPECT_GT(cases, 150);
}

// A 1x1 input with a 2x2 kernel, stride 2: each output pixel is x·w of one tap, exactly.
TEST(ConvTranspose2D, SinglePixelSpreadsTheKernel) {
  Conv2DParams p;
  p.in_channels = p.out_channels = 1;
  p.in_h = p.in_w = 1;
  p.kernel_h = p.kernel_w = 2;
  p.stride_h = p.stride_w = 2;
  p.out_h = p.out_w = 2;
  RequantOwner rq({{1 << 30, 1}}, 0, -128, 127);  // multiplier 1.0
  p.requant = rq.params;
  const int8_t x[1] = {3};
  const int8_t w[4] = {1, -2, 5, 10};
  const int32_t bias[1] = {1};
  int8_t y[4] = {};
  ConvTranspose2D<int8_t>(p, x, w, bias, y);
  EXPECT_EQ(std::vector<int>(y, y + 4), (std::vector<int>{4, -5, 16, 31}));
}

// ---- Prepare ----------------------------------------------------------------------------

using squint::rt::testing::ExpectPrepareError;
using squint::rt::testing::PrepareOf;

struct Case {
  std::vector<int32_t> w_shape = {4, 2, 2, 2}, y_shape = {1, 4, 10, 10}, stride = {2, 2}, pads = {0, 0, 0, 0};
  fb::ElementType w_type = fb::ElementType::INT8;
  int32_t groups = 1;
  int32_t bias = 0;  // a bias of 4 equal values when nonzero
};

AlignedBytes Build(const Case& c) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 2, 5, 5});
  int64_t n = 1;
  for (int32_t d : c.w_shape) n *= d;
  const int w = c.w_type == fb::ElementType::INT4
                    ? b.Constant<uint8_t>("w", c.w_type, c.w_shape, std::vector<uint8_t>((n + 1) / 2, 0x11))
                    : b.Constant<int8_t>("w", c.w_type, c.w_shape, std::vector<int8_t>(n, 1));
  std::vector<int32_t> in = {x, w};
  if (c.bias != 0)
    in.push_back(b.Constant<int32_t>("b", fb::ElementType::INT32, {4}, std::vector<int32_t>(4, c.bias), {1.0f}, {0}));
  const int y = b.Activation("y", fb::ElementType::INT8, c.y_shape);
  auto requant = b.Requant({1 << 30}, {0});
  b.Op(fb::OpCode::CONV_TRANSPOSE_2D, "up", in, {y}, fb::OpOptions::Conv2DOptions,
       fb::CreateConv2DOptionsDirect(b.fbb(), &c.stride, nullptr, &c.pads, c.groups, requant).Union());
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

TEST(ConvTransposePrepare, ShapeRules) {
  EXPECT_TRUE(PrepareOf(Build({})).ok());
  Case c;
  c.pads = {1, 1, 0, 0};  // out = 2·4 + 2 − 1 = 9
  c.y_shape = {1, 4, 9, 9};
  EXPECT_TRUE(PrepareOf(Build(c)).ok());
  c.pads = {0, 0, -1, -1};  // output_padding 1: out 11
  c.y_shape = {1, 4, 11, 11};
  EXPECT_TRUE(PrepareOf(Build(c)).ok());
  c = {};
  c.y_shape = {1, 4, 9, 10};
  ExpectPrepareError(Build(c), "op 0 'up' (CONV_TRANSPOSE_2D): output is [1, 4, 9, 10], expected [1, 4, 10, 10]");
  c = {};
  c.pads = {-1, 0, 0, 0};
  c.y_shape = {1, 4, 11, 10};
  ExpectPrepareError(Build(c), "pads top -1 and left 0, expected >= 0");
  c = {};
  c.w_shape = {4, 3, 2, 2};
  ExpectPrepareError(Build(c), "weight has 3 input channels per group, expected 2 / 1 groups");
  c = {};
  c.w_shape = {4, 2, 2};
  ExpectPrepareError(Build(c), "weight has 3 dims, expected 4");
  c = {};
  c.groups = 3;
  ExpectPrepareError(Build(c), "groups 3 does not divide input channels 2 and output channels 4");
  c = {};
  c.stride = {0, 2};
  ExpectPrepareError(Build(c), "stride[0] = 0, expected >= 1");
  c = {};
  c.w_type = fb::ElementType::INT4;
  ExpectPrepareError(Build(c), "int4 weight is input 1 of CONV_TRANSPOSE_2D");  // the loader refuses it
}

TEST(ConvTransposePrepare, AccumulatorBound) {
  Case c;
  c.bias = 2147400000;  // depth 8 · 128 · 128 + |bias| > 2^31 − 1
  ExpectPrepareError(Build(c), "int32 accumulator may overflow: reduction depth 8, input zero point 0, max |bias| 2147400000");
  c.bias = 1 << 20;
  EXPECT_TRUE(PrepareOf(Build(c)).ok());
}

// Writes a CONV_TRANSPOSE_2D seed for fuzz/sqnt_loader_fuzz when SQUINT_WRITE_FUZZ_SEEDS names a directory.
TEST(ConvTransposeSeeds, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  Case c;
  c.bias = 100;
  c.pads = {1, 0, -1, 0};  // out = 2·4 + 2 − 1 + 1 = 10 rows, 10 columns
  const AlignedBytes bytes = Build(c);
  ASSERT_TRUE(PrepareOf(bytes).ok());
  const std::string path = std::string(dir) + "/conv_transpose.sqnt";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace
}  // namespace squint::rt::ref
