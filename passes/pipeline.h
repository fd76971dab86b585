// Canonicalization: the explicit list of passes that turns an imported float graph into
// the canonical float graph the quantizer expects (constants folded, no-ops gone, BN folded,
// LayerNorm / GELU / clipped softmax / Linear fused), run to a fixed point.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace squint::passes {

struct PipelineReport {
  // (pass name, total rewrites) for every pass that fired, in pipeline order.
  std::vector<std::pair<std::string, int>> fired;
  int rounds = 0;          // rounds over the list, including the final one that changed nothing
  bool converged = true;   // false when kMaxRounds ran out while passes still fired
};

// Rounds over the list before giving up on a fixed point. Each round runs every pass to
// exhaustion, so real models converge in 2-3 rounds (a fusion exposing a fold, a fold
// exposing a fusion); the bound only guards against passes undoing each other.
inline constexpr int kMaxRounds = 16;

// The canonicalization passes in the order they run:
//   constant_folding, remove_identity, dead_code_elimination, fold_batch_norm,
//   fuse_layer_norm, fuse_gelu, fuse_clipped_softmax, fuse_linear
std::vector<std::unique_ptr<Pass>> CanonicalPasses();

// Runs `passes` in order, round after round, until a round changes nothing (or kMaxRounds).
// Verifies the graph before, after every pass that rewrote something (a pass that breaks it
// is an internal error naming the pass) and at the end. Shapes are inferred first and after every round that changed
// the graph (best effort: matchers only use what is known), and again at the end, where
// failures are errors.
Result<PipelineReport> RunPasses(ir::Graph& g, std::span<const std::unique_ptr<Pass>> passes);

// RunPasses with CanonicalPasses().
Result<PipelineReport> Canonicalize(ir::Graph& g);

}  // namespace squint::passes
