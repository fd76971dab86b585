// --weight-bits / --act-bits / --group-size in lowering: narrower codes stay inside their grids
// (stored one per int8, or packed two per byte for 4-bit FULLY_CONNECTED weights), group scales
// (FULLY_CONNECTED and CONV_2D) come with the kernel's group multipliers and the bias on each
// unit's common scale, and unsupported values are rejected.
#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "export/sqnt_writer.h"
#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "report/accuracy.h"
#include "runtime/kernels/reference/kernels.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::GraphBuilder;

struct Fixture {
  ir::Graph g;
  Calibration cal;
};

// x[1, in] → MatMul(w[in, 8]) + b → Relu → MatMul(w2[8, 4]), calibrated on 32 random samples.
Fixture MakeCalibratedMlp(int64_t in = 16) {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, in});
  ir::ValueId h = b.Op(ir::OpType::kAdd, {b.Op(ir::OpType::kMatMul, {x, b.Random("w", {in, 8})}),
                                          b.Random("b", {8})});
  b.Output(b.Op(ir::OpType::kMatMul, {b.Op(ir::OpType::kRelu, {h}), b.Random("w2", {8, 4})}));
  Fixture f{b.Finish(), {}};
  EXPECT_TRUE(passes::Canonicalize(f.g).ok());
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {in}});  // per sample, batch axis dropped
  std::mt19937 rng(7);
  data.tensors.push_back(passes::testing::RandomTensor({32, in}, rng));
  data.num_samples = 32;
  auto cal = Calibrate(f.g, data, CalibrationOptions{});
  EXPECT_TRUE(cal.ok()) << cal.status().message();
  f.cal = *cal;
  return f;
}

// [min, max] of the codes of every INT8 and (unpacked) INT4 constant tensor.
struct Codes {
  int lo = 127, hi = -128;
};
int64_t NumElements(const fb::TensorT& t) {
  int64_t n = 1;
  for (int32_t d : t.shape) n *= d;
  return n;
}
std::vector<int8_t> ConstCodes(const fb::ModelT& m, const fb::TensorT& t) {
  const std::vector<uint8_t>& bytes = m.buffers[t.buffer]->data;
  if (t.type == fb::ElementType::INT8) return std::vector<int8_t>(bytes.begin(), bytes.end());
  std::vector<int8_t> codes(static_cast<size_t>(NumElements(t)));
  rt::ref::UnpackInt4(bytes.data(), NumElements(t), codes.data());
  return codes;
}
Codes WeightCodes(const fb::ModelT& m) {
  Codes c;
  for (const auto& t : m.tensors) {
    if ((t->type != fb::ElementType::INT8 && t->type != fb::ElementType::INT4) || t->buffer == 0) continue;
    for (int8_t v : ConstCodes(m, *t)) {
      c.lo = std::min<int>(c.lo, v);
      c.hi = std::max<int>(c.hi, v);
    }
  }
  return c;
}

Result<LoweredModel> LowerMlp(int weight_bits, int act_bits, int group_size = 0, int64_t in = 16,
                              bool per_channel = true,
                              LowerOptions::ActBitsScope scope = LowerOptions::ActBitsScope::kMatMulInputs) {
  Fixture f = MakeCalibratedMlp(in);
  LowerOptions o;
  o.weight_bits = weight_bits;
  o.act_bits = act_bits;
  o.act_bits_scope = scope;
  o.group_size = group_size;
  o.per_channel = per_channel;
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

// The MLP x → FC1 → Relu → FC2 → y: x and FC1's output are read by a matrix product, y is not.
// With --act-bits-scope matmul they take act_bits codes and y keeps 8 bits; with all, every one
// is narrow. Clamps, zero points and the quantized input's grid stay in range.
TEST_P(LowerBits, ActivationGridsAndClampsStayInActBits) {
  using Scope = LowerOptions::ActBitsScope;
  for (Scope scope : {Scope::kMatMulInputs, Scope::kAll}) {
    auto lowered = LowerMlp(8, GetParam(), 0, 16, true, scope);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    const fb::ModelT& m = *lowered->model;
    int fc = 0;
    for (const auto& op : m.operators) {
      const auto* fco = op->options.AsFullyConnectedOptions();
      if (!fco) continue;
      const int bits = scope == Scope::kAll || fc == 0 ? GetParam() : 8;  // FC2 writes the model output
      const int qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1;
      ++fc;
      EXPECT_GE(fco->requant->activation_min, qmin) << op->name;  // FC1's folded ReLU clamps at its zero point
      EXPECT_EQ(fco->requant->activation_max, qmax) << op->name;
      EXPECT_LT(fco->requant->activation_min, fco->requant->activation_max) << op->name;
      const auto* q = m.tensors[static_cast<size_t>(op->outputs[0])]->quantization.AsAffineQuantization();
      ASSERT_NE(q, nullptr);
      EXPECT_GE(q->zero_point[0], qmin);
      EXPECT_LE(q->zero_point[0], qmax);
    }
    EXPECT_EQ(fc, 2);
    // The input x is read by FC1: narrow in both scopes (its grid spans 2^bits codes).
    const auto* qx = m.tensors[static_cast<size_t>(m.inputs[0])]->quantization.AsAffineQuantization();
    const int qmin = -(1 << (GetParam() - 1)), qmax = (1 << (GetParam() - 1)) - 1;
    EXPECT_GE(qx->zero_point[0], qmin);
    EXPECT_LE(qx->zero_point[0], qmax);
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, LowerBits, ::testing::Values(8, 6, 4, 3));

TEST(LowerBitsErrors, UnsupportedWidthsAreInvalidInput) {
  for (auto [w, a] : {std::pair{5, 8}, std::pair{8, 2}, std::pair{16, 8}, std::pair{2, 8}}) {
    auto lowered = LowerMlp(w, a);
    ASSERT_FALSE(lowered.ok());
    EXPECT_EQ(lowered.status().code(), StatusCode::kInvalidInput);
    EXPECT_NE(lowered.status().message().find(std::to_string(w == 8 ? a : w)), std::string::npos)
        << lowered.status().message();
  }
}

TEST(LowerInt4, FullyConnectedWeightsArePackedTwoPerByte) {
  for (int bits : {8, 6, 4}) {
    auto lowered = LowerMlp(bits, 8);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    const fb::ModelT& m = *lowered->model;
    int fc = 0;
    for (const auto& op : m.operators) {
      if (op->opcode != fb::OpCode::FULLY_CONNECTED) continue;
      ++fc;
      const fb::TensorT& w = *m.tensors[static_cast<size_t>(op->inputs[1])];
      EXPECT_EQ(w.type, bits == 4 ? fb::ElementType::INT4 : fb::ElementType::INT8) << op->name;
      const int64_t n = NumElements(w);
      EXPECT_EQ(static_cast<int64_t>(m.buffers[w.buffer]->data.size()), bits == 4 ? (n + 1) / 2 : n) << op->name;
      EXPECT_EQ(w.quantization.AsAffineQuantization()->group_size, 0);
      EXPECT_TRUE(op->options.AsFullyConnectedOptions()->group_multiplier.empty());
    }
    EXPECT_EQ(fc, 2);
  }
}

TEST(LowerGroups, GroupScalesComeWithTheKernelMultipliers) {
  for (int bits : {4, 8}) {
    auto lowered = LowerMlp(bits, 8, /*group_size=*/32, /*in=*/64);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    const fb::ModelT& m = *lowered->model;
    std::vector<const fb::OperatorT*> fcs;
    for (const auto& op : m.operators)
      if (op->opcode == fb::OpCode::FULLY_CONNECTED) fcs.push_back(op.get());
    ASSERT_EQ(fcs.size(), 2u);
    // First layer: [8 units, 64 depth] in 2 groups of 32 per unit.
    const fb::TensorT& w = *m.tensors[static_cast<size_t>(fcs[0]->inputs[1])];
    const auto* q = w.quantization.AsAffineQuantization();
    EXPECT_EQ(q->group_size, 32);
    EXPECT_EQ(q->axis, 0);
    ASSERT_EQ(q->scale.size(), 16u);
    const std::vector<uint16_t>& gm = fcs[0]->options.AsFullyConnectedOptions()->group_multiplier;
    ASSERT_EQ(gm.size(), 16u);
    for (size_t u = 0; u < 8; ++u) {  // the larger group of each unit is the common scale: 2^B
      const size_t big = q->scale[2 * u] >= q->scale[2 * u + 1] ? 2 * u : 2 * u + 1;
      EXPECT_EQ(gm[big], 1 << rt::ref::kGroupScaleBits) << u;
      const size_t other = big ^ 1;  // the unit's other group
      const double one = 1 << rt::ref::kGroupScaleBits;
      EXPECT_NEAR(gm[other] / one, q->scale[other] / q->scale[big], 0.5 / one) << u;
    }
    // Second layer: depth 8 is not a multiple of 32: per-channel scales, named in a warning.
    const fb::TensorT& w2 = *m.tensors[static_cast<size_t>(fcs[1]->inputs[1])];
    EXPECT_EQ(w2.quantization.AsAffineQuantization()->group_size, 0);
    EXPECT_EQ(w2.quantization.AsAffineQuantization()->scale.size(), 4u);
    EXPECT_TRUE(fcs[1]->options.AsFullyConnectedOptions()->group_multiplier.empty());
    ASSERT_EQ(lowered->warnings.size(), 1u);
    EXPECT_NE(lowered->warnings[0].find("depth 8 is not a multiple of --group-size 32"), std::string::npos)
        << lowered->warnings[0];
    EXPECT_NE(lowered->warnings[0].find(w2.name), std::string::npos) << lowered->warnings[0];
  }
}

// x[1, 32, 4, 4] → Conv 3x3 pad 1 (w [8, 32, 3, 3], b; depth 288) → Relu → Conv 1x1 (w2 [4, 8, 1, 1];
// depth 8), calibrated on 16 random samples.
Fixture MakeCalibratedConvs() {
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 32, 4, 4});
  ir::ValueId h = b.Op(ir::OpType::kConv, {x, b.Random("w", {8, 32, 3, 3}), b.Random("b", {8})},
                       passes::testing::Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  b.Output(b.Op(ir::OpType::kConv, {b.Op(ir::OpType::kRelu, {h}), b.Random("w2", {4, 8, 1, 1})}));
  Fixture f{b.Finish(), {}};
  EXPECT_TRUE(passes::Canonicalize(f.g).ok());
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {32, 4, 4}});
  std::mt19937 rng(8);
  data.tensors.push_back(passes::testing::RandomTensor({16, 32, 4, 4}, rng));
  data.num_samples = 16;
  auto cal = Calibrate(f.g, data, CalibrationOptions{});
  EXPECT_TRUE(cal.ok()) << cal.status().message();
  f.cal = *cal;
  return f;
}

TEST(LowerGroups, ConvWeightsTakeGroupScalesWithTheBiasOnTheCommonScale) {
  for (int bits : {4, 8}) {
    Fixture f = MakeCalibratedConvs();
    std::vector<float> bias_f;
    for (const ir::Node& n : f.g.nodes)
      if (n.op == ir::OpType::kConv && n.inputs.size() > 2) bias_f = f.g.constant(n.inputs[2])->ToFloatVector();
    ASSERT_EQ(bias_f.size(), 8u);
    LowerOptions o;
    o.weight_bits = bits;
    o.group_size = 32;
    auto lowered = Lower(f.g, f.cal, o);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    const fb::ModelT& m = *lowered->model;
    std::vector<const fb::OperatorT*> convs;
    for (const auto& op : m.operators)
      if (op->opcode == fb::OpCode::CONV_2D) convs.push_back(op.get());
    ASSERT_EQ(convs.size(), 2u);
    // First Conv: 8 channels of depth 32·3·3 = 288 in 9 groups of 32, packed when 4-bit.
    const fb::TensorT& w = *m.tensors[static_cast<size_t>(convs[0]->inputs[1])];
    EXPECT_EQ(w.type, bits == 4 ? fb::ElementType::INT4 : fb::ElementType::INT8);
    const auto* q = w.quantization.AsAffineQuantization();
    EXPECT_EQ(q->group_size, 32);
    ASSERT_EQ(q->scale.size(), 72u);
    const std::vector<uint16_t>& gm = convs[0]->options.AsConv2DOptions()->group_multiplier;
    ASSERT_EQ(gm.size(), 72u);
    const double s_x = m.tensors[static_cast<size_t>(convs[0]->inputs[0])]->quantization.AsAffineQuantization()->scale[0];
    const fb::TensorT& bt = *m.tensors[static_cast<size_t>(convs[0]->inputs[2])];
    const int32_t* bias = reinterpret_cast<const int32_t*>(m.buffers[bt.buffer]->data.data());
    const double one = 1 << rt::ref::kGroupScaleBits;
    for (size_t u = 0; u < 8; ++u) {
      const float s_c = *std::max_element(q->scale.begin() + 9 * u, q->scale.begin() + 9 * u + 9);
      for (size_t g = 9 * u; g < 9 * u + 9; ++g) EXPECT_NEAR(gm[g] / one, q->scale[g] / s_c, 0.5 / one) << g;
      EXPECT_EQ(bias[u], static_cast<int32_t>(std::lround(bias_f[u] / (s_x * s_c)))) << u;  // the common grid
    }
    // Second Conv: depth 8 is not a multiple of 32: per-channel scales, named in a warning.
    const fb::TensorT& w2 = *m.tensors[static_cast<size_t>(convs[1]->inputs[1])];
    EXPECT_EQ(w2.quantization.AsAffineQuantization()->group_size, 0);
    EXPECT_EQ(w2.quantization.AsAffineQuantization()->scale.size(), 4u);
    EXPECT_TRUE(convs[1]->options.AsConv2DOptions()->group_multiplier.empty());
    ASSERT_EQ(lowered->warnings.size(), 1u);
    EXPECT_NE(lowered->warnings[0].find("'" + w2.name + "': depth 8 is not a multiple of --group-size 32"),
              std::string::npos)
        << lowered->warnings[0];
  }
}

// Int16 FULLY_CONNECTEDs take packed 4-bit weights with group scales like int8 ones
// (FullyConnectedLowBit<int16_t>); only a depth the group size does not divide keeps per-channel
// scales, with its warning.
TEST(LowerGroups, Int16ActivationLayersTakePackedGroupScaledWeights) {
  Fixture f = MakeCalibratedMlp(64);
  LowerOptions o;
  o.weight_bits = 4;
  o.group_size = 32;
  for (const ir::Node& n : f.g.nodes)  // every weighted node reads int16
    if (n.op == ir::OpType::kLinear || n.op == ir::OpType::kMatMul || n.op == ir::OpType::kGemm) o.a16.push_back(n.name);
  ASSERT_EQ(o.a16.size(), 2u);
  auto lowered = Lower(f.g, f.cal, o);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  int grouped = 0, fcs = 0;
  for (const auto& op : lowered->model->operators) {
    if (op->opcode != fb::OpCode::FULLY_CONNECTED) continue;
    ++fcs;
    EXPECT_EQ(lowered->model->tensors[static_cast<size_t>(op->inputs[0])]->type, fb::ElementType::INT16) << op->name;
    const fb::TensorT& w = *lowered->model->tensors[static_cast<size_t>(op->inputs[1])];
    EXPECT_EQ(w.type, fb::ElementType::INT4) << op->name;
    grouped += w.quantization.AsAffineQuantization()->group_size == 32;
  }
  EXPECT_EQ(fcs, 2);
  EXPECT_EQ(grouped, 1);
  ASSERT_EQ(lowered->warnings.size(), 1u);
  EXPECT_NE(lowered->warnings[0].find("is not a multiple of --group-size 32"), std::string::npos)
      << lowered->warnings[0];
}

TEST(LowerBits, W8KeepsTheNamedLayersAt8Bits) {
  Fixture f = MakeCalibratedMlp(64);
  std::vector<std::string> linears;
  for (const ir::Node& n : f.g.nodes)
    if (n.op == ir::OpType::kLinear) linears.push_back(n.name);
  ASSERT_EQ(linears.size(), 2u);
  // The weight tensor of each FULLY_CONNECTED, by the float node it lowers.
  auto weight_types = [&](const LowerOptions& o) {
    auto lowered = Lower(f.g, f.cal, o);
    EXPECT_TRUE(lowered.ok()) << lowered.status().message();
    std::vector<std::pair<fb::ElementType, Codes>> out;
    for (const auto& op : lowered->model->operators) {
      if (op->opcode != fb::OpCode::FULLY_CONNECTED) continue;
      const fb::TensorT& w = *lowered->model->tensors[static_cast<size_t>(op->inputs[1])];
      Codes c;
      for (int8_t v : ConstCodes(*lowered->model, w)) c.lo = std::min<int>(c.lo, v), c.hi = std::max<int>(c.hi, v);
      out.push_back({w.type, c});
    }
    return out;
  };
  LowerOptions o;
  o.weight_bits = 4;
  o.w8 = {linears[1]};  // by node name: the second layer only
  auto by_name = weight_types(o);
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name[0].first, fb::ElementType::INT4);
  EXPECT_GE(by_name[0].second.lo, -7);
  EXPECT_LE(by_name[0].second.hi, 7);
  EXPECT_EQ(by_name[1].first, fb::ElementType::INT8);
  EXPECT_EQ(std::max(-by_name[1].second.lo, by_name[1].second.hi), 127);  // the 8-bit grid is used
  o.w8 = {"Linear"};  // by op type: both
  for (const auto& [type, codes] : weight_types(o)) EXPECT_EQ(type, fb::ElementType::INT8);
  // Errors: an unknown name, and --w8 when the weights are 8-bit anyway.
  o.w8 = {"no_such_node"};
  auto unknown = Lower(f.g, f.cal, o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--w8 'no_such_node': no node has this name or op type"), std::string::npos)
      << unknown.status().message();
  o.w8 = {linears[0]};
  o.weight_bits = 8;
  auto useless = Lower(f.g, f.cal, o);
  ASSERT_FALSE(useless.ok());
  EXPECT_EQ(useless.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(useless.status().message().find("the weights are 8-bit already"), std::string::npos)
      << useless.status().message();
}

// ids → Gather(table [64, 8]) → Add(x) with --a16 Add: the table keeps int8 codes and a REQUANTIZE
// widens the rows read (an int16 table would double a language model's largest constant), and the
// integer model still tracks the float one.
TEST(LowerInt16, EmbeddingTablesStayInt8) {
  passes::testing::GraphBuilder b;
  ir::ValueId ids = b.Input("ids", {1, 6}, ir::DType::kInt64);
  ir::ValueId x = b.Input("x", {1, 6, 8});
  b.Output(b.Op(ir::OpType::kAdd, {x, b.Op(ir::OpType::kGather, {b.Random("table", {64, 8}), ids})}));
  ir::Graph g = b.Finish();
  ASSERT_TRUE(passes::Canonicalize(g).ok());
  CalibData data;
  data.inputs = {{"ids", ir::DType::kInt64, {6}}, {"x", ir::DType::kFloat32, {6, 8}}};  // batch axis dropped
  std::mt19937 rng(3);
  ir::Tensor t(ir::DType::kInt64, {32, 6});
  for (int64_t i = 0; i < t.size(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>(rng() % 64);
  data.tensors = {t, passes::testing::RandomTensor({32, 6, 8}, rng)};
  data.num_samples = 32;
  auto cal = Calibrate(g, data, CalibrationOptions{});
  ASSERT_TRUE(cal.ok()) << cal.status().message();
  LowerOptions o;
  o.a16 = {"Add"};
  auto lowered = Lower(g, *cal, o);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  const fb::ModelT& m = *lowered->model;
  std::vector<fb::OpCode> ops;
  for (const auto& op : m.operators) ops.push_back(op->opcode);
  // The graph input x (int8) and the gathered rows are widened for the int16 ADD.
  ASSERT_EQ(ops, (std::vector<fb::OpCode>{fb::OpCode::GATHER, fb::OpCode::REQUANTIZE, fb::OpCode::REQUANTIZE,
                                           fb::OpCode::ADD}));
  const fb::OperatorT& gather = *m.operators[0];
  EXPECT_EQ(m.tensors[static_cast<size_t>(gather.inputs[0])]->type, fb::ElementType::INT8);
  EXPECT_EQ(m.tensors[static_cast<size_t>(gather.outputs[0])]->type, fb::ElementType::INT8);
  const fb::OperatorT& widen = *m.operators[2];  // the ADD reads x first
  EXPECT_EQ(widen.inputs[0], gather.outputs[0]);
  EXPECT_EQ(m.tensors[static_cast<size_t>(widen.outputs[0])]->type, fb::ElementType::INT16);
  const std::string bytes = exporter::SerializeSqnt(m);
  auto rep = report::CompareFloatAndInteger(g, bytes, data.tensors, nullptr, 0, data.num_samples);
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  EXPECT_GT(rep->outputs[0].accumulated.sqnr_db, 35.0);
}

TEST(LowerGroups, UnsupportedGroupSizesAreInvalidInput) {
  for (int group : {16, 48, 256, -32}) {
    auto lowered = LowerMlp(4, 8, group, 64);
    ASSERT_FALSE(lowered.ok()) << group;
    EXPECT_EQ(lowered.status().code(), StatusCode::kInvalidInput);
    EXPECT_NE(lowered.status().message().find("--group-size " + std::to_string(group) + " is not supported"),
              std::string::npos)
        << lowered.status().message();
  }
  auto lowered = LowerMlp(4, 8, 32, 64, /*per_channel=*/false);
  ASSERT_FALSE(lowered.ok());
  EXPECT_NE(lowered.status().message().find("--per-tensor"), std::string::npos) << lowered.status().message();
}

}  // namespace
}  // namespace squint::quant
