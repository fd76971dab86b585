// ConvTranspose lowering (CONV_TRANSPOSE_2D) and the bias-driven floor on weight scales: graphs
// calibrated, lowered, run on the integer runtime and compared with ir/eval.
#include <gtest/gtest.h>

#include "quant/lower_conv_transpose.h"
#include "quant/weights.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/quant_math/quant_math.h"
#include "tests/quant/lower_test_util.h"

namespace squint::quant::testing {
namespace {

using ir::OpType;
using passes::testing::Attrs;
using passes::testing::GraphBuilder;

int CountOps(const fb::ModelT& m, fb::OpCode code) {
  int n = 0;
  for (const auto& op : m.operators) n += op->opcode == code;
  return n;
}

TEST(LowerConvTranspose, GeometriesMatchFloat) {
  struct Case {
    const char* what;
    ir::Attributes attrs;
    int64_t group;
  };
  const std::vector<Case> cases = {
      {"stride 2, kernel 2 (DB head)", Attrs({{"strides", std::vector<int64_t>{2, 2}}}), 1},
      {"pads, output_padding, dilation",
       Attrs({{"strides", std::vector<int64_t>{2, 3}}, {"pads", std::vector<int64_t>{1, 0, 0, 1}},
              {"output_padding", std::vector<int64_t>{1, 2}}, {"dilations", std::vector<int64_t>{2, 1}}}),
       1},
      {"group 2, auto_pad SAME_UPPER",
       Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}), 2},
      {"output_shape", Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"output_shape", std::vector<int64_t>{13, 12}}}),
       1},
  };
  for (const Case& c : cases) {
    GraphBuilder b;
    ir::ValueId x = b.Input("x", {1, 4, 6, 6});
    ir::Attributes attrs = c.attrs;
    attrs.set("group", c.group);
    ir::ValueId y = b.Op(OpType::kConvTranspose, {x, b.Random("w", {4, 6 / c.group, 3, 3}), b.Random("b", {6})}, attrs);
    b.Output(b.Op(OpType::kRelu, {y}));
    const ir::Graph g = b.Finish();
    Quantized q = QuantizeAndCompare(g, RandomCalib({4, 6, 6}, 16, 3));
    ASSERT_TRUE(q.model) << c.what;
    EXPECT_EQ(CountOps(*q.model, fb::OpCode::CONV_TRANSPOSE_2D), 1) << c.what;
    EXPECT_GT(q.output_sqnr, 30.0) << c.what;
  }
}

TEST(LowerConvTranspose, WeightLayoutSwapsChannelAxesPerGroup) {
  // W [C_in 4, C_out/g 1, 1, 1], group 2 (C_out 2): W'[oc, ic] = W[g·2 + ic, j], oc = g + j.
  ir::Node n;
  n.op = OpType::kConvTranspose;
  n.name = "up";
  n.attrs.set("group", int64_t{2});
  const ir::Tensor w = ir::Tensor::FromVector<float>({4, 1, 1, 1}, {1, 2, 3, 4});
  auto l = ConvTransposeForRuntime(n, w, {1, 4, 3, 3}, {1, 2, 3, 3});
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->weight_dims, (ir::Dims{2, 2, 1, 1}));
  EXPECT_EQ(l->weight, (std::vector<float>{1, 2, 3, 4}));
  // group 1, C_out 2: W [2, 2, 1, 1] transposes.
  n.attrs.set("group", int64_t{1});
  const ir::Tensor w2 = ir::Tensor::FromVector<float>({2, 2, 1, 1}, {1, 2, 3, 4});
  l = ConvTransposeForRuntime(n, w2, {1, 2, 3, 3}, {1, 2, 3, 3});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->weight, (std::vector<float>{1, 3, 2, 4}));
  EXPECT_EQ(l->pads, (std::vector<int32_t>{0, 0, 0, 0}));
  // Negative begin pads (output_shape beyond the full size) are refused with the reason.
  n.attrs.set("output_shape", std::vector<int64_t>{6, 6});
  l = ConvTransposeForRuntime(n, w2, {1, 2, 3, 3}, {1, 2, 6, 6});
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("begin pad -1 on spatial dim 0 is negative"), std::string::npos)
      << l.status().message();
}

// round(|b|/(s_x·s_w)) + depth·max|x − z|·128 must fit int32: without the floor a channel of tiny
// weights and a large bias breaks the bound; with it the bound holds and the codes are exact.
TEST(BiasScaleFloor, KeepsTheAccumulatorWithinInt32) {
  const int64_t depth = 25;
  const double s_x = 0.02;
  const int32_t zx = -110;
  std::vector<float> w(2 * depth, 0.3f);
  for (int64_t i = depth; i < 2 * depth; ++i) w[static_cast<size_t>(i)] = 1e-9f;  // channel 1: almost zero
  const std::vector<float> bias = {0.5f, 3.0f};
  auto plain = QuantizeWeightBlocks(w, 2, 8);
  ASSERT_TRUE(plain.ok());
  auto max_abs = [](const std::vector<int32_t>& b) {
    int64_t m = 0;
    for (int32_t v : b) m = std::max<int64_t>(m, std::llabs(v));
    return m;
  };
  EXPECT_FALSE(rt::ref::Int8DotFitsInt32(depth, zx, max_abs(quant_math::QuantizeBias(bias, s_x, plain->scales))));
  const std::vector<float> floor = BiasScaleFloor(bias, s_x, depth, zx, /*int8_input=*/true);
  ASSERT_EQ(floor.size(), 2u);
  auto floored = QuantizeWeightBlocks(w, 2, 8, floor);
  ASSERT_TRUE(floored.ok());
  EXPECT_EQ(floored->scales[0], plain->scales[0]);  // the floor binds only where it must
  EXPECT_GE(floored->scales[1], floor[1]);
  const std::vector<int32_t> qb = quant_math::QuantizeBias(bias, s_x, floored->scales);
  EXPECT_TRUE(rt::ref::Int8DotFitsInt32(depth, zx, max_abs(qb)));
  EXPECT_LT(max_abs(qb), int64_t{2147483647});  // not saturated
  // Per tensor (one block): the largest floor.
  auto tensor = QuantizeWeightBlocks(w, 1, 8, floor);
  ASSERT_TRUE(tensor.ok());
  EXPECT_GE(tensor->scales[0], floor[1]);
  // No headroom (the reduction alone may overflow): no floor.
  EXPECT_TRUE(BiasScaleFloor(bias, s_x, int64_t{1} << 20, zx, true).empty());
}

TEST(BiasScaleFloor, ConvWithDeadChannelQuantizesAndRuns) {
  // Conv channel 1 has weights ~1e-9 and bias 3: before the floor, prepare refused the model
  // ("int32 accumulator may overflow ... max |bias| 2147483648").
  GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 3, 5, 5});
  std::mt19937 rng(5);
  ir::Tensor w = passes::testing::RandomTensor({2, 3, 3, 3}, rng);
  for (int64_t i = 27; i < 54; ++i) w.data<float>()[i] *= 1e-9f;
  ir::ValueId y = b.Op(OpType::kConv, {x, b.Const("w", std::move(w)), b.Const("b", ir::Tensor::FromVector<float>({2}, {0.1f, 3.0f}))},
                       Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  b.Output(y);
  const ir::Graph g = b.Finish();
  Quantized q = QuantizeAndCompare(g, RandomCalib({3, 5, 5}, 16, 9));
  ASSERT_TRUE(q.model);
  EXPECT_GT(q.output_sqnr, 30.0);
}

}  // namespace
}  // namespace squint::quant::testing
