#include <gtest/gtest.h>

#include "quant/activation_stats.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::GraphBuilder;

constexpr ir::OpType kLinear[] = {ir::OpType::kLinear};

// x[1, 8] → Linear(W1) → Relu → Linear(W2), and x also read by a second Linear (one entry for x).
ir::Graph TwoLayers() {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 8});
  ir::ValueId h = b.Op(ir::OpType::kRelu, {b.Op(ir::OpType::kLinear, {x, b.Random("w1", {8, 4})})});
  b.Output(b.Op(ir::OpType::kLinear, {h, b.Random("w2", {4, 2})}));
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w3", {8, 2})}));
  return b.Finish();
}

CalibData Data(std::vector<float> values) {
  CalibData d;
  d.inputs.push_back({"x", ir::DType::kFloat32, {8}});
  const int64_t n = static_cast<int64_t>(values.size()) / 8;
  d.tensors.push_back(ir::Tensor::FromVector<float>({n, 8}, values));
  d.num_samples = n;
  return d;
}

TEST(MeasureInputs, MomentsOfKnownDistributions) {
  // ±1 with equal counts: kurtosis 1, max 1, rms 1.
  std::vector<float> pm(8 * 4);
  for (size_t i = 0; i < pm.size(); ++i) pm[i] = i % 2 ? 1.0f : -1.0f;
  auto s = MeasureInputs(TwoLayers(), Data(pm), 0, kLinear);
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->size(), 2u);  // x (read twice) and the Relu output
  EXPECT_EQ((*s)[0].elements, 32);
  EXPECT_NEAR((*s)[0].kurtosis, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ((*s)[0].max_abs, 1.0);
  EXPECT_NEAR((*s)[0].rms, 1.0, 1e-12);
  // One outlier (15) among 31 fives: a Bernoulli(1/32) scaled by 10 and shifted by 5, whose
  // kurtosis is (1 − 3p + 3p²)/(p(1 − p)) whatever the scale and shift.
  std::vector<float> one(8 * 4, 5.0f);
  one[7] = 15.0f;
  s = MeasureInputs(TwoLayers(), Data(one), 0, kLinear);
  ASSERT_TRUE(s.ok());
  const double p = 1.0 / 32, want = (1 - 3 * p + 3 * p * p) / (p * (1 - p));  // Bernoulli kurtosis
  EXPECT_NEAR((*s)[0].kurtosis, want, 1e-6 * want);
  EXPECT_DOUBLE_EQ((*s)[0].max_abs, 15.0);
}

TEST(MeasureInputs, SamplesAreLimited) {
  std::vector<float> v(8 * 6, 1.0f);
  auto s = MeasureInputs(TwoLayers(), Data(v), 2, kLinear);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0].elements, 16);
  EXPECT_EQ((*s)[0].kurtosis, 0.0);  // constant: σ = 0
}

// Only the ops asked for: the Relu's input is measured when Relu is in the set, named after it.
TEST(MeasureInputs, OnlyTheRequestedOps) {
  std::vector<float> v(8 * 2, 1.0f);
  const ir::OpType relu[] = {ir::OpType::kRelu};
  auto s = MeasureInputs(TwoLayers(), Data(v), 0, relu);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].op, ir::OpType::kRelu);
  EXPECT_NE((*s)[0].node.find("Relu"), std::string::npos) << (*s)[0].node;
  EXPECT_EQ((*s)[0].elements, 8);  // W1's 4 outputs per sample
}

}  // namespace
}  // namespace squint::quant
