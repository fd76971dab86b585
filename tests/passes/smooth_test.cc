#include <gtest/gtest.h>

#include "passes/smooth.h"
#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// x[2, 5, C] → LayerNormalization(γ, β) → n; n → Linear(W1[C, 6], b1), n → Linear(W2[C, 3]).
struct NormGraph {
  Graph g;
  ValueId n = ir::kNoValue;
};
NormGraph Build(int64_t c = 8, bool bias = true, bool extra_reader = false) {
  GraphBuilder b;
  ValueId x = b.Input("x", {2, 5, c});
  std::vector<ValueId> in = {x, b.Random("gamma", {c}, 0.5f, 1.5f)};
  if (bias) in.push_back(b.Random("beta", {c}));
  ValueId n = b.Op(OpType::kLayerNormalization, in, Attrs({{"axis", int64_t{-1}}}));
  b.Output(b.Op(OpType::kLinear, {n, b.Random("w1", {c, 6}), b.Random("b1", {6})}));
  b.Output(b.Op(OpType::kLinear, {n, b.Random("w2", {c, 3})}));
  if (extra_reader) b.Output(b.Op(OpType::kAdd, {n, x}));
  return {b.Finish(), n};
}

TEST(Smooth, FindsANormReadOnlyByLinears) {
  NormGraph m = Build();
  std::vector<std::string> skipped;
  const std::vector<SmoothSite> sites = FindSmoothSites(m.g, &skipped);
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(sites[0].x, m.n);
  EXPECT_EQ(sites[0].channels, 8);
  EXPECT_EQ(sites[0].linears.size(), 2u);
}

TEST(Smooth, ScalesMoveIntoTheWeightsWithoutChangingTheFunction) {
  for (bool bias : {true, false}) {
    NormGraph m = Build(8, bias);
    const Graph before = m.g;
    const std::vector<SmoothSite> sites = FindSmoothSites(m.g);
    ASSERT_EQ(sites.size(), 1u);
    const std::vector<float> s = {0.01f, 0.5f, 1.0f, 2.0f, 7.0f, 100.0f, 0.3f, 3.0f};
    ASSERT_TRUE(ApplySmoothing(m.g, sites[0], s).ok());
    ASSERT_TRUE(ir::Verify(m.g).ok());
    // The normalized activation is divided by s, channel by channel: γ and β are.
    const ir::Node& norm = m.g.nodes[static_cast<size_t>(sites[0].norm)];
    const float* g0 = before.constant(before.nodes[0].input(1))->data<float>();
    const float* g1 = m.g.constant(norm.input(1))->data<float>();
    for (size_t j = 0; j < s.size(); ++j) EXPECT_FLOAT_EQ(g1[j], g0[j] / s[j]) << j;
    ExpectEquivalent(before, m.g, 1e-4);
    EXPECT_EQ(m.g.value(m.n).name, before.value(m.n).name + "_smoothed");
    // The old constants are untouched (they may be shared).
    EXPECT_EQ(before.constant(before.nodes[0].input(1))->data<float>()[0], g0[0]);
  }
}

TEST(Smooth, ShiftsMoveIntoBetaAndTheReadersBiases) {
  // RepQ-ViT's form: (x − δ)/s; with and without a β, a reader with and one without a bias.
  for (bool bias : {true, false}) {
    NormGraph m = Build(8, bias);
    const Graph before = m.g;
    const std::vector<SmoothSite> sites = FindSmoothSites(m.g);
    ASSERT_EQ(sites.size(), 1u);
    const std::vector<float> s = {0.5f, 1.0f, 2.0f, 0.25f, 3.0f, 1.5f, 0.8f, 4.0f};
    const std::vector<float> shift = {0.3f, -1.0f, 0.0f, 2.5f, -0.2f, 0.7f, -3.0f, 0.1f};
    ASSERT_TRUE(ApplySmoothing(m.g, sites[0], s, nullptr, shift).ok());
    ASSERT_TRUE(ir::Verify(m.g).ok());
    const ir::Node& norm = m.g.nodes[static_cast<size_t>(sites[0].norm)];
    ASSERT_NE(norm.input(2), ir::kNoValue);  // a β now, also where there was none
    const float* b1 = m.g.constant(norm.input(2))->data<float>();
    const float* b0 = bias ? before.constant(before.nodes[0].input(2))->data<float>() : nullptr;
    for (size_t j = 0; j < s.size(); ++j) EXPECT_FLOAT_EQ(b1[j], ((b0 ? b0[j] : 0.0f) - shift[j]) / s[j]) << j;
    for (int32_t li : sites[0].linears) EXPECT_NE(m.g.nodes[static_cast<size_t>(li)].input(2), ir::kNoValue);
    ExpectEquivalent(before, m.g, 1e-4);
  }
  NormGraph m = Build();
  const std::vector<SmoothSite> sites = FindSmoothSites(m.g);
  std::vector<float> shift(8, 0.0f);
  shift[5] = std::nanf("");
  const Status st = ApplySmoothing(m.g, sites[0], std::vector<float>(8, 1.0f), nullptr, shift);
  EXPECT_NE(st.message().find("shift nan of channel 5"), std::string::npos) << st.message();
}

TEST(Smooth, SkipsNormsWithOtherReadersAndSaysWhy) {
  NormGraph m = Build(8, true, /*extra_reader=*/true);
  std::vector<std::string> skipped;
  EXPECT_TRUE(FindSmoothSites(m.g, &skipped).empty());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("not only Linear X inputs"), std::string::npos) << skipped[0];
}

TEST(Smooth, RejectsBadScales) {
  NormGraph m = Build();
  const std::vector<SmoothSite> sites = FindSmoothSites(m.g);
  ASSERT_EQ(sites.size(), 1u);
  std::vector<float> s(8, 1.0f);
  s[3] = 0.0f;
  Status st = ApplySmoothing(m.g, sites[0], s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("channel 3"), std::string::npos) << st.message();
  EXPECT_FALSE(ApplySmoothing(m.g, sites[0], std::vector<float>(7, 1.0f)).ok());
}

}  // namespace
}  // namespace squint::passes::testing
