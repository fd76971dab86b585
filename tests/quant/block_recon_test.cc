// --reconstruct block (quant/block_recon.h) on a small pre-LN transformer: the blocks are found at
// the residual Adds; the reconstructed model's block outputs are closer to float on held-out
// samples than the plain model's; and the codes the reconstruction predicted for every block
// output are the whole model's codes on the runtime, bit for bit (with int16 streams and GPTQ
// weights too, and with the softmax grids searched).
#include "quant/block_recon.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "base/aligned.h"
#include "quant/gptq.h"
#include "runtime/interpreter.h"
#include "runtime/tensor_codes.h"
#include "tests/quant/lower_test_util.h"

namespace squint::quant {
namespace {

using ir::OpType;
using ir::ValueId;
using passes::testing::Attrs;
using passes::testing::GraphBuilder;

// x[1, 16, 32] → Linear (the stream's writer) → two pre-LN blocks, each an attention half (LN →
// Q, K, V → softmax(Q·Kᵀ/√32)·V → projection, added back) and an MLP half (LN → Linear → Gelu →
// Linear, added back) → LN → head Linear [32, 10].
ir::Graph SmallTransformer() {
  GraphBuilder b;
  const ValueId x = b.Input("x", {1, 16, 32});
  ValueId s = b.Op(OpType::kLinear, {x, b.Random("w_in", {32, 32}), b.Random("b_in", {32})});
  for (int blk = 0; blk < 2; ++blk) {
    ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {32}, 0.5f, 1.5f), b.Random("beta", {32}, -0.1f, 0.1f)});
    const ValueId q = b.Op(OpType::kLinear, {n, b.Random("wq", {32, 32}), b.Random("bq", {32}, -0.1f, 0.1f)});
    const ValueId k = b.Op(OpType::kLinear, {n, b.Random("wk", {32, 32})});
    const ValueId v = b.Op(OpType::kLinear, {n, b.Random("wv", {32, 32})});
    const ValueId kt = b.Op(OpType::kTranspose, {k}, Attrs({{"perm", std::vector<int64_t>{0, 2, 1}}}));
    const ValueId scores = b.Op(OpType::kMul, {b.Op(OpType::kMatMul, {q, kt}), b.Scalar(1.0f / std::sqrt(32.0f))});
    const ValueId p = b.Op(OpType::kSoftmax, {scores}, Attrs({{"axis", int64_t{-1}}}));
    const ValueId a = b.Op(OpType::kMatMul, {p, v});
    s = b.Op(OpType::kAdd, {s, b.Op(OpType::kLinear, {a, b.Random("wo", {32, 32}, -0.5f, 0.5f)})});
    n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {32}, 0.5f, 1.5f), b.Random("beta", {32}, -0.1f, 0.1f)});
    const ValueId h = b.Op(OpType::kGelu, {b.Op(OpType::kLinear, {n, b.Random("w1", {32, 64}), b.Random("b1", {64})})});
    s = b.Op(OpType::kAdd, {s, b.Op(OpType::kLinear, {h, b.Random("w2", {64, 32}, -0.3f, 0.3f)})});
  }
  const ValueId n = b.Op(OpType::kLayerNormalization, {s, b.Random("g", {32}, 0.5f, 1.5f)});
  b.Output(b.Op(OpType::kLinear, {n, b.Random("head", {32, 10}), b.Random("bh", {10})}));
  return b.Finish();
}

constexpr int64_t kCalib = 16, kHeldOut = 32;

TEST(FindBlocks, CutsAtTheResidualAdds) {
  const ir::Graph g = SmallTransformer();
  const std::vector<Block> blocks = FindBlocks(g);
  // The stream writer with the first attention half, MLP, attention, MLP, the head.
  ASSERT_EQ(blocks.size(), 5u);
  EXPECT_EQ(blocks.front().begin, 0u);
  EXPECT_EQ(blocks.back().end, g.nodes.size());
  for (size_t k = 0; k < blocks.size(); ++k) {
    ASSERT_EQ(blocks[k].inputs.size(), 1u) << "block " << k;
    ASSERT_EQ(blocks[k].outputs.size(), 1u) << "block " << k;
    if (k > 0) {
      EXPECT_EQ(blocks[k].begin, blocks[k - 1].end);
      EXPECT_EQ(blocks[k].inputs[0], blocks[k - 1].outputs[0]) << "block " << k;
    }
    if (k + 1 < blocks.size()) {
      EXPECT_EQ(g.nodes[blocks[k].end - 1].op, OpType::kAdd) << "block " << k;
    }
  }
  EXPECT_EQ(blocks.back().outputs[0], g.outputs[0]);
}

TEST(FindBlocks, WithoutResidualsEveryCutStartsABlock) {
  GraphBuilder b;
  const ValueId x = b.Input("x", {1, 8});
  const ValueId h = b.Op(OpType::kRelu, {b.Op(OpType::kLinear, {x, b.Random("w1", {8, 8}), b.Random("b1", {8})})});
  b.Output(b.Op(OpType::kLinear, {b.Op(OpType::kTanh, {h}), b.Random("w2", {8, 4})}));
  const ir::Graph g = b.Finish();
  const std::vector<Block> blocks = FindBlocks(g);
  // Linear+ReLU (never cut between: the ReLU folds into the Linear), Tanh, Linear.
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].end, 2u);
  EXPECT_EQ(blocks[1].end, 3u);
}

struct Variant {
  const char* name;
  int weight_bits, act_bits;
  bool gptq;
  std::vector<std::string> a16;
  // A 4-bit log-grid softmax whose grid the search picks among its candidates (LOG2: uniform softmax).
  fb::SoftmaxGrid softmax_grid = fb::SoftmaxGrid::LOG2;
  // Start the search from the candidates in reverse order (the worst fit on the probabilities first).
  bool worst_grid_first = false;
};

class BlockRecon : public ::testing::TestWithParam<Variant> {};

// The runtime's codes of every tensor, per sample, for the first `count` samples of `data`.
std::vector<std::map<std::string, std::vector<int32_t>>> RuntimeCodes(const std::string& bytes, const CalibData& data,
                                                                       int64_t count) {
  struct Run {
    rt::Model model;
    rt::Interpreter interp;
    std::map<std::string, std::vector<int32_t>> seen;
  };
  std::vector<std::map<std::string, std::vector<int32_t>>> out;
  const AlignedBytes buf = AlignedCopy(bytes);
  Run r;
  EXPECT_TRUE(r.model.Load(buf.get(), bytes.size()).ok());
  EXPECT_TRUE(r.interp.Prepare(&r.model, rt::Isa::kReference).ok());
  const AlignedBytes arena = AlignedBlock(r.interp.arena_size());
  EXPECT_TRUE(r.interp.SetArena(arena.get(), r.interp.arena_size()).ok());
  r.interp.SetObserver(
      [](void* user, int32_t, const rt::TensorView* outs, int32_t n) {
        auto* self = static_cast<Run*>(user);
        for (int32_t k = 0; k < n; ++k) {
          std::vector<int32_t>& codes = self->seen[outs[k].desc->name];
          codes.resize(static_cast<size_t>(outs[k].desc->num_elements));
          for (int64_t e = 0; e < outs[k].desc->num_elements; ++e)
            codes[static_cast<size_t>(e)] = rt::LoadCode(outs[k].data, outs[k].desc->type, e);
        }
      },
      &r);
  for (int64_t s = 0; s < count; ++s) {
    const rt::TensorDesc& d = r.model.tensor(r.model.inputs()[0]);
    void* dst = r.interp.mutable_tensor_data(r.model.inputs()[0]);
    const float* x = data.tensors[0].data<float>() + s * d.num_elements;
    for (int64_t e = 0; e < d.num_elements; ++e) rt::StoreCode(dst, d.type, e, rt::QuantizeValue(d, x[e]));
    r.seen.clear();
    EXPECT_TRUE(r.interp.Invoke().ok());
    out.push_back(r.seen);
  }
  return out;
}

TEST_P(BlockRecon, HeldOutBlockErrorDropsAndPredictionsMatchTheRuntime) {
  const Variant& v = GetParam();
  const ir::Graph g = SmallTransformer();
  const CalibData data = testing::RandomCalib({16, 32}, kCalib + kHeldOut, 11);
  CalibrationOptions co;
  co.max_samples = kCalib;
  auto cal = Calibrate(g, data, co);
  ASSERT_TRUE(cal.ok()) << cal.status().message();
  LowerOptions lo;
  lo.weight_bits = v.weight_bits;
  lo.act_bits = v.act_bits;
  lo.a16 = v.a16;
  if (v.gptq) {
    GptqOptions go;
    go.max_samples = kCalib;
    auto h = ComputeGptqHessians(g, data, go);
    ASSERT_TRUE(h.ok()) << h.status().message();
    lo.input_hessians = *h;
    lo.weight_cache = std::make_shared<WeightCodeCache>();
  }
  BlockReconOptions bo;
  bo.samples = kCalib;
  bo.keep_codes = true;
  if (v.softmax_grid != fb::SoftmaxGrid::LOG2) {
    lo.softmax_bits = 4;
    auto grids = SoftmaxGridCandidates(g, data, kCalib, v.softmax_grid, 4);
    ASSERT_TRUE(grids.ok()) << grids.status().message();
    ASSERT_EQ(grids->size(), 2u);
    for (auto& [name, c] : *grids) {
      ASSERT_GT(c.size(), 2u) << name;
      if (v.worst_grid_first) std::reverse(c.begin(), c.end());
      lo.softmax_grids[name] = c.front();
    }
    bo.softmax_grids = *grids;
  }
  auto plain = Lower(g, *cal, lo);
  ASSERT_TRUE(plain.ok()) << plain.status().message();

  Calibration reconstructed = *cal;
  auto rep = ReconstructBlocks(g, data, lo, &reconstructed, bo);
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  ASSERT_EQ(rep->blocks.size(), 5u);
  // The grids chosen are candidates, and the report's changes are where they differ from the start.
  size_t regridded = 0;
  for (const BlockResult& b : rep->blocks)
    for (const auto& [name, c] : b.softmax_grids) {
      ++regridded;
      ASSERT_LT(c, bo.softmax_grids.at(name).size());
      EXPECT_EQ(rep->softmax_grids.at(name).eta, bo.softmax_grids.at(name)[c].eta) << name;
      EXPECT_EQ(rep->softmax_grids.at(name).delta, bo.softmax_grids.at(name)[c].delta) << name;
      EXPECT_EQ(rep->softmax_grids.at(name).shifts, bo.softmax_grids.at(name)[c].shifts) << name;
    }
  EXPECT_EQ(rep->softmax_grids.size(), lo.softmax_grids.size());
  // Started from the worst fits, the search moves both softmaxes off them.
  if (v.worst_grid_first) {
    EXPECT_EQ(regridded, 2u);
  }
  lo.softmax_grids = rep->softmax_grids;
  auto recon = Lower(g, reconstructed, lo);
  ASSERT_TRUE(recon.ok()) << recon.status().message();
  const std::string plain_bytes = exporter::SerializeSqnt(*plain->model);
  const std::string recon_bytes = exporter::SerializeSqnt(*recon->model);

  // Bit for bit: the codes predicted for each block output on the calibration samples are the
  // whole reconstructed model's on the runtime's reference kernels.
  const auto runtime = RuntimeCodes(recon_bytes, data, kCalib);
  ASSERT_EQ(runtime.size(), static_cast<size_t>(kCalib));
  for (const BlockResult& b : rep->blocks) {
    const ValueId out = b.block.outputs[0];
    const std::string& name = g.value(out).name;
    ASSERT_TRUE(rep->codes.count(out)) << name;
    for (int64_t s = 0; s < kCalib; ++s) {
      ASSERT_TRUE(runtime[static_cast<size_t>(s)].count(name)) << name;
      ASSERT_EQ(rep->codes.at(out)[static_cast<size_t>(s)], runtime[static_cast<size_t>(s)].at(name))
          << name << " sample " << s;
    }
    EXPECT_LE(b.mse_after, b.mse_before) << name;
  }

  // Held out: every block output (end to end) is at least as close to float as without
  // reconstruction, and the model output gains.
  auto before = report::CompareFloatAndInteger(g, plain_bytes, data.tensors, nullptr, kCalib, kHeldOut);
  auto after = report::CompareFloatAndInteger(g, recon_bytes, data.tensors, nullptr, kCalib, kHeldOut);
  ASSERT_TRUE(before.ok() && after.ok());
  auto sqnr = [](const report::AccuracyReport& r, const std::string& name) {
    for (const auto& l : r.layers)
      if (l.name == name) return l.accumulated.sqnr_db;
    ADD_FAILURE() << "no layer " << name;
    return 0.0;
  };
  size_t clipped = 0;
  for (const BlockResult& b : rep->blocks) {
    const std::string& name = g.value(b.block.outputs[0]).name;
    const double db_before = sqnr(*before, name), db_after = sqnr(*after, name);
    std::printf("%s: block output %s: %.2f -> %.2f dB held out; calibration MSE %.4g -> %.4g, %zu grids clipped\n",
                v.name, name.c_str(), db_before, db_after, b.mse_before, b.mse_after, b.clipped.size());
    clipped += b.clipped.size();
    if (v.act_bits < 8) {
      EXPECT_GE(db_after, db_before) << name;
    }
  }
  if (v.act_bits < 8) {
    EXPECT_GT(clipped, 0u);
    EXPECT_GT(after->outputs[0].accumulated.sqnr_db, before->outputs[0].accumulated.sqnr_db + 0.5);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, BlockRecon,
                         ::testing::Values(Variant{"W4A4", 4, 4, false, {}}, Variant{"W4A4_gptq", 4, 4, true, {}},
                                           Variant{"W8A8_int16_stream", 8, 8, false, {"Add", "LayerNormalization"}},
                                           Variant{"W4A4_logsqrt2", 4, 4, false, {}, fb::SoftmaxGrid::LOG_SQRT2},
                                           Variant{"W4A4_sulq_worst_first", 4, 4, false, {}, fb::SoftmaxGrid::SULQ,
                                                   true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace squint::quant
