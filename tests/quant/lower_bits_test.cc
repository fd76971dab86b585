// --weight-bits / --act-bits in lowering: narrower codes stay inside their grids (stored one
// per int8), and unsupported widths are rejected.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::GraphBuilder;

struct Fixture {
  ir::Graph g;
  Calibration cal;
};

// x[1, 16] → MatMul(w[16, 8]) + b → Relu → MatMul(w2[8, 4]), calibrated on 32 random samples.
Fixture MakeCalibratedMlp() {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16});
  ir::ValueId h = b.Op(ir::OpType::kAdd, {b.Op(ir::OpType::kMatMul, {x, b.Random("w", {16, 8})}),
                                          b.Random("b", {8})});
  b.Output(b.Op(ir::OpType::kMatMul, {b.Op(ir::OpType::kRelu, {h}), b.Random("w2", {8, 4})}));
  Fixture f{b.Finish(), {}};
  EXPECT_TRUE(passes::Canonicalize(f.g).ok());
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {16}});  // per sample, batch axis dropped
  std::mt19937 rng(7);
  data.tensors.push_back(passes::testing::RandomTensor({32, 16}, rng));
  data.num_samples = 32;
  auto cal = Calibrate(f.g, data, CalibrationOptions{});
  EXPECT_TRUE(cal.ok()) << cal.status().message();
  f.cal = *cal;
  return f;
}

// [min, max] of the int8 codes of every INT8 constant tensor.
struct Codes {
  int lo = 127, hi = -128;
};
Codes WeightCodes(const fb::ModelT& m) {
  Codes c;
  for (const auto& t : m.tensors) {
    if (t->type != fb::ElementType::INT8 || t->buffer == 0) continue;
    for (uint8_t byte : m.buffers[t->buffer]->data) {
      const int v = static_cast<int8_t>(byte);
      c.lo = std::min(c.lo, v);
      c.hi = std::max(c.hi, v);
    }
  }
  return c;
}

Result<LoweredModel> LowerMlp(int weight_bits, int act_bits) {
  Fixture f = MakeCalibratedMlp();
  LowerOptions o;
  o.weight_bits = weight_bits;
  o.act_bits = act_bits;
  return Lower(f.g, f.cal, o);
}

class LowerBits : public ::testing::TestWithParam<int> {};

TEST_P(LowerBits, WeightCodesStayInTheSymmetricGrid) {
  auto lowered = LowerMlp(GetParam(), 8);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  const int top = (1 << (GetParam() - 1)) - 1;
  const Codes c = WeightCodes(*lowered->model);
  // Per channel, each row's largest |w| maps to ±top: both ends are reached, nothing beyond.
  EXPECT_EQ(c.hi, top);
  EXPECT_EQ(c.lo, -top);
}

TEST_P(LowerBits, ActivationGridsAndClampsStayInActBits) {
  auto lowered = LowerMlp(8, GetParam());
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  const int qmin = -(1 << (GetParam() - 1)), qmax = (1 << (GetParam() - 1)) - 1;
  int fc = 0;
  for (const auto& op : lowered->model->operators) {
    const auto* fco = op->options.AsFullyConnectedOptions();
    if (!fco) continue;
    ++fc;
    EXPECT_GE(fco->requant->activation_min, qmin) << op->name;
    EXPECT_LE(fco->requant->activation_max, qmax) << op->name;
    EXPECT_LT(fco->requant->activation_min, fco->requant->activation_max) << op->name;
    const auto* q = lowered->model->tensors[static_cast<size_t>(op->outputs[0])]->quantization.AsAffineQuantization();
    ASSERT_NE(q, nullptr);
    EXPECT_GE(q->zero_point[0], qmin);
    EXPECT_LE(q->zero_point[0], qmax);
  }
  EXPECT_EQ(fc, 2);
}

INSTANTIATE_TEST_SUITE_P(Widths, LowerBits, ::testing::Values(8, 6, 4));

TEST(LowerBitsErrors, UnsupportedWidthsAreInvalidInput) {
  for (auto [w, a] : {std::pair{5, 8}, std::pair{8, 2}, std::pair{16, 8}}) {
    auto lowered = LowerMlp(w, a);
    ASSERT_FALSE(lowered.ok());
    EXPECT_EQ(lowered.status().code(), StatusCode::kInvalidInput);
    EXPECT_NE(lowered.status().message().find(std::to_string(w == 8 ? a : w)), std::string::npos)
        << lowered.status().message();
  }
}

}  // namespace
}  // namespace squint::quant
