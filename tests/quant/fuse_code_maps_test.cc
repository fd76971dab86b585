// Code-map fusion in lowering (quant/fuse_code_maps.h): a hard-swish (x·clip(x + 3, 0, 6)/6) and a
// SiLU (h·sigmoid(h)) after a convolution become LUTs of the convolution's output, an intermediate
// that a model output also reads keeps its own LUT, and the fused model's output codes equal the
// unfused model's on every instruction set.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/aligned.h"
#include "export/sqnt_writer.h"
#include "passes/pipeline.h"
#include "quant/calibrate.h"
#include "quant/lower.h"
#include "runtime/dispatch.h"
#include "runtime/interpreter.h"
#include "tests/passes/pass_test_util.h"

namespace squint::quant {
namespace {

using passes::testing::Attrs;
using passes::testing::GraphBuilder;

// x[1, 4, 5, 5] → Conv → hard-swish → SiLU → Conv → y; the Clip's output is a second model output.
ir::Graph HardSwishSiluGraph() {
  GraphBuilder b;
  const ir::ValueId x = b.Input("x", {1, 4, 5, 5});
  const auto pads = Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const ir::ValueId c = b.Op(ir::OpType::kConv, {x, b.Random("w1", {8, 4, 3, 3}, -0.5f, 0.5f), b.Random("b1", {8})}, pads);
  const ir::ValueId k = b.Op(ir::OpType::kClip, {b.Op(ir::OpType::kAdd, {c, b.Scalar(3.0f)}), b.Scalar(0.0f), b.Scalar(6.0f)});
  const ir::ValueId h = b.Op(ir::OpType::kDiv, {b.Op(ir::OpType::kMul, {c, k}), b.Scalar(6.0f)});
  const ir::ValueId z = b.Op(ir::OpType::kMul, {h, b.Op(ir::OpType::kSigmoid, {h})});
  b.Output(b.Op(ir::OpType::kConv, {z, b.Random("w2", {3, 8, 3, 3}, -0.5f, 0.5f)}, pads));
  b.Output(k);
  ir::Graph g = b.Finish();
  EXPECT_TRUE(passes::Canonicalize(g).ok());
  return g;
}

int Count(const fb::ModelT& m, fb::OpCode code) {
  int n = 0;
  for (const auto& op : m.operators) n += op->opcode == code;
  return n;
}

// Every output's bytes of the serialized model on `isa` for input codes `x`.
std::vector<uint8_t> RunSqnt(const std::string& sqnt, rt::Isa isa, const std::vector<int8_t>& x) {
  const AlignedBytes bytes = AlignedCopy(sqnt);
  rt::Model model;
  rt::Interpreter interp;
  EXPECT_TRUE(model.Load(bytes.get(), sqnt.size()).ok());
  const rt::Status s = interp.Prepare(&model, isa);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  const AlignedBytes arena = AlignedBlock(static_cast<size_t>(interp.arena_size()));
  EXPECT_TRUE(interp.SetArena(arena.get(), static_cast<size_t>(interp.arena_size())).ok());
  EXPECT_EQ(static_cast<size_t>(model.tensor(model.inputs()[0]).bytes), x.size());
  std::memcpy(interp.mutable_tensor_data(model.inputs()[0]), x.data(), x.size());
  EXPECT_TRUE(interp.Invoke().ok());
  std::vector<uint8_t> out;
  for (int32_t t : model.outputs()) {
    const auto* y = static_cast<const uint8_t*>(interp.tensor_data(t));
    out.insert(out.end(), y, y + model.tensor(t).bytes);
  }
  return out;
}

TEST(FuseCodeMaps, HardSwishAndSiluBecomeLutsWithTheSameCodes) {
  const ir::Graph g = HardSwishSiluGraph();
  CalibData data;
  data.inputs.push_back({"x", ir::DType::kFloat32, {4, 5, 5}});
  std::mt19937 rng(3);
  data.tensors.push_back(passes::testing::RandomTensor({16, 4, 5, 5}, rng, -3.0f, 3.0f));
  data.num_samples = 16;
  auto cal = Calibrate(g, data, CalibrationOptions{});
  ASSERT_TRUE(cal.ok()) << cal.status().message();
  LowerOptions plain;
  plain.fuse_code_maps = false;
  auto unfused = Lower(g, *cal, plain);
  auto fused = Lower(g, *cal, LowerOptions{});
  ASSERT_TRUE(unfused.ok()) << unfused.status().message();
  ASSERT_TRUE(fused.ok()) << fused.status().message();
  // Unfused: the Add, Clip, Div and Sigmoid are LUTs, the two products MULs. Fused: the Clip's
  // LUT (a model output), and one LUT of the convolution's output for the hard-swish and the SiLU after it.
  EXPECT_EQ(Count(*unfused->model, fb::OpCode::MUL), 2);
  EXPECT_EQ(Count(*fused->model, fb::OpCode::MUL), 0);
  EXPECT_EQ(Count(*fused->model, fb::OpCode::LUT), 2);
  EXPECT_EQ(Count(*fused->model, fb::OpCode::CONV_2D), 2);
  EXPECT_LT(fused->model->tensors.size(), unfused->model->tensors.size());
  int reported = 0;
  for (const LoweredNode& n : fused->nodes) reported += n.lowered.rfind("fused into the lookup table of '", 0) == 0;
  EXPECT_GE(reported, 3) << "the report names the removed ops";
  const std::string a = exporter::SerializeSqnt(*unfused->model), b = exporter::SerializeSqnt(*fused->model);
  EXPECT_LT(b.size(), a.size());
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 r(seed);
    std::vector<int8_t> x(4 * 5 * 5);
    for (auto& v : x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(r));
    const std::vector<uint8_t> want = RunSqnt(a, rt::Isa::kReference, x);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(RunSqnt(b, rt::Isa::kReference, x), want) << "seed " << seed;
    EXPECT_EQ(RunSqnt(b, rt::Isa::kAuto, x), want) << "seed " << seed << ", the CPU's best set";
  }
}

}  // namespace
}  // namespace squint::quant
