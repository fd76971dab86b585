// A 20k-node ONNX chain through every stage on a 256 KiB stack (tests/small_stack.h): import
// (libonnx's checker included), canonicalize, calibrate, lower,
// serialize, load into the runtime (verify, plan check) and invoke beside the float model.
// A recursion whose depth grows with the graph would overflow the stack; no timing asserts
// (bench/graph_scaling.py measures speed).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "importers/onnx/onnx_importer.h"
#include "passes/pipeline.h"
#include "tests/importers/onnx_test_util.h"
#include "tests/quant/lower_test_util.h"
#include "tests/small_stack.h"

namespace squint::quant {
namespace {

using importers::testing::ModelBuilder;

// x [1, 4] -> cycles of Add(±0.25) -> Mul(2 | 0.5) -> Relu -> MatMul(W: lane i -> i+1) -> Add(b)
// (the MatMul and its bias fuse into a Linear): 5 ONNX nodes, 4 after canonicalization, per cycle.
std::string ChainModel(int cycles) {
  ModelBuilder b;
  b.Input("x", {1, 4}).Output("y", onnx::TensorProto::FLOAT, {1, 4});
  std::vector<float> perm(16, 0.0f);
  for (int i = 0; i < 4; ++i) perm[static_cast<size_t>(i * 4 + (i + 1) % 4)] = 1.0f;
  std::string cur = "x";
  int k = 0;
  auto step = [&](const std::string& op, const std::vector<int64_t>& dims, const std::vector<float>& c, bool last) {
    const std::string name = "n" + std::to_string(k++);
    std::vector<std::string> in = {cur};
    if (!c.empty()) {
      b.Initializer(name + "_c", dims, c);
      in.push_back(name + "_c");
    }
    const std::string out = last ? "y" : "v" + std::to_string(k);
    b.Node(op, in, {out}, name);
    cur = out;
  };
  for (int i = 0; i < cycles; ++i) {
    const float sign = i % 2 ? -1.0f : 1.0f;
    step("Add", {4}, std::vector<float>(4, 0.25f * sign), false);
    step("Mul", {4}, std::vector<float>(4, i % 2 ? 0.5f : 2.0f), false);
    step("Relu", {}, {}, false);
    step("MatMul", {4, 4}, perm, false);
    step("Add", {4}, std::vector<float>(4, 0.25f * sign), i + 1 == cycles);
  }
  return b.Bytes();
}

TEST(LargeGraph, A20kNodeChainQuantizesAndRunsOnTheRuntime) {
  constexpr int kCycles = 4000;
  squint::testing::RunOnSmallStack([&] {
    auto g = importers::ImportOnnxBytes(ChainModel(kCycles));
    ASSERT_TRUE(g.ok()) << g.status().message();
    ASSERT_EQ(g->nodes.size(), 5u * kCycles);
    auto report = passes::Canonicalize(*g);
    ASSERT_TRUE(report.ok()) << report.status().message();
    ASSERT_EQ(g->nodes.size(), 4u * kCycles);

    const CalibData data = testing::RandomCalib({4}, 8, 11);
    const testing::Quantized q = testing::QuantizeAndCompare(*g, data);
    ASSERT_TRUE(q.model);
    EXPECT_EQ(q.model->operators.size(), 4u * kCycles);
    // Rounding errors of 16k requantizations add up along the chain; measured 2026-12-05:
    // 42.9 dB on these 8 samples. A broken link (wrong tensor, wrong scale) gives about 0 dB.
    EXPECT_GT(q.output_sqnr, 30.0);
  });
}

}  // namespace
}  // namespace squint::quant
