// `--transform smooth`: SmoothQuant's per-channel scales (passes/smooth.h), searched per site on
// calibration data.
//
// For a site with activation x (channels j) read by linears W_i [channels, N_i]:
//   s_j(α) = max|x_j|^α / max_i max_n |W_i[j, n]|^(1−α)         (Xiao et al. 2023, eq. 4)
// (s_j = 1 where either maximum is 0). α is chosen per site from `alphas` by the output error of
// the quantized product on calibration rows,
//   E(α) = Σ_i ‖Q_a(x/s)·Q_w(diag(s)·W_i) − x·W_i‖²
// with Q_a per-tensor asymmetric on act_bits over the rows' range and Q_w per output column
// symmetric on weight_bits (the lowering's grids, simulated in float: a search proxy, not a
// prediction of the integer kernels). A site is left as it is when no α beats s = 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct SmoothOptions {
  std::vector<double> alphas = {0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  int weight_bits = 8, act_bits = 8;
  int64_t max_samples = 0;     // calibration samples evaluated (0: all)
  int64_t max_rows = 4096;     // activation rows (tokens) per site kept for the error E(α)
};

struct SmoothedSite {
  std::string norm;            // the LayerNormalization's label
  int64_t channels = 0, linears = 0;
  bool applied = false;        // false: no α improved on s = 1
  double alpha = 0;            // the chosen α (when applied)
  double error_before = 0, error_after = 0;  // E at s = 1 and at the chosen α (per row)
  double max_ratio_before = 0, max_ratio_after = 0;  // max_j max|x_j| / median_j max|x_j|
};

struct SmoothReport {
  std::vector<SmoothedSite> sites;
  std::vector<std::string> skipped;  // LayerNormalizations not eligible, with the reason
};

// Finds the sites of g, measures them on samples of `calib`, and smooths g in place.
Result<SmoothReport> SmoothGraph(ir::Graph& g, const CalibData& calib, const SmoothOptions& opts);

}  // namespace squint::quant
