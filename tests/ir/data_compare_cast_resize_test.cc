// Equal / Less / Greater / Not / Where, Cast between dtypes, and Resize (nearest and
// linear, every coordinate transformation): values, errors and inference.
#include <cmath>
#include <limits>
#include <numeric>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

Tensor EmptyF() { return Tensor(DType::kFloat32, {0}); }

// ---- Comparisons, Not, Where ---------------------------------------------------------

TEST(Compare, BroadcastAndTypes) {
  auto r = RunOp(OpType::kLess, {T_({2, 2}, {1, 5, 3, 7}), T_({2}, {4, 5})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kBool);
  ExpectTensor((*r)[0], {2, 2}, {1, 0, 1, 0});
  r = RunOp(OpType::kGreater, {I64({3}, {-1, 0, 1}), I64({}, {0})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {0, 0, 1});
  r = RunOp(OpType::kEqual, {T_<bool>({2, 1}, {true, false}), T_<bool>({1, 2}, {true, false})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {1, 0, 0, 1});
  r = RunOp(OpType::kEqual, {T_({2}, {NAN, 1}), T_({2}, {NAN, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {0, 1});
}

TEST(Compare, Errors) {
  auto r = RunOp(OpType::kEqual, {T_({2}, {1, 2}), I64({2}, {1, 2})});
  ExpectError(r, StatusCode::kInvalidInput, {"Equal 'n'", "float32 vs int64"});
  r = RunOp(OpType::kLess, {T_({2}, {1, 2}), T_({3}, {1, 2, 3})});
  ExpectError(r, StatusCode::kInvalidInput, {"Less 'n'", "cannot be broadcast"});
  auto i = InferOp(OpType::kGreater, {SymSpec({"batch", "1"}), SymSpec({"8"})});
  EXPECT_EQ(InferredShape(i), "batchx8");
}

TEST(Not, Values) {
  auto r = RunOp(OpType::kNot, {T_<bool>({3}, {true, false, true})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {0, 1, 0});
  r = RunOp(OpType::kNot, {T_({1}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Not 'n'", "must be bool"});
}

TEST(Where, ThreeWayBroadcastAnyType) {
  // cond [2,1], x [3], y scalar -> [2,3].
  auto r = RunOp(OpType::kWhere, {T_<bool>({2, 1}, {true, false}), T_({3}, {1, 2, 3}), T_({}, {-1})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 3}, {1, 2, 3, -1, -1, -1});
  r = RunOp(OpType::kWhere, {T_<bool>({3}, {true, false, true}), I64({3}, {1, 2, 3}), I64({3}, {-1, -2, -3})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{1, -2, 3}));
  r = RunOp(OpType::kWhere, {T_({1}, {1}), T_({1}, {1}), T_({1}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Where 'n'", "condition must be bool"});
  r = RunOp(OpType::kWhere, {T_<bool>({1}, {true}), T_({1}, {1}), I64({1}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"X and Y differ"});
}

// ---- Cast ----------------------------------------------------------------------------

Attributes To(DType d) { return Attrs({{"to", int64_t{DTypeToOnnx(d)}}}); }

TEST(Cast, FloatToIntTruncatesAndWrapsAsNumpy) {
  // Through int32 then wrap (numpy / ONNX Runtime on x86): 300 -> 44, -300 -> -44.
  auto r = RunOp(OpType::kCast, {T_({7}, {1.9f, -1.9f, 0.5f, 300.0f, -300.0f, NAN, 1e10f})}, To(DType::kInt8));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt8);
  ExpectTensor((*r)[0], {7}, {1, -1, 0, 44, -44, 0, 0});
  r = RunOp(OpType::kCast, {T_({3}, {1e30f, -2.5f, NAN})}, To(DType::kInt64));
  ASSERT_TRUE(r.ok());
  const int64_t kMin64 = std::numeric_limits<int64_t>::min();
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{kMin64, -2, kMin64}));
  r = RunOp(OpType::kCast, {T_({3}, {-1.0f, 255.7f, -62.5f})}, To(DType::kUInt8));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {255, 255, 194});
  r = RunOp(OpType::kCast, {T_({2}, {3e9f, -7.9f})}, To(DType::kInt32));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{std::numeric_limits<int32_t>::min(), -7}));
}

TEST(Cast, IntegerWrapBoolAndFloat) {
  auto r = RunOp(OpType::kCast, {I64({3}, {300, -1, 5})}, To(DType::kUInt8));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {44, 255, 5});
  r = RunOp(OpType::kCast, {T_({4}, {0.0f, -0.0f, 0.1f, NAN})}, To(DType::kBool));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {4}, {0, 0, 1, 1});
  r = RunOp(OpType::kCast, {T_<bool>({2}, {true, false})}, To(DType::kFloat32));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {1, 0});
  r = RunOp(OpType::kCast, {T_<double>({1}, {0.1})}, To(DType::kFloat32));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<float>()[0], 0.1f);
  r = RunOp(OpType::kCast, {I64({1}, {(int64_t{1} << 53) + 1})}, To(DType::kFloat64));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<double>()[0], 9007199254740992.0);
  r = RunOp(OpType::kCast, {T_({1}, {1})}, Attrs({{"to", int64_t{10}}}));  // float16
  ExpectError(r, StatusCode::kUnsupported, {"Cast 'n'", "ONNX type 10"});
  auto i = InferOp(OpType::kCast, {SymSpec({"batch", "3"})}, To(DType::kInt32));
  ASSERT_TRUE(i.ok());
  EXPECT_EQ((*i)[0].dtype, DType::kInt32);
  EXPECT_EQ(InferredShape(i), "batchx3");
}

// ---- Resize --------------------------------------------------------------------------

Attributes ResizeAttrs(std::string mode, std::string coord, std::string nearest = "round_prefer_floor") {
  return Attrs({{"mode", mode}, {"coordinate_transformation_mode", coord}, {"nearest_mode", nearest}});
}

TEST(Resize, NearestUpsampleAsymmetricFloor) {
  // [1,2] x2 asymmetric floor -> [1,1,2,2]
  auto r = RunOp(OpType::kResize, {T_({1, 2}, {1, 2}), std::nullopt, T_({2}, {1, 2})},
                 ResizeAttrs("nearest", "asymmetric", "floor"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 4}, {1, 1, 2, 2});
}

TEST(Resize, NearestModesHalfPixel) {
  // n=2 -> m=3 by sizes: scale 1.5, x_ori = (x+0.5)/1.5-0.5 = -1/6, 0.5, 7/6.
  const Tensor x = T_({2}, {10, 20});
  auto run = [&](const char* mode) {
    return RunOp(OpType::kResize, {x, std::nullopt, std::nullopt, I64({1}, {3})},
                 ResizeAttrs("nearest", "half_pixel", mode));
  };
  auto r = run("round_prefer_floor");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {3}, {10, 10, 20});
  r = run("round_prefer_ceil");
  ExpectTensor((*r)[0], {3}, {10, 20, 20});
  r = run("floor");
  ExpectTensor((*r)[0], {3}, {10, 10, 20});
  r = run("ceil");
  ExpectTensor((*r)[0], {3}, {10, 20, 20});
}

TEST(Resize, NearestIsTypeAgnostic) {
  auto r = RunOp(OpType::kResize, {T_<uint8_t>({1, 1, 1, 2}, {3, 200}), Tensor(DType::kFloat32, {0}), T_({4}, {1, 1, 2, 2})},
                 ResizeAttrs("nearest", "asymmetric"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kUInt8);
  ExpectTensor((*r)[0], {1, 1, 2, 4}, {3, 3, 200, 200, 3, 3, 200, 200});
}

TEST(Resize, LinearHalfPixelAndAlignCorners) {
  // [0, 10] -> 4 half_pixel: x_ori = -0.25, 0.25, 0.75, 1.25 -> 0, 2.5, 7.5, 10 (edges clamp).
  const Tensor x = T_({1, 2}, {0, 10});
  auto r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2})}, ResizeAttrs("linear", "half_pixel"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 4}, {0, 2.5, 7.5, 10});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2})}, ResizeAttrs("linear", "align_corners"));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 4}, {0, 10.0 / 3, 20.0 / 3, 10});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2})}, ResizeAttrs("linear", "asymmetric"));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 4}, {0, 5, 10, 10});
  // pytorch_half_pixel to length 1 reads x_ori = -0.5 -> the first element.
  r = RunOp(OpType::kResize, {x, std::nullopt, std::nullopt, I64({2}, {1, 1})},
            ResizeAttrs("linear", "pytorch_half_pixel"));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1}, {0});
}

TEST(Resize, Bilinear2D) {
  // 2x2 -> 4x4 half_pixel, separable: rows and columns each interpolate [a, b] as
  // a, .75a+.25b, .25a+.75b, b.
  auto r = RunOp(OpType::kResize, {T_({1, 1, 2, 2}, {0, 4, 8, 12}), std::nullopt, T_({4}, {1, 1, 2, 2})},
                 ResizeAttrs("linear", "half_pixel"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::vector<double> w = {0, 0.25, 0.75, 1};
  std::vector<double> want;
  for (double wr : w)
    for (double wc : w) want.push_back((1 - wr) * ((1 - wc) * 0 + wc * 4) + wr * ((1 - wc) * 8 + wc * 12));
  ExpectTensor((*r)[0], {1, 1, 4, 4}, want);
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  // roi [0.5, 1.5] of [0, 10] at 3 points: x_ori = 0.5, 1.0, 1.5 -> 5, 10, extrapolation.
  Attributes a = ResizeAttrs("linear", "tf_crop_and_resize");
  a.set("extrapolation_value", -1.0f);
  auto r = RunOp(OpType::kResize, {T_({2}, {0, 10}), T_({2}, {0.5f, 1.5f}), std::nullopt, I64({1}, {3})}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {3}, {5, 10, -1});
}

TEST(Resize, UnsupportedAndInvalid) {
  const Tensor x = T_({1, 2}, {0, 10});
  auto r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2})}, Attrs({{"mode", std::string("cubic")}}));
  ExpectError(r, StatusCode::kUnsupported, {"Resize 'n'", "cubic"});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2})},
            Attrs({{"mode", std::string("linear")}, {"antialias", int64_t{1}}}));
  ExpectError(r, StatusCode::kUnsupported, {"antialias"});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 0})});
  ExpectError(r, StatusCode::kInvalidInput, {"scale 0"});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({1}, {2})});
  ExpectError(r, StatusCode::kInvalidInput, {"scales has 1 values for 2 axes"});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 2}), I64({2}, {1, 4})});
  ExpectError(r, StatusCode::kInvalidInput, {"not both"});
  r = RunOp(OpType::kResize, {x, std::nullopt, T_({2}, {1, 1e12f})});
  ExpectError(r, StatusCode::kInvalidInput, {"too large"});
}

TEST(Resize, AxesAndKeepAspectRatio) {
  // opset 18 axes: sizes apply to the listed axes.
  Attributes a = ResizeAttrs("nearest", "asymmetric");
  a.set("axes", std::vector<int64_t>{1});
  auto r = RunOp(OpType::kResize, {T_({1, 2}, {1, 2}), std::nullopt, std::nullopt, I64({1}, {4})}, a, 1, 18);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 4}, {1, 1, 2, 2});
  // not_larger: 2x4 into 4x4 box -> scale min(2, 1) = 1 -> 2x4 unchanged.
  a = ResizeAttrs("nearest", "asymmetric");
  a.set("keep_aspect_ratio_policy", std::string("not_larger"));
  r = RunOp(OpType::kResize, {T_({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7}), std::nullopt, std::nullopt, I64({2}, {4, 4})}, a,
            1, 18);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 4}));
}

TEST(Resize, SymbolicInference) {
  // Scales of 1 keep symbolic dims; others become unknown unless known.
  auto i = InferOp(OpType::kResize, {SymSpec({"batch", "3", "8", "8"}), Spec{DType::kFloat32, Sym({"0"}), EmptyF(), true},
                                     Const(T_({4}, {1, 1, 2, 2}))});
  EXPECT_EQ(InferredShape(i), "batchx3x16x16");
  i = InferOp(OpType::kResize, {SymSpec({"batch", "3", "h", "w"}), Absent(), Const(T_({4}, {1, 1, 2, 2}))});
  EXPECT_EQ(InferredShape(i), "batchx3x?x?");
  i = InferOp(OpType::kResize, {SymSpec({"batch", "3", "h", "w"}), Absent(), Absent(),
                                Spec{DType::kInt64, Sym({"4"}), std::nullopt, true}});
  EXPECT_EQ(InferredShape(i), "?x?x?x?");
}

}  // namespace
}  // namespace squint::ir::testing
