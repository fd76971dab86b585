// How strong the outliers of the activations entering the linear layers (or the norms: the
// residual stream) are: what a transform against outliers (--transform) is meant to change,
// measured on calibration data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct InputStats {
  std::string node;       // the (first) reading node's label
  ir::OpType op = ir::OpType::kLinear;  // its op
  int64_t elements = 0;   // values seen
  double kurtosis = 0;    // E[(x − μ)^4] / σ^4 over every value seen (3 for a Gaussian; 0 when σ = 0)
  double max_abs = 0;     // max |x|
  double rms = 0;         // √E[x²]
};

// max_j a_j / median_j a_j (0 when empty or the median is 0): how far the largest channel stands out.
double MaxOverMedian(std::vector<double> a);

// Input 0 (X) of every node of g whose op is in `ops` (in node order; one entry per distinct
// activation, named by its first such reader), over samples 0 .. max_samples − 1 of `data` (all
// when 0), in one pass.
Result<std::vector<InputStats>> MeasureInputs(const ir::Graph& g, const CalibData& data, int64_t max_samples,
                                              std::span<const ir::OpType> ops);

}  // namespace squint::quant
