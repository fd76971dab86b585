#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

constexpr float kZeta = 1.0f, kGamma = -0.025f;

struct CsOptions {
  bool const_first = false;  // Mul(c, p), Add(γ, ·)
  bool sub = false;          // Sub(·, −γ) instead of Add(·, γ)
  bool no_mul = false;
  float lo = 0, hi = 1;
  bool softmax_read_elsewhere = false;
};

Graph BuildClippedSoftmax(const CsOptions& o) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 3, 6});
  ValueId p = b.Op(OpType::kSoftmax, {x}, Attrs({{"axis", int64_t{-1}}}));
  ValueId v = p;
  if (!o.no_mul) {
    ValueId c = b.Scalar(kZeta - kGamma);
    v = o.const_first ? b.Op(OpType::kMul, {c, v}) : b.Op(OpType::kMul, {v, c});
  }
  if (o.sub) {
    v = b.Op(OpType::kSub, {v, b.Scalar(-kGamma)});
  } else {
    ValueId c = b.Scalar(kGamma);
    v = o.const_first ? b.Op(OpType::kAdd, {c, v}) : b.Op(OpType::kAdd, {v, c});
  }
  b.Output(b.Op(OpType::kClip, {v, b.Scalar(o.lo), b.Scalar(o.hi)}));
  if (o.softmax_read_elsewhere) b.Output(p);
  return b.Finish();
}

void ExpectFused(Graph g, float zeta, float gamma) {
  Graph before = g;
  auto pass = MakeFuseClippedSoftmax();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& sm = g.nodes[0];
  EXPECT_EQ(sm.op, OpType::kSoftmax);
  EXPECT_EQ(sm.attrs.GetInt("axis", 0), -1);
  EXPECT_NEAR(sm.attrs.GetFloat("zeta", 0), zeta, 1e-6);
  EXPECT_NEAR(sm.attrs.GetFloat("gamma", 0), gamma, 1e-6);
  ExpectEquivalent(before, g);
}

TEST(FuseClippedSoftmax, TorchForm) { ExpectFused(BuildClippedSoftmax({}), kZeta, kGamma); }

TEST(FuseClippedSoftmax, ConstantsFirst) {
  CsOptions o;
  o.const_first = true;
  ExpectFused(BuildClippedSoftmax(o), kZeta, kGamma);
}

TEST(FuseClippedSoftmax, SubOfNegatedGamma) {
  CsOptions o;
  o.sub = true;
  ExpectFused(BuildClippedSoftmax(o), kZeta, kGamma);
}

TEST(FuseClippedSoftmax, WithoutMul) {
  CsOptions o;
  o.no_mul = true;
  ExpectFused(BuildClippedSoftmax(o), 1.0f + kGamma, kGamma);
}

TEST(FuseClippedSoftmax, NotForOtherClipBounds) {
  CsOptions o;
  o.hi = 2;
  Graph g = BuildClippedSoftmax(o);
  auto pass = MakeFuseClippedSoftmax();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), 4u);
}

TEST(FuseClippedSoftmax, NotWhenSoftmaxIsReadElsewhere) {
  CsOptions o;
  o.softmax_read_elsewhere = true;
  Graph g = BuildClippedSoftmax(o);
  auto pass = MakeFuseClippedSoftmax();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), 4u);
}

}  // namespace
}  // namespace squint::passes::testing
