// Elementwise arithmetic and activations: values against hand-computed results, broadcasting
// patterns, integer semantics, zero-size tensors, inference errors and symbolic dims.
#include <cmath>
#include <limits>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

TEST(Elementwise, AddSameShape) {
  auto r = RunOp(OpType::kAdd, {T_({2, 2}, {1, 2, 3, 4}), T_({2, 2}, {10, 20, 30, 40})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {11, 22, 33, 44});
}

TEST(Elementwise, AddRowBroadcast) {
  auto r = RunOp(OpType::kAdd, {T_({2, 3}, {1, 2, 3, 4, 5, 6}), T_({3}, {10, 20, 30})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 3}, {11, 22, 33, 14, 25, 36});
}

TEST(Elementwise, SubScalarOnTheLeftAndColumnBroadcast) {
  auto r = RunOp(OpType::kSub, {T_({}, {10}), T_({2, 2}, {1, 2, 3, 4})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {9, 8, 7, 6});
  r = RunOp(OpType::kSub, {T_({2, 2}, {1, 2, 3, 4}), T_({2, 1}, {1, 2})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {0, 1, 1, 2});
}

TEST(Elementwise, MulTwoSidedBroadcast) {
  // [2,1,3] * [4,1] -> [2,4,3]
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {1, 10, 100, 1000};
  auto r = RunOp(OpType::kMul, {T_({2, 1, 3}, a), T_({4, 1}, b)});
  ASSERT_TRUE(r.ok());
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(a[i * 3 + k] * b[j]);
  ExpectTensor((*r)[0], {2, 4, 3}, want);
}

TEST(Elementwise, ChannelBroadcastNCHW) {
  // [1,2,2,2] + [2,1,1]: bias per channel.
  auto r = RunOp(OpType::kAdd, {T_({1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), T_({2, 1, 1}, {100, 200})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 2, 2, 2}, {100, 101, 102, 103, 204, 205, 206, 207});
}

TEST(Elementwise, DivFloatAndIntegerTruncation) {
  auto r = RunOp(OpType::kDiv, {T_({3}, {1, -3, 5}), T_({}, {2})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {0.5, -1.5, 2.5});
  r = RunOp(OpType::kDiv, {T_<int32_t>({4}, {7, -7, 7, -7}), T_<int32_t>({4}, {2, 2, -2, -2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  ExpectTensor((*r)[0], {4}, {3, -3, -3, 3});
  r = RunOp(OpType::kDiv, {T_<int64_t>({1}, {std::numeric_limits<int64_t>::min()}), T_<int64_t>({1}, {-1})});
  ASSERT_TRUE(r.ok());  // wraps instead of trapping
  EXPECT_EQ((*r)[0].data<int64_t>()[0], std::numeric_limits<int64_t>::min());
}

TEST(Elementwise, IntegerDivisionByZeroIsAnError) {
  auto r = RunOp(OpType::kDiv, {T_<int64_t>({2}, {1, 2}), T_<int64_t>({2}, {1, 0})});
  ExpectError(r, StatusCode::kInvalidInput, {"Div 'n'", "division by zero"});
}

TEST(Elementwise, IntegerArithmeticWraps) {
  auto r = RunOp(OpType::kAdd, {T_<int32_t>({1}, {std::numeric_limits<int32_t>::max()}), T_<int32_t>({1}, {1})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], std::numeric_limits<int32_t>::min());
  r = RunOp(OpType::kMul, {T_<uint8_t>({2}, {200, 3}), T_<uint8_t>({2}, {2, 4})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<uint8_t>()[0], 144);
  EXPECT_EQ((*r)[0].data<uint8_t>()[1], 12);
}

TEST(Elementwise, Float64) {
  auto r = RunOp(OpType::kMul, {T_<double>({2}, {1.5, 2}), T_<double>({2}, {2, 0.25})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat64);
  ExpectTensor((*r)[0], {2}, {3, 0.5});
}

TEST(Elementwise, ZeroSizeDims) {
  auto r = RunOp(OpType::kAdd, {T_({0, 3}, {}), T_({3}, {1, 2, 3})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {0, 3}, {});
  r = RunOp(OpType::kExp, {T_({2, 0}, {})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 0}, {});
}

TEST(Elementwise, Pow) {
  auto r = RunOp(OpType::kPow, {T_({3}, {1, 2, 3}), T_({}, {2})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {1, 4, 9});
  r = RunOp(OpType::kPow, {T_({3}, {4, 2, 9}), T_({3}, {0.5, -1, 1.5})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {2, 0.5, 27});
  r = RunOp(OpType::kPow, {T_({2}, {2, 3}), T_<int64_t>({2}, {3, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat32);
  ExpectTensor((*r)[0], {2}, {8, 9});
  r = RunOp(OpType::kPow, {T_<int64_t>({3}, {1, 2, 3}), T_<int64_t>({3}, {4, 5, 6})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {1, 32, 729});
  r = RunOp(OpType::kPow, {T_<int32_t>({3}, {1, 2, 3}), T_({3}, {4, 5, 6})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  ExpectTensor((*r)[0], {3}, {1, 32, 729});
}

TEST(Elementwise, UnaryMath) {
  auto run = [](OpType op, std::vector<float> x) {
    auto r = RunOp(op, {T_({static_cast<int64_t>(x.size())}, x)});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return (*r)[0];
  };
  ExpectTensor(run(OpType::kAbs, {-1.5, 0, 2}), {3}, {1.5, 0, 2});
  ExpectTensor(run(OpType::kNeg, {-1.5, 0, 2}), {3}, {1.5, 0, -2});
  ExpectTensor(run(OpType::kSqrt, {4, 0, 2}), {3}, {2, 0, std::sqrt(2.0)});
  ExpectTensor(run(OpType::kExp, {0, 1, -2}), {3}, {1, std::exp(1.0), std::exp(-2.0)});
  ExpectTensor(run(OpType::kLog, {1, 10, 0.5}), {3}, {0, std::log(10.0), std::log(0.5)});
  ExpectTensor(run(OpType::kReciprocal, {2, -4, 0.5}), {3}, {0.5, -0.25, 2});
  ExpectTensor(run(OpType::kErf, {0, 0.5, -1, 3, 1e-4}), {5},
               {0, std::erf(0.5), std::erf(-1.0), std::erf(3.0), std::erf(1e-4)}, 1e-7, 1e-5);
  auto r = RunOp(OpType::kAbs, {T_<int32_t>({2}, {-3, 4})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {3, 4});
  r = RunOp(OpType::kNeg, {T_<int64_t>({2}, {-3, 4})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {3, -4});
}

TEST(Elementwise, InferSymbolicBroadcast) {
  auto r = InferOp(OpType::kAdd, {Spec{DType::kFloat32, Sym({"batch", "50", "64"})}, Known({64})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx50x64");
  r = InferOp(OpType::kMul, {Spec{DType::kFloat32, std::nullopt}, Known({64})});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].shape.has_value());
}

TEST(Elementwise, InferErrors) {
  ExpectError(InferOp(OpType::kAdd, {Known({2, 3}), Known({4})}), StatusCode::kInvalidInput,
              {"Add 'n'", "cannot be broadcast"});
  ExpectError(InferOp(OpType::kAdd, {Known({2}), Known({2}, DType::kInt64)}), StatusCode::kInvalidInput,
              {"Add 'n'", "int64", "float32"});
  ExpectError(InferOp(OpType::kSub, {Known({2})}), StatusCode::kInvalidInput, {"Sub 'n'", "1 inputs, expected 2"});
  ExpectError(InferOp(OpType::kSqrt, {Known({2}, DType::kInt32)}), StatusCode::kInvalidInput,
              {"Sqrt 'n'", "int32"});
  ExpectError(InferOp(OpType::kAdd, {Known({2}, DType::kBool), Known({2}, DType::kBool)}),
              StatusCode::kInvalidInput, {"bool"});
}

// ---- activations ----

TEST(Activation, ReluFamily) {
  auto r = RunOp(OpType::kRelu, {T_({4}, {-1, 0, 2, -0.5})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {4}, {0, 0, 2, 0});
  r = RunOp(OpType::kRelu, {T_<int8_t>({2}, {-5, 7})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {0, 7});
  r = RunOp(OpType::kLeakyRelu, {T_({3}, {-2, 0, 3})}, Attrs({{"alpha", 0.1f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {-0.2, 0, 3});
  r = RunOp(OpType::kLeakyRelu, {T_({2}, {-100, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {-1, 1});
}

TEST(Activation, PReluPerChannel) {
  // X [1,2,2], slope [2,1]: channel 0 slope 0.5, channel 1 slope 2.
  auto r = RunOp(OpType::kPRelu, {T_({1, 2, 2}, {-2, 1, -3, 4}), T_({2, 1}, {0.5, 2})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 2, 2}, {-1, 1, -6, 4});
  r = RunOp(OpType::kPRelu, {T_({3}, {-2, 1, -3}), T_({3}, {0.5, 2, 3})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {-1, 1, -9});
  ExpectError(InferOp(OpType::kPRelu, {Known({2}), Known({2, 2})}), StatusCode::kInvalidInput,
              {"PRelu 'n'", "slope"});
}

TEST(Activation, Clip) {
  auto r = RunOp(OpType::kClip, {T_({4}, {-2, 0.5, 3, 10}), T_({}, {0}), T_({}, {6})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {4}, {0, 0.5, 3, 6});
  r = RunOp(OpType::kClip, {T_({3}, {-2, 0.5, 10}), std::nullopt, T_({}, {1})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {3}, {-2, 0.5, 1});
  r = RunOp(OpType::kClip, {T_({2}, {-2, 10})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {-2, 10});
  r = RunOp(OpType::kClip, {T_<int64_t>({3}, {-5, 3, 9}), T_<int64_t>({}, {-1}), T_<int64_t>({}, {4})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {-1, 3, 4});
  // min > max: everything becomes max.
  r = RunOp(OpType::kClip, {T_({2}, {-5, 5}), T_({}, {2}), T_({}, {1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {1, 1});
  ExpectError(InferOp(OpType::kClip, {Known({2}), Known({2})}), StatusCode::kInvalidInput,
              {"Clip 'n'", "min", "scalar"});
}

TEST(Activation, SmoothFunctions) {
  std::vector<float> x = {-3, -0.5, 0, 0.5, 3};
  auto ref = [&](auto f) {
    std::vector<double> v;
    for (float a : x) v.push_back(f(static_cast<double>(a)));
    return v;
  };
  auto r = RunOp(OpType::kSigmoid, {T_({5}, x)});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) { return 1 / (1 + std::exp(-a)); }), 1e-6);
  r = RunOp(OpType::kTanh, {T_({5}, x)});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) { return std::tanh(a); }), 1e-6);
  r = RunOp(OpType::kHardSigmoid, {T_({5}, x)}, Attrs({{"alpha", 0.5f}, {"beta", 0.6f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) { return std::clamp(0.5 * a + 0.6, 0.0, 1.0); }), 1e-6);
  r = RunOp(OpType::kHardSwish, {T_({5}, x)});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) { return a * std::clamp(a / 6 + 0.5, 0.0, 1.0); }), 1e-6);
  r = RunOp(OpType::kGelu, {T_({5}, x)});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) { return 0.5 * a * (1 + std::erf(a / std::sqrt(2.0))); }), 1e-6);
  r = RunOp(OpType::kGelu, {T_({5}, x)}, Attrs({{"approximate", std::string("tanh")}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {5}, ref([](double a) {
                 return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
               }), 1e-6);
  ExpectError(InferOp(OpType::kGelu, {Known({2})}, Attrs({{"approximate", std::string("fast")}})),
              StatusCode::kInvalidInput, {"Gelu 'n'", "approximate", "'fast'"});
}

TEST(Activation, GeluLargeTensorMatchesScalarFormula) {
  std::vector<float> x(10000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -6.0f + 12.0f * static_cast<float>(i) / x.size();
  auto r = RunOp(OpType::kGelu, {T_({static_cast<int64_t>(x.size())}, x)});
  ASSERT_TRUE(r.ok());
  std::vector<double> want;
  for (float a : x) want.push_back(0.5 * a * (1 + std::erf(a / std::sqrt(2.0))));
  ExpectTensor((*r)[0], {static_cast<int64_t>(x.size())}, want, 1e-6, 1e-5);
}

}  // namespace
}  // namespace squint::ir::testing
