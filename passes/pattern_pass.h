// The driver shared by pattern passes: a matcher (pure: graph, index, node -> optional
// Match) and a rewriter (applies one Match). The scan visits nodes in order; after each
// rewrite it rebuilds the index and starts over, so no match ever sees a stale graph.
#pragma once

#include <optional>

#include "base/status.h"
#include "passes/graph_edit.h"

namespace squint::passes {

template <typename M, typename MatchFn, typename RewriteFn>
Result<int> RewriteAll(ir::Graph& g, MatchFn&& match, RewriteFn&& rewrite) {
  int count = 0;
  std::optional<GraphIndex> index;
  index.emplace(g);
  for (size_t i = 0; i < g.nodes.size();) {
    std::optional<M> m = match(g, *index, static_cast<int32_t>(i));
    if (!m) {
      ++i;
      continue;
    }
    SQ_RETURN_IF_ERROR(rewrite(g, *m));
    // Every rewrite removes or retypes a node of its pattern, so this bound is never
    // reached by a correct pass; it turns a matcher bug into an error, not a hang.
    if (++count > static_cast<int>(4 * g.nodes.size() + 1000))
      return Internal("pattern pass did not terminate after {} rewrites", count);
    index.emplace(g);
    i = 0;
  }
  return count;
}

}  // namespace squint::passes
