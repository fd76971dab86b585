#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

struct LnOptions {
  std::vector<int64_t> axes = {-1};
  std::vector<int64_t> var_axes;  // empty: same as axes
  bool affine = true;
  bool casts = false;
  bool axes_as_input = false;  // opset 18 ReduceMean
  bool swap_operands = false;  // Add(eps, v), Mul(γ, n), Add(β, ·)
  Dims gamma_dims;             // empty: the normalized shape of the last dim
  float pow_exponent = 2.0f;
};

// The torch 1.13 opset-13 export of layer_norm over x.
ValueId LayerNormDecomposition(GraphBuilder& b, ValueId x, int64_t d, const LnOptions& o) {
  auto reduce = [&](ValueId in, const std::vector<int64_t>& axes) {
    if (o.axes_as_input) return b.Op(OpType::kReduceMean, {in, b.Ints(axes)});
    return b.Op(OpType::kReduceMean, {in}, Attrs({{"axes", axes}}));
  };
  auto cast = [&](ValueId v) {
    return o.casts ? b.Op(OpType::kCast, {v}, Attrs({{"to", int64_t{1}}})) : v;
  };
  auto bin = [&](OpType op, ValueId a, ValueId c) { return o.swap_operands ? b.Op(op, {c, a}) : b.Op(op, {a, c}); };
  ValueId mean = reduce(x, o.axes);
  ValueId dev = b.Op(OpType::kSub, {x, mean});
  ValueId sq = b.Op(OpType::kPow, {cast(dev), b.Scalar(o.pow_exponent)});
  ValueId var = reduce(sq, o.var_axes.empty() ? o.axes : o.var_axes);
  ValueId den = b.Op(OpType::kSqrt, {bin(OpType::kAdd, var, b.Scalar(1e-5f))});
  ValueId n = cast(b.Op(OpType::kDiv, {dev, den}));
  if (!o.affine) return n;
  const Dims gd = o.gamma_dims.empty() ? Dims{d} : o.gamma_dims;
  ValueId scaled = bin(OpType::kMul, n, b.Random("gamma", gd, 0.5f, 1.5f));
  return bin(OpType::kAdd, scaled, b.Random("beta", gd));
}

Graph Build(const LnOptions& o, Dims x_dims = {2, 5, 8}, int64_t opset = 13) {
  GraphBuilder b(opset);
  ValueId x = b.Input("x", x_dims);
  b.Output(b.Op(OpType::kRelu, {LayerNormDecomposition(b, x, x_dims.back(), o)}));
  return b.Finish();
}

void ExpectFused(Graph g, int64_t axis, bool bias) {
  Graph before = g;
  auto pass = MakeFuseLayerNorm();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  const ir::Node& ln = g.nodes[0];
  EXPECT_EQ(ln.op, OpType::kLayerNormalization);
  EXPECT_EQ(ln.attrs.GetInt("axis", 0), axis);
  EXPECT_FLOAT_EQ(ln.attrs.GetFloat("epsilon", 0), 1e-5f);
  EXPECT_EQ(ln.inputs.size(), bias ? 3u : 2u);
  EXPECT_EQ(g.nodes[1].op, OpType::kRelu);
  ExpectEquivalent(before, g);
}

TEST(FuseLayerNorm, TorchOpset13Export) { ExpectFused(Build({}), -1, true); }

TEST(FuseLayerNorm, WithoutAffine) {
  LnOptions o;
  o.affine = false;
  ExpectFused(Build(o), -1, false);
}

TEST(FuseLayerNorm, WithNoopCasts) {
  LnOptions o;
  o.casts = true;
  ExpectFused(Build(o), -1, true);
}

TEST(FuseLayerNorm, SwappedOperandsAndBroadcastGamma) {
  LnOptions o;
  o.swap_operands = true;
  o.gamma_dims = {1, 1, 8};
  ExpectFused(Build(o), -1, true);
}

TEST(FuseLayerNorm, TwoTrailingAxesPositive) {
  LnOptions o;
  o.axes = {1, 2};
  o.gamma_dims = {5, 8};
  ExpectFused(Build(o), -2, true);
}

TEST(FuseLayerNorm, Opset18AxesInput) {
  LnOptions o;
  o.axes_as_input = true;
  ExpectFused(Build(o, {2, 5, 8}, 18), -1, true);
}

void ExpectNotFused(Graph g) {
  const size_t n = g.nodes.size();
  auto pass = MakeFuseLayerNorm();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), n);
  EXPECT_EQ(CountOps(g, OpType::kLayerNormalization), 0);
}

TEST(FuseLayerNorm, NotOverANonTrailingAxis) {
  LnOptions o;
  o.axes = {1};
  ExpectNotFused(Build(o));
}

TEST(FuseLayerNorm, NotWhenTheTwoMeansDisagree) {
  LnOptions o;
  o.axes = {-1};
  o.var_axes = {-2, -1};
  ExpectNotFused(Build(o));
}

TEST(FuseLayerNorm, NotForAnotherExponent) {
  LnOptions o;
  o.pow_exponent = 3.0f;
  ExpectNotFused(Build(o));
}

TEST(FuseLayerNorm, NotWhenTheDeviationIsReadElsewhere) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 8});
  ValueId y = LayerNormDecomposition(b, x, 8, {});
  b.Output(y);
  Graph g = b.Finish();
  // Make the Sub's output a graph output too.
  for (const ir::Node& n : g.nodes)
    if (n.op == OpType::kSub) g.outputs.push_back(n.outputs[0]);
  ExpectNotFused(g);
}

TEST(FuseLayerNorm, NotForSubWithSwappedOperands) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 8});
  ValueId mean = b.Op(OpType::kReduceMean, {x}, Attrs({{"axes", std::vector<int64_t>{-1}}}));
  ValueId dev = b.Op(OpType::kSub, {mean, x});
  ValueId var = b.Op(OpType::kReduceMean, {b.Op(OpType::kPow, {dev, b.Scalar(2)})},
                     Attrs({{"axes", std::vector<int64_t>{-1}}}));
  b.Output(b.Op(OpType::kDiv, {dev, b.Op(OpType::kSqrt, {b.Op(OpType::kAdd, {var, b.Scalar(1e-5f)})})}));
  ExpectNotFused(b.Finish());
}

}  // namespace
}  // namespace squint::passes::testing
