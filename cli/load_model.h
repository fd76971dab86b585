// The front of every subcommand that takes a float model: import, bind input shapes,
// canonicalize.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::cli {

struct LoadedModel {
  ir::Graph graph;
  std::vector<std::pair<std::string, int>> passes_fired;
};

// `input_shapes` are "name=1x3x224x224" specs from --input-shape. With `batch_one`, every
// input not named there gets its leading unknown dim bound to 1 (one sample per run); any
// other unknown dim is then an error asking for --input-shape — unless `sample_dims` (the
// per-sample dims of a single-input model's data, e.g. a .npy's dims after the first) has the
// input's rank − 1: then the input is bound to [1, sample_dims...] (known dims must agree).
Result<LoadedModel> LoadOnnxModel(const std::string& path, const std::vector<std::string>& input_shapes,
                                  bool batch_one = false, const std::optional<ir::Dims>& sample_dims = std::nullopt);

}  // namespace squint::cli
