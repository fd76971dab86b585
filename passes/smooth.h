// Smoothing (SmoothQuant, Xiao et al. 2023): per-channel scales moved from an activation into
// the weights that read it, so the activation loses its outlier channels and the weights take
// them, where per-output-channel weight scales absorb them better.
//
//   before:  X -> LayerNormalization(γ, β) -> x -> Linear(W_i, b_i)   for every reader i
//   after:   X -> LayerNormalization(γ/s, β/s) -> x/s -> Linear(diag(s)·W_i, b_i)
//
// (x/s)·(diag(s)·W) = x·W: the float function is unchanged (up to rounding). s > 0, one per
// channel of x; which s is the quantizer's choice (quant/smooth.h searches it on calibration data).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::passes {

// A LayerNormalization over the last axis whose output is read only by Linear nodes (as their X)
// with constant float32 weights [channels, N]: the scales can move into those weights.
struct SmoothSite {
  int32_t norm = -1;              // index in g.nodes
  ir::ValueId x = ir::kNoValue;   // the normalized activation
  std::vector<int32_t> linears;   // indices in g.nodes of its readers
  int64_t channels = 0;
};

// Every eligible site, in node order. `skipped` (optional) receives one line per
// LayerNormalization that is not eligible, naming it and the reason.
std::vector<SmoothSite> FindSmoothSites(const ir::Graph& g, std::vector<std::string>* skipped = nullptr);

// Applies scales s (site.channels entries, each finite and > 0) to a site found on this graph:
// new constants for γ/s, β/s and every diag(s)·W_i (constants may be shared, so none is changed
// in place); x is renamed "<name>_smoothed" (it holds x/s now). Node indices and value ids stay
// valid. Invalid argument for a bad s. `names` (optional) makes the new names: pass one
// ValueNames of g when applying many sites (without it, each call reads all names).
// With a shift δ (site.channels finite entries; RepQ-ViT's reparameterization, quant/repq.h) the
// activation becomes (x − δ)/s: β' = (β − δ)/s (a β is added when there was none) and every
// reader's bias b_i' = b_i + δ·W_i (added when absent), since x·W + b = ((x − δ)/s)·(diag(s)·W) + δ·W + b.
Status ApplySmoothing(ir::Graph& g, const SmoothSite& site, std::span<const float> s,
                      ir::ValueNames* names = nullptr, std::span<const float> shift = {});

}  // namespace squint::passes
