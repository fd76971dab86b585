#include "ir/graph.h"

#include <algorithm>
#include <fmt/format.h>

namespace squint::ir {

std::optional<OpType> OpFromName(std::string_view domain, std::string_view name) {
  if (domain == "ai.onnx") domain = "";
#define SQ_OP(op_name, op_domain) \
  if (name == #op_name && domain == op_domain) return OpType::k##op_name;
#include "ir/ops.inc"
#undef SQ_OP
  return std::nullopt;
}

std::string Node::Label() const { return fmt::format("{} '{}'", OpName(op), name); }

ValueId Graph::AddValue(Value v) {
  values.push_back(std::move(v));
  return static_cast<ValueId>(values.size() - 1);
}

ValueId Graph::AddConstant(std::string n, Tensor t) {
  Value v;
  v.name = std::move(n);
  v.dtype = t.dtype();
  v.shape = ShapeFromDims(t.dims());
  v.constant = std::move(t);
  return AddValue(std::move(v));
}

std::optional<ValueId> Graph::FindValue(const std::string& n) const {
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].name == n) return static_cast<ValueId>(i);
  return std::nullopt;
}

std::string Graph::UniqueValueName(const std::string& base) const { return ValueNames(*this).Make(base); }

ValueNames::ValueNames(const Graph& g) {
  used_.reserve(g.values.size());
  for (const Value& v : g.values) used_.insert(v.name);
}

std::string ValueNames::Make(const std::string& base) {
  if (used_.insert(base).second) return base;
  int& i = next_suffix_[base];
  for (;;) {
    std::string n = fmt::format("{}_{}", base, ++i);
    if (used_.insert(n).second) return n;
  }
}

std::vector<int32_t> Graph::Producers() const {
  std::vector<int32_t> p(values.size(), -1);
  for (size_t n = 0; n < nodes.size(); ++n)
    for (ValueId o : nodes[n].outputs)
      if (o != kNoValue) p[static_cast<size_t>(o)] = static_cast<int32_t>(n);
  return p;
}

std::vector<int32_t> Graph::UseCounts() const {
  std::vector<int32_t> u(values.size(), 0);
  for (const Node& n : nodes)
    for (ValueId i : n.inputs)
      if (i != kNoValue) ++u[static_cast<size_t>(i)];
  for (ValueId o : outputs) ++u[static_cast<size_t>(o)];
  return u;
}

void Graph::CompactValues() {
  std::vector<char> keep(values.size(), 0);
  for (ValueId i : inputs) keep[static_cast<size_t>(i)] = 1;
  for (ValueId o : outputs) keep[static_cast<size_t>(o)] = 1;
  for (const Node& n : nodes) {
    for (ValueId i : n.inputs)
      if (i != kNoValue) keep[static_cast<size_t>(i)] = 1;
    for (ValueId o : n.outputs)
      if (o != kNoValue) keep[static_cast<size_t>(o)] = 1;
  }
  if (std::all_of(keep.begin(), keep.end(), [](char k) { return k != 0; })) return;  // nothing to drop
  std::vector<ValueId> remap(values.size(), kNoValue);
  std::vector<Value> kept;
  kept.reserve(static_cast<size_t>(std::count(keep.begin(), keep.end(), char{1})));
  for (size_t i = 0; i < values.size(); ++i) {
    if (!keep[i]) continue;
    remap[i] = static_cast<ValueId>(kept.size());
    kept.push_back(std::move(values[i]));
  }
  values = std::move(kept);
  auto fix = [&](ValueId& id) {
    if (id != kNoValue) id = remap[static_cast<size_t>(id)];
  };
  for (Node& n : nodes) {
    for (ValueId& i : n.inputs) fix(i);
    for (ValueId& o : n.outputs) fix(o);
  }
  for (ValueId& i : inputs) fix(i);
  for (ValueId& o : outputs) fix(o);
}

Status Verify(const Graph& g) {
  const auto nvalues = static_cast<ValueId>(g.values.size());
  auto in_range = [&](ValueId id) { return id >= 0 && id < nvalues; };
  std::vector<char> available(g.values.size(), 0);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (v.constant) {
      available[i] = 1;
      if (v.constant->dtype() != v.dtype)
        return Internal("constant '{}' has type {} but value says {}", v.name,
                        DTypeName(v.constant->dtype()), DTypeName(v.dtype));
    }
  }
  for (ValueId id : g.inputs) {
    if (!in_range(id)) return Internal("graph input id {} out of range", id);
    available[static_cast<size_t>(id)] = 1;
  }
  std::vector<char> produced(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    for (ValueId id : n.inputs) {
      if (id == kNoValue) continue;
      if (!in_range(id)) return Internal("{}: input id {} out of range", n.Label(), id);
      if (!available[static_cast<size_t>(id)])
        return InvalidInput("{}: input '{}' is not produced by any earlier node, graph input or initializer",
                            n.Label(), g.value(id).name);
    }
    for (ValueId id : n.outputs) {
      if (id == kNoValue) continue;
      if (!in_range(id)) return Internal("{}: output id {} out of range", n.Label(), id);
      auto& p = produced[static_cast<size_t>(id)];
      if (p || g.value(id).constant)
        return InvalidInput("{}: output '{}' is produced more than once", n.Label(), g.value(id).name);
      p = 1;
      available[static_cast<size_t>(id)] = 1;
    }
  }
  for (ValueId id : g.outputs) {
    if (!in_range(id)) return Internal("graph output id {} out of range", id);
    if (!available[static_cast<size_t>(id)])
      return InvalidInput("graph output '{}' is not produced by any node", g.value(id).name);
  }
  return Status::Ok();
}

Status TopologicalSort(Graph& g) {
  const size_t nv = g.values.size();
  std::vector<int32_t> producer(nv, -1);
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (ValueId o : g.nodes[n].outputs)
      if (o >= 0 && static_cast<size_t>(o) < nv) producer[static_cast<size_t>(o)] = static_cast<int32_t>(n);
  std::vector<char> ready(nv, 0);
  for (size_t i = 0; i < nv; ++i)
    if (g.values[i].constant) ready[i] = 1;
  for (ValueId id : g.inputs) ready[static_cast<size_t>(id)] = 1;

  // Kahn's algorithm, keeping the original order among ready nodes (stable output).
  std::vector<int32_t> missing(g.nodes.size(), 0);
  std::vector<std::vector<int32_t>> readers(nv);
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    for (ValueId id : g.nodes[n].inputs) {
      if (id == kNoValue) continue;
      if (id < 0 || static_cast<size_t>(id) >= nv) return Internal("input id {} out of range", id);
      if (ready[static_cast<size_t>(id)]) continue;
      if (producer[static_cast<size_t>(id)] < 0)
        return InvalidInput("{}: input '{}' is not produced by any node, graph input or initializer",
                            g.nodes[n].Label(), g.value(id).name);
      ++missing[n];
      readers[static_cast<size_t>(id)].push_back(static_cast<int32_t>(n));
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(g.nodes.size());
  std::vector<char> done(g.nodes.size(), 0);
  // Min-heap on the original index: among ready nodes the earliest goes first (stable order).
  std::vector<int32_t> queue;
  for (size_t n = 0; n < g.nodes.size(); ++n)
    if (missing[n] == 0) queue.push_back(static_cast<int32_t>(n));
  std::make_heap(queue.begin(), queue.end(), std::greater<>());
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), std::greater<>());
    int32_t n = queue.back();
    queue.pop_back();
    done[static_cast<size_t>(n)] = 1;
    sorted.push_back(std::move(g.nodes[static_cast<size_t>(n)]));
    for (ValueId o : sorted.back().outputs) {
      if (o == kNoValue) continue;
      for (int32_t r : readers[static_cast<size_t>(o)]) {
        if (--missing[static_cast<size_t>(r)] == 0) {
          queue.push_back(r);
          std::push_heap(queue.begin(), queue.end(), std::greater<>());
        }
      }
    }
  }
  if (sorted.size() != g.nodes.size()) {
    for (size_t n = 0; n < g.nodes.size(); ++n)
      if (!done[n]) return InvalidInput("{}: the graph has a cycle through this node", g.nodes[n].Label());
  }
  g.nodes = std::move(sorted);
  return Status::Ok();
}

}  // namespace squint::ir
