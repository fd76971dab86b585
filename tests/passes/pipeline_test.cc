#include "passes/pipeline.h"

#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

int Fired(const PipelineReport& r, const std::string& name) {
  for (const auto& [n, c] : r.fired)
    if (n == name) return c;
  return 0;
}

// A pre-norm transformer MLP block as exported at opset 13: Constant nodes for the scalars,
// LayerNorm decomposed, Linear as MatMul + Add, GELU (erf) decomposed, a Dropout, and a
// residual Add; the output goes through an Identity.
Graph MlpBlock() {
  GraphBuilder b;
  const int64_t d = 8, h = 16;
  ValueId x = b.Input("x", {2, 3, d});
  auto scalar = [&](float v) { return b.Op(OpType::kConstant, {}, Attrs({{"value", Tensor::Scalar<float>(v)}})); };
  auto mean = [&](ValueId v) { return b.Op(OpType::kReduceMean, {v}, Attrs({{"axes", std::vector<int64_t>{-1}}})); };
  ValueId dev = b.Op(OpType::kSub, {x, mean(x)});
  ValueId var = mean(b.Op(OpType::kPow, {dev, scalar(2)}));
  ValueId n = b.Op(OpType::kDiv, {dev, b.Op(OpType::kSqrt, {b.Op(OpType::kAdd, {var, scalar(1e-5f)})})});
  ValueId ln = b.Op(OpType::kAdd, {b.Op(OpType::kMul, {n, b.Random("ln.w", {d})}), b.Random("ln.b", {d})});
  ValueId fc1 = b.Op(OpType::kAdd, {b.Random("fc1.b", {h}), b.Op(OpType::kMatMul, {ln, b.Random("fc1.w", {d, h})})});
  ValueId erf = b.Op(OpType::kErf, {b.Op(OpType::kDiv, {fc1, scalar(1.4142135f)})});
  ValueId gelu = b.Op(OpType::kMul, {b.Op(OpType::kMul, {fc1, b.Op(OpType::kAdd, {erf, scalar(1)})}), scalar(0.5f)});
  ValueId drop = b.Op(OpType::kDropout, {gelu}, Attrs({{"ratio", 0.1f}}));
  ValueId fc2 = b.Op(OpType::kAdd, {b.Op(OpType::kMatMul, {drop, b.Random("fc2.w", {h, d})}), b.Random("fc2.b", {d})});
  ValueId y = b.Op(OpType::kIdentity, {b.Op(OpType::kAdd, {x, fc2})});
  b.Output(y);
  return b.Finish();
}

TEST(Pipeline, CanonicalizesAnMlpBlock) {
  Graph g = MlpBlock();
  const std::string out_name = g.value(g.outputs[0]).name;
  Graph before = g;
  auto report = Canonicalize(g);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->converged);
  EXPECT_EQ(Fired(*report, "constant_folding"), 5);
  EXPECT_EQ(Fired(*report, "remove_identity"), 2);
  EXPECT_EQ(Fired(*report, "fuse_layer_norm"), 1);
  EXPECT_EQ(Fired(*report, "fuse_gelu"), 1);
  EXPECT_EQ(Fired(*report, "fuse_linear"), 2);
  EXPECT_EQ(Fired(*report, "fold_batch_norm"), 0);
  // LayerNormalization, Linear, Gelu, Linear, Add.
  ASSERT_EQ(g.nodes.size(), 5u);
  EXPECT_EQ(g.nodes[0].op, OpType::kLayerNormalization);
  EXPECT_EQ(g.nodes[1].op, OpType::kLinear);
  EXPECT_EQ(g.nodes[2].op, OpType::kGelu);
  EXPECT_EQ(g.nodes[3].op, OpType::kLinear);
  EXPECT_EQ(g.nodes[4].op, OpType::kAdd);
  EXPECT_EQ(g.value(g.outputs[0]).name, out_name);
  for (const ir::Value& v : g.values) EXPECT_NE(v.dtype, DType::kUndefined) << v.name;
  ExpectEquivalent(before, g, 1e-5);

  // A canonical graph is a fixed point.
  auto again = Canonicalize(g);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->fired.empty());
  EXPECT_EQ(again->rounds, 1);
}

TEST(Pipeline, FoldsConvBatchNormAfterConstantFolding) {
  GraphBuilder b;
  ValueId x = b.Input("x", {1, 2, 4, 4});
  ValueId z = b.Op(OpType::kConv, {x, b.Random("w", {3, 2, 3, 3})},
                   Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  // γ arrives as Mul of two constants (folded first), then BN folds.
  ValueId gamma = b.Op(OpType::kMul, {b.Random("g0", {3}, 0.5f, 1.0f), b.Scalar(2.0f)});
  ValueId y = b.Op(OpType::kBatchNormalization,
                   {z, gamma, b.Random("beta", {3}), b.Random("mean", {3}), b.Random("var", {3}, 0.5f, 1.0f)});
  b.Output(b.Op(OpType::kRelu, {y}));
  Graph g = b.Finish();
  Graph before = g;
  auto report = Canonicalize(g);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(Fired(*report, "fold_batch_norm"), 1);
  EXPECT_EQ(g.nodes.size(), 2u);
  ExpectEquivalent(before, g);
}

// The LayerNorm's normalized dim is only known once the Reshape target (a Concat of
// Constant nodes) is folded: the pipeline re-infers shapes between rounds.
TEST(Pipeline, FusesWhatFoldingMakesStatic) {
  GraphBuilder b;
  ValueId x = b.Input("x", {6, 8});
  auto ints = [&](std::vector<int64_t> v) {
    const auto n = static_cast<int64_t>(v.size());
    return b.Op(OpType::kConstant, {}, Attrs({{"value", Tensor::FromVector<int64_t>({n}, v)}}));
  };
  ValueId target = b.Op(OpType::kConcat, {ints({2}), ints({3, 8})}, Attrs({{"axis", int64_t{0}}}));
  ValueId r = b.Op(OpType::kReshape, {x, target});
  auto mean = [&](ValueId v) { return b.Op(OpType::kReduceMean, {v}, Attrs({{"axes", std::vector<int64_t>{-1}}})); };
  ValueId dev = b.Op(OpType::kSub, {r, mean(r)});
  ValueId var = mean(b.Op(OpType::kPow, {dev, b.Scalar(2)}));
  b.Output(b.Op(OpType::kDiv, {dev, b.Op(OpType::kSqrt, {b.Op(OpType::kAdd, {var, b.Scalar(1e-5f)})})}));
  Graph g = b.Finish();
  ASSERT_FALSE(g.value(r).shape && ir::DimsFromShape(*g.value(r).shape));  // not static yet
  Graph before = g;
  auto report = Canonicalize(g);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(Fired(*report, "fuse_layer_norm"), 1);
  EXPECT_EQ(CountOps(g, OpType::kLayerNormalization), 1);
  ExpectEquivalent(before, g);
}

TEST(Pipeline, ReportsAnInvalidGraph) {
  Graph g;
  ir::Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  g.values.push_back(x);
  g.outputs = {0};  // produced by nothing
  auto report = Canonicalize(g);
  EXPECT_FALSE(report.ok());
}

}  // namespace
}  // namespace squint::passes::testing
