// Helpers for op tests: run one node on concrete tensors through the Evaluator, infer one
// node's output types from (possibly symbolic) input shapes, and compare tensors.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ir/eval/evaluator.h"
#include "ir/eval/op_def.h"
#include "ir/graph.h"

namespace squint::ir::testing {

// Runs a graph of one node named "n" of type op. Absent optional inputs are nullopt.
// Outputs beyond n_outputs are not requested.
inline Result<std::vector<Tensor>> RunOp(OpType op, const std::vector<std::optional<Tensor>>& inputs,
                                         const Attributes& attrs = {}, size_t n_outputs = 1,
                                         int64_t opset = 21) {
  Graph g;
  g.opset = opset;
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = attrs;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    const Tensor& t = *inputs[i];
    ValueId id = g.AddValue({"in" + std::to_string(i), t.dtype(), ShapeFromDims(t.dims()), {}});
    g.inputs.push_back(id);
    feeds.push_back(t);
    node.inputs.push_back(id);
  }
  for (size_t o = 0; o < n_outputs; ++o) {
    ValueId id = g.AddValue({"out" + std::to_string(o), DType::kUndefined, {}, {}});
    node.outputs.push_back(id);
    g.outputs.push_back(id);
  }
  g.nodes.push_back(std::move(node));
  eval::Evaluator ev(g);
  return ev.Run(feeds);
}

// One input for InferOp: a dtype, a shape (nullopt: unknown rank), an optional value.
struct Spec {
  DType dtype = DType::kFloat32;
  std::optional<Shape> shape;
  std::optional<Tensor> value;
  bool present = true;
};
inline Spec Absent() { return Spec{DType::kUndefined, std::nullopt, std::nullopt, false}; }
inline Spec Known(Dims dims, DType dt = DType::kFloat32) { return Spec{dt, ShapeFromDims(dims), {}, true}; }
inline Spec Const(const Tensor& t) { return Spec{t.dtype(), ShapeFromDims(t.dims()), t, true}; }
// Shape from "batch" (symbol), "?" (unknown) and numbers.
inline Shape Sym(std::initializer_list<std::string> dims) {
  Shape s;
  for (const std::string& d : dims) {
    if (d == "?")
      s.push_back(Dim::Unknown());
    else if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0])))
      s.push_back(Dim::Known(std::stoll(d)));
    else
      s.push_back(Dim::Symbol(d));
  }
  return s;
}

inline Result<std::vector<eval::OutputType>> InferOp(OpType op, const std::vector<Spec>& specs,
                                                     const Attributes& attrs = {}, size_t n_outputs = 1,
                                                     int64_t opset = 21) {
  Node node;
  node.op = op;
  node.name = "n";
  node.attrs = attrs;
  std::vector<eval::InputInfo> infos;
  for (size_t i = 0; i < specs.size(); ++i) {
    const Spec& s = specs[i];
    node.inputs.push_back(s.present ? static_cast<ValueId>(i) : kNoValue);
    eval::InputInfo info;
    info.present = s.present;
    info.dtype = s.dtype;
    info.shape = s.shape ? &*s.shape : nullptr;
    info.value = s.value ? &*s.value : nullptr;
    infos.push_back(info);
  }
  for (size_t o = 0; o < n_outputs; ++o) node.outputs.push_back(static_cast<ValueId>(100 + o));
  eval::InferContext ctx{node, infos, opset};
  return eval::GetOpDef(op).infer(ctx);
}

template <typename T = float>
inline Tensor T_(Dims dims, std::vector<T> v) {
  return Tensor::FromVector<T>(std::move(dims), v);
}

// Expects t to have dims and values within atol + rtol·|expected|.
inline void ExpectTensor(const Tensor& t, const Dims& dims, const std::vector<double>& expected,
                         double atol = 1e-5, double rtol = 1e-5) {
  ASSERT_EQ(DimsToString(t.dims()), DimsToString(dims));
  std::vector<float> got = t.ToFloatVector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
      continue;
    }
    if (std::isinf(expected[i])) {
      EXPECT_EQ(got[i], expected[i]) << "at " << i;
      continue;
    }
    EXPECT_NEAR(got[i], expected[i], atol + rtol * std::abs(expected[i])) << "at " << i;
  }
}

// Expects an error of `code` whose message contains every fragment.
template <typename R>
void ExpectError(const R& r, StatusCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  for (const std::string& f : fragments)
    EXPECT_NE(r.status().message().find(f), std::string::npos)
        << "'" << f << "' not in: " << r.status().message();
}

// n values uniform in [-1, 1) from a fixed seed (deterministic test data).
inline std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

inline Attributes Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> kv) {
  Attributes a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

// An int64 tensor; a symbolic input spec; a 1-D int64 input of known length and unknown value.
inline Tensor I64(Dims dims, std::vector<int64_t> v) { return T_<int64_t>(std::move(dims), std::move(v)); }
inline Spec SymSpec(std::initializer_list<std::string> dims, DType dt = DType::kFloat32) {
  return Spec{dt, Sym(dims), std::nullopt, true};
}
inline Spec UnknownInts(int64_t n) { return Spec{DType::kInt64, ShapeFromDims({n}), std::nullopt, true}; }
inline std::vector<float> IotaF(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<float>(i));
  return v;
}
// Output i's inferred shape as text, or the error.
inline std::string InferredShape(const Result<std::vector<eval::OutputType>>& r, size_t i = 0) {
  if (!r.ok()) return "error: " + r.status().message();
  if (!(*r)[i].shape) return "unknown rank";
  return ShapeToString(*(*r)[i].shape);
}

}  // namespace squint::ir::testing
