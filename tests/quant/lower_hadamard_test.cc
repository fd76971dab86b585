// squint.Hadamard lowered to the runtime's HADAMARD, checked on the runtime itself.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "passes/online_hadamard.h"
#include "runtime/quant_math/quant_math.h"
#include "tests/quant/lower_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::Attrs;
using passes::testing::GraphBuilder;
using testing::QuantizeAndCompare;
using testing::Quantized;

// x[1, 16, 24] → LayerNormalization(γ, β) → Linear(W[24, 20], b): γ has two outlier channels
// (×30), so the normalized activation's 8-bit grid is 30 times too coarse for the others.
ir::Graph OutlierLinear() {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 24});
  std::vector<float> gamma(24, 1.0f);
  gamma[3] = 30.0f;
  gamma[17] = -30.0f;
  ir::ValueId n = b.Op(ir::OpType::kLayerNormalization, {x, b.Vec(gamma), b.Random("beta", {24}, -0.1f, 0.1f)},
                       Attrs({{"axis", int64_t{-1}}}));
  b.Output(b.Op(ir::OpType::kLinear, {n, b.Random("w", {24, 20}), b.Random("b", {20})}));
  return b.Finish();
}

TEST(LowerHadamard, RuntimeRotatesAnInt16InputAndBeatsThePlainModel) {
  const CalibData data = testing::RandomCalib({16, 24}, 32, 3);

  const ir::Graph plain = OutlierLinear();
  ir::Graph rotated = plain;
  passes::OnlineHadamardOptions o;
  o.random_signs = true;
  auto r = passes::OnlineHadamard(rotated, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->transformed.size(), 1u);

  const Quantized a = QuantizeAndCompare(plain, data);
  const Quantized b = QuantizeAndCompare(rotated, data);
  ASSERT_TRUE(b.model);
  // One HADAMARD: block 24 = 12·2 (the Paley h_12), signs, int16 input (the LayerNorm computes in
  // int16 for it), int8 output, M = s_x / (√24·s_y).
  const fb::OperatorT* had = nullptr;
  for (const auto& op : b.model->operators)
    if (op->opcode == fb::OpCode::HADAMARD) had = op.get();
  ASSERT_NE(had, nullptr);
  const fb::HadamardOptionsT* opt = had->options.AsHadamardOptions();
  ASSERT_NE(opt, nullptr);
  EXPECT_EQ(opt->block, 24);
  EXPECT_EQ(opt->k, 12);
  EXPECT_EQ(opt->h_k.size(), 144u);
  EXPECT_EQ(opt->signs.size(), 24u);
  const fb::TensorT& in = *b.model->tensors[static_cast<size_t>(had->inputs[0])];
  const fb::TensorT& out = *b.model->tensors[static_cast<size_t>(had->outputs[0])];
  EXPECT_EQ(in.type, fb::ElementType::INT16);
  EXPECT_EQ(out.type, fb::ElementType::INT8);
  const double m = static_cast<double>(in.quantization.AsAffineQuantization()->scale[0]) /
                   (std::sqrt(24.0) * out.quantization.AsAffineQuantization()->scale[0]);
  const rt::QuantizedMultiplier want = quant_math::RequantFromReal(m);
  ASSERT_EQ(opt->requant->multiplier.size(), 1u);
  EXPECT_EQ(opt->requant->multiplier[0], want.multiplier);
  EXPECT_EQ(opt->requant->shift[0], want.shift);
  // The runtime's output against the float model: the rotation removes part of the outliers'
  // damage (measured 2026-11-29: 33.5 dB plain, 37.2 dB rotated; the outlier channels also
  // dominate the output, so the coarse grid of the others costs less than 30x suggests).
  EXPECT_GT(b.output_sqnr, 30.0);
  EXPECT_GT(b.output_sqnr, a.output_sqnr + 2.0) << "plain " << a.output_sqnr << " dB";
}

}  // namespace
}  // namespace squint::quant
