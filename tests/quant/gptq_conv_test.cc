// --weight-rounding gptq|adaround on convolutions (quant/gptq.h): a Conv's Hessians are Σ p pᵀ over
// its im2col'd input patches, one per group (checked against the float evaluator: vᵀ H_k v is the
// sum of squares of a conv output whose only non-zero unit, in group k, has weights v); lowered
// with them, every 3x3 convolution's weight error weighted by its Hessians (the layer's output
// error on the calibration inputs) drops below round-to-nearest's on the same scales, per channel
// and per group of 32, for the dense, the grouped and the depthwise convolutions.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "ir/eval/evaluator.h"
#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/gptq.h"
#include "quant/lower.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::Attrs;
using passes::testing::GraphBuilder;

// Samples [n, c, h, w] of smooth images: a few sinusoids with per-sample phases, so that the
// patches are correlated as natural images' are.
ir::Tensor SmoothImages(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 6.28f);
  ir::Tensor t(ir::DType::kFloat32, {n, c, h, w});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float a = u(rng), b = u(rng), amp = 0.5f + u(rng) / 6.28f;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          *p++ = amp * (std::sin(0.5f * static_cast<float>(y) + a) + std::cos(0.4f * static_cast<float>(x) + b)) +
                 0.3f * std::sin(0.3f * static_cast<float>(x + y) + a * b);
    }
  return t;
}

CalibData DataFor(const std::string& input, ir::Tensor t) {
  CalibData d;
  d.inputs.push_back({input, ir::DType::kFloat32, ir::Dims(t.dims().begin() + 1, t.dims().end())});
  d.num_samples = t.dim(0);
  d.tensors.push_back(std::move(t));
  return d;
}

TEST(GptqConvHessians, EqualTheConvOutputEnergyPerGroup) {
  // x [1, 4, 7, 6], W [6, 2, 3, 3], group 2, strides 2, asymmetric pads, dilation 2 along w; and
  // the same conv with auto_pad SAME_UPPER.
  const ir::Tensor data = SmoothImages(3, 4, 7, 6, 1);
  for (bool same : {false, true}) {
    const ir::Attributes attrs =
        same ? Attrs({{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}},
                      {"auto_pad", std::string("SAME_UPPER")}})
             : Attrs({{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}},
                      {"dilations", std::vector<int64_t>{1, 2}}, {"pads", std::vector<int64_t>{1, 0, 2, 1}}});
    auto conv_graph = [&](ir::Tensor w) {
      GraphBuilder b;
      const ir::ValueId x = b.Input("x", {1, 4, 7, 6});
      b.Output(b.Op(ir::OpType::kConv, {x, b.Const("w", std::move(w))}, attrs));
      return b.Finish();
    };
    std::mt19937 rng(2);
    const ir::Graph g = conv_graph(passes::testing::RandomTensor({6, 2, 3, 3}, rng));
    const CalibData calib = DataFor("x", data.Clone());
    auto hs = ComputeGptqHessians(g, calib, GptqOptions{});
    ASSERT_TRUE(hs.ok()) << hs.status().message();
    ASSERT_EQ(hs->size(), 1u);
    const LayerHessians& h = hs->begin()->second;
    ASSERT_EQ(h.size(), 2u);
    for (int64_t k = 0; k < 2; ++k) {
      const Eigen::MatrixXd& hk = h[static_cast<size_t>(k)]->h;
      ASSERT_EQ(hk.rows(), 18);
      EXPECT_LT((hk - hk.transpose()).cwiseAbs().maxCoeff(), 1e-12);
      // Unit 3k (group k's first) with weights v, every other unit 0.
      ir::Tensor w(ir::DType::kFloat32, {6, 2, 3, 3});
      Eigen::VectorXd v(18);
      for (int64_t j = 0; j < 18; ++j) {
        v(j) = std::sin(1.3 * static_cast<double>(j + 7 * k)) + 0.2;
        w.data<float>()[3 * k * 18 + j] = static_cast<float>(v(j));
      }
      const ir::Graph probe = conv_graph(std::move(w));
      const ir::eval::Evaluator ev(probe);
      double energy = 0;
      int64_t positions = 0;
      for (int64_t s = 0; s < data.dim(0); ++s) {
        ir::Tensor xs(ir::DType::kFloat32, {1, 4, 7, 6});
        std::copy_n(data.data<float>() + s * 168, 168, xs.data<float>());
        auto y = ev.Run(std::span<const ir::Tensor>(&xs, 1));
        ASSERT_TRUE(y.ok()) << y.status().message();
        const ir::Tensor& out = (*y)[0];
        const int64_t per_channel = out.size() / 6;
        positions += per_channel;
        for (int64_t o = 0; o < per_channel; ++o) {
          const double yo = out.data<float>()[3 * k * per_channel + o];
          energy += yo * yo;
        }
      }
      EXPECT_EQ(h[static_cast<size_t>(k)]->rows, positions) << "group " << k << (same ? " SAME_UPPER" : "");
      EXPECT_NEAR(v.dot(hk * v), energy, 1e-5 * energy) << "group " << k << (same ? " SAME_UPPER" : "");
    }
  }
}

// The codes and scales of a lowered conv's weights (stored one code per int8: pack_int4 off).
struct ConvWeights {
  std::vector<int8_t> codes;
  std::vector<float> scales;
};
std::map<std::string, ConvWeights> ConvWeightsOf(const fb::ModelT& m) {
  std::map<std::string, ConvWeights> out;
  for (const auto& op : m.operators) {
    if (op->opcode != fb::OpCode::CONV_2D) continue;
    const fb::TensorT& t = *m.tensors[static_cast<size_t>(op->inputs[1])];
    EXPECT_EQ(t.type, fb::ElementType::INT8);
    const std::vector<uint8_t>& bytes = m.buffers[t.buffer]->data;
    out[op->name] = {std::vector<int8_t>(bytes.begin(), bytes.end()), t.quantization.AsAffineQuantization()->scale};
  }
  return out;
}

// Σ over groups k and units u of group k: e_u H_k e_uᵀ, e = W − s·codes.
double HessianError(const std::vector<float>& w, const ConvWeights& q, int64_t units, const LayerHessians& h) {
  const int64_t depth = static_cast<int64_t>(w.size()) / units, run = units / static_cast<int64_t>(h.size());
  const int64_t per_scale = static_cast<int64_t>(w.size()) / static_cast<int64_t>(q.scales.size());
  double total = 0;
  for (int64_t u = 0; u < units; ++u) {
    Eigen::VectorXd e(depth);
    for (int64_t j = 0; j < depth; ++j) {
      const size_t i = static_cast<size_t>(u * depth + j);
      e(j) = double{w[i]} - double{q.scales[i / static_cast<size_t>(per_scale)]} * q.codes[i];
    }
    total += e.dot(h[static_cast<size_t>(u / run)]->h * e);
  }
  return total;
}

TEST(GptqConv, LowersEachConvsOutputErrorBelowRoundToNearest) {
  // x [1, 32, 6, 6] → Conv 3x3 [16, 32] pad 1 (depth 288) → Relu → grouped Conv 3x3 [16, 4] group 4
  // (depth 36) → Relu → depthwise Conv 3x3 [16, 1] group 16 (depth 9) → Relu → Conv 1x1 [8, 16].
  GraphBuilder b;
  const auto pad1 = [](int64_t group) {
    return Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", group}});
  };
  ir::ValueId x = b.Input("x", {1, 32, 6, 6});
  ir::ValueId h = b.Op(ir::OpType::kConv, {x, b.Random("w1", {16, 32, 3, 3}, -0.2f, 0.2f), b.Random("b1", {16})},
                       pad1(1));
  h = b.Op(ir::OpType::kConv, {b.Op(ir::OpType::kRelu, {h}), b.Random("w2", {16, 4, 3, 3}, -0.3f, 0.3f)}, pad1(4));
  h = b.Op(ir::OpType::kConv, {b.Op(ir::OpType::kRelu, {h}), b.Random("w3", {16, 1, 3, 3})}, pad1(16));
  b.Output(b.Op(ir::OpType::kConv, {b.Op(ir::OpType::kRelu, {h}), b.Random("w4", {8, 16, 1, 1})}));
  ir::Graph g = b.Finish();
  ASSERT_TRUE(passes::Canonicalize(g).ok());
  const CalibData data = DataFor("x", SmoothImages(24, 32, 6, 6, 3));
  auto cal = Calibrate(g, data, CalibrationOptions{});
  ASSERT_TRUE(cal.ok()) << cal.status().message();
  auto hs = ComputeGptqHessians(g, data, GptqOptions{});
  ASSERT_TRUE(hs.ok()) << hs.status().message();
  ASSERT_EQ(hs->size(), 4u);

  for (const int64_t group_size : {int64_t{0}, int64_t{32}}) {
    LowerOptions lo;
    lo.weight_bits = 4;
    lo.group_size = group_size;
    lo.pack_int4 = false;
    auto nearest = Lower(g, *cal, lo);
    ASSERT_TRUE(nearest.ok()) << nearest.status().message();
    lo.input_hessians = *hs;
    for (const auto rounding : {LowerOptions::Rounding::kGptq, LowerOptions::Rounding::kAdaRound}) {
      lo.rounding = rounding;
      auto rounded = Lower(g, *cal, lo);
      ASSERT_TRUE(rounded.ok()) << rounded.status().message();
      const auto near_w = ConvWeightsOf(*nearest->model), round_w = ConvWeightsOf(*rounded->model);
      ASSERT_EQ(near_w.size(), 4u);
      for (const ir::Node& n : g.nodes) {
        if (n.op != ir::OpType::kConv) continue;
        const ir::Tensor& w = *g.constant(n.input(1));
        const ConvWeights& qn = near_w.at(n.name);
        const ConvWeights& qr = round_w.at(n.name);
        const std::string what = n.name + (rounding == LowerOptions::Rounding::kGptq ? " gptq" : " adaround") +
                                 " group size " + std::to_string(group_size);
        EXPECT_EQ(qr.scales, qn.scales) << what;  // the codes change, the scales do not
        for (int8_t c : qr.codes) ASSERT_LE(std::abs(c), 7) << what;
        const LayerHessians& lh = hs->at(n.name);
        EXPECT_EQ(static_cast<int64_t>(lh.size()), n.attrs.GetInt("group", 1)) << what;
        const double en = HessianError(w.ToFloatVector(), qn, w.dim(0), lh);
        const double er = HessianError(w.ToFloatVector(), qr, w.dim(0), lh);
        if (w.dim(2) == 3) {
          EXPECT_LT(er, 0.9 * en) << what << ": " << er << " vs nearest " << en;
        } else {  // the 1x1 conv reads channels with little correlation: no worse
          EXPECT_LE(er, 1.05 * en) << what << ": " << er << " vs nearest " << en;
        }
      }
    }
  }
}

}  // namespace
}  // namespace squint::quant
