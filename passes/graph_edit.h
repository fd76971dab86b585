// Helpers shared by the passes: a read-only index of producers and readers for matching,
// constant inspection with tolerance, and the few edits rewrites are made of.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace squint::passes {

// Who produces and who reads each value of a graph. Read-only users build one and drop it
// when the graph changes; pattern passes edit through a GraphEditor, which keeps it current.
class GraphIndex {
 public:
  explicit GraphIndex(const ir::Graph& g);

  // The node producing v, or nullptr for graph inputs, constants and kNoValue.
  const ir::Node* Producer(ir::ValueId v) const;
  // Its index in g.nodes, -1 when there is none.
  int32_t ProducerIndex(ir::ValueId v) const;
  // The node producing v when it has op type `op`, else nullptr.
  const ir::Node* ProducerIs(ir::ValueId v, ir::OpType op) const;
  // Node inputs plus graph outputs reading v.
  int32_t Uses(ir::ValueId v) const;
  bool IsGraphOutput(ir::ValueId v) const;
  // Indices of the nodes reading v (a node reading it twice is listed twice). In ascending
  // order on a fresh index; after edits, in no particular order. Valid until the next edit.
  std::span<const int32_t> Readers(ir::ValueId v) const;
  // v is read by exactly one node input and is not a graph output: it can be deleted
  // together with that reader.
  bool SingleUse(ir::ValueId v) const;
  // The only node reading v when SingleUse(v), else -1.
  int32_t SoleReader(ir::ValueId v) const;
  // Index of node n in g.nodes (n must be an element of g.nodes).
  int32_t IndexOf(const ir::Node* n) const;

 private:
  friend class GraphEditor;
  // Edits, O(size of the node): node i stops / starts reading its inputs and producing its
  // outputs. Readers are held as one flat array built with the index (two allocations, not one
  // per value); a value whose readers change gets its own list, where an entry is dropped
  // lazily once its node's generation has changed, so that removing one reader of a value with
  // many readers costs O(1) amortized.
  void Detach(int32_t i);
  void Attach(int32_t i);
  void GrowValues();
  void MoveReaders(ir::ValueId from, ir::ValueId to);

  struct ReaderList {
    std::vector<int32_t> nodes;
    std::vector<int32_t> gens;  // node_gen_ of each entry's node when it was added
  };
  ReaderList& Edited(ir::ValueId v) const;  // v's own list, made from the flat array on first use

  const ir::Graph& g_;
  std::vector<int32_t> producer_;
  std::vector<int32_t> node_uses_;     // node input slots reading v
  std::vector<int32_t> output_uses_;   // graph output slots naming v
  std::vector<int32_t> node_gen_;      // bumped whenever node i is detached
  std::vector<int32_t> first_reader_;  // CSR over the values that existed at construction
  std::vector<int32_t> reader_nodes_;
  mutable std::unordered_map<ir::ValueId, ReaderList> edited_;
};

// Edits a graph while keeping its GraphIndex current, in time proportional to each edit
// rather than to the graph: erased nodes are only marked until Commit() removes them all in
// one pass, so node indices stay valid until then. Values may be added (never removed).
class GraphEditor {
 public:
  explicit GraphEditor(ir::Graph& g);

  ir::Graph& graph() { return g_; }
  const GraphIndex& index() const { return index_; }
  bool Erased(int32_t i) const { return erased_[static_cast<size_t>(i)] != 0; }

  // Adds a constant named after `base` (made unique).
  ir::ValueId AddConstant(const std::string& base, ir::Tensor t);
  // Makes every node input reading `from` read `to` instead (graph outputs are unchanged).
  void ReplaceUses(ir::ValueId from, ir::ValueId to);
  // Replaces node i by n (inputs and outputs may differ).
  void SetNode(int32_t i, ir::Node n);
  void Erase(int32_t i);
  // Replaces the node at `root` by `fused`, which takes over root's outputs (so consumers and
  // graph output names are unchanged), and erases `others` (root among them is ignored).
  // Inputs of `fused` must be available at root's position (they are: fused nodes read the
  // pattern's inputs).
  void ReplaceWithFused(int32_t root, ir::Node fused, const std::vector<int32_t>& others);
  // Removes the erased nodes, keeping the order of the rest; the editor is spent afterwards.
  void Commit();

 private:
  ir::Graph& g_;
  GraphIndex index_;
  std::vector<char> erased_;
  std::vector<int32_t> erased_list_;
  std::optional<ir::ValueNames> names_;  // built on first use
};

// The float32 constant v holds, or nullptr (not a constant, another type, or kNoValue).
const ir::Tensor* Float32Constant(const ir::Graph& g, ir::ValueId v);

// Value of a constant with exactly one element (any rank; float or integer types).
std::optional<double> ScalarConstant(const ir::Graph& g, ir::ValueId v);

// |got - want| <= rel * |want|; for want == 0, |got| <= 1e-6. Exporters write constants
// such as √2 as 1.4142135 (float32) or 1.4142 (hand-written models), hence the tolerance.
bool Near(double got, double want, double rel = 1e-3);

// For a binary node with one scalar-constant operand: the other operand and the scalar.
// `commutative` lets the constant be either operand; otherwise it must be input 1.
struct ScalarOperand {
  ir::ValueId other = ir::kNoValue;
  double value = 0;
  int const_index = 1;  // which input held the constant
};
std::optional<ScalarOperand> SplitScalarOperand(const ir::Graph& g, const ir::Node& n, bool commutative);

// The constant's values as float32 (float32/float64 constants), nullopt otherwise.
std::optional<std::vector<float>> FloatValues(const ir::Graph& g, ir::ValueId v);

// Adds a constant named after `base`, made unique by `names` (one ValueNames per pass).
ir::ValueId AddConstant(ir::Graph& g, ir::ValueNames& names, const std::string& base, ir::Tensor t);

// Removes the nodes at these indices (any order, duplicates allowed), keeping the order
// of the rest. O(nodes): collect the indices and call it once.
void EraseNodes(ir::Graph& g, const std::vector<int32_t>& indices);

// A Linear a transform left as it was, and why (the reports of online_hadamard and quant/wush).
struct SkippedLinear {
  std::string linear;
  std::string reason;
};

// Why a squint.Linear cannot take a transform of its input folded into its weight (empty when
// it can): X absent, grouped, or W not a constant float32 [K, N] matrix with 1 <= K < 2^31.
std::string DenseLinearIssue(const ir::Graph& g, const ir::Node& linear);

// Inserts new nodes into g.nodes: after[p] right after node p, after[-1] first (for nodes
// reading graph inputs or constants). A node reading only values produced by p (or earlier)
// keeps the topological order.
void InsertAfterProducers(ir::Graph& g, std::map<int32_t, std::vector<ir::Node>> after);

// Bool or an integer type: what attention masks, token ids and their reshapes are.
bool IsIntegerOrBool(ir::DType d);

// Known dims of a value's shape, nullopt when the rank or any dim is unknown.
std::optional<ir::Dims> KnownDims(const ir::Graph& g, ir::ValueId v);
// Rank of a value when known.
std::optional<int64_t> KnownRank(const ir::Graph& g, ir::ValueId v);

}  // namespace squint::passes
