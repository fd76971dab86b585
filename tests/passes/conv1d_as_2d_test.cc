// conv1d_as_2d: a Conv over [N, C, L] becomes Unsqueeze → 2-D Conv over a height of 1 → Squeeze,
// equal in float, for strides, dilations, pads, groups, auto_pad and with or without bias.
#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

TEST(Conv1dAs2d, EqualsTheOneDimensionalConv) {
  struct Case {
    int64_t groups, stride, dilation;
    std::vector<int64_t> pads;
    std::string auto_pad;
    bool bias;
  };
  for (const Case& c : {Case{1, 1, 1, {1, 1}, "", true}, Case{2, 2, 1, {0, 2}, "", false},
                        Case{2, 1, 2, {}, "SAME_UPPER", true}, Case{1, 3, 1, {}, "VALID", false}}) {
    GraphBuilder b;
    const ValueId x = b.Input("x", {2, 4, 11});
    std::vector<ValueId> in = {x, b.Random("w", {6, 4 / c.groups, 3})};
    if (c.bias) in.push_back(b.Random("b", {6}));
    Attributes a = Attrs({{"group", c.groups}, {"strides", std::vector<int64_t>{c.stride}},
                          {"dilations", std::vector<int64_t>{c.dilation}}, {"kernel_shape", std::vector<int64_t>{3}}});
    if (!c.pads.empty()) a.set("pads", c.pads);
    if (!c.auto_pad.empty()) a.set("auto_pad", c.auto_pad);
    b.Output(b.Op(OpType::kConv, in, a));
    Graph g = b.Finish();
    const Graph before = g;
    auto pass = MakeConv1dAs2d();
    EXPECT_EQ(RunPass(*pass, g), 1);
    ASSERT_EQ(g.nodes.size(), 3u);
    EXPECT_EQ(g.nodes[0].op, OpType::kUnsqueeze);
    EXPECT_EQ(g.nodes[1].op, OpType::kConv);
    EXPECT_EQ(g.nodes[1].name, before.nodes[0].name);
    EXPECT_EQ(g.constant(g.nodes[1].input(1))->rank(), 4);
    EXPECT_EQ(g.nodes[2].op, OpType::kSqueeze);
    EXPECT_EQ(g.outputs, before.outputs);
    ExpectEquivalent(before, g);
    EXPECT_EQ(RunPass(*pass, g), 0);  // the 2-D conv is left alone
  }
}

}  // namespace
}  // namespace squint::passes::testing
