// A Softmax over a non-last axis (YOLOv8's DFL head) lowers after canonicalization
// (passes/softmax_last_axis) to TRANSPOSE → SOFTMAX → TRANSPOSE and tracks the float model.
#include <gtest/gtest.h>

#include "passes/pipeline.h"
#include "tests/quant/lower_test_util.h"

namespace squint::quant {
namespace {

TEST(LowerSoftmax, OverANonLastAxis) {
  passes::testing::GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 16, 4, 8});
  b.Output(b.Op(ir::OpType::kSoftmax, {b.Op(ir::OpType::kMul, {x, b.Scalar(3.0f)})},
                passes::testing::Attrs({{"axis", int64_t{1}}})));
  ir::Graph g = b.Finish();
  ASSERT_TRUE(passes::Canonicalize(g).ok());
  const testing::Quantized q = testing::QuantizeAndCompare(g, testing::RandomCalib({16, 4, 8}, 64, 11));
  ASSERT_NE(q.model, nullptr);
  std::vector<fb::OpCode> ops;
  for (const auto& op : q.model->operators) ops.push_back(op->opcode);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), fb::OpCode::TRANSPOSE), 2);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), fb::OpCode::SOFTMAX), 1);
  EXPECT_GT(q.output_sqnr, 30.0);  // 8-bit probabilities on a 1/256 grid
}

}  // namespace
}  // namespace squint::quant
