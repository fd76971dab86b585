// Shape ops (Reshape, Flatten, Squeeze, Unsqueeze, Shape, Identity, Dropout, Constant,
// ConstantOfShape, Range): values, errors naming the node, and symbolic inference.
#include <limits>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {


std::vector<double> Iota(int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// ---- Reshape -------------------------------------------------------------------------

TEST(Reshape, ZeroCopiesAndMinusOneInfers) {
  auto r = RunOp(OpType::kReshape, {T_({2, 3, 4}, IotaF(24)), I64({3}, {0, -1, 2})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 6, 2}, Iota(24));
}

TEST(Reshape, AllowZeroMakesEmptyDims) {
  auto r = RunOp(OpType::kReshape, {Tensor(DType::kFloat32, {0, 3}), I64({3}, {3, 0, 5})}, Attrs({{"allowzero", int64_t{1}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 0, 5}));
}

TEST(Reshape, ErrorsNameNodeShapesAndRule) {
  auto r = RunOp(OpType::kReshape, {T_({1, 3, 4}, IotaF(12)), I64({2}, {5, -1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Reshape 'n'", "cannot reshape 1x3x4 (12 elements) to 5x-1"});
  r = RunOp(OpType::kReshape, {T_({1, 3, 4}, IotaF(12)), I64({2}, {5, 3})});
  ExpectError(r, StatusCode::kInvalidInput, {"to 5x3", "element counts differ"});
  r = RunOp(OpType::kReshape, {T_({1, 3, 4}, IotaF(12)), I64({2}, {-1, -1})});
  ExpectError(r, StatusCode::kInvalidInput, {"more than one -1"});
  r = RunOp(OpType::kReshape, {T_({12}, IotaF(12)), I64({2}, {-3, 4})});
  ExpectError(r, StatusCode::kInvalidInput, {"negative"});
  r = RunOp(OpType::kReshape, {T_({12}, IotaF(12)), I64({2}, {12, 0})});
  ExpectError(r, StatusCode::kInvalidInput, {"copies a dim"});
  auto i = InferOp(OpType::kReshape, {Known({2, 2}), Const(I64({3}, {1 << 20, 1 << 20, 1 << 20}))});
  ExpectError(i, StatusCode::kInvalidInput, {"2^34"});
}

TEST(Reshape, SymbolicBatchPropagates) {
  // [batch, 3, 4] -> [0, -1] = [batch, 12]; [batch, 12] -> [-1, 3, 4] = [batch, 3, 4].
  auto r = InferOp(OpType::kReshape, {SymSpec({"batch", "3", "4"}), Const(I64({2}, {0, -1}))});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx12");
  r = InferOp(OpType::kReshape, {SymSpec({"batch", "12"}), Const(I64({3}, {-1, 3, 4}))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx3x4");
  // Attention head split: [batch, seq, 64] -> [0, 0, 4, 16].
  r = InferOp(OpType::kReshape, {SymSpec({"batch", "seq", "64"}), Const(I64({4}, {0, 0, 4, -1}))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchxseqx4x16");
  // Two unknowns folded into -1: not derivable.
  r = InferOp(OpType::kReshape, {SymSpec({"batch", "seq", "64"}), Const(I64({2}, {-1, 64}))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "?x64");
  // Non-constant shape of known length: rank known, dims unknown.
  r = InferOp(OpType::kReshape, {SymSpec({"batch", "3"}), UnknownInts(3)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "?x?x?");
  // Unknown length: unknown rank.
  r = InferOp(OpType::kReshape, {SymSpec({"batch", "3"}), Spec{DType::kInt64, std::nullopt, std::nullopt, true}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].shape);
}

// ---- Flatten -------------------------------------------------------------------------

TEST(Flatten, AxesIncludingZeroAndNegative) {
  auto r = RunOp(OpType::kFlatten, {T_({2, 3, 4}, IotaF(24))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 12}));
  r = RunOp(OpType::kFlatten, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{1, 24}));
  r = RunOp(OpType::kFlatten, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"axis", int64_t{-1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {6, 4}, Iota(24));
  r = RunOp(OpType::kFlatten, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"axis", int64_t{3}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{24, 1}));
  r = RunOp(OpType::kFlatten, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"axis", int64_t{4}}}));
  ExpectError(r, StatusCode::kInvalidInput, {"Flatten 'n'", "axis 4"});
}

TEST(Flatten, Symbolic) {
  auto r = InferOp(OpType::kFlatten, {SymSpec({"batch", "3", "4"})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx12");
  r = InferOp(OpType::kFlatten, {SymSpec({"batch", "seq", "4"})}, Attrs({{"axis", int64_t{2}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "?x4");
}

// ---- Squeeze / Unsqueeze -------------------------------------------------------------

TEST(Squeeze, AxesAndDefault) {
  auto r = RunOp(OpType::kSqueeze, {T_({1, 3, 1, 2}, IotaF(6)), I64({1}, {-2})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 3, 2}, Iota(6));
  r = RunOp(OpType::kSqueeze, {T_({1, 3, 1, 2}, IotaF(6))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 2}));
  r = RunOp(OpType::kSqueeze, {T_({1, 3, 1, 2}, IotaF(6)), Tensor(DType::kInt64, {0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 2}));
  r = RunOp(OpType::kSqueeze, {T_({1, 3, 1, 2}, IotaF(6)), I64({1}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Squeeze 'n'", "axis 1", "3, not 1"});
  r = RunOp(OpType::kSqueeze, {T_({1, 3}, IotaF(3)), I64({1}, {2})});
  ExpectError(r, StatusCode::kInvalidInput, {"out of range"});
}

TEST(Squeeze, Symbolic) {
  auto r = InferOp(OpType::kSqueeze, {SymSpec({"batch", "1", "4"}), Const(I64({1}, {1}))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx4");
  r = InferOp(OpType::kSqueeze, {SymSpec({"batch", "1", "4"})});  // batch might be 1
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].shape);
}

TEST(Unsqueeze, AxesAnyOrderNegative) {
  auto r = RunOp(OpType::kUnsqueeze, {T_({3, 2}, IotaF(6)), I64({2}, {-1, 0})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 3, 2, 1}, Iota(6));
  r = RunOp(OpType::kUnsqueeze, {T_({}, {7}), I64({1}, {0})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1}, {7});
  r = RunOp(OpType::kUnsqueeze, {T_({3}, IotaF(3)), I64({2}, {1, 1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Unsqueeze 'n'", "repeat axis 1"});
  auto i = InferOp(OpType::kUnsqueeze, {SymSpec({"batch", "seq"}), Const(I64({1}, {1}))});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(ShapeToString(*(*i)[0].shape), "batchx1xseq");
}

// ---- Shape / Identity / Dropout ------------------------------------------------------

TEST(ShapeOp, StartEndClamp) {
  auto r = RunOp(OpType::kShape, {T_({2, 3, 4}, IotaF(24))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{2, 3, 4}));
  r = RunOp(OpType::kShape, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"start", int64_t{-2}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{3, 4}));
  r = RunOp(OpType::kShape, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"start", int64_t{-10}}, {"end", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{2}));
  r = RunOp(OpType::kShape, {T_({2, 3, 4}, IotaF(24))}, Attrs({{"start", int64_t{2}}, {"end", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].size(), 0);
}

TEST(ShapeOp, SymbolicInputGivesUnknownValueOfKnownLength) {
  auto r = InferOp(OpType::kShape, {SymSpec({"batch", "3"})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype, DType::kInt64);
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "2");
  r = InferOp(OpType::kShape, {Spec{DType::kFloat32, std::nullopt, std::nullopt, true}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "?");
}

TEST(Identity, CopiesAnyType) {
  auto r = RunOp(OpType::kIdentity, {T_<bool>({3}, {true, false, true})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kBool);
  ExpectTensor((*r)[0], {3}, {1, 0, 1});
}

TEST(Dropout, InferenceIsIdentityWithTrueMask) {
  auto r = RunOp(OpType::kDropout, {T_({2, 2}, {1, 2, 3, 4}), T_({}, {0.3f})}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ((*r)[1].dtype(), DType::kBool);
  ExpectTensor((*r)[1], {2, 2}, {1, 1, 1, 1});
  r = RunOp(OpType::kDropout, {T_({2}, {1, 2}), T_({}, {0.3f}), T_<bool>({}, {true})});
  ExpectError(r, StatusCode::kUnsupported, {"Dropout 'n'", "training_mode"});
  r = RunOp(OpType::kDropout, {T_({2}, {1, 2}), T_({}, {0.0f}), T_<bool>({}, {true})});
  ASSERT_TRUE(r.ok());
}

// ---- Constant / ConstantOfShape / Range ----------------------------------------------

TEST(Constant, AllAttributeForms) {
  auto r = RunOp(OpType::kConstant, {}, Attrs({{"value", T_<int32_t>({2}, {5, 6})}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  ExpectTensor((*r)[0], {2}, {5, 6});
  r = RunOp(OpType::kConstant, {}, Attrs({{"value_float", 2.5f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {}, {2.5});
  r = RunOp(OpType::kConstant, {}, Attrs({{"value_floats", std::vector<float>{1, 2}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {1, 2});
  r = RunOp(OpType::kConstant, {}, Attrs({{"value_int", int64_t{-4}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt64);
  ExpectTensor((*r)[0], {}, {-4});
  r = RunOp(OpType::kConstant, {}, Attrs({{"value_ints", std::vector<int64_t>{}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0}));
  r = RunOp(OpType::kConstant, {}, Attrs({{"value_string", std::string("x")}}));
  ExpectError(r, StatusCode::kUnsupported, {"Constant 'n'", "value_string"});
}

TEST(ConstantOfShape, ValueTypeAndEmpty) {
  auto r = RunOp(OpType::kConstantOfShape, {I64({2}, {2, 3})}, Attrs({{"value", T_<int32_t>({1}, {7})}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kInt32);
  ExpectTensor((*r)[0], {2, 3}, {7, 7, 7, 7, 7, 7});
  r = RunOp(OpType::kConstantOfShape, {I64({1}, {0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat32);
  EXPECT_EQ((*r)[0].dims(), (Dims{0}));
  r = RunOp(OpType::kConstantOfShape, {I64({2}, {1 << 30, 1 << 30})});
  ExpectError(r, StatusCode::kInvalidInput, {"ConstantOfShape 'n'", "2^34"});
  r = RunOp(OpType::kConstantOfShape, {I64({2}, {2, -1})});
  ExpectError(r, StatusCode::kInvalidInput, {"ConstantOfShape 'n'", "negative"});
  auto i = InferOp(OpType::kConstantOfShape, {UnknownInts(3)});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(ShapeToString(*(*i)[0].shape), "?x?x?");
}

TEST(Range, FloatAndIntAndNegativeDelta) {
  auto r = RunOp(OpType::kRange, {T_({}, {1}), T_({}, {2}), T_({}, {0.3f})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {4}, {1, 1.3, 1.6, 1.9});
  r = RunOp(OpType::kRange, {T_<int32_t>({}, {10}), T_<int32_t>({}, {6}), T_<int32_t>({}, {-3})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {10, 7});
  r = RunOp(OpType::kRange, {T_<int64_t>({}, {0}), T_<int64_t>({}, {-5}), T_<int64_t>({}, {1})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0}));
  r = RunOp(OpType::kRange, {T_<int64_t>({}, {0}), T_<int64_t>({}, {5}), T_<int64_t>({}, {0})});
  ExpectError(r, StatusCode::kInvalidInput, {"Range 'n'", "delta is 0"});
  r = RunOp(OpType::kRange, {T_<int64_t>({}, {0}), T_<int64_t>({}, {std::numeric_limits<int64_t>::max()}),
                             T_<int64_t>({}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"2^34"});
  auto i = InferOp(OpType::kRange, {Known({}, DType::kInt64), Known({}, DType::kInt64), Known({}, DType::kInt64)});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(ShapeToString(*(*i)[0].shape), "?");
}

}  // namespace
}  // namespace squint::ir::testing
