// --transform wush (quant/wush.h): float equivalence on small graphs and the bundled models, the
// fitted transform lowering the quantized-product error, bad options, and the lowering of the
// grouped Linear it inserts, run on the runtime.
#include "quant/wush.h"

#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "export/sqnt_writer.h"
#include "importers/onnx/onnx_importer.h"
#include "ir/eval/evaluator.h"
#include "ir/eval/ops/gemm.h"
#include "ir/npy.h"
#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/fake_quant.h"
#include "quant/lower.h"
#include "report/accuracy.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::GraphBuilder;

// Rows of x [samples, 16, k]: z·A with z Gaussian, A mixing neighbouring channels (correlated
// channels), and channels 3 and k−5 scaled by 30 (outlier channels).
ir::Tensor OutlierRows(int64_t samples, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  ir::Tensor t(ir::DType::kFloat32, {samples, 16, k});
  std::vector<float> z(static_cast<size_t>(k));
  float* p = t.data<float>();
  for (int64_t r = 0; r < samples * 16; ++r) {
    for (float& v : z) v = n(rng);
    for (int64_t j = 0; j < k; ++j) {
      float v = z[static_cast<size_t>(j)] + 0.8f * z[static_cast<size_t>((j + 1) % k)] +
                0.5f * z[static_cast<size_t>((j + 7) % k)];
      if (j == 3 || j == k - 5) v *= 30.0f;
      p[r * k + j] = v;
    }
  }
  return t;
}

CalibData Data(const ir::Tensor& x) {
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {x.dim(1), x.dim(2)}});
  data.tensors.push_back(x.Clone());
  data.num_samples = x.dim(0);
  return data;
}

// x[1, 16, 64] → Linear(W1 [64, 96], b1) → Relu → Linear(W2 [96, 40]);  x → Linear(W3 [64, 24]):
// x is read by two Linears (one transform for both), the hidden value by one.
ir::Graph Mlp() {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 64});
  ir::ValueId h = b.Op(ir::OpType::kLinear, {x, b.Random("w1", {64, 96}), b.Random("b1", {96})});
  h = b.Op(ir::OpType::kRelu, {h});
  b.Output(b.Op(ir::OpType::kLinear, {h, b.Random("w2", {96, 40})}));
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w3", {64, 24})}));
  return b.Finish();
}

const ir::Node* GroupedLinear(const ir::Graph& g, const std::string& value) {
  for (const ir::Node& n : g.nodes)
    if (n.op == ir::OpType::kLinear && n.attrs.GetInt("groups", 1) > 1 && g.value(n.input(0)).name == value) return &n;
  return nullptr;
}

TEST(WushGraph, RandomMlpKeepsItsOutputs) {
  ir::Graph g = Mlp();
  const ir::Graph before = g;
  auto report = WushGraph(g, Data(OutlierRows(4, 64, 1)), WushOptions{});
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_TRUE(ir::Verify(g).ok()) << ir::Verify(g).message();
  ASSERT_EQ(report->transformed.size(), 2u);
  EXPECT_EQ(report->linears(), 3);
  EXPECT_TRUE(report->skipped.empty());
  const WushReport::Site& s = report->transformed[0];
  EXPECT_EQ(s.value, "x");
  EXPECT_EQ(s.linears.size(), 2u);
  EXPECT_EQ(s.channels, 64);
  EXPECT_EQ(s.block, 32);
  EXPECT_EQ(s.rows, 4 * 16);
  const ir::Node* t = GroupedLinear(g, "x");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->attrs.GetInt("groups", 1), 2);
  EXPECT_EQ(g.constant(t->input(1))->dims(), (ir::Dims{32, 64}));
  // The shared input constants are untouched; readers got new ones.
  EXPECT_EQ(g.constant(before.nodes[0].input(1))->ToFloatVector(), before.constant(before.nodes[0].input(1))->ToFloatVector());
  passes::testing::ExpectEquivalent(before, g, 1e-4);
  // Σ is estimated on the calibration rows, the equivalence holds on any input: also on them.
  const std::vector<ir::Tensor> in = {OutlierRows(1, 64, 2)};
  auto want = ir::eval::Evaluator(before).Run(in);
  auto got = ir::eval::Evaluator(g).Run(in);
  ASSERT_TRUE(want.ok() && got.ok());
  for (size_t o = 0; o < want->size(); ++o) passes::testing::ExpectClose((*got)[o], (*want)[o], 1e-4, "outlier rows");
}

// E = ‖Q_a(x)·Q_w(W) − x·W‖² (per-tensor 8-bit activations, 4-bit weights per column: W4A8), on
// held-out rows with outlier and correlated channels: the WUSH basis (x' = x·Tᵀ, W' = T^{−ᵀ}·W)
// against the plain one.
double ProductError(std::vector<float> xq, std::vector<float> wq, const std::vector<float>& ref, int64_t rows,
                    int64_t k, int64_t n) {
  FakeQuantActivations(xq, 8);
  FakeQuantWeights(wq, k, n, 4);
  std::vector<float> y(static_cast<size_t>(rows * n));
  ir::eval::GemmRowMajor<float>(xq.data(), false, wq.data(), false, y.data(), rows, k, n, 1.0f, false);
  double err = 0;
  for (size_t i = 0; i < y.size(); ++i) err += (static_cast<double>(y[i]) - ref[i]) * (static_cast<double>(y[i]) - ref[i]);
  return err / static_cast<double>(rows);
}

TEST(WushGraph, FittedTransformLowersTheQuantizedProductError) {
  constexpr int64_t k = 64, n = 48;
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, k});
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w", {k, n})}));
  ir::Graph g = b.Finish();
  const std::vector<float> w = g.constant(g.nodes[0].input(1))->ToFloatVector();
  auto report = WushGraph(g, Data(OutlierRows(16, k, 3)), WushOptions{});
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->transformed.size(), 1u);
  const ir::Node* t = GroupedLinear(g, "x");
  ASSERT_NE(t, nullptr);
  g.outputs.push_back(t->outputs[0]);  // x' as well
  const ir::Node& reader = g.nodes.back();
  ASSERT_EQ(reader.input(0), t->outputs[0]);
  const std::vector<float> w_new = g.constant(reader.input(1))->ToFloatVector();

  const ir::Tensor held_out = OutlierRows(8, k, 4);
  std::vector<float> xs, xt;
  for (int64_t i = 0; i < held_out.dim(0); ++i) {
    ir::Tensor one(ir::DType::kFloat32, {1, 16, k});
    std::memcpy(one.raw(), held_out.data<float>() + i * 16 * k, one.bytes());
    const std::vector<ir::Tensor> in = {one.Clone()};
    auto out = ir::eval::Evaluator(g).Run(in);
    ASSERT_TRUE(out.ok()) << out.status().message();
    const std::vector<float> a = one.ToFloatVector(), c = (*out)[1].ToFloatVector();
    xs.insert(xs.end(), a.begin(), a.end());
    xt.insert(xt.end(), c.begin(), c.end());
  }
  const int64_t rows = held_out.dim(0) * 16;
  std::vector<float> ref(static_cast<size_t>(rows * n));
  ir::eval::GemmRowMajor<float>(xs.data(), false, w.data(), false, ref.data(), rows, k, n, 1.0f, false);
  const double plain = ProductError(xs, w, ref, rows, k, n);
  const double wush = ProductError(xt, w_new, ref, rows, k, n);
  // Measured 2026-11-29: plain 292.1, wush 60.4 per row.
  EXPECT_LT(wush, 0.5 * plain) << "plain " << plain << ", wush " << wush;
}

TEST(WushGraph, BadOptionsAndIneligibleLayers) {
  for (int64_t block : {8, 24, 128, 0}) {
    ir::Graph g = Mlp();
    WushOptions o;
    o.block = block;
    auto r = WushGraph(g, Data(OutlierRows(2, 64, 1)), o);
    ASSERT_FALSE(r.ok()) << block;
    EXPECT_NE(r.status().message().find(fmt::format("WUSH block {}: expected 16, 32 or 64", block)), std::string::npos)
        << r.status().message();
  }
  WushOptions o;
  o.damp = 0;
  EXPECT_FALSE(CheckWushOptions(o).ok());
  // Block 64: x (K = 64) qualifies, the hidden value (K = 96) does not.
  ir::Graph g = Mlp();
  o = WushOptions{};
  o.block = 64;
  auto r = WushGraph(g, Data(OutlierRows(2, 64, 1)), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->transformed.size(), 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].reason, "K = 96 is not a multiple of the WUSH block 64");
  // A second run leaves the grouped transforms of the first alone (groups 2 and 3).
  g = Mlp();
  ASSERT_TRUE(WushGraph(g, Data(OutlierRows(2, 64, 1)), WushOptions{}).ok());
  r = WushGraph(g, Data(OutlierRows(2, 64, 1)), WushOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  int grouped_skipped = 0;
  for (const auto& s : r->skipped)
    grouped_skipped += s.reason == "it is grouped (block-diagonal W), not a dense [K, N] layer";
  EXPECT_EQ(grouped_skipped, 2);
}

TEST(WushGraph, AGraphWithoutEligibleLinearsIsUntouched) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 40});
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w", {40, 8})}));
  ir::Graph g = b.Finish();
  const size_t nodes = g.nodes.size();
  auto r = WushGraph(g, Data(OutlierRows(2, 40, 1)), WushOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->transformed.empty());
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].reason, "K = 40 is not a multiple of the WUSH block 32");
  EXPECT_EQ(g.nodes.size(), nodes);
}

// The grouped Linear lowers to a FULLY_CONNECTED with groups = K/B and int8 weights [K, B] even
// at --weight-bits 4, and the runtime's output stays close to float.
TEST(WushLower, GroupedFullyConnectedRunsCloseToFloat) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 64});
  b.Output(b.Op(ir::OpType::kLinear, {x, b.Random("w", {64, 40}), b.Random("b", {40})}));
  const ir::Graph plain = b.Finish();
  ir::Graph g = plain;
  const CalibData data = Data(OutlierRows(16, 64, 5));
  auto r = WushGraph(g, data, WushOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  double sqnr[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const ir::Graph& graph = i == 0 ? plain : g;
    auto cal = Calibrate(graph, data, CalibrationOptions{});
    ASSERT_TRUE(cal.ok()) << cal.status().message();
    LowerOptions lo;
    lo.weight_bits = 4;
    auto lowered = Lower(graph, *cal, lo);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    if (i == 1) {
      int grouped = 0;
      for (const auto& op : lowered->model->operators) {
        if (op->opcode != fb::OpCode::FULLY_CONNECTED || op->options.AsFullyConnectedOptions()->groups == 1) continue;
        ++grouped;
        EXPECT_EQ(op->options.AsFullyConnectedOptions()->groups, 2);
        const fb::TensorT& w = *lowered->model->tensors[static_cast<size_t>(op->inputs[1])];
        EXPECT_EQ(w.type, fb::ElementType::INT8);
        EXPECT_EQ(w.shape, (std::vector<int32_t>{64, 32}));
      }
      EXPECT_EQ(grouped, 1);
    }
    const std::string bytes = exporter::SerializeSqnt(*lowered->model);
    auto rep = report::CompareFloatAndInteger(graph, bytes, data.tensors, nullptr, 0, data.num_samples);
    ASSERT_TRUE(rep.ok()) << rep.status().message();
    sqnr[i] = rep->outputs[0].accumulated.sqnr_db;
  }
  // Measured 2026-11-29: plain 20.4 dB, wush 24.3 dB.
  EXPECT_GT(sqnr[1], 20.0);
  EXPECT_GT(sqnr[1], sqnr[0]) << "plain " << sqnr[0] << " dB, wush " << sqnr[1] << " dB";
}

// The bundled transformers: every Linear with K a multiple of 32 is transformed, outputs on
// validation samples unchanged within 1e-4 relative.
struct ModelCase {
  std::string model, data;
};

class WushModels : public ::testing::TestWithParam<ModelCase> {};

TEST_P(WushModels, KeepOutputs) {
  const std::string root = std::string(SQUINT_SOURCE_DIR) + "/tests/data/models/";
  auto imported = importers::ImportOnnxFile(root + GetParam().model);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  ir::Graph g = std::move(imported).value();
  ASSERT_TRUE(passes::Canonicalize(g).ok());
  auto calib = ir::ReadNpy(root + GetParam().data + "/calib_x.npy");
  auto val = ir::ReadNpy(root + GetParam().data + "/val_x.npy");
  ASSERT_TRUE(calib.ok() && val.ok());
  CalibData data;
  ir::Dims dims = calib->dims();
  dims.erase(dims.begin());
  data.inputs.push_back({g.value(g.inputs[0]).name, calib->dtype(), dims});
  data.tensors.push_back(calib->Clone());
  data.num_samples = calib->dim(0);
  const ir::Graph before = g;
  WushOptions o;
  o.max_samples = 16;
  auto r = WushGraph(g, data, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(ir::Verify(g).ok()) << ir::Verify(g).message();
  EXPECT_GE(r->linears(), 8);
  for (const auto& s : r->skipped) EXPECT_NE(s.reason.find("not a multiple of the WUSH block"), std::string::npos) << s.linear;
  ir::Dims vd = val->dims();
  vd[0] = 4;
  ir::Tensor x(val->dtype(), vd);
  std::memcpy(x.raw(), val->raw(), x.bytes());
  const std::vector<ir::Tensor> in = {std::move(x)};
  auto want = ir::eval::Evaluator(before).Run(in);
  auto got = ir::eval::Evaluator(g).Run(in);
  ASSERT_TRUE(want.ok() && got.ok());
  for (size_t i = 0; i < want->size(); ++i) passes::testing::ExpectClose((*got)[i], (*want)[i], 1e-4, "output");
}

INSTANTIATE_TEST_SUITE_P(Zoo, WushModels,
                         ::testing::Values(ModelCase{"vit_tiny/vit_tiny_op17.onnx", "fashion_mnist"},
                                           ModelCase{"gpt_tiny/gpt_tiny_op17.onnx", "gpt_tiny"}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return info.param.model.substr(0, info.param.model.find('/'));
                         });

}  // namespace
}  // namespace squint::quant
