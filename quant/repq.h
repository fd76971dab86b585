// `--transform repq`: RepQ-ViT's scale reparameterization of post-LayerNorm activations (Li et al.,
// ICCV 2023; algorithms.md §1.2), on the sites SmoothQuant uses (a LayerNorm read only by Linears,
// passes/smooth.h).
//
// Calibration gives each channel c of the LayerNorm output x its own asymmetric grid on `bits`:
//   s_c = (max_c − min_c)/(2^bits − 1),   z_c = round(−min_c / s_c)    (min_c <= 0 <= max_c)
// The runtime keeps one grid per tensor, so the channel factors move into the LayerNorm's γ/β and
// the readers' weights and biases (float-equivalent, passes/smooth.h ApplySmoothing with a shift):
//   s̃ = mean_c s_c,  z̃ = round(mean_c z_c),  r1_c = s_c/s̃,  r2_c = z_c − z̃
//   x' = (x + s_c·r2_c) / r1_c      (γ' = γ/r1, β' = (β + s·r2)/r1, W' = diag(r1)·W, b' = b − (s·r2)·W)
// Quantizing x' on the layer-wise grid (s̃, z̃) gives round(x/s_c) + z_c: the per-channel codes, up
// to the observer's own range of x' (its min/max on the calibration data, ≈ −s̃·z̃ and s̃·(2^bits − 1 − z̃)).
// A channel that is constant 0 on the calibration data keeps r1 = 1, r2 = 0.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct RepqSite {
  std::string norm;                       // the LayerNormalization's label
  int64_t channels = 0, linears = 0;
  double range_ratio_before = 0, range_ratio_after = 0;  // max_c (max_c − min_c) / median_c (max_c − min_c)
};

struct RepqReport {
  std::vector<RepqSite> sites;
  std::vector<std::string> skipped;  // LayerNormalizations not eligible, with the reason
};

// Measures every site of g on `max_samples` calibration samples (0: all) and reparameterizes it in place.
Result<RepqReport> RepqGraph(ir::Graph& g, const CalibData& calib, int64_t max_samples, int bits);

}  // namespace squint::quant
