// passes/rotate_residual: small pre-LayerNorm transformers built by hand (float equivalence,
// what was rotated) and streams the pass must leave alone (with the reason).
#include "passes/rotate_residual.h"

#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

// Embedding table [16, d] + positions, two residual blocks (LN -> Linear -> GELU -> Linear -> Add),
// final LN -> head. LayerNorm γ/β random so their fold is exercised; large channel offsets so
// the mean baking matters.
Graph TinyTransformer(int64_t d, bool output_stream = false, bool head_bias = true) {
  GraphBuilder b;
  const ValueId ids = b.Input("ids", {2, 5}, DType::kInt64);
  const ValueId emb = b.Op(OpType::kGather, {b.Random("table", {16, d}, -1.0f, 3.0f), ids});  // rows not zero-mean
  ValueId x = b.Op(OpType::kAdd, {emb, b.Random("pos", {5, d}, 0.0f, 2.0f)});
  for (int blk = 0; blk < 2; ++blk) {
    const ValueId n = b.Op(OpType::kLayerNormalization, {x, b.Random("g", {d}, 0.5f, 2.0f), b.Random("beta", {d})});
    const ValueId h = b.Op(OpType::kLinear, {n, b.Random("w1", {d, 2 * d}), b.Random("b1", {2 * d})});
    const ValueId a = b.Op(OpType::kGelu, {h});
    const ValueId o = b.Op(OpType::kLinear, {a, b.Random("w2", {2 * d, d}), b.Random("b2", {d}, 1.0f, 2.0f)});
    x = b.Op(OpType::kAdd, {x, o});
  }
  if (output_stream) b.Output(x);
  const ValueId n = b.Op(OpType::kLayerNormalization, {x, b.Random("g", {d}, 0.5f, 2.0f), b.Random("beta", {d})});
  std::vector<ValueId> head = {n, b.Random("wh", {d, 7})};
  if (head_bias) head.push_back(b.Random("bh", {7}));
  b.Output(b.Op(OpType::kLinear, head));
  return b.Finish();
}

// Random int64 ids for the Gather (RandomInputs makes floats).
std::vector<Tensor> Ids() {
  std::vector<int64_t> v(10);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>((i * 7 + 3) % 16);
  return {Tensor::FromVector<int64_t>({2, 5}, v)};
}

void ExpectSameOnIds(const Graph& before, const Graph& after) {
  auto want = ir::eval::Evaluator(before).Run(Ids());
  auto got = ir::eval::Evaluator(after).Run(Ids());
  ASSERT_TRUE(want.ok() && got.ok()) << (want.ok() ? got.status().message() : want.status().message());
  ASSERT_EQ(got->size(), want->size());
  for (size_t o = 0; o < want->size(); ++o) ExpectClose((*got)[o], (*want)[o], 1e-5, fmt::format("output {}", o));
}

TEST(RotateResidual, HadamardSizeKeepsOutputs) {
  Graph g = TinyTransformer(16, /*output_stream=*/false, /*head_bias=*/false);
  const Graph before = g;
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(ir::Verify(g).ok()) << ir::Verify(g).message();
  ASSERT_EQ(r->rotated.size(), 1u) << (r->rejected.empty() ? "" : r->rejected[0]);
  const auto& s = r->rotated[0];
  EXPECT_EQ(s.channels, 16);
  EXPECT_EQ(s.rotation, "hadamard");
  EXPECT_EQ(s.norms, 3);
  EXPECT_EQ(s.writers, 3);    // the embedding and both w2
  EXPECT_EQ(s.constants, 1);  // the positions
  EXPECT_EQ(s.readers, 3);    // both w1 and the head
  EXPECT_EQ(CountOps(g, OpType::kLayerNormalization), 0);
  EXPECT_EQ(CountOps(g, OpType::kRMSNorm), 3);
  ExpectSameOnIds(before, g);
}

TEST(RotateResidual, OtherSizesUseARandomOrthogonalMatrix) {
  Graph g = TinyTransformer(10);
  const Graph before = g;
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rotated.size(), 1u) << (r->rejected.empty() ? "" : r->rejected[0]);
  EXPECT_EQ(r->rotated[0].rotation, "orthogonal");
  ExpectSameOnIds(before, g);
}

// The stream now holds (x − mean(x))·Q: renamed, and per row ‖x_rot‖ = ‖x − mean(x)‖ while the
// original stream has a clear channel mean (so the centering is not vacuous).
TEST(RotateResidual, StreamIsCenteredAndRenamed) {
  Graph g = TinyTransformer(16);
  const Graph before = g;
  ASSERT_TRUE(RotateResidual(g).ok());
  const ir::Node* norm = FindOp(g, OpType::kRMSNorm);
  ASSERT_NE(norm, nullptr);
  const std::string name = g.value(norm->inputs[0]).name;
  EXPECT_NE(name.find("_rotated"), std::string::npos) << name;
  Graph probe = g;
  probe.outputs = {norm->inputs[0]};
  Graph orig = before;
  orig.outputs = {FindOp(before, OpType::kLayerNormalization)->inputs[0]};
  auto a = ir::eval::Evaluator(probe).Run(Ids());
  auto c = ir::eval::Evaluator(orig).Run(Ids());
  ASSERT_TRUE(a.ok() && c.ok());
  const std::vector<float> rot = (*a)[0].ToFloatVector(), x = (*c)[0].ToFloatVector();
  const size_t d = 16;
  double worst = 0, mean_abs = 0;
  for (size_t r = 0; r < x.size() / d; ++r) {
    double mean = 0, n_rot = 0, n_centered = 0;
    for (size_t i = 0; i < d; ++i) mean += x[r * d + i] / d;
    for (size_t i = 0; i < d; ++i) {
      n_rot += rot[r * d + i] * rot[r * d + i];
      n_centered += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    }
    worst = std::max(worst, std::abs(std::sqrt(n_rot) - std::sqrt(n_centered)));
    mean_abs = std::max(mean_abs, std::abs(mean));
  }
  EXPECT_GT(mean_abs, 0.1);  // the original stream has a mean to remove
  EXPECT_LT(worst, 1e-4);
}

TEST(RotateResidual, StreamAsGraphOutputIsLeftAlone) {
  Graph g = TinyTransformer(16, /*output_stream=*/true);
  const Graph before = g;
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rotated.empty());
  ASSERT_FALSE(r->rejected.empty());
  EXPECT_NE(r->rejected[0].find("graph output"), std::string::npos) << r->rejected[0];
  EXPECT_EQ(CountOps(g, OpType::kLayerNormalization), 3);
  ExpectSameOnIds(before, g);
}

// The pass leaves g's one stream alone and says why, naming `culprit`.
void ExpectRejected(Graph g, const std::string& culprit) {
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rotated.empty());
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_NE(r->rejected[0].find(culprit), std::string::npos) << r->rejected[0];
  EXPECT_EQ(CountOps(g, OpType::kRMSNorm), 0);
}

// A stream read by something other than a LayerNorm (here a Relu) would see its mean removed.
TEST(RotateResidual, StreamReadByAnotherOpIsLeftAlone) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 8});
  const ValueId s = b.Op(OpType::kLinear, {x, b.Random("w", {8, 8})});
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {8})});
  b.Output(b.Op(OpType::kLinear, {n, b.Random("w2", {8, 4})}));
  b.Output(b.Op(OpType::kRelu, {s}));
  ExpectRejected(b.Finish(), "Relu");
}

// A LayerNorm output read by a non-Linear cannot take γ and β.
TEST(RotateResidual, NormalizedValueReadByAnotherOpIsLeftAlone) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 8});
  const ValueId s = b.Op(OpType::kLinear, {x, b.Random("w", {8, 8})});
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {8})});
  b.Output(b.Op(OpType::kGelu, {n}));
  ExpectRejected(b.Finish(), "Gelu");
}

// A grouped Linear writing the stream keeps each output within its group: Q would mix them.
TEST(RotateResidual, GroupedWriterIsLeftAlone) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 8});
  const ValueId s = b.Op(OpType::kLinear, {x, b.Random("w", {4, 8})}, Attrs({{"groups", int64_t{2}}}));
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {8})});
  b.Output(b.Op(OpType::kLinear, {n, b.Random("w2", {8, 4})}));
  ExpectRejected(b.Finish(), "dense");
}

TEST(RotateResidual, NoLayerNormNothingToDo) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 8});
  b.Output(b.Op(OpType::kLinear, {x, b.Random("w", {8, 8})}));
  Graph g = b.Finish();
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rotated.empty());
  EXPECT_TRUE(r->rejected.empty());
}

}  // namespace
}  // namespace squint::passes::testing

namespace squint::passes::testing {
namespace {

// timm / Hugging Face ViT: a constant class token is concatenated in front of the patch tokens
// (along the token axis), then positions are added: the stream passes the Concat, the token is
// centered and rotated like the positions.
TEST(RotateResidual, ClassTokenConcatenatedIntoTheStream) {
  GraphBuilder b;
  const ValueId x = b.Input("patches", {1, 4, 8});
  const ValueId emb = b.Op(OpType::kLinear, {x, b.Random("wp", {8, 16}), b.Random("bp", {16}, 0.5f, 1.5f)});
  const ValueId cat =
      b.Op(OpType::kConcat, {b.Random("cls", {1, 1, 16}, 1.0f, 2.0f), emb}, Attrs({{"axis", int64_t{1}}}));
  ValueId s = b.Op(OpType::kAdd, {cat, b.Random("pos", {1, 5, 16})});
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {16}, 0.5f, 2.0f), b.Random("beta", {16})});
  const ValueId o = b.Op(OpType::kLinear, {n, b.Random("w", {16, 16}), b.Random("b", {16})});
  s = b.Op(OpType::kAdd, {s, o});
  const ValueId n2 = b.Op(OpType::kLayerNormalization, {s, b.Random("g2", {16}, 0.5f, 2.0f)});
  b.Output(b.Op(OpType::kLinear, {n2, b.Random("wh", {16, 3})}));
  Graph g = b.Finish();
  const Graph before = g;
  auto r = RotateResidual(g);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rotated.size(), 1u) << (r->rejected.empty() ? "" : r->rejected[0]);
  EXPECT_EQ(r->rotated[0].constants, 2);  // the class token and the positions
  EXPECT_EQ(r->rotated[0].writers, 2);    // the patch embedding and w
  ExpectEquivalent(before, g, 1e-5);
}

// Concatenating along the channels would mix rotated and unrotated channels: left alone.
TEST(RotateResidual, ConcatAlongChannelsIsLeftAlone) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {3, 8});
  const ValueId s1 = b.Op(OpType::kLinear, {x, b.Random("w", {8, 4})});
  const ValueId s = b.Op(OpType::kConcat, {s1, b.Random("c", {3, 4})}, Attrs({{"axis", int64_t{1}}}));
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {8})});
  b.Output(b.Op(OpType::kLinear, {n, b.Random("w2", {8, 4})}));
  ExpectRejected(b.Finish(), "channel axis");
}

}  // namespace
}  // namespace squint::passes::testing
