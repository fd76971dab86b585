#include "ir/graph.h"

#include <gtest/gtest.h>

#include "ir/eval/shape_inference.h"

namespace squint::ir {
namespace {

// a -> Relu(n0) -> b -> Relu(n1) -> c, with nodes stored in the wrong order.
Graph TwoNodeGraph() {
  Graph g;
  ValueId a = g.AddValue({"a", DType::kFloat32, Shape{Dim::Symbol("batch"), Dim::Known(4)}, {}});
  ValueId b = g.AddValue({"b", DType::kUndefined, {}, {}});
  ValueId c = g.AddValue({"c", DType::kUndefined, {}, {}});
  g.inputs = {a};
  g.outputs = {c};
  g.nodes.push_back(Node{OpType::kRelu, "n1", {b}, {c}, {}});
  g.nodes.push_back(Node{OpType::kRelu, "n0", {a}, {b}, {}});
  return g;
}

TEST(Graph, TopologicalSortOrdersAndVerifyAccepts) {
  Graph g = TwoNodeGraph();
  EXPECT_FALSE(Verify(g).ok());
  ASSERT_TRUE(TopologicalSort(g).ok());
  EXPECT_EQ(g.nodes[0].name, "n0");
  EXPECT_TRUE(Verify(g).ok());
}

TEST(Graph, CycleIsNamed) {
  Graph g = TwoNodeGraph();
  g.nodes[1].inputs = {g.nodes[0].outputs[0]};  // n0 reads c, n1 reads b: a cycle
  Status s = TopologicalSort(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(Graph, InputNobodyProducesIsNamed) {
  Graph g = TwoNodeGraph();
  ValueId orphan = g.AddValue({"orphan", DType::kFloat32, {}, {}});
  g.nodes[1].inputs = {orphan};
  Status s = TopologicalSort(g);
  EXPECT_NE(s.message().find("'orphan'"), std::string::npos) << s.message();
}

TEST(Graph, CompactValuesDropsUnusedAndRenumbers) {
  Graph g = TwoNodeGraph();
  ASSERT_TRUE(TopologicalSort(g).ok());
  g.AddConstant("unused", Tensor::Scalar<float>(1.0f));
  g.CompactValues();
  EXPECT_EQ(g.values.size(), 3u);
  EXPECT_TRUE(Verify(g).ok());
}

TEST(ShapeInference, ParseInputShape) {
  auto ok = eval::ParseInputShape("input=1x1x28x28");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first, "input");
  EXPECT_EQ(ok->second, (Dims{1, 1, 28, 28}));
  for (const char* bad : {"input", "=1x2", "input=", "input=1xx2", "input=-1x2", "input=1x2x"})
    EXPECT_EQ(eval::ParseInputShape(bad).status().code(), StatusCode::kInvalidInput) << bad;
}

}  // namespace
}  // namespace squint::ir
