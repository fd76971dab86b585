// Running the float graph over calibration samples and reading chosen intermediate values:
// what the softmax-specific calibrations (bias correction, log grids) need beyond the observers'
// ranges.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "quant/calib_data.h"

namespace squint::quant {

// Called once per sample with that sample's tensors of the wanted values (every one present).
using SampleValuesFn = std::function<Status(const std::map<ir::ValueId, ir::Tensor>& values)>;

// Evaluates g on samples 0 .. n−1 of `data` (n = max_samples, or all when 0 or more than there
// are), one at a time, and calls fn with the float tensors of `wanted` (node outputs or graph
// inputs). Internal error if a wanted
// value was not produced or is not float32; fn's error stops the loop.
Status TapValues(const ir::Graph& g, const CalibData& data, int64_t max_samples, const std::vector<ir::ValueId>& wanted,
                 const SampleValuesFn& fn);

}  // namespace squint::quant
