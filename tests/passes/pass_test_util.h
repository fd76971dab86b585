// Test helpers for passes: a tiny graph builder, random inputs and the differential check
// (same outputs before and after a rewrite, through ir/eval).
#pragma once

#include <cmath>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ir/eval/evaluator.h"
#include "ir/eval/shape_inference.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace squint::passes::testing {

using ir::AttrValue;
using ir::Attributes;
using ir::DType;
using ir::Dims;
using ir::Graph;
using ir::OpType;
using ir::Tensor;
using ir::ValueId;

inline Attributes Attrs(std::initializer_list<std::pair<std::string, AttrValue>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

inline Tensor RandomTensor(const Dims& dims, std::mt19937& rng, float lo = -2.0f, float hi = 2.0f) {
  Tensor t(DType::kFloat32, dims);
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& f : t.span<float>()) f = u(rng);
  return t;
}

class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 13) : rng_(1234) { g_.opset = opset; }

  ValueId Input(const std::string& name, const Dims& dims, DType dtype = DType::kFloat32) {
    return SymbolicInput(name, ir::ShapeFromDims(dims), dtype);
  }
  ValueId SymbolicInput(const std::string& name, ir::Shape shape, DType dtype = DType::kFloat32) {
    ir::Value v;
    v.name = name;
    v.dtype = dtype;
    v.shape = std::move(shape);
    g_.AddValue(std::move(v));
    const auto id = static_cast<ValueId>(g_.values.size() - 1);
    g_.inputs.push_back(id);
    return id;
  }
  ValueId Const(const std::string& name, Tensor t) { return g_.AddConstant(g_.UniqueValueName(name), std::move(t)); }
  ValueId Scalar(float v) { return Const("c", Tensor::Scalar<float>(v)); }
  ValueId Vec(std::vector<float> v) {
    const auto n = static_cast<int64_t>(v.size());
    return Const("v", Tensor::FromVector<float>({n}, v));
  }
  ValueId Ints(std::vector<int64_t> v) {
    const auto n = static_cast<int64_t>(v.size());
    return Const("i", Tensor::FromVector<int64_t>({n}, v));
  }
  ValueId Random(const std::string& name, const Dims& dims, float lo = -1.0f, float hi = 1.0f) {
    return Const(name, RandomTensor(dims, rng_, lo, hi));
  }

  std::vector<ValueId> OpN(OpType op, std::vector<ValueId> inputs, Attributes attrs, size_t n_outputs) {
    ir::Node n;
    n.op = op;
    n.name = fmt::format("{}_{}", ir::OpName(op), g_.nodes.size());
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (size_t o = 0; o < n_outputs; ++o) {
      ir::Value v;
      v.name = g_.UniqueValueName(n.name + "_out");
      n.outputs.push_back(g_.AddValue(std::move(v)));
    }
    std::vector<ValueId> outs = n.outputs;
    g_.nodes.push_back(std::move(n));
    return outs;
  }
  ValueId Op(OpType op, std::vector<ValueId> inputs, Attributes attrs = {}) {
    return OpN(op, std::move(inputs), std::move(attrs), 1)[0];
  }
  void Output(ValueId v) { g_.outputs.push_back(v); }

  // The graph, verified, with shapes inferred as far as the implemented ops allow.
  Graph Finish() {
    EXPECT_TRUE(ir::Verify(g_).ok()) << ir::Verify(g_).message();
    (void)ir::eval::InferShapes(g_);
    return g_;
  }

 private:
  Graph g_;
  std::mt19937 rng_;
};

inline int CountOps(const Graph& g, OpType op) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.op == op;
  return n;
}

inline const ir::Node* FindOp(const Graph& g, OpType op) {
  for (const ir::Node& node : g.nodes)
    if (node.op == op) return &node;
  return nullptr;
}

// Runs one pass and checks the graph stays valid; returns the rewrite count (-1 on error).
inline int RunPass(Pass& pass, Graph& g) {
  Result<int> n = pass.Run(g);
  EXPECT_TRUE(n.ok()) << pass.name() << ": " << n.status().message();
  if (!n.ok()) return -1;
  Status v = ir::Verify(g);
  EXPECT_TRUE(v.ok()) << pass.name() << " left an invalid graph: " << v.message();
  return *n;
}

// Random inputs for every graph input (their shapes must be concrete).
inline std::vector<Tensor> RandomInputs(const Graph& g, std::mt19937& rng) {
  std::vector<Tensor> in;
  for (ValueId id : g.inputs) {
    const ir::Value& v = g.value(id);
    std::optional<Dims> dims = v.shape ? ir::DimsFromShape(*v.shape) : std::nullopt;
    EXPECT_TRUE(dims.has_value()) << "input '" << v.name << "' has no concrete shape";
    in.push_back(RandomTensor(dims.value_or(Dims{}), rng));
  }
  return in;
}

// max |a - b| <= rtol · max(|b|) elementwise (scale-aware relative tolerance), same dims.
inline void ExpectClose(const Tensor& a, const Tensor& b, double rtol, const std::string& what) {
  ASSERT_EQ(a.dims(), b.dims()) << what;
  const std::vector<float> av = a.ToFloatVector(), bv = b.ToFloatVector();
  double scale = 0;
  for (float f : bv) scale = std::max(scale, static_cast<double>(std::abs(f)));
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    const double d = std::abs(static_cast<double>(av[i]) - bv[i]);
    if (d > worst) worst = d, at = i;
  }
  EXPECT_LE(worst, rtol * std::max(scale, 1e-6))
      << what << ": element " << at << " is " << av[at] << ", expected " << bv[at] << " (max |expected| " << scale
      << ")";
}

// The differential check: `after` computes what `before` computes, on `trials` random
// inputs, within rtol relative to each output's largest magnitude.
inline void ExpectEquivalent(const Graph& before, const Graph& after, double rtol = 1e-5, int trials = 3) {
  ASSERT_EQ(before.outputs.size(), after.outputs.size());
  for (size_t o = 0; o < before.outputs.size(); ++o)
    EXPECT_EQ(before.value(before.outputs[o]).name, after.value(after.outputs[o]).name) << "graph output " << o;
  std::mt19937 rng(42);
  for (int t = 0; t < trials; ++t) {
    std::vector<Tensor> in = RandomInputs(before, rng);
    auto want = ir::eval::Evaluator(before).Run(in);
    ASSERT_TRUE(want.ok()) << "before: " << want.status().message();
    auto got = ir::eval::Evaluator(after).Run(in);
    ASSERT_TRUE(got.ok()) << "after: " << got.status().message();
    for (size_t o = 0; o < want->size(); ++o)
      ExpectClose((*got)[o], (*want)[o], rtol, fmt::format("output {} trial {}", o, t));
  }
}

}  // namespace squint::passes::testing
