#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

TEST(RemoveIdentity, RewiresConsumers) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3});
  ValueId r = b.Op(OpType::kRelu, {x});
  ValueId i = b.Op(OpType::kIdentity, {r});
  ValueId d = b.Op(OpType::kDropout, {b.Op(OpType::kExp, {i})}, Attrs({{"ratio", 0.1f}}));
  b.Output(b.Op(OpType::kNeg, {d}));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeRemoveIdentity();
  EXPECT_EQ(RunPass(*pass, g), 2);
  EXPECT_EQ(CountOps(g, OpType::kIdentity), 0);
  EXPECT_EQ(CountOps(g, OpType::kDropout), 0);
  EXPECT_EQ(g.nodes.size(), 3u);
  ExpectEquivalent(before, g);
}

// y = Identity(Relu(x)) is a graph output: Relu now writes 'y' itself.
TEST(RemoveIdentity, KeepsGraphOutputName) {
  GraphBuilder b;
  ValueId x = b.Input("x", {4});
  ValueId r = b.Op(OpType::kRelu, {x});
  ValueId y = b.Op(OpType::kIdentity, {r});
  b.Output(y);
  b.Output(b.Op(OpType::kNeg, {r}));  // another reader of the Identity's input
  Graph g = b.Finish();
  const std::string name = g.value(y).name;
  Graph before = g;
  auto pass = MakeRemoveIdentity();
  EXPECT_EQ(RunPass(*pass, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kIdentity), 0);
  EXPECT_EQ(g.value(g.outputs[0]).name, name);
  EXPECT_EQ(g.nodes[0].outputs[0], g.outputs[0]);
  ExpectEquivalent(before, g);
}

TEST(RemoveIdentity, KeepsIdentityBetweenInterfaceValues) {
  GraphBuilder b;
  ValueId x = b.Input("x", {4});
  b.Output(b.Op(OpType::kIdentity, {x}));  // graph input -> graph output
  ValueId r = b.Op(OpType::kRelu, {x});
  b.Output(r);
  b.Output(b.Op(OpType::kIdentity, {r}));  // graph output -> graph output
  Graph g = b.Finish();
  auto pass = MakeRemoveIdentity();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kIdentity), 2);
}

TEST(RemoveIdentity, KeepsDropoutWithUsedMaskOrTraining) {
  GraphBuilder b(13);
  ValueId x = b.Input("x", {4});
  auto outs = b.OpN(OpType::kDropout, {x}, {}, 2);
  b.Output(outs[0]);
  b.Output(outs[1]);
  ValueId t = b.Op(OpType::kDropout, {x, b.Scalar(0.5f), b.Const("training", Tensor::Scalar<bool>(true))});
  b.Output(t);
  Graph g = b.Finish();
  auto pass = MakeRemoveIdentity();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kDropout), 2);
}

TEST(RemoveIdentity, RemovesDropoutWithFalseTrainingMode) {
  GraphBuilder b(13);
  ValueId x = b.Input("x", {4});
  ValueId d = b.Op(OpType::kDropout, {x, b.Scalar(0.5f), b.Const("training", Tensor::Scalar<bool>(false))});
  b.Output(b.Op(OpType::kRelu, {d}));
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeRemoveIdentity();
  EXPECT_EQ(RunPass(*pass, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kDropout), 0);
  ExpectEquivalent(before, g);
}

}  // namespace
}  // namespace squint::passes::testing
