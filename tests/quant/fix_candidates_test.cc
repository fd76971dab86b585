#include "quant/fix_candidates.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

TEST(PipelineOptionsFromProvenance, ReadsWhatThePipelineWrites) {
  auto o = PipelineOptionsFromProvenance(
      "observer=percentile weights=per-tensor weight_bits=4 act_bits=8 softmax_bits=6 softmax_quant=log2 "
      "calib_samples=512 a16=LayerNormalization,/blocks.0/attn/Softmax w8=/head/Gemm clip_softmax=0.5 group_size=32 "
      "weight_rounding=gptq reconstruct=block reconstruct_samples=16 transform=smooth,hadamard transform_seed=7 "
      "act_bits_scope=matmul");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->observer, "percentile");
  EXPECT_TRUE(o->per_tensor);
  EXPECT_EQ(o->weight_bits, 4);
  EXPECT_EQ(o->softmax_bits, 6);
  EXPECT_EQ(o->softmax_quant, "log2");
  EXPECT_EQ(o->calib_samples, 512);
  EXPECT_EQ(o->a16, (std::vector<std::string>{"LayerNormalization", "/blocks.0/attn/Softmax"}));
  ASSERT_TRUE(o->clip_softmax.has_value());
  EXPECT_EQ(*o->clip_softmax, 0.5);
  EXPECT_EQ(o->w8, (std::vector<std::string>{"/head/Gemm"}));
  EXPECT_EQ(o->group_size, 32);
  EXPECT_EQ(o->weight_rounding, "gptq");
  EXPECT_EQ(o->reconstruct, "block");
  EXPECT_EQ(o->reconstruct_samples, 16);
  EXPECT_EQ(o->transforms, (std::vector<std::string>{"smooth", "hadamard"}));
  EXPECT_EQ(o->transform_seed, 7u);
  EXPECT_EQ(QuantizeFlags(*o),
            "--observer percentile --a16 LayerNormalization --a16 /blocks.0/attn/Softmax --per-tensor --weight-bits 4 "
            "--w8 /head/Gemm --group-size 32 --weight-rounding gptq --reconstruct block --reconstruct-samples 16 "
            "--softmax-bits 6 --softmax-quant log2 --clip-softmax 0.5 --transform smooth,hadamard "
            "--transform-seed 7");
}

TEST(PipelineOptionsFromProvenance, ErrorsNameTheOption) {
  auto bad = PipelineOptionsFromProvenance("observer=minmax weight_bits=eight");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("weight_bits=eight"), std::string::npos);
  auto unknown = PipelineOptionsFromProvenance("observer=minmax future_knob=1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("future_knob"), std::string::npos);
  auto wush = PipelineOptionsFromProvenance("transform=wush");
  ASSERT_FALSE(wush.ok());
  EXPECT_NE(wush.status().message().find("WUSH"), std::string::npos);
  EXPECT_EQ(QuantizeFlags(*PipelineOptionsFromProvenance("observer=minmax weights=per-channel")), "");
  auto scope = PipelineOptionsFromProvenance("observer=minmax act_bits=4 act_bits_scope=everything");
  ASSERT_FALSE(scope.ok());
  EXPECT_NE(scope.status().message().find("act_bits_scope=everything"), std::string::npos);
}

TEST(PipelineOptionsFromProvenance, ActBitsScope) {
  // Written with --act-bits 4: the scope is recorded; files from before the option narrowed every
  // activation, which is --act-bits-scope all.
  auto now = PipelineOptionsFromProvenance("observer=minmax weight_bits=4 act_bits=4 act_bits_scope=matmul");
  ASSERT_TRUE(now.ok()) << now.status().message();
  EXPECT_EQ(now->act_bits_scope, "matmul");
  EXPECT_EQ(QuantizeFlags(*now), "--weight-bits 4 --act-bits 4");
  auto before = PipelineOptionsFromProvenance("observer=minmax weight_bits=4 act_bits=4");
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(before->act_bits_scope, "all");
  EXPECT_EQ(QuantizeFlags(*before), "--weight-bits 4 --act-bits 4 --act-bits-scope all");
}

// x → MatMul → Relu → MatMul → Softmax → MatMul(p, x): the last one has no constant weights (no
// canonicalization: the node names stay the builder's).
ir::Graph TwoLayers() {
  passes::testing::GraphBuilder b;
  ir::ValueId x = b.Input("x", {4, 16});
  ir::ValueId h = b.Op(ir::OpType::kRelu, {b.Op(ir::OpType::kMatMul, {x, b.Random("w", {16, 8})})});
  ir::ValueId p = b.Op(ir::OpType::kSoftmax, {b.Op(ir::OpType::kMatMul, {h, b.Random("w2", {8, 4})})});
  b.Output(b.Op(ir::OpType::kMatMul, {p, x}));
  return b.Finish();
}

std::vector<std::string> Flags(const std::vector<FixCandidate>& c) {
  std::vector<std::string> out;
  for (const FixCandidate& f : c) out.push_back(f.flag);
  return out;
}

TEST(CandidateFixes, OneNodeItsOpTypeAnd8BitWeights) {
  const ir::Graph g = TwoLayers();
  ASSERT_EQ(g.nodes[0].name, "MatMul_0");
  PipelineOptions base;
  base.weight_bits = 4;
  const std::vector<FixCandidate> c = CandidateFixes(g, base, {"MatMul_0", "Relu_1", "no_such_node"});
  EXPECT_EQ(Flags(c), (std::vector<std::string>{"--a16 MatMul_0", "--a16 MatMul", "--w8 MatMul_0", "--group-size 32",
                                                "--a16 Relu_1", "--transform smooth", "--transform hadamard"}));
  // Each candidate is the base plus its fix alone.
  EXPECT_EQ(c[1].options.a16, (std::vector<std::string>{"MatMul"}));
  EXPECT_EQ(c[2].options.w8, (std::vector<std::string>{"MatMul_0"}));
  EXPECT_TRUE(c[2].options.a16.empty());
  EXPECT_EQ(c[2].what, "8-bit weights on MatMul_0");

  // What the base has already is not offered again: int16 by op type covers the node, --w8 by op
  // type covers the layer, and 8-bit weights need no --w8.
  base.a16 = {"MatMul"};
  base.w8 = {"MatMul"};
  EXPECT_EQ(Flags(CandidateFixes(g, base, {"MatMul_0"})),
            (std::vector<std::string>{"--group-size 32", "--transform smooth", "--transform hadamard"}));
  PipelineOptions w8bit;
  const std::vector<std::string> flags = Flags(CandidateFixes(g, w8bit, {"MatMul_2", "Softmax_3"}));
  EXPECT_EQ(std::count_if(flags.begin(), flags.end(), [](const std::string& f) { return f.rfind("--w8", 0) == 0; }), 0);
  // One Softmax in the model: no op-type-wide int16 for it.
  EXPECT_EQ(std::count(flags.begin(), flags.end(), "--a16 Softmax"), 0);
  EXPECT_EQ(std::count(flags.begin(), flags.end(), "--a16 Softmax_3"), 1);
  // A MatMul of two activations has no weights to narrow or group.
  base = PipelineOptions{};
  base.weight_bits = 4;
  EXPECT_EQ(Flags(CandidateFixes(g, base, {"MatMul_4"})),
            (std::vector<std::string>{"--a16 MatMul_4", "--a16 MatMul", "--transform smooth", "--transform hadamard"}));
}

TEST(CandidateFixes, ConvTransposeTakes8BitWeightsNotGroups) {
  passes::testing::GraphBuilder b;
  ir::ValueId x = b.Input("x", {1, 4, 5, 5});
  b.Output(b.Op(ir::OpType::kConvTranspose, {x, b.Random("w", {4, 2, 2, 2})},
                passes::testing::Attrs({{"strides", std::vector<int64_t>{2, 2}}})));
  const ir::Graph g = b.Finish();
  PipelineOptions base;
  base.weight_bits = 4;
  const std::vector<std::string> flags = Flags(CandidateFixes(g, base, {g.nodes[0].name}));
  EXPECT_EQ(std::count(flags.begin(), flags.end(), "--w8 " + g.nodes[0].name), 1);
  EXPECT_EQ(std::count(flags.begin(), flags.end(), "--group-size 32"), 0);
}

}  // namespace
}  // namespace squint::quant
