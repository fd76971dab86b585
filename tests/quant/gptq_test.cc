// --weight-rounding gptq (quant/gptq.h): with no correlation between inputs GPTQ is round to
// nearest; on correlated inputs it lowers the layer's output error on those inputs; codes stay on
// the grid; dead inputs get code 0; the Hessians are Σ x xᵀ over the calibration rows; errors.
// --weight-rounding adaround (quant/adaround.h) on the same Hessians: every code is its weight
// rounded down or up, the output error drops on correlated inputs, the result is deterministic.
#include "quant/gptq.h"

#include "quant/adaround.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "quant/weights.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::GraphBuilder;

std::vector<float> RandomWeights(int64_t units, int64_t depth, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(units * depth));
  for (float& v : w) v = n(rng);
  return w;
}

// Rows x [rows, depth] with correlated channels (z·A, A mixing neighbours) and two loud channels.
Eigen::MatrixXd CorrelatedRows(int64_t rows, int64_t depth, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  Eigen::MatrixXd z(rows, depth), x(rows, depth);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < depth; ++j) z(r, j) = n(rng);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < depth; ++j)
      x(r, j) = (z(r, j) + 0.9 * z(r, (j + 1) % depth) + 0.6 * z(r, (j + 5) % depth)) * (j == 2 || j == 9 ? 8.0 : 1.0);
  return x;
}

InputHessian HessianOf(const Eigen::MatrixXd& x) {
  InputHessian h;
  h.h = x.transpose() * x;
  h.rows = x.rows();
  return h;
}

// ‖(W − Ŵ)·xᵀ‖² / rows with Ŵ = s·codes.
double OutputError(const std::vector<float>& w, const std::vector<int8_t>& codes, const std::vector<float>& scales,
                   int64_t units, int64_t depth, const Eigen::MatrixXd& x) {
  const int64_t per = static_cast<int64_t>(w.size()) / static_cast<int64_t>(scales.size());
  Eigen::MatrixXd d(units, depth);
  for (int64_t r = 0; r < units; ++r)
    for (int64_t j = 0; j < depth; ++j) {
      const size_t i = static_cast<size_t>(r * depth + j);
      d(r, j) = double{w[i]} - double{scales[i / static_cast<size_t>(per)]} * codes[i];
    }
  return (d * x.transpose()).squaredNorm() / static_cast<double>(x.rows());
}

struct Layout {
  int64_t blocks_per_unit;  // 0: one scale per tensor
  int bits;
};

// Calls check(nearest, gptq codes, what) for every layout, with and without act_order.
template <typename Check>
void ForEachLayout(const std::vector<float>& w, int64_t units, int64_t depth, const InputHessian& h,
                   std::initializer_list<Layout> layouts, Check check) {
  for (Layout l : layouts) {
    const int64_t blocks = l.blocks_per_unit == 0 ? 1 : units * l.blocks_per_unit;
    auto rtn = QuantizeWeightBlocks(w, blocks, l.bits);
    ASSERT_TRUE(rtn.ok());
    for (bool act_order : {false, true}) {
      GptqOptions o;
      o.act_order = act_order;
      auto codes = GptqRound("fc", w, units, depth, rtn->scales, l.bits, h, o);
      ASSERT_TRUE(codes.ok()) << codes.status().message();
      const int qmax = (1 << (l.bits - 1)) - 1;
      for (int8_t c : *codes) ASSERT_LE(std::abs(int{c}), qmax);
      check(*rtn, *codes, ::testing::Message() << "blocks " << blocks << " bits " << l.bits << " act_order "
                                                << act_order);
    }
  }
}

TEST(GptqRound, DiagonalHessianIsRoundToNearest) {
  constexpr int64_t units = 12, depth = 64;
  const std::vector<float> w = RandomWeights(units, depth, 1);
  InputHessian h;
  h.h = Eigen::MatrixXd::Zero(depth, depth);
  for (int64_t j = 0; j < depth; ++j) h.h(j, j) = 1.0 + j;  // uncorrelated inputs of different energy
  h.rows = 100;
  ForEachLayout(w, units, depth, h, {Layout{0, 8}, Layout{1, 8}, Layout{1, 4}, Layout{2, 4}, Layout{4, 3}},
                [](const QuantizedWeights& rtn, const std::vector<int8_t>& codes, const ::testing::Message& what) {
                  EXPECT_EQ(codes, rtn.codes) << what;
                });
}

TEST(GptqRound, CorrelatedInputsLowerTheOutputError) {
  constexpr int64_t units = 32, depth = 96;
  const Eigen::MatrixXd calib = CorrelatedRows(2000, depth, 2), held_out = CorrelatedRows(500, depth, 3);
  const std::vector<float> w = RandomWeights(units, depth, 4);
  ForEachLayout(w, units, depth, HessianOf(calib), {Layout{1, 4}, Layout{3, 4}, Layout{1, 8}, Layout{0, 4}},
                [&](const QuantizedWeights& rtn, const std::vector<int8_t>& codes, const ::testing::Message& what) {
                  const double e_rtn = OutputError(w, rtn.codes, rtn.scales, units, depth, held_out);
                  const double e_gptq = OutputError(w, codes, rtn.scales, units, depth, held_out);
                  // GPTQ's published gain at 4 bits is large; here at least a quarter less error on
                  // held-out rows (measured: 0.51-0.69 of nearest's).
                  EXPECT_LT(e_gptq, 0.75 * e_rtn) << what << ": " << e_gptq << " vs nearest " << e_rtn;
                });
}

TEST(GptqRound, DeadInputsGetCodeZeroAndBadShapesAreErrors) {
  constexpr int64_t units = 4, depth = 16;
  Eigen::MatrixXd x = CorrelatedRows(300, depth, 5);
  x.col(7).setZero();  // an input no calibration row reached
  const InputHessian h = HessianOf(x);
  const std::vector<float> w = RandomWeights(units, depth, 6);
  auto rtn = QuantizeWeightBlocks(w, units, 4);
  ASSERT_TRUE(rtn.ok());
  auto codes = GptqRound("fc", w, units, depth, rtn->scales, 4, h, GptqOptions{});
  ASSERT_TRUE(codes.ok()) << codes.status().message();
  for (int64_t r = 0; r < units; ++r) EXPECT_EQ((*codes)[static_cast<size_t>(r * depth + 7)], 0);

  InputHessian small;
  small.h = Eigen::MatrixXd::Identity(8, 8);
  auto bad = GptqRound("fc", w, units, depth, rtn->scales, 4, small, GptqOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("GPTQ 'fc': a Hessian of 8 x 8 for depth 16"), std::string::npos);
  auto bad_scales = GptqRound("fc", w, units, depth, std::vector<float>(3, 1.0f), 4, h, GptqOptions{});
  ASSERT_FALSE(bad_scales.ok());
  EXPECT_NE(bad_scales.status().message().find("3 scales for 4 units"), std::string::npos);
}

TEST(AdaRound, RoundsEachWeightDownOrUpAndLowersTheOutputError) {
  constexpr int64_t units = 32, depth = 96;
  const Eigen::MatrixXd calib = CorrelatedRows(2000, depth, 2), held_out = CorrelatedRows(500, depth, 3);
  const std::vector<float> w = RandomWeights(units, depth, 4);
  const InputHessian h = HessianOf(calib);
  for (Layout l : {Layout{1, 4}, Layout{3, 4}, Layout{1, 3}, Layout{0, 4}}) {
    const int64_t blocks = l.blocks_per_unit == 0 ? 1 : units * l.blocks_per_unit;
    auto rtn = QuantizeWeightBlocks(w, blocks, l.bits);
    ASSERT_TRUE(rtn.ok());
    auto codes = AdaRound("fc", w, units, depth, rtn->scales, l.bits, h);
    ASSERT_TRUE(codes.ok()) << codes.status().message();
    const int qmax = (1 << (l.bits - 1)) - 1;
    const int64_t per = units * depth / static_cast<int64_t>(rtn->scales.size());
    int moved = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const double x = w[i] / rtn->scales[i / static_cast<size_t>(per)];
      const int c = (*codes)[i];
      ASSERT_LE(std::abs(c), qmax);
      ASSERT_TRUE(c == std::clamp<int>(static_cast<int>(std::floor(x)), -qmax, qmax) ||
                  c == std::clamp<int>(static_cast<int>(std::ceil(x)), -qmax, qmax))
          << "weight " << i << " at " << x << " got code " << c;
      moved += c != rtn->codes[i];
    }
    const double e_rtn = OutputError(w, rtn->codes, rtn->scales, units, depth, held_out);
    const double e_ada = OutputError(w, *codes, rtn->scales, units, depth, held_out);
    EXPECT_GT(moved, 0);
    // Measured 0.78-0.85 of nearest's error on held-out rows (GPTQ: 0.51-0.69; AdaRound only picks
    // between the two neighbours of each weight, GPTQ moves the later columns too).
    EXPECT_LT(e_ada, 0.9 * e_rtn) << "blocks " << blocks << " bits " << l.bits << ": " << e_ada << " vs nearest "
                                  << e_rtn << ", " << moved << " codes moved";
    if (l.blocks_per_unit == 1 && l.bits == 4) {  // deterministic (once: each run is 1000 Adam steps)
      auto again = AdaRound("fc", w, units, depth, rtn->scales, l.bits, h);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(*again, *codes);
    }
  }
  InputHessian small;
  small.h = Eigen::MatrixXd::Identity(8, 8);
  auto bad = AdaRound("fc", w, units, depth, {1.0f}, 4, small);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("AdaRound 'fc': a Hessian of 8 x 8 for depth 96"), std::string::npos);
}

// x [1, 5, 6] → Linear(W1 [6, 4]) → Relu → Linear(W2 [4, 3]);  x → Linear(W3 [6, 2]): x's Hessian
// is shared by the two Linears reading it and equals Σ x xᵀ over the 2 samples × 5 rows.
TEST(GptqHessians, SumOverTheCalibrationRowsSharedPerValue) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 5, 6});
  ir::ValueId h = b.Op(ir::OpType::kLinear, {x, b.Random("w1", {6, 4})});
  h = b.Op(ir::OpType::kRelu, {h});
  b.Output(b.Op(ir::OpType::kLinear, {h, b.Random("w2", {4, 3})}));
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w3", {6, 2})}));
  const ir::Graph g = b.Finish();
  const std::string fc1 = g.nodes[0].name, fc2 = g.nodes[2].name, fc3 = g.nodes[3].name;
  ir::Tensor data(ir::DType::kFloat32, {2, 5, 6});
  for (int64_t i = 0; i < data.size(); ++i) data.data<float>()[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  CalibData calib;
  calib.inputs.push_back({"x", ir::DType::kFloat32, {5, 6}});
  calib.tensors.push_back(data.Clone());
  calib.num_samples = 2;
  auto hs = ComputeGptqHessians(g, calib, GptqOptions{});
  ASSERT_TRUE(hs.ok()) << hs.status().message();
  ASSERT_EQ(hs->size(), 3u);
  ASSERT_EQ(hs->at(fc1).size(), 1u);
  EXPECT_EQ(hs->at(fc1)[0].get(), hs->at(fc3)[0].get());
  const InputHessian& hx = *hs->at(fc1)[0];
  EXPECT_EQ(hx.rows, 10);
  Eigen::MatrixXd want = Eigen::MatrixXd::Zero(6, 6);
  for (int64_t r = 0; r < 10; ++r)
    for (int64_t a = 0; a < 6; ++a)
      for (int64_t c = 0; c < 6; ++c) want(a, c) += double{data.data<float>()[r * 6 + a]} * data.data<float>()[r * 6 + c];
  EXPECT_LT((hx.h - want).cwiseAbs().maxCoeff(), 1e-9 * want.cwiseAbs().maxCoeff());
  EXPECT_EQ(hs->at(fc2)[0]->h.rows(), 4);
  EXPECT_EQ(hs->at(fc2)[0]->rows, 10);
}

}  // namespace
}  // namespace squint::quant
