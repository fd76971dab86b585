#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

int RunFuse(Graph& g) {
  auto pass = MakeFuseLinear();
  return RunPass(*pass, g);
}

TEST(FuseLinear, MatMulAddOnRank3Input) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3, 5});
  ValueId mm = b.Op(OpType::kMatMul, {x, b.Random("w", {5, 4})});
  b.Output(b.Op(OpType::kAdd, {b.Random("b", {4}), mm}));
  Graph g = b.Finish();
  Graph before = g;
  EXPECT_EQ(RunFuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kLinear);
  EXPECT_EQ(g.nodes[0].inputs.size(), 3u);
  ExpectEquivalent(before, g);
}

TEST(FuseLinear, MatMulWithoutBiasAndRowBias) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId h = b.Op(OpType::kRelu, {b.Op(OpType::kMatMul, {x, b.Random("w1", {5, 6})})});
  ValueId mm = b.Op(OpType::kMatMul, {h, b.Random("w2", {6, 2})});
  b.Output(b.Op(OpType::kAdd, {mm, b.Random("b2", {1, 2})}));
  Graph g = b.Finish();
  Graph before = g;
  EXPECT_EQ(RunFuse(g), 2);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(CountOps(g, OpType::kLinear), 2);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
  EXPECT_EQ(g.nodes[2].inputs.size(), 3u);
  ExpectEquivalent(before, g);
}

TEST(FuseLinear, GemmTransposedWithAlphaBeta) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  b.Output(b.Op(OpType::kGemm, {x, b.Random("w", {4, 5}), b.Random("c", {1, 4})},
                Attrs({{"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}})));
  Graph g = b.Finish();
  Graph before = g;
  EXPECT_EQ(RunFuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kLinear);
  EXPECT_EQ(g.constant(g.nodes[0].inputs[1])->dims(), (Dims{5, 4}));
  ExpectEquivalent(before, g);
}

TEST(FuseLinear, GemmWithoutBiasThenAdd) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId y = b.Op(OpType::kGemm, {x, b.Random("w", {5, 4})});
  b.Output(b.Op(OpType::kAdd, {y, b.Random("b", {4})}));
  Graph g = b.Finish();
  Graph before = g;
  EXPECT_EQ(RunFuse(g), 2);  // Gemm -> Linear, then Linear + Add -> Linear with bias
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].inputs.size(), 3u);
  ExpectEquivalent(before, g);
}

TEST(FuseLinear, NotForRuntimeWeightsTransposedAOrFullBias) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId w = b.Input("w", {5, 4});
  b.Output(b.Op(OpType::kMatMul, {x, w}));                                     // weight not constant
  ValueId xt = b.Input("xt", {5, 3});
  b.Output(b.Op(OpType::kGemm, {xt, b.Random("w2", {5, 4})}, Attrs({{"transA", int64_t{1}}})));
  b.Output(b.Op(OpType::kGemm, {x, b.Random("w3", {5, 4}), b.Random("c3", {3, 4})}));  // [M, N] C
  Graph g = b.Finish();
  EXPECT_EQ(RunFuse(g), 0);
  EXPECT_EQ(CountOps(g, OpType::kLinear), 0);
}

// An Add that is not a bias along the last dim stays; the MatMul alone becomes Linear.
TEST(FuseLinear, AddOfAFullMatrixIsNotABias) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId mm = b.Op(OpType::kMatMul, {x, b.Random("w", {5, 4})});
  b.Output(b.Op(OpType::kAdd, {mm, b.Random("m", {3, 4})}));
  Graph g = b.Finish();
  Graph before = g;
  EXPECT_EQ(RunFuse(g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op, OpType::kLinear);
  EXPECT_EQ(g.nodes[0].inputs.size(), 2u);
  EXPECT_EQ(g.nodes[1].op, OpType::kAdd);
  ExpectEquivalent(before, g);
}

}  // namespace
}  // namespace squint::passes::testing
