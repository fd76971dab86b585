// fold_conv_bias (a per-channel constant Add after Conv/ConvTranspose becomes its bias) and
// fold_batch_norm into ConvTranspose: structure and ir/eval equivalence before and after.
#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

ValueId RandomBn(GraphBuilder& b, ValueId z, int64_t c) {
  return b.Op(OpType::kBatchNormalization,
              {z, b.Random("gamma", {c}, 0.5f, 1.5f), b.Random("beta", {c}), b.Random("mean", {c}),
               b.Random("var", {c}, 0.1f, 2.0f)},
              Attrs({{"epsilon", 1e-3f}}));
}

TEST(FoldConvBias, ConvTransposeAddBatchNormBecomesOneLayer) {
  // Paddle's export of a DB head: ConvTranspose (no bias) -> Add(b [1, C, 1, 1]) -> BN -> Relu.
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 4, 3, 5});
  ValueId z = b.Op(OpType::kConvTranspose, {x, b.Random("w", {4, 3, 2, 2})},
                   Attrs({{"strides", std::vector<int64_t>{2, 2}}}));
  ValueId a = b.Op(OpType::kAdd, {z, b.Random("bias", {1, 3, 1, 1})});
  b.Output(b.Op(OpType::kRelu, {RandomBn(b, a, 3)}));
  Graph g = b.Finish();
  Graph before = g;
  auto bias = MakeFoldConvBias();
  auto bn = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*bias, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kAdd), 0);
  EXPECT_EQ(FindOp(g, OpType::kConvTranspose)->inputs.size(), 3u);
  ExpectEquivalent(before, g);
  EXPECT_EQ(RunPass(*bn, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kBatchNormalization), 0);
  ASSERT_EQ(g.nodes.size(), 2u);  // ConvTranspose, Relu
  ExpectEquivalent(before, g);
}

TEST(FoldConvBias, GroupedConvTransposeAndBatchNorm) {
  // group 2: W [C_in 4, C_out/g 3], output channel g·3 + j.
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 4, 3, 3});
  ValueId z = b.Op(OpType::kConvTranspose, {x, b.Random("w", {4, 3, 3, 3}), b.Random("b", {6})},
                   Attrs({{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}},
                          {"pads", std::vector<int64_t>{1, 1, 0, 0}}}));
  b.Output(RandomBn(b, z, 6));
  Graph g = b.Finish();
  Graph before = g;
  auto bn = MakeFoldBatchNorm();
  EXPECT_EQ(RunPass(*bn, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  ExpectEquivalent(before, g);
}

TEST(FoldConvBias, ConvWithBiasAndConstantFirst) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 3, 5, 5});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {4, 3, 3, 3}), b.Random("b", {4})});
  b.Output(b.Op(OpType::kAdd, {b.Random("c", {4, 1, 1}), z}));  // c + z, c of rank 3
  Graph g = b.Finish();
  const std::string out_name = g.value(g.outputs[0]).name;
  Graph before = g;
  auto pass = MakeFoldConvBias();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.value(g.outputs[0]).name, out_name);
  ExpectEquivalent(before, g);
}

TEST(FoldConvBias, LeavesWhatIsNotAPerChannelBias) {
  auto pass = MakeFoldConvBias();
  for (int variant = 0; variant < 4; ++variant) {
    GraphBuilder b;
    ValueId x = b.Input("x", {1, 3, 4, 4});
    ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {2, 3, 1, 1})});
    ValueId c;
    if (variant == 0) c = b.Random("c", {1, 1, 4, 4});     // varies over space
    if (variant == 1) c = b.Random("c", {2, 1, 1, 1, 1});  // widens the output to rank 5
    if (variant == 2) c = b.Input("c", {1, 2, 1, 1});       // not a constant
    if (variant == 3) c = b.Random("c", {2, 1, 1});
    ValueId y = b.Op(OpType::kAdd, {z, c});
    b.Output(y);
    if (variant == 3) b.Output(z);  // z is also a graph output: must stay
    Graph g = b.Finish();
    EXPECT_EQ(RunPass(*pass, g), 0) << "variant " << variant;
  }
}

}  // namespace
}  // namespace squint::passes::testing
