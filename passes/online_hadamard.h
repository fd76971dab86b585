// `--transform hadamard`: online Hadamard rotation before linear layers (QuaRot-style,
// docs/algorithms.md §6.1–6.2). For every value x read as X by one or more squint.Linear
// nodes with a constant float32 W [K, N]:
//   before:  y_j = Linear(x, W_j, b_j)                       for each such Linear j
//   after:   x' = Hadamard(x; block, signs),  y_j = Linear(x', H·W_j, b_j)
// with H the orthonormal block-diagonal rotation of squint.Hadamard (ir/eval/hadamard.h) over
// K: (x·Hᵀ)·(H·W) = x·W, so the float model is unchanged up to rounding, while x' spreads each
// outlier channel of x over its block. One Hadamard per value, shared by all its Linears.
// Block: K when hadamard::HadamardK(K) > 0, else the largest divisor d of K with
// HadamardK(d) > 0 (block-diagonal); a Linear whose block would be < min_block is skipped.
// Not a canonicalization: it runs only when asked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "passes/graph_edit.h"

namespace squint::passes {

struct OnlineHadamardOptions {
  int64_t min_block = 8;        // smaller blocks spread too little to be worth an op
  bool random_signs = false;    // H·diag(s), s ±1 per channel from a fixed-seed generator
  uint32_t seed = 0x5157;       // std::mt19937 seed of the signs (same seed -> same model)
};

struct OnlineHadamardReport {
  struct Site {                        // one inserted Hadamard
    std::string value;                 // the rotated value x
    std::vector<std::string> linears;  // names of the Linear nodes now reading x'
    int64_t channels = 0;              // K
    int64_t block = 0;                 // block = k·2^m
    int32_t k = 0;
  };
  using Skip = passes::SkippedLinear;
  std::vector<Site> transformed;
  std::vector<Skip> skipped;
  int linears() const;                 // Linear nodes transformed
};

// Rewrites g as above and reports what it did. A graph with no eligible Linear is left
// untouched (transformed empty, skipped says why for every Linear). Errors: an option out of
// range (min_block < 1).
Result<OnlineHadamardReport> OnlineHadamard(ir::Graph& g, const OnlineHadamardOptions& opts = {});

}  // namespace squint::passes
