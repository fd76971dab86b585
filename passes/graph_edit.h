// Helpers shared by the passes: a read-only index of producers and readers for matching,
// constant inspection with tolerance, and the few edits rewrites are made of.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace squint::passes {

// Who produces and who reads each value of a graph, as of construction. Rebuild it after
// every rewrite (passes restart their scan after a rewrite, so matches never see stale data).
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
  // Indices of the nodes reading v (a node reading it twice is listed twice).
  const std::vector<int32_t>& Readers(ir::ValueId v) const;
  // v is read by exactly one node input and is not a graph output: it can be deleted
  // together with that reader.
  bool SingleUse(ir::ValueId v) const;
  // The only node reading v when SingleUse(v), else -1.
  int32_t SoleReader(ir::ValueId v) const;
  // Index of node n in g.nodes (n must be an element of g.nodes).
  int32_t IndexOf(const ir::Node* n) const;

 private:
  const ir::Graph& g_;
  std::vector<int32_t> producer_;
  std::vector<int32_t> uses_;
  std::vector<char> is_output_;
  std::vector<std::vector<int32_t>> readers_;
};

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

// Adds a constant named after `base` (made unique).
ir::ValueId AddConstant(ir::Graph& g, const std::string& base, ir::Tensor t);

// Makes every node input reading `from` read `to` instead (graph outputs are unchanged).
void ReplaceUses(ir::Graph& g, ir::ValueId from, ir::ValueId to);

// Removes the nodes at these indices (any order, duplicates allowed), keeping the order
// of the rest.
void EraseNodes(ir::Graph& g, std::vector<int32_t> indices);

// Replaces the node at `root` by `fused`, which takes over root's outputs (so consumers and
// graph output names are unchanged), and erases `others`. Inputs of `fused` must be
// available at root's position (they are: fused nodes read the pattern's inputs).
void ReplaceWithFused(ir::Graph& g, int32_t root, ir::Node fused, std::vector<int32_t> others);

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

// Known dims of a value's shape, nullopt when the rank or any dim is unknown.
std::optional<ir::Dims> KnownDims(const ir::Graph& g, ir::ValueId v);
// Rank of a value when known.
std::optional<int64_t> KnownRank(const ir::Graph& g, ir::ValueId v);

}  // namespace squint::passes
