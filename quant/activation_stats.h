// How strong the outliers of the activations entering the linear layers are: what a transform
// against outliers (--transform) is meant to change, measured on calibration data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct LinearInputStats {
  std::string linear;     // the Linear node's label
  int64_t elements = 0;   // values seen
  double kurtosis = 0;    // E[(x − μ)^4] / σ^4 over every value seen (3 for a Gaussian; 0 when σ = 0)
  double max_abs = 0;     // max |x|
  double rms = 0;         // √E[x²]
};

// The X input of every Linear node of g (in node order; one entry per distinct input value,
// named by its first reader), over samples 0 .. max_samples − 1 of `data` (all when 0).
Result<std::vector<LinearInputStats>> MeasureLinearInputs(const ir::Graph& g, const CalibData& data,
                                                          int64_t max_samples);

}  // namespace squint::quant
