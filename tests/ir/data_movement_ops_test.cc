// Data movement ops (Concat, Split, Slice, Gather, Transpose, Expand, Tile, Pad): values
// against hand-computed results, every dtype through the byte-wise kernels, zero-size
// tensors, errors naming the node, and symbolic inference.
#include <limits>
#include <numeric>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();


// ---- Concat --------------------------------------------------------------------------

TEST(Concat, MiddleAxisAndEmptyInput) {
  auto r = RunOp(OpType::kConcat, {T_({2, 1, 2}, {0, 1, 2, 3}), Tensor(DType::kFloat32, {2, 0, 2}), T_({2, 2, 2}, IotaF(8))},
                 Attrs({{"axis", int64_t{-2}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 3, 2}, {0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 6, 7});
}

TEST(Concat, Int64AndErrors) {
  auto r = RunOp(OpType::kConcat, {I64({1}, {kMax}), I64({2}, {-1, 3})}, Attrs({{"axis", int64_t{0}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{kMax, -1, 3}));
  r = RunOp(OpType::kConcat, {T_({2, 2}, IotaF(4)), T_({3, 3}, IotaF(9))}, Attrs({{"axis", int64_t{0}}}));
  ExpectError(r, StatusCode::kInvalidInput, {"Concat 'n'", "dim 1: 2 vs 3"});
  r = RunOp(OpType::kConcat, {T_({2}, IotaF(2)), T_({2}, IotaF(2))}, Attrs({{"axis", int64_t{1}}}));
  ExpectError(r, StatusCode::kInvalidInput, {"axis 1 is out of range"});
}

TEST(Concat, Symbolic) {
  auto r = InferOp(OpType::kConcat, {SymSpec({"batch", "3"}), SymSpec({"batch", "5"})}, Attrs({{"axis", int64_t{1}}}),
                   1);
  EXPECT_EQ(InferredShape(r), "batchx8");
  r = InferOp(OpType::kConcat, {SymSpec({"batch", "3"}), SymSpec({"?", "3"})}, Attrs({{"axis", int64_t{0}}}));
  EXPECT_EQ(InferredShape(r), "?x3");
}

// ---- Split ---------------------------------------------------------------------------

TEST(Split, SizesInputEqualAndUnevenParts) {
  auto r = RunOp(OpType::kSplit, {T_({2, 5}, IotaF(10)), I64({2}, {2, 3})}, Attrs({{"axis", int64_t{1}}}), 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {0, 1, 5, 6});
  ExpectTensor((*r)[1], {2, 3}, {2, 3, 4, 7, 8, 9});
  r = RunOp(OpType::kSplit, {T_({6}, IotaF(6))}, {}, 3);
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[2], {2}, {4, 5});
  // num_outputs (opset 18): last chunk smaller.
  r = RunOp(OpType::kSplit, {T_({5}, IotaF(5))}, Attrs({{"num_outputs", int64_t{3}}}), 3, 18);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2}, {0, 1});
  ExpectTensor((*r)[2], {1}, {4});
  // Zero-size parts.
  r = RunOp(OpType::kSplit, {T_({3}, IotaF(3)), I64({3}, {0, 3, 0})}, {}, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].size(), 0);
  ExpectTensor((*r)[1], {3}, {0, 1, 2});
}

TEST(Split, Errors) {
  auto r = RunOp(OpType::kSplit, {T_({5}, IotaF(5)), I64({2}, {2, 2})}, {}, 2);
  ExpectError(r, StatusCode::kInvalidInput, {"Split 'n'", "sums to 4", "size 5"});
  r = RunOp(OpType::kSplit, {T_({5}, IotaF(5))}, {}, 2, 13);
  ExpectError(r, StatusCode::kInvalidInput, {"does not split into 2 equal parts"});
  r = RunOp(OpType::kSplit, {T_({5}, IotaF(5)), I64({3}, {1, 1, 3})}, {}, 2);
  ExpectError(r, StatusCode::kInvalidInput, {"3 entries for 2 outputs"});
}

TEST(Split, Symbolic) {
  auto r = InferOp(OpType::kSplit, {SymSpec({"batch", "6"})}, Attrs({{"axis", int64_t{1}}}), 2);
  EXPECT_EQ(InferredShape(r, 1), "batchx3");
  r = InferOp(OpType::kSplit, {SymSpec({"seq", "6"})}, {}, 2);
  EXPECT_EQ(InferredShape(r, 0), "?x6");
}

// ---- Slice ---------------------------------------------------------------------------

TEST(Slice, StepsNegativeStepsAndClamping) {
  const Tensor x = T_({3, 4}, IotaF(12));
  auto r = RunOp(OpType::kSlice, {x, I64({2}, {0, 1}), I64({2}, {kMax, 1000}), I64({2}, {0, 1}), I64({2}, {2, 2})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {1, 3, 9, 11});
  // Reverse the last axis: [-1 : INT64_MIN : -1].
  r = RunOp(OpType::kSlice, {x, I64({1}, {-1}), I64({1}, {kMin}), I64({1}, {-1}), I64({1}, {-1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3, 4}, {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8});
  // Negative step with start beyond the end clamps to dim - 1; step -2.
  r = RunOp(OpType::kSlice, {x, I64({1}, {100}), I64({1}, {0}), I64({1}, {1}), I64({1}, {-2})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3, 2}, {3, 1, 7, 5, 11, 9});
  // Out-of-bounds start: empty.
  r = RunOp(OpType::kSlice, {x, I64({1}, {10}), I64({1}, {20}), I64({1}, {0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0, 4}));
  // Default axes and steps; negative starts and ends.
  r = RunOp(OpType::kSlice, {x, I64({2}, {-2, -3}), I64({2}, {-1, -1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 2}, {5, 6});
}

TEST(Slice, Errors) {
  const Tensor x = T_({3, 4}, IotaF(12));
  auto r = RunOp(OpType::kSlice, {x, I64({1}, {0}), I64({1}, {2}), I64({1}, {0}), I64({1}, {0})});
  ExpectError(r, StatusCode::kInvalidInput, {"Slice 'n'", "steps [0] contain 0"});
  r = RunOp(OpType::kSlice, {x, I64({2}, {0, 0}), I64({2}, {1, 1}), I64({2}, {1, -1})});
  ExpectError(r, StatusCode::kInvalidInput, {"repeat axis 1"});
  r = RunOp(OpType::kSlice, {x, I64({1}, {0}), I64({2}, {1, 1})});
  ExpectError(r, StatusCode::kInvalidInput, {"differ in length"});
  r = RunOp(OpType::kSlice, {x, I64({1}, {0}), I64({1}, {1}), I64({1}, {2})});
  ExpectError(r, StatusCode::kInvalidInput, {"axes entry 2 is out of range"});
}

TEST(Slice, Symbolic) {
  // x[:, 1:3] keeps batch; x[0:INT_MAX] keeps it too; x[1:] on batch is unknown.
  auto r = InferOp(OpType::kSlice, {SymSpec({"batch", "8"}), Const(I64({1}, {1})), Const(I64({1}, {3})),
                                    Const(I64({1}, {1}))});
  EXPECT_EQ(InferredShape(r), "batchx2");
  r = InferOp(OpType::kSlice, {SymSpec({"batch", "8"}), Const(I64({1}, {0})), Const(I64({1}, {kMax}))});
  EXPECT_EQ(InferredShape(r), "batchx8");
  r = InferOp(OpType::kSlice, {SymSpec({"batch", "8"}), Const(I64({1}, {1})), Const(I64({1}, {kMax}))});
  EXPECT_EQ(InferredShape(r), "?x8");
  // Unknown starts, known axes: only the sliced axis is unknown.
  r = InferOp(OpType::kSlice, {SymSpec({"batch", "8"}), UnknownInts(1), UnknownInts(1), Const(I64({1}, {-1}))});
  EXPECT_EQ(InferredShape(r), "batchx?");
}

// ---- Gather --------------------------------------------------------------------------

TEST(Gather, AxisNegativeIndicesAndScalarIndex) {
  const Tensor x = T_({2, 3}, IotaF(6));
  auto r = RunOp(OpType::kGather, {x, I64({2, 2}, {0, -1, 2, 1})}, Attrs({{"axis", int64_t{1}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2, 2}, {0, 2, 2, 1, 3, 5, 5, 4});
  r = RunOp(OpType::kGather, {x, T_<int32_t>({}, {-1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3}, {3, 4, 5});
  // int64 data, as in shape arithmetic: Gather(Shape(x), 0).
  r = RunOp(OpType::kGather, {I64({4}, {1, 3, 224, 224}), I64({}, {0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].ToInt64Vector(), (std::vector<int64_t>{1}));
  EXPECT_EQ((*r)[0].rank(), 0);
}

TEST(Gather, OutOfRangeIndexNamesNodeAndIndex) {
  auto r = RunOp(OpType::kGather, {T_({3}, IotaF(3)), I64({2}, {1, 3})});
  ExpectError(r, StatusCode::kInvalidInput, {"Gather 'n'", "index 3", "size 3"});
  r = RunOp(OpType::kGather, {T_({3}, IotaF(3)), I64({1}, {-4})});
  ExpectError(r, StatusCode::kInvalidInput, {"index -4"});
  r = RunOp(OpType::kGather, {T_({3}, IotaF(3)), T_({1}, {0})});
  ExpectError(r, StatusCode::kInvalidInput, {"indices must be int32 or int64"});
}

TEST(Gather, Symbolic) {
  auto r = InferOp(OpType::kGather, {SymSpec({"vocab", "64"}), SymSpec({"batch", "seq"}, DType::kInt64)});
  EXPECT_EQ(InferredShape(r), "batchxseqx64");
  r = InferOp(OpType::kGather, {SymSpec({"batch", "seq", "64"}), Const(I64({}, {0}))}, Attrs({{"axis", int64_t{1}}}));
  EXPECT_EQ(InferredShape(r), "batchx64");
}

// ---- Transpose -----------------------------------------------------------------------

// Reference transpose by index arithmetic.
std::vector<double> NaiveTranspose(const Dims& dims, const std::vector<int64_t>& perm) {
  Dims out_dims;
  for (int64_t p : perm) out_dims.push_back(dims[static_cast<size_t>(p)]);
  const int64_t n = ElementCount(dims);
  std::vector<double> out(static_cast<size_t>(n));
  std::vector<int64_t> in_strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) in_strides[i - 1] = in_strides[i] * dims[i];
  for (int64_t o = 0; o < n; ++o) {
    int64_t rest = o, src = 0;
    for (size_t k = out_dims.size(); k-- > 0;) {
      const int64_t c = rest % out_dims[k];
      rest /= out_dims[k];
      src += c * in_strides[static_cast<size_t>(perm[k])];
    }
    out[static_cast<size_t>(o)] = static_cast<double>(src);
  }
  return out;
}

TEST(Transpose, AttentionPermutationsMatchNaive) {
  const Dims dims = {2, 37, 3, 45};  // sizes above the 32-element tile, not multiples of it
  const Tensor x = T_(dims, IotaF(static_cast<int>(ElementCount(dims))));
  for (std::vector<int64_t> perm : std::vector<std::vector<int64_t>>{
           {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 1, 3, 2}, {3, 2, 1, 0}, {1, 0, 3, 2}, {0, 3, 1, 2}}) {
    auto r = RunOp(OpType::kTranspose, {x}, Attrs({{"perm", perm}}));
    ASSERT_TRUE(r.ok()) << r.status().message();
    Dims out_dims;
    for (int64_t p : perm) out_dims.push_back(dims[static_cast<size_t>(p)]);
    ExpectTensor((*r)[0], out_dims, NaiveTranspose(dims, perm), 0, 0);
  }
}

TEST(Transpose, DefaultReversesAndAnyDtype) {
  auto r = RunOp(OpType::kTranspose, {T_<int8_t>({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt8);
  ExpectTensor((*r)[0], {3, 2}, {1, 4, 2, 5, 3, 6});
  r = RunOp(OpType::kTranspose, {Tensor(DType::kFloat64, {2, 0, 3})}, Attrs({{"perm", std::vector<int64_t>{2, 0, 1}}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{3, 2, 0}));
  r = RunOp(OpType::kTranspose, {T_({2, 3}, IotaF(6))}, Attrs({{"perm", std::vector<int64_t>{0, 0}}}));
  ExpectError(r, StatusCode::kInvalidInput, {"Transpose 'n'", "not a permutation"});
  auto i = InferOp(OpType::kTranspose, {SymSpec({"batch", "seq", "4", "16"})},
                   Attrs({{"perm", std::vector<int64_t>{0, 2, 1, 3}}}));
  EXPECT_EQ(InferredShape(i), "batchx4xseqx16");
}

// ---- Expand --------------------------------------------------------------------------

TEST(Expand, BidirectionalBroadcast) {
  // [3,1] expanded by [2,1,6] -> [2,3,6]; a 1 in the shape keeps the input dim.
  auto r = RunOp(OpType::kExpand, {T_({3, 1}, {1, 2, 3}), I64({3}, {2, 1, 6})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<double> want;
  for (int b = 0; b < 2; ++b)
    for (int i = 1; i <= 3; ++i)
      for (int j = 0; j < 6; ++j) want.push_back(i);
  ExpectTensor((*r)[0], {2, 3, 6}, want);
  r = RunOp(OpType::kExpand, {T_<bool>({1}, {true}), I64({2}, {2, 0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{2, 0}));
  r = RunOp(OpType::kExpand, {T_({3}, {1, 2, 3}), I64({1}, {4})});
  ExpectError(r, StatusCode::kInvalidInput, {"Expand 'n'", "cannot be broadcast"});
  auto i = InferOp(OpType::kExpand, {SymSpec({"batch", "1", "16"}), UnknownInts(3)});
  EXPECT_EQ(InferredShape(i), "batchx?x16");
  i = InferOp(OpType::kExpand, {SymSpec({"batch", "1", "16"}), Const(I64({3}, {1, 4, 1}))});
  EXPECT_EQ(InferredShape(i), "batchx4x16");
}

// ---- Tile ----------------------------------------------------------------------------

TEST(Tile, RepeatsIncludingZero) {
  auto r = RunOp(OpType::kTile, {T_({2, 2}, {1, 2, 3, 4}), I64({2}, {2, 3})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  r = RunOp(OpType::kTile, {T_({2}, {1, 2}), I64({1}, {0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0}));
  r = RunOp(OpType::kTile, {T_({2}, {1, 2}), I64({2}, {1, 1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Tile 'n'", "2 entries for input rank 1"});
  r = RunOp(OpType::kTile, {T_({2}, {1, 2}), I64({1}, {kMax})});
  ExpectError(r, StatusCode::kInvalidInput, {"2^34"});
  auto i = InferOp(OpType::kTile, {SymSpec({"batch", "4"}), Const(I64({2}, {1, 2}))});
  EXPECT_EQ(InferredShape(i), "batchx8");
}

// ---- Pad -----------------------------------------------------------------------------

TEST(Pad, ConstantWithValueAndCrop) {
  // [1,2,3] pads begin 2, end -1, value 9 -> [9,9,1,2].
  auto r = RunOp(OpType::kPad, {T_({3}, {1, 2, 3}), I64({2}, {2, -1}), T_({}, {9})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {4}, {9, 9, 1, 2});
  r = RunOp(OpType::kPad, {T_({2, 2}, {1, 2, 3, 4}), I64({4}, {0, 1, 1, 0})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3, 3}, {0, 1, 2, 0, 3, 4, 0, 0, 0});
}

TEST(Pad, ReflectEdgeWrap) {
  const Tensor x = T_({4}, {1, 2, 3, 4});
  auto r = RunOp(OpType::kPad, {x, I64({2}, {3, 2})}, Attrs({{"mode", std::string("reflect")}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {9}, {4, 3, 2, 1, 2, 3, 4, 3, 2});
  r = RunOp(OpType::kPad, {x, I64({2}, {2, 1})}, Attrs({{"mode", std::string("edge")}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {7}, {1, 1, 1, 2, 3, 4, 4});
  r = RunOp(OpType::kPad, {x, I64({2}, {2, 3})}, Attrs({{"mode", std::string("wrap")}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {9}, {3, 4, 1, 2, 3, 4, 1, 2, 3});
  // Reflect beyond the dim size repeats the reflection, as numpy.
  r = RunOp(OpType::kPad, {T_({3}, {1, 2, 3}), I64({2}, {5, 0})}, Attrs({{"mode", std::string("reflect")}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {8}, {2, 1, 2, 3, 2, 1, 2, 3});
}

TEST(Pad, AxesInputOpset18AndErrors) {
  auto r = RunOp(OpType::kPad, {T_({2, 2}, {1, 2, 3, 4}), I64({2}, {1, 1}), std::nullopt, I64({1}, {-1})}, {}, 1, 18);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 4}, {0, 1, 2, 0, 0, 3, 4, 0});
  r = RunOp(OpType::kPad, {T_({2, 2}, {1, 2, 3, 4}), I64({2}, {1, 1})});
  ExpectError(r, StatusCode::kInvalidInput, {"Pad 'n'", "2 entries, expected 2 x 2 axes"});
  r = RunOp(OpType::kPad, {T_({2}, {1, 2}), I64({2}, {-2, -1})});
  ExpectError(r, StatusCode::kInvalidInput, {"crop more than dim 0 of size 2"});
  r = RunOp(OpType::kPad, {Tensor(DType::kFloat32, {0}), I64({2}, {1, 0})}, Attrs({{"mode", std::string("edge")}}));
  ExpectError(r, StatusCode::kInvalidInput, {"cannot pad an empty dim"});
  r = RunOp(OpType::kPad, {T_({2}, {1, 2}), I64({2}, {1, 0}), T_<double>({}, {1})});
  ExpectError(r, StatusCode::kInvalidInput, {"constant_value is float64"});
  auto i = InferOp(OpType::kPad, {SymSpec({"batch", "3", "8", "8"}), Const(I64({8}, {0, 0, 1, 1, 0, 0, 1, 1}))});
  EXPECT_EQ(InferredShape(i), "batchx3x10x10");
}

}  // namespace
}  // namespace squint::ir::testing
