// passes/online_hadamard: structure (one shared Hadamard per value, rotated weights, blocks),
// the report (transformed and skipped Linears with reasons), float equivalence through ir/eval.
#include "passes/online_hadamard.h"

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// x [rows, K] -> Linear(W [K, 16], b) -> output.
Graph OneLinear(int64_t k) {
  GraphBuilder b;
  ValueId x = b.Input("x", {5, k});
  b.Output(b.Op(OpType::kLinear, {x, b.Random("w", {k, 16}), b.Random("b", {16})}));
  return b.Finish();
}

OnlineHadamardReport Rotate(Graph& g, const OnlineHadamardOptions& opts = {}) {
  auto r = OnlineHadamard(g, opts);
  EXPECT_TRUE(r.ok()) << r.status().message();
  Status v = ir::Verify(g);
  EXPECT_TRUE(v.ok()) << v.message();
  return r.ok() ? *r : OnlineHadamardReport{};
}

TEST(OnlineHadamard, KeepsOutputsForEveryBlockKind) {
  struct Case {
    int64_t k, block;
    int32_t hk;
  };
  // 64 = 2^6; 96 = 12·8; 100: no single block, 5 blocks of 20; 768 = 12·64.
  for (const Case& c : {Case{64, 64, 1}, Case{96, 96, 12}, Case{100, 20, 20}, Case{768, 768, 12}}) {
    for (bool signs : {false, true}) {
      SCOPED_TRACE(fmt::format("K {} signs {}", c.k, signs));
      Graph g = OneLinear(c.k);
      const Graph before = g;
      OnlineHadamardOptions opts;
      opts.random_signs = signs;
      const OnlineHadamardReport r = Rotate(g, opts);
      ASSERT_EQ(r.transformed.size(), 1u);
      EXPECT_EQ(r.transformed[0].value, "x");
      EXPECT_EQ(r.transformed[0].block, c.block);
      EXPECT_EQ(r.transformed[0].k, c.hk);
      EXPECT_EQ(r.linears(), 1);
      EXPECT_TRUE(r.skipped.empty());
      const ir::Node* h = FindOp(g, OpType::kHadamard);
      ASSERT_NE(h, nullptr);
      EXPECT_EQ(h->attrs.GetInt("block", 0), c.block);
      EXPECT_EQ(h->attrs.has("signs"), signs);
      EXPECT_EQ(g.nodes[0].op, OpType::kHadamard);
      const ir::Node* lin = FindOp(g, OpType::kLinear);
      EXPECT_EQ(lin->input(0), h->outputs[0]);
      EXPECT_NE(lin->input(1), before.nodes[0].input(1));  // a new constant, the old one untouched
      ExpectEquivalent(before, g, 1e-4);
    }
  }
}

TEST(OnlineHadamard, RotatedActivationLosesOutlierChannel) {
  // One channel 100× the others: after the rotation it is spread over the whole block.
  Graph g = OneLinear(64);
  ASSERT_EQ(Rotate(g).linears(), 1);
  Tensor x(ir::DType::kFloat32, {5, 64});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = i % 64 == 5 ? 100.0f : (i % 2 ? 1.0f : -1.0f);
  const ir::Node* h = FindOp(g, OpType::kHadamard);
  g.outputs.push_back(h->outputs[0]);
  const std::vector<Tensor> in = {x};
  auto out = ir::eval::Evaluator(g).Run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  float peak = 0;
  for (float v : (*out)[1].ToFloatVector()) peak = std::max(peak, std::abs(v));
  EXPECT_LT(peak, 100.0f / 4);  // <= (100 + 63)/√64
}

TEST(OnlineHadamard, SharedValueGetsOneHadamard) {
  // MLP: x -> fc1 -> Relu -> {fc2, fc3} (both read the same value) and a Linear with K = 7.
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 96});
  ValueId h1 = b.Op(OpType::kRelu, {b.Op(OpType::kLinear, {x, b.Random("w1", {96, 64}), b.Random("b1", {64})})});
  b.Output(b.Op(OpType::kLinear, {h1, b.Random("w2", {64, 8})}));
  b.Output(b.Op(OpType::kLinear, {h1, b.Random("w3", {64, 7})}));
  ValueId small = b.Input("small", {3, 7});
  b.Output(b.Op(OpType::kLinear, {small, b.Random("w4", {7, 4})}));
  ValueId wv = b.Input("w_dyn", {96, 4});
  b.Output(b.Op(OpType::kLinear, {x, wv}));
  Graph g = b.Finish();
  const Graph before = g;
  const OnlineHadamardReport r = Rotate(g);
  ASSERT_EQ(r.transformed.size(), 2u);
  EXPECT_EQ(r.transformed[0].value, "x");
  EXPECT_EQ(r.transformed[0].linears.size(), 1u);
  EXPECT_EQ(r.transformed[1].linears.size(), 2u);
  EXPECT_EQ(r.linears(), 3);
  EXPECT_EQ(CountOps(g, OpType::kHadamard), 2);
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_NE(r.skipped[0].reason.find("K = 7 has no Hadamard block >= 8"), std::string::npos) << r.skipped[0].reason;
  EXPECT_NE(r.skipped[1].reason.find("W is not a constant"), std::string::npos) << r.skipped[1].reason;
  ExpectEquivalent(before, g, 1e-4);
}

TEST(OnlineHadamard, SameSeedSameModel) {
  OnlineHadamardOptions opts;
  opts.random_signs = true;
  Graph a = OneLinear(96), b = OneLinear(96);
  Rotate(a, opts);
  Rotate(b, opts);
  EXPECT_EQ(FindOp(a, OpType::kHadamard)->attrs.GetInts("signs"), FindOp(b, OpType::kHadamard)->attrs.GetInts("signs"));
  opts.seed += 1;
  Graph c = OneLinear(96);
  Rotate(c, opts);
  EXPECT_NE(FindOp(a, OpType::kHadamard)->attrs.GetInts("signs"), FindOp(c, OpType::kHadamard)->attrs.GetInts("signs"));
}

TEST(OnlineHadamard, NoEligibleLinearLeavesGraphUntouched) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 6});
  b.Output(b.Op(OpType::kLinear, {b.Op(OpType::kRelu, {x}), b.Random("w", {6, 3})}));
  Graph g = b.Finish();
  const size_t nodes = g.nodes.size(), values = g.values.size();
  const OnlineHadamardReport r = Rotate(g);
  EXPECT_TRUE(r.transformed.empty());
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].reason.find("K = 6"), std::string::npos);
  EXPECT_EQ(g.nodes.size(), nodes);
  EXPECT_EQ(g.values.size(), values);

  OnlineHadamardOptions bad;
  bad.min_block = 0;
  auto e = OnlineHadamard(g, bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("min_block 0"), std::string::npos);
}

}  // namespace
}  // namespace squint::passes::testing
