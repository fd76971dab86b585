// Reductions, Softmax/LogSoftmax, LayerNormalization and BatchNormalization.
#include <cmath>
#include <limits>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

Tensor Axes(std::vector<int64_t> a) { return T_<int64_t>({static_cast<int64_t>(a.size())}, a); }

// x = [[[0,1],[2,3],[4,5]], [[6,7],[8,9],[10,11]]]  (2x3x2)
Tensor Iota232() {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i);
  return T_({2, 3, 2}, v);
}

TEST(Reduce, SumMeanMaxOverOneAxis) {
  auto r = RunOp(OpType::kReduceSum, {Iota232(), Axes({1})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 1, 2}, {6, 9, 24, 27});
  r = RunOp(OpType::kReduceMean, {Iota232(), Axes({-1})}, Attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 3}, {0.5, 2.5, 4.5, 6.5, 8.5, 10.5});
  r = RunOp(OpType::kReduceMax, {Iota232(), Axes({0})}, Attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3, 2}, {6, 7, 8, 9, 10, 11});
  r = RunOp(OpType::kReduceL2, {Iota232(), Axes({-1})});  // sqrt(a² + b²) per row of 2
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 3, 1}, {1.0f, std::sqrt(13.0f), std::sqrt(41.0f), std::sqrt(85.0f), std::sqrt(145.0f),
                                    std::sqrt(221.0f)});
}

TEST(Reduce, NonAdjacentAxesAndAll) {
  auto r = RunOp(OpType::kReduceSum, {Iota232(), Axes({0, 2})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 3, 1}, {0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11});
  r = RunOp(OpType::kReduceMax, {Iota232(), Axes({2, 0})}, Attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {7, 9, 11});
  r = RunOp(OpType::kReduceMean, {Iota232()});  // no axes: everything
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 1}, {5.5});
  r = RunOp(OpType::kReduceSum, {Iota232(), Axes({})}, Attrs({{"noop_with_empty_axes", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
}

TEST(Reduce, AxesAttributeWhenInputAbsent) {
  auto r = RunOp(OpType::kReduceMean, {Iota232()}, Attrs({{"axes", std::vector<int64_t>{1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 1, 2}, {2, 3, 8, 9});
}

TEST(Reduce, IntegersAndEmptySets) {
  auto r = RunOp(OpType::kReduceSum, {T_<int64_t>({2, 2}, {1, 2, 3, 4}), Axes({1})},
                 Attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt64);
  ExpectTensor((*r)[0], {2}, {3, 7});
  r = RunOp(OpType::kReduceMean, {T_<int32_t>({3}, {1, 2, 4})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1}, {2});  // 7/3 truncates
  const double inf = std::numeric_limits<double>::infinity();
  r = RunOp(OpType::kReduceMax, {T_({2, 0}, {}), Axes({1})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 1}, {-inf, -inf});
  r = RunOp(OpType::kReduceSum, {T_({2, 0}, {}), Axes({1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 1}, {0, 0});
  r = RunOp(OpType::kReduceSum, {T_({0, 2}, {}), Axes({1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {0, 1}, {});
}

TEST(Reduce, InferShapes) {
  auto r = InferOp(OpType::kReduceMean, {Spec{DType::kFloat32, Sym({"batch", "50", "64"})}, Const(Axes({-1}))});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx50x1");
  // Axes not constant: keepdims keeps the rank only.
  r = InferOp(OpType::kReduceSum, {Known({2, 3}), Known({1}, DType::kInt64)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "?x?");
  r = InferOp(OpType::kReduceSum, {Known({2, 3}), Known({1}, DType::kInt64)}, Attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].shape.has_value());
  ExpectError(InferOp(OpType::kReduceSum, {Known({2, 3}), Const(Axes({2}))}), StatusCode::kInvalidInput,
              {"ReduceSum 'n'", "axes entry 2", "rank 2"});
  ExpectError(InferOp(OpType::kReduceMax, {Known({2, 3}), Const(Axes({1, -1}))}), StatusCode::kInvalidInput,
              {"ReduceMax 'n'", "repeats"});
  ExpectError(InferOp(OpType::kReduceMax, {Known({2, 3}), Const(T_<int32_t>({1}, {1}))}),
              StatusCode::kInvalidInput, {"axes", "int64"});
}

// ---- softmax ----

std::vector<double> RefSoftmax(const std::vector<double>& x) {
  double m = -1e300, s = 0;
  for (double v : x) m = std::max(m, v);
  std::vector<double> y;
  for (double v : x) s += std::exp(v - m);
  for (double v : x) y.push_back(std::exp(v - m) / s);
  return y;
}

TEST(Softmax, LastAxis) {
  auto r = RunOp(OpType::kSoftmax, {T_({2, 3}, {1, 2, 3, -1, 0, 1000})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto a = RefSoftmax({1, 2, 3}), b = RefSoftmax({-1, 0, 1000});
  a.insert(a.end(), b.begin(), b.end());
  ExpectTensor((*r)[0], {2, 3}, a, 1e-7, 1e-5);
}

TEST(Softmax, MiddleAxisAndLogSoftmax) {
  // [1,3,2] over axis 1: columns {0,2,4} and {1,3,5}.
  Tensor x = T_({1, 3, 2}, {0, 1, 2, 3, 4, 5});
  auto r = RunOp(OpType::kSoftmax, {x}, Attrs({{"axis", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  auto c = RefSoftmax({0, 2, 4});
  ExpectTensor((*r)[0], {1, 3, 2}, {c[0], c[0], c[1], c[1], c[2], c[2]}, 1e-7, 1e-5);
  r = RunOp(OpType::kLogSoftmax, {x}, Attrs({{"axis", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 3, 2},
               {std::log(c[0]), std::log(c[0]), std::log(c[1]), std::log(c[1]), std::log(c[2]), std::log(c[2])},
               1e-6, 1e-5);
  r = RunOp(OpType::kLogSoftmax, {T_({3}, {1, 2, 3})});
  ASSERT_TRUE(r.ok());
  auto d = RefSoftmax({1, 2, 3});
  ExpectTensor((*r)[0], {3}, {std::log(d[0]), std::log(d[1]), std::log(d[2])}, 1e-6, 1e-5);
}

TEST(Softmax, ClippedWithZetaGamma) {
  // softmax([0, ln 3]) = [0.25, 0.75]; (1.2 - -0.1)·p - 0.1 = [0.225, 0.875]
  auto r = RunOp(OpType::kSoftmax, {T_({2}, {0, std::log(3.0f)})}, Attrs({{"zeta", 1.2f}, {"gamma", -0.1f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {0.225, 0.875}, 1e-6);
  // Clipping at 0 and 1.
  r = RunOp(OpType::kSoftmax, {T_({2}, {0, 10})}, Attrs({{"zeta", 1.5f}, {"gamma", -0.5f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {0, 1}, 1e-6);
}

TEST(Softmax, InferAndOldOpsets) {
  auto r = InferOp(OpType::kSoftmax, {Spec{DType::kFloat32, Sym({"batch", "4", "50", "50"})}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx4x50x50");
  ExpectError(InferOp(OpType::kSoftmax, {Known({2, 3})}, Attrs({{"axis", int64_t{2}}})), StatusCode::kInvalidInput,
              {"Softmax 'n'", "axis 2"});
  // Opset 11, rank 3, default axis 1: the coerced-2D form differs, so it is refused.
  ExpectError(InferOp(OpType::kSoftmax, {Known({2, 3, 4})}, {}, 1, 11), StatusCode::kUnsupported,
              {"Softmax 'n'", "opset 11"});
  EXPECT_TRUE(InferOp(OpType::kSoftmax, {Known({2, 3})}, {}, 1, 11).ok());
  auto old = RunOp(OpType::kSoftmax, {T_({1, 3}, {1, 2, 3})}, {}, 1, 11);
  ASSERT_TRUE(old.ok());
  ExpectTensor((*old)[0], {1, 3}, RefSoftmax({1, 2, 3}), 1e-7, 1e-5);
}

// ---- LayerNormalization ----

TEST(LayerNorm, LastAxisWithBiasAndStats) {
  // Rows [1,2,3] and [2,4,6]: mean 2/4, var 2/3 and 8/3.
  auto r = RunOp(OpType::kLayerNormalization,
                 {T_({2, 3}, {1, 2, 3, 2, 4, 6}), T_({3}, {1, 2, 0.5}), T_({3}, {0, 1, -1})},
                 Attrs({{"epsilon", 0.0f}}), 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double s = std::sqrt(1.5);  // 1/sqrt(2/3)
  ExpectTensor((*r)[0], {2, 3}, {-s, 1, 0.5 * s - 1, -s, 1, 0.5 * s - 1}, 1e-5);
  ExpectTensor((*r)[1], {2, 1}, {2, 4});
  ExpectTensor((*r)[2], {2, 1}, {s, s / 2}, 1e-5);
}

TEST(LayerNorm, AxisOneOverTwoDimsNoBiasBroadcastScale) {
  // X [1,2,2] normalized over [2,2]; scale [2] broadcasts over the last dim.
  auto r = RunOp(OpType::kLayerNormalization, {T_({1, 2, 2}, {0, 2, 4, 6}), T_({2}, {1, 10})},
                 Attrs({{"axis", int64_t{1}}, {"epsilon", 0.0f}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const double inv = 1 / std::sqrt(5.0);  // mean 3, var (9+1+1+9)/4 = 5
  ExpectTensor((*r)[0], {1, 2, 2}, {-3 * inv, -1 * inv * 10, 1 * inv, 3 * inv * 10}, 1e-5);
}

TEST(LayerNorm, InferErrorsAndSymbolic) {
  auto r = InferOp(OpType::kLayerNormalization,
                   {Spec{DType::kFloat32, Sym({"batch", "50", "64"})}, Known({64}), Known({64})}, {}, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx50x64");
  EXPECT_EQ(ShapeToString(*(*r)[1].shape), "batchx50x1");
  ExpectError(InferOp(OpType::kLayerNormalization, {Known({2, 64}), Known({32})}), StatusCode::kInvalidInput,
              {"LayerNormalization 'n'", "Scale", "32"});
  ExpectError(InferOp(OpType::kLayerNormalization, {Known({2, 64}), Known({64}), Known({2, 64})}),
              StatusCode::kInvalidInput, {"B"});
  ExpectError(InferOp(OpType::kLayerNormalization, {Known({2, 64}), Known({64})}, Attrs({{"axis", int64_t{2}}})),
              StatusCode::kInvalidInput, {"axis 2"});
}

// ---- squint.RMSNorm ----

TEST(RMSNorm, LastAxisNoMeanSubtraction) {
  // Rows [1,2,2] (mean square 3) and [0,0,3] (mean square 3) with epsilon 1: divide by 2.
  auto r = RunOp(OpType::kRMSNorm, {T_({2, 3}, {1, 2, 2, 0, 0, 3})}, Attrs({{"epsilon", 1.0f}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 3}, {0.5, 1, 1, 0, 0, 1.5}, 1e-6);
}

TEST(RMSNorm, EqualsLayerNormOnZeroMeanRows) {
  const Tensor x = T_({2, 4}, {1, -3, 2, 0, 0.5, 0.5, -2, 1});
  auto rms = RunOp(OpType::kRMSNorm, {x});
  auto ln = RunOp(OpType::kLayerNormalization, {x, T_({4}, {1, 1, 1, 1})});
  ASSERT_TRUE(rms.ok() && ln.ok());
  const std::vector<float> a = (*rms)[0].ToFloatVector(), b = (*ln)[0].ToFloatVector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << i;
}

TEST(RMSNorm, InferErrors) {
  ExpectError(InferOp(OpType::kRMSNorm, {Known({2, 4})}, Attrs({{"epsilon", -1.0f}})), StatusCode::kInvalidInput,
              {"RMSNorm", "epsilon is -1", ">= 0"});
  ExpectError(InferOp(OpType::kRMSNorm, {Known({})}), StatusCode::kInvalidInput, {"scalar"});
}

// ---- BatchNormalization ----

TEST(BatchNorm, PerChannel) {
  // X [1,2,1,2]; channel 0: scale 2, B 1, mean 1, var 4 -> (x-1)/2*2+1 = x
  //              channel 1: scale 1, B 0, mean 0, var 0.25 -> 2x
  auto r = RunOp(OpType::kBatchNormalization,
                 {T_({1, 2, 1, 2}, {3, 5, 1, -2}), T_({2}, {2, 1}), T_({2}, {1, 0}), T_({2}, {1, 0}),
                  T_({2}, {4, 0.25})},
                 Attrs({{"epsilon", 0.0f}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 2, 1, 2}, {3, 5, 2, -4});
}

TEST(BatchNorm, InferErrors) {
  ExpectError(InferOp(OpType::kBatchNormalization, {Known({1, 3, 4, 4}), Known({3}), Known({3}), Known({4}), Known({3})}),
              StatusCode::kInvalidInput, {"BatchNormalization 'n'", "input_mean", "4 values, expected 3"});
  ExpectError(InferOp(OpType::kBatchNormalization, {Known({3}), Known({3}), Known({3}), Known({3}), Known({3})}),
              StatusCode::kInvalidInput, {"at least 2 dims"});
  ExpectError(InferOp(OpType::kBatchNormalization, {Known({1, 3}), Known({3}), Known({3}), Known({3}), Known({3})},
                      Attrs({{"training_mode", int64_t{1}}})),
              StatusCode::kUnsupported, {"training_mode"});
  auto r = InferOp(OpType::kBatchNormalization,
                   {Spec{DType::kFloat32, Sym({"N", "3", "H", "W"})}, Known({3}), Known({3}), Known({3}), Known({3})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "Nx3xHxW");
}

}  // namespace
}  // namespace squint::ir::testing
