// The graph IR: values (typed, possibly constant), nodes (typed op + typed attributes),
// graph inputs and outputs. Nodes are kept in topological order by every producer of a
// Graph (importer, passes); Verify() checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "ir/attributes.h"
#include "ir/op_type.h"
#include "ir/quant_params.h"
#include "ir/tensor.h"

namespace squint::ir {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;  // an absent optional input

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  std::optional<Shape> shape;     // nullopt: rank unknown
  std::optional<Tensor> constant; // initializers and folded constants
  std::optional<QuantParams> quant;  // set on the integer graph by lowering (quant/)
};

struct Node {
  OpType op = OpType::kIdentity;
  std::string name;
  std::vector<ValueId> inputs;  // kNoValue for an absent optional input
  std::vector<ValueId> outputs;
  Attributes attrs;

  // "Conv 'conv_3'" for messages.
  std::string Label() const;
  ValueId input(size_t i) const { return i < inputs.size() ? inputs[i] : kNoValue; }
};

class Graph {
 public:
  std::string name;
  int64_t opset = 0;              // default-domain opset the model was written for
  std::string producer;           // e.g. "pytorch 1.13.0"
  std::vector<Value> values;
  std::vector<Node> nodes;        // topological order
  std::vector<ValueId> inputs;    // runtime inputs (no constants)
  std::vector<ValueId> outputs;

  ValueId AddValue(Value v);
  ValueId AddConstant(std::string name, Tensor t);
  Value& value(ValueId id) { return values[static_cast<size_t>(id)]; }
  const Value& value(ValueId id) const { return values[static_cast<size_t>(id)]; }
  const Tensor* constant(ValueId id) const {
    if (id == kNoValue) return nullptr;
    const auto& c = value(id).constant;
    return c ? &*c : nullptr;
  }
  std::optional<ValueId> FindValue(const std::string& name) const;

  // A name not yet used by any value, derived from base ("x" -> "x", "x_1", ...). O(values):
  // to name many values, use one ValueNames.
  std::string UniqueValueName(const std::string& base) const;

  // For each value, the index of the node producing it (-1 for inputs and constants).
  std::vector<int32_t> Producers() const;
  // For each value, how many node inputs and graph outputs read it.
  std::vector<int32_t> UseCounts() const;

  // Removes values no node or graph output uses (constants included) and renumbers ids.
  void CompactValues();
};

// Hands out value names unused in a graph, for code that adds many values: the graph's names
// are read once, then each Make is O(1) expected (Graph::UniqueValueName is O(values) per call).
class ValueNames {
 public:
  explicit ValueNames(const Graph& g);
  // base if unused, else base_1, base_2, ...; the name is reserved.
  std::string Make(const std::string& base);

 private:
  std::unordered_set<std::string> used_;
  std::unordered_map<std::string, int> next_suffix_;  // base -> first suffix not yet tried
};

// Structural checks: ids in range, every node input produced earlier (topological order,
// hence no cycle), each value produced once, graph outputs produced, constants typed.
Status Verify(const Graph& g);

// Sorts nodes topologically; error naming a node on a cycle or an input nobody produces.
Status TopologicalSort(Graph& g);

}  // namespace squint::ir
