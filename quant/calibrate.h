// Calibration: runs the float evaluator over calibration samples and lets an observer per
// float activation propose the real range its grid must cover.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"
#include "quant/observers/observer.h"

namespace squint::quant {

struct CalibrationOptions {
  std::string observer = "minmax";  // see MakeObserver
  ObserverOptions observer_options; // bit width, percentile, ...
  int64_t max_samples = 0;          // 0: all
  // Values at or below this entering a Softmax are masked scores (causal attention), not data.
  float softmax_mask_below = -1e4f;
};

struct Calibration {
  std::vector<std::optional<Range>> ranges;  // per ir::ValueId; set for float activations
  int64_t samples = 0;
  std::string observer;
};

// Called with (samples done, total) now and then.
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// The graph must have concrete shapes with a batch of 1 (each sample runs alone). Errors:
// data that does not fit the graph's inputs, an activation no finite value ever reached.
Result<Calibration> Calibrate(const ir::Graph& g, const CalibData& data, const CalibrationOptions& options,
                              const ProgressFn& progress = {});

}  // namespace squint::quant
