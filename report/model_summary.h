// Figures `squint inspect` shows for a float model: inputs/outputs, op histogram,
// parameter count and bytes, MACs per op type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace squint::report {

struct TensorSummary {
  std::string name;
  std::string dtype;
  std::string shape;  // "batchx1x28x28"
};

struct OpSummary {
  int64_t count = 0;
  int64_t macs = 0;       // multiply-accumulates per inference at the graph's shapes
  bool macs_known = true; // false when some node of this type has symbolic dims
};

struct ModelSummary {
  int64_t opset = 0;
  std::string producer;
  std::vector<TensorSummary> inputs, outputs;
  std::map<std::string, OpSummary> ops;  // by op name
  int64_t parameters = 0;                // elements of float constants read by nodes
  int64_t parameter_bytes = 0;
  int64_t total_macs = 0;
  bool total_macs_known = true;
  std::vector<std::pair<std::string, int>> passes_fired;  // canonicalization passes and counts
};

ModelSummary Summarize(const ir::Graph& g);

std::string FormatText(const ModelSummary& s);
nlohmann::json ToJson(const ModelSummary& s);

}  // namespace squint::report
