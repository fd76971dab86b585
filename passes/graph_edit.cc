#include "passes/graph_edit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace squint::passes {

using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::ValueId;

GraphIndex::GraphIndex(const Graph& g)
    : g_(g),
      producer_(g.Producers()),
      uses_(g.UseCounts()),
      is_output_(g.values.size(), 0),
      readers_(g.values.size()) {
  for (ValueId o : g.outputs) is_output_[static_cast<size_t>(o)] = 1;
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (ValueId i : g.nodes[n].inputs)
      if (i != ir::kNoValue) readers_[static_cast<size_t>(i)].push_back(static_cast<int32_t>(n));
}

int32_t GraphIndex::ProducerIndex(ValueId v) const {
  if (v < 0 || static_cast<size_t>(v) >= producer_.size()) return -1;
  return producer_[static_cast<size_t>(v)];
}

const Node* GraphIndex::Producer(ValueId v) const {
  const int32_t p = ProducerIndex(v);
  return p < 0 ? nullptr : &g_.nodes[static_cast<size_t>(p)];
}

const Node* GraphIndex::ProducerIs(ValueId v, ir::OpType op) const {
  const Node* p = Producer(v);
  return p && p->op == op ? p : nullptr;
}

int32_t GraphIndex::Uses(ValueId v) const { return uses_[static_cast<size_t>(v)]; }
bool GraphIndex::IsGraphOutput(ValueId v) const { return is_output_[static_cast<size_t>(v)] != 0; }
const std::vector<int32_t>& GraphIndex::Readers(ValueId v) const { return readers_[static_cast<size_t>(v)]; }

bool GraphIndex::SingleUse(ValueId v) const {
  return v != ir::kNoValue && Uses(v) == 1 && !IsGraphOutput(v);
}

int32_t GraphIndex::SoleReader(ValueId v) const { return SingleUse(v) ? Readers(v)[0] : -1; }

int32_t GraphIndex::IndexOf(const Node* n) const { return static_cast<int32_t>(n - g_.nodes.data()); }

std::optional<double> ScalarConstant(const Graph& g, ValueId v) {
  const ir::Tensor* t = g.constant(v);
  if (!t || t->size() != 1) return std::nullopt;
  switch (t->dtype()) {
    case ir::DType::kFloat32: return static_cast<double>(t->data<float>()[0]);
    case ir::DType::kFloat64: return t->data<double>()[0];
    case ir::DType::kUndefined: return std::nullopt;
    default: return static_cast<double>(t->ToInt64Vector()[0]);
  }
}

bool Near(double got, double want, double rel) {
  if (!std::isfinite(got)) return false;
  if (want == 0) return std::abs(got) <= 1e-6;
  return std::abs(got - want) <= rel * std::abs(want);
}

std::optional<ScalarOperand> SplitScalarOperand(const Graph& g, const Node& n, bool commutative) {
  if (n.inputs.size() != 2 || n.inputs[0] == ir::kNoValue || n.inputs[1] == ir::kNoValue) return std::nullopt;
  if (auto c = ScalarConstant(g, n.inputs[1]); c && !g.constant(n.inputs[0]))
    return ScalarOperand{n.inputs[0], *c, 1};
  if (!commutative) return std::nullopt;
  if (auto c = ScalarConstant(g, n.inputs[0]); c && !g.constant(n.inputs[1]))
    return ScalarOperand{n.inputs[1], *c, 0};
  return std::nullopt;
}

std::optional<std::vector<float>> FloatValues(const Graph& g, ValueId v) {
  const ir::Tensor* t = g.constant(v);
  if (!t) return std::nullopt;
  if (t->dtype() != ir::DType::kFloat32 && t->dtype() != ir::DType::kFloat64) return std::nullopt;
  return t->ToFloatVector();
}

ValueId AddConstant(Graph& g, const std::string& base, ir::Tensor t) {
  return g.AddConstant(g.UniqueValueName(base), std::move(t));
}

void ReplaceUses(Graph& g, ValueId from, ValueId to) {
  for (Node& n : g.nodes)
    for (ValueId& i : n.inputs)
      if (i == from) i = to;
}

void EraseNodes(Graph& g, std::vector<int32_t> indices) {
  if (indices.empty()) return;
  std::vector<char> dead(g.nodes.size(), 0);
  for (int32_t i : indices) dead[static_cast<size_t>(i)] = 1;
  size_t w = 0;
  for (size_t r = 0; r < g.nodes.size(); ++r)
    if (!dead[r]) {
      if (w != r) g.nodes[w] = std::move(g.nodes[r]);
      ++w;
    }
  g.nodes.resize(w);
}

std::string DenseLinearIssue(const Graph& g, const Node& n) {
  if (n.input(0) == ir::kNoValue) return "X is absent";
  if (n.attrs.GetInt("groups", 1) != 1) return "it is grouped (block-diagonal W), not a dense [K, N] layer";
  const Tensor* w = g.constant(n.input(1));
  if (w == nullptr) return "W is not a constant";
  if (w->dtype() != ir::DType::kFloat32) return fmt::format("W is {}, not float32", ir::DTypeName(w->dtype()));
  if (w->rank() != 2 || w->dim(0) < 1) return "W is not a non-empty [K, N] matrix";
  if (w->dim(0) > std::numeric_limits<int32_t>::max()) return fmt::format("K = {} exceeds 2^31 - 1", w->dim(0));
  return "";
}

void InsertAfterProducers(Graph& g, std::map<int32_t, std::vector<Node>> after) {
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() + after.size());
  auto emit = [&](int32_t producer) {
    auto it = after.find(producer);
    if (it != after.end())
      for (Node& h : it->second) nodes.push_back(std::move(h));
  };
  emit(-1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    nodes.push_back(std::move(g.nodes[i]));
    emit(static_cast<int32_t>(i));
  }
  g.nodes = std::move(nodes);
}

void ReplaceWithFused(Graph& g, int32_t root, Node fused, std::vector<int32_t> others) {
  Node& r = g.nodes[static_cast<size_t>(root)];
  fused.outputs = r.outputs;
  r = std::move(fused);
  others.erase(std::remove(others.begin(), others.end(), root), others.end());
  EraseNodes(g, std::move(others));
}

std::optional<ir::Dims> KnownDims(const Graph& g, ValueId v) {
  if (v == ir::kNoValue) return std::nullopt;
  if (const ir::Tensor* t = g.constant(v)) return t->dims();
  const auto& s = g.value(v).shape;
  if (!s) return std::nullopt;
  return ir::DimsFromShape(*s);
}

std::optional<int64_t> KnownRank(const Graph& g, ValueId v) {
  if (v == ir::kNoValue) return std::nullopt;
  if (const ir::Tensor* t = g.constant(v)) return t->rank();
  const auto& s = g.value(v).shape;
  if (!s) return std::nullopt;
  return static_cast<int64_t>(s->size());
}

}  // namespace squint::passes
