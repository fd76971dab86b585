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
      node_uses_(g.values.size(), 0),
      output_uses_(g.values.size(), 0),
      node_gen_(g.nodes.size(), 0),
      first_reader_(g.values.size() + 1, 0) {
  for (ValueId o : g.outputs) ++output_uses_[static_cast<size_t>(o)];
  for (const Node& n : g.nodes)
    for (ValueId i : n.inputs)
      if (i != ir::kNoValue) ++node_uses_[static_cast<size_t>(i)];
  for (size_t v = 0; v < g.values.size(); ++v) first_reader_[v + 1] = first_reader_[v] + node_uses_[v];
  reader_nodes_.resize(static_cast<size_t>(first_reader_.back()));
  std::vector<int32_t> fill(first_reader_.begin(), first_reader_.end() - 1);
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (ValueId i : g.nodes[n].inputs)
      if (i != ir::kNoValue)
        reader_nodes_[static_cast<size_t>(fill[static_cast<size_t>(i)]++)] = static_cast<int32_t>(n);
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

int32_t GraphIndex::Uses(ValueId v) const {
  return node_uses_[static_cast<size_t>(v)] + output_uses_[static_cast<size_t>(v)];
}
bool GraphIndex::IsGraphOutput(ValueId v) const { return output_uses_[static_cast<size_t>(v)] != 0; }

std::span<const int32_t> GraphIndex::Readers(ValueId v) const {
  const auto k = static_cast<size_t>(v);
  auto it = edited_.find(v);
  if (it == edited_.end()) {
    if (k + 1 >= first_reader_.size()) return {};  // added after construction, never read
    const auto count = static_cast<size_t>(first_reader_[k + 1] - first_reader_[k]);
    if (count == static_cast<size_t>(node_uses_[k])) return {reader_nodes_.data() + first_reader_[k], count};
  }
  ReaderList& r = it == edited_.end() ? Edited(v) : it->second;  // new: a reader was detached, filter a copy
  if (r.nodes.size() != static_cast<size_t>(node_uses_[k])) {  // stale entries: drop them all
    size_t w = 0;
    for (size_t i = 0; i < r.nodes.size(); ++i)
      if (r.gens[i] == node_gen_[static_cast<size_t>(r.nodes[i])]) {
        r.nodes[w] = r.nodes[i];
        r.gens[w++] = r.gens[i];
      }
    r.nodes.resize(w);
    r.gens.resize(w);
  }
  return r.nodes;
}

GraphIndex::ReaderList& GraphIndex::Edited(ValueId v) const {
  auto [it, inserted] = edited_.try_emplace(v);
  if (inserted) {
    const auto k = static_cast<size_t>(v);
    if (k + 1 < first_reader_.size())  // entries of the flat array are all current (generation 0)
      for (int32_t i = first_reader_[k]; i < first_reader_[k + 1]; ++i) {
        it->second.nodes.push_back(reader_nodes_[static_cast<size_t>(i)]);
        it->second.gens.push_back(0);
      }
  }
  return it->second;
}

bool GraphIndex::SingleUse(ValueId v) const {
  return v != ir::kNoValue && Uses(v) == 1 && !IsGraphOutput(v);
}

int32_t GraphIndex::SoleReader(ValueId v) const { return SingleUse(v) ? Readers(v)[0] : -1; }

int32_t GraphIndex::IndexOf(const Node* n) const { return static_cast<int32_t>(n - g_.nodes.data()); }

void GraphIndex::GrowValues() {
  const size_t n = g_.values.size();
  if (producer_.size() >= n) return;
  producer_.resize(n, -1);
  node_uses_.resize(n, 0);
  output_uses_.resize(n, 0);
}

void GraphIndex::Detach(int32_t i) {
  const Node& n = g_.nodes[static_cast<size_t>(i)];
  for (ValueId v : n.inputs)
    if (v != ir::kNoValue) --node_uses_[static_cast<size_t>(v)];  // its entry goes stale below
  for (ValueId o : n.outputs)
    if (o != ir::kNoValue && producer_[static_cast<size_t>(o)] == i) producer_[static_cast<size_t>(o)] = -1;
  ++node_gen_[static_cast<size_t>(i)];
}

void GraphIndex::Attach(int32_t i) {
  GrowValues();
  const Node& n = g_.nodes[static_cast<size_t>(i)];
  const int32_t gen = node_gen_[static_cast<size_t>(i)];
  for (ValueId v : n.inputs)
    if (v != ir::kNoValue) {
      ReaderList& r = Edited(v);
      r.nodes.push_back(i);
      r.gens.push_back(gen);
      ++node_uses_[static_cast<size_t>(v)];
    }
  for (ValueId o : n.outputs)
    if (o != ir::kNoValue) producer_[static_cast<size_t>(o)] = i;
}

void GraphIndex::MoveReaders(ValueId from, ValueId to) {
  GrowValues();
  Readers(from);  // drop stale entries
  ReaderList& f = Edited(from);
  ReaderList& t = Edited(to);  // no rehash invalidates f: unordered_map references are stable
  t.nodes.insert(t.nodes.end(), f.nodes.begin(), f.nodes.end());
  t.gens.insert(t.gens.end(), f.gens.begin(), f.gens.end());
  node_uses_[static_cast<size_t>(to)] += node_uses_[static_cast<size_t>(from)];
  node_uses_[static_cast<size_t>(from)] = 0;
  f.nodes.clear();
  f.gens.clear();
}

GraphEditor::GraphEditor(Graph& g) : g_(g), index_(g), erased_(g.nodes.size(), 0) {}

ValueId GraphEditor::AddConstant(const std::string& base, Tensor t) {
  if (!names_) names_.emplace(g_);
  const ValueId id = g_.AddConstant(names_->Make(base), std::move(t));
  index_.GrowValues();
  return id;
}

void GraphEditor::ReplaceUses(ValueId from, ValueId to) {
  if (from == to) return;
  index_.GrowValues();
  for (int32_t r : index_.Readers(from))
    for (ValueId& i : g_.nodes[static_cast<size_t>(r)].inputs)
      if (i == from) i = to;
  index_.MoveReaders(from, to);
}

void GraphEditor::SetNode(int32_t i, Node n) {
  index_.Detach(i);
  g_.nodes[static_cast<size_t>(i)] = std::move(n);
  index_.Attach(i);
}

void GraphEditor::Erase(int32_t i) {
  if (Erased(i)) return;
  index_.Detach(i);
  erased_[static_cast<size_t>(i)] = 1;
  erased_list_.push_back(i);
}

void GraphEditor::ReplaceWithFused(int32_t root, Node fused, const std::vector<int32_t>& others) {
  fused.outputs = g_.nodes[static_cast<size_t>(root)].outputs;
  for (int32_t o : others)
    if (o != root) Erase(o);
  SetNode(root, std::move(fused));
}

void GraphEditor::Commit() {
  EraseNodes(g_, erased_list_);
  erased_list_.clear();
}

const ir::Tensor* Float32Constant(const Graph& g, ValueId v) {
  const ir::Tensor* t = v == ir::kNoValue ? nullptr : g.constant(v);
  return t && t->dtype() == ir::DType::kFloat32 ? t : nullptr;
}

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

ValueId AddConstant(Graph& g, ir::ValueNames& names, const std::string& base, ir::Tensor t) {
  return g.AddConstant(names.Make(base), std::move(t));
}

void EraseNodes(Graph& g, const std::vector<int32_t>& indices) {
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

bool IsIntegerOrBool(ir::DType d) {
  using ir::DType;
  return d == DType::kBool || d == DType::kInt64 || d == DType::kInt32 || d == DType::kInt16 || d == DType::kInt8 ||
         d == DType::kUInt8;
}

}  // namespace squint::passes
