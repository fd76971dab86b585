// `--transform wush`: WUSH, the data-aware block transform of Chen et al. (docs/algorithms.md §6.4),
// fitted on calibration data and run online as a grouped (block-diagonal) squint.Linear.
//
// For every value x [.., K] read as X by squint.Linear nodes j with constant float32 W_j [K, N_j]
// (the eligibility of passes/online_hadamard; W = [W_1 | W_2 | ...] [K, N], N = Σ N_j):
//   Σ    = E[x xᵀ] over the calibration rows (double), damped Σ += damp·mean(diag Σ)·I
//   R    = the upper Cholesky factor of the full Σ (Rᵀ R = Σ); per block b of B channels:
//   R_bb = R's diagonal B×B block,  W_b = W's B rows (B×N),  Y = R_bb·W_b = V·diag(σ)·Uᵀ (SVD,
//          V B×B, σ padded with zeros to B values),  s = σ/√N + 0.01·mean(σ/√N)  (s = 1 when W_b = 0)
//   T_b  = H_B·diag(s)^{1/2}·Vᵀ·R_bb^{−ᵀ}     (H_B the orthonormal Sylvester Hadamard)
// The paper writes weights d_out×d_in and transforms column vectors: x'_b = T_b·x_b and
// W'_b = W_b·T_b^{−1}. Ours are [K, N] with row vectors (y = x·W), so
//   x'_b = x_b·T_bᵀ                (row form of T_b·x_b: one group of the grouped Linear)
//   W'_j,b = T_b^{−ᵀ}·W_j,b = H_B·diag(s)^{−1/2}·Vᵀ·R_bb·W_j,b   (no inverse to form)
// and x'·W'_j = Σ_b x_b·T_bᵀ·T_b^{−ᵀ}·W_j,b = x·W_j: the float model is unchanged up to rounding.
// After:  x' = Linear(x, W_T, groups = K/B) with W_T [B, K], W_T[i, b·B + r] = T_b[r, i];
//         y_j = Linear(x', W'_j, b_j).
// One transform per value, shared by its Linears; new constants (shared ones are never edited in
// place); x' is a new value named after x and sits right after x's producer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "passes/graph_edit.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct WushOptions {
  int64_t block = 32;          // B: a power of two in [16, 64] (the block sizes)
  double damp = 0.01;          // Σ += damp·mean(diag Σ)·I
  int64_t max_samples = 0;     // calibration samples evaluated (0: all)
};

struct WushReport {
  struct Site {                        // one inserted transform
    std::string value;                 // the transformed value x
    std::vector<std::string> linears;  // names of the Linear nodes now reading x'
    int64_t channels = 0, block = 0;   // K, B
    int64_t rows = 0;                  // calibration rows Σ was estimated on
  };
  using Skip = passes::SkippedLinear;
  std::vector<Site> transformed;
  std::vector<Skip> skipped;
  int linears() const;                 // Linear nodes transformed
};

// Checks the options: block a power of two in [16, 64], damp > 0 and finite.
Status CheckWushOptions(const WushOptions& opts);

// Fits the transforms on samples of `calib` and rewrites g as above. A graph with no eligible
// Linear is left untouched (transformed empty, skipped names every Linear with its reason).
Result<WushReport> WushGraph(ir::Graph& g, const CalibData& calib, const WushOptions& opts);

}  // namespace squint::quant
