#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

TEST(DeadCodeElimination, RemovesDeadChainsAndUnusedConstants) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3});
  ValueId used = b.Op(OpType::kRelu, {x});
  ValueId dead = b.Op(OpType::kMul, {x, b.Random("w_dead", {2, 3})});
  b.Op(OpType::kExp, {b.Op(OpType::kNeg, {dead})});
  b.Random("unused_initializer", {8});
  b.Output(used);
  Graph g = b.Finish();
  Graph before = g;
  auto pass = MakeDeadCodeElimination();
  EXPECT_EQ(RunPass(*pass, g), 5);  // 3 nodes, 2 constants
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, OpType::kRelu);
  for (const ir::Value& v : g.values) EXPECT_FALSE(v.constant.has_value()) << v.name;
  EXPECT_EQ(g.values.size(), 2u);
  ExpectEquivalent(before, g);
  EXPECT_EQ(RunPass(*pass, g), 0);
}

TEST(DeadCodeElimination, KeepsNodesFeedingGraphOutputs) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2});
  ValueId a = b.Op(OpType::kRelu, {x});
  b.Output(a);
  b.Output(b.Op(OpType::kNeg, {a}));
  Graph g = b.Finish();
  auto pass = MakeDeadCodeElimination();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

}  // namespace
}  // namespace squint::passes::testing
