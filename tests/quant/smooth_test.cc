#include <gtest/gtest.h>

#include "quant/smooth.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::Attrs;
using passes::testing::GraphBuilder;

// x[1, 16, 32] → LayerNormalization(γ) → Linear(W[32, 24]): γ has two outlier channels (×40),
// the SmoothQuant setting (activation outliers in fixed channels).
ir::Graph OutlierGraph(float outlier) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 32});
  std::vector<float> gamma(32, 1.0f);
  gamma[5] = gamma[20] = outlier;
  ir::ValueId n = b.Op(ir::OpType::kLayerNormalization, {x, b.Vec(gamma), b.Random("beta", {32}, -0.1f, 0.1f)},
                       Attrs({{"axis", int64_t{-1}}}));
  b.Output(b.Op(ir::OpType::kLinear, {n, b.Random("w", {32, 24}), b.Random("b", {24})}));
  return b.Finish();
}

CalibData RandomData(int64_t samples) {
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {16, 32}});
  std::mt19937 rng(11);
  data.tensors.push_back(passes::testing::RandomTensor({samples, 16, 32}, rng));
  data.num_samples = samples;
  return data;
}

TEST(SmoothGraph, OutlierChannelsAreSmoothedAndTheErrorDrops) {
  ir::Graph g = OutlierGraph(40.0f);
  const ir::Graph before = g;
  SmoothOptions o;
  o.act_bits = 6;
  auto report = SmoothGraph(g, RandomData(8), o);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->sites.size(), 1u);
  const SmoothedSite& s = report->sites[0];
  ASSERT_TRUE(s.applied);
  EXPECT_LT(s.error_after, 0.5 * s.error_before);
  EXPECT_GT(s.max_ratio_before, 20.0);
  EXPECT_LT(s.max_ratio_after, s.max_ratio_before / 4);
  EXPECT_GT(s.alpha, 0.0);
  passes::testing::ExpectEquivalent(before, g, 1e-4);
}

TEST(SmoothGraph, LeavesASiteAloneWhenNoAlphaHelps) {
  // Ternary weights are exact on a 2-bit grid ({−1, 0, 1}, one scale per column); any uneven s
  // moves them off it, which costs more than the activation's 8-bit error gains. The graph stays.
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 32});
  std::vector<float> gamma(32), w(32 * 24);
  for (size_t j = 0; j < gamma.size(); ++j) gamma[j] = 1.0f + static_cast<float>(j) / 8;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>((i * 7) % 3) - 1);
  ir::ValueId n = b.Op(ir::OpType::kLayerNormalization, {x, b.Vec(gamma)}, Attrs({{"axis", int64_t{-1}}}));
  b.Output(b.Op(ir::OpType::kLinear, {n, b.Const("w", ir::Tensor::FromVector<float>({32, 24}, w))}));
  ir::Graph g = b.Finish();
  const ir::ValueId gamma_before = g.nodes[0].input(1);
  SmoothOptions o;
  o.weight_bits = 2;
  auto report = SmoothGraph(g, RandomData(4), o);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->sites.size(), 1u);
  EXPECT_FALSE(report->sites[0].applied);
  EXPECT_EQ(report->sites[0].error_after, report->sites[0].error_before);
  EXPECT_EQ(g.nodes[0].input(1), gamma_before);
}

TEST(SmoothGraph, AGraphWithoutSitesIsUntouched) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 32});
  b.Output(b.Op(ir::OpType::kRelu, {x}));
  ir::Graph g = b.Finish();
  auto report = SmoothGraph(g, RandomData(2), SmoothOptions{});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->sites.empty());
  EXPECT_EQ(g.nodes.size(), 1u);
}

}  // namespace
}  // namespace squint::quant
