// The driver shared by pattern passes: a matcher (pure: graph, index, node -> optional
// Match) and a rewriter (applies one Match through a GraphEditor).
//
// A sweep visits the nodes in order; after a rewrite it looks at the same position again
// (the node there may have become matchable) and goes on. The editor keeps the index current
// and node indices stable within a sweep, so each match sees the graph as it is, and a sweep
// costs O(nodes + edits), not O(nodes) per rewrite. A rewrite can make an earlier node
// matchable, so sweeps repeat until one rewrites nothing: every match is applied, as before,
// in a number of sweeps bounded by how deeply rewrites enable each other (two for real models).
#pragma once

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <utility>

#include "base/status.h"
#include "passes/graph_edit.h"

namespace squint::passes {

// `roots`: the op types a match can start at (the matcher is called on those nodes only, and
// no index is built for a graph without any).
template <typename M, typename MatchFn, typename RewriteFn>
Result<int> RewriteAll(ir::Graph& g, std::initializer_list<ir::OpType> roots, MatchFn&& match, RewriteFn&& rewrite) {
  auto is_root = [&](const ir::Node& n) { return std::find(roots.begin(), roots.end(), n.op) != roots.end(); };
  int count = 0;
  // Every rewrite removes or retypes a node of its pattern, so this bound is never reached
  // by a correct pass; it turns a matcher bug into an error, not a hang.
  const int max_rewrites = static_cast<int>(4 * g.nodes.size() + 1000);
  for (;;) {
    if (std::none_of(g.nodes.begin(), g.nodes.end(), is_root)) return count;
    GraphEditor editor(g);
    int sweep = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const auto node = static_cast<int32_t>(i);
      if (editor.Erased(node) || !is_root(g.nodes[i])) continue;
      std::optional<M> m = match(std::as_const(g), editor.index(), node);
      if (!m) continue;
      SQ_RETURN_IF_ERROR(rewrite(editor, *m));
      if (++sweep + count > max_rewrites)
        return Internal("pattern pass did not terminate after {} rewrites", sweep + count);
      --i;  // look at this position again
    }
    editor.Commit();
    count += sweep;
    if (sweep == 0) return count;
  }
}

}  // namespace squint::passes
