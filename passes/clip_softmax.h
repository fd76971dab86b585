// `--clip-softmax ALPHA`: clipped softmax (Bondarenko et al. 2023, docs/algorithms.md §5) applied
// to a model trained without it. Every plain Softmax becomes
//   y = clip((zeta − gamma)·softmax(x) + gamma, 0, 1),  zeta = 1, gamma = −ALPHA/T,
// T the length of the softmax axis: probabilities p <= ALPHA/(T + ALPHA) become exactly 0
// and the rest shrink slightly, so the float model changes too (the accuracy check then compares
// against the clipped float model). Not a canonicalization: it runs only when asked.
#pragma once

#include "base/status.h"
#include "ir/graph.h"

namespace squint::passes {

// Returns the number of Softmax nodes clipped. Errors (bad input): ALPHA negative or not
// finite; no Softmax node in the graph; a Softmax that is already clipped (trained with
// clipped softmax) or whose axis length is unknown.
Result<int> ClipSoftmax(ir::Graph& g, double alpha);

}  // namespace squint::passes
