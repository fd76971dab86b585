#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// BN(γ, β, μ, σ²) with σ² > 0 over `c` channels.
std::vector<ValueId> BnParams(GraphBuilder& b, int64_t c) {
  return {b.Random("gamma", {c}, 0.5f, 1.5f), b.Random("beta", {c}), b.Random("mean", {c}),
          b.Random("var", {c}, 0.1f, 2.0f)};
}

ValueId Bn(GraphBuilder& b, ValueId z, int64_t c) {
  std::vector<ValueId> in = {z};
  for (ValueId p : BnParams(b, c)) in.push_back(p);
  return b.Op(OpType::kBatchNormalization, in, Attrs({{"epsilon", 1e-3f}}));
}

TEST(FoldBatchNorm, IntoConvWithBias) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 3, 6, 6});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {4, 3, 3, 3}), b.Random("b", {4})},
                   Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  ValueId y = Bn(b, z, 4);
  b.Output(y);
  Graph g = b.Finish();
  const std::string out_name = g.value(y).name;
  Graph before = g;
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kConv);
  EXPECT_EQ(g.value(g.outputs[0]).name, out_name);
  ExpectEquivalent(before, g);
}

TEST(FoldBatchNorm, IntoConvWithoutBias) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 2, 5, 5});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {3, 2, 1, 1})});
  b.Output(b.Op(OpType::kRelu, {Bn(b, z, 3)}));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kBatchNormalization), 0);
  EXPECT_EQ(FindOp(g, OpType::kConv)->inputs.size(), 3u);
  ExpectEquivalent(before, g);
}

TEST(FoldBatchNorm, IntoGemmTransposedWithAlphaBeta) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId z = b.Op(OpType::kGemm, {x, b.Random("w", {4, 5}), b.Random("c", {4})},
                   Attrs({{"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}}));
  b.Output(Bn(b, z, 4));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kGemm);
  ExpectEquivalent(before, g);
}

TEST(FoldBatchNorm, IntoLinear) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 5});
  ValueId z = b.Op(OpType::kLinear, {x, b.Random("w", {5, 4})});
  b.Output(Bn(b, z, 4));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kLinear);
  ExpectEquivalent(before, g);
}

// The Conv output is also read by another node: folding would change that reader's input.
TEST(FoldBatchNorm, NotWhenConvOutputHasTwoReaders) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 3, 4, 4});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {4, 3, 1, 1})});
  b.Output(Bn(b, z, 4));
  b.Output(b.Op(OpType::kRelu, {z}));
  Graph g = b.Finish();
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kBatchNormalization), 1);
}

TEST(FoldBatchNorm, NotWithRuntimeParametersOrRank3Linear) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 3, 4, 4});
  ValueId gamma = b.Input("gamma", {4});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {4, 3, 1, 1})});
  std::vector<ValueId> p = BnParams(b, 4);
  b.Output(b.Op(OpType::kBatchNormalization, {z, gamma, p[1], p[2], p[3]}));
  // Linear on [B, C, K]: BN's channel dim 1 is not the Linear's output dim.
  ValueId x3 = b.Input("x3", {2, 4, 5});
  b.Output(Bn(b, b.Op(OpType::kLinear, {x3, b.Random("w3", {5, 4})}), 4));
  Graph g = b.Finish();
  auto pass = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kBatchNormalization), 2);
}

}  // namespace
}  // namespace squint::passes::testing
