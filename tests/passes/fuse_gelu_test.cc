#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// x = Neg(input) -> decomposition built by `body` -> output (x has a producer, as in models).
template <typename Body>
Graph Build(Body body) {
  GraphBuilder b;
  ValueId x = b.Op(OpType::kNeg, {b.Input("x", {3, 7})});
  b.Output(body(b, x));
  return b.Finish();
}

void ExpectGelu(Graph g, const std::string& approximate) {
  Graph before = g;
  auto pass = MakeFuseGelu();
  EXPECT_EQ(RunPass(*pass, g), 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].op, OpType::kGelu);
  EXPECT_EQ(g.nodes[1].inputs[0], g.nodes[0].outputs[0]);
  EXPECT_EQ(g.nodes[1].attrs.GetString("approximate", "none"), approximate);
  ExpectEquivalent(before, g);
}

void ExpectNoGelu(Graph g) {
  const size_t n = g.nodes.size();
  auto pass = MakeFuseGelu();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(g.nodes.size(), n);
}

// torch: Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)
ValueId TorchErf(GraphBuilder& b, ValueId x, float sqrt2 = 1.4142135381698608f, float half = 0.5f) {
  ValueId erf = b.Op(OpType::kErf, {b.Op(OpType::kDiv, {x, b.Scalar(sqrt2)})});
  ValueId one_plus = b.Op(OpType::kAdd, {erf, b.Scalar(1.0f)});
  return b.Op(OpType::kMul, {b.Op(OpType::kMul, {x, one_plus}), b.Scalar(half)});
}

TEST(FuseGelu, TorchErfForm) {
  ExpectGelu(Build([](GraphBuilder& b, ValueId x) { return TorchErf(b, x); }), "none");
}

TEST(FuseGelu, ErfFormWithFourDigitConstant) {
  ExpectGelu(Build([](GraphBuilder& b, ValueId x) { return TorchErf(b, x, 1.4142f); }), "none");
}

// HF: x * 0.5 * (1 + erf(x * 0.70710678))
TEST(FuseGelu, HalfFirstAndMulByInverseSqrt2) {
  ExpectGelu(Build([](GraphBuilder& b, ValueId x) {
               ValueId erf = b.Op(OpType::kErf, {b.Op(OpType::kMul, {b.Scalar(0.70710678f), x})});
               ValueId one_plus = b.Op(OpType::kAdd, {b.Scalar(1.0f), erf});
               return b.Op(OpType::kMul, {b.Op(OpType::kMul, {x, b.Scalar(0.5f)}), one_plus});
             }),
             "none");
}

// torch approximate="tanh": Mul(0.5, Mul(x, Add(1, Tanh(Mul(β, Add(x, Mul(κ, Mul(x, Mul(x, x)))))))))
TEST(FuseGelu, TorchTanhForm) {
  ExpectGelu(Build([](GraphBuilder& b, ValueId x) {
               ValueId cube = b.Op(OpType::kMul, {x, b.Op(OpType::kMul, {x, x})});
               ValueId inner = b.Op(OpType::kAdd, {x, b.Op(OpType::kMul, {b.Scalar(0.044715f), cube})});
               ValueId t = b.Op(OpType::kTanh, {b.Op(OpType::kMul, {b.Scalar(0.7978845608f), inner})});
               ValueId one_plus = b.Op(OpType::kAdd, {b.Scalar(1.0f), t});
               return b.Op(OpType::kMul, {b.Scalar(0.5f), b.Op(OpType::kMul, {x, one_plus})});
             }),
             "tanh");
}

// HF NewGELU: 0.5 * x * (1 + tanh(√(2/π) * (x + 0.044715 * pow(x, 3))))
TEST(FuseGelu, TanhFormWithPow) {
  ExpectGelu(Build([](GraphBuilder& b, ValueId x) {
               ValueId cube = b.Op(OpType::kPow, {x, b.Scalar(3.0f)});
               ValueId inner = b.Op(OpType::kAdd, {b.Op(OpType::kMul, {cube, b.Scalar(0.044715f)}), x});
               ValueId t = b.Op(OpType::kTanh, {b.Op(OpType::kMul, {inner, b.Scalar(0.7978845608f)})});
               ValueId one_plus = b.Op(OpType::kAdd, {t, b.Scalar(1.0f)});
               return b.Op(OpType::kMul, {b.Op(OpType::kMul, {b.Scalar(0.5f), x}), one_plus});
             }),
             "tanh");
}

TEST(FuseGelu, NotWithAnotherCoefficient) {
  ExpectNoGelu(Build([](GraphBuilder& b, ValueId x) { return TorchErf(b, x, 1.4142135f, 0.6f); }));
  ExpectNoGelu(Build([](GraphBuilder& b, ValueId x) { return TorchErf(b, x, 1.3f); }));
}

TEST(FuseGelu, NotWhenErfReadsAnotherValue) {
  GraphBuilder b;
  ValueId x = b.Input("x", {4});
  ValueId z = b.Input("z", {4});
  ValueId erf = b.Op(OpType::kErf, {b.Op(OpType::kDiv, {z, b.Scalar(1.4142135f)})});
  ValueId one_plus = b.Op(OpType::kAdd, {erf, b.Scalar(1.0f)});
  b.Output(b.Op(OpType::kMul, {b.Op(OpType::kMul, {x, one_plus}), b.Scalar(0.5f)}));
  ExpectNoGelu(b.Finish());
}

TEST(FuseGelu, NotWhenAnIntermediateIsReadElsewhere) {
  GraphBuilder b;
  ValueId x = b.Input("x", {4});
  ValueId erf = b.Op(OpType::kErf, {b.Op(OpType::kDiv, {x, b.Scalar(1.4142135f)})});
  ValueId one_plus = b.Op(OpType::kAdd, {erf, b.Scalar(1.0f)});
  b.Output(b.Op(OpType::kMul, {b.Op(OpType::kMul, {x, one_plus}), b.Scalar(0.5f)}));
  b.Output(erf);
  ExpectNoGelu(b.Finish());
}

}  // namespace
}  // namespace squint::passes::testing
