// The front of every subcommand that takes a float model: import, bind input shapes,
// canonicalize.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::cli {

struct LoadedModel {
  ir::Graph graph;
  // With `batch_one`, when every input and output of the ONNX model leads with a free dim: the
  // leading dim all inputs were bound to (1, or what --input-shape gave them all): the quantized
  // model then runs any multiple of it (schema Model.batch). 0: fixed shapes.
  int32_t batch = 0;
  std::vector<std::pair<std::string, int>> passes_fired;
};

// The dims of one sample of each input as a data file holds them (without the sample axis),
// read from the imported graph's inputs; see SampleDimsFromData (cli/input_data.h).
using DataDimsFn = std::function<Result<std::map<std::string, ir::Dims>>(const ir::Graph&)>;

// `input_shapes` are "name=1x3x224x224" specs from --input-shape. With `batch_one`, every
// input not named there gets its leading unknown dim bound to 1 (one sample per run); its
// other unknown dims (sequence length, image size) are bound from `data_dims` when given —
// called only if some input needs it; each such binding is printed on stderr — else they are
// an error asking for --input-shape.
Result<LoadedModel> LoadOnnxModel(const std::string& path, const std::vector<std::string>& input_shapes,
                                  bool batch_one = false, const DataDimsFn& data_dims = nullptr);

}  // namespace squint::cli
