// passes/fuse_attention_mask, fuse_masked_mean, fuse_l2_normalize: the Hugging Face / sentence-
// transformers forms of attention masks, mean pooling and L2 normalization, differential against
// ir/eval on inputs with real 0/1 masks.
#include <gtest/gtest.h>

#include "passes/graph_edit.h"
#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// Masks with zeros in every row but never a row of zeros only.
Tensor Mask(const Dims& dims, DType dtype = DType::kInt64) {
  Tensor t(DType::kInt64, dims);
  for (int64_t i = 0; i < t.size(); ++i) t.data<int64_t>()[i] = (i % dims.back()) < 3 || i % 4 == 1 ? 1 : 0;
  if (dtype == DType::kBool) {
    Tensor b(DType::kBool, dims);
    for (int64_t i = 0; i < t.size(); ++i) b.data<bool>()[i] = t.data<int64_t>()[i] != 0;
    return b;
  }
  return t;
}

void ExpectSameOutputs(const Graph& before, const Graph& after, const std::vector<Tensor>& in, double rtol) {
  auto want = ir::eval::Evaluator(before).Run(in);
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto got = ir::eval::Evaluator(after).Run(in);
  ASSERT_TRUE(got.ok()) << got.status().message();
  for (size_t o = 0; o < want->size(); ++o) ExpectClose((*got)[o], (*want)[o], rtol, fmt::format("output {}", o));
}

// HF BertModel: ext = (1 − mask[:, None, None, :].float()) · finfo.min; softmax(scores + ext).
Graph HfAttention(float big, bool mask_first) {
  GraphBuilder b;
  ValueId s = b.Input("scores", {2, 2, 3, 5});
  ValueId m = b.Input("attention_mask", {2, 5}, DType::kInt64);
  ValueId u = b.Op(OpType::kUnsqueeze, {b.Op(OpType::kUnsqueeze, {m, b.Ints({1})}), b.Ints({2})});
  ValueId c = b.Op(OpType::kCast, {u}, Attrs({{"to", int64_t{1}}}));
  ValueId a = b.Op(OpType::kMul, {b.Op(OpType::kSub, {b.Scalar(1.0f), c}), b.Scalar(big)});
  ValueId sum = mask_first ? b.Op(OpType::kAdd, {a, s}) : b.Op(OpType::kAdd, {s, a});
  b.Output(b.Op(OpType::kSoftmax, {sum}, Attrs({{"axis", int64_t{-1}}})));
  return b.Finish();
}

TEST(FuseAttentionMask, HuggingFaceAdditiveMask) {
  for (bool mask_first : {false, true}) {
    Graph g = HfAttention(-3.4028234663852886e38f, mask_first);
    const Graph before = g;
    auto pass = MakeFuseAttentionMask();
    EXPECT_EQ(RunPass(*pass, g), 1);
    const ir::Node* sm = FindOp(g, OpType::kSoftmax);
    ASSERT_NE(sm, nullptr);
    ASSERT_EQ(sm->inputs.size(), 2u);
    EXPECT_EQ(g.value(sm->input(0)).name, "scores");
    EXPECT_EQ(g.value(sm->input(1)).dtype, DType::kInt64);  // the integer mask, unsqueezed
    EXPECT_EQ(CountOps(g, OpType::kAdd), 0);
    std::mt19937 rng(7);
    ExpectSameOutputs(before, g, {RandomTensor({2, 2, 3, 5}, rng, -5, 5), Mask({2, 5})}, 1e-6);
  }
}

TEST(FuseAttentionMask, MaskedFillAsWhere) {
  GraphBuilder b;
  ValueId s = b.Input("scores", {2, 4, 4});
  ValueId keep = b.Input("causal", {4, 4}, DType::kBool);
  b.Output(b.Op(OpType::kSoftmax, {b.Op(OpType::kWhere, {keep, s, b.Scalar(-1e9f)})}, Attrs({{"axis", int64_t{-1}}})));
  Graph g = b.Finish();
  const Graph before = g;
  auto pass = MakeFuseAttentionMask();
  EXPECT_EQ(RunPass(*pass, g), 1);
  EXPECT_EQ(CountOps(g, OpType::kWhere), 0);
  std::mt19937 rng(8);
  ExpectSameOutputs(before, g, {RandomTensor({2, 4, 4}, rng, -5, 5), Mask({4, 4}, DType::kBool)}, 1e-6);
}

// HF GPT-2: Where(causal, scores, min) and then the padding mask added: one Softmax, two keeps.
TEST(FuseAttentionMask, CausalWhereThenPaddingMask) {
  GraphBuilder b;
  ValueId s = b.Input("scores", {2, 2, 5, 5});
  ValueId causal = b.Input("causal", {5, 5}, DType::kBool);
  ValueId m = b.Input("attention_mask", {2, 5}, DType::kInt64);
  ValueId u = b.Op(OpType::kUnsqueeze, {m, b.Ints({1, 2})});
  ValueId a = b.Op(OpType::kMul, {b.Op(OpType::kSub, {b.Scalar(1.0f), b.Op(OpType::kCast, {u}, Attrs({{"to", int64_t{1}}}))}),
                                  b.Scalar(-3.4e38f)});
  ValueId w = b.Op(OpType::kWhere, {causal, s, b.Scalar(-3.4e38f)});
  b.Output(b.Op(OpType::kSoftmax, {b.Op(OpType::kAdd, {w, a})}, Attrs({{"axis", int64_t{-1}}})));
  Graph g = b.Finish();
  const Graph before = g;
  auto pass = MakeFuseAttentionMask();
  EXPECT_EQ(RunPass(*pass, g), 2);
  const ir::Node* sm = FindOp(g, OpType::kSoftmax);
  ASSERT_NE(sm, nullptr);
  EXPECT_EQ(sm->inputs.size(), 3u);
  EXPECT_EQ(g.value(sm->input(0)).name, "scores");
  std::mt19937 rng(10);
  Tensor tri(DType::kBool, {5, 5});
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) tri.data<bool>()[i * 5 + j] = j <= i;
  ExpectSameOutputs(before, g, {RandomTensor({2, 2, 5, 5}, rng, -5, 5), tri, Mask({2, 5})}, 1e-6);
}

TEST(FuseAttentionMask, SmallOffsetIsNotAMask) {
  // (1 − m)·(−10) is a bias the softmax sees, not a mask: left alone.
  Graph g = HfAttention(-10.0f, false);
  auto pass = MakeFuseAttentionMask();
  EXPECT_EQ(RunPass(*pass, g), 0);
  EXPECT_EQ(CountOps(g, OpType::kAdd), 1);
}

TEST(FuseMaskedMean, SentenceTransformersPooling) {
  GraphBuilder b;
  ValueId x = b.Input("tokens", {2, 5, 4});
  ValueId m = b.Input("attention_mask", {2, 5}, DType::kInt64);
  ValueId e = b.Op(OpType::kExpand, {b.Op(OpType::kUnsqueeze, {m, b.Ints({-1})}), b.Ints({2, 5, 4})});
  ValueId f = b.Op(OpType::kCast, {e}, Attrs({{"to", int64_t{1}}}));
  ValueId num = b.Op(OpType::kReduceSum, {b.Op(OpType::kMul, {x, f}), b.Ints({1})}, Attrs({{"keepdims", int64_t{0}}}));
  ValueId cnt = b.Op(OpType::kReduceSum, {f, b.Ints({1})}, Attrs({{"keepdims", int64_t{0}}}));
  b.Output(b.Op(OpType::kDiv, {num, b.Op(OpType::kClip, {cnt, b.Scalar(1e-9f), ir::kNoValue})}));
  Graph g = b.Finish();
  const Graph before = g;
  auto pass = MakeFuseMaskedMean();
  EXPECT_EQ(RunPass(*pass, g), 1);
  const ir::Node* mean = FindOp(g, OpType::kReduceMean);
  ASSERT_NE(mean, nullptr);
  ASSERT_EQ(mean->inputs.size(), 3u);
  EXPECT_EQ(g.value(mean->input(0)).name, "tokens");
  EXPECT_EQ(passes::KnownDims(g, mean->input(2)), (Dims{2, 5, 1}));  // read before the Expand
  std::mt19937 rng(9);
  ExpectSameOutputs(before, g, {RandomTensor({2, 5, 4}, rng), Mask({2, 5})}, 1e-6);
}

TEST(FuseL2Normalize, TorchNormalize) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 8});
  ValueId n = b.Op(OpType::kReduceL2, {x, b.Ints({1})}, Attrs({{"keepdims", int64_t{1}}}));
  ValueId c = b.Op(OpType::kClip, {n, b.Scalar(1e-12f), ir::kNoValue});
  ValueId e = b.Op(OpType::kExpand, {c, b.Op(OpType::kShape, {x})});
  b.Output(b.Op(OpType::kDiv, {x, e}));
  Graph g = b.Finish();
  const Graph before = g;
  auto pass = MakeFuseL2Normalize();
  EXPECT_EQ(RunPass(*pass, g), 1);
  const ir::Node* rms = FindOp(g, OpType::kRMSNorm);
  ASSERT_NE(rms, nullptr);
  EXPECT_NEAR(rms->attrs.GetFloat("scale", 0), 1.0 / std::sqrt(8.0), 1e-7);
  ExpectEquivalent(before, g, 1e-6);
}

// A divisor expanded to a larger shape broadcasts x: not a normalization of x.
TEST(FuseL2Normalize, ExpandToALargerShapeIsLeftAlone) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 8});
  ValueId n = b.Op(OpType::kReduceL2, {x, b.Ints({1})}, Attrs({{"keepdims", int64_t{1}}}));
  b.Output(b.Op(OpType::kDiv, {x, b.Op(OpType::kExpand, {n, b.Ints({2, 3, 8})})}));
  Graph g = b.Finish();
  auto pass = MakeFuseL2Normalize();
  EXPECT_EQ(RunPass(*pass, g), 0);
}

TEST(FuseL2Normalize, OtherAxisIsLeftAlone) {
  GraphBuilder b;
  ValueId x = b.Input("x", {3, 8});
  ValueId n = b.Op(OpType::kReduceL2, {x, b.Ints({0})}, Attrs({{"keepdims", int64_t{1}}}));
  b.Output(b.Op(OpType::kDiv, {x, n}));
  Graph g = b.Finish();
  auto pass = MakeFuseL2Normalize();
  EXPECT_EQ(RunPass(*pass, g), 0);
}

}  // namespace
}  // namespace squint::passes::testing
