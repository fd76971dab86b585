#include "passes/clip_softmax.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "ir/eval/evaluator.h"
#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

Graph SoftmaxGraph(int64_t axis = -1) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3, 6});
  b.Output(b.Op(OpType::kSoftmax, {x}, Attrs({{"axis", axis}})));
  return b.Finish();
}

// gamma = −ALPHA/T with T the softmax axis length; the float function becomes
// clip((1 − gamma)·softmax + gamma, 0, 1), exact zeros where p <= ALPHA/(T + ALPHA).
TEST(ClipSoftmax, TurnsSoftmaxIntoClippedSoftmax) {
  for (int64_t axis : {int64_t{-1}, int64_t{1}}) {
    Graph plain = SoftmaxGraph(axis), g = plain;
    Result<int> n = ClipSoftmax(g, 1.5);
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ(*n, 1);
    const float t = axis == -1 ? 6.0f : 3.0f;
    const float gamma = -1.5f / t;
    EXPECT_EQ(g.nodes[0].attrs.GetFloat("zeta", 0), 1.0f);
    EXPECT_FLOAT_EQ(g.nodes[0].attrs.GetFloat("gamma", 0), gamma);

    std::mt19937 rng(3);
    std::vector<Tensor> in = RandomInputs(plain, rng);
    ir::eval::Evaluator ep(plain), ec(g);
    Result<std::vector<Tensor>> p = ep.Run(in), c = ec.Run(in);
    ASSERT_TRUE(p.ok() && c.ok());
    int zeros = 0;
    for (int64_t i = 0; i < (*p)[0].size(); ++i) {
      const float want = std::clamp((1.0f - gamma) * (*p)[0].data<float>()[i] + gamma, 0.0f, 1.0f);
      EXPECT_NEAR((*c)[0].data<float>()[i], want, 1e-6f) << i;
      zeros += (*c)[0].data<float>()[i] == 0.0f;
    }
    EXPECT_GT(zeros, 0);  // random logits over 3..6 entries: some probabilities fall below the cut
  }
}

TEST(ClipSoftmax, BadInput) {
  Graph g = SoftmaxGraph();
  EXPECT_EQ(ClipSoftmax(g, -0.1).status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(ClipSoftmax(g, std::nan("")).status().code(), StatusCode::kInvalidInput);
  ASSERT_TRUE(ClipSoftmax(g, 1.0).ok());
  Result<int> again = ClipSoftmax(g, 1.0);  // already clipped
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already a clipped softmax"), std::string::npos);

  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3});
  b.Output(b.Op(OpType::kRelu, {x}));
  Graph none = b.Finish();
  Result<int> r = ClipSoftmax(none, 1.0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no Softmax"), std::string::npos);
}

}  // namespace
}  // namespace squint::passes::testing
