// softmax_last_axis: a Softmax over another axis becomes Transpose → Softmax(last axis) →
// Transpose, equal in float; a last-axis Softmax and one with masks are left alone.
#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

TEST(SoftmaxLastAxis, OtherAxesGoBetweenTwoTransposes) {
  // YOLOv8's DFL head: softmax over the 16 bins of [1, 16, 4, 8]; also a negative axis.
  for (int64_t axis : {int64_t{1}, int64_t{-3}, int64_t{0}, int64_t{2}}) {
    GraphBuilder b;
    ValueId x = b.Input("x", {1, 16, 4, 8});
    b.Output(b.Op(OpType::kSoftmax, {x}, Attrs({{"axis", axis}})));
    Graph g = b.Finish();
    const Graph before = g;
    auto pass = MakeSoftmaxLastAxis();
    EXPECT_EQ(RunPass(*pass, g), 1) << axis;
    ASSERT_EQ(g.nodes.size(), 3u);
    EXPECT_EQ(g.nodes[0].op, OpType::kTranspose);
    EXPECT_EQ(g.nodes[1].op, OpType::kSoftmax);
    EXPECT_EQ(g.nodes[1].name, before.nodes[0].name);  // options by node name still apply
    EXPECT_EQ(g.nodes[1].attrs.GetInt("axis", 0), -1);
    EXPECT_EQ(g.nodes[2].op, OpType::kTranspose);
    const int64_t k = axis < 0 ? axis + 4 : axis;
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < 4; ++d)
      if (d != k) perm.push_back(d);
    perm.push_back(k);
    EXPECT_EQ(g.nodes[0].attrs.GetInts("perm"), perm);
    EXPECT_EQ(g.outputs, before.outputs);  // the graph output keeps its value and name
    ExpectEquivalent(before, g);
    EXPECT_EQ(RunPass(*pass, g), 0);  // nothing left to do
  }
}

TEST(SoftmaxLastAxis, LastAxisIsLeftAlone) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 5, 7});
  b.Output(b.Op(OpType::kSoftmax, {b.Op(OpType::kSoftmax, {x}, Attrs({{"axis", int64_t{2}}}))}));
  Graph g = b.Finish();
  auto pass = MakeSoftmaxLastAxis();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

}  // namespace
}  // namespace squint::passes::testing
