// Dead-code elimination.
//
//   before:  y = Op(x), nothing reads y and y is not a graph output;  unused constant w
//   after:   (Op removed);                                            (w removed)
//
// Nodes are visited in reverse topological order with live use counts, so a whole dead
// chain goes in one run. Then Graph::CompactValues drops every value nothing refers to
// (unused initializers and the orphans other passes leave) and renumbers value ids.
// The count is nodes removed plus constants removed.
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::ValueId;

// Indices of dead nodes, given live use counts that are updated as nodes die.
std::vector<int32_t> MatchDeadNodes(const Graph& g, std::vector<int32_t>& uses) {
  std::vector<int32_t> dead;
  for (size_t k = g.nodes.size(); k-- > 0;) {
    const ir::Node& n = g.nodes[k];
    bool live = false;
    for (ValueId o : n.outputs)
      if (o != ir::kNoValue && uses[static_cast<size_t>(o)] > 0) live = true;
    if (live) continue;
    dead.push_back(static_cast<int32_t>(k));
    for (ValueId i : n.inputs)
      if (i != ir::kNoValue) --uses[static_cast<size_t>(i)];
  }
  return dead;
}

class DeadCodeElimination : public Pass {
 public:
  std::string_view name() const override { return "dead_code_elimination"; }
  Result<int> Run(Graph& g) override {
    std::vector<int32_t> uses = g.UseCounts();
    std::vector<int32_t> dead = MatchDeadNodes(g, uses);
    int count = static_cast<int>(dead.size());
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].constant && uses[v] == 0) ++count;
    EraseNodes(g, std::move(dead));
    g.CompactValues();
    return count;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeDeadCodeElimination() { return std::make_unique<DeadCodeElimination>(); }

}  // namespace squint::passes
