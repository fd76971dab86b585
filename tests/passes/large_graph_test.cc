// Graphs of 10^5 nodes through the IR and the passes: correct results, and no recursion whose
// depth grows with the graph (each large test runs on a 256 KiB stack, tests/small_stack.h).
// No timing asserts: bench/graph_scaling.py measures speed. Also: the GraphEditor's index,
// kept current through edits, equals an index built afresh.
#include <algorithm>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "ir/eval/evaluator.h"
#include "ir/graph.h"
#include "passes/graph_edit.h"
#include "passes/pass.h"
#include "passes/pipeline.h"
#include "tests/small_stack.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::OpType;
using ir::ValueId;

constexpr int64_t kWidth = 4;

// Builds chains with O(1) work per node (names are numbered, never searched for).
class ChainBuilder {
 public:
  ChainBuilder() {
    ir::Value x;
    x.name = "x";
    x.dtype = ir::DType::kFloat32;
    x.shape = ir::ShapeFromDims({1, kWidth});
    cur_ = g_.AddValue(std::move(x));
    g_.inputs = {cur_};
    g_.opset = 17;
  }

  ValueId Constant(std::vector<float> v, ir::Dims dims) {
    return g_.AddConstant("c" + std::to_string(g_.values.size()), ir::Tensor::FromVector<float>(dims, v));
  }

  // cur = op(cur, extra...)
  void Step(OpType op, std::vector<ValueId> extra = {}) {
    ir::Value out;
    out.name = "v" + std::to_string(g_.values.size());
    ir::Node n;
    n.op = op;
    n.name = "n" + std::to_string(g_.nodes.size());
    n.inputs = {cur_};
    n.inputs.insert(n.inputs.end(), extra.begin(), extra.end());
    cur_ = g_.AddValue(std::move(out));
    n.outputs = {cur_};
    g_.nodes.push_back(std::move(n));
  }

  Graph Finish() {
    g_.value(cur_).name = "y";
    g_.outputs = {cur_};
    return std::move(g_);
  }

 private:
  Graph g_;
  ValueId cur_ = ir::kNoValue;
};

// x -> blocks x [MatMul(W: lane i -> i+1) -> Add(+1) -> Relu -> Identity] -> y; 4 nodes a block.
// For x > 0, after k blocks y[j] = x[(j - k) mod 4] + k exactly.
Graph LinearChain(int blocks) {
  ChainBuilder b;
  std::vector<float> perm(kWidth * kWidth, 0.0f);
  for (int64_t i = 0; i < kWidth; ++i) perm[static_cast<size_t>(i * kWidth + (i + 1) % kWidth)] = 1.0f;
  for (int k = 0; k < blocks; ++k) {
    b.Step(OpType::kMatMul, {b.Constant(perm, {kWidth, kWidth})});
    b.Step(OpType::kAdd, {b.Constant(std::vector<float>(kWidth, 1.0f), {kWidth})});
    b.Step(OpType::kRelu);
    b.Step(OpType::kIdentity);
  }
  return b.Finish();
}

TEST(LargeGraph, CanonicalizesAndEvaluatesA100kNodeChain) {
  constexpr int kBlocks = 25000;
  testing::RunOnSmallStack([&] {
    Graph g = LinearChain(kBlocks);
    ASSERT_EQ(g.nodes.size(), 4u * kBlocks);
    std::reverse(g.nodes.begin(), g.nodes.end());  // the importer sorts whatever order a file has
    ASSERT_TRUE(ir::TopologicalSort(g).ok());
    ASSERT_TRUE(ir::Verify(g).ok());
    auto report = Canonicalize(g);
    ASSERT_TRUE(report.ok()) << report.status().message();
    EXPECT_TRUE(report->converged);
    // MatMul + Add fused into a Linear with bias, the Identity removed: Linear, Relu per block.
    ASSERT_EQ(g.nodes.size(), 2u * kBlocks);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      ASSERT_EQ(g.nodes[i].op, i % 2 == 0 ? OpType::kLinear : OpType::kRelu) << i;
      if (i % 2 == 0) { ASSERT_EQ(g.nodes[i].inputs.size(), 3u) << i; }
    }
    EXPECT_EQ(g.value(g.outputs[0]).name, "y");

    const std::vector<float> x = {1, 2, 3, 4};
    ir::eval::Evaluator eval(g);
    auto out = eval.Run(std::vector<ir::Tensor>{ir::Tensor::FromVector<float>({1, kWidth}, x)});
    ASSERT_TRUE(out.ok()) << out.status().message();
    ASSERT_EQ((*out)[0].size(), kWidth);
    for (int64_t j = 0; j < kWidth; ++j)
      EXPECT_EQ((*out)[0].data<float>()[j], x[static_cast<size_t>((j - kBlocks % kWidth + kWidth) % kWidth)] + kBlocks)
          << j;
  });
}

TEST(LargeGraph, RemovesA100kIdentityChain) {
  testing::RunOnSmallStack([] {
    ChainBuilder b;
    for (int k = 0; k < 100000; ++k) b.Step(OpType::kIdentity);
    Graph g = b.Finish();
    auto n = MakeRemoveIdentity()->Run(g);
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ(*n, 99999);
    // The last Identity stays: it maps graph input x to graph output y.
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].inputs[0], g.inputs[0]);
    EXPECT_EQ(g.nodes[0].outputs[0], g.outputs[0]);
    EXPECT_TRUE(ir::Verify(g).ok());
  });
}

TEST(LargeGraph, ValueNamesStayUniqueOverManyAdditions) {
  ChainBuilder b;
  Graph g = b.Finish();
  ir::ValueNames names(g);
  std::vector<std::string> made;
  for (int i = 0; i < 1000; ++i) made.push_back(names.Make(i % 2 ? "y" : "w"));
  made.push_back(names.Make("w_1"));  // taken by the second "w"
  std::sort(made.begin(), made.end());
  EXPECT_EQ(std::adjacent_find(made.begin(), made.end()), made.end());
  EXPECT_EQ(std::count(made.begin(), made.end(), "y"), 0);  // "y" was the graph's already
  EXPECT_EQ(std::count(made.begin(), made.end(), "w"), 1);
  EXPECT_EQ(g.UniqueValueName("y"), "y_1");
}

// The editor's index after random edits equals one built afresh from the edited graph (erased
// nodes stripped of inputs and outputs, so indices line up).
TEST(GraphEditor, IndexStaysCurrentThroughEdits) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    ChainBuilder b;
    const ValueId shared = b.Constant({0.5f}, {});
    for (int k = 0; k < 40; ++k) b.Step(k % 3 == 0 ? OpType::kRelu : OpType::kAdd, k % 3 == 0 ? std::vector<ValueId>{} : std::vector<ValueId>{shared});
    Graph g = b.Finish();
    GraphEditor e(g);
    for (int edit = 0; edit < 30; ++edit) {
      const auto i = static_cast<int32_t>(rng() % g.nodes.size());
      if (e.Erased(i)) continue;
      switch (rng() % 4) {
        case 0: e.Erase(i); break;
        case 1: {  // read the node's first input twice
          ir::Node n = g.nodes[static_cast<size_t>(i)];
          n.inputs.push_back(n.inputs[0]);
          e.SetNode(i, std::move(n));
          break;
        }
        case 2: {  // readers of the node's output read its first input instead
          const ir::Node& n = g.nodes[static_cast<size_t>(i)];
          if (n.outputs[0] != g.outputs[0]) e.ReplaceUses(n.outputs[0], n.inputs[0]);
          break;
        }
        default: {
          ir::Node n = g.nodes[static_cast<size_t>(i)];
          n.inputs.push_back(e.AddConstant("extra", ir::Tensor::Scalar<float>(1.0f)));
          e.SetNode(i, std::move(n));
        }
      }
    }
    Graph stripped = g;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (e.Erased(static_cast<int32_t>(i))) stripped.nodes[i].inputs.clear(), stripped.nodes[i].outputs.clear();
    const GraphIndex fresh(stripped);
    for (ValueId v = 0; v < static_cast<ValueId>(g.values.size()); ++v) {
      std::vector<int32_t> got(e.index().Readers(v).begin(), e.index().Readers(v).end());
      std::vector<int32_t> want(fresh.Readers(v).begin(), fresh.Readers(v).end());
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, want) << "trial " << trial << " value " << v;
      ASSERT_EQ(e.index().Uses(v), fresh.Uses(v)) << "trial " << trial << " value " << v;
      ASSERT_EQ(e.index().ProducerIndex(v), fresh.ProducerIndex(v)) << "trial " << trial << " value " << v;
    }
    e.Commit();
    for (const ir::Node& n : g.nodes) ASSERT_FALSE(n.outputs.empty());  // erased nodes are gone
  }
}

}  // namespace
}  // namespace squint::passes
