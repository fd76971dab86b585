#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

TEST(ConstantFolding, FoldsArithmeticOnConstants) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3});
  ValueId c = b.Op(OpType::kAdd, {b.Vec({1, 2, 3}), b.Scalar(0.5f)});
  ValueId c2 = b.Op(OpType::kSqrt, {c});
  b.Output(b.Op(OpType::kMul, {x, c2}));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 2);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kMul);
  const Tensor* folded = g.constant(g.nodes[0].inputs[1]);
  ASSERT_NE(folded, nullptr);
  EXPECT_NEAR(folded->data<float>()[2], std::sqrt(3.5f), 1e-6);
  ExpectEquivalent(before, g);
}

TEST(ConstantFolding, FoldsConstantNodes) {
  GraphBuilder b;
  ValueId x = b.Input("x", {4});
  ValueId k = b.Op(OpType::kConstant, {}, Attrs({{"value", Tensor::FromVector<float>({4}, {1, 2, 3, 4})}}));
  b.Output(b.Op(OpType::kAdd, {x, k}));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kConstant), 0);
  ExpectEquivalent(before, g);
}

// Shape of a value with static dims -> constant; the Reshape target becomes constant.
TEST(ConstantFolding, FoldsStaticShape) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3, 4});
  ValueId y = b.Input("y", {6, 4});
  ValueId s = b.Op(OpType::kShape, {x});
  ValueId tail = b.Op(OpType::kShape, {x}, Attrs({{"start", int64_t{-2}}}));
  b.Output(b.Op(OpType::kReshape, {y, s}));
  b.Output(tail);
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 2);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kReshape);
  ASSERT_NE(g.constant(g.nodes[0].inputs[1]), nullptr);
  EXPECT_EQ(g.constant(g.nodes[0].inputs[1])->ToInt64Vector(), (std::vector<int64_t>{2, 3, 4}));
  // A folded graph output keeps its value and its name.
  const Tensor* t = g.constant(g.outputs[1]);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ToInt64Vector(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(g.value(g.outputs[1]).name, before.value(before.outputs[1]).name);
  ExpectEquivalent(before, g);
}

TEST(ConstantFolding, KeepsShapeOfSymbolicDims) {
  GraphBuilder b;
  ValueId x = b.SymbolicInput("x", ir::Shape{ir::Dim::Symbol("batch"), ir::Dim::Known(4)});
  b.Output(b.Op(OpType::kShape, {x}));
  Graph g = b.Finish();
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kShape), 1);
}

// A 128 MiB ConstantOfShape stays a node (above the 64 MiB fold bound).
TEST(ConstantFolding, DoesNotFoldHugeOutputs) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1});
  ValueId big = b.Op(OpType::kConstantOfShape, {b.Ints({4096, 4096, 2})});
  b.Output(b.Op(OpType::kAdd, {x, big}));
  Graph g = b.Finish();
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kConstantOfShape), 1);
}

TEST(ConstantFolding, LeavesNodesWithRuntimeInputs) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3});
  b.Output(b.Op(OpType::kRelu, {b.Op(OpType::kAdd, {x, b.Scalar(1)})}));
  Graph g = b.Finish();
  auto pass = MakeConstantFolding();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

}  // namespace
}  // namespace squint::passes::testing
